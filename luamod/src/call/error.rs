//! How the parts of an export call report failure: [`ArgError`] for a bad
//! argument, [`CallError`] for everything else.

use std::ffi::c_int;

use crate::error::{ErrorKind, Failure, LuaError, MEMORY_MESSAGE};

/// What went wrong while reading an argument. Formatted into Lua's own
/// `bad argument #N to 'f' (...)` wording by the call.
#[derive(Debug)]
pub enum ArgError {
    /// Wrong type: `{expected} expected, got {actual type name}`.
    Type {
        /// 1-based stack index of the argument.
        idx: c_int,
        /// What the parameter accepts (`string`, `number`, `mod.Type`).
        expected: &'static str,
    },
    /// Any other message, rendered inside the parentheses.
    Message {
        /// 1-based stack index of the argument.
        idx: c_int,
        /// The text in parentheses.
        msg: String,
    },
    /// Reading needed memory the state could not give (converting a
    /// number to a string under a memory limit): raised as Lua's
    /// `not enough memory`.
    OutOfMemory,
}

impl ArgError {
    /// A message error for argument `idx`.
    pub fn msg(idx: c_int, msg: impl Into<String>) -> Self {
        ArgError::Message {
            idx,
            msg: msg.into(),
        }
    }
}

/// Why a generated body did not produce its results.
#[derive(Debug)]
pub enum CallError {
    /// A bad argument: raised as a Lua string error, exactly like `luaL_argerror`.
    Arg(ArgError),
    /// Anything else (a conversion failure, a Lua error from a callback):
    /// raised as a luamod error value.
    Raise(LuaError),
    /// Raised as a plain string with the caller's position, like
    /// `luaL_error`.
    Message(String),
    /// Not raised: returned to Lua as `nil, err` (a refused permission).
    Return(LuaError),
    /// A Lua error raised by Lua code the export called (through mlua),
    /// raised again unchanged.
    Rethrow(String),
    /// An allocation failed (caught by a guarded call): raised as Lua's
    /// own `not enough memory` once the call's values are dropped.
    OutOfMemory,
}

impl CallError {
    /// This failure, met while reading argument `idx`, as an argument error.
    pub(crate) fn into_arg(self, idx: c_int) -> ArgError {
        match self {
            CallError::OutOfMemory | CallError::Arg(ArgError::OutOfMemory) => ArgError::OutOfMemory,
            CallError::Arg(a) => a,
            CallError::Message(m) | CallError::Rethrow(m) => ArgError::msg(idx, m),
            CallError::Raise(e) | CallError::Return(e) => {
                ArgError::msg(idx, e.message().to_owned())
            }
        }
    }
}

impl From<ArgError> for CallError {
    fn from(e: ArgError) -> Self {
        match e {
            ArgError::OutOfMemory => CallError::OutOfMemory,
            e => CallError::Arg(e),
        }
    }
}

impl From<mlua::Error> for CallError {
    /// A Lua error from a callback is raised again as the same message
    /// (without the traceback mlua appends); a `LuaError` carried by mlua is
    /// raised as that error value; a memory error as Lua's own; anything
    /// else as an `INTERNAL` error.
    fn from(e: mlua::Error) -> Self {
        match Failure::of(&e) {
            Failure::Value(v) => CallError::Raise(v),
            Failure::Memory => CallError::Rethrow(MEMORY_MESSAGE.to_owned()),
            Failure::Lua { message, .. } => CallError::Rethrow(message),
            Failure::Other { message, .. } => {
                CallError::Raise(LuaError::new(ErrorKind::Internal, message))
            }
        }
    }
}
