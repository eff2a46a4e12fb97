//! The command contract, the leaf every other part meets at: ids
//! ([`CommandId`], [`Pid`]), the [`Command`] trait and its [`CommandDef`],
//! [`Handler`]s and what they receive ([`HandlerCx`], [`CancelToken`],
//! module [`States`]).
//!
//! Nothing here touches a Lua state: how a command is yielded is the
//! `suspend` layer's job, how it is routed the runtime's.

mod cancel;
mod def;
mod erased;
mod handler;
mod id;
mod state;

pub use cancel::CancelToken;
pub use def::{Command, CommandDef};
pub(crate) use erased::drop_task_guarded;
pub use erased::{BoxFuture, BoxTask, ErasedHandler, HandlerCx, Task, boxed_task, ready};
pub(crate) use handler::panic_text;
pub use handler::{Handler, HandlerSet, erase, handler_fn};
pub use id::{CommandId, Pid};
pub use state::{StateDef, StateValue, States};
