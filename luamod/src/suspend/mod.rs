//! Suspending a process from inside an export: [`Yield`]/[`Then`] park a
//! command for the scheduler and continue when its result arrives;
//! [`Invoke`] calls back into Lua yieldably and continues in Rust.
//!
//! The slots shared with the scheduler live in `park`; the scheduler
//! itself is the runtime's.

pub(crate) mod abandon;
mod invoke;
pub(crate) mod park;
mod yields;

pub use invoke::{Invoke, Invoked};
pub use yields::{Then, Yield};
