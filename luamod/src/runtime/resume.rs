//! One step of a process: resuming its coroutine with the C API.
//!
//! mlua's `Thread::resume` resets the coroutine's stack top after every
//! resume; on a coroutine that died of an error inside a function with
//! to-be-closed variables, that reset runs their `__close` handlers
//! *unprotected* (Lua's `lua_settop` closes what it drops), so a handler
//! that raises aborts the host. It would also run a script's `__tostring`
//! on the error value with no time budget. So the worker resumes processes
//! itself: a yield is read on the coroutine's own stack, results move to
//! mlua's stack untouched, a dead process
//! keeps its stack until the worker closes it under a budget (see
//! `worker`), and the error value becomes an mlua error the way mlua makes
//! one — minus running script code.
//!
//! Owns: the conversion of a step's outcome. Never: runs Lua code of the
//! script outside the step it resumes.

use std::ffi::c_void;

use mlua::ffi::{self, lua_State};
use mlua::{Lua, MultiValue, Value};

use crate::module::errors::ErrorValue;
use crate::suspend::park::sentinel;
use crate::userdata::LuaClass;

/// Resumes processes of one worker state.
pub(crate) struct Resumer {
    /// The metatable of mlua's own error values (an mlua error raised
    /// through Lua), which keep their structure instead of being printed.
    mlua_error_mt: *const c_void,
}

impl Resumer {
    pub(crate) fn new(lua: &Lua) -> mlua::Result<Resumer> {
        let mut mt = std::ptr::null();
        let probe = Value::Error(Box::new(mlua::Error::runtime("probe")));
        // SAFETY: reads the metatable of the value mlua pushed (one push,
        // one pop); the pointer identifies it for the state's life.
        unsafe {
            lua.exec_raw::<()>(probe, |st| {
                if ffi::lua_getmetatable(st, -1) != 0 {
                    mt = ffi::lua_topointer(st, -1);
                    ffi::lua_pop(st, 1);
                }
            })?;
        }
        Ok(Resumer { mlua_error_mt: mt })
    }

    /// Resumes `thread` with no arguments. A yield is answered without
    /// touching mlua (the common step: a command or a preemption); the
    /// values of a return, or the error, are converted through mlua. An
    /// error leaves the dead coroutine's stack as it was, for closing.
    ///
    /// # Safety
    /// `thread` is a coroutine of `lua`'s state, alive (the caller holds a
    /// reference to it), suspended or not started, on this thread; `from`
    /// is that state's main thread, not running Lua code.
    pub(crate) unsafe fn resume(
        &self,
        lua: &Lua,
        from: *mut lua_State,
        thread: *mut lua_State,
    ) -> mlua::Result<Stepped> {
        let mut nres = 0;
        // SAFETY: lua_resume catches every error of the coroutine itself;
        // nothing here raises.
        let status = unsafe { ffi::lua_resume(thread, from, 0, &mut nres) };
        if status == ffi::LUA_YIELD {
            // SAFETY: the `nres` yielded values are on top of `thread`; they
            // are dropped so the next resume starts where the yield left.
            let system = unsafe {
                let system = nres >= 1
                    && ffi::lua_type(thread, -nres) == ffi::LUA_TLIGHTUSERDATA
                    && ffi::lua_touserdata(thread, -nres) == sentinel();
                ffi::lua_pop(thread, nres);
                system
            };
            return Ok(Stepped::Yielded { system });
        }
        let mt = self.mlua_error_mt;
        // SAFETY: mlua runs the closure under lua_pcall on its state `st`,
        // so an error raised here (an allocation failure) ends there; the
        // closure owns nothing. The process's error is left on `st` as a
        // value, not raised (mlua would append a second traceback).
        let mut values = unsafe {
            lua.exec_raw::<MultiValue>((), |st| {
                if status == ffi::LUA_OK {
                    if ffi::lua_checkstack(st, nres) == 0 {
                        ffi::luaL_error(st, c"too many results to return".as_ptr());
                    }
                    ffi::lua_xmove(thread, st, nres);
                    return;
                }
                ffi::lua_xmove(thread, st, 1);
                if status != ffi::LUA_ERRMEM {
                    describe_error(st, thread, mt);
                }
            })?
        };
        if status == ffi::LUA_OK {
            return Ok(Stepped::Returned(values));
        }
        Err(match values.pop_front() {
            Some(Value::Error(e)) => *e,
            Some(Value::String(s)) if status == ffi::LUA_ERRMEM => {
                mlua::Error::MemoryError(s.to_string_lossy())
            }
            Some(Value::String(s)) => mlua::Error::RuntimeError(s.to_string_lossy()),
            other => mlua::Error::RuntimeError(format!("{other:?}")),
        })
    }
}

/// How a step ended, if not with an error.
pub(crate) enum Stepped {
    /// The process yielded: to wait on a command (`system`: the sentinel),
    /// or preempted, or a `coroutine.yield` of its own.
    Yielded { system: bool },
    /// It returned these values.
    Returned(MultiValue),
}

/// Replaces the error value on top of `st` with what the host reads: a
/// message with the traceback of `thread` (where it failed), as mlua
/// writes it, or mlua's own error value unchanged. Nothing of the script
/// runs here (this is the worker's main thread, which no preemption hook
/// watches): only strings, numbers and luamod's own error values (whose
/// `__tostring` is luamod's) are printed; any other value is described by
/// its type, since even a C `__tostring` such as `pcall` can call back
/// into the script.
///
/// # Safety
/// Inside a protected call on `st`; `thread` is the dead coroutine.
unsafe fn describe_error(st: *mut lua_State, thread: *mut lua_State, mlua_error_mt: *const c_void) {
    // SAFETY: stack work on `st`; raising here is caught by the caller's
    // protected call.
    unsafe {
        if ffi::lua_getmetatable(st, -1) != 0 {
            let is_mlua = ffi::lua_topointer(st, -1) == mlua_error_mt;
            ffi::lua_pop(st, 1);
            if is_mlua {
                return;
            }
        }
        let printable = match ffi::lua_type(st, -1) {
            ffi::LUA_TSTRING | ffi::LUA_TNUMBER => true,
            _ => crate::userdata::is_instance(st, -1, <ErrorValue as LuaClass>::CLASS),
        };
        // The message, pushed.
        if printable {
            ffi::luaL_tolstring(st, -1, std::ptr::null_mut());
        } else {
            ffi::lua_pushfstring(
                st,
                c"(error object is a %s value)".as_ptr(),
                ffi::luaL_typename(st, -1),
            );
        }
        let msg = cut_top(st, MAX_MESSAGE);
        ffi::luaL_traceback(st, thread, msg, 0);
        cut_top(st, MAX_ERROR_TEXT);
        // [error, message, message + traceback] -> [message + traceback]
        ffi::lua_replace(st, -3);
        ffi::lua_pop(st, 1);
    }
}

/// The longest error message a process's error keeps (its first bytes).
const MAX_MESSAGE: usize = 32 << 10;

/// The longest error text (message and traceback) the host receives: it is
/// copied into Rust, kept until the process is joined, and printed.
/// Function names in a traceback are the script's, of any length.
const MAX_ERROR_TEXT: usize = 64 << 10;

/// Replaces the string on top of `st` by its first `max` bytes and a note
/// of how much was cut, when it is longer; returns the string now on top.
///
/// # Safety
/// A string on top of `st`, inside a protected call (this allocates).
unsafe fn cut_top(st: *mut lua_State, max: usize) -> *const std::ffi::c_char {
    // SAFETY: see the function's contract; the pointer returned by
    // lua_tolstring stays valid while the string is on the stack, which it
    // is until lua_replace has copied the cut over it. This frame owns
    // nothing, so a memory error raised here skips no destructor.
    unsafe {
        let mut len = 0usize;
        let s = ffi::lua_tolstring(st, -1, &mut len);
        if len <= max {
            return s;
        }
        ffi::lua_pushlstring(st, s, max);
        ffi::lua_pushfstring(
            st,
            c"... (%I bytes cut)".as_ptr(),
            (len - max) as ffi::lua_Integer,
        );
        ffi::lua_concat(st, 2);
        ffi::lua_replace(st, -2);
        ffi::lua_tolstring(st, -1, std::ptr::null_mut())
    }
}
