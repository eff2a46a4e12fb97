//! Moving values between a raw C call's stack and mlua's handles.
//!
//! Exports run as raw C functions, possibly on a coroutine that mlua is not
//! tracking, so mlua's internal "current state" may be a different thread
//! than the one whose stack holds our arguments. Values therefore cross
//! through one registry slot private to this module: the export's stack
//! writes or reads the slot directly, and mlua's side reads or writes it
//! inside `Lua::exec_raw`, whichever thread mlua considers current.
//!
//! Known limit: mlua calls made from inside an export (`Function::call`,
//! `Table::get` with metamethods) run on mlua's current thread, which inside
//! a Lua coroutine is not the coroutine itself; a Lua callback invoked that
//! way cannot `coroutine.yield` (a C function calling Lua cannot either,
//! without a continuation) and sees the outer thread as `coroutine.running()`.
//!
//! Only values that need an mlua handle cross here (tables, functions,
//! userdata, `Value`, any `IntoLua`/`FromLua` type). Numbers, strings and
//! booleans never do: they are read and pushed on the raw stack directly.

use std::ffi::{c_int, c_void};

use mlua::ffi;
use mlua::{FromLua, IntoLua, Value};

use crate::call::CallCx;

static SLOT: u8 = 0;

fn slot() -> *const c_void {
    &SLOT as *const u8 as *const c_void
}

/// Reads the value at stack index `idx` of the running call as an mlua value.
pub fn value_at(cx: &CallCx, idx: c_int) -> mlua::Result<Value> {
    let state = cx.state();
    // SAFETY: `state` is the live state of the running call; the pushed copy
    // is popped into the registry slot at once, so the stack is balanced.
    unsafe {
        if ffi::lua_checkstack(state, 1) == 0 {
            return Err(mlua::Error::StackError);
        }
        ffi::lua_pushvalue(state, idx);
        ffi::lua_rawsetp(state, ffi::LUA_REGISTRYINDEX, slot());
    }
    // SAFETY: the closure pushes exactly the one value mlua reads back, and
    // clears the slot so it does not keep the value alive.
    unsafe {
        cx.lua().exec_raw::<Value>((), |st| {
            ffi::lua_rawgetp(st, ffi::LUA_REGISTRYINDEX, slot());
            ffi::lua_pushnil(st);
            ffi::lua_rawsetp(st, ffi::LUA_REGISTRYINDEX, slot());
        })
    }
}

/// Reads the value at `idx` and converts it with `FromLua`.
pub fn from_lua_at<T: FromLua>(cx: &CallCx, idx: c_int) -> mlua::Result<T> {
    let v = value_at(cx, idx)?;
    T::from_lua(v, cx.lua())
}

/// Pushes any `IntoLua` value onto the running call's stack.
pub fn push_into<T: IntoLua>(cx: &CallCx, v: T) -> mlua::Result<()> {
    let v = v.into_lua(cx.lua())?;
    push_value(cx, v)
}

/// Pushes an mlua value onto the running call's stack.
pub fn push_value(cx: &CallCx, v: Value) -> mlua::Result<()> {
    let state = cx.state();
    // SAFETY: mlua pushes `v` as the closure's only argument; the closure
    // moves it into the registry slot, leaving mlua's stack as it found it.
    unsafe {
        cx.lua().exec_raw::<()>(v, |st| {
            ffi::lua_rawsetp(st, ffi::LUA_REGISTRYINDEX, slot());
        })?;
    }
    // SAFETY: live state; one value pushed after checking room; the slot is
    // cleared so the registry does not keep the value alive.
    unsafe {
        if ffi::lua_checkstack(state, 2) == 0 {
            return Err(mlua::Error::StackError);
        }
        ffi::lua_rawgetp(state, ffi::LUA_REGISTRYINDEX, slot());
        ffi::lua_pushnil(state);
        ffi::lua_rawsetp(state, ffi::LUA_REGISTRYINDEX, slot());
    }
    Ok(())
}
