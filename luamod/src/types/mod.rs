//! Type information for manifests: the [`LuaType`] trait, implemented per
//! Rust type (std, mlua and generated types; any user type may implement
//! it), and the [`TypeRegistry`] that collects the records and userdata
//! interfaces a module's signatures refer to.
//!
//! Generated code asks for a type through [`Tag`]: a type that implements
//! [`LuaType`] is described by it; any other (an mlua `IntoLua` type the
//! export still accepts) is described as `any`, so a signature never fails
//! to compile because of its type description.
//!
//! This layer knows Rust types and the type model, not Lua states.

mod describe;
mod dispatch;

pub use describe::{LuaReturns, LuaType, TypeRegistry, fallible_rows};
#[doc(hidden)]
pub use dispatch::{AnyReturns, AnyType, KnownReturns, KnownType, Tag, parse_returns, parse_type};
pub use luamod_types::{
    Field, FunctionDecl, FunctionType, Param, Type, TypeDef, TypeManifest, luals, luau, markdown,
};
