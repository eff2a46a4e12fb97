//! Small helpers on the raw Lua stack.
//!
//! None of these allocate in Lua or raise (they read values and debug
//! information already there), except Lua's own `luaL_typeerror`, declared
//! here because mlua-sys does not.

use std::ffi::{CStr, c_int};

use mlua::ffi::{self, lua_State};

/// Copies the string (or number, already converted) at `idx` into Rust.
/// Does not allocate in Lua for strings; returns an empty string for any
/// other value.
///
/// # Safety
/// Live state; `idx` valid.
pub(crate) unsafe fn string_at(state: *mut lua_State, idx: c_int) -> String {
    // SAFETY: lua_type and lua_tolstring on a string value read without
    // allocating; the bytes stay owned by the value while we copy them.
    unsafe {
        if ffi::lua_type(state, idx) != ffi::LUA_TSTRING {
            return String::new();
        }
        let mut len = 0usize;
        let p = ffi::lua_tolstring(state, idx, &mut len);
        if p.is_null() {
            return String::new();
        }
        String::from_utf8_lossy(std::slice::from_raw_parts(p as *const u8, len)).into_owned()
    }
}

/// The basic type name Lua prints for the value at `idx` (`no value` past
/// the top, `light userdata` for light userdata). Never allocates.
///
/// # Safety
/// Live state.
pub(crate) unsafe fn basic_type_name(state: *mut lua_State, idx: c_int) -> String {
    // SAFETY: lua_type accepts any index; lua_typename returns a static string.
    unsafe {
        let ty = ffi::lua_type(state, idx);
        if ty == ffi::LUA_TLIGHTUSERDATA {
            return "light userdata".to_owned();
        }
        CStr::from_ptr(ffi::lua_typename(state, ty))
            .to_string_lossy()
            .into_owned()
    }
}

/// `luaL_where` without allocating in Lua: `chunk:line: ` for the function
/// at `level`, or an empty string when it has no line (a C function).
///
/// # Safety
/// Live state.
pub(crate) unsafe fn location(state: *mut lua_State, level: c_int) -> String {
    // SAFETY: lua_getstack/lua_getinfo("Sl") fill the caller-owned record
    // from existing data (the short source is formatted into its buffer).
    unsafe {
        let mut ar: ffi::lua_Debug = std::mem::zeroed();
        if ffi::lua_getstack(state, level, &mut ar) != 0 {
            ffi::lua_getinfo(state, c"Sl".as_ptr(), &mut ar);
            if ar.currentline > 0 {
                let src = CStr::from_ptr(ar.short_src.as_ptr()).to_string_lossy();
                return format!("{src}:{}: ", ar.currentline);
            }
        }
        String::new()
    }
}

/// The name Lua's `luaL_argerror` would give the function running at
/// `level`, and whether it was called as a method. Never allocates.
///
/// # Safety
/// Live state.
pub(crate) unsafe fn call_site_name(state: *mut lua_State, level: c_int) -> (Option<String>, bool) {
    // SAFETY: as `location`; "n" reads names from existing strings.
    unsafe {
        let mut ar: ffi::lua_Debug = std::mem::zeroed();
        if ffi::lua_getstack(state, level, &mut ar) == 0 {
            return (None, false);
        }
        ffi::lua_getinfo(state, c"n".as_ptr(), &mut ar);
        let method = !ar.namewhat.is_null() && CStr::from_ptr(ar.namewhat) == c"method";
        let name =
            (!ar.name.is_null()).then(|| CStr::from_ptr(ar.name).to_string_lossy().into_owned());
        (name, method)
    }
}

#[cfg(feature = "lua54")]
unsafe extern "C-unwind" {
    /// Lua's own "X expected, got Y" argument error, with `__name` and
    /// "light userdata" as Lua spells them (exported by the Lua library
    /// mlua links; mlua-sys declares no binding for it). Raises.
    pub(crate) fn luaL_typeerror(
        l: *mut mlua::ffi::lua_State,
        arg: std::ffi::c_int,
        tname: *const std::ffi::c_char,
    ) -> std::ffi::c_int;
}

/// Lua 5.4's `luaL_typeerror`, which earlier versions keep private to
/// their auxiliary library: the same message, made the same way (the
/// type's `__name` — not on LuaJIT, whose library does not use it —,
/// "light userdata", else the type name) and raised with `luaL_argerror`.
/// Raises.
///
/// # Safety
/// Live state inside a C function whose frame owns nothing to drop.
#[cfg(not(feature = "lua54"))]
#[allow(non_snake_case)]
pub(crate) unsafe fn luaL_typeerror(
    l: *mut mlua::ffi::lua_State,
    arg: std::ffi::c_int,
    tname: *const std::ffi::c_char,
) -> std::ffi::c_int {
    use mlua::ffi;
    // SAFETY: every value is a Lua-owned string; the calls may raise, and
    // the caller's frame owns nothing.
    unsafe {
        // LuaJIT's library names types by their basic type only.
        let got = if !cfg!(feature = "luajit")
            && ffi::luaL_getmetafield(l, arg, c"__name".as_ptr()) == ffi::LUA_TSTRING
        {
            ffi::lua_tostring(l, -1)
        } else if ffi::lua_type(l, arg) == ffi::LUA_TLIGHTUSERDATA {
            c"light userdata".as_ptr()
        } else {
            ffi::lua_typename(l, ffi::lua_type(l, arg))
        };
        let msg = ffi::lua_pushfstring(l, c"%s expected, got %s".as_ptr(), tname, got);
        ffi::luaL_argerror(l, arg, msg)
    }
}
