//! Where a command is started and, when its handler cannot answer at
//! once, where it waits for the scheduler and how its result comes back:
//! per-thread slots the exports and the worker share. No Lua value is made
//! for a command; a suspending export yields a sentinel (a light userdata)
//! instead.
//!
//! A command is started by the export that asks it, through the
//! [`Starter`] the worker sets for each step: its handler is started and
//! polled once right there. A handler that is ready at once is answered
//! inside the call (as mlua's async functions are), and the process does
//! not suspend; one that is not is parked, already started, and the export
//! yields until the scheduler has its output.
//!
//! This must never yield outside a luamod process: [`park`] checks first
//! and reports a clear error instead (and it refuses where a yield could
//! not pass, before any handler starts: nothing is started that could not
//! be waited for).

use std::any::Any;
use std::cell::RefCell;
use std::ffi::{c_int, c_void};
use std::panic::{AssertUnwindSafe, catch_unwind};

use mlua::ffi::{self, lua_State};

use crate::call::{CallCx, CallError};
use crate::command::{BoxTask, Command, CommandId};
use crate::error::{ErrorKind, LuaError};

/// A started command whose handler did not answer at once, parked by an
/// export for the scheduler to wait on.
pub(crate) struct Parked {
    /// The started handler, polled once already.
    pub task: BoxTask,
    /// `Then`'s mapping function, kept by the process until it resumes.
    pub map: Option<Box<dyn Any>>,
}

/// What a worker sets for each step: starts handlers for the exports that
/// ask commands.
pub(crate) trait Starter {
    /// Starts the handler of command `id` (`name`) on `cmd`, an `Option<C>`
    /// holding the command, and polls it once. Never unwinds: a handler
    /// that panics is an `INTERNAL` failure.
    fn start(&self, id: CommandId, name: &'static str, cmd: &mut dyn Any) -> Started;
    /// Takes back a task whose output was taken, for reuse.
    fn recycle(&self, task: BoxTask);
}

/// What starting a command gave.
pub(crate) enum Started {
    /// Its output is in the task.
    Ready(BoxTask),
    /// The process must wait for it.
    Pending(BoxTask),
    /// No handler, or one that panicked as it started.
    Failed(LuaError),
}

/// What asking a command gave an export.
pub(crate) enum Asked<O> {
    /// Answered at once, with `Then`'s mapping function handed back.
    Now(Result<O, LuaError>, Option<Box<dyn Any>>),
    /// The export returns this count: the process suspends.
    Waiting(c_int),
}

/// What the scheduler hands the continuation: the finished handler, its
/// output inside, and the parked mapping function, if any.
pub(crate) struct Delivery {
    pub task: BoxTask,
    /// A continuation took the task's output (set by `delivered`).
    pub spent: bool,
    pub map: Option<Box<dyn Any>>,
}

thread_local! {
    /// The started task the last suspending export parked on this thread.
    static PARKED: RefCell<Option<Parked>> = const { RefCell::new(None) };
    /// The starter of the step the worker on this thread runs (none
    /// between steps).
    static STARTER: std::cell::Cell<Option<*const (dyn Starter + 'static)>> = const { std::cell::Cell::new(None) };
    /// The result the scheduler hands to the next continuation.
    pub(crate) static COMPLETED: RefCell<Option<Delivery>> = const { RefCell::new(None) };
    /// The process thread the runtime worker on this thread is resuming
    /// (null between steps).
    static STEPPING: std::cell::Cell<*mut lua_State> = const { std::cell::Cell::new(std::ptr::null_mut()) };
    /// The main state of the runtime worker on this thread, if any.
    pub(crate) static WORKER_STATE: std::cell::Cell<*mut lua_State> = const { std::cell::Cell::new(std::ptr::null_mut()) };
    /// The one Lua thread whose yields reach the scheduler right now: the
    /// process's own during a step, or a coroutine the process resumed
    /// through its `coroutine` library from that thread while it could
    /// yield. Null when no thread can (inside a coroutine resumed from a C
    /// function that cannot yield, such as a `table.sort` comparator).
    /// Any other thread is not it: a coroutine that Rust code resumes (an
    /// export calling mlua's `Thread::resume`) would yield to that Rust
    /// code, not the scheduler, so its commands are refused.
    static CHAIN_TOP: std::cell::Cell<*mut lua_State> = const { std::cell::Cell::new(std::ptr::null_mut()) };
}

/// Sets the process thread the worker is about to resume (null once the
/// step is over); returns the previous one.
pub(crate) fn set_stepping(state: *mut lua_State) -> *mut lua_State {
    STEPPING.with(|s| s.replace(state))
}

/// Sets the thread whose yields reach the scheduler (null: none); returns
/// the previous one. The scheduler sets the process's thread for each
/// step, and `coroutine.resume` hands it on to the coroutine it runs (or
/// null) and takes it back.
pub(crate) fn set_chain_top(state: *mut lua_State) -> *mut lua_State {
    CHAIN_TOP.with(|c| c.replace(state))
}

/// The thread whose yields reach the scheduler now (null: none).
pub(crate) fn chain_top() -> *mut lua_State {
    CHAIN_TOP.with(|c| c.get())
}

/// Whether the running code can yield all the way to the scheduler: it
/// runs on the thread the chain of resumers ends at, in a place where
/// that thread can yield.
///
/// # Safety
/// `state` is the running Lua thread.
pub(crate) unsafe fn can_yield_to_scheduler(state: *mut lua_State) -> bool {
    // SAFETY: a status query on the running thread.
    chain_top() == state && unsafe { crate::ffi::vm::is_yieldable(state) }
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

/// Asks command `cmd` for the running export: checks that a yield would be
/// possible here, then starts its handler through the step's [`Starter`].
/// A handler that answers at once is answered now; one that does not is
/// parked, the sentinel pushed, and `call` asked to yield with `k` as the
/// continuation.
pub(crate) fn park<C: Command>(
    cx: &CallCx,
    cmd: C,
    map: Option<Box<dyn Any>>,
    k: crate::ffi::vm::KFunction,
) -> Result<Asked<C::Output>, CallError> {
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
    let starter = STARTER.with(|s| s.get());
    // SAFETY: `state` is the running thread.
    let (true, Some(starter)) = (unsafe { can_yield_to_scheduler(state) }, starter) else {
        return Err(CallError::Message(format!(
            "'{}' cannot wait here: it was called through a C function that cannot be \
             suspended (a table.sort comparator, a string.gsub callback, an xpcall \
             message handler, a load reader, a metamethod called from C, a callback of a \
             Rust function) or inside a coroutine that Rust code resumes",
            cx.info().name
        )));
    };
    // A handler that is pending must be waited for once it has started
    // (its work would go on for a caller told it failed): an allocation
    // failure this call deferred, converting its arguments, is raised now,
    // before it starts. Between its start and the yield nothing else can
    // fail (nothing allocates in Lua there). A handler ready at once has
    // done its work when the answer is pushed; that push may still run out
    // of memory, as any result may.
    if cx.has_deferred() {
        return Err(CallError::OutOfMemory);
    }
    // SAFETY: set by `with_starter` for the step running now (this call
    // runs inside it, on its thread); it is cleared before the starter it
    // points to is gone.
    let starter = unsafe { &*starter };
    let mut slot = Some(cmd);
    let started = starter.start(C::ID, C::NAME, &mut slot);
    // A command its handler left in the slot, or one no handler took, is
    // dropped now, under a guard: its `Drop` is module code, and a started
    // task must not be unwound past.
    if slot.is_some()
        && let Err(payload) = catch_unwind(AssertUnwindSafe(|| drop(slot.take())))
    {
        std::mem::forget(payload);
    }
    let task = match started {
        Started::Ready(mut task) => {
            let mut out: Option<Result<C::Output, LuaError>> = None;
            let r = if task.as_mut().take_output(&mut out) {
                out.unwrap_or_else(|| Err(another_type::<C>()))
            } else {
                match task.as_mut().take_boxed().map(|b| b.downcast()) {
                    Some(Ok(r)) => *r,
                    _ => Err(another_type::<C>()),
                }
            };
            // Emptied: kept for reuse if it is luamod's own, else dropped
            // under a guard (a host's task is host code).
            if task.reusable() {
                starter.recycle(task);
            } else {
                crate::command::drop_task_guarded(task);
            }
            return Ok(Asked::Now(r, map));
        }
        Started::Failed(e) => return Ok(Asked::Now(Err(e), map)),
        Started::Pending(task) => task,
    };
    let stale = PARKED.with(|p| p.borrow_mut().replace(Parked { task, map }));
    // One suspension per step: a task parked before in this step was
    // never waited for (nothing should leave one). Dropped under a guard.
    if let Some(stale) = stale {
        crate::command::drop_task_guarded(stale.task);
    }
    // SAFETY: a C function always has LUA_MINSTACK free slots.
    unsafe { ffi::lua_pushlightuserdata(state, sentinel()) };
    cx.request_yield(k);
    Ok(Asked::Waiting(1))
}

/// Runs `f` with `starter` as the one exports on this thread start their
/// commands' handlers with (the previous one is restored after, unwinding
/// included).
pub(crate) fn with_starter<R>(starter: &dyn Starter, f: impl FnOnce() -> R) -> R {
    /// Restores the previous starter when dropped.
    struct Restore(Option<*const (dyn Starter + 'static)>);
    impl Drop for Restore {
        fn drop(&mut self) {
            STARTER.with(|s| s.set(self.0));
        }
    }
    let ptr: *const (dyn Starter + '_) = starter;
    // SAFETY: only the lifetime bound of the pointer changes. It is read
    // only while `f` runs (`park`, on this thread), and `Restore` takes it
    // out of the thread-local before this function returns or unwinds, so
    // it is never read after `starter`'s borrow ends.
    let ptr: *const (dyn Starter + 'static) = unsafe { std::mem::transmute(ptr) };
    let _restore = Restore(STARTER.with(|s| s.replace(Some(ptr))));
    f()
}

/// The command the last suspending export parked on this thread, taken by
/// the worker after the step.
pub(crate) fn take_parked() -> Option<Parked> {
    PARKED.with(|p| p.borrow_mut().take())
}

/// A `Then` mapping function, type-erased while the process waits.
type ErasedMap = Option<Box<dyn Any>>;

/// Takes the delivered result for `C` and the mapping function, if any.
///
/// A task whose output it moves out stays in the delivery, marked spent,
/// for the worker to take back after the step and reuse (see
/// [`spent_task`]): a round trip then allocates no task.
pub(crate) fn delivered<C: Command>() -> (Result<C::Output, LuaError>, ErasedMap) {
    let d = COMPLETED.with(|c| {
        let mut c = c.borrow_mut();
        let d = c.as_mut()?;
        // Moved out of the task with no box of its own.
        let mut out: Option<Result<C::Output, LuaError>> = None;
        if d.task.as_mut().take_output(&mut out) {
            d.spent = true;
            let r = out.unwrap_or_else(|| Err(another_type::<C>()));
            return Some(Ok((r, d.map.take())));
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
    // A task that keeps its output boxed hands the box.
    let Delivery { mut task, map, .. } = d;
    let result = match task.as_mut().take_boxed().map(|b| b.downcast()) {
        Some(Ok(r)) => *r,
        _ => Err(another_type::<C>()),
    };
    (result, map)
}

/// After a step: what is left of the delivery, if anything, and the task
/// in it if a continuation took its output (the worker's next handler may
/// reuse its allocation; it holds no output, and a finished future, so
/// nothing of one process reaches another through it).
#[inline]
pub(crate) fn spent_task() -> (Option<BoxTask>, Option<Delivery>) {
    match COMPLETED.with(|c| c.borrow_mut().take()) {
        Some(Delivery {
            task, spent: true, ..
        }) if task.reusable() => (Some(task), None),
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
