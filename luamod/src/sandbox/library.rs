//! Rewriting a state's standard library for sandboxed code, and freezing
//! every table that code shares.

use std::ffi::c_int;

use mlua::ffi::{self, lua_State};
use mlua::{Lua, Table, Value};

use super::options::Sandbox;
use super::{print, random};
use crate::readonly;

/// Registry key of the table of standard libraries `require` may return.
const STDLIB_KEY: &str = "luamod.stdlib";
/// Registry key of the same for workflows (their `os` has no clocks).
const WORKFLOW_STDLIB_KEY: &str = "luamod.workflow_stdlib";
/// Registry key of the bound modules (kept by `module::bind`).
const MODULES_KEY: &str = "luamod.modules";

/// The standard tables sandboxed code shares, frozen by [`restrict`].
const SHARED: &[&str] = &["string", "table", "math", "os", "utf8", "coroutine"];

/// What the runtime needs from a restricted state to build processes.
pub(crate) struct Restricted {
    /// `loadfile`, when file loading is allowed.
    pub loadfile: Option<mlua::Function>,
    /// The `os` a workflow sees: no clock.
    pub workflow_os: Table,
    /// The `package` a workflow sees (its `loaded.os` is `workflow_os`).
    pub workflow_package: Table,
    /// `pairs` and `next` in a fixed key order, for workflows.
    pub workflow_pairs: mlua::Function,
    pub workflow_next: mlua::Function,
    /// Whether binary chunks are allowed.
    pub binary_chunks: bool,
}

/// Puts `lua`'s own globals in a sandbox: the host's plain state then runs
/// code the way a runtime process does (same library, frozen shared
/// tables), with its globals still its own.
///
/// ```
/// let lua = luamod::lua_with(&[])?;
/// luamod::sandbox::apply(&lua, &luamod::Sandbox::default())?;
/// let io_gone: bool = lua.load("return io == nil and os.execute == nil").eval()?;
/// assert!(io_gone);
/// assert!(lua.load("string.upper = nil").exec().is_err());
/// # Ok::<(), mlua::Error>(())
/// ```
pub fn apply(lua: &Lua, sandbox: &Sandbox) -> mlua::Result<()> {
    restrict(lua, sandbox).map(drop)
}

/// Rewrites `lua`'s globals as `sandbox` allows and freezes the shared
/// tables. Process environments read through to a private copy of them.
pub(crate) fn restrict(lua: &Lua, sandbox: &Sandbox) -> mlua::Result<Restricted> {
    crate::module::install_base(lua)?;
    let g = lua.globals();
    // The parser fed in pieces it can be stopped between (`super::load`).
    let load = if sandbox.binary_chunks {
        super::load::load
    } else {
        super::load::load_text
    };
    // SAFETY: both follow the C function protocol (see `super::load`).
    g.raw_set("load", unsafe { lua.create_c_function(load)? })?;
    let loadfile: Option<mlua::Function> = g.raw_get("loadfile")?;

    // Long C loops that the runtime can interrupt (in a plain state they
    // behave as Lua's own).
    super::pattern::install(lua)?;
    super::bounded::install(lua)?;
    super::conversions::install_format(lua)?;
    if !sandbox.io {
        g.raw_set("io", Value::Nil)?;
    }
    g.raw_set("debug", Value::Nil)?;
    g.raw_set("warn", Value::Nil)?;
    if !sandbox.file_loading {
        g.raw_set("loadfile", Value::Nil)?;
        g.raw_set("dofile", Value::Nil)?;
    }
    let os = reduced_os(lua, &g.raw_get::<Table>("os")?, sandbox)?;
    g.raw_set("os", os)?;
    if !sandbox.binary_chunks {
        g.raw_get::<Table>("string")?.raw_set("dump", Value::Nil)?;
    }
    if !sandbox.gc_control {
        // SAFETY: `count_only_gc` follows the C function protocol and owns
        // nothing when it raises.
        g.raw_set("collectgarbage", unsafe {
            lua.create_c_function(count_only_gc)?
        })?;
    }
    g.raw_set("print", print::install(lua, sandbox.print.clone())?)?;
    let math: Table = g.raw_get("math")?;
    // SAFETY: both follow the C function protocol (see `random`).
    unsafe {
        math.raw_set("random", lua.create_c_function(random::random)?)?;
        math.raw_set("randomseed", lua.create_c_function(random::randomseed)?)?;
    }
    if !sandbox.finalizers {
        readonly::forbid_finalizers(lua)?;
    }

    // Freeze what every piece of sandboxed code shares.
    let stdlib = lua.create_table()?;
    for name in SHARED {
        if let Some(t) = g.raw_get::<Option<Table>>(*name)? {
            let frozen = if readonly::is_frozen(lua, &t)? {
                t
            } else {
                readonly::freeze(lua, name, t)?
            };
            g.raw_set(*name, &frozen)?;
            stdlib.raw_set(*name, frozen)?;
        }
    }
    if let Some(io) = g.raw_get::<Option<Table>>("io")? {
        let frozen = readonly::freeze(lua, "io", io)?;
        g.raw_set("io", &frozen)?;
        stdlib.raw_set("io", frozen)?;
    }
    if let Some(errors) = g.raw_get::<Option<Table>>("errors")? {
        stdlib.raw_set("errors", errors)?;
    }
    lua.set_named_registry_value(STDLIB_KEY, &stdlib)?;
    // Strings index the frozen `string`; their metatable is hidden.
    let string_mt: Table = lua.load("return getmetatable('')").eval()?;
    string_mt.raw_set("__index", g.raw_get::<Table>("string")?)?;
    string_mt.raw_set("__metatable", false)?;

    // `package` holds only a frozen snapshot of what `require` returns.
    let loaded = lua.create_table()?;
    for pair in stdlib.pairs::<Value, Value>() {
        let (k, v) = pair?;
        loaded.raw_set(k, v)?;
    }
    if let Some(modules) = lua.named_registry_value::<Option<Table>>(MODULES_KEY)? {
        for pair in modules.pairs::<Value, Value>() {
            let (k, v) = pair?;
            loaded.raw_set(k, v)?;
        }
    }
    let loaded_snapshot = loaded.clone();
    let package = lua.create_table()?;
    package.raw_set("loaded", readonly::freeze(lua, "package.loaded", loaded)?)?;
    g.raw_set("package", readonly::freeze(lua, "package", package)?)?;
    // SAFETY: `require_bound` follows the C function protocol and owns
    // nothing when it raises.
    g.raw_set("require", unsafe { lua.create_c_function(require_bound)? })?;

    // What a workflow sees instead: an `os` without clocks, in `require`
    // and in `package.loaded` too.
    let workflow_os = lua.create_table()?;
    if let Some(d) = g
        .raw_get::<Table>("os")?
        .get::<Option<mlua::Function>>("difftime")?
    {
        workflow_os.raw_set("difftime", d)?;
    }
    super::determinism::refusing_clocks(lua, &workflow_os)?;
    let ordered = super::determinism::workflow_globals(lua, &g)?;
    let workflow_os = readonly::freeze(lua, "os", workflow_os)?;
    let workflow_stdlib = lua.create_table()?;
    let workflow_loaded = lua.create_table()?;
    for pair in loaded_snapshot.pairs::<Value, Value>() {
        let (k, v) = pair?;
        workflow_loaded.raw_set(k, v)?;
    }
    for pair in stdlib.pairs::<Value, Value>() {
        let (k, v) = pair?;
        workflow_stdlib.raw_set(k, v)?;
    }
    workflow_stdlib.raw_set("os", &workflow_os)?;
    workflow_loaded.raw_set("os", &workflow_os)?;
    lua.set_named_registry_value(WORKFLOW_STDLIB_KEY, workflow_stdlib)?;
    let workflow_package = lua.create_table()?;
    workflow_package.raw_set(
        "loaded",
        readonly::freeze(lua, "package.loaded", workflow_loaded)?,
    )?;
    Ok(Restricted {
        loadfile: sandbox.file_loading.then_some(loadfile).flatten(),
        workflow_os,
        workflow_package: readonly::freeze(lua, "package", workflow_package)?,
        workflow_pairs: ordered.pairs,
        workflow_next: ordered.next,
        binary_chunks: sandbox.binary_chunks,
    })
}

/// `os` with the clock and what `sandbox` allows, nothing else (never
/// `exit`, which would end the host).
fn reduced_os(lua: &Lua, os: &Table, sandbox: &Sandbox) -> mlua::Result<Table> {
    let mut keep = vec!["clock", "date", "difftime", "time"];
    if sandbox.io {
        keep.extend(["execute", "remove", "rename", "tmpname"]);
    }
    if sandbox.env {
        keep.push("getenv");
    }
    let out = lua.create_table()?;
    for k in keep {
        out.raw_set(k, os.raw_get::<Value>(k)?)?;
    }
    if let Some(date) = os.raw_get::<Option<mlua::Function>>("date")? {
        let date = super::conversions::date_of(lua, date)?;
        // Also in the `os` that `package.loaded` keeps, where Lua looks up
        // a function's name for a message when it has no other.
        os.raw_set("date", &date)?;
        out.raw_set("date", date)?;
    }
    Ok(out)
}

/// `collectgarbage("count")`, and a clear error for every other option.
unsafe extern "C-unwind" fn count_only_gc(state: *mut lua_State) -> c_int {
    // SAFETY: this frame owns nothing; the checks and the error may raise.
    unsafe {
        let opt = ffi::luaL_optlstring(state, 1, c"collect".as_ptr(), std::ptr::null_mut());
        // Memory use differs between runs: a workflow may not see it.
        if std::ffi::CStr::from_ptr(opt) == c"count" && !crate::security::current::in_workflow() {
            let kb = ffi::lua_gc(state, ffi::LUA_GCCOUNT, 0);
            let rest = ffi::lua_gc(state, ffi::LUA_GCCOUNTB, 0);
            ffi::lua_pushnumber(state, kb as f64 + rest as f64 / 1024.0);
            return 1;
        }
        ffi::luaL_error(
            state,
            c"collectgarbage option '%s' is not available in a sandboxed process".as_ptr(),
            opt,
        )
    }
}

/// `require(name)`: a bound module or a standard library; no searchers. A
/// workflow gets its own `os` (no clocks).
unsafe extern "C-unwind" fn require_bound(state: *mut lua_State) -> c_int {
    // SAFETY: this frame owns nothing; lookups in registry tables.
    unsafe {
        let name = ffi::luaL_checklstring(state, 1, std::ptr::null_mut());
        ffi::lua_settop(state, 1);
        let tables: &[&std::ffi::CStr] = if crate::security::current::in_workflow() {
            &[c"luamod.modules", c"luamod.workflow_stdlib"]
        } else {
            &[c"luamod.modules", c"luamod.stdlib"]
        };
        for key in tables {
            if ffi::lua_getfield(state, ffi::LUA_REGISTRYINDEX, key.as_ptr()) == ffi::LUA_TTABLE {
                ffi::lua_pushvalue(state, 1);
                if ffi::lua_rawget(state, -2) != ffi::LUA_TNIL {
                    return 1;
                }
                ffi::lua_pop(state, 1);
            }
            ffi::lua_pop(state, 1);
        }
        ffi::luaL_error(state, c"module '%s' not found".as_ptr(), name)
    }
}
