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
