//! [`LuaError`]: an operational error handed to Lua as a value.
//!
//! An export returning `Result<T, LuaError>` hands failures to Lua as values
//! (`nil, err`), following the Lua convention that expected failures are
//! returned, not raised. Its Lua face (the `errors.Error` userdata and the
//! global `errors` module) is defined in `module::errors`.

use std::collections::BTreeMap;
use std::fmt;

use super::kind::ErrorKind;

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

    /// How many causes a chain keeps: a script that wraps an error in a
    /// loop must not grow Rust memory (or the recursion that clones and
    /// drops the chain) without bound. Older causes are dropped.
    pub const MAX_CAUSES: usize = 8;

    /// The longest message `wrap` builds (1 KiB); longer ones are cut
    /// there and end with `…` (three bytes more).
    pub const MAX_WRAPPED_MESSAGE: usize = 1 << 10;

    /// Sets the underlying error (keeping at most
    /// [`MAX_CAUSES`](Self::MAX_CAUSES) causes).
    pub fn with_cause(mut self, cause: LuaError) -> Self {
        self.cause = Some(Box::new(cause));
        self.limit_causes();
        self
    }

    /// Drops the causes past [`MAX_CAUSES`](Self::MAX_CAUSES), iteratively.
    fn limit_causes(&mut self) {
        let mut cur = &mut self.cause;
        for _ in 0..Self::MAX_CAUSES {
            match cur {
                Some(e) => cur = &mut e.cause,
                None => return,
            }
        }
        let mut rest = cur.take();
        while let Some(mut e) = rest {
            rest = e.cause.take();
        }
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
        // Written into a capped buffer, not formatted whole and then cut:
        // a script's message of many megabytes would otherwise be copied
        // in full, and the cut string keep that capacity.
        let mut capped = Capped {
            buf: String::new(),
            cap: Self::MAX_WRAPPED_MESSAGE,
            over: false,
        };
        let _ = fmt::write(&mut capped, format_args!("{context}: {}", self.message));
        let mut message = capped.buf;
        if capped.over {
            message.push('…');
        }
        let mut e = LuaError {
            kind: self.kind,
            message,
            retryable: self.retryable,
            details: BTreeMap::new(),
            stack: None,
            cause: Some(Box::new(self)),
        };
        e.limit_causes();
        e
    }

    /// Bytes this error holds on the heap: its strings, details and
    /// causes. Error values are userdata whose Lua size includes it, so
    /// that the memory limit sees what a script keeps through them.
    pub(crate) fn heap_size(&self) -> usize {
        /// A details map's leaf node (eleven keys and values and a
        /// header), allocated with its first entry.
        const DETAILS_NODE: usize = 11 * (24 + 32) + 64;
        /// Each entry's share of the nodes past the first.
        const DETAIL_ENTRY: usize = 64;
        let mut n = 0usize;
        let mut cur = Some(self);
        while let Some(e) = cur {
            n = n
                .saturating_add(e.message.capacity())
                .saturating_add(e.stack.as_ref().map_or(0, String::capacity));
            if !e.details.is_empty() {
                n = n.saturating_add(DETAILS_NODE);
            }
            for (k, v) in &e.details {
                let value = match v {
                    Detail::String(s) => s.capacity(),
                    _ => 0,
                };
                n = n.saturating_add(DETAIL_ENTRY + k.capacity() + value);
            }
            cur = e.cause.as_deref();
            if cur.is_some() {
                n = n.saturating_add(std::mem::size_of::<LuaError>());
            }
        }
        n
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
}

impl fmt::Display for LuaError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

/// A `fmt::Write` that keeps the first `cap` bytes (whole characters) and
/// stops the formatting past them.
struct Capped {
    buf: String,
    cap: usize,
    over: bool,
}

impl fmt::Write for Capped {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        let room = self.cap - self.buf.len();
        if s.len() <= room {
            self.buf.push_str(s);
            return Ok(());
        }
        let mut cut = room;
        while !s.is_char_boundary(cut) {
            cut -= 1;
        }
        self.buf.push_str(&s[..cut]);
        self.over = true;
        Err(fmt::Error)
    }
}

impl std::error::Error for LuaError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.cause
            .as_deref()
            .map(|c| c as &(dyn std::error::Error + 'static))
    }
}

impl From<crate::ffi::external::MemoryRefused> for LuaError {
    /// `RESOURCE_EXHAUSTED`, with the refusal's words.
    fn from(e: crate::ffi::external::MemoryRefused) -> LuaError {
        LuaError::new(ErrorKind::ResourceExhausted, e.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MAX: usize = LuaError::MAX_WRAPPED_MESSAGE;

    #[test]
    fn wrap_cuts_a_long_message_at_a_character_and_keeps_no_more() {
        let w = LuaError::new(ErrorKind::Unknown, "é".repeat(1 << 20)).wrap("ctx");
        let m = w.message();
        assert!(m.starts_with("ctx: é") && m.ends_with('…'), "{m}");
        assert!(m.len() <= MAX + '…'.len_utf8(), "{}", m.len());
        // The megabyte was not copied into the new message.
        assert!(w.message.capacity() <= 2 * MAX, "{}", w.message.capacity());
        // A message that fits exactly is kept whole.
        let fit = LuaError::new(ErrorKind::Unknown, "x".repeat(MAX - "ctx: ".len())).wrap("ctx");
        assert_eq!(fit.message().len(), MAX);
        assert!(!fit.message().ends_with('…'));
    }

    #[test]
    fn heap_size_counts_messages_details_stacks_and_causes() {
        let mut e =
            LuaError::new(ErrorKind::Unknown, "x".repeat(1000)).with_detail("k", "v".repeat(500));
        e.stack = Some("s".repeat(300));
        let alone = e.heap_size();
        assert!(alone >= 1000 + 500 + 300, "{alone}");
        let w = e.wrap("ctx");
        assert!(
            w.heap_size() >= alone + w.message().len(),
            "{}",
            w.heap_size()
        );
    }
}
