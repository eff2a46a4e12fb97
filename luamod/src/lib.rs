//! luamod: write Lua modules in Rust with attribute macros, on top of mlua.
//!
//! ```
//! use luamod::prelude::*;
//!
//! /// Greeting utilities.
//! #[luamod::module(name = "greet", class(deterministic, encoding))]
//! pub mod greet {
//!     /// Greets `name`.
//!     #[luamod::function]
//!     pub fn greet(name: &str, #[lua(default = "Hello")] greeting: &str) -> String {
//!         format!("{greeting}, {name}!")
//!     }
//! }
//!
//! let lua = luamod::lua_with(&[&greet::MODULE])?;
//! let s: String = lua.load("return require('greet').greet('Ann')").eval()?;
//! assert_eq!(s, "Hello, Ann!");
//! # Ok::<(), mlua::Error>(())
//! ```
//!
//! Exports are raw Lua C functions: arguments are read straight off the Lua
//! stack with the checks and wording of Lua's own `luaL_check*` functions,
//! and results are pushed straight back. See [`call`] for how errors are
//! raised without skipping Rust destructors.

pub mod arg;
mod bridge;
mod bytes;
pub mod call;
mod collections;
mod def;
mod error;
mod errors_module;
pub mod invoke;
mod readonly;
pub mod ret;
pub mod runtime;
pub mod security;
pub mod stubs;
pub mod testing;
pub mod types;
pub mod userdata;

pub use arg::FromArg;
pub use bytes::Bytes;
pub use call::{ArgError, CallCx};
pub use def::{Class, FunctionDef, ModuleDef, install_base, lua_with, set_context};
pub use error::{Detail, ErrorKind, LuaError};
pub use invoke::{Invoke, Invoked};
pub use luamod_macros::{Command, LuaRecord, constant, function, methods, module, userdata};
pub use mlua;
pub use ret::IntoReturn;
pub use runtime::{Command, CommandId, Error, Pid, Runtime, SpawnOptions, Then, Yield};
pub use security::{Actor, Context, ContextKind, Policy, Scope};
pub use types::{LuaReturns, LuaType, TypeRegistry};

/// Every name an author or host needs.
pub mod prelude {
    pub use crate::{
        Actor, Bytes, Class, Command, Context, ContextKind, ErrorKind, FromArg, IntoReturn,
        LuaError, LuaRecord, ModuleDef, Policy, Runtime, Then, Yield, lua_with,
    };
    pub use mlua::{Function, Lua, Table, Value, Variadic};
}

/// Paths used by generated code. Not a stable API.
#[doc(hidden)]
pub mod __private {
    pub use crate::arg::arg;
    pub use crate::call::{ArgError, CallCx, CallError, ExportInfo, ExportKind, call};
    pub use crate::collections::{expect_table, field, field_is_nil, new_table, set_field};
    pub use crate::def::{Class, FunctionDef, ModuleDef};
    pub use crate::ret::{FastRet, SlowRet};
    pub use crate::runtime::command::{Command, CommandDef, CommandId, Then, Yield};
    pub use crate::runtime::dispatch::{ErasedHandler, HandlerCx, handler_fn};
    pub use crate::security::Context;
    pub use crate::types::{
        AnyReturns, AnyType, KnownReturns, KnownType, Tag, parse_returns, parse_type,
    };
    pub use crate::userdata::{
        ClassDef, LuaClass, LuaMethods, MethodsDef, gc, push as ud_push, ud_mut, ud_ref,
    };
    pub use crate::{FromArg, IntoReturn, LuaType, TypeRegistry};
    pub use core::clone::Clone;
    pub use core::default::Default;
    pub use core::ffi::c_int;
    pub use core::option::Option::{self, None, Some};
    pub use core::result::Result::{self, Err, Ok};
    pub use luamod_types::{Field, FunctionType, Param, Type};
    pub use mlua::ffi::lua_State;
    pub use mlua::{Lua, Variadic};
    pub use std::string::String;
    pub use std::sync::Arc;
    pub use std::vec::Vec;

    /// The context of the running call: the runtime process's, else the
    /// plain state's (`Lua::set_app_data(Context)`), else none (denies all).
    pub fn context(cx: &CallCx) -> &Context {
        cx.context()
    }

    /// Runs a `permission = "..."` check; refused → `nil, err`.
    pub fn check_permission(
        cx: &CallCx,
        action: &str,
        resource: &dyn ::core::fmt::Display,
    ) -> Result<(), CallError> {
        match cx.context().check(action, resource) {
            Ok(()) => Ok(()),
            Err(e) => Err(CallError::Return(e)),
        }
    }

    /// Converts a `#[lua(default = ...)]` expression to the parameter type.
    #[inline(always)]
    pub fn default_into<T, D: Into<T>>(d: D) -> T {
        d.into()
    }
}
