//! [`Guard`]: how luamod makes an allocating C API call while Rust values
//! are alive without letting a memory error `longjmp` over them.

use std::ffi::c_int;
use std::panic::{AssertUnwindSafe, catch_unwind};

use mlua::ffi::{self, lua_State};

use super::alloc::{self, AllocState};
use super::mlua_limit::{self, MluaLimit};
use super::panic::abort_on_escaped_panic;

/// How allocating calls are made safe on one state, looked up once per
/// export call.
#[derive(Clone, Copy)]
pub(crate) enum Guard {
    /// luamod's allocator: calls run inside a window and a failure is
    /// deferred (see [`super::alloc`]).
    Window(*const AllocState),
    /// mlua's allocator: calls run directly while it has no limit (then
    /// nothing can fail, see [`super::mlua_limit`]), else as `Protect`.
    /// The limit is read at each call: the body of an export may set one.
    /// (Neither this nor `Window` is used on Lua 5.3: see [`Guard::of`].)
    Mlua(MluaLimit),
    /// Any other allocator: calls run under `lua_pcall` (about 30 ns).
    Protect,
}

/// Why a guarded call did not complete.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum GuardError {
    /// It raised; the error value is on top of the stack (in place of the
    /// values it was given).
    Raised,
    /// A finalizer the allocation ran raised (Lua 5.3 only); its error
    /// value is on top of the stack, as for `Raised`.
    #[cfg(feature = "lua53")]
    Finalizer,
    /// There was no stack room to run it; nothing was pushed or popped.
    NoRoom,
}

impl Guard {
    /// The guard for `state`'s allocator.
    ///
    /// Lua 5.3 raises a finalizer's error from whatever allocation ran the
    /// collector's step (5.4 makes it a warning, LuaJIT an event), so
    /// there a call that allocates can raise something other than a
    /// memory error, whatever the allocator: every guarded call runs
    /// under `lua_pcall`.
    ///
    /// # Safety
    /// Live state. The guard must not be used after the state's
    /// `MemoryControl` is dropped (it is used within one export call).
    #[inline]
    pub(crate) unsafe fn of(state: *mut lua_State) -> Guard {
        if cfg!(feature = "lua53") {
            return Guard::Protect;
        }
        let mut ud = std::ptr::null_mut();
        // SAFETY: lua_getallocf only reads the global state (once: both
        // allocators are recognised from what it reports).
        let f = unsafe { ffi::lua_getallocf(state, &mut ud) };
        // SAFETY: forwarded; `f` and `ud` are this state's.
        if let Some(st) = unsafe { alloc::ours(f, ud) } {
            return Guard::Window(st);
        }
        match mlua_limit::limit_for(f, ud) {
            Some(limit) => Guard::Mlua(limit),
            None => Guard::Protect,
        }
    }

    /// Runs `f`, a few raw C API calls on the top `nargs` values of the
    /// stack (addressed with negative or pseudo indices only), so that a
    /// memory error cannot skip a Rust destructor. Whatever `f` leaves in
    /// place of those values is left on the stack. `Ok(true)` says that
    /// an allocation failure was deferred while `f` ran (what `f` made
    /// exists, past the memory limit): the caller must fail once no Rust
    /// value is alive. Without a window (`Protect`, or mlua's allocator
    /// with a limit) failures are caught under `lua_pcall` instead and
    /// come back as [`GuardError::Raised`].
    ///
    /// `f` must not panic, must not call Lua code itself, and must not
    /// create values that need dropping (`Copy` closures capture only
    /// references and plain data); it may raise Lua errors only through
    /// allocation failures.
    ///
    /// # Safety
    /// Live state, inside a C function; the top `nargs` values exist.
    #[inline(always)]
    pub(crate) unsafe fn run<F>(
        self,
        state: *mut lua_State,
        nargs: c_int,
        f: F,
    ) -> Result<bool, GuardError>
    where
        F: FnOnce(*mut lua_State) + Copy,
    {
        match self {
            Guard::Window(st) => {
                // SAFETY: the AllocState outlives this call (see `of`).
                let st = unsafe { &*st };
                // Counted, not flagged: a window nested in this one (an
                // export called by a finalizer that `f` set off) answers
                // for its own failures, and this one for all of them.
                let before = st.deferrals();
                st.open_window();
                f(state);
                st.close_window();
                Ok(st.deferrals() != before)
            }
            // SAFETY: the state `limit` was found on, within one call.
            Guard::Mlua(limit) if unsafe { limit.unlimited() } => {
                f(state);
                Ok(false)
            }
            // SAFETY: forwarded.
            Guard::Mlua(_) | Guard::Protect => unsafe { protect(state, nargs, f).map(|()| false) },
        }
    }
}

/// Runs `f` under `lua_pcall`, with the top `nargs` values as its stack.
///
/// # Safety
/// As [`Guard::run`].
#[cold]
unsafe fn protect<F>(state: *mut lua_State, nargs: c_int, f: F) -> Result<(), GuardError>
where
    F: FnOnce(*mut lua_State) + Copy,
{
    // SAFETY: a light C function and a light userdata are pushed without
    // allocating (stack room checked first; lua_checkstack reports failure
    // instead of raising). The light userdata points at `f` on this frame,
    // which outlives the pcall; the trampoline copies it out (F: Copy).
    unsafe {
        if ffi::lua_checkstack(state, 2) == 0 {
            return Err(GuardError::NoRoom);
        }
        ffi::lua_pushcfunction(state, trampoline::<F>);
        ffi::lua_insert(state, -(nargs + 1));
        ffi::lua_pushlightuserdata(state, &f as *const F as *mut std::ffi::c_void);
        match ffi::lua_pcall(state, nargs + 1, ffi::LUA_MULTRET, 0) {
            ffi::LUA_OK => Ok(()),
            #[cfg(feature = "lua53")]
            ffi::LUA_ERRGCMM => Err(GuardError::Finalizer),
            _ => Err(GuardError::Raised),
        }
    }
}

/// The protected function: takes `f` from its last argument and runs it on
/// the others.
unsafe extern "C-unwind" fn trampoline<F>(state: *mut lua_State) -> c_int
where
    F: FnOnce(*mut lua_State) + Copy,
{
    // SAFETY: `protect` pushed a pointer to a live `F` as last argument.
    let f = unsafe {
        let f = *(ffi::lua_touserdata(state, -1) as *const F);
        ffi::lua_pop(state, 1);
        f
    };
    // `f` owns nothing, so a memory error raised inside it skips nothing;
    // a panic must not unwind into Lua's C frames.
    if let Err(payload) = catch_unwind(AssertUnwindSafe(|| f(state))) {
        // Not dropped: its `Drop` could panic into Lua's C frames first.
        std::mem::forget(payload);
        abort_on_escaped_panic("a guarded Lua C API call");
    }
    // SAFETY: live state.
    unsafe { ffi::lua_gettop(state) }
}

#[cfg(test)]
mod tests {
    use super::*;
    use mlua::Lua;

    /// A C function that runs a full collection (which calls pending
    /// finalizers) as a guarded call, as an allocation inside one may, and
    /// returns whether the guarded call completed without an error.
    unsafe extern "C-unwind" fn collect_guarded(state: *mut lua_State) -> c_int {
        // SAFETY: Lua calls this with its running state; the guarded
        // closure owns nothing and only collects.
        unsafe {
            let r = Guard::of(state).run(state, 0, |st| {
                ffi::lua_gc(st, ffi::LUA_GCCOLLECT, 0);
            });
            if r == Err(GuardError::Raised) {
                ffi::lua_pop(state, 1);
            }
            ffi::lua_pushboolean(state, c_int::from(r.is_ok()));
        }
        1
    }

    /// A finalizer's error never leaves a guarded call by `longjmp` (Lua
    /// 5.3 raises it from the collector's step; the guard catches it),
    /// with luamod's allocator or mlua's.
    #[test]
    fn a_finalizers_error_never_escapes_a_guarded_call() {
        for ours in [false, true] {
            let lua = Lua::new();
            let _mem = ours.then(|| super::super::alloc::MemoryControl::install(&lua).unwrap());
            // SAFETY: `collect_guarded` follows the C function protocol.
            let f = unsafe { lua.create_c_function(collect_guarded) }.unwrap();
            lua.globals().set("collect_guarded", f).unwrap();
            let completed: bool = lua
                .load(
                    "setmetatable({}, { __gc = function() error('boom') end })
                     return collect_guarded()",
                )
                .eval()
                .unwrap_or_else(|e| panic!("the error escaped the guarded call: {e}"));
            // 5.4 makes it a warning and LuaJIT calls no finalizer of a
            // table: the collection completes. 5.3 raises it, caught.
            assert_eq!(
                completed,
                !cfg!(feature = "lua53"),
                "luamod's allocator: {ours}"
            );
        }
    }
}
