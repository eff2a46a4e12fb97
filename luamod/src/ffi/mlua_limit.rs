//! Whether mlua's allocator can refuse an allocation right now.
//!
//! On a state that runs mlua's own allocator, allocations fail only when
//! a limit was set with `Lua::set_memory_limit` (without one, mlua aborts on
//! a real out-of-memory condition like any Rust allocation). So while no
//! limit is set, luamod's allocating C API calls need no `lua_pcall`
//! around them. mlua does not expose its limit to C functions, so this
//! module reads it from the allocator's userdata, a `#[repr(C)]` struct
//! whose second field is the limit (0: none).
//!
//! That layout is private to mlua, so mlua is pinned to the version this
//! was written against (the workspace's `Cargo.toml`), and the layout is
//! also *probed* once per process: a throwaway state sets known limits
//! through mlua's public API and the field must show them. If the probe
//! fails, [`limit_for`] finds nothing and every call is protected. The
//! probe itself reads two words of mlua's state, which the pinned version
//! has (its unit test fails on any change, before an upgrade lands).

use std::ffi::c_void;
use std::sync::OnceLock;

use mlua::Lua;
use mlua::ffi;

/// mlua's allocator function, if the probe recognised its layout.
static MLUA_ALLOC: OnceLock<Option<ffi::lua_Alloc>> = OnceLock::new();

/// Reads the two leading fields of mlua's allocator state: bytes used and
/// the limit.
///
/// # Safety
/// `ud` is the userdata of mlua's allocator on a live state, read on the
/// thread that runs that state.
#[inline(always)]
unsafe fn fields(ud: *mut c_void) -> (isize, isize) {
    let p = ud as *const isize;
    // SAFETY: forwarded; mlua's state begins with two `isize` fields
    // (checked by `probe` before this is used on any other state).
    unsafe { (p.read(), p.add(1).read()) }
}

/// The allocator of `lua`'s state and its userdata.
fn allocator_of(lua: &Lua) -> Option<(ffi::lua_Alloc, *mut c_void)> {
    let mut found = None;
    // SAFETY: lua_getallocf only reads the global state; nothing is pushed.
    unsafe {
        lua.exec_raw::<()>((), |st| {
            let mut ud = std::ptr::null_mut();
            let f = ffi::lua_getallocf(st, &mut ud);
            found = Some((f, ud));
        })
        .ok()?;
    }
    found
}

/// Checks on a fresh state that the second field of mlua's allocator state
/// is the limit set through `Lua::set_memory_limit`, and the first the
/// bytes `Lua::used_memory` reports.
fn probe() -> Option<ffi::lua_Alloc> {
    let lua = Lua::new();
    let (f, ud) = allocator_of(&lua)?;
    if ud.is_null() {
        return None;
    }
    for limit in [0x5a5a_5000usize, 0x1234_5678, 0] {
        lua.set_memory_limit(limit).ok()?;
        // SAFETY: `ud` is the userdata of the allocator of `lua`, alive
        // and idle on this thread: a boxed struct of two `isize` and a
        // `bool` in mlua 0.12, so two words are readable. A release that
        // reordered the fields is rejected below; the unit test
        // `the_probe_recognises_mlua_and_follows_its_limit` fails on any
        // change, before an upgrade lands.
        let (used, seen) = unsafe { fields(ud) };
        if seen as usize != limit || used as usize != lua.used_memory() {
            return None;
        }
    }
    Some(f)
}

/// Where mlua's allocator keeps its limit, if `f` (with userdata `ud`, as
/// `lua_getallocf` reports them) is mlua's allocator and the probe
/// recognised it. The first call in a process runs the probe.
#[inline(always)]
pub(crate) fn limit_for(f: ffi::lua_Alloc, ud: *mut c_void) -> Option<MluaLimit> {
    let mlua_alloc = MLUA_ALLOC.get_or_init(probe).as_ref()?;
    (std::ptr::fn_addr_eq(f, *mlua_alloc) && !ud.is_null()).then_some(MluaLimit(ud))
}

/// mlua's allocator state on one Lua state, found by [`limit_for`].
#[derive(Clone, Copy)]
pub(crate) struct MluaLimit(*mut c_void);

impl MluaLimit {
    /// Whether no limit is set now, so that no allocation can fail (it
    /// succeeds or the process aborts).
    ///
    /// # Safety
    /// The state it was found on is alive and runs on this thread with the
    /// same allocator (luamod uses it within one export call).
    #[inline(always)]
    pub(crate) unsafe fn unlimited(self) -> bool {
        // SAFETY: forwarded; the layout was checked by the probe.
        unsafe { fields(self.0) }.1 == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use mlua::ffi::lua_State;

    /// `limit_for` on what `state` reports.
    ///
    /// # Safety
    /// Live state.
    unsafe fn limit_of(state: *mut lua_State) -> Option<MluaLimit> {
        let mut ud = std::ptr::null_mut();
        // SAFETY: lua_getallocf only reads the global state.
        let f = unsafe { ffi::lua_getallocf(state, &mut ud) };
        limit_for(f, ud)
    }

    fn main_state(lua: &Lua) -> *mut lua_State {
        let mut main = std::ptr::null_mut();
        // SAFETY: reads the main thread from the registry, then pops it.
        unsafe {
            lua.exec_raw::<()>((), |st| {
                main = crate::ffi::vm::main_thread(st);
            })
            .unwrap();
        }
        main
    }

    #[test]
    fn the_probe_recognises_mlua_and_follows_its_limit() {
        assert!(
            MLUA_ALLOC.get_or_init(probe).is_some(),
            "mlua's allocator layout changed: every luamod call on a plain \
             state now runs under lua_pcall"
        );
        let lua = Lua::new();
        // SAFETY: live state on this thread, with mlua's allocator
        // throughout.
        unsafe {
            let limit = limit_of(main_state(&lua)).expect("mlua's allocator");
            assert!(limit.unlimited());
            lua.set_memory_limit(1 << 30).unwrap();
            assert!(!limit.unlimited());
            lua.set_memory_limit(0).unwrap();
            assert!(limit.unlimited());
        }
    }

    #[test]
    fn luamods_own_allocator_is_not_mluas() {
        let lua = Lua::new();
        let mem = crate::ffi::alloc::MemoryControl::install(&lua).unwrap();
        // SAFETY: live state on this thread.
        assert!(unsafe { limit_of(main_state(&lua)) }.is_none());
        drop(mem);
    }
}
