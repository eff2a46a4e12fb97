//! [`call`]: the one entry point every generated C function goes through.

use std::cell::Cell;
use std::ffi::c_int;
use std::mem::MaybeUninit;
use std::panic::{AssertUnwindSafe, catch_unwind};

use mlua::ffi::{self, lua_State};

use super::cx::CallCx;
use super::error::CallError;
use super::info::ExportInfo;
use super::outcome::{Outcome, Suspend};
use super::report;
use crate::error::{ErrorKind, LuaError, MEMORY_MESSAGE};

/// Runs a generated export body. See [`crate::call`] for the rules.
///
/// `body` must not capture anything that needs dropping (`Copy`), so that
/// this frame owns nothing when it raises.
///
/// # Safety
/// `state` must be the state of a running Lua C function, entered from Lua
/// (which guarantees `LUA_MINSTACK` free slots); continuations use
/// [`call_continuation`].
#[doc(hidden)]
#[inline(always)]
pub unsafe fn call<F>(state: *mut lua_State, info: &'static ExportInfo, body: F) -> c_int
where
    F: FnOnce(&CallCx) -> Result<c_int, CallError> + Copy,
{
    // SAFETY: forwarded.
    unsafe { enter(state, info, body) }
}

/// [`call`] for a continuation (`lua_KFunction`), which Lua does not
/// promise free stack slots: room for an error value and a guarded call is
/// made first.
///
/// # Safety
/// `state` must be the state of a running continuation.
pub(crate) unsafe fn call_continuation<F>(
    state: *mut lua_State,
    info: &'static ExportInfo,
    body: F,
) -> c_int
where
    F: FnOnce(&CallCx) -> Result<c_int, CallError> + Copy,
{
    // SAFETY: this frame owns nothing, so luaL_checkstack may raise here.
    unsafe {
        ffi::luaL_checkstack(state, 4, std::ptr::null());
        enter(state, info, body)
    }
}

/// # Safety
/// As [`call`], with the slots it needs free.
#[inline(always)]
unsafe fn enter<F>(state: *mut lua_State, info: &'static ExportInfo, body: F) -> c_int
where
    F: FnOnce(&CallCx) -> Result<c_int, CallError> + Copy,
{
    if crate::ffi::native_stack::exhausted() {
        // SAFETY: forwarded; this frame owns nothing yet.
        return unsafe { stack_overflow(state) };
    }
    // How to suspend, when the outcome says so (plain data: this frame
    // still owns nothing). Set only then, by `finish`.
    let how = Cell::new(MaybeUninit::uninit());
    // Whether a call that panicked had deferred an allocation failure (its
    // context is gone by the time `recover` runs).
    let unwound_deferred = Cell::new(false);
    // One `catch_unwind` covers the body and the reporting of its result.
    let outcome = match catch_unwind(AssertUnwindSafe(|| {
        // SAFETY: forwarded from our caller.
        unsafe { run(state, info, body, &how, &unwound_deferred) }
    })) {
        Ok(o) => o,
        Err(payload) => recover(state, info, payload, unwound_deferred.get()),
    };
    match outcome {
        Outcome::Return(n) => n,
        // SAFETY: forwarded; `run` (or `recover`) has returned, so every
        // Rust value of the call is dropped.
        other => unsafe { conclude(state, other, &how) },
    }
}

/// Refuses a call nested too deep for the thread's stack, with Lua's own
/// words for a C stack overflow.
///
/// # Safety
/// As [`call`]; the caller's frame owns nothing.
#[cold]
#[inline(never)]
unsafe fn stack_overflow(state: *mut lua_State) -> c_int {
    // SAFETY: raises from a frame that owns nothing.
    unsafe {
        ffi::luaL_error(
            state,
            c"C stack overflow (calls nested through Rust functions)".as_ptr(),
        )
    }
}

/// Carries out an outcome other than returning. Out of line, so that an
/// export's own frame is the small one of a call that returns.
///
/// # Safety
/// As [`call`], and every Rust value of the call is dropped: this frame
/// holds only integers and pointers, so raising, yielding or calling Lua
/// from here skips nothing.
#[inline(never)]
unsafe fn conclude(
    state: *mut lua_State,
    outcome: Outcome,
    how: &Cell<MaybeUninit<Suspend>>,
) -> c_int {
    // SAFETY: see the function's contract.
    unsafe {
        match outcome {
            Outcome::Return(n) => n,
            Outcome::Raise => ffi::lua_error(state),
            Outcome::OutOfMemory => {
                // The stack may be full (results pushed before the memory
                // ran out, and no room could be made): drop this frame's
                // values, which leaves LUA_MINSTACK free slots. Lua keeps
                // this string interned for its own memory errors, so
                // pushing it does not allocate.
                ffi::lua_settop(state, 0);
                ffi::lua_pushlstring(state, MEMORY_MESSAGE.as_ptr().cast(), MEMORY_MESSAGE.len());
                ffi::lua_error(state)
            }
            // As above, the frame's values go to make room; the message
            // may allocate, and a memory error raised from here is sound.
            Outcome::StackOverflow => {
                ffi::lua_settop(state, 0);
                ffi::luaL_error(state, c"stack overflow".as_ptr())
            }
            // SAFETY (of assume_init): `finish`, the only place that says
            // `Suspend`, sets the slot first.
            Outcome::Suspend(n) => match how.get().assume_init() {
                // `Yield` checked that the running coroutine can yield.
                Suspend::Yield(k) => crate::ffi::vm::yield_k(state, n, k),
                // `Invoke` pushed the function and `nargs` arguments. If
                // the callee yields, lua_pcallk leaves this frame by
                // longjmp and Lua later runs `k`; if not, we run `k`
                // ourselves.
                Suspend::PCall { nargs, ctx, k } => {
                    let status = crate::ffi::vm::pcall_k(state, nargs, ctx, k);
                    k(state, status, ctx)
                }
            },
        }
    }
}

/// Runs the body and reports its failure; every Rust value of the call
/// lives and dies in here.
///
/// # Safety
/// As [`call`].
#[inline(always)]
unsafe fn run<F>(
    state: *mut lua_State,
    info: &'static ExportInfo,
    body: F,
    how: &Cell<MaybeUninit<Suspend>>,
    unwound_deferred: &Cell<bool>,
) -> Outcome
where
    F: FnOnce(&CallCx) -> Result<c_int, CallError>,
{
    // SAFETY: forwarded.
    let cx = unsafe { CallCx::new(state, info) };
    // Dropped only if a panic unwinds this frame (forgotten on every
    // return), before the context: it hands the context's deferred
    // failure to `recover`.
    let on_unwind = OnUnwind {
        cx: &cx,
        deferred: unwound_deferred,
    };
    // The body's result is matched where it was made (kept in registers).
    let outcome = match body(&cx) {
        Ok(n) => match cx.quick_end() {
            // Nothing borrowed, looked up or asked for, so the drop would
            // do nothing: said outright, as the optimiser loses track.
            Some(out_of_memory) => {
                std::mem::forget(on_unwind);
                std::mem::forget(cx);
                return if out_of_memory {
                    Outcome::OutOfMemory
                } else {
                    Outcome::Return(n)
                };
            }
            // A method's `self` released inline; a call with nothing else
            // pending then returns after one more test.
            None => {
                cx.release_self();
                match cx.quick_end() {
                    Some(false) => Outcome::Return(n),
                    Some(true) => Outcome::OutOfMemory,
                    None => finish(&cx, n, how),
                }
            }
        },
        Err(e) => {
            cx.release_self();
            fail(&cx, e)
        }
    };
    std::mem::forget(on_unwind);
    outcome
}

/// See `run`.
struct OnUnwind<'a> {
    cx: &'a CallCx,
    deferred: &'a Cell<bool>,
}

impl Drop for OnUnwind<'_> {
    fn drop(&mut self) {
        self.deferred.set(self.cx.has_deferred());
    }
}

/// The end of a call that has more to look at than a deferred allocation
/// failure: a suspension, borrows or a looked-up context (dropped with the
/// context after this returns).
#[inline(never)]
fn finish(cx: &CallCx, n: c_int, how: &Cell<MaybeUninit<Suspend>>) -> Outcome {
    if cx.has_deferred() {
        return Outcome::OutOfMemory;
    }
    match cx.suspend() {
        Some(s) => {
            how.set(MaybeUninit::new(s));
            Outcome::Suspend(n)
        }
        None => Outcome::Return(n),
    }
}

/// The end of a call that failed.
#[inline(never)]
fn fail(cx: &CallCx, e: CallError) -> Outcome {
    let outcome = report::report(cx, e);
    if cx.has_deferred() {
        return Outcome::OutOfMemory;
    }
    outcome
}

/// After a panic (of the body, or of reporting): unwinding dropped the
/// call's values; report an `INTERNAL` error from a fresh context. A panic
/// while doing that would reach C, so it aborts instead.
#[cold]
#[inline(never)]
fn recover(
    state: *mut lua_State,
    info: &'static ExportInfo,
    payload: Box<dyn std::any::Any + Send>,
    deferred: bool,
) -> Outcome {
    let reported = catch_unwind(AssertUnwindSafe(|| {
        let e = panicked(info, payload);
        // SAFETY: the arguments are still there (reporting cuts the stack
        // back to them).
        let cx = unsafe { CallCx::new(state, info) };
        let outcome = report::report(&cx, CallError::Raise(e));
        // The body's context is gone; `run` said, as the panic unwound it,
        // whether the call had deferred a failure.
        if deferred || cx.has_deferred() {
            return Outcome::OutOfMemory;
        }
        outcome
    }));
    match reported {
        Ok(o) => o,
        Err(p) => {
            std::mem::forget(p);
            crate::ffi::abort_on_escaped_panic("luamod's error reporting");
        }
    }
}

/// The error a panic becomes. The payload is dropped here, under
/// `recover`'s `catch_unwind` (its `Drop` may panic too).
#[cold]
fn panicked(info: &ExportInfo, payload: Box<dyn std::any::Any + Send>) -> LuaError {
    let what = if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_owned()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "non-string panic payload".to_owned()
    };
    drop(payload);
    LuaError::new(
        ErrorKind::Internal,
        format!("panic in '{}': {what}", info.qualified_name()),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::call::ExportKind;
    use crate::ffi::alloc::MemoryControl;

    static INFO: ExportInfo = ExportInfo {
        owner: || "t",
        name: "collect_then_push",
        kind: ExportKind::Function,
    };

    /// An export whose guarded push runs a full collection first (as an
    /// allocation may run the collector's step, and with it finalizers).
    unsafe extern "C-unwind" fn collect_then_push(state: *mut lua_State) -> c_int {
        // SAFETY: Lua calls this with its running state.
        unsafe {
            call(state, &INFO, |cx| {
                cx.alloc(0, |st| {
                    ffi::lua_gc(st, ffi::LUA_GCCOLLECT, 0);
                    ffi::lua_pushlstring(st, c"pushed".as_ptr(), 6);
                })?;
                Ok(1)
            })
        }
    }

    /// A finalizer that raises while an export pushes its result (Lua 5.3
    /// re-raises it from the allocation) fails that call with the
    /// finalizer's message, and leaves the memory limit working: raised
    /// over the export's frames, it had left the allocator's window open,
    /// which let every later allocation through.
    #[test]
    fn a_finalizer_raising_inside_an_export_leaves_the_limit_working() {
        let lua = mlua::Lua::new();
        let mem = MemoryControl::install(&lua).unwrap();
        // SAFETY: `collect_then_push` follows the C function protocol.
        let f = unsafe { lua.create_c_function(collect_then_push) }.unwrap();
        lua.globals().set("collect_then_push", f).unwrap();
        let r = lua
            .load(
                "setmetatable({}, { __gc = function() error('boom') end })
                 return collect_then_push()",
            )
            .eval::<String>();
        if cfg!(feature = "lua53") {
            let e = r.expect_err("the finalizer's error");
            assert!(e.to_string().contains("__gc"), "{e}");
        } else {
            // 5.4 makes it a warning; LuaJIT calls no finalizer of a table.
            assert_eq!(r.unwrap(), "pushed");
        }
        mem.set_limit(mem.used() + (256 << 10));
        let r = lua
            .load("local t = {} for i = 1, 1e6 do t[i] = i end")
            .exec();
        assert!(
            r.expect_err("a table past the limit")
                .to_string()
                .contains("not enough memory")
        );
        mem.set_limit(0);
    }
}
