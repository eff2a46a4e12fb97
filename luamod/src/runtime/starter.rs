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
    if let Err(payload) = catch_unwind(AssertUnwindSafe(|| drop(task))) {
        std::mem::forget(payload);
        eprintln!("luamod: dropping a task of process {pid} panicked; the worker goes on");
    }
}
