//! The calling convention of generated exports.
//!
//! Every `#[luamod::function]` (and method, field accessor, metamethod,
//! continuation) becomes a raw Lua C function whose body is
//! `call(state, &INFO, |cx| { read args; run; push results })`, after it
//! has read its string arguments (among the first 20) with
//! `lua_tolstring` while it owns nothing (see `convert::PrepareTag`: a
//! number converts in place, and a memory error may raise there). This
//! layer owns the rules that make that sound:
//!
//! - **A Lua error is raised only from a frame that owns nothing to drop.**
//!   Argument checks, the user's body, result conversion and error
//!   reporting all run inside [`call`]'s inner function and report failures
//!   as values; once everything they owned is dropped, [`call`] raises with
//!   `lua_error`, whose `longjmp` then skips only plain integers and
//!   pointers.
//! - **Allocating C API calls never raise over Rust frames.** While Rust
//!   values are alive, every allocating call goes through
//!   [`CallCx::alloc`] (a window of luamod's allocator, or `lua_pcall`),
//!   so a memory error is either deferred or caught; either way the call
//!   raises Lua's `not enough memory` once its values are dropped.
//! - **No panic reaches C.** The body runs under `catch_unwind` (a panic
//!   becomes an `INTERNAL` error); error reporting runs under a second one,
//!   and a panic there aborts with a message instead of unwinding into Lua.
//!
//! Code here must never call a `luaL_check*` function or `lua_error`
//! except from [`call`]'s own outer frame or the out-of-line `conclude` it
//! hands an outcome to (both own nothing).

mod cx;
mod entry;
mod error;
mod info;
mod outcome;
mod permission;
mod report;

pub(crate) use cx::BorrowFlag;
pub use cx::CallCx;
pub use entry::call;
pub(crate) use entry::call_continuation;
pub use error::{ArgError, CallError};
pub use info::{ExportInfo, ExportKind, FunctionDef};
#[doc(hidden)]
pub use permission::{check_permission, context};
pub(crate) use report::{ERROR_VALUE_KEY, render};
