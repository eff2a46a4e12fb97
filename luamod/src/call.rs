//! The calling convention of generated exports.
//!
//! Every `#[luamod::function]` becomes a raw Lua C function whose body is
//! `call(state, &INFO, |cx| { read args; run; push results })`. This module
//! owns the one rule that makes that sound: **a Lua error is raised only from
//! a frame that owns nothing to drop.** Argument checks, the user's body and
//! result conversion all run inside [`call`]'s inner closure and report
//! failures as values; once that closure has returned (and everything it
//! owned is dropped), the error value is on the Lua stack and
//! [`call`] raises it with `lua_error`, whose longjmp then only skips frames
//! holding plain integers and pointers.
//!
//! It must never raise from inside the closure or call a `luaL_check*`
//! function (those longjmp from wherever they are).

use std::cell::{Cell, OnceCell};
use std::ffi::{CStr, c_int};
use std::panic::{AssertUnwindSafe, catch_unwind};

use mlua::ffi::{self, lua_State};

use crate::error::{ErrorKind, LuaError};

/// Static facts about one export, used in error messages.
#[doc(hidden)]
#[derive(Debug)]
pub struct ExportInfo {
    /// Lua name of the module (`greet`), or of the class (`greet.Counter`)
    /// for methods.
    pub module: &'static str,
    /// Lua name of the function, method or field.
    pub name: &'static str,
    /// How argument errors are worded.
    pub kind: ExportKind,
}

/// What an export is, for the wording of its argument errors.
#[doc(hidden)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExportKind {
    /// A function or method: `bad argument #N to 'f' (...)`.
    Function,
    /// A field setter (called by `__newindex` with `(obj, value)`):
    /// `invalid value for field 'x' of mod.Type (...)`.
    Setter,
}

/// How a call hands control back to Lua other than by returning.
#[derive(Clone, Copy)]
pub(crate) enum Suspend {
    /// Yield the pushed values; resume in `k`.
    Yield(ffi::lua_KFunction),
    /// Call a Lua function (protected, may yield); continue in `k`.
    PCall {
        nargs: c_int,
        ctx: ffi::lua_KContext,
        k: ffi::lua_KFunction,
    },
}

/// What went wrong while reading an argument. Formatted into Lua's own
/// `bad argument #N to 'f' (...)` wording by [`call`].
#[derive(Debug)]
pub enum ArgError {
    /// Wrong type: `{expected} expected, got {actual type name}`.
    Type {
        /// 1-based stack index of the argument.
        idx: c_int,
        /// What the parameter accepts (`string`, `number`, `mod.Type`).
        expected: &'static str,
    },
    /// Any other message, rendered inside the parentheses.
    Message {
        /// 1-based stack index of the argument.
        idx: c_int,
        /// The text in parentheses.
        msg: String,
    },
}

impl ArgError {
    /// A message error for argument `idx`.
    pub fn msg(idx: c_int, msg: impl Into<String>) -> Self {
        ArgError::Message {
            idx,
            msg: msg.into(),
        }
    }
}

/// Why a generated body did not produce its results.
#[doc(hidden)]
#[derive(Debug)]
pub enum CallError {
    /// A bad argument: raised as a Lua string error, exactly like `luaL_argerror`.
    Arg(ArgError),
    /// Anything else (a conversion failure, a Lua error from a callback):
    /// raised as a luamod error value.
    Raise(LuaError),
    /// Raised as a plain string with the caller's position, like
    /// `luaL_error`.
    Message(String),
    /// Not raised: returned to Lua as `nil, err` (a refused permission).
    Return(LuaError),
    /// A Lua error raised by Lua code the export called (through mlua),
    /// raised again unchanged.
    Rethrow(String),
}

impl From<ArgError> for CallError {
    fn from(e: ArgError) -> Self {
        CallError::Arg(e)
    }
}

impl From<mlua::Error> for CallError {
    /// A Lua error from a callback is raised again as the same message
    /// (without the traceback mlua appends); a `LuaError` carried by mlua is
    /// raised as that error value; anything else as an `INTERNAL` error.
    fn from(e: mlua::Error) -> Self {
        match e {
            mlua::Error::CallbackError { cause, .. } => (*cause).clone().into(),
            mlua::Error::RuntimeError(msg) => {
                CallError::Rethrow(crate::error::split_traceback(&msg).0.to_owned())
            }
            other => CallError::Raise(LuaError::from_mlua(other)),
        }
    }
}

/// The context of one call of an export: the Lua stack it reads and writes.
pub struct CallCx {
    state: *mut lua_State,
    info: &'static ExportInfo,
    lua: OnceCell<&'static mlua::Lua>,
    /// Userdata borrows taken by `&T`/`&mut T` parameters, released when
    /// the call ends (see [`crate::userdata`]). The first few are kept
    /// inline: a method call must not allocate.
    borrows: [Cell<Option<&'static Cell<isize>>>; INLINE_BORROWS],
    more_borrows: std::cell::RefCell<Vec<&'static Cell<isize>>>,
    /// The security context, looked up on first use.
    context: OnceCell<std::sync::Arc<crate::security::Context>>,
    /// Set by a `Yield` result: suspend the process with this continuation
    /// once the call's Rust values are dropped.
    yield_k: Cell<Option<Suspend>>,
}

const INLINE_BORROWS: usize = 4;

impl Drop for CallCx {
    fn drop(&mut self) {
        for slot in &self.borrows {
            if let Some(flag) = slot.take() {
                crate::userdata::release(flag);
            }
        }
        for flag in self.more_borrows.get_mut().drain(..) {
            crate::userdata::release(flag);
        }
    }
}

impl CallCx {
    /// The raw state of the running call.
    #[inline(always)]
    pub fn state(&self) -> *mut lua_State {
        self.state
    }

    /// Number of arguments the call received.
    #[inline(always)]
    pub fn top(&self) -> c_int {
        // SAFETY: `state` is the live state of the running C function.
        unsafe { ffi::lua_gettop(self.state) }
    }

    /// The mlua handle of this state (for `lua: &Lua` parameters and for
    /// converting mlua values).
    pub fn lua(&self) -> &mlua::Lua {
        self.lua.get_or_init(|| {
            // SAFETY: every state that can call a luamod export was created
            // through mlua (`lua_with`, `Runtime`), so its `Lua` exists and
            // outlives this call; the reference does not escape the call
            // (`CallCx` is only lent to the body, never stored).
            unsafe { mlua::Lua::get_or_init_from_ptr(self.state) }
        })
    }

    /// The security context of the running call: the runtime process's,
    /// else the one set on a plain state with [`crate::set_context`], else
    /// none (every permission denied).
    pub fn context(&self) -> &crate::security::Context {
        self.context.get_or_init(|| {
            crate::runtime::current_context()
                .or_else(|| {
                    self.lua()
                        .app_data_ref::<std::sync::Arc<crate::security::Context>>()
                        .map(|c| c.clone())
                })
                .unwrap_or_else(|| std::sync::Arc::new(crate::security::Context::none().clone()))
        })
    }

    /// Static facts about the export being called.
    pub fn info(&self) -> &'static ExportInfo {
        self.info
    }

    /// Asks `call` to yield (with the value the export pushed) and to resume
    /// in `k`.
    pub(crate) fn request_yield(&self, k: ffi::lua_KFunction) {
        self.yield_k.set(Some(Suspend::Yield(k)));
    }

    /// Asks `call` to call the function pushed below `nargs` arguments in
    /// protected, yieldable mode, continuing in `k` with `ctx`.
    pub(crate) fn request_pcall(
        &self,
        nargs: c_int,
        ctx: ffi::lua_KContext,
        k: ffi::lua_KFunction,
    ) {
        self.yield_k.set(Some(Suspend::PCall { nargs, ctx, k }));
    }

    /// Remembers a userdata borrow to release when the call ends.
    ///
    /// The `'static` is a lie the caller must uphold: `flag` lives in a
    /// userdata anchored on this call's stack, so it outlives the call.
    pub(crate) fn hold_borrow(&self, flag: &'static Cell<isize>) {
        match self.borrows.iter().find(|s| s.get().is_none()) {
            Some(slot) => slot.set(Some(flag)),
            None => self.more_borrows.borrow_mut().push(flag),
        }
    }
}

const RAISE: c_int = -1;

/// Runs a generated export body. See the module docs for the error rule.
///
/// # Safety
/// `state` must be the state of a running Lua C function call.
#[doc(hidden)]
#[inline(always)]
pub unsafe fn call<F>(state: *mut lua_State, info: &'static ExportInfo, body: F) -> c_int
where
    F: FnOnce(&CallCx) -> Result<c_int, CallError>,
{
    // SAFETY: forwarded from our caller.
    let (n, yield_k) = unsafe { run(state, info, body) };
    if n == RAISE {
        // SAFETY: `run` has returned, so every Rust value it or `body` owned
        // is dropped; this frame holds only `state` and `n`. The error value
        // is on top of the stack, where `run` left it.
        unsafe { ffi::lua_error(state) }
    }
    match yield_k {
        // SAFETY: as above, nothing here needs dropping; `Yield` checked
        // that the running coroutine can yield, and pushed the one value.
        Some(Suspend::Yield(k)) => unsafe { ffi::lua_yieldk(state, n, 0, Some(k)) },
        // SAFETY: as above; `Invoke` pushed the function and `nargs`
        // arguments. If the callee yields, lua_pcallk leaves this frame by
        // longjmp and Lua later runs `k`; if not, we run `k` ourselves.
        Some(Suspend::PCall { nargs, ctx, k }) => unsafe {
            let status = ffi::lua_pcallk(state, nargs, ffi::LUA_MULTRET, 0, ctx, Some(k));
            k(state, status, ctx)
        },
        None => n,
    }
}

#[inline(always)]
unsafe fn run<F>(
    state: *mut lua_State,
    info: &'static ExportInfo,
    body: F,
) -> (c_int, Option<Suspend>)
where
    F: FnOnce(&CallCx) -> Result<c_int, CallError>,
{
    let cx = CallCx {
        state,
        info,
        lua: OnceCell::new(),
        borrows: Default::default(),
        more_borrows: std::cell::RefCell::new(Vec::new()),
        yield_k: Cell::new(None),
        context: OnceCell::new(),
    };
    let n = match catch_unwind(AssertUnwindSafe(|| body(&cx))) {
        Ok(Ok(n)) => n,
        Ok(Err(CallError::Arg(e))) => {
            // SAFETY: live state; pushes one string.
            unsafe { push_arg_error(state, info, e) };
            RAISE
        }
        Ok(Err(CallError::Raise(e))) => {
            push_error_value(&cx, e);
            RAISE
        }
        Ok(Err(CallError::Return(e))) => {
            match crate::ret::IntoReturn::push_return(Err::<(), LuaError>(e), &cx) {
                Ok(n) => n,
                Err(_) => {
                    // SAFETY: live state; pushes one string.
                    unsafe { push_str(state, "cannot report a refused permission") };
                    RAISE
                }
            }
        }
        Ok(Err(CallError::Rethrow(m))) => {
            // SAFETY: live state; pushes one string.
            unsafe { push_str(state, &m) };
            RAISE
        }
        Ok(Err(CallError::Message(m))) => {
            // SAFETY: live state; pushes one string.
            unsafe {
                ffi::luaL_where(state, 1);
                push_str(state, &m);
                ffi::lua_concat(state, 2);
            }
            RAISE
        }
        Err(payload) => {
            let what = panic_message(&payload);
            let e = LuaError::new(
                ErrorKind::Internal,
                format!("panic in '{}.{}': {what}", info.module, info.name),
            );
            drop(payload);
            push_error_value(&cx, e);
            RAISE
        }
    };
    let k = if n == RAISE { None } else { cx.yield_k.get() };
    (n, k)
}

#[cold]
fn push_error_value(cx: &CallCx, mut e: LuaError) {
    // SAFETY: live state; each branch leaves exactly one value pushed.
    unsafe {
        if e.stack.is_none() {
            e.stack = Some(traceback(cx.state));
        }
        if ffi::lua_checkstack(cx.state, 2) == 0 {
            return push_str(cx.state, &e.to_string());
        }
        let text = e.to_string();
        match crate::bridge::push_into(cx, e) {
            Ok(()) => {}
            Err(_) => push_str(cx.state, &text),
        }
    }
}

fn panic_message(payload: &Box<dyn std::any::Any + Send>) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_owned()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "non-string panic payload".to_owned()
    }
}

/// The Lua traceback of the calling code (level 1: the caller of the export).
///
/// # Safety
/// `state` must be a live state with room for one value.
pub(crate) unsafe fn traceback(state: *mut lua_State) -> String {
    // SAFETY: luaL_traceback pushes one string; we copy and pop it.
    unsafe {
        ffi::luaL_traceback(state, state, std::ptr::null(), 1);
        let s = to_string_lossy(state, -1);
        ffi::lua_pop(state, 1);
        s
    }
}

/// # Safety
/// `idx` must be a valid index of a string (or number) value.
unsafe fn to_string_lossy(state: *mut lua_State, idx: c_int) -> String {
    let mut len = 0usize;
    // SAFETY: lua_tolstring returns a pointer to `len` bytes owned by the
    // value at `idx`, which stays on the stack while we copy it.
    unsafe {
        let p = ffi::lua_tolstring(state, idx, &mut len);
        if p.is_null() {
            return String::new();
        }
        String::from_utf8_lossy(std::slice::from_raw_parts(p as *const u8, len)).into_owned()
    }
}

/// # Safety
/// Live state with room for one value.
pub(crate) unsafe fn push_str(state: *mut lua_State, s: &str) {
    // SAFETY: lua_pushlstring copies `s`.
    unsafe { ffi::lua_pushlstring(state, s.as_ptr().cast(), s.len()) };
}

/// The type name Lua's `luaL_typeerror` would print for the value at `idx`:
/// the `__name` metafield if it is a string, `light userdata`, or the basic
/// type name (`no value` past the top).
///
/// # Safety
/// Live state with room for one value.
pub(crate) unsafe fn type_name_at(state: *mut lua_State, idx: c_int) -> String {
    // SAFETY: luaL_getmetafield pushes a value only when it returns non-nil.
    unsafe {
        let t = ffi::luaL_getmetafield(state, idx, c"__name".as_ptr());
        if t == ffi::LUA_TSTRING {
            let s = to_string_lossy(state, -1);
            ffi::lua_pop(state, 1);
            return s;
        } else if t != ffi::LUA_TNIL {
            ffi::lua_pop(state, 1);
        }
        let ty = ffi::lua_type(state, idx);
        if ty == ffi::LUA_TLIGHTUSERDATA {
            return "light userdata".to_owned();
        }
        CStr::from_ptr(ffi::lua_typename(state, ty))
            .to_string_lossy()
            .into_owned()
    }
}

/// Renders an argument error's parenthesised detail while the offending
/// value is still on the stack: `(argument index, detail)`.
///
/// # Safety
/// Live state with room for one value; for `Type` errors `idx` must still
/// hold the offending value.
pub(crate) unsafe fn render(state: *mut lua_State, e: ArgError) -> (c_int, String) {
    match e {
        ArgError::Type { idx, expected } => {
            // SAFETY: forwarded.
            let got = unsafe { type_name_at(state, idx) };
            (idx, format!("{expected} expected, got {got}"))
        }
        ArgError::Message { idx, msg } => (idx, msg),
    }
}

/// Pushes the message `luaL_argerror` would raise, with one difference:
/// where Lua would print `'?'` (no call-site name, as in `pcall(m.f)`, because
/// it cannot see through the read-only module proxy), we print the export's
/// qualified name `m.f`, which is what Lua prints for an unproxied table.
///
/// # Safety
/// Live state, called from the export's own C frame (level 0).
#[cold]
unsafe fn push_arg_error(state: *mut lua_State, info: &ExportInfo, e: ArgError) {
    // SAFETY: debug API on the running C function (level 0) and its caller
    // (level 1, via luaL_where); all pushes are balanced below.
    unsafe {
        let (mut idx, detail) = render(state, e);
        if info.kind == ExportKind::Setter {
            // Level 1 is the class's `__newindex`; level 2 the assignment.
            ffi::luaL_where(state, 2);
            push_str(
                state,
                &format!(
                    "invalid value for field '{}' of {} ({detail})",
                    info.name, info.module
                ),
            );
            ffi::lua_concat(state, 2);
            return;
        }
        let mut ar: ffi::lua_Debug = std::mem::zeroed();
        let mut fname: Option<String> = None;
        let mut method = false;
        if ffi::lua_getstack(state, 0, &mut ar) != 0 {
            ffi::lua_getinfo(state, c"n".as_ptr(), &mut ar);
            if !ar.namewhat.is_null() && CStr::from_ptr(ar.namewhat) == c"method" {
                method = true;
            }
            if !ar.name.is_null() {
                fname = Some(CStr::from_ptr(ar.name).to_string_lossy().into_owned());
            }
        }
        let fname = fname.unwrap_or_else(|| format!("{}.{}", info.module, info.name));
        let msg = if method && idx == 1 {
            format!("calling '{fname}' on bad self ({detail})")
        } else {
            if method {
                idx -= 1;
            }
            format!("bad argument #{idx} to '{fname}' ({detail})")
        };
        ffi::luaL_where(state, 1);
        push_str(state, &msg);
        ffi::lua_concat(state, 2);
    }
}
