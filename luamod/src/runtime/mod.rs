//! The runtime: workers that run Lua processes, and the dispatcher that
//! routes the commands they yield to handlers.
//!
//! ```no_run
//! # async fn demo() -> Result<(), luamod::Error> {
//! let rt = luamod::Runtime::builder().workers(2).build()?;
//! let n: i64 = rt.run("return 1 + 2").await?;
//! assert_eq!(n, 3);
//! rt.shutdown(std::time::Duration::from_secs(1)).await;
//! # Ok(()) }
//! ```
//!
//! Pieces, one job each: `builder` (checks and starts), `handle` (the
//! [`Runtime`] a host holds), `worker` (one thread, one Lua state, its
//! processes), `dispatch` (the id table), `shared` (what workers share),
//! [`clock`] (the runtime's own commands), `preempt` (time slices, and
//! stopping processes that compute), `resume` (one step of a process),
//! `coroutines` (`coroutine.resume` and `wrap` that pass the scheduler's
//! yields up). The command contract itself is
//! [`crate::command`].

mod builder;
pub mod clock;
mod closing;
mod coroutines;
mod dispatch;
mod handle;
mod idmap;
mod inbox;
mod preempt;
mod results;
mod resume;
mod script;
mod shared;
mod starter;
mod worker;

pub use builder::Builder;
pub use handle::{Runtime, SpawnOptions};
pub use script::{Entry, Script};
pub use shared::Completed;
pub use worker::WorkerStats;

pub use crate::command::{
    CancelToken, Command, CommandDef, CommandId, ErasedHandler, Handler, HandlerCx, HandlerSet,
    Pid, handler_fn,
};
pub use crate::error::Error;
pub use crate::suspend::{Then, Yield};
