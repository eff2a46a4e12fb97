//! What a call does after its Rust part: return, raise, or hand control
//! back to Lua another way.

use std::ffi::c_int;

/// How a call hands control back to Lua other than by returning.
#[derive(Clone, Copy)]
pub(crate) enum Suspend {
    /// Yield the pushed values; resume in `k`.
    Yield(crate::ffi::vm::KFunction),
    /// Call a Lua function (protected, may yield); continue in `k`.
    PCall {
        nargs: c_int,
        ctx: crate::ffi::vm::KContext,
        k: crate::ffi::vm::KFunction,
    },
}

/// What the inner part of a call decided; carried out by `call`'s outer
/// frame, which owns nothing. A word, so that it comes back from
/// `catch_unwind` in a register: how to suspend is written to a slot of
/// the outer frame instead.
#[derive(Clone, Copy)]
pub(super) enum Outcome {
    /// Return the top `n` values.
    Return(c_int),
    /// Raise the value on top of the stack.
    Raise,
    /// Raise Lua's memory error (an allocation failed inside a window).
    OutOfMemory,
    /// Raise "stack overflow": no room was left on the Lua stack even for
    /// the error.
    StackOverflow,
    /// Suspend as the outer frame's slot says, with the top `n` values.
    Suspend(c_int),
}
