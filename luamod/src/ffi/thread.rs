//! [`close_thread`]: Lua 5.4's `lua_closethread`, on every Lua 5.4 luamod
//! runs on.

use std::ffi::c_int;

use mlua::ffi::{self, lua_State};

/// Closes the coroutine `co`: runs its pending to-be-closed variables'
/// `__close` handlers and resets it; returns its status (`LUA_OK`, or the
/// error status with the error value on `co`'s stack). `from` is the
/// thread doing it (Lua counts C calls through it).
///
/// The vendored Lua (5.4.6 and later) has `lua_closethread`; a stock
/// interpreter loading a module may be older (Debian 12 ships 5.4.4),
/// where the same operation is `lua_resetthread` (deprecated since 5.4.6,
/// which defines it as `lua_closethread(co, NULL)`).
///
/// # Safety
/// `co` is a live coroutine, not running; `from` is the running thread.
pub(crate) unsafe fn close_thread(co: *mut lua_State, from: *mut lua_State) -> c_int {
    #[cfg(feature = "vendored")]
    // SAFETY: forwarded.
    return unsafe { ffi::lua_closethread(co, from) };
    #[cfg(not(feature = "vendored"))]
    {
        let _ = from;
        // SAFETY: forwarded.
        unsafe { ffi::lua_resetthread(co) }
    }
}
