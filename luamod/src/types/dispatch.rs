//! Autoref dispatch for type descriptions in generated code, and parsing
//! of the `type = "..."` / `returns = "..."` overrides.

use std::marker::PhantomData;

use luamod_types::Type;

use super::describe::{LuaReturns, LuaType, TypeRegistry};

/// Names a type for autoref dispatch in generated code.
#[doc(hidden)]
pub struct Tag<T: ?Sized>(PhantomData<fn() -> *const T>);

impl<T: ?Sized> Tag<T> {
    #[doc(hidden)]
    pub const fn new() -> Self {
        Tag(PhantomData)
    }
}

impl<T: ?Sized> Default for Tag<T> {
    fn default() -> Self {
        Self::new()
    }
}

/// Picked when `T: LuaType`.
#[doc(hidden)]
pub trait KnownType {
    fn __lua_type(&self, reg: &mut TypeRegistry) -> Type;
}
impl<T: LuaType + ?Sized> KnownType for Tag<T> {
    fn __lua_type(&self, reg: &mut TypeRegistry) -> Type {
        T::lua_type(reg)
    }
}

/// Picked otherwise: `any`.
#[doc(hidden)]
pub trait AnyType {
    fn __lua_type(&self, _: &mut TypeRegistry) -> Type {
        Type::Any
    }
}
impl<T: ?Sized> AnyType for &Tag<T> {}

/// Picked when `T: LuaReturns`.
#[doc(hidden)]
pub trait KnownReturns {
    fn __lua_returns(&self, reg: &mut TypeRegistry) -> (Vec<Type>, Option<Type>);
    fn __lua_return_rows(&self, reg: &mut TypeRegistry) -> Vec<Vec<Type>>;
}
impl<T: LuaReturns> KnownReturns for Tag<T> {
    fn __lua_returns(&self, reg: &mut TypeRegistry) -> (Vec<Type>, Option<Type>) {
        T::lua_returns(reg)
    }
    fn __lua_return_rows(&self, reg: &mut TypeRegistry) -> Vec<Vec<Type>> {
        T::lua_return_rows(reg)
    }
}

/// Picked otherwise: any number of `any`.
#[doc(hidden)]
pub trait AnyReturns {
    fn __lua_returns(&self, _: &mut TypeRegistry) -> (Vec<Type>, Option<Type>) {
        (Vec::new(), Some(Type::Any))
    }
    fn __lua_return_rows(&self, _: &mut TypeRegistry) -> Vec<Vec<Type>> {
        Vec::new()
    }
}
impl<T> AnyReturns for &Tag<T> {}

/// Parses a type written in `#[lua(type = "...")]` (checked by the macro at
/// compile time, so the fallback is unreachable in generated code).
#[doc(hidden)]
pub fn parse_type(s: &str) -> Type {
    Type::parse(s).unwrap_or(Type::Any)
}

/// Parses `returns = "A, B"`.
#[doc(hidden)]
pub fn parse_returns(s: &str) -> Vec<Type> {
    split_top_level(s).into_iter().map(parse_type).collect()
}

/// Splits at commas outside brackets.
fn split_top_level(s: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let (mut depth, mut start) = (0i32, 0);
    for (i, c) in s.char_indices() {
        match c {
            '(' | '<' | '{' | '[' => depth += 1,
            ')' | '>' | '}' | ']' => depth -= 1,
            ',' if depth == 0 => {
                out.push(s[start..i].trim());
                start = i + 1;
            }
            _ => {}
        }
    }
    out.push(s[start..].trim());
    out.retain(|p| !p.is_empty());
    out
}
