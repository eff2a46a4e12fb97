//! Where a yielded command waits for the scheduler and how its result
//! comes back: per-thread slots the exports and the worker share. No Lua
//! value is made for a command; the export yields a sentinel (a light
//! userdata) instead.
//!
//! This must never yield outside a luamod process: [`park`] checks first
//! and reports a clear error instead.

use std::any::{Any, TypeId};
use std::cell::RefCell;
use std::ffi::{c_int, c_void};
use std::panic::{AssertUnwindSafe, catch_unwind};

use mlua::ffi::{self, lua_State};

use crate::call::{CallCx, CallError};
use crate::command::{BoxTask, Command, CommandId, ErasedHandler, HandlerCx};
use crate::error::{ErrorKind, LuaError};

/// A command parked by an export, waiting for the scheduler.
pub(crate) struct Parked {
    pub id: CommandId,
    pub name: &'static str,
    /// An `Option<C>` holding the command, for the handler to take.
    cmd: Box<dyn Any + Send>,
    /// Empties `cmd` (drops a command its handler left in it).
    clear: fn(&mut dyn Any),
    /// `Then`'s mapping function, kept by the process until it resumes.
    pub map: Option<Box<dyn Any>>,
}

/// What the scheduler hands the continuation: the finished handler, its
/// output inside (or the failure met instead: no handler, a cancelled
/// wait), and the parked mapping function, if any.
pub(crate) struct Delivery {
    /// The failure is boxed: a delivery is moved through the thread-local
    /// on every yield, and small is cheap to move.
    pub result: Result<BoxTask, Box<LuaError>>,
    /// A continuation took the task's output (set by `delivered`).
    pub spent: bool,
    pub map: Option<Box<dyn Any>>,
}

thread_local! {
    /// The command the last yielding export parked on this thread.
    static PARKED: RefCell<Parking> = const {
        RefCell::new(Parking {
            parked: None,
            spare: None,
        })
    };
    /// The result the scheduler hands to the next continuation.
    pub(crate) static COMPLETED: RefCell<Option<Delivery>> = const { RefCell::new(None) };
    /// The process thread the runtime worker on this thread is resuming
    /// (null between steps).
    static STEPPING: std::cell::Cell<*mut lua_State> = const { std::cell::Cell::new(std::ptr::null_mut()) };
    /// The main state of the runtime worker on this thread, if any.
    pub(crate) static WORKER_STATE: std::cell::Cell<*mut lua_State> = const { std::cell::Cell::new(std::ptr::null_mut()) };
    /// Whether every coroutine between the running one and the scheduler
    /// can pass a yield up (false inside a coroutine resumed from a C
    /// function that cannot yield, such as a `table.sort` comparator).
    static CHAIN_YIELDABLE: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Sets the process thread the worker is about to resume (null once the
/// step is over); returns the previous one.
pub(crate) fn set_stepping(state: *mut lua_State) -> *mut lua_State {
    STEPPING.with(|s| s.replace(state))
}

/// Sets whether the chain of resumers up to the scheduler can yield;
/// returns the previous value (the scheduler sets it for each step, and
/// `coroutine.resume` narrows it while it runs a coroutine).
pub(crate) fn set_chain_yieldable(can: bool) -> bool {
    CHAIN_YIELDABLE.with(|c| c.replace(can))
}

/// Whether the running code can yield all the way to the scheduler.
///
/// # Safety
/// `state` is the running Lua thread.
pub(crate) unsafe fn can_yield_to_scheduler(state: *mut lua_State) -> bool {
    // SAFETY: a status query on the running thread.
    CHAIN_YIELDABLE.with(|c| c.get()) && unsafe { crate::ffi::vm::is_yieldable(state) }
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
    // The usual case, without asking Lua for the main thread: the export
    // runs on the process thread the worker is resuming.
    if STEPPING.with(|s| s.get()) == state {
        return true;
    }
    // SAFETY: live state; one value pushed and popped.
    unsafe { crate::ffi::vm::main_thread(state) == worker }
}

/// Checks that a yield is possible here, parks the command, pushes the
/// sentinel and asks `call` to yield with `k` as the continuation.
pub(crate) fn park<C: Command>(
    cx: &CallCx,
    cmd: C,
    map: Option<Box<dyn Any>>,
    k: crate::ffi::vm::KFunction,
) -> Result<c_int, CallError> {
    let state = cx.state();
    if !cfg!(feature = "lua54") {
        return Err(CallError::Message(format!(
            "'{}' waits on the outside world ({}), which needs a luamod process; \
             luamod runs processes on Lua 5.4 only (this build uses another Lua)",
            cx.info().name,
            C::NAME
        )));
    }
    if !in_worker(state) {
        return Err(CallError::Message(format!(
            "'{}' waits on the outside world ({}), so it can only run inside a luamod \
             process (Runtime::run or spawn), not in a plain Lua state",
            cx.info().name,
            C::NAME
        )));
    }
    // SAFETY: `state` is the running thread.
    if !unsafe { can_yield_to_scheduler(state) } {
        return Err(CallError::Message(format!(
            "'{}' cannot wait here: it was called through a C function that cannot be \
             suspended (a metamethod of a Rust object, table.sort, string.gsub, ...)",
            cx.info().name
        )));
    }
    PARKED.with(|p| {
        let mut p = p.borrow_mut();
        // The slot kept from the last command, if it was of this type.
        let cmd = match p.spare.take() {
            Some((t, mut slot)) if t == TypeId::of::<Option<C>>() => {
                match slot.downcast_mut::<Option<C>>() {
                    Some(c) => {
                        *c = Some(cmd);
                        slot
                    }
                    None => Box::new(Some(cmd)),
                }
            }
            other => {
                p.spare = other;
                Box::new(Some(cmd))
            }
        };
        p.parked = Some(Parked {
            id: C::ID,
            name: C::NAME,
            cmd,
            clear: clear::<C>,
            map,
        });
    });
    // SAFETY: a C function always has LUA_MINSTACK free slots.
    unsafe { ffi::lua_pushlightuserdata(state, sentinel()) };
    cx.request_yield(k);
    Ok(1)
}

impl Parked {
    /// Starts `handler` on the parked command, in the allocation of
    /// `spare` (a finished task) when the handler can reuse it. A spare it
    /// did not take is dropped here (run this where a panic is caught: a
    /// task's `Drop` is handler code).
    #[inline]
    pub(crate) fn start(
        &mut self,
        handler: &dyn ErasedHandler,
        cx: HandlerCx,
        spare: &mut Option<BoxTask>,
    ) -> BoxTask {
        let task = handler.start_reusing(&mut *self.cmd, cx, spare);
        *spare = None;
        task
    }

    /// Keeps the command's slot, emptied, for the next command of its type
    /// parked on this thread, once the handler has started: a yield then
    /// allocates no box for its command. The kept slot holds no command,
    /// so nothing of one process reaches another through it.
    pub(crate) fn recycle(self) {
        let Parked { mut cmd, clear, .. } = self;
        // A command its handler left behind is dropped here. Its `Drop` is
        // host code: on a panic the slot is leaked (neither kept nor
        // dropped again).
        if let Err(payload) = catch_unwind(AssertUnwindSafe(|| clear(&mut *cmd))) {
            std::mem::forget(payload);
            std::mem::forget(cmd);
            return;
        }
        // The type of the box's contents (`Option<C>`), not of the box.
        let id = (*cmd).type_id();
        PARKED.with(|p| p.borrow_mut().spare = Some((id, cmd)));
    }
}

/// The command the last yielding export parked on this thread, taken by
/// the worker after the step.
pub(crate) fn take_parked() -> Option<Parked> {
    PARKED.with(|p| p.borrow_mut().parked.take())
}

/// What a worker thread keeps for yields: the parked command, and one
/// emptied command slot for reuse.
pub(crate) struct Parking {
    parked: Option<Parked>,
    spare: Option<(TypeId, Box<dyn Any + Send>)>,
}

fn clear<C: Command>(slot: &mut dyn Any) {
    if let Some(c) = slot.downcast_mut::<Option<C>>() {
        *c = None;
    }
}

/// A `Then` mapping function, type-erased while the process waits.
type ErasedMap = Option<Box<dyn Any>>;

/// Takes the delivered result for `C` (or the failure the scheduler put
/// in its place) and the mapping function, if any.
///
/// A task whose output it moves out stays in the delivery, marked spent,
/// for the worker to take back after the step and reuse (see
/// [`spent_task`]): a round trip then allocates no task.
pub(crate) fn delivered<C: Command>() -> (Result<C::Output, LuaError>, ErasedMap) {
    let d = COMPLETED.with(|c| {
        let mut c = c.borrow_mut();
        let d = c.as_mut()?;
        if let Ok(task) = &mut d.result {
            // Moved out of the task with no box of its own.
            let mut out: Option<Result<C::Output, LuaError>> = None;
            if task.as_mut().take_output(&mut out) {
                d.spent = true;
                let r = out.unwrap_or_else(|| Err(another_type::<C>()));
                return Some(Ok((r, d.map.take())));
            }
        }
        c.take().map(Err)
    });
    let d = match d {
        Some(Ok(taken)) => return taken,
        Some(Err(d)) => d,
        None => {
            let e = LuaError::new(
                ErrorKind::Internal,
                format!("no result was delivered for command '{}'", C::NAME),
            );
            return (Err(e), None);
        }
    };
    let result = match d.result {
        Err(e) => Err(*e),
        // A task that keeps its output boxed hands the box.
        Ok(mut task) => match task.as_mut().take_boxed().map(|b| b.downcast()) {
            Some(Ok(r)) => *r,
            _ => Err(another_type::<C>()),
        },
    };
    (result, d.map)
}

/// After a step: what is left of the delivery, if anything, and the task
/// in it if a continuation took its output (the worker's next handler may
/// reuse its allocation; it holds no output, and a finished future, so
/// nothing of one process reaches another through it).
#[inline]
pub(crate) fn spent_task() -> (Option<BoxTask>, Option<Delivery>) {
    match COMPLETED.with(|c| c.borrow_mut().take()) {
        Some(Delivery {
            result: Ok(task),
            spent: true,
            ..
        }) => (Some(task), None),
        left => (None, left),
    }
}

#[cold]
fn another_type<C: Command>() -> LuaError {
    LuaError::new(
        ErrorKind::Internal,
        format!(
            "command '{}' completed without a result of its type \
             (its handler panicked, or answered another type)",
            C::NAME
        ),
    )
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;

    static DROPPED: AtomicUsize = AtomicUsize::new(0);

    struct Secret(#[allow(dead_code)] String);
    impl Drop for Secret {
        fn drop(&mut self) {
            DROPPED.fetch_add(1, Ordering::SeqCst);
        }
    }
    impl Command for Secret {
        const ID: CommandId = CommandId(902);
        const NAME: &'static str = "t.secret";
        type Output = ();
    }

    /// A slot kept for the next command holds no command: one its handler
    /// left behind is dropped when the slot is kept, so the next process
    /// to yield that command type cannot come near it.
    #[test]
    fn a_kept_slot_is_empty_even_when_its_handler_left_the_command() {
        let parked = Parked {
            id: Secret::ID,
            name: Secret::NAME,
            cmd: Box::new(Some(Secret("process 1's token".into()))),
            clear: clear::<Secret>,
            map: None,
        };
        let before = DROPPED.load(Ordering::SeqCst);
        parked.recycle();
        assert_eq!(DROPPED.load(Ordering::SeqCst), before + 1);
        let kept = PARKED.with(|p| p.borrow_mut().spare.take());
        let (id, mut slot) = kept.expect("the slot is kept");
        assert_eq!(id, TypeId::of::<Option<Secret>>());
        assert!(slot.downcast_mut::<Option<Secret>>().unwrap().is_none());
    }
}
