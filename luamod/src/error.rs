//! Operational errors: [`LuaError`] and its [`ErrorKind`].
//!
//! An export returning `Result<T, LuaError>` hands failures to Lua as values
//! (`nil, err`), following the Lua convention that expected failures are
//! returned, not raised. In Lua an error is a userdata with `:kind()`,
//! `:message()`, `:retryable()`, `:details()`, `:stack()`, `:cause()` and
//! `__tostring`; the global `errors` module (see [`crate::errors_module`])
//! creates and inspects them.

use std::collections::BTreeMap;
use std::fmt;

/// The category of an operational error. In Lua each kind is a string
/// constant of the `errors` module: `errors.NOT_FOUND == "NOT_FOUND"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorKind {
    /// Nothing more specific is known.
    Unknown,
    /// The thing asked for does not exist.
    NotFound,
    /// The thing to create exists already.
    AlreadyExists,
    /// The input is malformed or out of range.
    Invalid,
    /// The actor may not perform this action.
    PermissionDenied,
    /// A dependency cannot be reached right now.
    Unavailable,
    /// A bug or broken invariant (also: a Rust panic in an export).
    Internal,
    /// The operation was cancelled.
    Canceled,
    /// The state changed under the operation.
    Conflict,
    /// The operation ran out of time.
    Timeout,
    /// Too many requests.
    RateLimited,
}

impl ErrorKind {
    /// Every kind, in declaration order.
    pub const ALL: [ErrorKind; 11] = [
        ErrorKind::Unknown,
        ErrorKind::NotFound,
        ErrorKind::AlreadyExists,
        ErrorKind::Invalid,
        ErrorKind::PermissionDenied,
        ErrorKind::Unavailable,
        ErrorKind::Internal,
        ErrorKind::Canceled,
        ErrorKind::Conflict,
        ErrorKind::Timeout,
        ErrorKind::RateLimited,
    ];

    /// The Lua constant: `errors.NOT_FOUND == "NOT_FOUND"`.
    ///
    /// ```
    /// assert_eq!(luamod::ErrorKind::NotFound.as_str(), "NOT_FOUND");
    /// ```
    pub const fn as_str(self) -> &'static str {
        match self {
            ErrorKind::Unknown => "UNKNOWN",
            ErrorKind::NotFound => "NOT_FOUND",
            ErrorKind::AlreadyExists => "ALREADY_EXISTS",
            ErrorKind::Invalid => "INVALID",
            ErrorKind::PermissionDenied => "PERMISSION_DENIED",
            ErrorKind::Unavailable => "UNAVAILABLE",
            ErrorKind::Internal => "INTERNAL",
            ErrorKind::Canceled => "CANCELED",
            ErrorKind::Conflict => "CONFLICT",
            ErrorKind::Timeout => "TIMEOUT",
            ErrorKind::RateLimited => "RATE_LIMITED",
        }
    }

    /// The kind named by a Lua constant, if any.
    ///
    /// ```
    /// use luamod::ErrorKind;
    /// assert_eq!(ErrorKind::parse("TIMEOUT"), Some(ErrorKind::Timeout));
    /// assert_eq!(ErrorKind::parse("timeout"), None);
    /// ```
    pub fn parse(s: &str) -> Option<ErrorKind> {
        ErrorKind::ALL.into_iter().find(|k| k.as_str() == s)
    }
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A value in an error's `details` map.
#[derive(Debug, Clone, PartialEq)]
pub enum Detail {
    /// A boolean.
    Bool(bool),
    /// An integer.
    Integer(i64),
    /// A float.
    Number(f64),
    /// A string.
    String(String),
}

impl From<&str> for Detail {
    fn from(s: &str) -> Self {
        Detail::String(s.to_owned())
    }
}
impl From<String> for Detail {
    fn from(s: String) -> Self {
        Detail::String(s)
    }
}
impl From<i64> for Detail {
    fn from(v: i64) -> Self {
        Detail::Integer(v)
    }
}
impl From<f64> for Detail {
    fn from(v: f64) -> Self {
        Detail::Number(v)
    }
}
impl From<bool> for Detail {
    fn from(v: bool) -> Self {
        Detail::Bool(v)
    }
}

/// An operational error handed to Lua as a value.
///
/// ```
/// use luamod::{ErrorKind, LuaError};
/// let e = LuaError::new(ErrorKind::NotFound, "no such key")
///     .with_retryable(false)
///     .with_detail("key", "port");
/// assert_eq!(e.kind(), ErrorKind::NotFound);
/// assert_eq!(e.to_string(), "no such key");
/// ```
#[derive(Debug, Clone)]
pub struct LuaError {
    pub(crate) kind: ErrorKind,
    pub(crate) message: String,
    pub(crate) retryable: Option<bool>,
    pub(crate) details: BTreeMap<String, Detail>,
    pub(crate) cause: Option<Box<LuaError>>,
    pub(crate) stack: Option<String>,
}

impl LuaError {
    /// A new error of `kind`; retryable unknown, no details, no cause.
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        LuaError {
            kind,
            message: message.into(),
            retryable: None,
            details: BTreeMap::new(),
            cause: None,
            stack: None,
        }
    }

    /// Sets whether retrying may succeed (`nil` in Lua when never set).
    pub fn with_retryable(mut self, retryable: bool) -> Self {
        self.retryable = Some(retryable);
        self
    }

    /// Adds a detail entry.
    pub fn with_detail(mut self, key: impl Into<String>, value: impl Into<Detail>) -> Self {
        self.details.insert(key.into(), value.into());
        self
    }

    /// Sets the underlying error.
    pub fn with_cause(mut self, cause: LuaError) -> Self {
        self.cause = Some(Box::new(cause));
        self
    }

    /// Wraps `self` with context: the message becomes `"{context}: {message}"`,
    /// kind and retryable are kept, and `self` becomes the cause.
    ///
    /// ```
    /// use luamod::{ErrorKind, LuaError};
    /// let e = LuaError::new(ErrorKind::Timeout, "no reply").with_retryable(true);
    /// let w = e.wrap("fetching config");
    /// assert_eq!(w.message(), "fetching config: no reply");
    /// assert_eq!((w.kind(), w.retryable()), (ErrorKind::Timeout, Some(true)));
    /// ```
    pub fn wrap(self, context: impl fmt::Display) -> Self {
        LuaError {
            kind: self.kind,
            message: format!("{context}: {}", self.message),
            retryable: self.retryable,
            details: BTreeMap::new(),
            stack: None,
            cause: Some(Box::new(self)),
        }
    }

    /// The kind.
    pub fn kind(&self) -> ErrorKind {
        self.kind
    }
    /// The message.
    pub fn message(&self) -> &str {
        &self.message
    }
    /// Whether retrying may succeed, if known.
    pub fn retryable(&self) -> Option<bool> {
        self.retryable
    }
    /// The details map.
    pub fn details(&self) -> &BTreeMap<String, Detail> {
        &self.details
    }
    /// The wrapped error, if any.
    pub fn cause(&self) -> Option<&LuaError> {
        self.cause.as_deref()
    }
    /// The Lua traceback where the error was handed to Lua, if captured.
    pub fn stack(&self) -> Option<&str> {
        self.stack.as_deref()
    }

    /// Whether this error or any error in its cause chain has `kind`.
    pub fn is(&self, kind: ErrorKind) -> bool {
        let mut e = Some(self);
        while let Some(cur) = e {
            if cur.kind == kind {
                return true;
            }
            e = cur.cause.as_deref();
        }
        false
    }

    /// An `Internal` error carrying an mlua failure's text.
    pub(crate) fn from_mlua(e: mlua::Error) -> Self {
        match e {
            mlua::Error::ExternalError(ref inner) => match inner.downcast_ref::<LuaError>() {
                Some(le) => le.clone(),
                None => LuaError::new(ErrorKind::Internal, e.to_string()),
            },
            other => LuaError::new(ErrorKind::Internal, other.to_string()),
        }
    }
}

/// Splits a Lua error message that mlua has suffixed with a traceback into
/// `(message, Some("stack traceback:\n..."))`.
pub(crate) fn split_traceback(msg: &str) -> (&str, Option<&str>) {
    const MARK: &str = "\nstack traceback:\n";
    match msg.find(MARK) {
        Some(i) => (&msg[..i], Some(&msg[i + 1..])),
        None => (msg, None),
    }
}

impl fmt::Display for LuaError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for LuaError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.cause
            .as_deref()
            .map(|c| c as &(dyn std::error::Error + 'static))
    }
}
