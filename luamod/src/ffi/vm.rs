//! The few C API calls whose spelling depends on the Lua VM luamod is
//! built for (its features `lua54`, `lua53`, `luajit`; and, for 5.4,
//! whether Lua is vendored or the interpreter's).

use std::ffi::{c_int, c_void};

use mlua::ffi::{self, lua_State};

/// Closes the coroutine `co`: runs its pending to-be-closed variables'
/// `__close` handlers and resets it; returns its status (`LUA_OK`, or the
/// error status with the error value on `co`'s stack). `from` is the
/// thread doing it (Lua counts C calls through it).
///
/// The vendored Lua (5.4.6 and later) has `lua_closethread`; a stock 5.4
/// interpreter loading a module may be older (Debian 12 ships 5.4.4),
/// where the same operation is `lua_resetthread` (deprecated since 5.4.6,
/// which defines it as `lua_closethread(co, NULL)`). Before 5.4 there are
/// no to-be-closed variables, and nothing to do.
///
/// # Safety
/// `co` is a live coroutine, not running; `from` is the running thread.
pub(crate) unsafe fn close_thread(co: *mut lua_State, from: *mut lua_State) -> c_int {
    #[cfg(all(feature = "lua54", feature = "vendored"))]
    // SAFETY: forwarded.
    return unsafe { ffi::lua_closethread(co, from) };
    #[cfg(all(feature = "lua54", not(feature = "vendored")))]
    {
        let _ = from;
        // SAFETY: forwarded.
        return unsafe { ffi::lua_resetthread(co) };
    }
    #[cfg(not(feature = "lua54"))]
    {
        let _ = (co, from);
        ffi::LUA_OK
    }
}

/// `lua_newuserdatauv(state, size, 0)` where user values are counted (5.4);
/// `lua_newuserdata` before. Allocates, so it may raise.
///
/// # Safety
/// Live state with room for one value.
pub(crate) unsafe fn new_userdata(state: *mut lua_State, size: usize) -> *mut c_void {
    #[cfg(feature = "lua54")]
    // SAFETY: forwarded.
    return unsafe { ffi::lua_newuserdatauv(state, size, 0) };
    #[cfg(not(feature = "lua54"))]
    // SAFETY: forwarded.
    return unsafe { ffi::lua_newuserdata(state, size) };
}
