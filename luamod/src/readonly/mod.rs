//! Read-only tables for Lua 5.x: module tables, shared standard tables.
//!
//! A module's exports live in an inner table Lua code never sees. Lua sees an
//! empty proxy whose metatable forwards reads (`__index` is the inner table
//! itself, so a call costs one extra table lookup, no function call), `pairs`
//! and `#`, and refuses writes. Raw access would bypass the metatable, so the
//! base replaces `rawset`, `rawget`, `rawlen`, `next` and `setmetatable` with
//! C functions that behave exactly like Lua's own (same checks, same
//! messages, same call-site positions) except that they see through proxies
//! and refuse to modify them. `getmetatable(m)` returns a locked table that
//! refuses writes too. The `debug` library, which could still bypass all of
//! this, is not loaded in luamod states.
//!
//! Proxies are found through two weak-keyed registry tables (proxy → inner
//! table, proxy → name).

use std::ffi::{CStr, c_int};

use mlua::ffi::{self, lua_State};
use mlua::{Lua, Table};

/// Registry keys of the proxy tables, by name and luamod's version: every
/// copy of luamod in one Lua state (two modules a stock interpreter loads,
/// each linking its own luamod) finds the same tables, so the guards the
/// first copy installed know the proxies of the second.
macro_rules! registry_key {
    ($name:literal) => {
        match CStr::from_bytes_with_nul(
            concat!(
                "luamod.readonly.",
                $name,
                ".",
                env!("CARGO_PKG_VERSION"),
                "\0"
            )
            .as_bytes(),
        ) {
            Ok(k) => k,
            Err(_) => panic!("registry key"),
        }
    };
}
const INNER_KEY: &CStr = registry_key!("inner");
const NAME_KEY: &CStr = registry_key!("name");
const NO_FINALIZERS_KEY: &CStr = registry_key!("no_finalizers");

/// Pushes the inner table of the proxy at `idx`, or nil if `idx` is no proxy.
///
/// # Safety
/// Live state, room for two values, `idx` absolute; inside a C function
/// whose frame owns nothing (the registry key's string may be interned
/// anew, which allocates and may raise).
unsafe fn push_inner(state: *mut lua_State, idx: c_int) {
    // SAFETY: balanced: pushes the registry table, replaces it by the lookup.
    unsafe {
        ffi::lua_getfield(state, ffi::LUA_REGISTRYINDEX, INNER_KEY.as_ptr());
        ffi::lua_pushvalue(state, idx);
        ffi::lua_rawget(state, -2);
        ffi::lua_remove(state, -2);
    }
}

/// If the value at `idx` is a proxy, replaces it by its inner table.
///
/// # Safety
/// As [`push_inner`].
unsafe fn unwrap_proxy(state: *mut lua_State, idx: c_int) {
    // SAFETY: see push_inner; `lua_replace` pops the inner table.
    unsafe {
        push_inner(state, idx);
        if ffi::lua_type(state, -1) == ffi::LUA_TTABLE {
            ffi::lua_replace(state, idx);
        } else {
            ffi::lua_pop(state, 1);
        }
    }
}

/// Raises `attempt to modify read-only table 'NAME'` if `idx` is a proxy.
///
/// # Safety
/// Live state inside a C function; may raise (longjmp), so the caller's
/// frame must own nothing that needs dropping.
unsafe fn refuse_if_proxy(state: *mut lua_State, idx: c_int) {
    // SAFETY: balanced lookups; luaL_error raises with only C data live.
    unsafe {
        ffi::lua_getfield(state, ffi::LUA_REGISTRYINDEX, NAME_KEY.as_ptr());
        ffi::lua_pushvalue(state, idx);
        ffi::lua_rawget(state, -2);
        if ffi::lua_type(state, -1) == ffi::LUA_TSTRING {
            let name = ffi::lua_tostring(state, -1);
            ffi::luaL_error(
                state,
                c"attempt to modify read-only table '%s'".as_ptr(),
                name,
            );
        }
        ffi::lua_pop(state, 2);
    }
}

/// Raises Lua's "X expected, got Y" argument error.
///
/// # Safety
/// Live state inside a C function whose frame owns nothing to drop.
unsafe fn type_error(state: *mut lua_State, arg: c_int, expected: &CStr) -> c_int {
    // SAFETY: forwarded.
    unsafe { crate::ffi::stack::luaL_typeerror(state, arg, expected.as_ptr()) }
}

// The C functions below own no Rust values: every local is an integer or a
// pointer, so raising from them (luaL_check*, luaL_error) skips nothing.

/// `__newindex` of proxies and of their locked metatables.
unsafe extern "C-unwind" fn refuse_write(state: *mut lua_State) -> c_int {
    // SAFETY: called by Lua with the table as argument 1.
    unsafe {
        refuse_if_proxy(state, 1);
        ffi::luaL_error(state, c"attempt to modify a read-only table".as_ptr())
    }
}

/// `__len` of proxies: the raw length of the inner table.
unsafe extern "C-unwind" fn proxy_len(state: *mut lua_State) -> c_int {
    // SAFETY: called by Lua with the proxy as argument 1.
    unsafe {
        ffi::luaL_checkstack(state, 2, std::ptr::null());
        push_inner(state, 1);
        let n = ffi::lua_rawlen(state, -1);
        ffi::lua_pushinteger(state, n as ffi::lua_Integer);
        1
    }
}

/// `__pairs` of proxies: `next, proxy, nil`. The iteration state is the
/// proxy itself (the guarded `next` sees through it), so `pairs` never
/// hands out the inner table.
unsafe extern "C-unwind" fn proxy_pairs(state: *mut lua_State) -> c_int {
    // SAFETY: called by Lua with the proxy as argument 1.
    unsafe {
        ffi::luaL_checkstack(state, 3, std::ptr::null());
        ffi::lua_pushcfunction(state, guarded_next);
        ffi::lua_pushvalue(state, 1);
        ffi::lua_pushnil(state);
        3
    }
}

/// `next`, as Lua's `luaB_next`, seeing through proxies.
unsafe extern "C-unwind" fn guarded_next(state: *mut lua_State) -> c_int {
    // SAFETY: Lua's own checks first, then stack work on argument 1.
    unsafe {
        ffi::luaL_checktype(state, 1, ffi::LUA_TTABLE);
        ffi::lua_settop(state, 2);
        ffi::luaL_checkstack(state, 2, std::ptr::null());
        unwrap_proxy(state, 1);
        if ffi::lua_next(state, 1) != 0 {
            2
        } else {
            ffi::lua_pushnil(state);
            1
        }
    }
}

/// `rawget`, as Lua's `luaB_rawget`, seeing through proxies.
unsafe extern "C-unwind" fn guarded_rawget(state: *mut lua_State) -> c_int {
    // SAFETY: as guarded_next.
    unsafe {
        ffi::luaL_checktype(state, 1, ffi::LUA_TTABLE);
        ffi::luaL_checkany(state, 2);
        ffi::lua_settop(state, 2);
        ffi::luaL_checkstack(state, 2, std::ptr::null());
        unwrap_proxy(state, 1);
        ffi::lua_rawget(state, 1);
        1
    }
}

/// `rawlen`, as Lua's `luaB_rawlen`, seeing through proxies.
unsafe extern "C-unwind" fn guarded_rawlen(state: *mut lua_State) -> c_int {
    // SAFETY: as guarded_next.
    unsafe {
        let t = ffi::lua_type(state, 1);
        if t != ffi::LUA_TTABLE && t != ffi::LUA_TSTRING {
            type_error(state, 1, c"table or string");
        }
        ffi::luaL_checkstack(state, 2, std::ptr::null());
        unwrap_proxy(state, 1);
        ffi::lua_pushinteger(state, ffi::lua_rawlen(state, 1) as ffi::lua_Integer);
        1
    }
}

/// `rawset`, as Lua's `luaB_rawset`, refusing proxies.
unsafe extern "C-unwind" fn guarded_rawset(state: *mut lua_State) -> c_int {
    // SAFETY: as guarded_next.
    unsafe {
        ffi::luaL_checktype(state, 1, ffi::LUA_TTABLE);
        ffi::luaL_checkany(state, 2);
        ffi::luaL_checkany(state, 3);
        ffi::luaL_checkstack(state, 2, std::ptr::null());
        refuse_if_proxy(state, 1);
        ffi::lua_settop(state, 3);
        ffi::lua_rawset(state, 1);
        1
    }
}

/// `setmetatable`, as Lua's `luaB_setmetatable`, refusing proxies by name.
unsafe extern "C-unwind" fn guarded_setmetatable(state: *mut lua_State) -> c_int {
    // SAFETY: as guarded_next.
    unsafe {
        let t = ffi::lua_type(state, 2);
        ffi::luaL_checktype(state, 1, ffi::LUA_TTABLE);
        if t != ffi::LUA_TNIL && t != ffi::LUA_TTABLE {
            type_error(state, 2, c"nil or table");
        }
        ffi::luaL_checkstack(state, 2, std::ptr::null());
        refuse_if_proxy(state, 1);
        if ffi::luaL_getmetafield(state, 1, c"__metatable".as_ptr()) != ffi::LUA_TNIL {
            return ffi::luaL_error(state, c"cannot change a protected metatable".as_ptr());
        }
        ffi::lua_settop(state, 2);
        if t == ffi::LUA_TTABLE && finalizers_forbidden(state) {
            // Lua marks an object for finalization by a raw look at the
            // metatable's `__gc` when the metatable is set; so do we.
            ffi::lua_pushliteral(state, c"__gc");
            if ffi::lua_rawget(state, 2) != ffi::LUA_TNIL {
                return ffi::luaL_error(
                    state,
                    c"finalizers (__gc) are not available in a sandboxed process".as_ptr(),
                );
            }
            ffi::lua_pop(state, 1);
        }
        ffi::lua_setmetatable(state, 1);
        1
    }
}

/// Whether `setmetatable` refuses metatables with a `__gc` field here.
///
/// # Safety
/// Live state with room for one value, inside a C function whose frame
/// owns nothing (the lookup may allocate and raise).
unsafe fn finalizers_forbidden(state: *mut lua_State) -> bool {
    // SAFETY: one value pushed and popped.
    unsafe {
        let t = ffi::lua_getfield(state, ffi::LUA_REGISTRYINDEX, NO_FINALIZERS_KEY.as_ptr());
        ffi::lua_pop(state, 1);
        t != ffi::LUA_TNIL
    }
}

/// From now on `setmetatable` refuses metatables with a `__gc` field in
/// `lua`'s state: a finalizer runs inside whatever code is running when
/// the collector reaches the object, which in a runtime is some other
/// process, with its permissions.
pub(crate) fn forbid_finalizers(lua: &Lua) -> mlua::Result<()> {
    // SAFETY: sets a registry field to `true`.
    unsafe {
        lua.exec_raw::<()>((), |st| {
            ffi::lua_pushboolean(st, 1);
            ffi::lua_setfield(st, ffi::LUA_REGISTRYINDEX, NO_FINALIZERS_KEY.as_ptr());
        })
    }
}

/// Whether `t` is a frozen table (a proxy made by [`freeze`]).
pub(crate) fn is_frozen(lua: &Lua, t: &Table) -> mlua::Result<bool> {
    Ok(registry_get(lua, INNER_KEY)?
        .raw_get::<Option<Table>>(t)?
        .is_some())
}

/// The table behind the proxy `t`, if it is one (for audits from Rust; Lua
/// code never gets it).
pub(crate) fn inner_of(lua: &Lua, t: &Table) -> mlua::Result<Option<Table>> {
    registry_get(lua, INNER_KEY)?.raw_get(t)
}

fn c_fn(lua: &Lua, f: ffi::lua_CFunction) -> mlua::Result<mlua::Function> {
    // SAFETY: every function passed here is defined in this module and
    // follows the C function protocol, owning no Rust values when it raises.
    unsafe { lua.create_c_function(f) }
}

fn registry_table(lua: &Lua, k: &'static CStr) -> mlua::Result<Table> {
    let t = lua.create_table()?;
    let mt = lua.create_table()?;
    mt.raw_set("__mode", "k")?;
    t.set_metatable(Some(mt))?;
    // SAFETY: mlua pushes `t` as the closure's only argument; the closure
    // pops it into the registry.
    unsafe {
        lua.exec_raw::<()>(&t, |st| {
            ffi::lua_setfield(st, ffi::LUA_REGISTRYINDEX, k.as_ptr());
        })?;
    }
    Ok(t)
}

fn registry_get(lua: &Lua, k: &'static CStr) -> mlua::Result<Table> {
    // SAFETY: pushes one value, which mlua pops as the result.
    unsafe {
        lua.exec_raw::<Table>((), |st| {
            ffi::lua_getfield(st, ffi::LUA_REGISTRYINDEX, k.as_ptr());
        })
    }
}

/// Installs the guarded raw functions and the proxy registry. Idempotent
/// per state (called from [`crate::install_base`] once).
pub(crate) fn install(lua: &Lua) -> mlua::Result<()> {
    registry_table(lua, INNER_KEY)?;
    registry_table(lua, NAME_KEY)?;
    let g = lua.globals();
    g.raw_set("next", c_fn(lua, guarded_next)?)?;
    g.raw_set("rawget", c_fn(lua, guarded_rawget)?)?;
    g.raw_set("rawlen", c_fn(lua, guarded_rawlen)?)?;
    g.raw_set("rawset", c_fn(lua, guarded_rawset)?)?;
    g.raw_set("setmetatable", c_fn(lua, guarded_setmetatable)?)?;
    Ok(())
}

/// Freezes `t` and every table inside it (keys and values, to any depth;
/// a table met twice, or inside itself, is frozen once): a frozen table
/// never hands out a writable one. For data the host builds to share, such
/// as module constants.
///
/// A table's own metatable is followed too. The proxy's reads fall
/// through to the table, and from there through its metatable's
/// `__index`: an object made the usual way (`Class.__index = Class`)
/// would hand out `Class` itself, writable and shared, otherwise. The
/// metatable stays a plain table (Lua reads metatables raw); the tables
/// in it are frozen.
pub(crate) fn freeze_deep(lua: &Lua, name: &str, t: Table) -> mlua::Result<Table> {
    let mut done: Vec<(usize, Table)> = Vec::new();
    deep(lua, name, t, &mut done, 0)
}

fn deep(
    lua: &Lua,
    name: &str,
    t: Table,
    done: &mut Vec<(usize, Table)>,
    depth: usize,
) -> mlua::Result<Table> {
    if is_frozen(lua, &t)? {
        return Ok(t);
    }
    let id = t.to_pointer() as usize;
    if let Some((_, f)) = done.iter().find(|(p, _)| *p == id) {
        return Ok(f.clone());
    }
    // The proxy reads through to `t`, so it can be made first: a table
    // met again inside itself gets it.
    let frozen = freeze(lua, name, t.clone())?;
    done.push((id, frozen.clone()));
    freeze_inside(lua, name, &t, done, depth)?;
    if let Some(mt) = t.metatable() {
        freeze_inside(lua, name, &mt, done, depth)?;
    }
    Ok(frozen)
}

/// Replaces every table key and value of `t` by its frozen proxy.
fn freeze_inside(
    lua: &Lua,
    name: &str,
    t: &Table,
    done: &mut Vec<(usize, Table)>,
    depth: usize,
) -> mlua::Result<()> {
    const MAX_DEPTH: usize = 64;
    if depth > MAX_DEPTH {
        return Err(mlua::Error::runtime(format!(
            "'{name}' is nested too deeply to freeze"
        )));
    }
    let pairs: Vec<(mlua::Value, mlua::Value)> = t
        .pairs::<mlua::Value, mlua::Value>()
        .collect::<mlua::Result<_>>()?;
    for (k, v) in pairs {
        let fk = match &k {
            mlua::Value::Table(kt) => {
                mlua::Value::Table(deep(lua, name, kt.clone(), done, depth + 1)?)
            }
            other => other.clone(),
        };
        let fv = match v {
            mlua::Value::Table(vt) => mlua::Value::Table(deep(lua, name, vt, done, depth + 1)?),
            other => other,
        };
        t.raw_set(k, mlua::Value::Nil)?;
        t.raw_set(fk, fv)?;
    }
    Ok(())
}

/// Wraps `inner` in a read-only proxy named `name` (used in messages).
pub(crate) fn freeze(lua: &Lua, name: &str, inner: Table) -> mlua::Result<Table> {
    let inner_of = registry_get(lua, INNER_KEY)?;
    let name_of = registry_get(lua, NAME_KEY)?;
    let refuse = c_fn(lua, refuse_write)?;

    let locked = lua.create_table()?;
    let locked_mt = lua.create_table()?;
    locked_mt.raw_set("__newindex", &refuse)?;
    locked_mt.raw_set("__metatable", false)?;
    locked.set_metatable(Some(locked_mt))?;

    let proxy = lua.create_table()?;
    let mt = lua.create_table()?;
    mt.raw_set("__index", &inner)?;
    mt.raw_set("__newindex", &refuse)?;
    mt.raw_set("__pairs", c_fn(lua, proxy_pairs)?)?;
    mt.raw_set("__len", c_fn(lua, proxy_len)?)?;
    mt.raw_set("__metatable", &locked)?;
    proxy.set_metatable(Some(mt))?;

    inner_of.raw_set(&proxy, inner)?;
    name_of.raw_set(&proxy, name)?;
    inner_of.raw_set(&locked, lua.create_table()?)?;
    name_of.raw_set(&locked, format!("metatable of {name}"))?;
    Ok(proxy)
}
