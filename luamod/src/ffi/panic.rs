//! The last resort when a panic would cross into C.

/// Ends the process with a message: a Rust panic was about to unwind into
/// Lua's C frames, which is undefined behaviour. Only reached when error
/// reporting itself panics (luamod catches panics of user code and turns
/// them into Lua errors before this point).
#[cold]
pub(crate) fn abort_on_escaped_panic(what: &str) -> ! {
    eprintln!("luamod: a Rust panic in {what} would unwind into Lua's C code; aborting");
    std::process::abort()
}

/// Disposes of a caught panic's payload without letting a panicking
/// `Drop` of the payload unwind (into C, or out of a worker): it is dropped
/// under `catch_unwind`, and a second payload is leaked.
pub(crate) fn forget_panic(payload: Box<dyn std::any::Any + Send>) {
    if let Err(again) = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| drop(payload))) {
        std::mem::forget(again);
    }
}
