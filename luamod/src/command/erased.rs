//! What a dispatch table holds: a handler with its command type erased
//! ([`ErasedHandler`]), what a handler receives besides the command
//! ([`HandlerCx`]), and what starting one gives back ([`Task`]).

use std::any::Any;
use std::future::Future;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context as TaskCx, Poll};

use super::cancel::CancelToken;
use super::id::{CommandId, Pid};
use super::state::States;
use crate::security::Context;

/// What a handler knows about the request besides the command itself: the
/// process that yielded it, its cancel token, its security context and the
/// runtime's module states.
///
/// A shared handle: the runtime makes one per process, and handing it to a
/// handler (or cloning it) changes one reference count, not one per part.
///
/// ```
/// # use std::sync::Arc;
/// # use luamod::runtime::{CancelToken, HandlerCx, Pid};
/// # use luamod::security::Context;
/// let cx = HandlerCx::new(Pid(7), CancelToken::new(), Arc::new(Context::none().clone()), Default::default());
/// assert_eq!(cx.pid(), Pid(7));
/// assert!(!cx.cancel().is_cancelled());
/// assert!(cx.context().check("fs.read", "/etc/passwd").is_err());
/// ```
#[derive(Debug, Clone)]
pub struct HandlerCx {
    inner: Arc<Parts>,
}

#[derive(Debug)]
struct Parts {
    pid: Pid,
    cancel: CancelToken,
    context: Arc<Context>,
    states: States,
}

impl HandlerCx {
    /// A context for handlers of process `pid` (the runtime makes these;
    /// a host makes one to call a handler in its own tests).
    pub fn new(pid: Pid, cancel: CancelToken, context: Arc<Context>, states: States) -> Self {
        Self {
            inner: Arc::new(Parts {
                pid,
                cancel,
                context,
                states,
            }),
        }
    }

    /// The process that yielded the command.
    pub fn pid(&self) -> Pid {
        self.inner.pid
    }

    /// Whether `other` is a context of the same process. Unlike
    /// [`pid`](Self::pid), which is unique within one runtime, this tells
    /// processes of different runtimes apart (a process has one shared
    /// context; see the type's docs).
    ///
    /// ```
    /// # use luamod::runtime::{CancelToken, HandlerCx};
    /// # use luamod::Pid;
    /// # use std::sync::Arc;
    /// let a = HandlerCx::new(Pid(1), CancelToken::new(), Arc::default(), Default::default());
    /// let b = HandlerCx::new(Pid(1), CancelToken::new(), Arc::default(), Default::default());
    /// assert!(a.same_process(&a.clone()) && !a.same_process(&b));
    /// ```
    pub fn same_process(&self, other: &HandlerCx) -> bool {
        Arc::ptr_eq(&self.inner, &other.inner)
    }

    /// In a runtime, cancelled when the process ends, however it ends:
    /// cancelled, timed out, stopped by a shutdown, or finished. (For a
    /// command run as a Temporal activity, when the activity is
    /// cancelled.) Long handlers should stop when it fires. (The handler's future is also dropped then: work it
    /// handed to other threads, such as a blocking call, should watch the
    /// token or be interrupted by a guard the future owns.) A resource a
    /// handler opens for its process can be released when it fires, as
    /// the example `sql` module closes a process's databases.
    pub fn cancel(&self) -> &CancelToken {
        &self.inner.cancel
    }

    /// The security context of that process, for handlers that check a
    /// permission on what they actually touch (a resolved path, each hop
    /// of a redirect).
    pub fn context(&self) -> &Arc<Context> {
        &self.inner.context
    }

    /// The runtime's module states.
    pub fn states(&self) -> &States {
        &self.inner.states
    }

    /// The state of type `T` the host gave a module of this runtime (or
    /// its default).
    pub fn state<T: std::any::Any + Send + Sync>(&self) -> Option<Arc<T>> {
        self.inner.states.get::<T>()
    }
}

/// A boxed future whose output is a boxed `Result<C::Output, LuaError>`,
/// for erased handlers that produce their result that way (see
/// [`boxed_task`]).
pub type BoxFuture = Pin<Box<dyn Future<Output = Box<dyn Any + Send>> + Send>>;

/// A started handler: polled until it is ready, then its output taken.
///
/// The output stays inside the task, so that a round trip through the
/// runtime allocates no box for it: the export (a handler ready at once)
/// or the continuation that resumes the process moves it straight into a
/// slot of its own type, on the worker thread; the emptied task is then
/// dropped, or kept for reuse if it is [`reusable`](Self::reusable).
/// Once `Ready`, a task stays ready.
/// A task may be dropped before its first poll or before it is ready (its
/// process was cancelled, its activity too), so it must not count on
/// being run to the end.
pub trait Task: Send + Any {
    /// Advances the handler; `Ready` once its output is kept.
    fn poll_task(self: Pin<&mut Self>, cx: &mut TaskCx<'_>) -> Poll<()>;
    /// Moves the output into `out`, an `Option<Result<C::Output,
    /// LuaError>>` for the command `C` the task answers. False if there is
    /// no output (not ready, or taken), if `out` is of another type, or if
    /// the task keeps its output boxed (then [`take_boxed`](Self::take_boxed)
    /// has it).
    fn take_output(self: Pin<&mut Self>, out: &mut dyn Any) -> bool;
    /// The output as a boxed `Result<C::Output, LuaError>`, for code that
    /// handles every command alike (`None` if there is none).
    fn take_boxed(self: Pin<&mut Self>) -> Option<Box<dyn Any + Send>>;
    /// Whether the runtime may keep this task, once its output is taken,
    /// for a handler to reuse its allocation (luamod's own tasks, which
    /// hold nothing once finished).
    #[doc(hidden)]
    fn reusable(&self) -> bool {
        false
    }
}

/// A started handler, as the runtime holds it.
pub type BoxTask = Pin<Box<dyn Task>>;

/// Drops `task`, whose `Drop` is handler code, under a panic guard (and
/// its panic payload's `Drop` too, by leaking it); false if it panicked.
pub(crate) fn drop_task_guarded(task: BoxTask) -> bool {
    match catch_unwind(AssertUnwindSafe(|| drop(task))) {
        Ok(()) => true,
        Err(payload) => {
            std::mem::forget(payload);
            false
        }
    }
}

/// Waits until `task` is ready.
pub async fn ready(task: &mut BoxTask) {
    std::future::poll_fn(|cx| task.as_mut().poll_task(cx)).await
}

/// A task from a future with a boxed output (a `Result<C::Output,
/// LuaError>` in a box), for erased handlers that make their result that
/// way.
pub fn boxed_task(fut: impl Future<Output = Box<dyn Any + Send>> + Send + 'static) -> BoxTask {
    Box::pin(Boxed {
        fut: Some(Box::pin(fut)),
        out: None,
    })
}

struct Boxed {
    /// `None` once it returned `Ready`: it is never polled again.
    fut: Option<BoxFuture>,
    out: Option<Box<dyn Any + Send>>,
}

impl Task for Boxed {
    fn poll_task(mut self: Pin<&mut Self>, cx: &mut TaskCx<'_>) -> Poll<()> {
        let Some(fut) = self.fut.as_mut() else {
            return Poll::Ready(());
        };
        // A panic ends the task with no output (the process is told its
        // command has no result) instead of unwinding into the runtime.
        match catch_unwind(AssertUnwindSafe(|| fut.as_mut().poll(cx))) {
            Ok(Poll::Ready(b)) => {
                // Dropped at once; its `Drop` is handler code, which must
                // not unwind into the runtime (the payload is leaked).
                if let Err(p) = catch_unwind(AssertUnwindSafe(|| self.fut = None)) {
                    std::mem::forget(p);
                }
                self.out = Some(b);
                Poll::Ready(())
            }
            Ok(Poll::Pending) => Poll::Pending,
            Err(payload) => {
                std::mem::forget(payload);
                if let Err(p) = catch_unwind(AssertUnwindSafe(|| self.fut = None)) {
                    std::mem::forget(p);
                }
                Poll::Ready(())
            }
        }
    }

    fn take_output(self: Pin<&mut Self>, _: &mut dyn Any) -> bool {
        // The output is boxed already: `take_boxed` has it.
        false
    }

    fn take_boxed(mut self: Pin<&mut Self>) -> Option<Box<dyn Any + Send>> {
        self.out.take()
    }
}

/// A handler with its command type erased, as the dispatch table holds it.
pub trait ErasedHandler: Send + Sync + 'static {
    /// The command it answers.
    fn command(&self) -> (CommandId, &'static str);
    /// Starts handling a command: `cmd` is an `Option<C>` holding a
    /// command of the handler's type, which the handler takes out
    /// (`cmd.downcast_mut::<Option<C>>()`, then `take`; downcasting to `C`
    /// itself finds nothing).
    ///
    /// The slot may be empty or of another type (two commands registered
    /// with one id): return a task that answers with an error then, do not
    /// panic. A command left in the slot is dropped by the runtime. A
    /// panic here fails the command with an `INTERNAL` error; the worker
    /// goes on. The runtime calls this in the export that asks the command,
    /// during its process's step, with the process's security context left
    /// (the handler has it in `cx`).
    fn start(&self, cmd: &mut dyn Any, cx: HandlerCx) -> BoxTask;

    /// [`start`](Self::start), given a finished task of an earlier command
    /// (its output taken) whose allocation it may reuse. The default
    /// ignores it; the runtime's own handlers reuse a task of their type.
    #[doc(hidden)]
    fn start_reusing(
        &self,
        cmd: &mut dyn Any,
        cx: HandlerCx,
        spare: &mut Option<BoxTask>,
    ) -> BoxTask {
        let _ = spare;
        self.start(cmd, cx)
    }
}
