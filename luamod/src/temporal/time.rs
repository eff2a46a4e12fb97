//! `workflow`, the Lua module of workflow time: sleeping on a Temporal
//! timer and reading the workflow's clock. Its commands are the runtime's
//! own clock commands, so the same script runs in a plain `Workflow`
//! runtime (on the runtime's clock) and on Temporal (on workflow time).

/// Workflow time: durable timers and the workflow's clock. A workflow
/// binds this instead of `time`, whose class (`time`) a workflow may not
/// bind: here every reading comes from the workflow's history.
#[luamod::module(name = "workflow", class(workflow))]
pub mod workflow {
    use crate::runtime::clock::{Now, Sleep, SleepUntil};
    use crate::suspend::Yield;

    /// Suspends the workflow for `ms` milliseconds: a durable timer on
    /// Temporal, which survives a crash of every worker.
    #[luamod::function]
    pub fn sleep(ms: u64) -> Yield<Sleep> {
        Yield(Sleep { ms })
    }

    /// Suspends the workflow until its clock reads `at` (milliseconds since
    /// the Unix epoch); at once if it does.
    #[luamod::function]
    pub fn sleep_until(at: i64) -> Yield<SleepUntil> {
        Yield(SleepUntil { at })
    }

    /// The workflow's clock: milliseconds since the Unix epoch, as
    /// recorded in its history (the same on every replay).
    #[luamod::function]
    pub fn now() -> Yield<Now> {
        Yield(Now)
    }
}
