//! Sequences, maps and records: Lua tables read into Rust collections and
//! written back as fresh tables.
//!
//! Tables are read raw (`lua_rawgeti`, `lua_rawget`, `lua_next`): a
//! metamethod could raise while the partly built Rust value is alive, and a
//! raise must never skip a Rust destructor. Elements are read from a
//! temporary stack slot, and an element's error is rendered at once (while
//! the slot still holds the offending value) into the outer argument's
//! message: `bad argument #1 to 'f' (index 2: number expected, got string)`,
//! `(field 'port': ...)`, `(key 'a': ...)`.
//!
//! Element types must be owned (`for<'b> FromArg<'b>`): a borrowed `&str`
//! would point into a slot that is popped.

use std::collections::{BTreeMap, HashMap};
use std::ffi::c_int;
use std::fmt::Display;
use std::hash::Hash;

use mlua::ffi;

use crate::arg::FromArg;
use crate::call::{ArgError, CallCx, CallError};
use crate::ret::IntoReturn;

#[inline]
fn ensure_room(cx: &CallCx, outer: c_int, n: c_int) -> Result<(), ArgError> {
    // SAFETY: live state.
    if unsafe { ffi::lua_checkstack(cx.state(), n) } == 0 {
        return Err(ArgError::msg(outer, "table nested too deeply"));
    }
    Ok(())
}

/// Reads the value on top of the stack as `T`, pops it, and words any error
/// as `{context}: {detail}` on argument `outer`.
pub(crate) fn read_top<T>(cx: &CallCx, outer: c_int, context: impl Display) -> Result<T, ArgError>
where
    T: for<'b> FromArg<'b>,
{
    let state = cx.state();
    // SAFETY: the caller pushed the value; it is popped on every path.
    unsafe {
        let top = ffi::lua_gettop(state);
        let r = T::from_arg(cx, top).map_err(|e| {
            let (_, detail) = crate::call::render(state, e);
            ArgError::msg(outer, format!("{context}: {detail}"))
        });
        ffi::lua_settop(state, top - 1);
        r
    }
}

#[inline]
fn check_table(cx: &CallCx, idx: c_int) -> Result<(), ArgError> {
    // SAFETY: live state, any index.
    if unsafe { ffi::lua_type(cx.state(), idx) } != ffi::LUA_TTABLE {
        return Err(ArgError::Type {
            idx,
            expected: "table",
        });
    }
    Ok(())
}

/// Reads field `name` of the table at `idx` (used by `#[derive(LuaRecord)]`).
/// A missing field reads as `nil`, so `Option` fields may be absent.
#[doc(hidden)]
pub fn field<T>(cx: &CallCx, idx: c_int, name: &str) -> Result<T, ArgError>
where
    T: for<'b> FromArg<'b>,
{
    ensure_room(cx, idx, 2)?;
    // SAFETY: pushes the key, then replaces it by the raw field value.
    unsafe {
        ffi::lua_pushlstring(cx.state(), name.as_ptr().cast(), name.len());
        ffi::lua_rawget(cx.state(), idx);
    }
    read_top(cx, idx, format_args!("field '{name}'"))
}

/// Whether field `name` of the table at `idx` is absent or nil.
#[doc(hidden)]
pub fn field_is_nil(cx: &CallCx, idx: c_int, name: &str) -> Result<bool, ArgError> {
    ensure_room(cx, idx, 2)?;
    // SAFETY: pushes and pops one value.
    unsafe {
        ffi::lua_pushlstring(cx.state(), name.as_ptr().cast(), name.len());
        let t = ffi::lua_rawget(cx.state(), idx);
        ffi::lua_pop(cx.state(), 1);
        Ok(t == ffi::LUA_TNIL)
    }
}

/// Checks that argument `idx` is a table (the start of a record read).
#[doc(hidden)]
pub fn expect_table(cx: &CallCx, idx: c_int) -> Result<(), ArgError> {
    check_table(cx, idx)
}

/// A Lua sequence `{v1, v2, ...}` (indices `1..=#t`, read raw).
impl<'a, T> FromArg<'a> for Vec<T>
where
    T: for<'b> FromArg<'b>,
{
    fn from_arg(cx: &'a CallCx, idx: c_int) -> Result<Self, ArgError> {
        check_table(cx, idx)?;
        // SAFETY: `idx` holds a table (checked).
        let n = unsafe { ffi::lua_rawlen(cx.state(), idx) };
        let mut out = Vec::with_capacity(n.min(1 << 16));
        for i in 1..=n as ffi::lua_Integer {
            ensure_room(cx, idx, 2)?;
            // SAFETY: pushes one value, consumed by read_top.
            unsafe { ffi::lua_rawgeti(cx.state(), idx, i) };
            out.push(read_top(cx, idx, format_args!("index {i}"))?);
        }
        Ok(out)
    }
}

/// Iterates the table at `idx` raw, calling `each` with the key and the
/// value on top of the stack (key at -2). `each` must leave both in place.
fn for_each_pair(
    cx: &CallCx,
    idx: c_int,
    mut each: impl FnMut() -> Result<(), ArgError>,
) -> Result<(), ArgError> {
    check_table(cx, idx)?;
    let state = cx.state();
    ensure_room(cx, idx, 4)?;
    // SAFETY: standard lua_next loop; on early return the key and value
    // are popped so the stack stays balanced.
    unsafe {
        ffi::lua_pushnil(state);
        while ffi::lua_next(state, idx) != 0 {
            if let Err(e) = each() {
                ffi::lua_pop(state, 2);
                return Err(e);
            }
            ffi::lua_pop(state, 1);
        }
    }
    Ok(())
}

/// Reads the key at -2 (from a copy, so `lua_next` keeps its key) and the
/// value at -1.
fn read_pair<K, V>(cx: &CallCx, idx: c_int) -> Result<(K, V), ArgError>
where
    K: for<'b> FromArg<'b> + Display,
    V: for<'b> FromArg<'b>,
{
    ensure_room(cx, idx, 2)?;
    // SAFETY: pushes copies of the key and the value; read_top pops each.
    unsafe { ffi::lua_pushvalue(cx.state(), -2) };
    let k: K = read_top(cx, idx, "key")?;
    // SAFETY: as above.
    unsafe { ffi::lua_pushvalue(cx.state(), -1) };
    let v: V = read_top(cx, idx, format_args!("key '{k}'"))?;
    Ok((k, v))
}

/// Reads the table at `idx` (raw) into any map.
fn read_map<K, V, M>(cx: &CallCx, idx: c_int) -> Result<M, ArgError>
where
    K: for<'b> FromArg<'b> + Display,
    V: for<'b> FromArg<'b>,
    M: Default + Extend<(K, V)>,
{
    let mut out = M::default();
    for_each_pair(cx, idx, || {
        out.extend(std::iter::once(read_pair(cx, idx)?));
        Ok(())
    })?;
    Ok(out)
}

/// A table of key/value pairs (read raw).
impl<'a, K, V> FromArg<'a> for HashMap<K, V>
where
    K: for<'b> FromArg<'b> + Display + Eq + Hash,
    V: for<'b> FromArg<'b>,
{
    fn from_arg(cx: &'a CallCx, idx: c_int) -> Result<Self, ArgError> {
        read_map(cx, idx)
    }
}

/// A table of key/value pairs (read raw), ordered by key.
impl<'a, K, V> FromArg<'a> for BTreeMap<K, V>
where
    K: for<'b> FromArg<'b> + Display + Ord,
    V: for<'b> FromArg<'b>,
{
    fn from_arg(cx: &'a CallCx, idx: c_int) -> Result<Self, ArgError> {
        read_map(cx, idx)
    }
}

/// Pushes `v` as exactly one value (extra values dropped, none → nil).
pub(crate) fn push_one<T: IntoReturn>(cx: &CallCx, v: T) -> Result<(), CallError> {
    let state = cx.state();
    // SAFETY: live state; the stack is trimmed to exactly one new value.
    unsafe {
        if ffi::lua_checkstack(state, 2) == 0 {
            return Err(mlua::Error::StackError.into());
        }
        let top = ffi::lua_gettop(state);
        v.push_return(cx)?;
        ffi::lua_settop(state, top + 1);
    }
    Ok(())
}

/// Creates a fresh table on the stack with room for `narr`/`nrec` entries.
#[doc(hidden)]
pub fn new_table(cx: &CallCx, narr: usize, nrec: usize) -> Result<(), CallError> {
    // SAFETY: live state with a free slot checked first.
    unsafe {
        if ffi::lua_checkstack(cx.state(), 3) == 0 {
            return Err(mlua::Error::StackError.into());
        }
        ffi::lua_createtable(
            cx.state(),
            narr.min(i32::MAX as usize) as c_int,
            nrec.min(i32::MAX as usize) as c_int,
        );
    }
    Ok(())
}

/// Sets `t[name] = v` on the table on top of the stack (for records);
/// values that push nil (`None`) leave the field absent.
#[doc(hidden)]
pub fn set_field<T: IntoReturn>(cx: &CallCx, name: &str, v: T) -> Result<(), CallError> {
    push_one(cx, v)?;
    // SAFETY: table at -2, value at -1 (push_one checked room for the key);
    // the key is inserted between them and lua_rawset pops both.
    unsafe {
        let state = cx.state();
        ffi::lua_pushlstring(state, name.as_ptr().cast(), name.len());
        ffi::lua_insert(state, -2);
        ffi::lua_rawset(state, -3);
    }
    Ok(())
}

/// A fresh sequence.
impl<T: IntoReturn> IntoReturn for Vec<T> {
    fn push_return(self, cx: &CallCx) -> Result<c_int, CallError> {
        new_table(cx, self.len(), 0)?;
        for (i, v) in self.into_iter().enumerate() {
            push_one(cx, v)?;
            // SAFETY: table at -2, value at -1.
            unsafe { ffi::lua_rawseti(cx.state(), -2, i as ffi::lua_Integer + 1) };
        }
        Ok(1)
    }
}

fn push_map<K: IntoReturn, V: IntoReturn>(
    cx: &CallCx,
    len: usize,
    pairs: impl Iterator<Item = (K, V)>,
) -> Result<c_int, CallError> {
    new_table(cx, 0, len)?;
    for (k, v) in pairs {
        push_one(cx, k)?;
        push_one(cx, v)?;
        // SAFETY: table at -3, key at -2, value at -1. A nil or NaN key
        // would make lua_rawset raise (skipping Rust destructors), so those
        // are refused first and the pair popped.
        unsafe {
            let state = cx.state();
            let t = ffi::lua_type(state, -2);
            let nan = t == ffi::LUA_TNUMBER && ffi::lua_tonumber(state, -2).is_nan();
            if t == ffi::LUA_TNIL || nan {
                ffi::lua_pop(state, 2);
                return Err(CallError::Message(
                    "cannot use nil or NaN as a table key".to_owned(),
                ));
            }
            ffi::lua_rawset(state, -3);
        }
    }
    Ok(1)
}

/// A fresh table of key/value pairs.
impl<K: IntoReturn, V: IntoReturn, S> IntoReturn for HashMap<K, V, S> {
    fn push_return(self, cx: &CallCx) -> Result<c_int, CallError> {
        let n = self.len();
        push_map(cx, n, self.into_iter())
    }
}

/// A fresh table of key/value pairs.
impl<K: IntoReturn, V: IntoReturn> IntoReturn for BTreeMap<K, V> {
    fn push_return(self, cx: &CallCx) -> Result<c_int, CallError> {
        let n = self.len();
        push_map(cx, n, self.into_iter())
    }
}
