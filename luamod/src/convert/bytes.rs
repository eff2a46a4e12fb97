//! [`Bytes`]: owned bytes that cross to and from Lua as a string.
//! (`Vec<u8>` is a sequence of integers, like every `Vec<T>`.)

use std::ffi::c_int;

use super::arg::{FromArg, Prepared};
use super::ret::IntoReturn;
use crate::call::{ArgError, CallCx, CallError};
use crate::types::{LuaType, TypeRegistry};
use luamod_types::Type;

/// Owned bytes, a Lua string on the Lua side.
///
/// ```
/// let b = luamod::Bytes::from("hi");
/// assert_eq!(b.as_ref(), b"hi");
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Bytes(pub Vec<u8>);

impl From<Vec<u8>> for Bytes {
    fn from(v: Vec<u8>) -> Self {
        Bytes(v)
    }
}

impl From<&str> for Bytes {
    fn from(s: &str) -> Self {
        Bytes(s.as_bytes().to_vec())
    }
}

impl AsRef<[u8]> for Bytes {
    fn as_ref(&self) -> &[u8] {
        &self.0
    }
}

impl<'a> FromArg<'a> for Bytes {
    fn from_arg(cx: &'a CallCx, idx: c_int) -> Result<Self, ArgError> {
        owned(cx, idx, <&[u8]>::from_arg(cx, idx)?)
    }

    const PREPARES: bool = true;

    unsafe fn from_prepared(cx: &'a CallCx, idx: c_int, pre: Prepared) -> Result<Self, ArgError> {
        // SAFETY: forwarded.
        owned(cx, idx, unsafe { <&[u8]>::from_prepared(cx, idx, pre) }?)
    }
}

fn owned(cx: &CallCx, idx: c_int, b: &[u8]) -> Result<Bytes, ArgError> {
    cx.charge_copy(idx, CallCx::block_cost(b.len()))?;
    Ok(Bytes(b.to_vec()))
}

impl IntoReturn for Bytes {
    fn push_return(self, cx: &CallCx) -> Result<c_int, CallError> {
        self.0.as_slice().push_return(cx)
    }
}

impl LuaType for Bytes {
    fn lua_type(_: &mut TypeRegistry) -> Type {
        Type::String
    }
}
