//! Preemption: a process that runs past its time slice is made to yield
//! back to the scheduler, and a process that must stop (`cancel`, its
//! deadline, a forced shutdown) is stopped even while it computes.
//!
//! Lua checks no flag while it runs, and a permanent count hook makes
//! every instruction slower (about 2× on plain Lua code, measured). So the
//! hook is set only when needed, the way Lua's own `lua.c` handles Ctrl-C:
//! a watchdog thread notices a step that has run past its slice (or a stop
//! request for the process it runs) and sends the worker thread a signal
//! (`SIGURG`, whose default action is to ignore it; a handler installed
//! before ours still gets the signals that are not for a worker). The
//! handler, running on the worker thread, calls `lua_sethook` — the one Lua
//! function meant for asynchronous use — on the Lua thread the worker runs
//! (and on the state's main thread, where mlua runs Rust functions'
//! callbacks), with a count of one and on every call (C code that loops
//! calling C functions runs no instruction of its own). At the next
//! instruction or call the hook runs:
//!
//! - where the code can yield all the way to the scheduler, it yields (a
//!   count hook may yield in Lua 5.4). The hook stays installed over the
//!   yield — mlua's `Thread::resume` recognises a hook yield by an
//!   installed hook and a Lua frame on top, and would otherwise reset the
//!   thread's stack — and removes itself at the first instruction after
//!   the process resumes;
//! - where it cannot (a Lua function called by C, such as a `table.sort`
//!   comparator, or a coroutine resumed from one), it tries again 1,000
//!   instructions later, unless the process must stop or has gone on past
//!   the unyielding limit: then it raises an error at every instruction
//!   until the code is back where it can yield. So it does in a coroutine
//!   that Rust code resumes, when that coroutine inherited the hook from
//!   the thread that created it (the watchdog never arms one itself, see
//!   below). While a process must stop, once the stop's signal has
//!   reached the worker, every thread of it that the worker switches to
//!   (a coroutine it resumes, the resumer a stopped coroutine returns to)
//!   is armed as it is switched to: code that
//!   cannot be stopped where it is must not escape by spending its time
//!   in coroutines it starts one after another, each stopped in turn.
//!
//! An error raised in a hook leaves hooks off until a `pcall` or the end of
//! the coroutine (Lua restores them only there), so Lua code that runs
//! during the unwinding itself — `xpcall`'s message handler, the `__close`
//! handlers of a coroutine killed by the stop — could loop unstopped. The
//! process's `xpcall` skips its handler while the process stops, and
//! `coroutine.close` (and `wrap`'s clean-up) skip closing then.
//!
//! C code that runs long without calling Lua cannot be hooked: the pattern
//! functions are replaced by a port that asks [`crate::ffi::interrupt`]
//! (answered here by `interrupted`), and calls like `string.rep` are
//! bounded by the memory limit. Not covered: `__gc` finalizers (they run
//! with hooks off; the sandbox forbids them by default), coroutines that
//! Rust code resumes (the signal arms the thread the process or its
//! `coroutine` library resumed last, not one an export drives), and
//! platforms without POSIX signals (no preemption there).
//!
//! Owns: the signal handler, the per-worker [`Slice`], the stop requests,
//! the watchdog thread, the hook. Never: touches a Lua state from any
//! thread but its worker's (the handler runs on the worker's own thread).

use super::idmap::{self, IdMap};
use std::cell::Cell;
use std::sync::atomic::{AtomicBool, AtomicPtr, AtomicU64, AtomicUsize, Ordering, compiler_fence};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use mlua::ffi::{self, lua_State};

use crate::command::Pid;
use crate::error::{ErrorKind, LuaError};
use crate::suspend::park;

/// The ordering of `TARGET` and `ARMED`: each is touched only by its own
/// thread and by the signal handler that interrupts that thread, which
/// sees the thread's own stores in program order as long as the compiler
/// keeps them there. So: relaxed (plain moves, where a sequentially
/// consistent store is an `xchg`, three per step: measured in the yield
/// round trip) with a compiler fence around each store.
const LOCAL: Ordering = Ordering::Relaxed;

/// A store to a thread-local the signal handler reads, kept in program
/// order with the thread's other stores.
fn local_store<T>(f: impl FnOnce() -> T) -> T {
    compiler_fence(Ordering::SeqCst);
    let r = f();
    compiler_fence(Ordering::SeqCst);
    r
}

thread_local! {
    /// The Lua thread this worker is running right now (null: none). Read
    /// by the signal handler, hence atomic.
    static TARGET: AtomicPtr<lua_State> = const { AtomicPtr::new(std::ptr::null_mut()) };
    /// The worker state's main thread (null: not a worker). mlua runs the
    /// callbacks an export makes (`Function::call`, a metamethod reached
    /// through `Table::get`) there, so the signal arms it with the target:
    /// Lua code a script passes to a Rust function is stopped too.
    static MAIN: AtomicPtr<lua_State> = const { AtomicPtr::new(std::ptr::null_mut()) };
    /// Set by the signal handler: the hook should act at its next call.
    static ARMED: AtomicBool = const { AtomicBool::new(false) };
    /// The preemption control and this worker's slice, while it runs a
    /// step (null: no step).
    static STEP: Cell<(*const Preempt, usize)> = const { Cell::new((std::ptr::null(), 0)) };
    /// The Lua thread whose last yield was a preemption (null: none).
    static PREEMPTED: Cell<*mut lua_State> = const { Cell::new(std::ptr::null_mut()) };
    /// Whether the hook raised a stop error during this step, on any
    /// thread: that thread's hooks stay off until a `pcall` catches it, so
    /// handlers run there later (its own `__close`, when a coroutine of the
    /// process closes it) could not be stopped.
    static RAISED: Cell<bool> = const { Cell::new(false) };
}

/// The worker thread a slice belongs to, for `pthread_kill`.
#[derive(Clone, Copy)]
struct WorkerThread(#[cfg_attr(not(unix), allow(dead_code))] libc::pthread_t);

// SAFETY: a pthread_t is an identifier; the watchdog only names the worker
// with it in `pthread_kill`, under the slice's lock (see `Slice::thread`).
unsafe impl Send for WorkerThread {}

/// One worker's running step, as the watchdog sees it.
struct Slice {
    /// The worker thread while it is alive; the watchdog signals it only
    /// while holding this lock, and the worker clears it before it exits.
    thread: Mutex<Option<WorkerThread>>,
    /// Step counter: odd while a step runs. Only the worker writes it, and
    /// reads no clock: the watchdog times steps itself, from when it first
    /// sees one.
    seq: AtomicU64,
    /// The step the watchdog has seen (`seq`), and since when (ns since the
    /// epoch): what the hook reads to time a step.
    seen_seq: AtomicU64,
    seen_at: AtomicU64,
    /// Its process.
    pid: AtomicU64,
    /// When the watchdog last signalled this worker (ns since the epoch).
    signalled: AtomicU64,
}

/// Time slices and stop requests of one runtime's workers.
pub(crate) struct Preempt {
    slices: Vec<Slice>,
    stops: Mutex<IdMap<Pid, LuaError>>,
    stop_all: Mutex<Option<LuaError>>,
    /// Set while `stops` or `stop_all` may hold anything (a lock-free check).
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
    /// How long a step may go on where it cannot yield.
    pub(crate) fn unyielding(&self) -> Duration {
        self.unyielding
    }

    /// Preemption for `workers` workers, each process running at most
    /// `slice` before others get their turn, and at most `unyielding`
    /// where it cannot yield.
    pub(crate) fn new(workers: usize, slice: Duration, unyielding: Duration) -> Preempt {
        let slice = slice.max(Duration::from_millis(1));
        Preempt {
            slices: (0..workers)
                .map(|_| Slice {
                    thread: Mutex::new(None),
                    seq: AtomicU64::new(0),
                    seen_seq: AtomicU64::new(0),
                    seen_at: AtomicU64::new(0),
                    pid: AtomicU64::new(0),
                    signalled: AtomicU64::new(0),
                })
                .collect(),
            stops: Mutex::new(idmap::new()),
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

    /// How long the running step of `slice` has run, as far as the watchdog
    /// has seen it (zero if it has not seen it yet).
    fn step_elapsed(&self, slice: &Slice) -> Duration {
        let seq = slice.seq.load(Ordering::Relaxed);
        if slice.seen_seq.load(Ordering::Acquire) != seq {
            return Duration::ZERO;
        }
        let at = slice.seen_at.load(Ordering::Relaxed);
        Duration::from_nanos(self.now().saturating_sub(at))
    }

    fn now(&self) -> u64 {
        u64::try_from(self.epoch.elapsed().as_nanos())
            .unwrap_or(u64::MAX)
            .max(1)
    }

    /// Installs the signal handler (once per host process) and starts the
    /// watchdog thread; it ends when the last worker has exited.
    pub(crate) fn start_watchdog(self: &Arc<Self>) -> std::io::Result<()> {
        install_handler()?;
        let me = self.clone();
        let handle = std::thread::Builder::new()
            .name("luamod-watchdog".to_owned())
            .spawn(move || me.watch())?;
        let _ = self.watchdog.set(handle.thread().clone());
        Ok(())
    }

    fn watch(&self) {
        let tick_ns = u64::try_from(self.tick.as_nanos()).unwrap_or(u64::MAX);
        let mut idle = 0u32;
        while self.live.load(Ordering::SeqCst) > 0 {
            // After a second with no step running, look less often: a step
            // that starts then is seen at most 50 ms late, and stop
            // requests wake the watchdog at once anyway.
            let nap = if idle > 1000 / 5 {
                Duration::from_millis(50)
            } else {
                self.tick
            };
            std::thread::park_timeout(nap);
            let now = self.now();
            let mut busy = false;
            for s in &self.slices {
                let seq = s.seq.load(Ordering::Acquire);
                if seq % 2 == 0 {
                    continue;
                }
                busy = true;
                if s.seen_seq.load(Ordering::Relaxed) != seq {
                    // A new step: it started at most one tick ago.
                    s.seen_at.store(now, Ordering::Relaxed);
                    s.seen_seq.store(seq, Ordering::Release);
                }
                let started = s.seen_at.load(Ordering::Relaxed);
                let overdue = now.saturating_sub(started) > self.slice_ns;
                let stop = self.must_stop(Pid(s.pid.load(Ordering::SeqCst)));
                // Again now and then while the step goes on: a signal that
                // found the worker switching coroutines may have armed the
                // wrong one.
                let last = s.signalled.load(Ordering::SeqCst);
                let due = last < started || now.saturating_sub(last) >= 8 * tick_ns;
                if (overdue || stop) && due {
                    s.signalled.store(now, Ordering::SeqCst);
                    if let Ok(t) = s.thread.lock()
                        && let Some(t) = *t
                    {
                        signal(t);
                    }
                }
            }
            idle = if busy { 0 } else { idle.saturating_add(1) };
        }
    }

    /// Wakes the watchdog to look now (after a stop request).
    fn nudge(&self) {
        if let Some(t) = self.watchdog.get() {
            t.unpark();
        }
    }

    /// Asks that `pid` stop with `error` (the first reason given wins); if
    /// it is computing it is interrupted at once.
    pub(crate) fn request_stop(&self, pid: Pid, error: LuaError) {
        if let Ok(mut m) = self.stops.lock() {
            m.entry(pid).or_insert(error);
            self.any_stop.store(true, Ordering::SeqCst);
        }
        self.nudge();
    }

    /// Asks every process of the runtime to stop with `error`.
    pub(crate) fn request_stop_all(&self, error: LuaError) {
        if let Ok(mut s) = self.stop_all.lock() {
            s.get_or_insert(error);
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

    /// How many whole slices the step that just ended on worker `index`
    /// ran past its own, as the watchdog timed it: 0 unless the watchdog
    /// saw that step overrun and signalled it (the clock is read only
    /// then, so asking after every step costs a few loads).
    pub(crate) fn slices_over(&self, index: usize) -> u64 {
        let s = &self.slices[index];
        // The step that ended had the odd number just below `seq`.
        let seq = s.seq.load(Ordering::Relaxed);
        if s.seen_seq.load(Ordering::Acquire) != seq.wrapping_sub(1) {
            return 0;
        }
        let started = s.seen_at.load(Ordering::Relaxed);
        if s.signalled.load(Ordering::SeqCst) < started {
            return 0;
        }
        let ran = self.now().saturating_sub(started);
        (ran / self.slice_ns.max(1)).saturating_sub(1)
    }

    /// How many whole slices `d` is.
    pub(crate) fn slices_in(&self, d: Duration) -> u64 {
        u64::try_from(d.as_nanos() / u128::from(self.slice_ns.max(1))).unwrap_or(u64::MAX)
    }

    pub(crate) fn must_stop(&self, pid: Pid) -> bool {
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
            let all = self.stop_all.lock().is_ok_and(|s| s.is_some());
            if m.is_empty() && !all {
                self.any_stop.store(false, Ordering::SeqCst);
            }
        }
    }

    /// Called by worker `index` on its own thread before it runs anything,
    /// with its state's main thread (alive until the guard drops); the
    /// guard detaches it when the worker exits (or unwinds).
    pub(crate) fn attach(&self, index: usize, main: *mut lua_State) -> Attached<'_> {
        // SAFETY: pthread_self has no preconditions.
        let me = WorkerThread(unsafe { libc::pthread_self() });
        if let Ok(mut t) = self.slices[index].thread.lock() {
            *t = Some(me);
        }
        // Touch the thread-locals the handler reads, so it never is the
        // first to (their first use may allocate on some platforms).
        local_store(|| TARGET.with(|t| t.store(std::ptr::null_mut(), LOCAL)));
        local_store(|| ARMED.with(|a| a.store(false, LOCAL)));
        local_store(|| MAIN.with(|m| m.store(main, LOCAL)));
        crate::ffi::interrupt::register(Some(interrupted));
        Attached {
            control: self,
            index,
        }
    }

    /// A worker that never started.
    pub(crate) fn never_started(&self) {
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
        PREEMPTED.with(|p| p.set(std::ptr::null_mut()));
        RAISED.with(|r| r.set(false));
        local_store(|| ARMED.with(|a| a.store(false, LOCAL)));
        local_store(|| STEP.with(|s| s.set((self, index))));
        local_store(|| TARGET.with(|t| t.store(state, LOCAL)));
        park::set_chain_top(state);
        // Exports that yield find their worker by this (see `park`).
        park::set_stepping(state);
        let slice = &self.slices[index];
        slice.pid.store(pid.0, Ordering::Relaxed);
        // Only this worker writes `seq`: a load and a store, no lock.
        let seq = slice.seq.load(Ordering::Relaxed);
        slice.seq.store(seq | 1, Ordering::Release);
        StepGuard { slice }
    }
}

/// A worker's attachment to its slice; dropping it (the worker exits or
/// unwinds) stops the watchdog from signalling the thread.
pub(crate) struct Attached<'a> {
    control: &'a Preempt,
    index: usize,
}

impl Drop for Attached<'_> {
    fn drop(&mut self) {
        local_store(|| MAIN.with(|m| m.store(std::ptr::null_mut(), LOCAL)));
        let slice = &self.control.slices[self.index];
        if let Ok(mut t) = slice.thread.lock() {
            *t = None;
        }
        self.control.live.fetch_sub(1, Ordering::SeqCst);
        self.control.nudge();
    }
}

/// Ends a step when dropped.
pub(crate) struct StepGuard<'a> {
    slice: &'a Slice,
}

impl Drop for StepGuard<'_> {
    fn drop(&mut self) {
        let seq = self.slice.seq.load(Ordering::Relaxed);
        self.slice.seq.store(seq + 1, Ordering::Release);
        local_store(|| TARGET.with(|t| t.store(std::ptr::null_mut(), LOCAL)));
        local_store(|| STEP.with(|s| s.set((std::ptr::null(), 0))));
        park::set_chain_top(std::ptr::null_mut());
        park::set_stepping(std::ptr::null_mut());
    }
}

/// Makes `state` the running Lua thread (a coroutine the process resumes,
/// or the resumer it returns to) and returns the previous one.
///
/// While the process must stop, `state` is armed as it is switched to.
/// The signal arms only the thread running when it lands: code that
/// cannot be stopped where it is (a `table.sort` comparator) and spends
/// its time in coroutines it resumes one after another would see each
/// of them stopped and go on starting the next, its own thread never
/// armed.
pub(crate) fn switch_target(state: *mut lua_State) -> *mut lua_State {
    // A load and a store, not a swap (a locked `xchg`): only this thread
    // writes it, and its signal handler only reads it.
    let previous = TARGET.with(|t| {
        let previous = t.load(LOCAL);
        local_store(|| t.store(state, LOCAL));
        previous
    });
    // Only once the signal has landed on this worker (it marks ARMED
    // for every stop of the process it runs): `stopping` takes the
    // runtime's stop locks while any process anywhere must stop.
    if !state.is_null() && ARMED.with(|a| a.load(LOCAL)) && stopping() {
        local_store(|| ARMED.with(|a| a.store(true, LOCAL)));
        // SAFETY: a thread of the process this worker is stepping, alive
        // (its resumer holds it); lua_sethook may be called at any time.
        unsafe { arm(state, 1) };
    }
    previous
}

/// Whether the hook raised a stop error during this step, on any thread
/// (the process's, or one of its coroutines: its hooks may be off for good,
/// so none of the process's Lua code must run again); clears the mark.
pub(crate) fn take_raised() -> bool {
    RAISED.with(|r| r.replace(false))
}

/// Whether `state`'s last yield was a preemption; clears the mark.
pub(crate) fn take_preempted(state: *mut lua_State) -> bool {
    PREEMPTED.with(|p| take_mark(p, state))
}

/// Whether `mark` names `state` (never a null state); clears it if so.
fn take_mark(mark: &Cell<*mut lua_State>, state: *mut lua_State) -> bool {
    let hit = !state.is_null() && mark.get() == state;
    if hit {
        mark.set(std::ptr::null_mut());
    }
    hit
}

/// Marks `state`'s coming yield as a preemption (a coroutine passing one
/// up to its resumer).
pub(crate) fn mark_preempted(state: *mut lua_State) {
    PREEMPTED.with(|p| p.set(state));
}

/// For C-level work that cannot be hooked (the pattern matcher): whether
/// the running process must stop, or has run past the unyielding limit (it
/// is then stopped).
fn interrupted() -> bool {
    let (control, index) = STEP.with(|s| s.get());
    if control.is_null() {
        return false;
    }
    // SAFETY: as in `stopping`.
    let control = unsafe { &*control };
    let slice = &control.slices[index];
    let pid = Pid(slice.pid.load(Ordering::SeqCst));
    if control.must_stop(pid) {
        return true;
    }
    let elapsed = control.step_elapsed(slice);
    if elapsed > control.unyielding {
        control.request_stop(pid, unyielding_error(pid, elapsed));
        return true;
    }
    false
}

/// Whether the process running on this worker must stop.
pub(crate) fn stopping() -> bool {
    let (control, index) = STEP.with(|s| s.get());
    if control.is_null() {
        return false;
    }
    // SAFETY: STEP is set only during a step, and the runtime's `Preempt`
    // outlives every step of its workers.
    let control = unsafe { &*control };
    control.must_stop(Pid(control.slices[index].pid.load(Ordering::SeqCst)))
}

/// Why a process that could not be preempted is stopped.
fn unyielding_error(pid: Pid, elapsed: Duration) -> LuaError {
    LuaError::new(
        ErrorKind::ResourceExhausted,
        format!(
            "process {pid} ran {} ms without yielding to the others, where it could not \
             be preempted (a long pattern match, or a Lua function called from C: a \
             table.sort comparator, a string.gsub callback, a metamethod called by the \
             library)",
            elapsed.as_millis()
        ),
    )
}

#[cfg(unix)]
const SIGNAL: libc::c_int = libc::SIGURG;

/// The handler that was installed before ours, for signals that are not
/// for a worker.
#[cfg(unix)]
static PREVIOUS: OnceLock<libc::sigaction> = OnceLock::new();

#[cfg(unix)]
fn signal(t: WorkerThread) {
    // SAFETY: the caller holds the slice's lock, and the worker clears the
    // slot (taking that lock) before its thread exits, so the thread is
    // alive; the handler only arms a hook.
    unsafe {
        libc::pthread_kill(t.0, SIGNAL);
    }
}

#[cfg(unix)]
fn install_handler() -> std::io::Result<()> {
    static RESULT: OnceLock<Result<(), i32>> = OnceLock::new();
    let r = RESULT.get_or_init(|| {
        // SAFETY: installs a handler that reads thread-locals and calls
        // lua_sethook (documented as safe in a signal handler), or forwards
        // to the previous handler. SA_RESTART keeps the worker's blocking
        // calls from failing.
        unsafe {
            let mut act: libc::sigaction = std::mem::zeroed();
            act.sa_sigaction = on_signal
                as extern "C" fn(libc::c_int, *mut libc::siginfo_t, *mut std::ffi::c_void)
                as usize;
            act.sa_flags = libc::SA_RESTART | libc::SA_SIGINFO;
            libc::sigemptyset(&mut act.sa_mask);
            let mut old: libc::sigaction = std::mem::zeroed();
            if libc::sigaction(SIGNAL, &act, &mut old) != 0 {
                return Err(std::io::Error::last_os_error().raw_os_error().unwrap_or(0));
            }
            let _ = PREVIOUS.set(old);
            Ok(())
        }
    });
    r.map_err(|code| {
        std::io::Error::other(format!(
            "cannot install the preemption signal handler: {}",
            std::io::Error::from_raw_os_error(code)
        ))
    })
}

#[cfg(unix)]
extern "C" fn on_signal(sig: libc::c_int, info: *mut libc::siginfo_t, ctx: *mut std::ffi::c_void) {
    let target = TARGET.with(|t| t.load(LOCAL));
    if !target.is_null() {
        local_store(|| ARMED.with(|a| a.store(true, LOCAL)));
        // SAFETY: `target` is the Lua thread this very thread was running
        // when interrupted; it stays alive while it is the target.
        unsafe { arm(target, 1) };
        let main = MAIN.with(|m| m.load(LOCAL));
        if !main.is_null() && main != target {
            // SAFETY: the main thread of this worker's state, which lives
            // as long as the worker is attached (MAIN is cleared before);
            // it is not running Lua code of its own during a step, or it
            // is the code this signal is meant to stop.
            unsafe { arm(main, 1) };
        }
        return;
    }
    // Not a worker running a step: the signal may be someone else's.
    if let Some(old) = PREVIOUS.get() {
        let h = old.sa_sigaction;
        if h == libc::SIG_DFL || h == libc::SIG_IGN {
            return;
        }
        // SAFETY: calls the previous handler with the signature its flags
        // declare, as the kernel would have.
        unsafe {
            if old.sa_flags & libc::SA_SIGINFO != 0 {
                let f: extern "C" fn(libc::c_int, *mut libc::siginfo_t, *mut std::ffi::c_void) =
                    std::mem::transmute(h);
                f(sig, info, ctx);
            } else {
                let f: extern "C" fn(libc::c_int) = std::mem::transmute(h);
                f(sig);
            }
        }
    }
}

#[cfg(not(unix))]
fn signal(_: WorkerThread) {}

#[cfg(not(unix))]
fn install_handler() -> std::io::Result<()> {
    Ok(())
}

/// Installs the hook on `state` to run after `count` instructions, unless
/// it is installed so already: `lua_sethook` walks every call frame, which
/// a deep recursion makes costly.
///
/// # Safety
/// `state` is alive and belongs to this thread's worker.
unsafe fn arm(state: *mut lua_State, count: c_int) {
    // SAFETY: field reads and lua_sethook, all async-signal-safe.
    unsafe {
        let installed = ffi::lua_gethook(state)
            .is_some_and(|h| std::ptr::fn_addr_eq(h, hook as ffi::lua_Hook))
            && ffi::lua_gethookmask(state) == ARMED_EVENTS
            && ffi::lua_gethookcount(state) == count;
        if !installed {
            ffi::lua_sethook(state, Some(hook), ARMED_EVENTS, count);
        }
    }
}

/// The events the armed hook runs on: every `count` instructions, and every
/// function call. C code that loops calling functions runs no instruction
/// of its own (a `table.concat` whose `__index` is a C function, a C
/// function passed as the callback of a Rust function), so only its calls
/// can be caught. Lua lets a hook yield on count events only.
const ARMED_EVENTS: c_int = ffi::LUA_MASKCOUNT | ffi::LUA_MASKCALL;

/// The hook the signal arms. Owns nothing (it may raise or yield).
unsafe extern "C-unwind" fn hook(state: *mut lua_State, ar: *mut ffi::lua_Debug) {
    let (control, index) = STEP.with(|s| s.get());
    let armed = ARMED.with(|a| a.load(LOCAL));
    // SAFETY: runs on the worker thread, inside the step that set STEP
    // (the runtime's `Preempt` outlives its workers' steps); every Lua
    // call is on the running thread.
    unsafe {
        if !armed || control.is_null() {
            // Left over from a preemption (or a signal for an earlier
            // step): the process is running again; stop tracing it.
            ffi::lua_sethook(state, None, 0, 0);
            return;
        }
        if park::can_yield_to_scheduler(state) {
            // SAFETY: Lua passes the event's record, alive for the call.
            if !ar.is_null() && (*ar).event != ffi::LUA_HOOKCOUNT {
                // A call: the count event of the next instruction (count
                // one, still armed) yields.
                return;
            }
            local_store(|| ARMED.with(|a| a.store(false, LOCAL)));
            mark_preempted(state);
            ffi::lua_yield(state, 0);
            return;
        }
        let control = &*control;
        let slice = &control.slices[index];
        let pid = Pid(slice.pid.load(Ordering::SeqCst));
        let elapsed = control.step_elapsed(slice);
        if !control.must_stop(pid) && elapsed > control.unyielding {
            control.request_stop(pid, unyielding_error(pid, elapsed));
        }
        if control.must_stop(pid) {
            // Unwind to where the code can yield; pcall catches this only
            // to be interrupted again at its next instruction.
            arm(state, 1);
            RAISED.with(|r| r.set(true));
            ffi::luaL_error(state, c"the process was stopped".as_ptr());
        } else {
            // Not here: try again shortly, where the code may yield.
            arm(state, 1000);
        }
    }
}

/// Installs the process versions of `xpcall` and `coroutine.close` in
/// `globals` and `coroutine`: Lua's own (same checks, same messages), except
/// while the process is being stopped. Then `xpcall` skips the message
/// handler (Lua runs it inside the raising call, and for an error raised by
/// the hook that is with hooks off: a looping handler could never be
/// interrupted) and `close` skips the coroutine's `__close` handlers (a
/// coroutine killed by the stop has hooks off for good).
pub(crate) fn install(lua: &mlua::Lua, coroutine: &mlua::Table) -> mlua::Result<()> {
    // SAFETY: both follow the C function protocol and own nothing.
    unsafe {
        lua.globals()
            .raw_set("xpcall", lua.create_c_function(xpcall)?)?;
        coroutine.raw_set("close", lua.create_c_function(close)?)?;
    }
    Ok(())
}

use std::ffi::c_int;

use crate::ffi::stack::luaL_typeerror;

/// `xpcall(f, msgh, ...)`, as `luaB_xpcall`, with `msgh` wrapped.
unsafe extern "C-unwind" fn xpcall(l: *mut lua_State) -> c_int {
    // SAFETY: lbaselib's stack work; this frame owns nothing.
    unsafe {
        let n = ffi::lua_gettop(l);
        ffi::luaL_checktype(l, 2, ffi::LUA_TFUNCTION);
        ffi::lua_pushvalue(l, 2);
        ffi::lua_pushcclosure(l, guarded_handler, 1);
        ffi::lua_replace(l, 2);
        ffi::lua_pushboolean(l, 1);
        ffi::lua_pushvalue(l, 1);
        ffi::lua_rotate(l, 3, 2);
        let status = ffi::lua_pcallk(l, n - 2, ffi::LUA_MULTRET, 2, 2, Some(finish_pcall));
        finish_pcall(l, status, 2)
    }
}

unsafe extern "C-unwind" fn finish_pcall(
    l: *mut lua_State,
    status: c_int,
    extra: ffi::lua_KContext,
) -> c_int {
    // SAFETY: as lbaselib's finishpcall.
    unsafe {
        if status != ffi::LUA_OK && status != ffi::LUA_YIELD {
            ffi::lua_pushboolean(l, 0);
            ffi::lua_pushvalue(l, -2);
            return 2;
        }
        ffi::lua_gettop(l) - extra as c_int
    }
}

/// The message handler `xpcall` installs: the script's (upvalue 1), unless
/// the process is being stopped.
unsafe extern "C-unwind" fn guarded_handler(l: *mut lua_State) -> c_int {
    // SAFETY: one argument (the error); calls the handler with it.
    unsafe {
        if stopping() {
            ffi::lua_settop(l, 1);
            return 1;
        }
        ffi::lua_pushvalue(l, ffi::lua_upvalueindex(1));
        ffi::lua_insert(l, 1);
        ffi::lua_call(l, ffi::lua_gettop(l) - 1, 1);
        1
    }
}

/// `coroutine.close(co)`, as `luaB_close`, skipping the clean-up while the
/// process is being stopped.
unsafe extern "C-unwind" fn close(l: *mut lua_State) -> c_int {
    // SAFETY: lcorolib's stack work; this frame owns nothing.
    unsafe {
        let co = ffi::lua_tothread(l, 1);
        if co.is_null() {
            return luaL_typeerror(l, 1, c"thread".as_ptr());
        }
        let closable = if co == l {
            Err(c"running")
        } else if co == park::WORKER_STATE.with(|w| w.get()) {
            // The worker's main thread, which resumed the process (reached
            // through `coroutine.running()` in a callback of a Rust
            // function): closing it would reset state every process on the
            // worker shares.
            Err(c"normal")
        } else {
            match ffi::lua_status(co) {
                ffi::LUA_YIELD => Ok(()),
                ffi::LUA_OK => {
                    let mut ar: ffi::lua_Debug = std::mem::zeroed();
                    if ffi::lua_getstack(co, 0, &mut ar) != 0 {
                        Err(c"normal")
                    } else {
                        Ok(())
                    }
                }
                _ => Ok(()),
            }
        };
        if let Err(what) = closable {
            return ffi::luaL_error(l, c"cannot close a %s coroutine".as_ptr(), what.as_ptr());
        }
        if super::closing::is_closing(co) {
            return ffi::luaL_error(l, super::closing::MESSAGE.as_ptr());
        }
        if stopping() {
            ffi::lua_pushboolean(l, 0);
            ffi::lua_pushstring(l, c"the process was stopped".as_ptr());
            return 2;
        }
        // Its `__close` handlers run on `co`: the signal must arm it.
        let prev = switch_target(co);
        let status = crate::ffi::close_thread(co, l);
        switch_target(prev);
        // What `Invoke` continuations on it owned (an open transaction)
        // goes now: their frames are gone.
        crate::suspend::abandon::closed(co);
        if status == ffi::LUA_OK {
            ffi::lua_pushboolean(l, 1);
            1
        } else {
            ffi::lua_pushboolean(l, 0);
            ffi::lua_xmove(co, l, 1);
            2
        }
    }
}
