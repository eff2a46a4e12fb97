//! Commands: plain data a Lua process yields to the outside world.
//!
//! An export returning [`Yield<C>`] parks the command in this worker
//! thread's slot and yields a sentinel (a light userdata) with a
//! continuation; no Lua value is made for the command. The scheduler takes
//! the parked command, runs its handler, stores the result in the thread's
//! completion slot and resumes the process; the continuation
//! ([`resume_k`]) pushes the result with [`Command::complete`].
//!
//! This module must never yield outside a luamod process: [`Yield`]
//! checks first and raises a clear error instead.

use std::any::Any;
use std::cell::RefCell;
use std::ffi::{c_int, c_void};
use std::fmt;

use mlua::ffi::{self, lua_State};

use crate::call::{CallCx, CallError, ExportInfo, ExportKind};
use crate::error::LuaError;
use crate::ret::IntoReturn;
use crate::runtime::dispatch::ErasedHandler;

/// A command's numeric id. Ids below 256 are reserved for the runtime.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CommandId(pub u16);

impl CommandId {
    /// The first id modules may use.
    pub const FIRST_CUSTOM: u16 = 256;

    /// A stable id in the custom range derived from `name` (FNV-1a), used
    /// for `async fn` exports without an explicit `command = N`.
    ///
    /// ```
    /// use luamod::CommandId;
    /// assert_eq!(CommandId::derive("time.sleep"), CommandId::derive("time.sleep"));
    /// assert!(CommandId::derive("time.sleep").0 >= 256);
    /// ```
    pub const fn derive(name: &str) -> CommandId {
        let bytes = name.as_bytes();
        let mut h: u32 = 0x811c_9dc5;
        let mut i = 0;
        while i < bytes.len() {
            h ^= bytes[i] as u32;
            h = h.wrapping_mul(0x0100_0193);
            i += 1;
        }
        let span = (u16::MAX as u32) - (Self::FIRST_CUSTOM as u32) + 1;
        CommandId((Self::FIRST_CUSTOM as u32 + h % span) as u16)
    }
}

impl fmt::Display for CommandId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// What a module declares about a command it may yield.
#[derive(Debug)]
pub struct CommandDef {
    /// The id.
    pub id: CommandId,
    /// The name (`time.sleep`).
    pub name: &'static str,
    /// The module's handler for it, if it brings one.
    pub default_handler: fn() -> Option<std::sync::Arc<dyn ErasedHandler>>,
}

/// A request a Lua process yields; a handler answers it with `Output`.
///
/// Usually derived: `#[derive(Command)] #[command(id = 300, name = "time.sleep", output = ())]`.
/// Implement it by hand to override [`complete`](Command::complete), i.e.
/// how the result reaches Lua.
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a command",
    note = "derive it: `#[derive(Command)] #[command(id = N, name = \"mod.name\", output = T)]`"
)]
pub trait Command: Send + 'static {
    /// The id.
    const ID: CommandId;
    /// The name.
    const NAME: &'static str;
    /// The handler's successful result.
    type Output: IntoReturn + Send + 'static;
    /// The declaration listed in a module's `commands`.
    const DEF: CommandDef = CommandDef {
        id: Self::ID,
        name: Self::NAME,
        default_handler: Self::default_handler,
    };

    /// Pushes the handler's result for Lua: by default `v` on success and
    /// `nil, err` on failure.
    fn complete(result: Result<Self::Output, LuaError>, cx: &CallCx) -> Result<c_int, CallError> {
        match result {
            Ok(v) => v.push_return(cx),
            Err(e) => Err::<Self::Output, LuaError>(e).push_return(cx),
        }
    }

    /// The handler the command's module provides, if any.
    fn default_handler() -> Option<std::sync::Arc<dyn ErasedHandler>> {
        None
    }
}

/// Returned by an export to suspend the process until `C` is handled.
#[derive(Debug)]
pub struct Yield<C>(pub C);

/// Returned by an export to suspend the process until `C` is handled, then
/// return `f(output)` instead of the output (errors still return
/// `nil, err`). `f` runs on the process's thread and may capture Lua-side
/// state (it need not be `Send`). `f` takes the place of
/// [`Command::complete`] for this call.
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

/// A command parked by an export, waiting for the scheduler.
pub(crate) struct Parked {
    pub id: CommandId,
    pub name: &'static str,
    pub cmd: Box<dyn Any + Send>,
    /// `Then`'s mapping function, kept by the process until it resumes.
    pub map: Option<Box<dyn Any>>,
}

/// What the scheduler hands the continuation: the handler's boxed result
/// and the parked mapping function, if any.
pub(crate) struct Delivery {
    pub result: Box<dyn Any + Send>,
    pub map: Option<Box<dyn Any>>,
}

thread_local! {
    /// The command the last yielding export parked on this thread.
    pub(crate) static PARKED: RefCell<Option<Parked>> = const { RefCell::new(None) };
    /// The result the scheduler hands to the next continuation.
    pub(crate) static COMPLETED: RefCell<Option<Delivery>> = const { RefCell::new(None) };
    /// The context of the process the worker is running right now.
    pub(crate) static CURRENT_CONTEXT: RefCell<Option<std::sync::Arc<crate::security::Context>>> = const { RefCell::new(None) };
    /// The main state of the runtime worker on this thread, if any.
    pub(crate) static WORKER_STATE: std::cell::Cell<*mut lua_State> = const { std::cell::Cell::new(std::ptr::null_mut()) };
}

static SENTINEL: u8 = 0;

/// The light userdata a yielding export yields.
pub(crate) fn sentinel() -> *mut c_void {
    &SENTINEL as *const u8 as *mut c_void
}

/// Whether `state` belongs to a runtime worker on this thread.
fn in_worker(state: *mut lua_State) -> bool {
    let worker = WORKER_STATE.with(|w| w.get());
    if worker.is_null() {
        return false;
    }
    // SAFETY: live state; one value pushed and popped.
    unsafe {
        ffi::lua_rawgeti(state, ffi::LUA_REGISTRYINDEX, ffi::LUA_RIDX_MAINTHREAD);
        let main = ffi::lua_tothread(state, -1);
        ffi::lua_pop(state, 1);
        main == worker
    }
}

/// Checks that a yield is possible here, parks the command, pushes the
/// sentinel and asks `call` to yield with `k` as the continuation.
fn park<C: Command>(
    cx: &CallCx,
    cmd: C,
    map: Option<Box<dyn Any>>,
    k: ffi::lua_KFunction,
) -> Result<c_int, CallError> {
    let state = cx.state();
    if !in_worker(state) {
        return Err(CallError::Message(format!(
            "'{}' waits on the outside world ({}), so it can only run inside a luamod \
             process (Runtime::run or spawn), not in a plain Lua state",
            cx.info().name,
            C::NAME
        )));
    }
    // SAFETY: live state.
    if unsafe { ffi::lua_isyieldable(state) } == 0 {
        return Err(CallError::Message(format!(
            "'{}' cannot wait here: it was called through a C function that cannot be \
             suspended (a metamethod of a Rust object, table.sort, string.gsub, ...)",
            cx.info().name
        )));
    }
    PARKED.with(|p| {
        *p.borrow_mut() = Some(Parked {
            id: C::ID,
            name: C::NAME,
            cmd: Box::new(cmd),
            map,
        })
    });
    // SAFETY: a C function always has LUA_MINSTACK free slots.
    unsafe { ffi::lua_pushlightuserdata(state, sentinel()) };
    cx.request_yield(k);
    Ok(1)
}

impl<C: Command> IntoReturn for Yield<C> {
    fn push_return(self, cx: &CallCx) -> Result<c_int, CallError> {
        park(cx, self.0, None, resume_k::<C>)
    }
}

impl<C: Command, T: IntoReturn + 'static> IntoReturn for Then<C, T> {
    fn push_return(self, cx: &CallCx) -> Result<c_int, CallError> {
        park(
            cx,
            self.cmd,
            Some(Box::new(self.map)),
            resume_then_k::<C, T>,
        )
    }
}

/// Takes the delivered result for `C` (or the failure the scheduler put
/// in its place) and the mapping function, if any.
/// A `Then` mapping function, type-erased while the process waits.
type ErasedMap = Option<Box<dyn Any>>;

fn delivered<C: Command>() -> (Result<C::Output, LuaError>, ErasedMap) {
    let Some(d) = COMPLETED.with(|c| c.borrow_mut().take()) else {
        let e = LuaError::new(
            crate::ErrorKind::Internal,
            format!("no result was delivered for command '{}'", C::NAME),
        );
        return (Err(e), None);
    };
    let result = match d.result.downcast::<Result<C::Output, LuaError>>() {
        Ok(r) => *r,
        Err(other) => match other.downcast::<crate::runtime::worker::Failed>() {
            Ok(f) => Err(f.0),
            Err(_) => Err(LuaError::new(
                crate::ErrorKind::Internal,
                format!(
                    "command '{}' completed with a result of another type",
                    C::NAME
                ),
            )),
        },
    };
    (result, d.map)
}

/// What a continuation reports its errors as: the command's name.
fn k_info<C: Command>() -> &'static ExportInfo {
    const {
        &ExportInfo {
            module: C::NAME,
            name: C::NAME,
            kind: ExportKind::Function,
        }
    }
}

/// The continuation of a `Then` export: maps the output, then pushes it.
unsafe extern "C-unwind" fn resume_then_k<C: Command, T: IntoReturn + 'static>(
    state: *mut lua_State,
    _status: c_int,
    _ctx: ffi::lua_KContext,
) -> c_int {
    let info = k_info::<C>();
    // SAFETY: as resume_k.
    unsafe {
        crate::call::call(state, info, |cx| {
            let (result, map) = delivered::<C>();
            let map = map.and_then(|m| m.downcast::<Box<dyn FnOnce(C::Output) -> T>>().ok());
            match (result, map) {
                (Ok(v), Some(f)) => (*f)(v).push_return(cx),
                (Ok(_), None) => Err(CallError::Raise(LuaError::new(
                    crate::ErrorKind::Internal,
                    format!("the continuation of '{}' lost its mapping", C::NAME),
                ))),
                (Err(e), _) => Err::<T, LuaError>(e).push_return(cx),
            }
        })
    }
}

/// The continuation of a yielding export: pushes the handled result.
unsafe extern "C-unwind" fn resume_k<C: Command>(
    state: *mut lua_State,
    _status: c_int,
    _ctx: ffi::lua_KContext,
) -> c_int {
    let info = k_info::<C>();
    // SAFETY: Lua calls the continuation on the resumed coroutine; `call`
    // raises only after dropping every Rust value.
    unsafe {
        crate::call::call(state, info, |cx| {
            let (result, _) = delivered::<C>();
            C::complete(result, cx)
        })
    }
}
