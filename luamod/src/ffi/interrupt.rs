//! Asking long-running C-level work whether to give up.
//!
//! Code that runs long without returning to Lua (the pattern matcher) can
//! not be interrupted by a hook. It asks [`requested`] now and then
//! instead; the runtime registers, per worker thread, the function that
//! answers (the process must stop, or has run too long where it could not
//! yield). Outside a runtime nothing is registered and the answer is no.

use std::cell::Cell;

thread_local! {
    static CHECK: Cell<Option<fn() -> bool>> = const { Cell::new(None) };
}

/// Registers `check` as this thread's answer (or none).
pub(crate) fn register(check: Option<fn() -> bool>) {
    CHECK.with(|c| c.set(check));
}

/// Whether the work running on this thread should give up.
pub(crate) fn requested() -> bool {
    CHECK.with(|c| c.get()).is_some_and(|f| f())
}
