//! What a dispatch table holds: a handler with its command type erased
//! ([`ErasedHandler`]), and what a handler receives besides the command
//! ([`HandlerCx`]).

use std::any::Any;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use super::cancel::CancelToken;
use super::id::{CommandId, Pid};
use super::state::States;
use crate::security::Context;

/// What a handler knows about the request besides the command itself.
#[derive(Debug, Clone)]
pub struct HandlerCx {
    /// The process that yielded the command.
    pub pid: Pid,
    /// Cancelled when the process is cancelled, times out, or the runtime
    /// shuts down; long handlers should stop when it fires. (The handler's
    /// future is also dropped then: work it handed to other threads, such
    /// as a blocking call, should watch the token or be interrupted by a
    /// guard the future owns.)
    pub cancel: CancelToken,
    /// The security context of that process, for handlers that check a
    /// permission on what they actually touch (a resolved path, each hop
    /// of a redirect).
    pub context: Arc<Context>,
    /// The runtime's module states.
    pub states: States,
}

impl HandlerCx {
    /// The state of type `T` the host gave a module of this runtime (or
    /// its default).
    pub fn state<T: std::any::Any + Send + Sync>(&self) -> Option<Arc<T>> {
        self.states.get::<T>()
    }
}

/// A boxed handler future; its output is a `Result<C::Output, LuaError>`
/// in a box.
pub type BoxFuture = Pin<Box<dyn Future<Output = Box<dyn Any + Send>> + Send>>;

/// A handler with its command type erased, as the dispatch table holds it.
pub trait ErasedHandler: Send + Sync + 'static {
    /// The command it answers.
    fn command(&self) -> (CommandId, &'static str);
    /// Starts handling `cmd` (which must be of the handler's command type).
    fn start(&self, cmd: Box<dyn Any + Send>, cx: HandlerCx) -> BoxFuture;
}
