//! The C API calls whose spelling depends on the Lua VM luamod is built
//! for (its features `lua54`, `lua53`, `luajit`; for 5.4, whether Lua is
//! vendored or the interpreter's). Each is defined once per VM.

use std::ffi::{c_int, c_void};

use mlua::ffi::{self, lua_State};

/// A continuation's context (`lua_KContext`).
pub(crate) type KContext = isize;

/// A continuation (`lua_KFunction`). LuaJIT has none, and luamod never
/// asks it for one (see [`yield_k`]).
pub(crate) type KFunction = unsafe extern "C-unwind" fn(*mut lua_State, c_int, KContext) -> c_int;

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
#[cfg(all(feature = "lua54", feature = "vendored"))]
pub(crate) unsafe fn close_thread(co: *mut lua_State, from: *mut lua_State) -> c_int {
    // SAFETY: forwarded.
    unsafe { ffi::lua_closethread(co, from) }
}

/// See the vendored version above.
///
/// # Safety
/// As above.
#[cfg(all(feature = "lua54", not(feature = "vendored")))]
pub(crate) unsafe fn close_thread(co: *mut lua_State, _from: *mut lua_State) -> c_int {
    // SAFETY: forwarded.
    unsafe { ffi::lua_resetthread(co) }
}

/// See the 5.4 versions above: nothing to close before 5.4.
///
/// # Safety
/// As above.
#[cfg(not(feature = "lua54"))]
pub(crate) unsafe fn close_thread(_co: *mut lua_State, _from: *mut lua_State) -> c_int {
    ffi::LUA_OK
}

/// A full userdata of `size` bytes marked with `mark` (a light userdata
/// address), for [`has_mark`]: on Lua 5.4 the mark is the block's one user
/// value; before 5.4 it is not stored here (the caller's metatable carries
/// it in slot 1). Allocates, so it may raise; nothing after the allocation
/// can.
///
/// # Safety
/// Live state with room for two values.
pub(crate) unsafe fn new_userdata(
    state: *mut lua_State,
    size: usize,
    mark: *mut c_void,
) -> *mut c_void {
    #[cfg(feature = "lua54")]
    // SAFETY: forwarded; the user value slot was allocated with the block,
    // so setting it allocates nothing.
    let block = unsafe {
        let block = ffi::lua_newuserdatauv(state, size, 1);
        ffi::lua_pushlightuserdata(state, mark);
        ffi::lua_setiuservalue(state, -2, 1);
        block
    };
    #[cfg(not(feature = "lua54"))]
    // SAFETY: forwarded.
    let block = unsafe {
        let _ = mark;
        ffi::lua_newuserdata(state, size)
    };
    block
}

/// Whether the value at `idx` is a full userdata marked with `mark` by
/// [`new_userdata`] (before 5.4: whose metatable holds `mark` in slot 1).
/// Only C code makes light userdata, so no script can forge a mark.
///
/// # Safety
/// Live state with room for two values.
#[inline(always)]
pub(crate) unsafe fn has_mark(state: *mut lua_State, idx: c_int, mark: *const c_void) -> bool {
    // SAFETY: a type test, then reads that push one or two values and pop
    // them; user values are read only from a full userdata.
    unsafe {
        if ffi::lua_type(state, idx) != ffi::LUA_TUSERDATA {
            return false;
        }
        #[cfg(feature = "lua54")]
        {
            let same = ffi::lua_getiuservalue(state, idx, 1) == ffi::LUA_TLIGHTUSERDATA
                && std::ptr::eq(ffi::lua_touserdata(state, -1), mark);
            ffi::lua_pop(state, 1);
            same
        }
        #[cfg(not(feature = "lua54"))]
        {
            if ffi::lua_getmetatable(state, idx) == 0 {
                return false;
            }
            let same = ffi::lua_rawgeti(state, -1, 1) == ffi::LUA_TLIGHTUSERDATA
                && std::ptr::eq(ffi::lua_touserdata(state, -1), mark);
            ffi::lua_pop(state, 2);
            same
        }
    }
}

/// `lua_yieldk`. On LuaJIT a C function can only yield by returning
/// `lua_yield`, which loses this frame's continuation: luamod's yields are
/// refused before they get here (`suspend::park`), so this raises.
///
/// # Safety
/// As `lua_yieldk`: the running C function's frame owns nothing.
#[cfg(not(feature = "luajit"))]
pub(crate) unsafe fn yield_k(state: *mut lua_State, n: c_int, k: KFunction) -> c_int {
    // SAFETY: forwarded.
    unsafe { ffi::lua_yieldk(state, n, 0, Some(k)) }
}

/// See above: raises on LuaJIT.
///
/// # Safety
/// As above.
#[cfg(feature = "luajit")]
pub(crate) unsafe fn yield_k(state: *mut lua_State, _n: c_int, _k: KFunction) -> c_int {
    // SAFETY: forwarded; the frame owns nothing.
    unsafe { ffi::luaL_error(state, c"luamod cannot yield on LuaJIT".as_ptr()) }
}

/// `lua_pcallk` with all results. On LuaJIT (no continuations) a plain
/// `lua_pcall`: the callee runs to its end (it cannot yield through this C
/// function), and the caller runs the continuation itself, as it does
/// whenever the callee returns without yielding.
///
/// # Safety
/// As `lua_pcallk`.
#[cfg(not(feature = "luajit"))]
pub(crate) unsafe fn pcall_k(
    state: *mut lua_State,
    nargs: c_int,
    ctx: KContext,
    k: KFunction,
) -> c_int {
    // SAFETY: forwarded.
    unsafe { ffi::lua_pcallk(state, nargs, ffi::LUA_MULTRET, 0, ctx, Some(k)) }
}

/// See above: a plain `lua_pcall` on LuaJIT.
///
/// # Safety
/// As above.
#[cfg(feature = "luajit")]
pub(crate) unsafe fn pcall_k(
    state: *mut lua_State,
    nargs: c_int,
    _ctx: KContext,
    _k: KFunction,
) -> c_int {
    // SAFETY: forwarded.
    unsafe { ffi::lua_pcall(state, nargs, ffi::LUA_MULTRET, 0) }
}

/// Whether the running coroutine can yield (`lua_isyieldable`); never from
/// a C function on LuaJIT.
///
/// # Safety
/// `state` is the running thread.
pub(crate) unsafe fn is_yieldable(state: *mut lua_State) -> bool {
    #[cfg(not(feature = "luajit"))]
    // SAFETY: a status query.
    let yieldable = unsafe { ffi::lua_isyieldable(state) } != 0;
    #[cfg(feature = "luajit")]
    let yieldable = {
        let _ = state;
        false
    };
    yieldable
}

/// The main thread of `state`'s Lua state: from the registry (5.2+); on
/// LuaJIT, which does not keep it there, `state` itself when it is the
/// main thread, else null.
///
/// # Safety
/// Live state with room for one value.
pub(crate) unsafe fn main_thread(state: *mut lua_State) -> *mut lua_State {
    // SAFETY: one value pushed and popped.
    unsafe {
        #[cfg(not(feature = "luajit"))]
        let main = {
            ffi::lua_rawgeti(state, ffi::LUA_REGISTRYINDEX, ffi::LUA_RIDX_MAINTHREAD);
            let main = ffi::lua_tothread(state, -1);
            ffi::lua_pop(state, 1);
            main
        };
        #[cfg(feature = "luajit")]
        let main = {
            let is_main = ffi::lua_pushthread(state) != 0;
            ffi::lua_pop(state, 1);
            if is_main { state } else { std::ptr::null_mut() }
        };
        main
    }
}
