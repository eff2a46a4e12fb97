//! The luamod type model and the writers that turn it into editor stubs.
//!
//! A [`TypeManifest`] describes one Lua module: its functions with their
//! signatures, the userdata interfaces and records it defines, its classes
//! and doc comments. The macros produce it from Rust signatures; the writers
//! render it as LuaLS `---@meta` stubs ([`luals`]), Luau definitions
//! ([`luau`]), JSON (serde) and Markdown ([`markdown`]).
//!
//! This crate knows no Lua VM, so a documentation site or a language server
//! can use it on its own.
//!
//! ```
//! use luamod_types::Type;
//! let t = Type::parse("table<string, integer>|nil").unwrap();
//! assert_eq!(t.to_string(), "table<string, integer>|nil");
//! ```

mod manifest;
mod names;
mod parse;
mod syntax;
mod ty;

pub mod luals;
pub mod luau;
pub mod markdown;

pub use manifest::{FunctionDecl, Permission, TypeDef, TypeManifest};
pub use parse::ParseError;
pub use ty::{Field, FunctionType, Param, Type};
