//! mlua handles (`Table`, `Function`, `Thread`, `AnyUserData`, `Value`,
//! `LuaString`) as parameters and results. They cross through the registry
//! bridge, since mlua must own a reference to each.

use std::ffi::c_int;

use mlua::ffi;

use super::arg::FromArg;
use super::ret::IntoReturn;
use crate::call::{ArgError, CallCx, CallError};

fn handle_at<T: mlua::FromLua>(cx: &CallCx, idx: c_int) -> Result<T, ArgError> {
    let v = cx.value_at(idx).map_err(|e| e.into_arg(idx))?;
    T::from_lua(v, cx.lua()).map_err(|e| ArgError::msg(idx, e.to_string()))
}

macro_rules! typed_handle {
    ($($t:ty => $lua_type:ident, $name:literal;)*) => {$(
        impl<'a> FromArg<'a> for $t {
            fn from_arg(cx: &'a CallCx, idx: c_int) -> Result<Self, ArgError> {
                // SAFETY: live state, any index.
                if unsafe { ffi::lua_type(cx.state(), idx) } != ffi::$lua_type {
                    return Err(ArgError::Type { idx, expected: $name });
                }
                handle_at(cx, idx)
            }
        }
    )*};
}
typed_handle! {
    mlua::Table => LUA_TTABLE, "table";
    mlua::Function => LUA_TFUNCTION, "function";
    mlua::Thread => LUA_TTHREAD, "thread";
    mlua::AnyUserData => LUA_TUSERDATA, "userdata";
}

/// Any value, including an explicit `nil`; only an absent argument is an
/// error (`value expected`, as `luaL_checkany`).
impl<'a> FromArg<'a> for mlua::Value {
    fn from_arg(cx: &'a CallCx, idx: c_int) -> Result<Self, ArgError> {
        // SAFETY: live state, any index.
        if unsafe { ffi::lua_type(cx.state(), idx) } == ffi::LUA_TNONE {
            return Err(ArgError::msg(idx, "value expected"));
        }
        handle_at(cx, idx)
    }
}

macro_rules! push_handle {
    ($($t:ty),*) => {$(
        impl IntoReturn for $t {
            fn push_return(self, cx: &CallCx) -> Result<c_int, CallError> {
                let v = mlua::IntoLua::into_lua(self, cx.lua())?;
                cx.push_value(v)?;
                Ok(1)
            }
        }
    )*};
}
push_handle!(
    mlua::Value,
    mlua::Table,
    mlua::Function,
    mlua::Thread,
    mlua::AnyUserData,
    mlua::LuaString
);
