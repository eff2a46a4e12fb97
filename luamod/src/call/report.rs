//! Turning a [`CallError`] into what Lua sees: a message or error value on
//! top of the stack for the call to raise, `nil, err` results, or Lua's
//! memory error.
//!
//! Error *values* (`errors.Error` userdata) are made by the state's error
//! constructor, a C function the `errors` module registers under
//! [`ERROR_VALUE_KEY`]; it is called with `lua_pcall`, so a memory error
//! while making one is caught. Lower layers (here, `convert`) reach the
//! `errors` module only through that registry entry.

use std::ffi::{c_int, c_void};

use mlua::ffi;

use super::cx::CallCx;
use super::error::{ArgError, CallError};
use super::info::ExportKind;
use super::outcome::Outcome;
use crate::error::LuaError;
use crate::ffi::stack;

/// Registry key (its address) of the state's error-value constructor: a C
/// function taking a light userdata `*const LuaError` and returning a new
/// `errors.Error` value (with the caller's traceback if it has none).
pub(crate) static ERROR_VALUE_KEY: u8 = 0;

fn key() -> *const c_void {
    &ERROR_VALUE_KEY as *const u8 as *const c_void
}

/// Reports `e`: the error value is pushed for the call to raise, or
/// `nil, err` is pushed as results.
pub(super) fn report(cx: &CallCx, e: CallError) -> Outcome {
    // Room for the error value (or `nil, err`) and a guarded call, however
    // much the body had pushed.
    // SAFETY: lua_checkstack reports failure instead of raising.
    if unsafe { ffi::lua_checkstack(cx.state(), 4) } == 0 {
        return Outcome::StackOverflow;
    }
    let pushed = match e {
        CallError::OutOfMemory | CallError::Arg(ArgError::OutOfMemory) => {
            return Outcome::OutOfMemory;
        }
        CallError::Arg(a) => {
            let msg = arg_message(cx, a);
            push_string(cx, &msg)
        }
        CallError::Raise(le) => match cx.push_error_value(&le) {
            // Making the value raised something else: raise that.
            Err(CallError::Rethrow(m)) => push_string(cx, &m),
            pushed => pushed,
        },
        CallError::Message(m) => {
            // SAFETY: live state; reads the caller's position (level 1).
            let at = unsafe { stack::location(cx.state(), 1) };
            push_string(cx, &format!("{at}{m}"))
        }
        CallError::Rethrow(m) => push_string(cx, &m),
        CallError::Return(le) => {
            return match push_nil_and_error(cx, &le) {
                Ok(()) => Outcome::Return(2),
                Err(CallError::Rethrow(m)) => match push_string(cx, &m) {
                    Ok(()) => Outcome::Raise,
                    Err(e) => failed_to_report(e),
                },
                Err(e) => failed_to_report(e),
            };
        }
    };
    match pushed {
        Ok(()) => Outcome::Raise,
        Err(e) => failed_to_report(e),
    }
}

/// Reporting failed: only for lack of memory or stack, so say which.
#[cold]
fn failed_to_report(e: CallError) -> Outcome {
    match e {
        CallError::Message(m) if m == STACK_OVERFLOW => Outcome::StackOverflow,
        _ => Outcome::OutOfMemory,
    }
}

/// Why pushing the report failed when the stack had no room.
const STACK_OVERFLOW: &str = "stack overflow";

fn push_nil_and_error(cx: &CallCx, e: &LuaError) -> Result<(), CallError> {
    // SAFETY: lua_checkstack reports failure instead of raising; pushing
    // nil does not allocate.
    unsafe {
        if ffi::lua_checkstack(cx.state(), 3) == 0 {
            return Err(CallError::Message(STACK_OVERFLOW.to_owned()));
        }
        ffi::lua_pushnil(cx.state());
    }
    cx.push_error_value(e)
}

fn push_string(cx: &CallCx, s: &str) -> Result<(), CallError> {
    let (p, n) = (s.as_ptr(), s.len());
    // SAFETY: `p` points at `n` bytes that outlive the guarded call.
    cx.alloc(0, |st| unsafe {
        ffi::lua_pushlstring(st, p.cast(), n);
    })
}

impl CallCx {
    /// Pushes `e` as a Lua error value (an `errors.Error` userdata),
    /// capturing the caller's traceback if `e` has none.
    pub(crate) fn push_error_value(&self, e: &LuaError) -> Result<(), CallError> {
        let state = self.state();
        // SAFETY: room checked; the constructor is called with lua_pcall,
        // so whatever it raises is caught and left on top, where we pop
        // it: a memory error is reported as one; anything else (a stop
        // raised by the budget's hook, a C stack overflow) is raised again
        // by its message (read only from a string: nothing is converted).
        // `e` outlives the call that reads it.
        unsafe {
            if ffi::lua_checkstack(state, 3) == 0 {
                return Err(CallError::Message(STACK_OVERFLOW.to_owned()));
            }
            if ffi::lua_rawgetp(state, ffi::LUA_REGISTRYINDEX, key()) != ffi::LUA_TFUNCTION {
                // A state without luamod's base: the message must do.
                ffi::lua_pop(state, 1);
                return push_string(self, e.message());
            }
            ffi::lua_pushlightuserdata(state, e as *const LuaError as *mut c_void);
            match ffi::lua_pcall(state, 1, 1, 0) {
                ffi::LUA_OK => {}
                ffi::LUA_ERRMEM => {
                    ffi::lua_pop(state, 1);
                    return Err(CallError::OutOfMemory);
                }
                _ => {
                    let mut msg = stack::string_at(state, -1);
                    if msg.is_empty() {
                        msg = "error while making an error value".to_owned();
                    }
                    ffi::lua_pop(state, 1);
                    return Err(CallError::Rethrow(msg));
                }
            }
        }
        Ok(())
    }
}

/// The message `luaL_argerror` would raise, with one difference: where Lua
/// would print `'?'` (no call-site name, as in `pcall(m.f)`, because it
/// cannot see through the read-only module proxy), we print the export's
/// qualified name `m.f`, which is what Lua prints for an unproxied table.
fn arg_message(cx: &CallCx, e: ArgError) -> String {
    let info = cx.info();
    let state = cx.state();
    let (mut idx, detail) = render(cx, e);
    if info.kind == ExportKind::Setter {
        // Level 1 is the class's `__newindex`; level 2 the assignment.
        // SAFETY: live state.
        let at = unsafe { stack::location(state, 2) };
        return format!(
            "{at}invalid value for field '{}' of {} ({detail})",
            info.name,
            (info.owner)()
        );
    }
    // SAFETY: live state; level 0 is this C function, level 1 its caller.
    let ((name, method), at) =
        unsafe { (stack::call_site_name(state, 0), stack::location(state, 1)) };
    let fname = name.unwrap_or_else(|| info.qualified_name());
    if method && idx == 1 {
        return format!("{at}calling '{fname}' on bad self ({detail})");
    }
    if method {
        idx -= 1;
    }
    format!("{at}bad argument #{idx} to '{fname}' ({detail})")
}

/// An argument error's index and parenthesised detail, rendered while the
/// offending value is still at its index.
pub(crate) fn render(cx: &CallCx, e: ArgError) -> (c_int, String) {
    match e {
        ArgError::Type { idx, expected } => (
            idx,
            format!("{expected} expected, got {}", type_name(cx, idx)),
        ),
        ArgError::Message { idx, msg } => (idx, msg),
        ArgError::OutOfMemory => (0, "not enough memory".to_owned()),
    }
}

/// The type name `luaL_typeerror` prints for the value at `idx`: its
/// metatable's `__name` if that is a string, else the basic type name.
fn type_name(cx: &CallCx, idx: c_int) -> String {
    let state = cx.state();
    // LuaJIT's library names types by their basic type only.
    if cfg!(feature = "luajit") {
        // SAFETY: live state.
        return unsafe { stack::basic_type_name(state, idx) };
    }
    // SAFETY: live state; lua_getmetatable pushes only when it returns 1;
    // the guarded lookup replaces the metatable by itself plus the field.
    unsafe {
        if ffi::lua_checkstack(state, 3) == 0 || ffi::lua_getmetatable(state, idx) == 0 {
            return stack::basic_type_name(state, idx);
        }
        const NAME: &str = "__name";
        let looked_up = cx.alloc(1, |st| {
            ffi::lua_pushlstring(st, NAME.as_ptr().cast(), NAME.len());
            ffi::lua_rawget(st, -2);
        });
        match looked_up {
            Ok(()) => {}
            // The metatable went into the failed call.
            Err(CallError::OutOfMemory) => return stack::basic_type_name(state, idx),
            Err(_) => {
                ffi::lua_pop(state, 1);
                return stack::basic_type_name(state, idx);
            }
        }
        let name = if ffi::lua_type(state, -1) == ffi::LUA_TSTRING {
            stack::string_at(state, -1)
        } else {
            stack::basic_type_name(state, idx)
        };
        ffi::lua_pop(state, 2);
        name
    }
}
