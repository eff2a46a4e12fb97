//! luamod's allocator: memory limits, accounting and allocation-failure
//! injection for a Lua state, and the *windows* that let luamod's own
//! allocating C API calls run without ever raising over Rust frames.
//!
//! [`MemoryControl::install`] puts the allocator on a state (the runtime
//! does it for every worker; a host may do it for a plain state) and
//! restores mlua's when dropped. The allocator forwards every request to
//! the allocator it replaced, except that it keeps small blocks Lua freed
//! for Lua's next requests of the same size ([`super::free_lists`]), so
//! every block stays that allocator's and mlua's own accounting stays
//! exact once they are given back.
//!
//! A *window* is opened by luamod around one raw C API call made while
//! Rust values are alive (pushing a result string, creating a table, ...).
//! Inside a window an allocation that would fail (over the limit, or an
//! injected failure) succeeds instead and the failure is *deferred*: the
//! export that opened it raises `not enough memory` once every Rust value
//! of the call is dropped. Outside windows allocations fail normally and
//! Lua raises its memory error wherever Lua code or mlua is running, which
//! is sound there. Lua code that runs inside a window (a `__gc` finalizer
//! triggered by that one call) is not limited until the window closes.
//!
//! ```
//! let lua = luamod::lua_with(&[])?;
//! let mem = luamod::MemoryControl::install(&lua)?;
//! mem.set_limit(mem.used() + 64 * 1024);
//! let r = lua.load("local t = {} for i = 1, 1e6 do t[i] = i end").exec();
//! assert!(r.unwrap_err().to_string().contains("not enough memory"));
//! mem.set_limit(0); // no limit
//! lua.load("return 1").exec()?;
//! # Ok::<(), mlua::Error>(())
//! ```

use std::cell::Cell;
use std::ffi::c_void;
use std::rc::Rc;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use mlua::Lua;
use mlua::ffi::{self, lua_State};

use super::free_lists::FreeLists;

/// The allocator's bookkeeping for one Lua state.
pub(crate) struct AllocState {
    inner: ffi::lua_Alloc,
    inner_ud: *mut c_void,
    used: Cell<usize>,
    /// Rust memory that objects of this state declared they hold
    /// ([`ExternalMemory`](super::external::ExternalMemory)), counted
    /// against the limit beside `used`. Atomic: an object may be dropped
    /// on another thread (grown only on this one).
    pub(super) external: Arc<AtomicUsize>,
    /// `external` as the last full collection left it: what is counted
    /// beyond this may be held by garbage.
    external_live: Cell<usize>,
    /// A request was let through that only external memory stood in the
    /// way of; the state's owner should run a full collection at its next
    /// safe point (see `refuse`).
    collect_due: Cell<bool>,
    /// 0: no limit.
    limit: Cell<usize>,
    /// Open windows (nested luamod calls may each open one).
    window: Cell<u32>,
    /// Failures deferred inside windows so far. Each window
    /// compares it before and after, so that it answers for the failures
    /// deferred during it only, whatever windows nest.
    deferrals: Cell<u64>,
    /// Allocations left before injected failures start (`None`: off).
    fail_in: Cell<Option<u64>>,
    /// Whether an injected failure has happened since it was armed.
    injected: Cell<bool>,
    allocations: Cell<u64>,
    /// Requests refused (or deferred) for the limit or an injected failure.
    refusals: Cell<u64>,
    /// Small blocks Lua freed, for its next requests of the same size.
    free: FreeLists,
}

impl AllocState {
    /// Whether `grow` more bytes would pass the limit (injected failures
    /// aside), for callers that refuse a large block before asking; a yes
    /// counts as a refusal.
    pub(crate) fn exceeds(&self, grow: usize) -> bool {
        self.make_room(grow);
        let over = self.over_limit(grow);
        if over {
            self.refusals.set(self.refusals.get() + 1);
        }
        over
    }

    /// Whether the request for `grow` more bytes must fail.
    ///
    /// A request that only objects' external memory stands in the way of
    /// is let through while that memory has grown since the last full
    /// collection, and a collection is asked for instead: garbage objects
    /// give their memory back only through finalizers, which the
    /// collection Lua runs on a failed allocation does not run, so
    /// refusing would fail whatever process allocates next, however
    /// little it holds. Lua's own memory never passes the limit; with
    /// external memory the state may pass it until its owner collects.
    fn refuse(&self, grow: usize) -> bool {
        if let Some(n) = self.fail_in.get() {
            if n == 0 {
                self.injected.set(true);
                return true;
            }
            self.fail_in.set(Some(n - 1));
        }
        let limit = self.limit.get();
        if limit == 0 {
            return false;
        }
        self.make_room(grow);
        let lua = self.used.get().saturating_add(grow);
        if lua > limit {
            return true;
        }
        let external = self.external.load(Ordering::Relaxed);
        if lua.saturating_add(external) <= limit {
            return false;
        }
        if external > self.external_live.get() {
            self.collect_due.set(true);
            return false;
        }
        true
    }

    /// Notes that a full collection (finalizers included) has just run:
    /// the external memory still counted is held by live objects.
    pub(super) fn collected(&self) {
        self.external_live
            .set(self.external.load(Ordering::Relaxed));
        self.collect_due.set(false);
    }

    /// What Lua and the objects' Rust sides hold.
    #[inline(always)]
    fn in_use(&self) -> usize {
        self.used
            .get()
            .saturating_add(self.external.load(Ordering::Relaxed))
    }

    /// Whether `grow` more bytes, beside what Lua and the objects' Rust
    /// sides hold, pass the limit.
    #[inline(always)]
    fn over_limit(&self, grow: usize) -> bool {
        let limit = self.limit.get();
        limit != 0 && self.in_use().saturating_add(grow) > limit
    }

    /// [`exceeds`](Self::exceeds) without counting a refusal.
    pub(super) fn would_exceed(&self, grow: usize) -> bool {
        self.make_room(grow);
        self.over_limit(grow)
    }

    /// Kept blocks count against the limit beside Lua's memory in use and
    /// the objects' external memory: they are given back when `grow` more
    /// bytes would pass it with them, before the request is judged
    /// without them.
    #[inline(always)]
    fn make_room(&self, grow: usize) {
        let kept = self.free.held();
        let limit = self.limit.get();
        if kept != 0
            && limit != 0
            && self.in_use().saturating_add(kept).saturating_add(grow) > limit
        {
            // SAFETY: called on the state's thread while luamod's
            // allocator is installed (from the allocator itself, by a call
            // that found this state through it or its account, or by its
            // `MemoryControl`), so the wrapped allocator and its userdata
            // are live.
            unsafe { self.free.release(self.inner, self.inner_ud) };
        }
    }

    /// How many bytes of freed blocks may be kept now: what the limit
    /// leaves beside Lua's memory in use and the external memory.
    #[inline(always)]
    fn room_to_keep(&self) -> usize {
        match self.limit.get() {
            0 => usize::MAX,
            limit => limit.saturating_sub(self.in_use()),
        }
    }

    /// The limit (0: none).
    pub(super) fn limit(&self) -> usize {
        self.limit.get()
    }

    /// Opens a window: allocation failures are deferred until it closes.
    #[inline(always)]
    pub(crate) fn open_window(&self) {
        self.window.set(self.window.get() + 1);
    }

    /// Closes the window opened last.
    #[inline(always)]
    pub(crate) fn close_window(&self) {
        self.window.set(self.window.get().saturating_sub(1));
    }

    /// How many failures were deferred so far (wrapping): a failure was
    /// deferred since a reading iff this differs from it.
    #[inline(always)]
    pub(crate) fn deferrals(&self) -> u64 {
        self.deferrals.get()
    }
}

/// The app data of a state: where its objects count their Rust memory
/// while luamod's allocator is installed (`None` otherwise). Emptied, not
/// removed, when the allocator goes: mlua panics on removing app data
/// while any of it is borrowed.
pub(super) struct Account(std::cell::RefCell<Option<Rc<AllocState>>>);

impl Account {
    /// Points `lua`'s account at `state`.
    pub(super) fn open(lua: &Lua, state: &Rc<AllocState>) -> mlua::Result<()> {
        if let Ok(Some(a)) = lua.try_app_data_ref::<Account>() {
            a.0.replace(Some(state.clone()));
            return Ok(());
        }
        lua.try_set_app_data(Account(std::cell::RefCell::new(Some(state.clone()))))
            .map(drop)
            .map_err(|_| {
                mlua::Error::runtime(
                    "luamod's allocator cannot be installed while the state's app data \
                     is borrowed",
                )
            })
    }

    /// Empties `lua`'s account.
    pub(super) fn close(lua: &Lua) {
        if let Ok(Some(a)) = lua.try_app_data_ref::<Account>() {
            a.0.replace(None);
        }
    }

    /// The allocator state of `lua`, if it is luamod's.
    pub(super) fn of(lua: &Lua) -> Option<Rc<AllocState>> {
        let a = lua.try_app_data_ref::<Account>().ok()??;
        a.0.borrow().clone()
    }
}

/// The allocator function installed by [`MemoryControl`].
///
/// # Safety
/// Called by Lua only, with `ud` the `AllocState` installed with it.
unsafe extern "C" fn luamod_alloc(
    ud: *mut c_void,
    ptr: *mut c_void,
    osize: usize,
    nsize: usize,
) -> *mut c_void {
    // SAFETY: `ud` is the AllocState that MemoryControl keeps alive (an
    // `Rc` it holds) for as long as this function is installed; Lua calls its allocator
    // from one thread at a time.
    let st = unsafe { &*(ud as *const AllocState) };
    // With `ptr` null, `osize` is a type tag, not a size.
    let old = if ptr.is_null() { 0 } else { osize };
    if nsize > old {
        st.allocations.set(st.allocations.get() + 1);
        if st.refuse(nsize - old) {
            st.refusals.set(st.refusals.get() + 1);
            if st.window.get() == 0 {
                return std::ptr::null_mut();
            }
            st.deferrals.set(st.deferrals.get().wrapping_add(1));
        }
    }
    // SAFETY: the free lists hold blocks of the wrapped allocator, each
    // handed back only for a request of its exact size; a freed block is
    // one Lua gives up with its exact size (`osize`, per lua_Alloc's
    // contract). A sweep gives kept blocks back to that allocator, live
    // while it is wrapped. Anything else is forwarded unchanged to the
    // allocator that owns every block of this state (we never allocate
    // on our own).
    let p = unsafe {
        if ptr.is_null() {
            if nsize == 0 {
                // Lua frees "no block" (an empty array): nothing to do.
                return std::ptr::null_mut();
            }
            if st.free.tick() {
                st.free.sweep(st.inner, st.inner_ud);
            }
            match st.free.pop(nsize) {
                Some(block) => block,
                None => (st.inner)(st.inner_ud, ptr, osize, nsize),
            }
        } else if nsize == 0
            && st
                .free
                .push(ptr, osize, st.room_to_keep().saturating_add(osize))
        {
            std::ptr::null_mut()
        } else {
            (st.inner)(st.inner_ud, ptr, osize, nsize)
        }
    };
    if nsize == 0 {
        st.used.set(st.used.get().saturating_sub(old));
    } else if !p.is_null() {
        st.used
            .set(st.used.get().saturating_sub(old).saturating_add(nsize));
    }
    p
}

/// The `AllocState` of `state`'s allocator, if it is luamod's.
///
/// # Safety
/// Live state. The reference must not outlive the `MemoryControl` that
/// installed the allocator (it lives as long as the state's `Lua`).
#[inline(always)]
pub(crate) unsafe fn state_of<'a>(state: *mut lua_State) -> Option<&'a AllocState> {
    let mut ud = std::ptr::null_mut();
    // SAFETY: lua_getallocf only reads the global state.
    let f = unsafe { ffi::lua_getallocf(state, &mut ud) };
    // SAFETY: forwarded.
    unsafe { ours(f, ud) }
}

/// The `AllocState` behind an allocator `f` with userdata `ud` (as
/// `lua_getallocf` reports them), if the allocator is luamod's.
///
/// # Safety
/// As [`state_of`], for the state `f` and `ud` were read from.
#[inline(always)]
pub(crate) unsafe fn ours<'a>(f: ffi::lua_Alloc, ud: *mut c_void) -> Option<&'a AllocState> {
    if std::ptr::fn_addr_eq(f, luamod_alloc as ffi::lua_Alloc) && !ud.is_null() {
        // SAFETY: our allocator is private, and luamod installs it (in
        // `MemoryControl::install`) only with its AllocState. (Host code
        // that copied it out with `lua_getallocf` and installed it with
        // another userdata would break this, and luamod_alloc itself.)
        Some(unsafe { &*(ud as *const AllocState) })
    } else {
        None
    }
}

/// luamod's allocator installed on a state: a memory limit, exact
/// accounting, and allocation-failure injection for tests. Dropping it puts
/// back the allocator it replaced, with the limit set here.
///
/// While it is installed, mlua's own `Lua::set_memory_limit` reports
/// `MemoryControlNotAvailable`; set the limit here instead (a limit set
/// with mlua before installing is taken over). On a state without it,
/// `Lua::set_memory_limit` works: while mlua's limit is set, luamod
/// exports protect each allocating call with `lua_pcall` instead of a
/// window (sound, but slower for exports that return strings or tables);
/// without a limit nothing can fail and nothing is protected. On Lua 5.3
/// every allocating call of an export is protected, with either
/// allocator: 5.3 raises a finalizer's error from an allocation.
pub struct MemoryControl {
    lua: Lua,
    main: *mut lua_State,
    /// Shared with the [`ExternalMemory`](super::external::ExternalMemory)
    /// of the state's objects, which may outlive this.
    state: Rc<AllocState>,
    /// Whether mlua currently runs its own allocating calls protected
    /// (it must while allocations can fail).
    mlua_protects: Cell<bool>,
}

impl MemoryControl {
    /// Installs luamod's allocator on `lua`'s state.
    ///
    /// Fails if one is installed already, or while any of the state's app
    /// data is borrowed (`Lua::app_data_ref`): the allocator keeps an
    /// entry there for [`ExternalMemory`](crate::ExternalMemory).
    pub fn install(lua: &Lua) -> mlua::Result<MemoryControl> {
        // SAFETY: finds the main thread (one push, one pop); the pointer
        // stays valid while `lua` (cloned below) lives.
        let main = unsafe {
            let mut main = std::ptr::null_mut();
            lua.exec_raw::<()>((), |st| {
                main = super::vm::main_thread(st);
            })?;
            main
        };
        if main.is_null() {
            // LuaJIT only tells the main thread from inside it.
            return Err(mlua::Error::runtime(
                "luamod's allocator is installed from the Lua state's main thread",
            ));
        }
        // SAFETY: live state.
        if unsafe { state_of(main) }.is_some() {
            return Err(mlua::Error::runtime(
                "luamod's allocator is already installed on this state",
            ));
        }
        let used = lua.used_memory();
        let limit = lua.set_memory_limit(0)?;
        let mut inner_ud = std::ptr::null_mut();
        // SAFETY: reads the current allocator of a live state.
        let inner = unsafe { ffi::lua_getallocf(main, &mut inner_ud) };
        let state = Rc::new(AllocState {
            inner,
            inner_ud,
            used: Cell::new(used),
            external: Arc::new(AtomicUsize::new(0)),
            external_live: Cell::new(0),
            collect_due: Cell::new(false),
            limit: Cell::new(limit),
            window: Cell::new(0),
            deferrals: Cell::new(0),
            fail_in: Cell::new(None),
            injected: Cell::new(false),
            allocations: Cell::new(0),
            refusals: Cell::new(0),
            free: FreeLists::new(),
        });
        let mem = MemoryControl {
            lua: lua.clone(),
            main,
            state,
            mlua_protects: Cell::new(false),
        };
        mem.sync_mlua();
        mem.put_ours();
        Account::open(lua, &mem.state)?;
        Ok(mem)
    }

    fn put_ours(&self) {
        // SAFETY: the `Rc` lives as long as `self`, whose Drop restores
        // the previous allocator; luamod_alloc forwards every request to it.
        unsafe {
            ffi::lua_setallocf(
                self.main,
                luamod_alloc,
                Rc::as_ptr(&self.state) as *mut c_void,
            );
        }
    }

    fn put_theirs(&self) {
        // SAFETY: the allocator we replaced; every block was allocated
        // through it, so it can go on with all of them.
        unsafe { ffi::lua_setallocf(self.main, self.state.inner, self.state.inner_ud) };
    }

    /// mlua runs its own allocating calls unprotected while it believes
    /// allocations cannot fail (no mlua limit); tell it when they can. Its
    /// limit can only be set while its allocator is in place, and a limit
    /// of `usize::MAX` never refuses anything itself.
    fn sync_mlua(&self) {
        let may_fail = self.state.limit.get() != 0 || self.state.fail_in.get().is_some();
        if may_fail == self.mlua_protects.get() {
            return;
        }
        // SAFETY: live state (we hold its Lua); is ours installed now?
        let ours = unsafe { state_of(self.main) }.is_some();
        if ours {
            self.put_theirs();
        }
        let _ = self
            .lua
            .set_memory_limit(if may_fail { usize::MAX } else { 0 });
        if ours {
            self.put_ours();
        }
        self.mlua_protects.set(may_fail);
    }

    /// Limits the state to `bytes` (0: no limit). An allocation past the
    /// limit raises Lua's `not enough memory` error in the code that made
    /// it; the state stays usable.
    pub fn set_limit(&self, bytes: usize) {
        self.state.limit.set(bytes);
        // Kept blocks count against the limit: a lower one gives back
        // what no longer fits beside the memory in use.
        self.state.make_room(0);
        self.sync_mlua();
    }

    /// The limit in bytes (0: none).
    pub fn limit(&self) -> usize {
        self.state.limit.get()
    }

    /// Bytes the state uses now (Lua's own; see
    /// [`external`](Self::external) for its objects' Rust memory).
    pub fn used(&self) -> usize {
        self.state.used.get()
    }

    /// Rust memory the state's objects hold by their
    /// [`ExternalMemory`](crate::ExternalMemory), counted against the
    /// limit beside [`used`](Self::used).
    pub fn external(&self) -> usize {
        self.state.external.load(Ordering::Relaxed)
    }

    /// Allocations (requests for more memory) since installation.
    pub fn allocations(&self) -> u64 {
        self.state.allocations.get()
    }

    /// Requests refused so far (past the limit, or injected failures),
    /// deferred ones included.
    pub fn refusals(&self) -> u64 {
        self.state.refusals.get()
    }

    /// Whether an allocation was let through past the limit because only
    /// objects' external memory stood in the way (see
    /// [`ExternalMemory`](crate::ExternalMemory)): the owner should run a
    /// full collection, finalizers included, and then call
    /// [`collected`](Self::collected). A runtime worker does so between
    /// steps.
    #[inline(always)]
    pub fn collection_due(&self) -> bool {
        self.state.collect_due.get()
    }

    /// Tells the allocator that a full collection has just run.
    pub fn collected(&self) {
        self.state.collected();
    }

    /// Bytes of small blocks Lua freed that the allocator keeps for Lua's
    /// next requests of the same sizes: at most 16 MiB, and with a limit
    /// at most what the limit leaves beside [`used`](Self::used) and
    /// [`external`](Self::external) (kept blocks are given back before a
    /// request they alone would stand in the way of). Not part of `used`.
    pub fn kept(&self) -> usize {
        self.state.free.held()
    }

    /// Gives the blocks [`kept`](Self::kept) back to the allocator they
    /// came from. A runtime worker does so once it has waited 100 ms for
    /// work holding more than 1 MiB (any message counts as work: a host
    /// that polls `Runtime::stats` more often keeps them); dropping the
    /// `MemoryControl` does too.
    pub fn trim(&self) {
        // SAFETY: the blocks are the wrapped allocator's, whose state
        // lives (`self.lua` holds it); the lists are only used from the
        // state's thread, which this is (`MemoryControl` is not `Send`).
        unsafe {
            self.state
                .free
                .release(self.state.inner, self.state.inner_ud)
        };
    }

    /// Failure injection for tests: the `n`-th allocation from now
    /// (`n >= 1`) fails, and so does every later one until
    /// [`stop_failing`](Self::stop_failing).
    pub fn fail_from(&self, n: u64) {
        self.state.injected.set(false);
        self.state.fail_in.set(Some(n.saturating_sub(1)));
        self.sync_mlua();
    }

    /// Ends failure injection. Returns whether an injected failure happened
    /// since [`fail_from`](Self::fail_from).
    pub fn stop_failing(&self) -> bool {
        self.state.fail_in.set(None);
        let injected = self.state.injected.replace(false);
        self.sync_mlua();
        injected
    }
}

impl Drop for MemoryControl {
    fn drop(&mut self) {
        Account::close(&self.lua);
        self.put_theirs();
        self.trim();
        let _ = self.lua.set_memory_limit(self.state.limit.get());
    }
}

impl std::fmt::Debug for MemoryControl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MemoryControl")
            .field("used", &self.used())
            .field("limit", &self.limit())
            .finish()
    }
}
