//! Test support: a controllable fake clock, helpers to run Lua snippets in
//! a runtime, allocation-failure injection ([`MemoryControl::fail_from`]),
//! and an audit of what a process can reach ([`writable_shared_tables`]).
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")] async fn main() {
//! use luamod::testing::{FakeClock, eval};
//! let clock = FakeClock::new();
//! let rt = luamod::Runtime::builder().workers(1).handler(clock.clone()).build().unwrap();
//! let n: i64 = eval(&rt, "return 6 * 7").await;
//! assert_eq!(n, 42);
//! # }
//! ```

mod audit;
mod clock;

pub use crate::ffi::alloc::MemoryControl;
pub use audit::writable_shared_tables;
pub use clock::FakeClock;

use crate::error::Error;
use crate::runtime::Runtime;

/// Fails the `n`-th allocation (from now, `n >= 1`) of every worker's Lua
/// state, and every later one, until [`stop_failing_allocations`]: what
/// SQLite calls an out-of-memory test, for processes. Spawn a process
/// after it and watch the process fail cleanly (`RESOURCE_EXHAUSTED`) while
/// the worker lives on.
pub async fn fail_allocations_from(rt: &Runtime, n: u64) {
    rt.fail_allocations(Some(n.max(1))).await;
}

/// Ends [`fail_allocations_from`]; whether a failure was injected since.
pub async fn stop_failing_allocations(rt: &Runtime) -> bool {
    rt.fail_allocations(None).await
}

/// Runs `src` as a process and returns its result; panics with the Lua
/// message and traceback if it fails.
pub async fn eval<R: mlua::FromLuaMulti + Send + 'static>(rt: &Runtime, src: &str) -> R {
    match rt.run::<R>(src).await {
        Ok(v) => v,
        Err(e) => panic!("Lua process failed:\n{e}"),
    }
}

/// Runs `src` as a process that must fail; returns the error (message,
/// traceback, kind).
pub async fn eval_err(rt: &Runtime, src: &str) -> Error {
    match rt.run::<()>(src).await {
        Ok(_) => panic!("the Lua process succeeded, an error was expected:\n{src}"),
        Err(e) => e,
    }
}
