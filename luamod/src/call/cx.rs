//! [`CallCx`]: the context of one call of an export.

use std::cell::{Cell, OnceCell, UnsafeCell};
use std::ffi::c_int;
use std::mem::MaybeUninit;
use std::ptr::NonNull;
use std::sync::Arc;

use mlua::ffi::{self, lua_State};

use super::error::{ArgError, CallError};
use super::info::ExportInfo;
use super::outcome::Suspend;
use crate::ffi::bridge::{self, BridgeError};
use crate::ffi::{Guard, GuardError};
use crate::security::Context;

const INLINE_BORROWS: usize = 4;

/// Borrow flags of userdata held by a call.
type Borrows = Vec<NonNull<BorrowFlag>>;

/// The context of one call of an export: the Lua stack it reads and
/// writes, the userdata it borrows, its security context.
///
/// Every export call builds one, so its layout is kept for the common
/// call that borrows nothing and checks no permission: setting it up is a
/// few stores, and its end one test of [`pending`](Self::pending) (no
/// out-of-line drop glue). Fields a call may never use are left
/// uninitialised until it does; a bit of `pending`, or `nborrows`, says
/// which hold a value.
pub struct CallCx {
    state: *mut lua_State,
    info: &'static ExportInfo,
    /// What the end of the call must look at (`PENDING_BORROWS` and the
    /// other bits): zero for most calls, so that returning and dropping
    /// the context test one byte.
    pending: Cell<u8>,
    lua: OnceCell<&'static mlua::Lua>,
    /// Set iff `PENDING_GUARD`.
    guard: Cell<MaybeUninit<Guard>>,
    /// How many userdata borrows are held (most calls take none). The
    /// first [`INLINE_BORROWS`] are in `borrows`, the rest in `more_borrows`.
    nborrows: Cell<u32>,
    /// Userdata borrows taken by `&T`/`&mut T` parameters, released when
    /// the call ends. A method call must not allocate, so the first few
    /// are kept inline; slots below `nborrows` are set, the others not.
    borrows: [Cell<MaybeUninit<NonNull<BorrowFlag>>>; INLINE_BORROWS],
    /// Set iff `nborrows` is above [`INLINE_BORROWS`], and then emptied
    /// (freed) by `release_borrows`, which runs whenever `nborrows` is not
    /// zero.
    more_borrows: Cell<MaybeUninit<Box<Borrows>>>,
    /// The security context, looked up on first use. Set iff
    /// `PENDING_CONTEXT`, and then dropped by `release_all` (no drop glue
    /// for the calls that never look it up). Never replaced while set, so
    /// `context()` may lend it for as long as `&self` lives.
    context: UnsafeCell<MaybeUninit<Arc<Context>>>,
    /// Set iff `PENDING_SUSPEND`.
    suspend: Cell<MaybeUninit<Suspend>>,
    /// Bytes of Lua strings copied into Rust values by this call's
    /// arguments (see [`CallCx::MAX_COPIED`]).
    copied: Cell<usize>,
}

/// Bits of [`CallCx::pending`].
const PENDING_BORROWS: u8 = 1;
const PENDING_CONTEXT: u8 = 2;
/// A guard was made (`guard` is set).
const PENDING_GUARD: u8 = 4;
const PENDING_SUSPEND: u8 = 8;
/// An allocation failure was deferred in one of this call's windows: the
/// call raises `not enough memory` when it ends.
const PENDING_DEFERRED: u8 = 16;
/// What the context's drop must undo.
const PENDING_DROP: u8 = PENDING_BORROWS | PENDING_CONTEXT;

impl Drop for CallCx {
    #[inline(always)]
    fn drop(&mut self) {
        if self.pending.get() & PENDING_DROP != 0 {
            self.release_all();
        }
    }
}

impl CallCx {
    /// Releases the borrows of a call that holds exactly one (a method's
    /// `self`) without a call; any other count is left to the drop.
    #[inline(always)]
    pub(crate) fn release_self(&self) {
        if self.nborrows.get() == 1 {
            // SAFETY: slots below `nborrows` are set.
            release(unsafe { self.borrows[0].get().assume_init() });
            self.nborrows.set(0);
            self.pending.set(self.pending.get() & !PENDING_BORROWS);
        }
    }

    /// How a call that produced its results ends, when that is quick to
    /// tell: `Some(false)` returns them, `Some(true)` raises a memory
    /// failure deferred during the call; `None` when there is more to look
    /// at (a suspension, borrows, a context to drop). When it says
    /// `Some`, the context has nothing to release.
    #[inline(always)]
    pub(crate) fn quick_end(&self) -> Option<bool> {
        const GUARD_DEFERRED: u8 = PENDING_GUARD | PENDING_DEFERRED;
        match self.pending.get() {
            // Nothing, or only a guard was used (a result pushed with an
            // allocating call, the usual case for strings and tables).
            0 | PENDING_GUARD => Some(false),
            GUARD_DEFERRED => Some(true),
            _ => None,
        }
    }

    #[inline(always)]
    fn mark(&self, bit: u8) {
        self.pending.set(self.pending.get() | bit);
    }

    // Out of line, so that dropping a call context that borrowed nothing
    // and looked up no context is inlined as a single test.
    #[inline(never)]
    fn release_all(&mut self) {
        self.release_borrows();
        if self.pending.get() & PENDING_CONTEXT != 0 {
            // The bit is cleared below, so a later `context()` would look
            // it up again.
            // SAFETY: PENDING_CONTEXT says it is set; `&mut self` means
            // nothing borrows it.
            unsafe { self.context.get_mut().assume_init_drop() };
        }
        self.pending.set(self.pending.get() & !PENDING_DROP);
    }

    fn release_borrows(&mut self) {
        let n = self.nborrows.replace(0) as usize;
        if n == 0 {
            return;
        }
        for slot in &self.borrows[..n.min(INLINE_BORROWS)] {
            // SAFETY: slots below `nborrows` are set.
            release(unsafe { slot.get().assume_init() });
        }
        if n > INLINE_BORROWS {
            // SAFETY: set, since `nborrows` was above INLINE_BORROWS; taken
            // out once, as `nborrows` is zero now.
            let more = unsafe {
                self.more_borrows
                    .replace(MaybeUninit::uninit())
                    .assume_init()
            };
            for flag in *more {
                release(flag);
            }
        }
    }
}

#[cold]
fn copied_too_much(idx: c_int) -> ArgError {
    ArgError::msg(
        idx,
        format!(
            "arguments too large: more than {} MiB copied out of Lua in one call",
            CallCx::MAX_COPIED >> 20
        ),
    )
}

/// The borrow state of one userdata object, first in its memory.
#[repr(C)]
pub(crate) struct BorrowFlag {
    /// 0 free, n > 0 shared borrows, -1 borrowed mutably.
    pub(crate) count: Cell<isize>,
    /// Set by a finalizer that ran while the object was borrowed: drops
    /// the object's value, once the last borrow is released. (A script
    /// can hand a running method an object whose finalizer is pending: a
    /// weak-keyed table keeps such objects until they are freed.)
    pub(crate) doomed: Cell<Option<DropDoomed>>,
}

/// Drops the value of the object whose flag it is given (see
/// [`BorrowFlag::doomed`]).
pub(crate) type DropDoomed = unsafe fn(NonNull<BorrowFlag>);

impl BorrowFlag {
    pub(crate) const fn new() -> BorrowFlag {
        BorrowFlag {
            count: Cell::new(0),
            doomed: Cell::new(None),
        }
    }
}

/// Releases one userdata borrow (`-1`: exclusive, `n > 0`: shared).
#[inline(always)]
fn release(held: NonNull<BorrowFlag>) {
    // SAFETY: `hold_borrow`'s promise: the object is anchored on the
    // call's stack until the call ends.
    let flag = unsafe { held.as_ref() };
    let b = flag.count.get();
    let now = if b < 0 { 0 } else { b - 1 };
    flag.count.set(now);
    if now == 0 && flag.doomed.get().is_some() {
        run_doomed_drop(held);
    }
}

#[cold]
#[inline(never)]
fn run_doomed_drop(held: NonNull<BorrowFlag>) {
    // SAFETY: as in `release`.
    if let Some(drop_value) = unsafe { held.as_ref() }.doomed.take() {
        // SAFETY: set only by the object's own `__gc`, with the function
        // that drops this object's value, and given the pointer
        // `hold_borrow` was (the whole object's); no borrow is left, and
        // the finalizer cleared the object's `alive`, so none can be taken.
        unsafe { drop_value(held) }
    }
}

impl CallCx {
    /// # Safety
    /// `state` is the state of a running C function.
    #[inline(always)]
    pub(crate) unsafe fn new(state: *mut lua_State, info: &'static ExportInfo) -> Self {
        CallCx {
            state,
            info,
            pending: Cell::new(0),
            lua: OnceCell::new(),
            guard: Cell::new(MaybeUninit::uninit()),
            nborrows: Cell::new(0),
            borrows: [const { Cell::new(MaybeUninit::uninit()) }; INLINE_BORROWS],
            more_borrows: Cell::new(MaybeUninit::uninit()),
            context: UnsafeCell::new(MaybeUninit::uninit()),
            suspend: Cell::new(MaybeUninit::uninit()),
            copied: Cell::new(0),
        }
    }

    /// The most bytes one call copies out of Lua into owned Rust values:
    /// strings (`String`, `Bytes`, in records, sequences and maps too) and
    /// the elements of sequences and maps: 64 MiB. A script can pass the
    /// same large string or table many times (`f(s, s, s, ...)`,
    /// `{t, t, t, ...}`); each copy is Rust memory that the Lua memory
    /// limit does not see.
    pub const MAX_COPIED: usize = 64 << 20;

    /// What a heap block holding `n` bytes costs, about: `n`, and the
    /// system allocator's header and rounding (a 1-byte block takes 32).
    /// So that a million one-byte strings are counted near the 32 MB they
    /// hold, not at 1 MB. One addition: it is on every `String`
    /// argument's path. (`n` is a Lua string's length, far below
    /// `usize::MAX`.)
    #[inline(always)]
    pub(crate) fn block_cost(n: usize) -> usize {
        n + 24
    }

    /// Counts `n` bytes copied out of argument `idx`; refused past
    /// [`MAX_COPIED`](Self::MAX_COPIED).
    #[inline(always)]
    pub(crate) fn charge_copy(&self, idx: c_int, n: usize) -> Result<(), ArgError> {
        // `copied` never passes MAX_COPIED, so the sum cannot overflow.
        let copied = self.copied.get();
        if n > Self::MAX_COPIED - copied {
            return Err(copied_too_much(idx));
        }
        self.copied.set(copied + n);
        Ok(())
    }

    /// The raw state of the running call.
    #[inline(always)]
    pub fn state(&self) -> *mut lua_State {
        self.state
    }

    /// The stack's top: while arguments are read, the number of arguments
    /// the call received.
    #[inline(always)]
    pub fn top(&self) -> c_int {
        // SAFETY: `state` is the live state of the running C function.
        unsafe { ffi::lua_gettop(self.state) }
    }

    /// Makes argument indices up to `n` ones the C API may be asked about.
    /// Lua promises a C function only 20 free slots past the arguments it
    /// was given, and reading a parameter past them (an export of more
    /// parameters, called with fewer arguments) is an index Lua's API
    /// check aborts on. Generated for exports of more than 20 parameters.
    #[doc(hidden)]
    pub fn reserve_args(&self, n: c_int) -> Result<(), ArgError> {
        // SAFETY: live state; lua_checkstack reports failure instead of
        // raising.
        if unsafe { ffi::lua_checkstack(self.state, n) } == 0 {
            return Err(ArgError::msg(n, "stack overflow"));
        }
        Ok(())
    }

    /// Static facts about the export being called.
    pub fn info(&self) -> &'static ExportInfo {
        self.info
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
    pub fn context(&self) -> &Context {
        if self.pending.get() & PENDING_CONTEXT == 0 {
            let c = crate::security::current::of(self.lua());
            // SAFETY: not set (the bit is clear), so no reference to it
            // exists; `CallCx` is not `Sync`, and the lookup above has
            // returned, so nothing else writes it meanwhile.
            unsafe { (*self.context.get()).write(c) };
            self.mark(PENDING_CONTEXT);
        }
        // SAFETY: set (the bit), and only dropped by `release_all`, which
        // takes `&mut self`, so it outlives the returned borrow.
        unsafe { (*self.context.get()).assume_init_ref() }
    }

    /// The guard, if this call made one.
    #[inline(always)]
    fn guard_made(&self) -> Option<Guard> {
        if self.pending.get() & PENDING_GUARD != 0 {
            // SAFETY: PENDING_GUARD says it is set.
            Some(unsafe { self.guard.get().assume_init() })
        } else {
            None
        }
    }

    #[inline(always)]
    fn guard(&self) -> Guard {
        match self.guard_made() {
            Some(g) => g,
            None => {
                // SAFETY: live state; the guard is used within this call.
                let g = unsafe { Guard::of(self.state) };
                self.guard.set(MaybeUninit::new(g));
                self.mark(PENDING_GUARD);
                g
            }
        }
    }

    /// Runs `f`, raw C API calls that may allocate, on the top `nargs`
    /// values of the stack, so that a memory error cannot skip a Rust
    /// destructor (see [`crate::call`]). `f` addresses those values with
    /// negative indices only; what it leaves in their place stays on the
    /// stack. `f` must not panic, call Lua code or own anything.
    ///
    /// Implementations of [`crate::IntoReturn`] that push with the raw C
    /// API call their allocating functions through this:
    ///
    /// ```
    /// # use luamod::{CallCx, IntoReturn, call::CallError};
    /// # use luamod::mlua::ffi;
    /// struct Two;
    /// impl IntoReturn for Two {
    ///     fn push_return(self, cx: &CallCx) -> Result<std::ffi::c_int, CallError> {
    ///         cx.alloc(0, |st| unsafe { ffi::lua_createtable(st, 2, 0) })?;
    ///         Ok(1)
    ///     }
    /// }
    /// ```
    #[inline(always)]
    pub fn alloc<F>(&self, nargs: c_int, f: F) -> Result<(), CallError>
    where
        F: FnOnce(*mut lua_State) + Copy,
    {
        // A call that already made something past the limit fails at its
        // end whatever follows: making more (argument conversions, result
        // elements, each let through by its window) would only leave the
        // state holding several times its limit until collected.
        if self.has_deferred() {
            return Err(CallError::OutOfMemory);
        }
        // SAFETY: `self.state` is the live state of the running call.
        match unsafe { self.guard().run(self.state, nargs, f) } {
            Ok(deferred) => {
                self.deferred_if(deferred);
                Ok(())
            }
            Err(e) => Err(self.guard_failed(e)),
        }
    }

    /// What a failed guarded call means for the call. The only errors a
    /// guarded call can raise are allocation failures (its closures only
    /// allocate), so its error value is Lua's memory error: it is dropped
    /// here, and the call raises `not enough memory` at its end. On Lua
    /// 5.3 it may instead be the error of a finalizer the allocation ran:
    /// the call raises that message.
    #[cold]
    fn guard_failed(&self, e: GuardError) -> CallError {
        match e {
            GuardError::Raised => {
                // SAFETY: the error value is on top; popping never allocates.
                unsafe { ffi::lua_pop(self.state, 1) };
                CallError::OutOfMemory
            }
            #[cfg(feature = "lua53")]
            GuardError::Finalizer => {
                // SAFETY: the error value is on top. Lua 5.3 makes it a
                // string ("error in __gc metamethod (...)"); one is read
                // without allocating, anything else is not read. Popping
                // never allocates.
                let msg = unsafe {
                    let msg = (ffi::lua_type(self.state, -1) == ffi::LUA_TSTRING).then(|| {
                        let mut len = 0;
                        let p = ffi::lua_tolstring(self.state, -1, &mut len);
                        String::from_utf8_lossy(std::slice::from_raw_parts(p.cast(), len))
                            .into_owned()
                    });
                    ffi::lua_pop(self.state, 1);
                    msg
                };
                CallError::Message(msg.unwrap_or_else(|| "error in __gc metamethod".to_owned()))
            }
            GuardError::NoRoom => CallError::Message("stack overflow".to_owned()),
        }
    }

    /// Whether `n` more bytes would pass the state's memory limit, where
    /// luamod's allocator can tell (for a block too large to let a
    /// window defer its failure: it would exist until collected).
    pub(crate) fn exceeds_limit(&self, n: usize) -> bool {
        match self.guard() {
            // SAFETY: the guard's state outlives this call (see `Guard::of`).
            Guard::Window(st) => unsafe { &*st }.exceeds(n),
            _ => false,
        }
    }

    /// Whether an allocation failure was deferred during this call (the
    /// call raises it when it ends).
    #[inline(always)]
    pub(crate) fn has_deferred(&self) -> bool {
        self.pending.get() & PENDING_DEFERRED != 0
    }

    /// Remembers that one of this call's windows deferred a failure.
    #[inline(always)]
    fn deferred_if(&self, deferred: bool) {
        if deferred {
            self.mark(PENDING_DEFERRED);
        }
    }

    /// Reads the value at `idx` as an mlua value.
    pub(crate) fn value_at(&self, idx: c_int) -> Result<mlua::Value, CallError> {
        // As in `alloc`.
        if self.has_deferred() {
            return Err(CallError::OutOfMemory);
        }
        let mut deferred = false;
        // SAFETY: live state of this call; `lua()` is its Lua.
        let v =
            unsafe { bridge::value_at(self.state, self.lua(), self.guard(), idx, &mut deferred) };
        self.deferred_if(deferred);
        v.map_err(|e| self.bridge_failed(e))
    }

    /// Pushes an mlua value.
    pub(crate) fn push_value(&self, v: mlua::Value) -> Result<(), CallError> {
        // As in `alloc`.
        if self.has_deferred() {
            return Err(CallError::OutOfMemory);
        }
        // SAFETY: as in value_at.
        let deferred = unsafe { bridge::push_value(self.state, self.lua(), self.guard(), v) }
            .map_err(|e| self.bridge_failed(e))?;
        self.deferred_if(deferred);
        Ok(())
    }

    fn bridge_failed(&self, e: BridgeError) -> CallError {
        match e {
            BridgeError::Mlua(e) => e.into(),
            BridgeError::Guard(g) => self.guard_failed(g),
        }
    }

    /// Asks `call` to yield (with the values the export pushed) and to
    /// resume in `k`.
    pub(crate) fn request_yield(&self, k: crate::ffi::vm::KFunction) {
        self.suspend.set(MaybeUninit::new(Suspend::Yield(k)));
        self.mark(PENDING_SUSPEND);
    }

    /// Asks `call` to call the function pushed below `nargs` arguments in
    /// protected, yieldable mode, continuing in `k` with `ctx`.
    pub(crate) fn request_pcall(
        &self,
        nargs: c_int,
        ctx: crate::ffi::vm::KContext,
        k: crate::ffi::vm::KFunction,
    ) {
        self.suspend
            .set(MaybeUninit::new(Suspend::PCall { nargs, ctx, k }));
        self.mark(PENDING_SUSPEND);
    }

    pub(crate) fn suspend(&self) -> Option<Suspend> {
        if self.pending.get() & PENDING_SUSPEND != 0 {
            // SAFETY: PENDING_SUSPEND says it is set.
            Some(unsafe { self.suspend.get().assume_init() })
        } else {
            None
        }
    }

    /// Remembers a userdata borrow to release when the call ends.
    ///
    /// # Safety
    /// `flag` points to the flag at the start of a userdata object, with
    /// the provenance of the whole object (a finalizer's deferred drop
    /// reads the object through it), and the object is anchored on this
    /// call's stack, so it outlives the call.
    #[inline(always)]
    pub(crate) unsafe fn hold_borrow(&self, flag: NonNull<BorrowFlag>) {
        let n = self.nborrows.get() as usize;
        match self.borrows.get(n) {
            Some(slot) => slot.set(MaybeUninit::new(flag)),
            None if n == INLINE_BORROWS => {
                self.more_borrows
                    .set(MaybeUninit::new(Box::new(vec![flag])));
            }
            None => {
                // SAFETY: set when `nborrows` reached INLINE_BORROWS + 1,
                // and only taken out by `release_borrows`, which zeroes
                // `nborrows`. Pushed to in place, so it stays set even if
                // `push` unwinds; no other reference to it exists meanwhile
                // (`CallCx` is not `Sync`, and nothing here re-enters it).
                unsafe { (*self.more_borrows.as_ptr()).assume_init_mut().push(flag) };
            }
        }
        self.nborrows.set(n as u32 + 1);
        self.mark(PENDING_BORROWS);
    }
}
