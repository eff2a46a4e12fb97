//! Handlers: the code that answers a command.
//!
//! A [`Handler<C>`] answers one command type; [`handler_fn`] makes one from
//! an async closure. Handlers are type-erased into [`ErasedHandler`] so a
//! dispatch table can map ids to them.
//!
//! A panic while a handler's future is polled is caught here (one while
//! the handler makes its future, by the runtime that starts it) and
//! becomes an `INTERNAL` error for the process that asked; the runtime
//! keeps running.

use std::any::Any;
use std::future::Future;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context as TaskCx, Poll};

use super::def::Command;
use super::erased::{BoxTask, ErasedHandler, HandlerCx, Task};
use super::id::CommandId;
use crate::error::{ErrorKind, LuaError};

/// Answers commands of type `C`.
pub trait Handler<C: Command>: Send + Sync + 'static {
    /// Handles one command.
    fn handle(
        &self,
        cmd: C,
        cx: HandlerCx,
    ) -> impl Future<Output = Result<C::Output, LuaError>> + Send + 'static;
}

struct Typed<C, H> {
    handler: H,
    _c: std::marker::PhantomData<fn() -> C>,
}

/// Turns a typed handler into the table's form.
pub fn erase<C: Command, H: Handler<C>>(handler: H) -> Arc<dyn ErasedHandler> {
    Arc::new(Typed::<C, H> {
        handler,
        _c: std::marker::PhantomData,
    })
}

impl<C: Command, H: Handler<C>> ErasedHandler for Typed<C, H> {
    fn command(&self) -> (CommandId, &'static str) {
        (C::ID, C::NAME)
    }

    fn start(&self, cmd: &mut dyn Any, cx: HandlerCx) -> BoxTask {
        self.start_reusing(cmd, cx, &mut None)
    }

    fn start_reusing(
        &self,
        cmd: &mut dyn Any,
        cx: HandlerCx,
        spare: &mut Option<BoxTask>,
    ) -> BoxTask {
        let cmd = match cmd.downcast_mut::<Option<C>>().and_then(Option::take) {
            Some(c) => c,
            None => {
                return Box::pin(Run::<C, _>::new(std::future::ready(Err(LuaError::new(
                    ErrorKind::Internal,
                    format!(
                        "command {} ({}) reached a handler of another type, or none",
                        C::ID,
                        C::NAME
                    ),
                )))));
            }
        };
        // `handle`'s future is 'static (it borrows neither the handler nor
        // anything else), so the handler is not cloned per command. A
        // panic while polling it is caught by `Run`; one while creating it
        // unwinds out of `start`, where the runtime catches it.
        // One box for the handler's future, its panic guard and its output:
        // the spare's, when it is a task of this handler.
        let run = Run::<C, _>::new(self.handler.handle(cmd, cx));
        match spare.take() {
            Some(task) => refill(task, run),
            None => Box::pin(run),
        }
    }
}

/// `run` in `task`'s allocation if `task` holds a `Run` of the same type,
/// else in a new box (`task` is dropped). A finished `Run` holds no future
/// (it was dropped when it finished) and no output (its continuation took
/// it), so refilling it runs no handler code of its last command.
fn refill<C: Command, F>(mut task: BoxTask, run: Run<C, F>) -> BoxTask
where
    F: Future<Output = Result<C::Output, LuaError>> + Send + 'static,
{
    // SAFETY: the task is not moved out of its box: the old `Run` is
    // dropped where it is and the new one written in its place, as
    // `Pin::set` does, which pinning allows (the old value's drop runs
    // before its memory is reused).
    let held = unsafe { task.as_mut().get_unchecked_mut() };
    match (held as &mut dyn Any).downcast_mut::<Run<C, F>>() {
        Some(old) => {
            *old = run;
            task
        }
        None => Box::pin(run),
    }
}

fn panicked<C: Command>(payload: &Box<dyn Any + Send>) -> LuaError {
    LuaError::new(
        ErrorKind::Internal,
        format!(
            "handler of '{}' panicked: {}",
            C::NAME,
            panic_text(&**payload)
        ),
    )
}

/// What a panic said, when it said it with a string.
pub(crate) fn panic_text(payload: &(dyn Any + Send)) -> &str {
    payload
        .downcast_ref::<&str>()
        .copied()
        .or_else(|| payload.downcast_ref::<String>().map(String::as_str))
        .unwrap_or("non-string panic payload")
}

/// A handler's future as a [`Task`]: a panic while polling it becomes an
/// `INTERNAL` error, and its output is kept until the runtime takes it.
/// The future is dropped, in place, as soon as it is done, so a finished
/// task holds nothing of its command but the output, and a task reused
/// for another command (see `refill`) drops no handler code of the last.
/// `inner` is structurally pinned: it is never moved out of a pinned
/// `Run` (no method does, and `Run` has no `Drop` of its own that could);
/// `out` is plain data, never pinned.
struct Run<C: Command, F> {
    /// `None` once it returned `Ready` (or panicked): never polled again.
    inner: Option<F>,
    out: Option<Result<C::Output, LuaError>>,
}

impl<C: Command, F> Run<C, F> {
    fn new(fut: F) -> Self {
        Run {
            inner: Some(fut),
            out: None,
        }
    }
}

impl<C: Command, F> Task for Run<C, F>
where
    F: Future<Output = Result<C::Output, LuaError>> + Send + 'static,
{
    fn poll_task(self: Pin<&mut Self>, cx: &mut TaskCx<'_>) -> Poll<()> {
        // SAFETY: `inner` is only ever used pinned (below), never moved;
        // `out` is not pinned (see the type).
        let this = unsafe { self.get_unchecked_mut() };
        // SAFETY: structural pinning of `inner`: `this` came from a pinned
        // `Run`, so `inner` stays where it is for as long as it lives.
        let mut inner = unsafe { Pin::new_unchecked(&mut this.inner) };
        let Some(fut) = inner.as_mut().as_pin_mut() else {
            return Poll::Ready(());
        };
        let r = match catch_unwind(AssertUnwindSafe(|| fut.poll(cx))) {
            Ok(Poll::Pending) => return Poll::Pending,
            Ok(Poll::Ready(r)) => r,
            Err(p) => {
                let e = panicked::<C>(&p);
                // A payload whose own `Drop` panics must not escape into
                // the worker: that second payload is leaked instead.
                if let Err(again) = catch_unwind(AssertUnwindSafe(|| drop(p))) {
                    std::mem::forget(again);
                }
                Err(e)
            }
        };
        // Done: the future is dropped where it is (`Pin::set` drops in
        // place). Its `Drop` is handler code: a panic there is leaked, and
        // `inner` is `None` all the same.
        if let Err(p) = catch_unwind(AssertUnwindSafe(|| inner.set(None))) {
            std::mem::forget(p);
        }
        this.out = Some(r);
        Poll::Ready(())
    }

    fn reusable(&self) -> bool {
        true
    }

    fn take_output(self: Pin<&mut Self>, out: &mut dyn Any) -> bool {
        // SAFETY: only `out`, which is not pinned, is touched.
        let this = unsafe { self.get_unchecked_mut() };
        match out.downcast_mut::<Option<Result<C::Output, LuaError>>>() {
            Some(slot) if this.out.is_some() => {
                *slot = this.out.take();
                true
            }
            _ => false,
        }
    }

    fn take_boxed(self: Pin<&mut Self>) -> Option<Box<dyn Any + Send>> {
        // SAFETY: as in `take_output`.
        let this = unsafe { self.get_unchecked_mut() };
        this.out.take().map(|r| Box::new(r) as Box<dyn Any + Send>)
    }
}

struct FnHandler<F>(F);

impl<C, F, Fut> Handler<C> for FnHandler<F>
where
    C: Command,
    F: Fn(C, HandlerCx) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<C::Output, LuaError>> + Send + 'static,
{
    fn handle(
        &self,
        cmd: C,
        cx: HandlerCx,
    ) -> impl Future<Output = Result<C::Output, LuaError>> + Send + 'static {
        (self.0)(cmd, cx)
    }
}

/// A handler for `C` from an async closure.
///
/// ```
/// # use luamod::prelude::*;
/// # use luamod::runtime::{handler_fn, HandlerCx};
/// #[derive(Command)]
/// #[command(id = 900, name = "demo.answer", output = i64)]
/// struct Answer;
/// let h = handler_fn(|_: Answer, _: HandlerCx| async { Ok(42) });
/// ```
pub fn handler_fn<C, F, Fut>(f: F) -> Arc<dyn ErasedHandler>
where
    C: Command,
    F: Fn(C, HandlerCx) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<C::Output, LuaError>> + Send + 'static,
{
    erase::<C, _>(FnHandler(f))
}

/// Anything that brings handlers: one handler, a list, or a service such
/// as a fake clock that answers several commands.
pub trait HandlerSet {
    /// The handlers, one per command.
    fn handlers(&self) -> Vec<Arc<dyn ErasedHandler>>;
}

impl HandlerSet for Arc<dyn ErasedHandler> {
    fn handlers(&self) -> Vec<Arc<dyn ErasedHandler>> {
        vec![self.clone()]
    }
}

impl HandlerSet for Vec<Arc<dyn ErasedHandler>> {
    fn handlers(&self) -> Vec<Arc<dyn ErasedHandler>> {
        self.clone()
    }
}

#[cfg(test)]
mod tests {
    use std::any::Any;
    use std::sync::Arc;
    use std::task::{Context as TaskCx, Poll, Waker};

    use super::handler_fn;
    use crate::command::{CancelToken, Command, CommandId, HandlerCx, Pid, States};
    use crate::error::{ErrorKind, LuaError};
    use crate::security::Context;

    struct Double(i64);
    impl Command for Double {
        const ID: CommandId = CommandId(901);
        const NAME: &'static str = "t.double";
        type Output = i64;
    }

    fn hcx() -> HandlerCx {
        HandlerCx::new(
            Pid(1),
            CancelToken::new(),
            Arc::new(Context::none().clone()),
            States::default(),
        )
    }

    fn poll(task: &mut crate::command::BoxTask) -> Poll<()> {
        task.as_mut()
            .poll_task(&mut TaskCx::from_waker(Waker::noop()))
    }

    type Out = Option<Result<i64, LuaError>>;

    #[test]
    fn a_task_keeps_its_output_until_it_is_taken_once_into_its_own_type() {
        let h = handler_fn(|Double(x): Double, _| async move { Ok(x * 2) });
        let mut cmd = Some(Double(21));
        let mut task = h.start(&mut cmd, hcx());
        // The handler took the command out of its slot.
        assert!(cmd.is_none());
        assert!(poll(&mut task).is_ready());
        // Polled again once ready: still ready, the handler not run again.
        assert!(poll(&mut task).is_ready());
        // A slot of another type gets nothing, and the output stays.
        let mut wrong: Option<Result<String, LuaError>> = None;
        assert!(!task.as_mut().take_output(&mut wrong as &mut dyn Any));
        let mut out: Out = None;
        assert!(task.as_mut().take_output(&mut out as &mut dyn Any));
        assert_eq!(out.unwrap().unwrap(), 42);
        // Taken: nothing is left, boxed or not.
        let mut again: Out = None;
        assert!(!task.as_mut().take_output(&mut again as &mut dyn Any));
        assert!(task.as_mut().take_boxed().is_none());
    }

    #[test]
    fn a_panicking_handler_and_a_command_of_another_type_are_internal_errors() {
        let h = handler_fn(|_: Double, _| async move {
            if true {
                panic!("kaboom in a handler");
            }
            Ok(0)
        });
        let mut task = h.start(&mut Some(Double(1)), hcx());
        assert!(poll(&mut task).is_ready());
        let b = task.as_mut().take_boxed().expect("an output");
        let e = b.downcast::<Result<i64, LuaError>>().unwrap().unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Internal);
        assert!(e.message().contains("kaboom in a handler"), "{e:?}");

        let mut task = h.start(&mut Some("not a Double"), hcx());
        assert!(poll(&mut task).is_ready());
        let mut out: Out = None;
        assert!(task.as_mut().take_output(&mut out as &mut dyn Any));
        let e = out.unwrap().unwrap_err();
        assert!(e.message().contains("another type"), "{e:?}");
        // An empty slot (a command taken already) is the same error.
        let mut task = h.start(&mut None::<Double>, hcx());
        assert!(poll(&mut task).is_ready());
        let mut out: Out = None;
        assert!(task.as_mut().take_output(&mut out as &mut dyn Any));
        assert!(out.unwrap().is_err());
    }

    /// An output that counts its drops.
    struct Noted(i64);
    static NOTED_DROPS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    impl Drop for Noted {
        fn drop(&mut self) {
            NOTED_DROPS.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        }
    }

    struct Hold(i64);
    impl Command for Hold {
        const ID: CommandId = CommandId(902);
        const NAME: &'static str = "t.hold";
        type Output = Noted;
    }

    /// Where a task lives, to tell a reused allocation from a new one.
    fn addr(t: &crate::command::BoxTask) -> *const u8 {
        (&**t as *const dyn crate::command::Task).cast::<u8>()
    }

    #[test]
    fn a_finished_task_is_refilled_in_place_holding_nothing_of_its_last_command() {
        let drops = || NOTED_DROPS.load(std::sync::atomic::Ordering::SeqCst);
        let h = handler_fn(|Hold(n): Hold, _| async move { Ok(Noted(n)) });
        let mut first = h.start(&mut Some(Hold(1)), hcx());
        assert!(poll(&mut first).is_ready());
        // Its output was never taken: the last command's result is in it.
        let at = addr(&first);
        let mut spare = Some(first);
        let mut second = h.start_reusing(&mut Some(Hold(2)), hcx(), &mut spare);
        assert!(spare.is_none());
        assert_eq!(addr(&second), at, "the same allocation");
        // The old output was dropped when the task was refilled, and the
        // new one is not there before the handler runs.
        assert_eq!(drops(), 1);
        let mut out: Option<Result<Noted, LuaError>> = None;
        assert!(!second.as_mut().take_output(&mut out as &mut dyn Any));
        assert!(poll(&mut second).is_ready());
        assert!(second.as_mut().take_output(&mut out as &mut dyn Any));
        assert_eq!(out.take().unwrap().unwrap().0, 2);
        assert_eq!(drops(), 2);

        // A spare of another type is dropped, and the task gets its own box.
        let other = crate::command::boxed_task(async {
            Box::new(Ok::<i64, LuaError>(7)) as Box<dyn Any + Send>
        });
        let other_at = addr(&other);
        let mut spare = Some(other);
        let mut third = h.start_reusing(&mut Some(Hold(3)), hcx(), &mut spare);
        assert!(spare.is_none());
        assert_ne!(addr(&third), other_at);
        assert!(poll(&mut third).is_ready());
        assert!(third.as_mut().take_output(&mut out as &mut dyn Any));
        assert_eq!(out.take().unwrap().unwrap().0, 3);
    }

    /// A future that keeps what it was given (as a hand-written future
    /// holding its `HandlerCx` would) and panics when dropped, if asked.
    struct Keeps(Arc<i64>, bool);
    impl std::future::Future for Keeps {
        type Output = Result<i64, LuaError>;
        fn poll(self: std::pin::Pin<&mut Self>, _: &mut TaskCx<'_>) -> Poll<Self::Output> {
            Poll::Ready(Ok(*self.0))
        }
    }
    impl Drop for Keeps {
        fn drop(&mut self) {
            if self.1 {
                panic!("dropping a finished future");
            }
        }
    }

    struct Kept(bool);
    impl Command for Kept {
        const ID: CommandId = CommandId(904);
        const NAME: &'static str = "t.kept";
        type Output = i64;
    }

    #[test]
    fn a_finished_task_has_dropped_its_future_even_one_whose_drop_panics() {
        let given = Arc::new(5_i64);
        let shared = given.clone();
        let h = handler_fn(move |Kept(panics): Kept, _| Keeps(shared.clone(), panics));
        for panics in [false, true] {
            let mut task = h.start(&mut Some(Kept(panics)), hcx());
            assert_eq!(Arc::strong_count(&given), 3, "the future holds one");
            assert!(poll(&mut task).is_ready());
            // Finished, output not taken yet: the future is gone, and with
            // it all it held; a panic in its `Drop` stayed inside.
            assert_eq!(Arc::strong_count(&given), 2);
            let mut out: Out = None;
            assert!(task.as_mut().take_output(&mut out as &mut dyn Any));
            assert_eq!(out.unwrap().unwrap(), 5);
        }
    }

    #[test]
    fn a_boxed_task_hands_its_output_boxed() {
        let mut task = crate::command::boxed_task(async {
            Box::new(Ok::<i64, LuaError>(7)) as Box<dyn Any + Send>
        });
        assert!(poll(&mut task).is_ready());
        let mut out: Out = None;
        assert!(!task.as_mut().take_output(&mut out as &mut dyn Any));
        let b = task.as_mut().take_boxed().expect("the box");
        assert_eq!(b.downcast::<Result<i64, LuaError>>().unwrap().unwrap(), 7);
    }
}
