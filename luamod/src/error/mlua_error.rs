//! The one reading of an `mlua::Error`: what it means for luamod.

use super::value::LuaError;

/// What an `mlua::Error` carries, as luamod needs it.
#[derive(Debug, Clone)]
pub(crate) enum Failure {
    /// A luamod error value travelled through mlua (returned by an mlua
    /// callback as `mlua::Error::external(LuaError)`).
    Value(LuaError),
    /// Lua's own out-of-memory error.
    Memory,
    /// An error raised by Lua code: its message, and mlua's traceback.
    Lua {
        /// The message, without the traceback mlua appends.
        message: String,
        /// `stack traceback:\n...`, if there was one.
        traceback: Option<String>,
    },
    /// Anything else mlua reports (a failed conversion, a stack overflow).
    Other {
        /// mlua's description.
        message: String,
        /// The traceback of the callback it happened in, if any.
        traceback: Option<String>,
    },
}

impl Failure {
    /// Reads `e`, looking through mlua's callback wrappers.
    pub(crate) fn of(e: &mlua::Error) -> Failure {
        match e {
            mlua::Error::CallbackError { traceback, cause } => match Failure::of(cause) {
                Failure::Lua {
                    message,
                    traceback: None,
                } => Failure::Lua {
                    message,
                    traceback: Some(traceback.clone()),
                },
                Failure::Other {
                    message,
                    traceback: None,
                } => Failure::Other {
                    message,
                    traceback: Some(traceback.clone()),
                },
                other => other,
            },
            mlua::Error::ExternalError(inner) => match inner.downcast_ref::<LuaError>() {
                Some(le) => Failure::Value(le.clone()),
                None => Failure::Other {
                    message: e.to_string(),
                    traceback: None,
                },
            },
            mlua::Error::MemoryError(_) => Failure::Memory,
            mlua::Error::RuntimeError(msg) | mlua::Error::SyntaxError { message: msg, .. } => {
                let (message, traceback) = split_traceback(msg);
                // An export that ran out of memory raises Lua's own message
                // as a plain error (from a frame that owns nothing).
                if message == MEMORY_MESSAGE {
                    return Failure::Memory;
                }
                Failure::Lua {
                    message: message.to_owned(),
                    traceback: traceback.map(str::to_owned),
                }
            }
            other => Failure::Other {
                message: other.to_string(),
                traceback: None,
            },
        }
    }
}

/// Lua's message for a failed allocation.
pub(crate) const MEMORY_MESSAGE: &str = "not enough memory";

/// Splits a Lua error message that mlua has suffixed with a traceback into
/// `(message, Some("stack traceback:\n..."))`.
fn split_traceback(msg: &str) -> (&str, Option<&str>) {
    const MARK: &str = "\nstack traceback:\n";
    match msg.find(MARK) {
        Some(i) => (&msg[..i], Some(&msg[i + 1..])),
        None => (msg, None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn callback_errors_keep_their_cause_and_traceback() {
        let lua = mlua::Lua::new();
        let f = lua
            .create_function(|_, ()| -> mlua::Result<()> {
                Err(mlua::Error::external(LuaError::new(
                    super::super::kind::ErrorKind::NotFound,
                    "gone",
                )))
            })
            .unwrap();
        let e = f.call::<()>(()).unwrap_err();
        match Failure::of(&e) {
            Failure::Value(v) => assert_eq!(v.message(), "gone"),
            other => panic!("{other:?}"),
        }
        let e = lua.load("error('boom')").exec().unwrap_err();
        match Failure::of(&e) {
            Failure::Lua { message, traceback } => {
                assert!(message.ends_with("boom"), "{message}");
                assert!(traceback.is_some_and(|t| t.starts_with("stack traceback:")));
            }
            other => panic!("{other:?}"),
        }
    }
}
