//! [`Error`]: what a host sees when a Lua process or a runtime call fails.

use std::fmt;

use super::kind::ErrorKind;
use super::mlua_error::{Failure, MEMORY_MESSAGE};
use super::value::LuaError;

/// A host-side error: a Lua error message with its traceback, or a
/// runtime failure. `Display` prints the message, then the traceback.
#[derive(Debug, Clone)]
pub struct Error {
    message: String,
    traceback: Option<String>,
    kind: Option<ErrorKind>,
}

impl Error {
    /// A runtime error with no Lua origin.
    pub fn new(message: impl Into<String>) -> Self {
        Error {
            message: message.into(),
            traceback: None,
            kind: None,
        }
    }

    /// The Lua message (without the traceback).
    pub fn message(&self) -> &str {
        &self.message
    }

    /// The Lua traceback, if there was one.
    pub fn traceback(&self) -> Option<&str> {
        self.traceback.as_deref()
    }

    /// The kind, for luamod errors (`Canceled` for a cancelled process,
    /// `Timeout` past its deadline, or a `LuaError` raised by Lua code).
    pub fn kind(&self) -> Option<ErrorKind> {
        self.kind
    }

    /// The host view of an operational error.
    pub fn from_lua_error(e: LuaError) -> Self {
        Error {
            message: e.message().to_owned(),
            traceback: e.stack().map(str::to_owned),
            kind: Some(e.kind()),
        }
    }
}

impl From<LuaError> for Error {
    fn from(e: LuaError) -> Self {
        Error::from_lua_error(e)
    }
}

impl From<mlua::Error> for Error {
    fn from(e: mlua::Error) -> Self {
        match Failure::of(&e) {
            Failure::Value(v) => Error::from_lua_error(v),
            Failure::Memory => Error {
                message: MEMORY_MESSAGE.to_owned(),
                traceback: None,
                kind: Some(ErrorKind::ResourceExhausted),
            },
            Failure::Lua { message, traceback } | Failure::Other { message, traceback } => Error {
                message,
                traceback,
                kind: None,
            },
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)?;
        if let Some(tb) = &self.traceback {
            write!(f, "\n{tb}")?;
        }
        Ok(())
    }
}

impl std::error::Error for Error {}
