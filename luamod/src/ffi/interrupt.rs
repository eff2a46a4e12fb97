//! Asking long-running C-level work whether to give up.
//!
//! Code that runs long without returning to Lua (the pattern matcher) can
//! not be interrupted by a hook. It asks [`requested`] now and then
//! instead; the runtime registers, per worker thread, the function that
//! answers (the process must stop, or has run too long where it could not
//! yield). Outside a runtime nothing is registered and the answer is no.

use std::cell::Cell;
use std::time::Instant;

thread_local! {
    static CHECK: Cell<Option<fn() -> bool>> = const { Cell::new(None) };
    static DEADLINE: Cell<Option<Instant>> = const { Cell::new(None) };
}

/// Registers `check` as this thread's answer (or none).
pub(crate) fn register(check: Option<fn() -> bool>) {
    CHECK.with(|c| c.set(check));
}

/// Whether the work running on this thread should give up.
pub(crate) fn requested() -> bool {
    CHECK.with(|c| c.get()).is_some_and(|f| f())
}

/// Until dropped, [`requested`] on this thread answers whether `at` has
/// passed (work done on a host's thread, outside any process: compiling a
/// script). The registration it replaces comes back when it drops.
pub(crate) struct Deadline {
    check: Option<fn() -> bool>,
    at: Option<Instant>,
}

impl Deadline {
    pub(crate) fn set(at: Instant) -> Deadline {
        Deadline {
            check: CHECK.with(|c| c.replace(Some(past_deadline))),
            at: DEADLINE.with(|d| d.replace(Some(at))),
        }
    }
}

impl Drop for Deadline {
    fn drop(&mut self) {
        CHECK.with(|c| c.set(self.check));
        DEADLINE.with(|d| d.set(self.at));
    }
}

fn past_deadline() -> bool {
    DEADLINE
        .with(|d| d.get())
        .is_some_and(|at| Instant::now() >= at)
}
