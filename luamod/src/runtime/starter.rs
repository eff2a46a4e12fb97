//! What starts a command's handler for an export, during a step: the
//! worker's [`Starter`] for the process it runs.
//!
//! It owns, for one step: the process's `HandlerCx` (made at its first
//! command), the lookup of handlers, the first poll of a started handler,
//! and the worker's spare task (a finished task whose allocation the next
//! handler of its type reuses). It never unwinds into the export: a
//! handler that panics as it starts or as it is first polled fails its
//! command with an `INTERNAL` error.

use std::any::Any;
use std::cell::{Cell, RefCell};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use std::task::{Context as TaskCx, Poll, Waker};

use super::dispatch;
use crate::command::{BoxTask, CancelToken, CommandId, HandlerCx, Pid, States};
use crate::error::{ErrorKind, LuaError};
use crate::security::Context;
use crate::suspend::park::{Started, Starter};

/// The starter of one step of process `pid`.
pub(super) struct StepStarter<'a> {
    pub handlers: &'a dispatch::Table,
    pub states: &'a States,
    pub preempt: &'a super::preempt::Preempt,
    pub pid: Pid,
    /// Its handle, moved in for the step (and back when it ends).
    pub cx: RefCell<Option<HandlerCx>>,
    pub cancel: &'a CancelToken,
    pub spare: &'a Cell<Option<BoxTask>>,
}

impl StepStarter<'_> {
    /// The process's handle, made at its first command.
    fn handler_cx(&self) -> HandlerCx {
        let mut cx = self.cx.borrow_mut();
        if let Some(cx) = &*cx {
            return cx.clone();
        }
        // The process's context is the entered one during its step; were
        // it missing, the handler would be denied everything.
        let context = crate::security::current::entered()
            .unwrap_or_else(|| Arc::new(Context::none().clone()));
        let made = HandlerCx::new(self.pid, self.cancel.clone(), context, self.states.clone());
        cx.insert(made).clone()
    }
}

impl Starter for StepStarter<'_> {
    fn start(&self, id: CommandId, name: &'static str, cmd: &mut dyn Any) -> Started {
        // A process that is being stopped (cancelled, past its deadline,
        // the runtime shutting down) starts nothing more: the command
        // fails with the reason, and no handler does work for it.
        if let Some(e) = self.preempt.stop_error(self.pid) {
            return Started::Failed(e);
        }
        if self.cancel.is_cancelled() {
            return Started::Failed(LuaError::new(
                ErrorKind::Canceled,
                format!("process {} was cancelled", self.pid),
            ));
        }
        // Borrowed, not cloned: every clone of an `Arc` is an atomic
        // increment and decrement per command.
        let Some(handler) = self.handlers.get(id) else {
            return Started::Failed(LuaError::new(
                ErrorKind::Internal,
                format!(
                    "no handler for command {id} ({name}): register one with Runtime::builder().handler(...)"
                ),
            ));
        };
        let hcx = self.handler_cx();
        let spare = self.spare.take();
        // Handler code runs outside the process's security context: a
        // plain state it uses sees its own (as on the tokio pool); the
        // handler has the process's in its `HandlerCx`.
        let _outside = crate::security::current::leave_for_a_while();
        // Handler code (an `ErasedHandler` of the host's own may panic in
        // `start`, a future of `boxed_task` when polled, a spare task when
        // dropped): a panic fails this command, never the worker.
        let started = catch_unwind(AssertUnwindSafe(|| {
            let mut spare = spare;
            let mut task = handler.start_reusing(cmd, hcx, &mut spare);
            drop(spare);
            // Inside the tokio context the worker entered.
            let polled = task
                .as_mut()
                .poll_task(&mut TaskCx::from_waker(Waker::noop()));
            (task, polled)
        }));
        match started {
            Ok((task, Poll::Ready(()))) => Started::Ready(task),
            Ok((task, Poll::Pending)) => Started::Pending(task),
            Err(payload) => {
                let e = LuaError::new(
                    ErrorKind::Internal,
                    format!(
                        "the handler of '{name}' panicked as it started: {}",
                        crate::command::panic_text(&*payload)
                    ),
                );
                // Its `Drop` may panic too: leaked, not dropped.
                std::mem::forget(payload);
                Started::Failed(e)
            }
        }
    }

    fn recycle(&self, task: BoxTask) {
        if let Some(old) = self.spare.replace(Some(task)) {
            drop_task(old, self.pid);
        }
    }
}

/// Drops a task of process `pid`'s. Its `Drop` is handler code, which
/// must not end the worker (nor may its panic payload's own `Drop`).
pub(super) fn drop_task(task: BoxTask, pid: Pid) {
    if !crate::command::drop_task_guarded(task) {
        eprintln!("luamod: dropping a task of process {pid} panicked; the worker goes on");
    }
}

#[cfg(test)]
mod tests {
    use std::cell::{Cell, RefCell};
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::Duration;

    use super::StepStarter;
    use crate::command::{CancelToken, Command, CommandId, Pid, States, handler_fn};
    use crate::error::{ErrorKind, LuaError};
    use crate::runtime::{dispatch, preempt::Preempt};
    use crate::suspend::park::{Started, Starter};

    struct Tick;
    impl Command for Tick {
        const ID: CommandId = CommandId(903);
        const NAME: &'static str = "t.tick";
        type Output = i64;
    }

    /// What the starter of process 7 does with one `Tick`.
    fn start_one(preempt: &Preempt, cancel: &CancelToken, starts: &Arc<AtomicUsize>) -> Started {
        let counted = starts.clone();
        let mut handlers = dispatch::Table::default();
        handlers.insert(handler_fn(move |_: Tick, _| {
            let n = counted.fetch_add(1, Ordering::SeqCst) as i64;
            async move { Ok(n) }
        }));
        let spare = Cell::new(None);
        let starter = StepStarter {
            handlers: &handlers,
            states: &States::default(),
            preempt,
            pid: Pid(7),
            cx: RefCell::new(None),
            cancel,
            spare: &spare,
        };
        starter.start(Tick::ID, Tick::NAME, &mut Some(Tick))
    }

    fn failed(s: Started) -> LuaError {
        match s {
            Started::Failed(e) => e,
            Started::Ready(_) | Started::Pending(_) => panic!("the handler started"),
        }
    }

    /// Once its process is being stopped (cancelled, past its deadline, the
    /// runtime shutting down), a step starts no handler, whether or not the
    /// stop has reached the process's Lua code yet: the command fails with
    /// the reason.
    #[test]
    fn a_process_being_stopped_or_cancelled_starts_no_handler() {
        let starts = Arc::new(AtomicUsize::new(0));
        let preempt = Preempt::new(1, Duration::from_millis(10), Duration::from_secs(1));
        let cancel = CancelToken::new();
        assert!(matches!(
            start_one(&preempt, &cancel, &starts),
            Started::Ready(_)
        ));
        assert_eq!(starts.load(Ordering::SeqCst), 1);

        preempt.request_stop(Pid(8), LuaError::new(ErrorKind::Timeout, "another process"));
        assert!(matches!(
            start_one(&preempt, &cancel, &starts),
            Started::Ready(_)
        ));
        preempt.request_stop(
            Pid(7),
            LuaError::new(ErrorKind::Timeout, "past its deadline"),
        );
        let e = failed(start_one(&preempt, &cancel, &starts));
        assert_eq!(
            (e.kind(), e.message()),
            (ErrorKind::Timeout, "past its deadline")
        );
        assert_eq!(starts.load(Ordering::SeqCst), 2);

        let fresh = Preempt::new(1, Duration::from_millis(10), Duration::from_secs(1));
        cancel.cancel();
        let e = failed(start_one(&fresh, &cancel, &starts));
        assert_eq!(e.kind(), ErrorKind::Canceled);
        assert_eq!(starts.load(Ordering::SeqCst), 2);
    }
}
