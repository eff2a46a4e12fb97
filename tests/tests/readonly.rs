//! Module tables are created once per state and are read-only.

use luamod::mlua::Lua;

fn state() -> Lua {
    luamod::lua_with(&[&luamod_tests::probe::MODULE]).unwrap()
}

fn error_of(lua: &Lua, code: &str) -> String {
    lua.load(format!("local p = require('probe')\nlocal ok, e = pcall(function() {code} end)\nassert(not ok, 'no error')\nreturn tostring(e)"))
        .set_name("=ro")
        .eval()
        .unwrap_or_else(|e| panic!("{code}: {e}"))
}

#[test]
fn writes_fail_naming_the_module() {
    let lua = state();
    let want = "ro:2: attempt to modify read-only table 'probe'";
    assert_eq!(error_of(&lua, "p.floor = nil"), want);
    assert_eq!(error_of(&lua, "p.new_key = 1"), want);
    assert_eq!(error_of(&lua, "p[1] = 1"), want);
    assert_eq!(error_of(&lua, "rawset(p, 'floor', 1)"), want);
    assert_eq!(error_of(&lua, "setmetatable(p, {})"), want);
    assert_eq!(
        error_of(&lua, "getmetatable(p).__index = {}"),
        "ro:2: attempt to modify read-only table 'metatable of probe'"
    );
    assert_eq!(
        error_of(&lua, "rawset(getmetatable(p), '__index', {})"),
        "ro:2: attempt to modify read-only table 'metatable of probe'"
    );
    // Nothing changed.
    let n: i64 = lua
        .load("return require('probe').floor(3.5)")
        .eval()
        .unwrap();
    assert_eq!(n, 3);
}

#[test]
fn reads_iterate_like_a_table() {
    let lua = state();
    let (names, via_next, first_key_ok, raw): (String, bool, bool, bool) = lua
        .load(
            "local p = require('probe')
             local names = {}
             for k, v in pairs(p) do assert(type(v) == 'function' or k == 'LIMITS'); names[#names + 1] = k end
             table.sort(names)
             local k = next(p)
             return table.concat(names, ','), k ~= nil, p[k] ~= nil, rawget(p, 'floor') == p.floor",
        )
        .eval()
        .unwrap();
    assert!(
        names.starts_with("LIMITS,apply,boom,byte,bytes_len,char,concat,"),
        "{names}"
    );
    assert!(via_next && first_key_ok && raw);
    let len: i64 = lua.load("return #require('probe')").eval().unwrap();
    assert_eq!(len, 0); // no array part: `#` is forwarded, not faked
}

#[test]
fn same_table_on_every_require_and_data_stays_mutable() {
    let lua = state();
    let same: bool = lua
        .load("return require('probe') == require('probe') and require('probe') == package.loaded.probe")
        .eval()
        .unwrap();
    assert!(same);
    // Binding again returns the cached table.
    let t1 = luamod_tests::probe::MODULE.bind(&lua).unwrap();
    let t2 = luamod_tests::probe::MODULE.bind(&lua).unwrap();
    assert_eq!(t1, t2);
    let v: i64 = lua
        .load("local t = require('probe').pair(1, 2); t.a = 10; rawset(t, 'z', 5); setmetatable(t, nil); return t.a + t.z")
        .eval()
        .unwrap();
    assert_eq!(v, 15);
}

#[test]
fn guarded_raw_functions_keep_lua_wording() {
    let lua = state();
    for (code, want) in [
        (
            "rawset(1)",
            "bad argument #1 to 'rawset' (table expected, got number)",
        ),
        (
            "rawset({}, 1)",
            "bad argument #3 to 'rawset' (value expected)",
        ),
        (
            "next(nil)",
            "bad argument #1 to 'next' (table expected, got nil)",
        ),
        (
            "rawlen(5)",
            "bad argument #1 to 'rawlen' (table or string expected, got number)",
        ),
        (
            "setmetatable({}, 1)",
            "bad argument #2 to 'setmetatable' (nil or table expected, got number)",
        ),
        (
            "rawget()",
            "bad argument #1 to 'rawget' (table expected, got no value)",
        ),
    ] {
        assert_eq!(error_of(&lua, code), format!("ro:2: {want}"));
    }
    let msg = error_of(
        &lua,
        "local t = setmetatable({}, {__metatable = 'locked'}); setmetatable(t, {})",
    );
    assert_eq!(msg, "ro:2: cannot change a protected metatable");
}

#[test]
fn constant_tables_are_frozen_to_any_depth() {
    let lua = luamod::lua_with(&[&luamod_tests::probe::MODULE]).unwrap();
    let (max, e1, e2, e3): (i64, String, String, String) = lua
        .load(
            "local p = require('probe')
             local function err(f) local ok, e = pcall(f) assert(not ok) return e end
             return p.LIMITS.size.max,
                    err(function() p.LIMITS.size.max = 11 end),
                    err(function() rawset(p.LIMITS.size, 'x', 1) end),
                    err(function() local _, t = pairs(p.LIMITS); rawset(t, 'x', 1) end)",
        )
        .set_name("=t")
        .eval()
        .unwrap();
    assert_eq!(max, 10);
    assert!(e1.contains("read-only table 'probe.LIMITS'"), "{e1}");
    assert!(e2.contains("read-only table"), "{e2}");
    assert!(e3.contains("read-only table"), "{e3}");
}

/// Frozen host data holding an object made the usual way.
fn frozen_object(lua: &Lua) {
    let data: luamod::mlua::Table = lua
        .load(
            "local Class = { shared = {} }
             Class.__index = Class
             function Class.name(self) return self.n end
             return { obj = setmetatable({ n = 'x' }, Class) }",
        )
        .eval()
        .unwrap();
    let frozen = luamod::freeze(lua, "cfg", data).unwrap();
    lua.globals().set("cfg", frozen).unwrap();
}

/// A frozen table's own metatable is followed: an object made the usual
/// way (`Class.__index = Class`) inside frozen host data still finds its
/// methods, and hands out `Class`, and the tables in it, read-only only.
/// (Reads through the proxy fell through to the object and on through
/// its metatable to `Class` itself: a writable table every process on the
/// worker shared.)
#[test]
fn a_frozen_objects_class_is_frozen_too() {
    let lua = luamod::lua_with(&[]).unwrap();
    frozen_object(&lua);
    let (name, e1, e2): (String, String, String) = lua
        .load(
            "local function err(f) local ok, e = pcall(f) assert(not ok, 'no error') return tostring(e) end
             return cfg.obj:name(),
                    err(function() cfg.obj.__index.name = print end),
                    err(function() cfg.obj.shared.x = 1 end)",
        )
        .eval()
        .unwrap();
    assert_eq!(name, "x");
    assert!(e1.contains("read-only table 'cfg'"), "{e1}");
    assert!(e2.contains("read-only table 'cfg'"), "{e2}");
}

/// The audit reads through a frozen object's own metatable, and finds
/// nothing writable there.
#[cfg(not(feature = "luajit"))]
#[test]
fn the_audit_reads_through_a_frozen_objects_class() {
    let lua = luamod::lua_with(&[]).unwrap();
    // The sandbox shares the string metatable read-only, as a runtime does.
    luamod::sandbox::apply(&lua, &luamod::Sandbox::default()).unwrap();
    frozen_object(&lua);
    let env: luamod::mlua::Table = lua.load("return { cfg = cfg }").eval().unwrap();
    let found = luamod::testing::writable_shared_tables(&lua, &env).unwrap();
    assert!(found.is_empty(), "{found:?}");
}

/// Data that contains itself freezes (it was refused as nested too
/// deeply): the table met again inside itself is its own proxy.
#[test]
fn data_that_contains_itself_freezes() {
    let lua = luamod::lua_with(&[]).unwrap();
    let data: luamod::mlua::Table = lua
        .load("local t = { n = 1 } t.self = t return t")
        .eval()
        .unwrap();
    let frozen = luamod::freeze(&lua, "cfg", data).unwrap();
    lua.globals().set("cfg", frozen).unwrap();
    let (same, n, e): (bool, i64, String) = lua
        .load(
            "local ok, e = pcall(function() cfg.self.n = 2 end)
             assert(not ok)
             return cfg.self == cfg, cfg.self.self.n, tostring(e)",
        )
        .eval()
        .unwrap();
    assert!(same);
    assert_eq!(n, 1);
    assert!(e.contains("read-only table 'cfg'"), "{e}");
}
