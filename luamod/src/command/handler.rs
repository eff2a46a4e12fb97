//! Handlers: the code that answers a command.
//!
//! A [`Handler<C>`] answers one command type; [`handler_fn`] makes one from
//! an async closure. Handlers are type-erased into [`ErasedHandler`] so a
//! dispatch table can map ids to them.
//!
//! A handler's panic is caught here and becomes an `INTERNAL` error for the
//! process that asked; the runtime keeps running.

use std::any::Any;
use std::future::Future;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context as TaskCx, Poll};

use super::def::Command;
use super::erased::{BoxFuture, ErasedHandler, HandlerCx};
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
    handler: Arc<H>,
    _c: std::marker::PhantomData<fn() -> C>,
}

/// Turns a typed handler into the table's form.
pub fn erase<C: Command, H: Handler<C>>(handler: H) -> Arc<dyn ErasedHandler> {
    Arc::new(Typed::<C, H> {
        handler: Arc::new(handler),
        _c: std::marker::PhantomData,
    })
}

impl<C: Command, H: Handler<C>> ErasedHandler for Typed<C, H> {
    fn command(&self) -> (CommandId, &'static str) {
        (C::ID, C::NAME)
    }

    fn start(&self, cmd: Box<dyn Any + Send>, cx: HandlerCx) -> BoxFuture {
        let cmd = match cmd.downcast::<C>() {
            Ok(c) => *c,
            Err(_) => {
                let r: Result<C::Output, LuaError> = Err(LuaError::new(
                    ErrorKind::Internal,
                    format!(
                        "command {} ({}) reached a handler of another type",
                        C::ID,
                        C::NAME
                    ),
                ));
                return Box::pin(std::future::ready(Box::new(r) as Box<dyn Any + Send>));
            }
        };
        // The async block owns the handler, so the future is 'static; a
        // panic while creating or polling it is caught by CatchPanic.
        let handler = self.handler.clone();
        // One box for the handler's future and its panic guard.
        Box::pin(CatchPanic::<C, _> {
            inner: async move { handler.handle(cmd, cx).await },
            _c: std::marker::PhantomData,
        })
    }
}

fn panicked<C: Command>(payload: &Box<dyn Any + Send>) -> LuaError {
    let what = payload
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "non-string panic payload".to_owned());
    LuaError::new(
        ErrorKind::Internal,
        format!("handler of '{}' panicked: {what}", C::NAME),
    )
}

/// A handler's future that turns a panic while polling it into an
/// `INTERNAL` error. `inner` is structurally pinned: it is never moved out
/// of a pinned `CatchPanic` (no method does, and `CatchPanic` has no
/// `Drop` of its own that could).
struct CatchPanic<C: Command, F> {
    inner: F,
    _c: std::marker::PhantomData<fn() -> C>,
}

impl<C: Command, F> Future for CatchPanic<C, F>
where
    F: Future<Output = Result<C::Output, LuaError>> + Send,
{
    type Output = Box<dyn Any + Send>;

    fn poll(self: Pin<&mut Self>, cx: &mut TaskCx<'_>) -> Poll<Self::Output> {
        // SAFETY: structural pinning of `inner` (see the type): it stays
        // where it is for as long as the pinned `CatchPanic` lives.
        let inner = unsafe { self.map_unchecked_mut(|s| &mut s.inner) };
        match catch_unwind(AssertUnwindSafe(|| inner.poll(cx))) {
            Ok(Poll::Pending) => Poll::Pending,
            Ok(Poll::Ready(r)) => Poll::Ready(Box::new(r)),
            Err(p) => {
                let r: Result<C::Output, LuaError> = Err(panicked::<C>(&p));
                // A payload whose own `Drop` panics must not escape into
                // the worker: that second payload is leaked instead.
                if let Err(again) = catch_unwind(AssertUnwindSafe(|| drop(p))) {
                    std::mem::forget(again);
                }
                Poll::Ready(Box::new(r))
            }
        }
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
