//! [`ErrorKind`]: the category of an operational error.

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
    /// A limit was reached: memory, a size cap, a result too large.
    /// Retrying the same thing does not help.
    ResourceExhausted,
}

impl ErrorKind {
    /// Every kind, in declaration order.
    pub const ALL: [ErrorKind; 12] = [
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
        ErrorKind::ResourceExhausted,
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
            ErrorKind::ResourceExhausted => "RESOURCE_EXHAUSTED",
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
