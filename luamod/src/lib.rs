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
//! raised without skipping Rust destructors, and `docs/architecture.md` in
//! the repository for how the layers fit together.
//!
//! The crate is layered; each layer uses only the ones before it:
//! `ffi` → `error` → `types` → `readonly` → [`security`] → [`command`] →
//! [`call`] → `convert` → `userdata` → `module` → [`sandbox`] → `suspend`
//! → [`runtime`] → [`testing`] → `temporal` (feature `temporal`).

// The runtime is Lua 5.4's (continuations, and closing coroutines with
// their to-be-closed variables); elsewhere the helpers the lower layers keep
// for it go unused.
#![cfg_attr(not(feature = "lua54"), allow(dead_code, unused_imports))]

// Lets luamod use its own macros, whose output names `::luamod::__private`.
extern crate self as luamod;

pub mod call;
pub mod command;
mod convert;
mod error;
mod ffi;
mod module;
mod readonly;
#[cfg(feature = "lua54")]
pub mod runtime;
#[cfg(feature = "lua54")]
pub mod sandbox;
pub mod security;
mod suspend;
#[cfg(feature = "temporal")]
pub mod temporal;
#[cfg(feature = "lua54")]
pub mod testing;
pub mod types;
mod userdata;

#[doc(hidden)]
pub mod __private;

pub use call::{ArgError, CallCx, FunctionDef};
pub use command::{Command, CommandId, Pid};
pub use convert::{Bytes, FromArg, Frozen, IntoReturn, freeze};
pub use error::{Detail, Error, ErrorKind, LuaError};
pub use ffi::alloc::MemoryControl;
pub use ffi::external::{ExternalMemory, MemoryRefused};
pub use luamod_macros::{Command, LuaRecord, constant, function, methods, module, userdata};
pub use mlua;
pub use module::errors::ErrorValue;
pub use module::{ModuleDef, install_base, lua_with, stubs};
#[cfg(feature = "lua54")]
pub use runtime::{Runtime, SpawnOptions};
#[cfg(feature = "lua54")]
pub use sandbox::Sandbox;
pub use security::current::set as set_context;
pub use security::{Actor, Class, Context, ContextKind, Policy, Scope};
pub use suspend::{Invoke, Invoked, Then, Yield};
pub use types::{LuaReturns, LuaType, TypeRegistry};
pub use userdata::{LuaClass, LuaMethods};

/// Whether the process running the current export should give up now: it
/// was cancelled, is past its deadline, the runtime is shutting down, or
/// it has run past the unyielding limit where it could not yield. The
/// runtime cannot interrupt an export's own Rust code, so an export that
/// loops over something a script sizes asks this now and then and returns
/// an error when it says yes; the process then stops at its next
/// instruction. Outside a runtime it is always `false`.
///
/// ```
/// assert!(!luamod::stop_requested());
/// ```
pub fn stop_requested() -> bool {
    ffi::interrupt::requested()
}

/// Every name an author or host needs.
pub mod prelude {
    #[cfg(feature = "lua54")]
    pub use crate::Runtime;
    pub use crate::{
        Actor, Bytes, Class, Command, Context, ContextKind, ErrorKind, FromArg, IntoReturn,
        LuaError, LuaRecord, ModuleDef, Policy, Then, Yield, lua_with,
    };
    pub use mlua::{Function, Lua, Table, Value, Variadic};
}
