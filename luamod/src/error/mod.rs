//! Errors: the operational error Lua sees ([`LuaError`] of an
//! [`ErrorKind`]), the error a host sees ([`Error`]), and the one place
//! that reads an `mlua::Error` ([`Failure::of`]).
//!
//! This layer knows no Lua state: how an error value looks in Lua is the
//! `errors` module's business (`module::errors`).

mod host;
mod kind;
mod mlua_error;
mod value;

pub use host::Error;
pub use kind::ErrorKind;
pub(crate) use mlua_error::{Failure, MEMORY_MESSAGE};
pub use value::{Detail, LuaError};
