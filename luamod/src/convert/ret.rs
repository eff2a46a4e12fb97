//! Pushing a Rust function's return value onto the Lua stack.
//!
//! Common types implement [`IntoReturn`] and are pushed straight onto the
//! raw stack. Any other `mlua::IntoLuaMulti` type is also accepted: generated
//! code picks between the two at compile time (see [`RetTag`]) and the slow
//! path converts through mlua. A type that is neither is a compile error
//! saying so.

use std::ffi::c_int;
use std::marker::PhantomData;

use mlua::ffi;

use crate::call::{CallCx, CallError};
use crate::error::LuaError;

/// A Rust value that a `#[luamod::function]` can return without going
/// through mlua. Returns the number of Lua values pushed.
///
/// Implementations push with the raw C API and must make every allocating
/// call through [`CallCx::alloc`] (composing other `IntoReturn` values does
/// that for you).
pub trait IntoReturn {
    /// Pushes the value(s) onto the running call's stack.
    fn push_return(self, cx: &CallCx) -> Result<c_int, CallError>;
}

#[inline(always)]
pub(crate) fn ensure_room(cx: &CallCx, n: c_int) -> Result<(), CallError> {
    // SAFETY: live state; lua_checkstack reports failure without raising.
    if unsafe { ffi::lua_checkstack(cx.state(), n) } == 0 {
        return Err(CallError::Message("stack overflow".to_owned()));
    }
    Ok(())
}

impl IntoReturn for () {
    #[inline(always)]
    fn push_return(self, _: &CallCx) -> Result<c_int, CallError> {
        Ok(0)
    }
}

macro_rules! push_integer {
    ($($t:ty),*) => {$(
        impl IntoReturn for $t {
            #[inline(always)]
            fn push_return(self, cx: &CallCx) -> Result<c_int, CallError> {
                // SAFETY: a C function always has LUA_MINSTACK free slots.
                unsafe { ffi::lua_pushinteger(cx.state(), self as i64) };
                Ok(1)
            }
        }
    )*};
}
push_integer!(i8, i16, i32, i64, isize, u8, u16, u32);

macro_rules! push_wide_unsigned {
    ($($t:ty),*) => {$(
        impl IntoReturn for $t {
            /// Values above `i64::MAX` become floats, as mlua does.
            #[inline(always)]
            fn push_return(self, cx: &CallCx) -> Result<c_int, CallError> {
                // SAFETY: a C function always has LUA_MINSTACK free slots.
                unsafe {
                    match i64::try_from(self) {
                        Ok(v) => ffi::lua_pushinteger(cx.state(), v),
                        Err(_) => ffi::lua_pushnumber(cx.state(), self as f64),
                    }
                }
                Ok(1)
            }
        }
    )*};
}
push_wide_unsigned!(u64, usize);

impl IntoReturn for f64 {
    #[inline(always)]
    fn push_return(self, cx: &CallCx) -> Result<c_int, CallError> {
        // SAFETY: a C function always has LUA_MINSTACK free slots.
        unsafe { ffi::lua_pushnumber(cx.state(), self) };
        Ok(1)
    }
}

impl IntoReturn for f32 {
    #[inline(always)]
    fn push_return(self, cx: &CallCx) -> Result<c_int, CallError> {
        f64::from(self).push_return(cx)
    }
}

impl IntoReturn for bool {
    #[inline(always)]
    fn push_return(self, cx: &CallCx) -> Result<c_int, CallError> {
        // SAFETY: a C function always has LUA_MINSTACK free slots.
        unsafe { ffi::lua_pushboolean(cx.state(), self as c_int) };
        Ok(1)
    }
}

impl IntoReturn for &str {
    #[inline(always)]
    fn push_return(self, cx: &CallCx) -> Result<c_int, CallError> {
        self.as_bytes().push_return(cx)
    }
}

/// Strings longer than this are checked against the memory limit before
/// they are pushed: inside the allocation window a string past the limit
/// would be made anyway (its failure deferred), and would stay until the
/// collector frees it.
const CHECKED_STRING: usize = 64 << 10;

impl IntoReturn for &[u8] {
    #[inline(always)]
    fn push_return(self, cx: &CallCx) -> Result<c_int, CallError> {
        let (p, n) = (self.as_ptr(), self.len());
        if n > CHECKED_STRING && cx.exceeds_limit(n) {
            return Err(CallError::OutOfMemory);
        }
        // SAFETY: a C function always has LUA_MINSTACK free slots;
        // lua_pushlstring copies the `n` bytes at `p`, which outlive it.
        cx.alloc(0, |st| unsafe {
            ffi::lua_pushlstring(st, p.cast(), n);
        })?;
        Ok(1)
    }
}

impl IntoReturn for String {
    #[inline(always)]
    fn push_return(self, cx: &CallCx) -> Result<c_int, CallError> {
        self.as_str().push_return(cx)
    }
}

/// `None` is `nil`.
impl<T: IntoReturn> IntoReturn for Option<T> {
    #[inline(always)]
    fn push_return(self, cx: &CallCx) -> Result<c_int, CallError> {
        match self {
            Some(v) => v.push_return(cx),
            None => {
                // SAFETY: a C function always has LUA_MINSTACK free slots.
                unsafe { ffi::lua_pushnil(cx.state()) };
                Ok(1)
            }
        }
    }
}

/// The Lua convention for operations that can fail: `Ok(v)` returns `v, nil`
/// and `Err(e)` returns `nil, e`. `v` should be a single value.
impl<T: IntoReturn> IntoReturn for Result<T, LuaError> {
    fn push_return(self, cx: &CallCx) -> Result<c_int, CallError> {
        match self {
            Ok(v) => {
                let n = v.push_return(cx)?;
                ensure_room(cx, 1)?;
                // SAFETY: room checked above.
                unsafe { ffi::lua_pushnil(cx.state()) };
                Ok(n + 1)
            }
            Err(e) => {
                ensure_room(cx, 2)?;
                // SAFETY: room checked above.
                unsafe { ffi::lua_pushnil(cx.state()) };
                cx.push_error_value(&e)?;
                Ok(2)
            }
        }
    }
}

/// mlua's own result: `Ok(v)` returns `v`; `Err(e)` is raised (as an error
/// value of kind `INTERNAL`, or the `LuaError` the error carries), so
/// failures of mlua calls inside an export propagate as they would in mlua.
impl<T: IntoReturn> IntoReturn for mlua::Result<T> {
    fn push_return(self, cx: &CallCx) -> Result<c_int, CallError> {
        match self {
            Ok(v) => v.push_return(cx),
            Err(e) => Err(e.into()),
        }
    }
}

/// A `LuaError` returned on its own is a value (an error userdata), not a raise.
impl IntoReturn for LuaError {
    fn push_return(self, cx: &CallCx) -> Result<c_int, CallError> {
        cx.push_error_value(&self)?;
        Ok(1)
    }
}

macro_rules! push_tuple {
    ($($n:ident)+) => {
        impl<$($n: IntoReturn),+> IntoReturn for ($($n,)+) {
            #[allow(non_snake_case)]
            fn push_return(self, cx: &CallCx) -> Result<c_int, CallError> {
                let ($($n,)+) = self;
                let mut total = 0;
                $(
                    ensure_room(cx, 1)?;
                    total += $n.push_return(cx)?;
                )+
                Ok(total)
            }
        }
    };
}
push_tuple!(A);
push_tuple!(A B);
push_tuple!(A B C);
push_tuple!(A B C D);
push_tuple!(A B C D E);
push_tuple!(A B C D E F);
push_tuple!(A B C D E F G);
push_tuple!(A B C D E F G H);

/// Stops pushing a collection once an allocation failure was deferred:
/// the call raises `not enough memory` whatever follows, and each further
/// element would be made past the limit too (inside allocation windows
/// nothing refuses them), leaving the state holding several times its
/// limit until collected.
#[inline(always)]
pub(crate) fn stop_if_refused(cx: &CallCx) -> Result<(), CallError> {
    if cx.has_deferred() {
        return Err(CallError::OutOfMemory);
    }
    Ok(())
}

/// Every element is a separate return value.
impl<T: IntoReturn> IntoReturn for mlua::Variadic<T> {
    fn push_return(self, cx: &CallCx) -> Result<c_int, CallError> {
        let mut total = 0;
        for v in self {
            stop_if_refused(cx)?;
            ensure_room(cx, 1)?;
            total += v.push_return(cx)?;
        }
        Ok(total)
    }
}

/// Names the return type for autoref dispatch in generated code:
/// `(&&&RetTag::of(&v)).__luamod_ret().push(v, cx)` picks [`FastRet`] when
/// the type implements [`IntoReturn`], else [`SlowRet`] when it implements
/// `mlua::IntoLuaMulti`, else [`NoRet`], whose `push` fails to compile with
/// a message naming both traits.
#[doc(hidden)]
pub struct RetTag<T>(PhantomData<fn() -> T>);

impl<T> RetTag<T> {
    #[doc(hidden)]
    #[inline(always)]
    pub fn of(_: &T) -> Self {
        RetTag(PhantomData)
    }
}

/// Marker picked when the return type implements [`IntoReturn`].
#[doc(hidden)]
pub struct Fast;
/// Marker picked when it only implements `mlua::IntoLuaMulti`.
#[doc(hidden)]
pub struct Slow;
/// Marker picked when it implements neither.
#[doc(hidden)]
pub struct Unsupported;

#[doc(hidden)]
pub trait FastRet {
    #[inline(always)]
    fn __luamod_ret(&self) -> Fast {
        Fast
    }
}
impl<T: IntoReturn> FastRet for &&RetTag<T> {}

#[doc(hidden)]
pub trait SlowRet {
    #[inline(always)]
    fn __luamod_ret(&self) -> Slow {
        Slow
    }
}
impl<T: mlua::IntoLuaMulti> SlowRet for &RetTag<T> {}

#[doc(hidden)]
pub trait NoRet {
    #[inline(always)]
    fn __luamod_ret(&self) -> Unsupported {
        Unsupported
    }
}
impl<T> NoRet for RetTag<T> {}

impl Fast {
    #[inline(always)]
    pub fn push<T: IntoReturn>(self, v: T, cx: &CallCx) -> Result<c_int, CallError> {
        v.push_return(cx)
    }
}

impl Slow {
    pub fn push<T: mlua::IntoLuaMulti>(self, v: T, cx: &CallCx) -> Result<c_int, CallError> {
        let values = v.into_lua_multi(cx.lua())?;
        let n = c_int::try_from(values.len())
            .map_err(|_| CallError::Message("too many results".to_owned()))?;
        ensure_room(cx, n)?;
        for v in values {
            cx.push_value(v)?;
        }
        Ok(n)
    }
}

/// Never implemented: names what a return type needs when it has neither.
#[doc(hidden)]
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be returned from a Lua export",
    label = "this return type implements neither `luamod::IntoReturn` nor `mlua::IntoLuaMulti`",
    note = "for a struct returned as a Lua table, add `#[derive(LuaRecord)]` to it; for a Rust object owned by Lua, `#[luamod::userdata]`",
    note = "`Yield<C>` and `Then<C, T>` need a command `C` (`#[derive(Command)]`) whose output implements `luamod::IntoReturn`",
    note = "otherwise implement `luamod::IntoReturn` (or mlua's `IntoLuaMulti`) for `{Self}`"
)]
pub trait IntoReturnOrIntoLuaMulti: sealed::Never {}

mod sealed {
    /// Implemented by nothing, so the trait above cannot be implemented.
    pub trait Never {}
}

impl Unsupported {
    pub fn push<T: IntoReturnOrIntoLuaMulti>(self, _: T, _: &CallCx) -> Result<c_int, CallError> {
        Err(CallError::Message(String::new()))
    }
}
