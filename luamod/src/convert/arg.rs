//! Reading Lua arguments into Rust parameters with Lua's own checks.
//!
//! Each parameter type implements [`FromArg`]. The checks and their wording
//! follow Lua 5.4's auxiliary library (`luaL_checkinteger`,
//! `luaL_checklstring`, `luaL_checknumber`, `luaL_checktype`,
//! `luaL_checkany`, `luaL_opt*`): numbers are accepted where strings are
//! expected and numeric strings where numbers are; an absent argument reads
//! `got no value`, an explicit nil `got nil`.
//!
//! Nothing here raises a Lua error while Rust values are alive: failures are
//! returned as [`ArgError`] and raised by [`crate::call()`] once none is.
//! The one call that may raise, [`PrepareTag`]'s `lua_tolstring` of a
//! string argument, runs at the top of the generated C function, before
//! any exists.

use std::ffi::c_int;

use mlua::ffi;

use crate::call::{ArgError, CallCx};

/// A Rust type that can be a parameter of a `#[luamod::function]`.
///
/// `'a` is the duration of the call: borrowed parameters (`&str`, `&[u8]`)
/// point straight into Lua strings on the call's stack, with no copy.
///
/// Implement it for your own types to accept them as parameters; types with
/// a `#[derive(LuaRecord)]` or `#[luamod::userdata]` get it generated.
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be a parameter of a Lua export: it does not implement `luamod::FromArg`",
    label = "unsupported parameter type",
    note = "for a struct read from a Lua table, add `#[derive(LuaRecord)]` to it; for a Rust object owned by Lua, `#[luamod::userdata]`",
    note = "otherwise implement `luamod::FromArg` for `{Self}`, or take `mlua::Value` and convert in the body"
)]
pub trait FromArg<'a>: Sized {
    /// Reads argument `idx` (1-based stack index) of the running call.
    fn from_arg(cx: &'a CallCx, idx: c_int) -> Result<Self, ArgError>;

    /// Whether the export reads this argument with `lua_tolstring` before
    /// its Rust frame exists (see [`PrepareTag`]). For luamod's string
    /// types only: a number converts there as in C, where a memory error
    /// may raise (after Lua's emergency collection), and the call needs
    /// no `lua_type` first.
    #[doc(hidden)]
    const PREPARES: bool = false;

    /// Reads argument `idx` given what [`PrepareTag`] read of it; the same
    /// as [`from_arg`](Self::from_arg) unless [`PREPARES`](Self::PREPARES).
    ///
    /// # Safety
    /// `pre` is what `PrepareTag::<Self>` read of argument `idx` at the
    /// top of this same call (its pointer addresses the argument's string).
    #[doc(hidden)]
    #[inline(always)]
    unsafe fn from_prepared(cx: &'a CallCx, idx: c_int, pre: Prepared) -> Result<Self, ArgError> {
        let _ = pre;
        Self::from_arg(cx, idx)
    }
}

/// What [`PrepareTag`] read of an argument: the string `lua_tolstring`
/// returned, or null.
#[doc(hidden)]
#[derive(Clone, Copy)]
pub struct Prepared {
    ptr: *const u8,
    len: usize,
}

impl Prepared {
    const NONE: Prepared = Prepared {
        ptr: std::ptr::null(),
        len: 0,
    };
}

/// `(&&PrepareTag::<T>::new()).__luamod_prepare(state, idx)`, generated at
/// the top of an export for each of its first `LUA_MINSTACK` (20)
/// arguments, reads the argument as a string with `lua_tolstring` (as C's
/// `luaL_checklstring` does) when `T` asks for it: a number is converted
/// in place (the conversion allocates, and its memory error may raise
/// there), anything else reads as null and is reported by `T`'s
/// `from_prepared` once the call runs. A type that is not a `FromArg`
/// reads nothing here ([`PrepareNone`]), so that it is reported once, by
/// [`arg_prepared`].
///
/// Every string argument is read before any argument is checked, so a
/// number in a later string parameter is converted even when an earlier
/// argument is bad: where that conversion runs out of memory (or, on Lua
/// 5.3, runs a finalizer that raises), the call fails with that before
/// it reports the bad argument. Lua's own C functions check in order.
///
/// # Safety (of `__luamod_prepare`)
/// `state` is the state of a running C function entered from Lua, `idx`
/// is at most `LUA_MINSTACK`, and nothing in the caller's frames needs
/// dropping (a Lua error may `longjmp` over them). Until the call
/// returns, nothing may replace the value at `idx`: the result points
/// into it.
#[doc(hidden)]
pub struct PrepareTag<T>(std::marker::PhantomData<fn() -> T>);

impl<T> PrepareTag<T> {
    #[doc(hidden)]
    #[inline(always)]
    pub const fn new() -> Self {
        PrepareTag(std::marker::PhantomData)
    }
}

/// Picked when the parameter type is a [`FromArg`] (see [`PrepareTag`]).
#[doc(hidden)]
pub trait PrepareArg {
    /// # Safety
    /// See [`PrepareTag`].
    unsafe fn __luamod_prepare(self, state: *mut ffi::lua_State, idx: c_int) -> Prepared;
}

impl<'a, T: FromArg<'a>> PrepareArg for &&PrepareTag<T> {
    #[inline(always)]
    unsafe fn __luamod_prepare(self, state: *mut ffi::lua_State, idx: c_int) -> Prepared {
        if !T::PREPARES {
            return Prepared::NONE;
        }
        let mut len = 0usize;
        // SAFETY: forwarded; any index up to LUA_MINSTACK is acceptable.
        let ptr = unsafe { ffi::lua_tolstring(state, idx, &mut len) };
        Prepared {
            ptr: ptr.cast(),
            len,
        }
    }
}

/// Picked when the parameter type is not a [`FromArg`] (a compile error
/// reported by [`arg_prepared`]).
#[doc(hidden)]
pub trait PrepareNone {
    /// # Safety
    /// None needed; `unsafe` to match [`PrepareArg`].
    #[inline(always)]
    unsafe fn __luamod_prepare(self, _: *mut ffi::lua_State, _: c_int) -> Prepared
    where
        Self: Sized,
    {
        Prepared::NONE
    }
}

impl<T> PrepareNone for &PrepareTag<T> {}

/// Reads argument `idx` as `T` given what [`PrepareTag`] read (generated
/// code).
///
/// # Safety
/// As [`FromArg::from_prepared`].
#[doc(hidden)]
#[inline(always)]
pub unsafe fn arg_prepared<'a, T: FromArg<'a>>(
    cx: &'a CallCx,
    idx: c_int,
    pre: Prepared,
) -> Result<T, ArgError> {
    // SAFETY: forwarded.
    unsafe { T::from_prepared(cx, idx, pre) }
}

/// The bytes [`PrepareTag`] read of a string argument. `_cx` only ties
/// the result's lifetime to the call.
///
/// # Safety
/// As [`FromArg::from_prepared`].
#[inline(always)]
unsafe fn prepared_bytes(_cx: &CallCx, idx: c_int, pre: Prepared) -> Result<&[u8], ArgError> {
    if pre.ptr.is_null() {
        return Err(not_a_string(idx));
    }
    // SAFETY: `pre` holds the `len` bytes of the string at `idx` of this
    // call (the caller's contract), which stays there, unreplaced (the
    // contract of `__luamod_prepare`), until the call returns; the borrow
    // of `cx` the result is tied to ends with the call.
    Ok(unsafe { std::slice::from_raw_parts(pre.ptr, pre.len) })
}

#[cold]
fn not_a_string(idx: c_int) -> ArgError {
    ArgError::Type {
        idx,
        expected: "string",
    }
}

#[inline(always)]
fn is_none_or_nil(cx: &CallCx, idx: c_int) -> bool {
    // SAFETY: lua_type accepts any index of a live state (LUA_TNONE past top).
    unsafe { ffi::lua_type(cx.state(), idx) <= ffi::LUA_TNIL }
}

/// `lua_tolstring` on `idx`: Lua strings, and numbers converted in place as
/// `luaL_checklstring` does.
#[inline(always)]
fn bytes_at(cx: &CallCx, idx: c_int) -> Result<&[u8], ArgError> {
    let state = cx.state();
    // SAFETY: live state, any index.
    match unsafe { ffi::lua_type(state, idx) } {
        ffi::LUA_TSTRING => {}
        ffi::LUA_TNUMBER => number_to_string(cx, idx)?,
        _ => return Err(not_a_string(idx)),
    }
    let mut len = 0usize;
    // SAFETY: `idx` holds a string, so lua_tolstring does not allocate; the
    // returned pointer addresses `len` bytes owned by that value, which stays
    // at `idx` (unmodified by us after this) until the call returns, and
    // `'a` is bounded by the call.
    unsafe {
        let p = ffi::lua_tolstring(state, idx, &mut len);
        Ok(std::slice::from_raw_parts(p as *const u8, len))
    }
}

/// Converts the number at `idx` to a string in place, as
/// `luaL_checklstring` does (the conversion allocates, so it is guarded).
#[cold]
fn number_to_string(cx: &CallCx, idx: c_int) -> Result<(), ArgError> {
    let state = cx.state();
    // SAFETY: a copy of the number is converted by the guarded call and then
    // moved over the original (lua_replace does not allocate).
    unsafe {
        if ffi::lua_checkstack(state, 1) == 0 {
            return Err(ArgError::msg(idx, "stack overflow"));
        }
        ffi::lua_pushvalue(state, idx);
        if let Err(e) = cx.alloc(1, |st| {
            ffi::lua_tolstring(st, -1, std::ptr::null_mut());
        }) {
            return Err(e.into_arg(idx));
        }
        ffi::lua_replace(state, idx);
    }
    Ok(())
}

impl<'a> FromArg<'a> for &'a [u8] {
    #[inline(always)]
    fn from_arg(cx: &'a CallCx, idx: c_int) -> Result<Self, ArgError> {
        bytes_at(cx, idx)
    }

    const PREPARES: bool = true;

    #[inline(always)]
    unsafe fn from_prepared(cx: &'a CallCx, idx: c_int, pre: Prepared) -> Result<Self, ArgError> {
        // SAFETY: forwarded.
        unsafe { prepared_bytes(cx, idx, pre) }
    }
}

impl<'a> FromArg<'a> for &'a str {
    #[inline(always)]
    fn from_arg(cx: &'a CallCx, idx: c_int) -> Result<Self, ArgError> {
        as_utf8(idx, bytes_at(cx, idx)?)
    }

    const PREPARES: bool = true;

    #[inline(always)]
    unsafe fn from_prepared(cx: &'a CallCx, idx: c_int, pre: Prepared) -> Result<Self, ArgError> {
        // SAFETY: forwarded.
        as_utf8(idx, unsafe { prepared_bytes(cx, idx, pre) }?)
    }
}

#[inline(always)]
fn as_utf8(idx: c_int, b: &[u8]) -> Result<&str, ArgError> {
    utf8(b).ok_or_else(|| ArgError::msg(idx, "string is not valid UTF-8"))
}

/// `b` as UTF-8. Short ASCII strings, the usual argument, are checked
/// inline a word at a time; the rest go to the standard validator (whose
/// call alone cost more than `lua_tolstring`, measured).
#[inline(always)]
fn utf8(b: &[u8]) -> Option<&str> {
    if b.len() <= 32 && short_ascii(b) {
        // SAFETY: every byte is below 0x80: ASCII, which is UTF-8.
        return Some(unsafe { std::str::from_utf8_unchecked(b) });
    }
    std::str::from_utf8(b).ok()
}

/// Whether `b` (at most 32 bytes) is all ASCII. Words overlap instead of
/// looping over a tail: a 5-byte string is two 4-byte reads.
#[inline(always)]
fn short_ascii(b: &[u8]) -> bool {
    let n = b.len();
    // Fixed-size copies out of bounds-checked slices: one unaligned load
    // each once inlined.
    let word = |i: usize| {
        let mut w = [0u8; 8];
        w.copy_from_slice(&b[i..i + 8]);
        u64::from_le_bytes(w)
    };
    let half = |i: usize| {
        let mut w = [0u8; 4];
        w.copy_from_slice(&b[i..i + 4]);
        u32::from_le_bytes(w)
    };
    if n >= 8 {
        let mut acc = word(n - 8);
        let mut i = 0;
        while i + 8 < n {
            acc |= word(i);
            i += 8;
        }
        acc & 0x8080_8080_8080_8080 == 0
    } else if n >= 4 {
        (half(0) | half(n - 4)) & 0x8080_8080 == 0
    } else {
        b.iter().fold(0u8, |a, &c| a | c) < 0x80
    }
}

impl<'a> FromArg<'a> for String {
    #[inline(always)]
    fn from_arg(cx: &'a CallCx, idx: c_int) -> Result<Self, ArgError> {
        owned(cx, idx, <&str>::from_arg(cx, idx)?)
    }

    const PREPARES: bool = true;

    #[inline(always)]
    unsafe fn from_prepared(cx: &'a CallCx, idx: c_int, pre: Prepared) -> Result<Self, ArgError> {
        // SAFETY: forwarded.
        owned(cx, idx, unsafe { <&str>::from_prepared(cx, idx, pre) }?)
    }
}

#[inline(always)]
fn owned(cx: &CallCx, idx: c_int, s: &str) -> Result<String, ArgError> {
    cx.charge_copy(idx, CallCx::block_cost(s.len()))?;
    Ok(s.to_owned())
}

/// `luaL_checkinteger`: integers, floats with an exact integer value, and
/// strings convertible to either.
#[inline(always)]
fn integer_at(cx: &CallCx, idx: c_int) -> Result<i64, ArgError> {
    let mut isnum = 0;
    // SAFETY: live state, any index.
    let v = unsafe { ffi::lua_tointegerx(cx.state(), idx, &mut isnum) };
    if isnum != 0 {
        Ok(v)
    } else {
        Err(integer_error(cx, idx))
    }
}

#[cold]
fn integer_error(cx: &CallCx, idx: c_int) -> ArgError {
    // SAFETY: live state, any index.
    if unsafe { ffi::lua_isnumber(cx.state(), idx) } != 0 {
        ArgError::msg(idx, "number has no integer representation")
    } else {
        ArgError::Type {
            idx,
            expected: "number",
        }
    }
}

impl<'a> FromArg<'a> for i64 {
    #[inline(always)]
    fn from_arg(cx: &'a CallCx, idx: c_int) -> Result<Self, ArgError> {
        integer_at(cx, idx)
    }
}

/// What `string.char` says of a value that does not fit: "value out of
/// range" on Lua 5.3 and 5.4, "invalid value" on LuaJIT.
const OUT_OF_RANGE: &str = if cfg!(feature = "luajit") {
    "invalid value"
} else {
    "value out of range"
};

macro_rules! narrow_integer {
    ($($t:ty),*) => {$(
        impl<'a> FromArg<'a> for $t {
            #[inline(always)]
            fn from_arg(cx: &'a CallCx, idx: c_int) -> Result<Self, ArgError> {
                let v = integer_at(cx, idx)?;
                // Same wording as `string.char` for a value that does not fit.
                <$t>::try_from(v).map_err(|_| ArgError::msg(idx, OUT_OF_RANGE))
            }
        }
    )*};
}
narrow_integer!(i8, i16, i32, isize, u8, u16, u32, u64, usize);

impl<'a> FromArg<'a> for f64 {
    #[inline(always)]
    fn from_arg(cx: &'a CallCx, idx: c_int) -> Result<Self, ArgError> {
        let mut isnum = 0;
        // SAFETY: live state, any index.
        let v = unsafe { ffi::lua_tonumberx(cx.state(), idx, &mut isnum) };
        if isnum != 0 {
            Ok(v)
        } else {
            Err(ArgError::Type {
                idx,
                expected: "number",
            })
        }
    }
}

impl<'a> FromArg<'a> for f32 {
    #[inline(always)]
    fn from_arg(cx: &'a CallCx, idx: c_int) -> Result<Self, ArgError> {
        // As C's `(float)luaL_checknumber(L, i)`: rounds, never fails on range.
        f64::from_arg(cx, idx).map(|v| v as f32)
    }
}

impl<'a> FromArg<'a> for bool {
    /// Lua's C API has no `luaL_checkboolean`; a Rust `bool` parameter is
    /// checked like `luaL_checktype(L, i, LUA_TBOOLEAN)`. Take `Value` or
    /// `Option<bool>` to accept any truthy value or nothing.
    #[inline(always)]
    fn from_arg(cx: &'a CallCx, idx: c_int) -> Result<Self, ArgError> {
        // SAFETY: live state, any index.
        unsafe {
            if ffi::lua_type(cx.state(), idx) == ffi::LUA_TBOOLEAN {
                Ok(ffi::lua_toboolean(cx.state(), idx) != 0)
            } else {
                Err(ArgError::Type {
                    idx,
                    expected: "boolean",
                })
            }
        }
    }
}

/// `nil` or an absent argument is `None` (as `luaL_opt*`); anything else
/// must be a valid `T`.
impl<'a, T: FromArg<'a>> FromArg<'a> for Option<T> {
    #[inline(always)]
    fn from_arg(cx: &'a CallCx, idx: c_int) -> Result<Self, ArgError> {
        if is_none_or_nil(cx, idx) {
            Ok(None)
        } else {
            T::from_arg(cx, idx).map(Some)
        }
    }
}

/// Every argument from this position to the last one.
impl<'a, T: FromArg<'a>> FromArg<'a> for mlua::Variadic<T> {
    fn from_arg(cx: &'a CallCx, idx: c_int) -> Result<Self, ArgError> {
        let top = cx.top();
        let n = (top - idx + 1).max(0) as usize;
        // Rust memory the Lua limit does not see: a script can pass about
        // a million arguments.
        cx.charge_copy(idx, n.saturating_mul(std::mem::size_of::<T>()))?;
        let mut out = mlua::Variadic::with_capacity(n);
        for i in idx..=top {
            out.push(T::from_arg(cx, i)?);
        }
        Ok(out)
    }
}

/// Reads argument `idx` as `T` (used by generated code).
#[doc(hidden)]
#[inline(always)]
pub fn arg<'a, T: FromArg<'a>>(cx: &'a CallCx, idx: c_int) -> Result<T, ArgError> {
    T::from_arg(cx, idx)
}

/// Converts a `#[lua(default = ...)]` expression to the parameter type.
#[doc(hidden)]
#[inline(always)]
pub fn default_into<T, D: Into<T>>(d: D) -> T {
    d.into()
}

#[cfg(test)]
mod tests {
    use super::utf8;

    /// The fast path agrees with the standard validator: ASCII of every
    /// length around the chunk size, and one non-ASCII byte (a valid
    /// sequence or a lone byte) at every position.
    #[test]
    fn utf8_fast_path_agrees_with_std() {
        for len in 0..=40 {
            let ascii: Vec<u8> = (0..len).map(|i| b'a' + (i % 26) as u8).collect();
            assert_eq!(utf8(&ascii), std::str::from_utf8(&ascii).ok());
            for pos in 0..len {
                for bad in [0x80u8, 0xff, 0xc3] {
                    let mut b = ascii.clone();
                    b[pos] = bad;
                    assert_eq!(utf8(&b), std::str::from_utf8(&b).ok(), "{len} {pos} {bad}");
                }
                let mut b = ascii.clone();
                b.splice(pos..pos, "é".bytes());
                assert_eq!(utf8(&b), std::str::from_utf8(&b).ok());
            }
        }
    }
}
