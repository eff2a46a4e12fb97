//! [`Yield`] and [`Then`]: what an export returns to ask a command of
//! its handler (answered inside the call when the handler is ready at
//! once, else the process suspends until it is), and the continuations
//! that push the result when the process resumes.

use std::ffi::c_int;

use mlua::ffi::lua_State;

use super::park::{Asked, delivered, park};
use crate::call::{CallCx, CallError, ExportInfo, ExportKind};
use crate::command::Command;
use crate::convert::IntoReturn;
use crate::error::{ErrorKind, LuaError};
use crate::types::{LuaReturns, LuaType, TypeRegistry, fallible_rows};
use luamod_types::Type;

/// Returned by an export to ask command `C` of its handler: the call
/// returns the handler's output (or `nil, err`). A handler ready at its
/// first poll is answered inside the call; otherwise the process suspends
/// until the handler, on the tokio pool, is done. Either way the command
/// may only be asked where the process could suspend (not inside a
/// metamethod of a Rust object, a `table.sort` comparator, ...).
#[derive(Debug)]
pub struct Yield<C>(pub C);

/// Returned by an export to ask command `C` as [`Yield`] does, then
/// return `f(output)` instead of the output (errors still return
/// `nil, err`). `f` runs on the process's thread and may capture Lua-side
/// state (it need not be `Send`).
pub struct Then<C: Command, T> {
    cmd: C,
    map: Box<dyn FnOnce(C::Output) -> T>,
}

impl<C: Command> Yield<C> {
    /// Maps the command's output before Lua sees it.
    ///
    /// ```
    /// # use luamod::runtime::{Yield, clock::Now};
    /// let y = Yield(Now).then(|ms: i64| ms / 1000);
    /// # let _ = y;
    /// ```
    pub fn then<T: 'static>(self, f: impl FnOnce(C::Output) -> T + 'static) -> Then<C, T> {
        Then {
            cmd: self.0,
            map: Box::new(f),
        }
    }
}

impl<C: Command> IntoReturn for Yield<C>
where
    C::Output: IntoReturn,
{
    fn push_return(self, cx: &CallCx) -> Result<c_int, CallError> {
        match park(cx, self.0, None, resume_k::<C>)? {
            Asked::Now(Ok(v), _) => v.push_return(cx),
            Asked::Now(Err(e), _) => Err::<C::Output, LuaError>(e).push_return(cx),
            Asked::Waiting(n) => Ok(n),
        }
    }
}

impl<C: Command, T: IntoReturn + 'static> IntoReturn for Then<C, T> {
    fn push_return(self, cx: &CallCx) -> Result<c_int, CallError> {
        match park(
            cx,
            self.cmd,
            Some(Box::new(self.map)),
            resume_then_k::<C, T>,
        )? {
            Asked::Now(r, map) => then_push::<C, T>(cx, r, map),
            Asked::Waiting(n) => Ok(n),
        }
    }
}

/// Maps a `Then`'s result and pushes it (`map` is its mapping function,
/// boxed while the command was asked).
fn then_push<C: Command, T: IntoReturn + 'static>(
    cx: &CallCx,
    result: Result<C::Output, LuaError>,
    map: Option<Box<dyn std::any::Any>>,
) -> Result<c_int, CallError> {
    let map = map.and_then(|m| m.downcast::<Box<dyn FnOnce(C::Output) -> T>>().ok());
    match (result, map) {
        (Ok(v), Some(f)) => (*f)(v).push_return(cx),
        (Ok(_), None) => Err(CallError::Raise(LuaError::new(
            ErrorKind::Internal,
            format!("the continuation of '{}' lost its mapping", C::NAME),
        ))),
        (Err(e), _) => Err::<T, LuaError>(e).push_return(cx),
    }
}

/// What a continuation reports its errors as: the command's name.
fn k_info<C: Command>() -> &'static ExportInfo {
    const {
        &ExportInfo {
            owner: || C::NAME,
            name: C::NAME,
            kind: ExportKind::Function,
        }
    }
}

/// The continuation of a `Then` export: maps the output, then pushes it.
unsafe extern "C-unwind" fn resume_then_k<C: Command, T: IntoReturn + 'static>(
    state: *mut lua_State,
    _status: c_int,
    _ctx: crate::ffi::vm::KContext,
) -> c_int {
    let info = k_info::<C>();
    // SAFETY: as resume_k.
    unsafe {
        crate::call::call_continuation(state, info, |cx| {
            let (result, map) = delivered::<C>();
            then_push::<C, T>(cx, result, map)
        })
    }
}

/// The continuation of a yielding export: pushes the handled result.
unsafe extern "C-unwind" fn resume_k<C: Command>(
    state: *mut lua_State,
    _status: c_int,
    _ctx: crate::ffi::vm::KContext,
) -> c_int
where
    C::Output: IntoReturn,
{
    let info = k_info::<C>();
    // SAFETY: Lua calls the continuation on the resumed coroutine; `call`
    // raises only after dropping every Rust value.
    unsafe {
        crate::call::call_continuation(state, info, |cx| match delivered::<C>().0 {
            Ok(v) => v.push_return(cx),
            Err(e) => Err::<C::Output, LuaError>(e).push_return(cx),
        })
    }
}

/// A yield resumes with the command's output, or `nil, err`.
impl<C: Command> LuaReturns for Yield<C>
where
    C::Output: LuaReturns,
{
    fn lua_returns(reg: &mut TypeRegistry) -> (Vec<Type>, Option<Type>) {
        let (mut fixed, rest) = C::Output::lua_returns(reg);
        match fixed.len() {
            0 if rest.is_none() => {}
            _ => {
                for t in fixed.iter_mut() {
                    *t = t.clone().optional();
                }
            }
        }
        fixed.push(LuaError::lua_type(reg).optional());
        (fixed, None)
    }

    fn lua_return_rows(reg: &mut TypeRegistry) -> Vec<Vec<Type>> {
        // An output that is fallible itself already ends in `nil, err`.
        let rows = C::Output::lua_return_rows(reg);
        if !rows.is_empty() {
            return rows;
        }
        match C::Output::lua_returns(reg) {
            (fixed, None) => fallible_rows(&fixed),
            // Any number of values: no fixed rows to correlate.
            _ => Vec::new(),
        }
    }
}

/// A mapped yield resumes with the mapped value, or `nil, err`.
impl<C: Command, T: LuaReturns> LuaReturns for Then<C, T> {
    fn lua_returns(reg: &mut TypeRegistry) -> (Vec<Type>, Option<Type>) {
        let (mut fixed, _) = T::lua_returns(reg);
        for t in fixed.iter_mut() {
            *t = t.clone().optional();
        }
        let err = LuaError::lua_type(reg).optional();
        if fixed.last() != Some(&err) {
            fixed.push(err);
        }
        (fixed, None)
    }

    fn lua_return_rows(reg: &mut TypeRegistry) -> Vec<Vec<Type>> {
        // A mapping that is fallible itself already ends in `nil, err`:
        // the command's failure is one more way to get that row.
        let rows = T::lua_return_rows(reg);
        if !rows.is_empty() {
            return rows;
        }
        match T::lua_returns(reg) {
            (fixed, None) => fallible_rows(&fixed),
            _ => Vec::new(),
        }
    }
}
