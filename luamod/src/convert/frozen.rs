//! [`Frozen`]: data an export hands Lua read-only, and [`freeze`] for
//! hosts that build such tables themselves.

use std::borrow::Cow;
use std::ffi::c_int;

use mlua::ffi;
use mlua::{Lua, Table, Value};

use super::ret::IntoReturn;
use crate::call::{CallCx, CallError};
use crate::types::{LuaType, TypeRegistry};
use luamod_types::Type;

/// A return value that reaches Lua read-only: a table (and every table in
/// it, at any depth) is frozen as module tables are — assignment,
/// `rawset`, `setmetatable` and writes through `getmetatable` fail with
/// `attempt to modify read-only table 'NAME'`, while reads, `pairs`, `#`
/// and `ipairs` work. Other values pass unchanged. Stubs show the inner
/// type.
///
/// ```
/// # use std::collections::BTreeMap;
/// #[luamod::module(name = "cfg", class(deterministic))]
/// pub mod cfg {
///     use std::collections::BTreeMap;
///     use luamod::Frozen;
///
///     /// The limits, read-only.
///     #[luamod::function]
///     pub fn limits() -> Frozen<BTreeMap<String, i64>> {
///         Frozen::new("cfg.limits", BTreeMap::from([("rows".to_owned(), 100)]))
///     }
/// }
/// let lua = luamod::lua_with(&[&cfg::MODULE])?;
/// let err = lua
///     .load("local l = require('cfg').limits() l.rows = 1")
///     .exec()
///     .unwrap_err();
/// assert!(err.to_string().contains("attempt to modify read-only table 'cfg.limits'"));
/// # Ok::<(), mlua::Error>(())
/// ```
#[derive(Debug, Clone)]
pub struct Frozen<T> {
    name: Cow<'static, str>,
    value: T,
}

impl<T> Frozen<T> {
    /// `value`, frozen under `name` (the name error messages use).
    pub fn new(name: impl Into<Cow<'static, str>>, value: T) -> Self {
        Frozen {
            name: name.into(),
            value,
        }
    }
}

impl<T: IntoReturn> IntoReturn for Frozen<T> {
    fn push_return(self, cx: &CallCx) -> Result<c_int, CallError> {
        let n = self.value.push_return(cx)?;
        let top = cx.top();
        for idx in top - n + 1..=top {
            if let Value::Table(t) = cx.value_at(idx)? {
                let frozen = freeze(cx.lua(), &self.name, t)?;
                cx.push_value(Value::Table(frozen))?;
                // SAFETY: live state; moves the pushed proxy into the
                // result's slot (no allocation).
                unsafe { ffi::lua_replace(cx.state(), idx) };
            }
        }
        Ok(n)
    }
}

impl<T: LuaType> LuaType for Frozen<T> {
    fn lua_type(reg: &mut TypeRegistry) -> Type {
        T::lua_type(reg)
    }
}

/// Freezes `table` and every table in it (see [`Frozen`]) on a state with
/// luamod's base (`luamod::lua_with`, a runtime worker); returns the
/// read-only table to hand out in its place.
pub fn freeze(lua: &Lua, name: &str, table: Table) -> mlua::Result<Table> {
    crate::readonly::freeze_deep(lua, name, table)
}
