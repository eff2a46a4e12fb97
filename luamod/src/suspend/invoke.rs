//! [`Invoke`]: an export that calls back into Lua *yieldably* and then
//! continues in Rust, e.g. `db:transaction(fn)` runs `fn` (which may itself
//! wait on commands) and then commits or rolls back.
//!
//! The export pushes a holder for the continuation closure, the function
//! and its arguments, and asks `call` to run them with `lua_pcallk`. The
//! closure lives in a userdata on the export's own stack frame, so it
//! survives any number of yields inside the callee and is dropped at once
//! if the process ends first, or the coroutine it runs in is closed (see
//! `abandon`). When the callee returns or fails,
//! the continuation ([`invoke_k`]) takes the closure and pushes its result,
//! which may itself be a [`crate::Yield`].

use std::any::Any;
use std::ffi::c_int;

use mlua::ffi::{self, lua_State};

use crate::call::{CallCx, CallError, ExportInfo, ExportKind};
use crate::convert::IntoReturn;
use crate::error::{ErrorKind, LuaError};
use crate::module::errors::error_at;
use crate::types::{LuaReturns, TypeRegistry};
use luamod_types::Type;

/// How the callee of an [`Invoke`] ended.
#[derive(Debug)]
pub enum Invoked {
    /// It returned (its results are discarded).
    Returned,
    /// It raised this error (a luamod error value, or the message of any
    /// other error as an `UNKNOWN` one).
    Failed(LuaError),
}

type Continuation<T> = Box<dyn FnOnce(Invoked) -> T>;

/// Calls `func(args...)` in the calling process, then returns `then(how it
/// ended)` to Lua. The callee may yield (wait on commands).
pub struct Invoke<T> {
    func: mlua::Function,
    args: Vec<mlua::Value>,
    then: Continuation<T>,
}

impl<T: IntoReturn + 'static> Invoke<T> {
    /// Calls `func` with `args`, then continues with `then`.
    pub fn new(
        func: mlua::Function,
        args: Vec<mlua::Value>,
        then: impl FnOnce(Invoked) -> T + 'static,
    ) -> Self {
        Invoke {
            func,
            args,
            then: Box::new(then),
        }
    }
}

/// Holds a type-erased continuation on the stack while the callee runs;
/// the running process holds the same slot, to drop it if it ends first.
struct Pending(super::abandon::Cell);

impl mlua::UserData for Pending {}

impl<T: IntoReturn + 'static> IntoReturn for Invoke<T> {
    fn push_return(self, cx: &CallCx) -> Result<c_int, CallError> {
        let state = cx.state();
        let too_many = || CallError::Message("too many arguments to invoke".to_owned());
        let nargs = c_int::try_from(self.args.len()).map_err(|_| too_many())?;
        // SAFETY: live state; room for the holder, function and arguments.
        if unsafe { ffi::lua_checkstack(state, nargs.checked_add(3).ok_or_else(too_many)?) } == 0 {
            return Err(too_many());
        }
        let pending = cx.lua().create_userdata(Pending(super::abandon::hold(
            Box::new(self.then) as Box<dyn Any>,
            state,
        )))?;
        cx.push_value(mlua::Value::UserData(pending))?;
        // SAFETY: live state.
        let holder = unsafe { ffi::lua_gettop(state) };
        cx.push_value(mlua::Value::Function(self.func))?;
        for a in self.args {
            cx.push_value(a)?;
        }
        cx.request_pcall(nargs, holder as crate::ffi::vm::KContext, invoke_k::<T>);
        Ok(0)
    }
}

/// Runs after the callee: takes the continuation from the holder at
/// `ctx` and pushes what it returns.
unsafe extern "C-unwind" fn invoke_k<T: IntoReturn + 'static>(
    state: *mut lua_State,
    status: c_int,
    ctx: crate::ffi::vm::KContext,
) -> c_int {
    let info: &'static ExportInfo = const {
        &ExportInfo {
            owner: || "luamod",
            name: "invoke",
            kind: ExportKind::Function,
        }
    };
    let holder = ctx as c_int;
    // SAFETY: Lua runs the continuation on the coroutine whose frame holds
    // the holder at `holder`; `call` raises only after dropping everything.
    unsafe {
        crate::call::call_continuation(state, info, move |cx| {
            let how = if status == ffi::LUA_OK || status == ffi::LUA_YIELD {
                Invoked::Returned
            } else {
                // The error value is the last value before this call's slot.
                Invoked::Failed(error_at(cx, cx.top()))
            };
            let pending = cx.value_at(holder)?;
            let then = match pending {
                mlua::Value::UserData(ud) => ud
                    .borrow::<Pending>()
                    .ok()
                    .and_then(|p| p.0.borrow_mut().take())
                    .and_then(|b| b.downcast::<Continuation<T>>().ok()),
                _ => None,
            };
            let Some(then) = then else {
                return Err(CallError::Raise(LuaError::new(
                    ErrorKind::Internal,
                    "an invoke continuation was lost",
                )));
            };
            (*then)(how).push_return(cx)
        })
    }
}

/// What the continuation returns.
impl<T: LuaReturns> LuaReturns for Invoke<T> {
    fn lua_returns(reg: &mut TypeRegistry) -> (Vec<Type>, Option<Type>) {
        T::lua_returns(reg)
    }

    fn lua_return_rows(reg: &mut TypeRegistry) -> Vec<Vec<Type>> {
        T::lua_return_rows(reg)
    }
}
