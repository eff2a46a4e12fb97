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

use super::arg::FromArg;
use super::ret::IntoReturn;
use super::ret::ensure_room as ensure_push_room;
use super::ret::stop_if_refused;
use crate::call::{ArgError, CallCx, CallError};

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
        let r = T::from_arg(cx, top).map_err(|e| match e {
            ArgError::OutOfMemory => ArgError::OutOfMemory,
            e => {
                let (_, detail) = crate::call::render(cx, e);
                ArgError::msg(outer, format!("{context}: {detail}"))
            }
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
    push_key(cx, idx, name)?;
    // SAFETY: replaces the key by the raw field value (no allocation).
    unsafe { ffi::lua_rawget(cx.state(), idx) };
    read_top(cx, idx, format_args!("field '{name}'"))
}

/// Whether field `name` of the table at `idx` is absent or nil.
#[doc(hidden)]
pub fn field_is_nil(cx: &CallCx, idx: c_int, name: &str) -> Result<bool, ArgError> {
    ensure_room(cx, idx, 2)?;
    push_key(cx, idx, name)?;
    // SAFETY: replaces the key by the field value, then pops it.
    unsafe {
        let t = ffi::lua_rawget(cx.state(), idx);
        ffi::lua_pop(cx.state(), 1);
        Ok(t == ffi::LUA_TNIL)
    }
}

/// Pushes a field name (interning it may allocate, so it is guarded).
fn push_key(cx: &CallCx, idx: c_int, name: &str) -> Result<(), ArgError> {
    let (p, n) = (name.as_ptr(), name.len());
    // SAFETY: lua_pushlstring copies the `n` bytes at `p`.
    cx.alloc(0, |st| unsafe {
        ffi::lua_pushlstring(st, p.cast(), n);
    })
    .map_err(|e| e.into_arg(idx))
}

/// Checks that argument `idx` is a table (the start of a record read).
#[doc(hidden)]
pub fn expect_table(cx: &CallCx, idx: c_int) -> Result<(), ArgError> {
    check_table(cx, idx)
}

/// Holes a sequence may have before it must be mostly values (see
/// `Vec<T>`'s `from_arg`).
const HOLES: usize = 1 << 10;

/// A Lua sequence `{v1, v2, ...}` (indices `1..=#t`, read raw).
///
/// `#t` is any border of the table, and a table of 66 keys at powers of
/// two has one at 2^62: an element type that takes nil (`Option<T>`)
/// would read that many holes into a Rust vector, outside the Lua memory
/// limit. So past [`HOLES`] holes, a sequence whose holes outnumber its
/// values is refused.
impl<'a, T> FromArg<'a> for Vec<T>
where
    T: for<'b> FromArg<'b>,
{
    fn from_arg(cx: &'a CallCx, idx: c_int) -> Result<Self, ArgError> {
        check_table(cx, idx)?;
        // SAFETY: `idx` holds a table (checked).
        let n = unsafe { ffi::lua_rawlen(cx.state(), idx) };
        let mut out = Vec::with_capacity(n.min(1 << 16));
        let mut holes = 0usize;
        for i in 1..=n as ffi::lua_Integer {
            ensure_room(cx, idx, 2)?;
            // SAFETY: pushes one value, consumed by read_top.
            if unsafe { ffi::lua_rawgeti(cx.state(), idx, i) } == ffi::LUA_TNIL {
                holes += 1;
                if holes > HOLES && holes > out.len() + 1 - holes {
                    // SAFETY: pops the nil just pushed.
                    unsafe { ffi::lua_pop(cx.state(), 1) };
                    return Err(ArgError::msg(
                        idx,
                        format!("a sequence of length {n} whose first {i} elements are mostly nil"),
                    ));
                }
            }
            // Rust memory the Lua limit does not see, and a table may be
            // read many times over (`{t, t, t, ...}` for a `Vec<Vec<T>>`).
            cx.charge_copy(idx, std::mem::size_of::<T>())?;
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
    // A walk costs the table's allocated size, not its entries: one
    // emptied of a million keys, passed a million times over, is an hour
    // of walking in one call. Asked once per table.
    if crate::ffi::interrupt::requested() {
        return Err(ArgError::msg(idx, "the process was stopped"));
    }
    let state = cx.state();
    ensure_room(cx, idx, 4)?;
    // SAFETY: standard lua_next loop; on early return the key (and the
    // value) are popped so the stack stays balanced. `lua_next` raises
    // when its key is no longer in the table, which a finalizer run by an
    // element's conversion can bring about (clearing the table and
    // filling it anew rebuilds it without its dead keys): the key is
    // looked up first (raw, so nothing runs), and a table that lost it
    // is refused.
    unsafe {
        let t = ffi::lua_absindex(state, idx);
        ffi::lua_pushnil(state);
        while ffi::lua_next(state, t) != 0 {
            if let Err(e) = each() {
                ffi::lua_pop(state, 2);
                return Err(e);
            }
            ffi::lua_pop(state, 1);
            ffi::lua_pushvalue(state, -1);
            if ffi::lua_rawget(state, t) == ffi::LUA_TNIL {
                ffi::lua_pop(state, 2);
                return Err(ArgError::msg(idx, "the table changed while it was read"));
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
        // As `Vec<T>`'s elements: counted against the call's copy limit.
        cx.charge_copy(idx, std::mem::size_of::<(K, V)>())?;
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
    ensure_push_room(cx, 2)?;
    // SAFETY: live state; the stack is trimmed to exactly one new value
    // (lua_settop never allocates).
    unsafe {
        let top = ffi::lua_gettop(state);
        v.push_return(cx)?;
        ffi::lua_settop(state, top + 1);
    }
    Ok(())
}

/// Creates a fresh table on the stack with room for `narr`/`nrec` entries.
#[doc(hidden)]
pub fn new_table(cx: &CallCx, narr: usize, nrec: usize) -> Result<(), CallError> {
    ensure_push_room(cx, 3)?;
    // Sizes are hints: the table grows as needed, so a huge collection
    // does not preallocate (or overflow Lua's table size) in one call.
    let (narr, nrec) = (
        narr.min(SIZE_HINT_CAP) as c_int,
        nrec.min(SIZE_HINT_CAP) as c_int,
    );
    // SAFETY: room checked; lua_createtable pushes one table.
    cx.alloc(0, |st| unsafe { ffi::lua_createtable(st, narr, nrec) })
}

/// The largest size hint passed to `lua_createtable`.
const SIZE_HINT_CAP: usize = 1 << 16;

/// Sets `t[name] = v` on the table on top of the stack (for records);
/// values that push nil (`None`) leave the field absent.
#[doc(hidden)]
pub fn set_field<T: IntoReturn>(cx: &CallCx, name: &str, v: T) -> Result<(), CallError> {
    push_one(cx, v)?;
    let (p, n) = (name.as_ptr(), name.len());
    // SAFETY: table at -2, value at -1 (push_one checked room for the key);
    // the key is inserted between them and lua_rawset pops both.
    cx.alloc(2, |st| unsafe {
        ffi::lua_pushlstring(st, p.cast(), n);
        ffi::lua_insert(st, -2);
        ffi::lua_rawset(st, -3);
    })
}

/// A fresh sequence.
impl<T: IntoReturn> IntoReturn for Vec<T> {
    fn push_return(self, cx: &CallCx) -> Result<c_int, CallError> {
        new_table(cx, self.len(), 0)?;
        for (i, v) in self.into_iter().enumerate() {
            stop_if_refused(cx)?;
            push_one(cx, v)?;
            let i = i as ffi::lua_Integer + 1;
            // SAFETY: table at -2, value at -1; lua_rawseti pops the value.
            cx.alloc(2, |st| unsafe { ffi::lua_rawseti(st, -2, i) })?;
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
        stop_if_refused(cx)?;
        push_one(cx, k)?;
        push_one(cx, v)?;
        // SAFETY: table at -3, key at -2, value at -1. A nil or NaN key
        // would make lua_rawset raise, so those are refused first and the
        // pair popped; lua_rawset pops key and value.
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
            cx.alloc(3, |st| ffi::lua_rawset(st, -3))?;
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
