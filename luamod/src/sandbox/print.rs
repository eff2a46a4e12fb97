//! `print` for sandboxed code: the line goes to the host's hook (standard
//! output by default), never straight to a file descriptor.

use std::ffi::c_int;
use std::panic::{AssertUnwindSafe, catch_unwind};

use mlua::Lua;
use mlua::ffi::{self, lua_State};

use super::options::PrintHook;

/// The hook of a state, kept in its app data.
struct PrintTarget(Option<PrintHook>);

/// Installs `hook` for `lua`'s state and returns the `print` function.
pub(super) fn install(lua: &Lua, hook: Option<PrintHook>) -> mlua::Result<mlua::Function> {
    lua.set_app_data(PrintTarget(hook));
    // SAFETY: `print_line` follows the C function protocol and owns no Rust
    // value while it may raise.
    unsafe { lua.create_c_function(print_line) }
}

/// The longest line the hook receives (its first bytes, then a note of
/// how many were cut): a line is copied into Rust and written while the
/// worker waits, and a script may print hundreds of megabytes at once.
pub(crate) const MAX_LINE: usize = 64 << 10;

/// `print(...)`: `tostring` of each argument, separated by tabs, as Lua's
/// own print writes them (cut past [`MAX_LINE`] bytes).
unsafe extern "C-unwind" fn print_line(state: *mut lua_State) -> c_int {
    // SAFETY: the line is built on the Lua stack while this frame owns
    // nothing (luaL_tolstring may call `__tostring` and raise); then the
    // Rust part borrows the finished string, which stays on the stack.
    unsafe {
        let n = ffi::lua_gettop(state);
        ffi::luaL_checkstack(
            state,
            n.saturating_mul(2).saturating_add(2),
            c"too many values to print".as_ptr(),
        );
        for i in 1..=n {
            if i > 1 {
                ffi::lua_pushliteral(state, c"\t");
            }
            ffi::luaL_tolstring(state, i, std::ptr::null_mut());
        }
        match n {
            0 => ffi::lua_pushliteral(state, c""),
            _ => ffi::lua_concat(state, 2 * n - 1),
        }
        let mut len = 0usize;
        let p = ffi::lua_tolstring(state, -1, &mut len);
        let bytes = std::slice::from_raw_parts(p as *const u8, len.min(MAX_LINE));
        let mut line = String::from_utf8_lossy(bytes);
        if len > MAX_LINE {
            line.to_mut()
                .push_str(&format!("... ({} bytes cut)", len - MAX_LINE));
        }
        let lua = Lua::get_or_init_from_ptr(state);
        let hook = lua.app_data_ref::<PrintTarget>().and_then(|t| t.0.clone());
        let printed = catch_unwind(AssertUnwindSafe(|| match &hook {
            Some(f) => f(&line),
            None => println!("{line}"),
        }));
        if let Err(p) = printed {
            crate::ffi::forget_panic(p);
        }
    }
    0
}
