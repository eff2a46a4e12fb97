//! Preemption: a process that runs past its time slice is made to yield
//! back to the scheduler, and a process that must stop (`cancel`, its
//! deadline, a forced shutdown) is stopped even while it computes.
//!
//! Lua checks no flag while it runs, and a permanent count hook makes
//! every instruction slower (about 2× on plain Lua code, measured). So the
//! hook is set only when needed, the way Lua's own `lua.c` handles Ctrl-C:
//! a watchdog thread notices a step that has run past its slice (or a stop
//! request for the process it runs) and sends the worker thread a signal
//! (`SIGURG`, which nothing else uses and whose default action is to
//! ignore it). The handler, running on the worker thread, calls
//! `lua_sethook` — the one Lua function meant for asynchronous use — on
//! the Lua thread the worker runs, with a count of one. At the next
//! instruction the hook runs and yields (a count hook may yield in Lua
//! 5.4); where the code cannot yield (a Lua callback inside a C function
//! such as `table.sort`) it tries again a little later, unless the process
//! must stop: then it raises an error at every instruction until the code
//! is back where it can yield. The hook is left installed over the yield
//! (mlua recognises a hook yield by it) and removes itself at the first
//! instruction after the process resumes.
//!
//! Owns: the signal handler, the per-worker [`Slice`], the stop requests,
//! the watchdog thread, the hook. Never: touches a Lua state from any
//! thread but its worker's (the handler runs on the worker's own thread).

use std::cell::Cell;
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use mlua::ffi::{self, lua_State};

use crate::command::Pid;
use crate::error::LuaError;

thread_local! {
    /// The Lua thread this worker is running right now (null: none). Read
    /// by the signal handler.
    static TARGET: Cell<*mut lua_State> = const { Cell::new(std::ptr::null_mut()) };
    /// The step this worker runs, for the hook.
    static STEP: Cell<*const Step> = const { Cell::new(std::ptr::null()) };
    /// Set by the signal handler: the hook should act at its next call.
    static ARMED: AtomicBool = const { AtomicBool::new(false) };
    /// Set by the hook when it yields: the yield is a preemption.
    static PREEMPTED: Cell<bool> = const { Cell::new(false) };
}

/// What the hook needs to know about the running step.
struct Step {
    control: *const Preempt,
    pid: Pid,
    started: Instant,
}

/// The worker thread a slice belongs to, for `pthread_kill`.
#[derive(Clone, Copy)]
struct WorkerThread(libc::pthread_t);

// SAFETY: a pthread_t is an identifier; sending it to the watchdog thread
// only lets that thread name the worker in `pthread_kill`.
unsafe impl Send for WorkerThread {}
// SAFETY: as above; it is never dereferenced.
unsafe impl Sync for WorkerThread {}

/// One worker's running step, as the watchdog sees it.
struct Slice {
    thread: OnceLock<WorkerThread>,
    /// When the running step started (ns since the epoch; 0: none runs).
    started: AtomicU64,
    /// Its process.
    pid: AtomicU64,
    /// When the watchdog last signalled this worker (ns since the epoch).
    signalled: AtomicU64,
}

/// Time slices and stop requests of one runtime's workers.
pub(crate) struct Preempt {
    slices: Vec<Slice>,
    stops: Mutex<HashMap<Pid, LuaError>>,
    stop_all: Mutex<Option<LuaError>>,
    /// Set while `stops` or `stop_all` holds anything (a lock-free check).
    any_stop: AtomicBool,
    slice_ns: u64,
    /// How long a step may go on where it cannot yield.
    unyielding: Duration,
    tick: Duration,
    epoch: Instant,
    /// Workers that have not exited; the watchdog ends with the last.
    live: AtomicUsize,
    watchdog: OnceLock<std::thread::Thread>,
}

impl Preempt {
    /// Preemption for `workers` workers, each process running at most
    /// `slice` before others get their turn, and at most `unyielding`
    /// where it cannot yield.
    pub(crate) fn new(workers: usize, slice: Duration, unyielding: Duration) -> Preempt {
        let slice = slice.max(Duration::from_millis(1));
        Preempt {
            slices: (0..workers)
                .map(|_| Slice {
                    thread: OnceLock::new(),
                    started: AtomicU64::new(0),
                    pid: AtomicU64::new(0),
                    signalled: AtomicU64::new(0),
                })
                .collect(),
            stops: Mutex::new(HashMap::new()),
            stop_all: Mutex::new(None),
            any_stop: AtomicBool::new(false),
            slice_ns: u64::try_from(slice.as_nanos()).unwrap_or(u64::MAX),
            unyielding: unyielding.max(slice),
            // Fine enough that a stop or an overrun is seen within a few
            // milliseconds; a wake-up costs microseconds.
            tick: (slice / 4).clamp(Duration::from_micros(500), Duration::from_millis(5)),
            epoch: Instant::now(),
            live: AtomicUsize::new(workers),
            watchdog: OnceLock::new(),
        }
    }

    fn now(&self) -> u64 {
        u64::try_from(self.epoch.elapsed().as_nanos())
            .unwrap_or(u64::MAX)
            .max(1)
    }

    /// Starts the watchdog thread; it ends when the last worker has exited.
    pub(crate) fn start_watchdog(self: &Arc<Self>) -> std::io::Result<()> {
        let me = self.clone();
        let handle = std::thread::Builder::new()
            .name("luamod-watchdog".to_owned())
            .spawn(move || me.watch())?;
        let _ = self.watchdog.set(handle.thread().clone());
        Ok(())
    }

    fn watch(&self) {
        let tick_ns = u64::try_from(self.tick.as_nanos()).unwrap_or(u64::MAX);
        while self.live.load(Ordering::SeqCst) > 0 {
            std::thread::park_timeout(self.tick);
            let now = self.now();
            for s in &self.slices {
                let started = s.started.load(Ordering::SeqCst);
                if started == 0 {
                    continue;
                }
                let overdue = now.saturating_sub(started) > self.slice_ns;
                let stop = self.must_stop(Pid(s.pid.load(Ordering::SeqCst)));
                // Again every tick while the step goes on: a signal that
                // found the worker switching coroutines may have armed the
                // wrong one.
                let last = s.signalled.load(Ordering::SeqCst);
                let due = last < started || now.saturating_sub(last) >= tick_ns;
                if (overdue || stop)
                    && due
                    && let Some(t) = s.thread.get()
                {
                    s.signalled.store(now, Ordering::SeqCst);
                    signal(*t);
                }
            }
        }
    }

    /// Wakes the watchdog to look now (after a stop request).
    fn nudge(&self) {
        if let Some(t) = self.watchdog.get() {
            t.unpark();
        }
    }

    /// Asks that `pid` stop with `error`; if it is computing it is
    /// interrupted at once.
    pub(crate) fn request_stop(&self, pid: Pid, error: LuaError) {
        if let Ok(mut m) = self.stops.lock() {
            m.insert(pid, error);
            self.any_stop.store(true, Ordering::SeqCst);
        }
        self.nudge();
    }

    /// Asks every process of the runtime to stop with `error`.
    pub(crate) fn request_stop_all(&self, error: LuaError) {
        if let Ok(mut s) = self.stop_all.lock() {
            *s = Some(error);
            self.any_stop.store(true, Ordering::SeqCst);
        }
        self.nudge();
    }

    /// The error `pid` must stop with, if it must.
    pub(crate) fn stop_error(&self, pid: Pid) -> Option<LuaError> {
        if !self.any_stop.load(Ordering::SeqCst) {
            return None;
        }
        if let Some(e) = self.stop_all.lock().ok().and_then(|s| s.clone()) {
            return Some(e);
        }
        self.stops.lock().ok().and_then(|m| m.get(&pid).cloned())
    }

    fn must_stop(&self, pid: Pid) -> bool {
        self.any_stop.load(Ordering::SeqCst)
            && (self.stop_all.lock().is_ok_and(|s| s.is_some())
                || self.stops.lock().is_ok_and(|m| m.contains_key(&pid)))
    }

    /// Forgets the stop request of a process that has ended.
    pub(crate) fn forget(&self, pid: Pid) {
        if !self.any_stop.load(Ordering::SeqCst) {
            return;
        }
        if let Ok(mut m) = self.stops.lock() {
            m.remove(&pid);
        }
    }

    /// Called by worker `index` on its own thread before it runs anything.
    pub(crate) fn attach(&self, index: usize) {
        install_handler();
        // SAFETY: pthread_self has no preconditions.
        let me = WorkerThread(unsafe { libc::pthread_self() });
        let _ = self.slices[index].thread.set(me);
    }

    /// Called by a worker when it exits (or fails to start).
    pub(crate) fn detach(&self) {
        self.live.fetch_sub(1, Ordering::SeqCst);
        self.nudge();
    }

    /// Marks the start of a step of `pid` running Lua thread `state` on
    /// worker `index`; the guard marks its end.
    pub(crate) fn enter_step(
        &self,
        index: usize,
        pid: Pid,
        state: *mut lua_State,
    ) -> StepGuard<'_> {
        let step = Box::new(Step {
            control: self,
            pid,
            started: Instant::now(),
        });
        PREEMPTED.with(|p| p.set(false));
        ARMED.with(|a| a.store(false, Ordering::SeqCst));
        STEP.with(|s| s.set(&*step));
        TARGET.with(|t| t.set(state));
        let slice = &self.slices[index];
        slice.pid.store(pid.0, Ordering::SeqCst);
        slice.started.store(self.now(), Ordering::SeqCst);
        StepGuard { slice, _step: step }
    }
}

/// Ends a step when dropped.
pub(crate) struct StepGuard<'a> {
    slice: &'a Slice,
    _step: Box<Step>,
}

impl StepGuard<'_> {
    /// Whether the step ended because it was preempted.
    pub(crate) fn preempted(&self) -> bool {
        PREEMPTED.with(|p| p.get())
    }
}

impl Drop for StepGuard<'_> {
    fn drop(&mut self) {
        self.slice.started.store(0, Ordering::SeqCst);
        TARGET.with(|t| t.set(std::ptr::null_mut()));
        STEP.with(|s| s.set(std::ptr::null()));
        PREEMPTED.with(|p| p.set(false));
    }
}

/// Makes `state` the running Lua thread (a coroutine the process resumes)
/// and returns the previous one.
pub(crate) fn switch_target(state: *mut lua_State) -> *mut lua_State {
    TARGET.with(|t| t.replace(state))
}

/// Clears the "last yield was a preemption" mark before a resume.
pub(crate) fn clear_preempted() {
    PREEMPTED.with(|p| p.set(false));
}

/// Whether the yield just seen was a preemption.
pub(crate) fn preempted() -> bool {
    PREEMPTED.with(|p| p.get())
}

/// Marks the coming yield as a preemption (a coroutine passing one up).
pub(crate) fn mark_preempted() {
    PREEMPTED.with(|p| p.set(true));
}

/// Why a process that could not be preempted is stopped.
fn unyielding_error(pid: Pid, elapsed: Duration) -> LuaError {
    LuaError::new(
        crate::error::ErrorKind::ResourceExhausted,
        format!(
            "process {pid} ran {} ms without a point where it could yield to the others \
             (a Lua function called from C: a table.sort comparator, a string.gsub \
             callback, a metamethod called by the library)",
            elapsed.as_millis()
        ),
    )
}

#[cfg(unix)]
const SIGNAL: libc::c_int = libc::SIGURG;

#[cfg(unix)]
fn signal(t: WorkerThread) {
    // SAFETY: the worker thread is alive (it detaches before it exits, and
    // a detached worker's slice never starts a step again); the handler
    // only arms a hook.
    unsafe {
        libc::pthread_kill(t.0, SIGNAL);
    }
}

#[cfg(unix)]
fn install_handler() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        // SAFETY: installs a handler that only reads thread-locals and calls
        // lua_sethook, which Lua documents as safe in a signal handler.
        // SA_RESTART keeps the worker's blocking calls from failing.
        unsafe {
            let mut act: libc::sigaction = std::mem::zeroed();
            act.sa_sigaction = on_signal as extern "C" fn(libc::c_int) as usize;
            act.sa_flags = libc::SA_RESTART;
            libc::sigemptyset(&mut act.sa_mask);
            libc::sigaction(SIGNAL, &act, std::ptr::null_mut());
        }
    });
}

#[cfg(unix)]
extern "C" fn on_signal(_: libc::c_int) {
    let target = TARGET.with(|t| t.get());
    if !target.is_null() {
        ARMED.with(|a| a.store(true, Ordering::SeqCst));
        // SAFETY: `target` is the Lua thread this very thread was running
        // when interrupted; it stays alive while it is the target.
        unsafe { ffi::lua_sethook(target, Some(hook), ffi::LUA_MASKCOUNT, 1) };
    }
}

#[cfg(not(unix))]
fn signal(_: WorkerThread) {}

#[cfg(not(unix))]
fn install_handler() {}

/// The count hook the signal arms. Owns nothing (it may raise or yield).
unsafe extern "C-unwind" fn hook(state: *mut lua_State, _: *mut ffi::lua_Debug) {
    let step = STEP.with(|s| s.get());
    let armed = ARMED.with(|a| a.load(Ordering::SeqCst));
    // SAFETY: runs on the worker thread, inside the step that set STEP
    // (whose Box outlives it); every Lua call is on the running thread.
    unsafe {
        if !armed || step.is_null() {
            // Left over from a preemption (or a signal for an earlier
            // step): the process is running again; stop tracing it.
            ffi::lua_sethook(state, None, 0, 0);
            return;
        }
        if ffi::lua_isyieldable(state) != 0 {
            ARMED.with(|a| a.store(false, Ordering::SeqCst));
            PREEMPTED.with(|p| p.set(true));
            ffi::lua_yield(state, 0);
            return;
        }
        let step = &*step;
        let control = &*step.control;
        let elapsed = step.started.elapsed();
        if !control.must_stop(step.pid) && elapsed > control.unyielding {
            control.request_stop(step.pid, unyielding_error(step.pid, elapsed));
        }
        if control.must_stop(step.pid) {
            // Unwind to where the code can yield; pcall catches this only
            // to be interrupted again at its next instruction.
            ffi::lua_sethook(state, Some(hook), ffi::LUA_MASKCOUNT, 1);
            ffi::luaL_error(state, c"the process was stopped".as_ptr());
        } else {
            // Not here: try again shortly, where the code may yield.
            ffi::lua_sethook(state, Some(hook), ffi::LUA_MASKCOUNT, 1000);
        }
    }
}

/// `xpcall` for processes: the message handler runs after the error has
/// unwound, as if by `pcall`. Lua runs a message handler inside the
/// raising call, and when the error comes from a hook (a stopped process)
/// hooks stay off for that handler: a handler that loops would never be
/// interrupted. Without `debug` a handler cannot tell the difference,
/// except that an error inside it ends `xpcall` at once with "error in
/// error handling" (Lua reaches the same result by calling it again).
const XPCALL: &str = r##"
local pcall, type, error, select = ...
local function finish(msgh, ok, ...)
  if ok then return true, ... end
  local handled, v = pcall(msgh, (...))
  if handled then return false, v end
  return false, "error in error handling"
end
return function(f, ...)
  local msgh = ...
  if type(msgh) ~= "function" then
    local got = select("#", ...) == 0 and "no value" or type(msgh)
    error("bad argument #2 to 'xpcall' (function expected, got " .. got .. ")", 2)
  end
  return finish(msgh, pcall(f, select(2, ...)))
end
"##;

/// The `xpcall` processes get (see [`XPCALL`]).
pub(crate) fn xpcall(lua: &mlua::Lua) -> mlua::Result<mlua::Function> {
    let g = lua.globals();
    lua.load(XPCALL)
        .set_name("=luamod.xpcall")
        .set_environment(lua.create_table()?)
        .call((
            g.raw_get::<mlua::Function>("pcall")?,
            g.raw_get::<mlua::Function>("type")?,
            g.raw_get::<mlua::Function>("error")?,
            g.raw_get::<mlua::Function>("select")?,
        ))
}
