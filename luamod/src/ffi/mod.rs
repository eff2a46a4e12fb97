//! The lowest layer: everything that touches the raw Lua C API without
//! knowing about exports, modules or processes.
//!
//! It owns the rule that makes the C boundary sound under memory errors:
//! a Lua C API call that may allocate can raise (`longjmp`) a memory error,
//! and a `longjmp` must never pass over a Rust frame that owns something to
//! drop. [`Guard`] runs such calls so that they cannot raise over Rust
//! frames: inside an allocation *window* of luamod's allocator ([`alloc`]),
//! where a failure is deferred and reported later, or under `lua_pcall`
//! on states with any other allocator (skipped while mlua's allocator has
//! no limit, when nothing can fail: `mlua_limit`).
//!
//! It must never raise a Lua error itself, except from functions documented
//! as raising, which are only called from frames that own nothing.

pub mod alloc;
pub(crate) mod bridge;
pub mod external;
mod free_lists;
mod guard;
pub(crate) mod interrupt;
mod mlua_limit;
pub(crate) mod native_stack;
mod panic;
pub(crate) mod stack;
pub(crate) mod vm;

pub(crate) use guard::{Guard, GuardError};
pub(crate) use panic::{abort_on_escaped_panic, forget_panic};
pub(crate) use vm::close_thread;
