//! Moving values between a raw C call's stack and mlua's handles.
//!
//! Exports run as raw C functions, possibly on a coroutine that mlua is not
//! tracking, so mlua's internal "current state" may be a different thread
//! than the one whose stack holds our arguments. Values therefore cross
//! through one registry slot private to this module: the export's stack
//! writes or reads the slot directly (under a [`Guard`]: setting a registry
//! field may allocate), and mlua's side reads or writes it inside
//! `Lua::exec_raw`, which mlua runs protected.
//!
//! Known limit: mlua calls made from inside an export (`Function::call`,
//! `Table::get` with metamethods) run on mlua's current thread, which inside
//! a Lua coroutine is not the coroutine itself; a Lua callback invoked that
//! way cannot `coroutine.yield` and sees the outer thread as
//! `coroutine.running()`.
//!
//! Only values that need an mlua handle cross here (tables, functions,
//! userdata, `Value`, any `IntoLua`/`FromLua` type). Numbers, strings and
//! booleans never do: they are read and pushed on the raw stack directly.

use std::ffi::{c_int, c_void};

use mlua::ffi::{self, lua_State};
use mlua::{Lua, Value};

use super::guard::{Guard, GuardError};

static SLOT: u8 = 0;

fn slot() -> *mut c_void {
    &SLOT as *const u8 as *mut c_void
}

/// Pops the top value into the registry slot. It may allocate (a memory
/// error), and needs room for one more value on LuaJIT, where it never
/// raises for stack room: mlua's compatibility `lua_rawsetp` there asks
/// `luaL_checkstack` for 21 more slots first, which raises (unguarded,
/// over the call's Rust values) near the stack's end.
///
/// # Safety
/// Live state with a value on top and room for one more.
#[inline(always)]
unsafe fn set_slot(st: *mut lua_State) {
    // SAFETY: the caller's promise.
    unsafe {
        if cfg!(feature = "luajit") {
            ffi::lua_pushlightuserdata(st, slot());
            ffi::lua_insert(st, -2);
            ffi::lua_rawset(st, ffi::LUA_REGISTRYINDEX);
        } else {
            ffi::lua_rawsetp(st, ffi::LUA_REGISTRYINDEX, slot());
        }
    }
}

/// Why a value could not cross.
#[derive(Debug)]
pub(crate) enum BridgeError {
    /// mlua failed (its error is returned, nothing is on our stack).
    Mlua(mlua::Error),
    /// A guarded call raised: its error value is on top of our stack.
    Guard(GuardError),
}

impl From<mlua::Error> for BridgeError {
    fn from(e: mlua::Error) -> Self {
        BridgeError::Mlua(e)
    }
}

impl From<GuardError> for BridgeError {
    fn from(e: GuardError) -> Self {
        BridgeError::Guard(e)
    }
}

/// Reads the value at stack index `idx` of `state` as an mlua value.
/// Sets `deferred` if an allocation failure was deferred on the way (see
/// [`Guard::run`]), whether or not the read then succeeds.
///
/// # Safety
/// `state` is the live state of a running C function of `lua`'s state.
pub(crate) unsafe fn value_at(
    state: *mut lua_State,
    lua: &Lua,
    guard: Guard,
    idx: c_int,
    deferred: &mut bool,
) -> Result<Value, BridgeError> {
    // SAFETY: the pushed copy is moved into the registry slot by the
    // guarded call, so the stack is balanced (room for one more: the key
    // `set_slot` pushes on LuaJIT).
    unsafe {
        if ffi::lua_checkstack(state, 2) == 0 {
            return Err(mlua::Error::StackError.into());
        }
        ffi::lua_pushvalue(state, idx);
        match guard.run(state, 1, |st| set_slot(st)) {
            Ok(d) => *deferred |= d,
            Err(e) => {
                if e == GuardError::NoRoom {
                    ffi::lua_pop(state, 1);
                }
                return Err(e.into());
            }
        }
    }
    // SAFETY: the closure pushes exactly the one value mlua reads back, and
    // clears the slot so it does not keep the value alive.
    let v = unsafe {
        lua.exec_raw::<Value>((), |st| {
            ffi::lua_rawgetp(st, ffi::LUA_REGISTRYINDEX, slot());
            ffi::lua_pushnil(st);
            ffi::lua_rawsetp(st, ffi::LUA_REGISTRYINDEX, slot());
        })?
    };
    Ok(v)
}

/// Pushes an mlua value onto `state`'s stack; says whether an allocation
/// failure was deferred on the way (see [`Guard::run`]).
///
/// # Safety
/// As [`value_at`].
pub(crate) unsafe fn push_value(
    state: *mut lua_State,
    lua: &Lua,
    guard: Guard,
    v: Value,
) -> Result<bool, BridgeError> {
    // SAFETY: mlua pushes `v` as the closure's only argument; the closure
    // moves it into the registry slot, leaving mlua's stack as it found it.
    unsafe {
        lua.exec_raw::<()>(v, |st| {
            ffi::lua_rawsetp(st, ffi::LUA_REGISTRYINDEX, slot());
        })?;
    }
    // SAFETY: two values pushed after checking room (and one more for the
    // key `set_slot` pushes on LuaJIT); the slot is cleared (a guarded
    // registry write) so the registry does not keep it alive.
    unsafe {
        if ffi::lua_checkstack(state, 3) == 0 {
            return Err(mlua::Error::StackError.into());
        }
        ffi::lua_rawgetp(state, ffi::LUA_REGISTRYINDEX, slot());
        ffi::lua_pushnil(state);
        match guard.run(state, 1, |st| set_slot(st)) {
            Ok(deferred) => Ok(deferred),
            Err(e) => {
                // Keep the error value on top, drop the value under it.
                if e != GuardError::NoRoom {
                    ffi::lua_remove(state, -2);
                } else {
                    ffi::lua_pop(state, 2);
                }
                Err(e.into())
            }
        }
    }
}
