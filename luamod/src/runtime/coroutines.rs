//! `coroutine.resume` and `coroutine.wrap` for processes.
//!
//! A process's own coroutines keep their meaning for ordinary yields, while
//! two kinds of yield pass through them to the scheduler: a command (an
//! export yields the scheduler's sentinel) and a preemption (the hook
//! yields nothing and marks it, see [`super::preempt`]). On such a yield
//! these functions yield their own caller too, with a continuation that
//! resumes the inner coroutine when the scheduler resumes the process.
//! They keep the preemption target on whichever coroutine runs.
//!
//! Behaviour and wording follow Lua 5.4's `lcorolib.c` (`lua_resume` itself
//! refuses dead and running coroutines, leaving its message on the
//! coroutine's stack, or on the caller's when a coroutine resumes itself).
//! `coroutine.close` and `xpcall` are adjusted in [`super::preempt`]. The functions own no Rust values,
//! so raising from them skips nothing.

use std::ffi::c_int;

use mlua::ffi::{self, lua_State};
use mlua::{Lua, Table};

use super::preempt;
use crate::ffi::stack::luaL_typeerror;
use crate::suspend::park::{self, sentinel};

/// The messages `lua_resume` and `lua_closethread` make themselves, on the
/// coroutine they were given and outside any protected call on it: a
/// memory error there has no handler to reach and aborts the host. Kept
/// alive in the registry (under this key), each is found in Lua's table of
/// short strings instead of allocated again, so making one cannot fail.
const PINNED_KEY: &str = "luamod.coroutines.messages";
const PINNED: [&str; 4] = [
    "cannot resume non-suspended coroutine",
    "cannot resume dead coroutine",
    "C stack overflow",
    "error in error handling",
];

/// `resume`'s and `wrap`'s continuation contexts.
const RESUME: ffi::lua_KContext = 0;
const WRAP: ffi::lua_KContext = 1;

/// The `coroutine` table processes get: Lua's, with `resume` and `wrap`
/// replaced.
pub(crate) fn library(lua: &Lua) -> mlua::Result<Table> {
    lua.set_named_registry_value(PINNED_KEY, PINNED)?;
    let raw: Table = lua.globals().raw_get("coroutine")?;
    let out = lua.create_table()?;
    for pair in raw.pairs::<mlua::Value, mlua::Value>() {
        let (k, v) = pair?;
        out.raw_set(k, v)?;
    }
    // SAFETY: both follow the C function protocol and own nothing.
    unsafe {
        out.raw_set("resume", lua.create_c_function(resume)?)?;
        out.raw_set("wrap", lua.create_c_function(wrap)?)?;
        out.raw_set("yield", lua.create_c_function(yield_)?)?;
    }
    // Error messages name functions by where Lua's registry of loaded
    // libraries holds them ('coroutine.resume').
    let loaded: Table = lua.named_registry_value("_LOADED")?;
    loaded.raw_set("coroutine", &out)?;
    Ok(out)
}

/// `coroutine.yield(...)`, as `luaB_yield`, except where it cannot yield:
/// Lua then says "outside a coroutine" when the code runs on the main
/// thread, which is where a Rust function's callback runs (mlua calls it
/// there) even though the script is inside a process's coroutine.
unsafe extern "C-unwind" fn yield_(l: *mut lua_State) -> c_int {
    // SAFETY: owns nothing; raising or yielding leaves by longjmp.
    unsafe {
        if ffi::lua_isyieldable(l) == 0 {
            return ffi::luaL_error(
                l,
                c"attempt to yield across a C-call boundary (this function was called by a C or Rust function, such as a callback of a module's method, which cannot be suspended)"
                    .as_ptr(),
            );
        }
        ffi::lua_yield(l, ffi::lua_gettop(l))
    }
}

/// Resumes the coroutine at index 1 of `l` with the `nargs` values above
/// it. Leaves `true` and the results, or `false` and the error, on top of
/// `l` and returns their count — or, when the coroutine yielded to the
/// scheduler (a command or a preemption), yields `l` too and never returns
/// (the continuation [`resume_k`] picks up).
///
/// # Safety
/// Called from a C function of `l` whose frame owns nothing, with a thread
/// at index 1 and `nargs` values above it.
unsafe fn run(l: *mut lua_State, nargs: c_int, ctx: ffi::lua_KContext) -> c_int {
    // SAFETY: the stack work follows lcorolib's auxresume; yielding with a
    // continuation leaves this frame by longjmp, which skips nothing.
    unsafe {
        let co = ffi::lua_tothread(l, 1);
        // The worker state's main thread is the one resuming the process
        // (a script reaches it through `coroutine.running()` in a callback
        // a Rust function makes): "normal", as Lua calls a resumer.
        let refused = if co == park::WORKER_STATE.with(|w| w.get()) {
            Some(c"cannot resume non-suspended coroutine")
        } else if super::closing::is_closing(co) {
            Some(super::closing::MESSAGE)
        } else {
            None
        };
        if let Some(message) = refused {
            ffi::lua_pop(l, nargs);
            ffi::lua_pushboolean(l, 0);
            ffi::lua_pushstring(l, message.as_ptr());
            return 2;
        }
        if ffi::lua_checkstack(co, nargs) == 0 {
            ffi::lua_pop(l, nargs);
            ffi::lua_pushboolean(l, 0);
            ffi::lua_pushstring(l, c"too many arguments to resume".as_ptr());
            return 2;
        }
        ffi::lua_xmove(l, co, nargs);
        // Inside `co`, a yield can reach the scheduler only if this thread
        // can pass it on: it is where the chain ends (not a coroutine Rust
        // code resumed) and it can yield here.
        let chain = park::chain_top();
        let passes = chain == l && ffi::lua_isyieldable(l) != 0;
        park::set_chain_top(if passes { co } else { std::ptr::null_mut() });
        let prev = preempt::switch_target(co);
        let mut nres: c_int = 0;
        let status = ffi::lua_resume(co, l, nargs, &mut nres);
        preempt::switch_target(prev);
        park::set_chain_top(chain);
        if status == ffi::LUA_YIELD && passes {
            let command = nres == 1
                && ffi::lua_type(co, -1) == ffi::LUA_TLIGHTUSERDATA
                && ffi::lua_touserdata(co, -1) == sentinel();
            if command || (nres == 0 && preempt::take_preempted(co)) {
                ffi::lua_pop(co, nres);
                // `co` stays at index 1 for the continuation: a C function
                // that yields keeps its stack, the yielded values replaced
                // by those it is resumed with, and whatever resumes a
                // thread whose yields pass up (the worker, or this
                // function) takes only what was yielded. Nothing here
                // allocates: the handler of a command has started, and
                // must not be left behind by a memory error.
                ffi::lua_settop(l, 1);
                if command {
                    ffi::lua_pushlightuserdata(l, sentinel());
                } else {
                    preempt::mark_preempted(l);
                }
                return ffi::lua_yieldk(l, c_int::from(command), ctx, Some(resume_k));
            }
        }
        if status == ffi::LUA_OK || status == ffi::LUA_YIELD {
            if ffi::lua_checkstack(l, nres + 1) == 0 {
                ffi::lua_pop(co, nres);
                ffi::lua_pushboolean(l, 0);
                ffi::lua_pushstring(l, c"too many results to resume".as_ptr());
                return 2;
            }
            ffi::lua_pushboolean(l, 1);
            ffi::lua_xmove(co, l, nres);
            return nres + 1;
        }
        // The error is on top of `co` (of `l` itself when `co == l`).
        ffi::lua_xmove(co, l, 1);
        ffi::lua_pushboolean(l, 0);
        ffi::lua_insert(l, -2);
        2
    }
}

/// The continuation after a passed-up yield: resume the inner coroutine
/// with whatever this one was resumed with.
unsafe extern "C-unwind" fn resume_k(l: *mut lua_State, _: c_int, ctx: ffi::lua_KContext) -> c_int {
    // SAFETY: `run` left the inner coroutine at index 1 when it yielded;
    // above it are the values this thread was resumed with.
    unsafe {
        if ffi::lua_type(l, 1) != ffi::LUA_TTHREAD {
            return ffi::luaL_error(l, c"internal error: lost the resumed coroutine".as_ptr());
        }
        let n = run(l, ffi::lua_gettop(l) - 1, ctx);
        finish(l, n, ctx)
    }
}

/// Turns `run`'s results into the function's: `resume` returns them;
/// `wrap` returns the values or raises the error, as `auxwrap` does.
///
/// # Safety
/// As `run`, with its `n` results on top and the coroutine at index 1.
unsafe fn finish(l: *mut lua_State, n: c_int, ctx: ffi::lua_KContext) -> c_int {
    // SAFETY: stack work on the values `run` left.
    unsafe {
        if ctx == RESUME {
            return n;
        }
        if ffi::lua_toboolean(l, -n) == 0 {
            let co = ffi::lua_tothread(l, 1);
            let stat = ffi::lua_status(co);
            let mut memory = stat == ffi::LUA_ERRMEM;
            // While the process is stopped, its `__close` handlers would run
            // with hooks off (see `preempt`): they are skipped.
            if stat != ffi::LUA_OK && stat != ffi::LUA_YIELD && !preempt::stopping() {
                // An error in the coroutine: close its to-be-closed
                // variables (on `co`, which the signal must arm); their
                // error, if any, replaces ours.
                let prev = preempt::switch_target(co);
                let closed = crate::ffi::close_thread(co, l);
                preempt::switch_target(prev);
                crate::suspend::abandon::closed(co);
                memory = closed == ffi::LUA_ERRMEM;
                ffi::lua_xmove(co, l, 1);
                ffi::lua_replace(l, -2);
            }
            if !memory && ffi::lua_type(l, -1) == ffi::LUA_TSTRING {
                // Each `wrap` a message passes through copies it, with no
                // instruction in between: a long message through 190 of
                // them is seconds of copying. Asked once per level.
                if crate::ffi::interrupt::requested() {
                    ffi::luaL_error(l, c"the process was stopped".as_ptr());
                }
                ffi::luaL_where(l, 1);
                ffi::lua_insert(l, -2);
                ffi::lua_concat(l, 2);
            }
            ffi::lua_error(l)
        }
        n - 1
    }
}

/// `coroutine.resume(co, ...)`.
unsafe extern "C-unwind" fn resume(l: *mut lua_State) -> c_int {
    // SAFETY: Lua's own check first; this frame owns nothing.
    unsafe {
        if ffi::lua_tothread(l, 1).is_null() {
            return luaL_typeerror(l, 1, c"thread".as_ptr());
        }
        let nargs = ffi::lua_gettop(l) - 1;
        let n = run(l, nargs, RESUME);
        finish(l, n, RESUME)
    }
}

/// `coroutine.wrap(f)`.
unsafe extern "C-unwind" fn wrap(l: *mut lua_State) -> c_int {
    // SAFETY: as `resume`; allocation failures raise from a frame that owns
    // nothing.
    unsafe {
        ffi::luaL_checktype(l, 1, ffi::LUA_TFUNCTION);
        let co = ffi::lua_newthread(l);
        ffi::lua_pushvalue(l, 1);
        ffi::lua_xmove(l, co, 1);
        ffi::lua_pushcclosure(l, call_wrapped, 1);
        1
    }
}

/// The function `wrap` returns; its coroutine is upvalue 1.
unsafe extern "C-unwind" fn call_wrapped(l: *mut lua_State) -> c_int {
    // SAFETY: as `resume`.
    unsafe {
        let nargs = ffi::lua_gettop(l);
        ffi::lua_pushvalue(l, ffi::lua_upvalueindex(1));
        ffi::lua_insert(l, 1);
        let n = run(l, nargs, WRAP);
        finish(l, n, WRAP)
    }
}

/// The coroutines `thread` waits inside, outermost first: the one it
/// resumed through this library and whose yield to the scheduler (a
/// command or a preemption) it passed up, then the one that one resumed,
/// and so on. `run` leaves each at index 1 of the yielded `resume` or
/// `wrap` frame, where they are read back.
///
/// # Safety
/// `thread` is alive, suspended (not running), on this thread's worker
/// state.
pub(crate) unsafe fn waiting_inside(thread: *mut lua_State) -> Vec<*mut lua_State> {
    // Deeper than Lua's C stack allows: a bound, not a limit in practice.
    const MAX_DEPTH: usize = 1000;
    let mut chain = Vec::new();
    let mut cur = thread;
    // SAFETY: debug queries on suspended threads, each push checked for
    // room and popped again; none allocates in Lua (lua_checkstack reports
    // a failure instead of raising), so nothing raises here.
    unsafe {
        while chain.len() < MAX_DEPTH
            && ffi::lua_status(cur) == ffi::LUA_YIELD
            && ffi::lua_checkstack(cur, 1) != 0
        {
            let mut ar: ffi::lua_Debug = std::mem::zeroed();
            if ffi::lua_getstack(cur, 0, &mut ar) == 0
                || ffi::lua_getinfo(cur, c"f".as_ptr(), &mut ar) == 0
            {
                break;
            }
            let f = ffi::lua_tocfunction(cur, -1);
            ffi::lua_pop(cur, 1);
            let passes = f.is_some_and(|f| {
                std::ptr::fn_addr_eq(f, resume as ffi::lua_CFunction)
                    || std::ptr::fn_addr_eq(f, call_wrapped as ffi::lua_CFunction)
            });
            if !passes || ffi::lua_getlocal(cur, &ar, 1).is_null() {
                break;
            }
            let co = ffi::lua_tothread(cur, -1);
            ffi::lua_pop(cur, 1);
            if co.is_null() {
                break;
            }
            chain.push(co);
            cur = co;
        }
    }
    chain
}
