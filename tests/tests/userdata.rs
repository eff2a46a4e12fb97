//! Userdata classes, records and collections, from Lua.

use std::sync::atomic::Ordering;

use luamod::mlua::{FromLuaMulti, Lua};
use luamod_tests::objects;

fn state() -> Lua {
    luamod::lua_with(&[&objects::MODULE, &luamod_examples::buffer::MODULE]).unwrap()
}

fn eval<T: FromLuaMulti>(lua: &Lua, code: &str) -> T {
    lua.load(code)
        .set_name("=u")
        .eval()
        .unwrap_or_else(|e| panic!("{code}: {e}"))
}

fn err(lua: &Lua, code: &str) -> String {
    eval(
        lua,
        &format!(
            "local ok, e = pcall(function() {code} end) assert(not ok, 'no error') return tostring(e)"
        ),
    )
}

/// How a type error names an object of another class: by its `__name`, as
/// Lua 5.4's library does; as `userdata` on LuaJIT, as its library does.
const BUFFER_NAME: &str = if cfg!(feature = "luajit") {
    "userdata"
} else {
    "buffer.Buffer"
};

/// `string.char`'s wording for a value that does not fit, per VM.
const OUT_OF_RANGE: &str = if cfg!(feature = "luajit") {
    "invalid value"
} else {
    "value out of range"
};

const PRELUDE: &str = "local O = require('objects'); local B = require('buffer'); ";

#[test]
fn methods_fields_and_metamethods() {
    let lua = state();
    let (s, len, size, label, eq, ne, cat): (String, i64, i64, String, bool, bool, String) = eval(
        &lua,
        &format!(
            "{PRELUDE}
             local b = B.Buffer.new('ab')
             b:write('cd', 5)
             b.label = 'x'
             local c = B.Buffer.new('abcd5')
             return tostring(b), #b, b.size, b.label, b == c, b == B.Buffer.new('z'), (b .. c):contents()"
        ),
    );
    assert_eq!(
        (s.as_str(), len, size, label.as_str(), eq, ne, cat.as_str()),
        ("Buffer(x, 5 bytes)", 5, 5, "x", true, false, "abcd5abcd5")
    );
    let (lt, le, called, neg, add, dynamic, missing): (bool, bool, i64, i64, i64, String, String) =
        eval(
            &lua,
            &format!(
                "{PRELUDE}
             local a, b = O.Tracked.new(1), O.Tracked.new(2)
             return a < b, b <= a, a(10), -b, a + 5, a.anything, a.other"
            ),
        );
    assert_eq!(
        (lt, le, called, neg, add, dynamic.as_str(), missing.as_str()),
        (true, false, 11, -2, 6, "dyn:anything", "dyn:other")
    );
    // To-be-closed variables are Lua 5.4's.
    #[cfg(not(feature = "luajit"))]
    {
        let closed: i64 = eval(
            &lua,
            &format!("{PRELUDE} local t = O.Tracked.new(5) do local c <close> = t end return t.id"),
        );
        assert_eq!(closed, -1);
    }
}

#[test]
fn unknown_fields_read_nil_and_writes_fail() {
    let lua = state();
    let v: Option<String> = eval(&lua, &format!("{PRELUDE} return B.Buffer.new().nope"));
    assert_eq!(v, None);
    assert_eq!(
        err(&lua, &format!("{PRELUDE} B.Buffer.new().nope = 1")),
        "u:1: attempt to set unknown field 'nope' on buffer.Buffer"
    );
    assert_eq!(
        err(&lua, &format!("{PRELUDE} B.Buffer.new().writes = 1")),
        "u:1: attempt to set read-only field 'writes' on buffer.Buffer"
    );
    assert_eq!(
        err(&lua, &format!("{PRELUDE} B.Buffer.new().label = {{}}")),
        "u:1: invalid value for field 'label' of buffer.Buffer (string expected, got table)"
    );
    let id: i64 = eval(
        &lua,
        &format!("{PRELUDE} local t = O.Tracked.new(1); t.id = '7'; return t.id"),
    );
    assert_eq!(id, 7);
}

#[test]
fn bad_self_and_wrong_objects_read_like_lua() {
    let lua = state();
    assert_eq!(
        err(
            &lua,
            &format!("{PRELUDE} local b = B.Buffer.new(); b.write(5)")
        ),
        "u:1: bad argument #1 to 'write' (buffer.Buffer expected, got number)"
    );
    assert_eq!(
        err(
            &lua,
            &format!("{PRELUDE} local b = B.Buffer.new(); local t = {{w = b.write}}; t:w('x')")
        ),
        "u:1: calling 'w' on bad self (buffer.Buffer expected, got table)"
    );
    assert_eq!(
        err(&lua, &format!("{PRELUDE} O.id_of(B.Buffer.new())")),
        format!("u:1: bad argument #1 to 'id_of' (objects.Tracked expected, got {BUFFER_NAME})")
    );
    assert_eq!(
        err(
            &lua,
            &format!("{PRELUDE} local b = B.Buffer.new(); b:sub('x')")
        ),
        "u:1: bad argument #1 to 'sub' (number expected, got string)"
    );
    // Userdata made elsewhere (by mlua, with user values of its own; a
    // file handle, with none) are not objects of any class.
    lua.globals()
        .set("foreign", lua.create_any_userdata(5_i64).unwrap())
        .unwrap();
    for call in [
        "O.id_of(foreign)",
        "local w = B.Buffer.new().write; w(foreign, 'x')",
        "O.id_of(io.stdout)",
    ] {
        let e = err(&lua, &format!("{PRELUDE} {call}"));
        assert!(e.contains(" expected, got "), "{e}");
    }
    // The metatable is hidden and cannot be replaced.
    let hidden: bool = eval(
        &lua,
        &format!("{PRELUDE} return getmetatable(B.Buffer.new()) == false"),
    );
    assert!(hidden);
    // Objects are accepted by &T / &mut T parameters of module functions.
    let (a, b): (i64, i64) = eval(
        &lua,
        &format!(
            "{PRELUDE} local t = O.Tracked.new(3); O.bump(t, 4); return O.id_of(t), O.bump(t)"
        ),
    );
    assert_eq!((a, b), (7, 8));
}

#[test]
fn many_borrows_in_one_call_are_all_released() {
    let lua = state();
    // Six shared borrows of one object (more than a call keeps inline),
    // then six of different objects; every borrow is released at the end
    // of its call, so the object can be borrowed mutably afterwards.
    let (same, mixed, bumped): (i64, i64, i64) = eval(
        &lua,
        &format!(
            "{PRELUDE}
             local t = O.Tracked.new(2)
             local same = O.sum_ids(t, t, t, t, t, t)
             local u = {{}}
             for i = 1, 6 do u[i] = O.Tracked.new(i) end
             local mixed = O.sum_ids(table.unpack(u))
             for i = 1, 6 do O.bump(u[i]) end
             return same, mixed, O.bump(t)"
        ),
    );
    assert_eq!((same, mixed, bumped), (12, 21, 3));
    // A failure on the sixth argument releases the five taken before it.
    let msg = err(
        &lua,
        &format!("{PRELUDE} local t = O.Tracked.new(1); O.sum_ids(t, t, t, t, t, 'x')"),
    );
    assert!(msg.contains("bad argument #6 to 'sum_ids'"), "{msg}");
    let after: i64 = eval(
        &lua,
        &format!(
            "{PRELUDE} local t = O.Tracked.new(1); pcall(O.sum_ids, t, t, t, t, t, 'x'); return O.bump(t)"
        ),
    );
    assert_eq!(after, 2);
}

#[test]
fn reentrant_mut_borrow_is_a_lua_error() {
    let lua = state();
    let msg = err(
        &lua,
        // Not a tail call (`return t:get()`): LuaJIT keeps no name for
        // the function a tail call replaced, and the message names it.
        &format!(
            "{PRELUDE} local t = O.Tracked.new(1); t:with_mut(function() local v = t:get() return v end)"
        ),
    );
    assert_eq!(
        msg,
        "u:1: calling 'get' on bad self (objects.Tracked is in use by a running method)"
    );
    // After the failed call the object is usable again.
    let v: i64 = eval(
        &lua,
        &format!(
            "{PRELUDE} local t = O.Tracked.new(1)
             pcall(t.with_mut, t, function() t:get() end)
             t:with_mut(function() end)
             return t:get()"
        ),
    );
    assert_eq!(v, 3);
}

#[test]
fn objects_are_collected_and_dropped() {
    let lua = state();
    let before = objects::DROPPED.load(Ordering::SeqCst);
    lua.load(format!("{PRELUDE} for i = 1, 100 do O.Tracked.new(i) end"))
        .exec()
        .unwrap();
    lua.gc_collect().unwrap();
    lua.gc_collect().unwrap();
    let after = objects::DROPPED.load(Ordering::SeqCst);
    // Other tests in this binary may drop their own objects concurrently,
    // so at least ours must have been dropped.
    assert!(after - before >= 100, "dropped {}", after - before);
    // Closing the state drops what is still alive.
    let lua2 = state();
    lua2.load(format!("{PRELUDE} KEEP = O.Tracked.new(1)"))
        .exec()
        .unwrap();
    let mid = objects::DROPPED.load(Ordering::SeqCst);
    drop(lua2);
    assert!(objects::DROPPED.load(Ordering::SeqCst) > mid);
}

#[test]
fn records_convert_both_ways_with_field_errors() {
    let lua = state();
    let (name, port, tls, backups, retries, label): (String, u16, bool, i64, u32, String) = eval(
        &lua,
        &format!(
            "{PRELUDE}
             local c = O.echo_config{{ name = 'svc', primary = {{ host = 'a', port = 80, tls = true }},
                                        backups = {{ {{ host = 'b', port = '81' }} }},
                                        labels = {{ env = 'prod' }} }}
             c.name = c.name .. '!'   -- a fresh, mutable table
             return c.name, c.primary.port, c.primary.tls, #c.backups, c.retries, c.labels.env"
        ),
    );
    assert_eq!(
        (name.as_str(), port, tls, backups, retries, label.as_str()),
        ("svc!", 80, true, 1, 0, "prod")
    );
    let cases = [
        (
            "O.echo_config('x')",
            "bad argument #1 to 'echo_config' (table expected, got string)",
        ),
        (
            "O.echo_config{ name = 'a', primary = { host = 'h', port = 'p' }, backups = {} }",
            "bad argument #1 to 'echo_config' (field 'primary': field 'port': number expected, got string)",
        ),
        (
            "O.echo_config{ name = 'a', primary = { host = 'h', port = 70000 }, backups = {} }",
            "bad argument #1 to 'echo_config' (field 'primary': field 'port': value out of range)",
        ),
        (
            "O.echo_config{ primary = { host = 'h', port = 1 }, backups = {} }",
            "bad argument #1 to 'echo_config' (field 'name': string expected, got nil)",
        ),
        (
            "O.echo_config{ name = 'a', primary = { host = 'h', port = 1 }, backups = { { host = 'b', port = 1 }, 5 } }",
            "bad argument #1 to 'echo_config' (field 'backups': index 2: table expected, got number)",
        ),
        (
            "O.echo_config{ name = 'a', primary = { host = 'h', port = 1, tls = 'yes' }, backups = {} }",
            "bad argument #1 to 'echo_config' (field 'primary': field 'tls': boolean expected, got string)",
        ),
        (
            "O.total({1, 2, 'x'})",
            "bad argument #1 to 'total' (index 3: number expected, got string)",
        ),
        (
            "O.weights({a = 1, b = {}})",
            "bad argument #1 to 'weights' (key 'b': number expected, got table)",
        ),
        (
            "O.weights({[{}] = 1})",
            "bad argument #1 to 'weights' (key: string expected, got table)",
        ),
    ];
    for (code, want) in cases {
        assert_eq!(
            err(&lua, &format!("{PRELUDE} {code}")),
            format!("u:1: {}", want.replace("value out of range", OUT_OF_RANGE)),
            "{code}"
        );
    }
    let (t, w, a, b): (i64, f64, i64, i64) = eval(
        &lua,
        &format!(
            "{PRELUDE} local c = O.counts({{'a', 'b', 'a'}})
             return O.total({{1, 2, '3'}}), O.weights({{x = 1.5, y = 2}}), c.a, c.b"
        ),
    );
    assert_eq!((t, w, a, b), (6, 3.5, 2, 1));
}

#[test]
fn constructors_live_in_a_read_only_class_table() {
    let lua = state();
    assert_eq!(
        err(&lua, &format!("{PRELUDE} B.Buffer.new = nil")),
        "u:1: attempt to modify read-only table 'buffer.Buffer'"
    );
    let (n, joined): (i64, String) = eval(
        &lua,
        &format!(
            "{PRELUDE} local parts = {{ B.Buffer.new('a'), B.Buffer.with{{ init = 'b', capacity = 8 }} }}
             return B.Buffer.with{{}}.size, B.join(parts, ','):contents()"
        ),
    );
    assert_eq!((n, joined.as_str()), (0, "a,b"));
}

#[test]
fn enums_are_userdata_too() {
    let lua = state();
    let (a, k, d): (f64, String, f64) = eval(
        &lua,
        &format!(
            "{PRELUDE} local r = O.Shape.rect(2, 3); return r:area(), O.Shape.circle(1).kind, O.double(r):area()"
        ),
    );
    assert_eq!((a, k.as_str(), d), (6.0, "circle", 24.0));
}

/// An object read by value out of a list is cloned and not kept borrowed:
/// the list's element is anchored by nothing once read, and the call may
/// run Lua code that changes the object (or drops the list).
#[test]
fn objects_read_by_value_from_a_list_are_not_held_borrowed() {
    let lua = state();
    let (copies, now): (f64, f64) = eval(
        &lua,
        &format!(
            "{PRELUDE} local r = O.Shape.rect(2, 3)
             local copies = O.areas_after({{ r }}, function() r:scale(2) end)
             return copies, r:area()"
        ),
    );
    assert_eq!((copies, now), (6.0, 24.0));
}

/// A finalizer that runs while a method holds its object drops the value
/// when the method is done with it, not under it. A script reaches such
/// an object through a weak-keyed table, which keeps an object whose
/// finalizer is pending until it is freed. (LuaJIT runs no emergency
/// collection, which this test uses to leave a finalizer pending.)
#[cfg(not(feature = "luajit"))]
#[test]
fn a_finalizer_never_drops_an_object_a_method_holds() {
    let lua = state();
    let mem = luamod::MemoryControl::install(&lua).unwrap();
    mem.set_limit(mem.used() + (4 << 20));
    let before = objects::PENDING_DROPPED.load(Ordering::SeqCst);
    let (during, finalized): (bool, String) = eval(
        &lua,
        "local O = require('objects')
         -- No collection but the ones below.
         collectgarbage('stop')
         local wk = setmetatable({}, { __mode = 'k' })
         wk[O.Pending.new()] = true
         -- Refused at the limit: Lua's emergency collection queues the
         -- object's finalizer and runs none.
         local s = ('x'):rep(1 << 20)
         assert(not pcall(function() return s .. s .. s .. s .. s .. s end))
         local o = assert(next(wk), 'the weak table keeps the object')
         local during = o:dropped_during(function() collectgarbage() end)
         local ok, e = pcall(o.dropped_during, o, function() end)
         assert(not ok)
         collectgarbage('restart')
         return during, tostring(e)",
    );
    assert!(!during, "the value was dropped while its method held it");
    // Dropped once, when the method released it.
    assert_eq!(objects::PENDING_DROPPED.load(Ordering::SeqCst), before + 1);
    assert!(finalized.contains("has been finalized"), "{finalized}");
    mem.set_limit(0);
}

/// A map is read with `lua_next`, which raises (over the Rust values being
/// built) when the key it resumes from has left the table; a finalizer
/// that an element's conversion sets off (a number key made a string
/// allocates) can make it leave. The read refuses a table that changes
/// under it instead. (LuaJIT runs no finalizer of a table.)
#[cfg(not(feature = "luajit"))]
#[test]
fn a_map_that_changes_while_it_is_read_is_refused() {
    let lua = state();
    let e: String = eval(
        &lua,
        "local O = require('objects')
         local t = {}
         for i = 1, 100000 do t[i + 0.5] = 1 end
         local armed, done = false, false
         collectgarbage('stop')
         for i = 1, 100 do
           setmetatable({}, { __gc = function()
             if armed and not done then
               done = true
               for k in pairs(t) do t[k] = nil end
               -- More keys than it has room for: the table is rebuilt,
               -- without the keys just cleared.
               for j = 1, 200000 do t['n' .. j] = j end
             end
           end })
         end
         -- Collections back to back, from the first allocation on.
         collectgarbage('incremental', 0, 1000)
         armed = true
         collectgarbage('restart')
         local ok, e = pcall(O.weights, t)
         collectgarbage('incremental', 200, 100)
         assert(done, 'a finalizer ran during the read')
         assert(not ok)
         return tostring(e)",
    );
    assert!(e.contains("changed while it was read"), "{e}");
}

/// Arguments that fill the Lua stack to its last slots: reading a function
/// argument (through the registry, which pushes one more value on LuaJIT's
/// compatibility `lua_rawsetp`) fails with an error, never an abort.
#[test]
fn an_export_called_at_the_stacks_end_fails_cleanly() {
    let lua = state();
    // LuaJIT's LUAI_MAXCSTACK, Lua 5.4's LUAI_MAXSTACK.
    let limit = if cfg!(feature = "luajit") {
        8_000
    } else {
        1_000_000
    };
    let calls: i64 = eval(
        &lua,
        &format!(
            "local O = require('objects')
             local unpack = table.unpack or unpack
             local o, f = O.Tracked.new(1), function() end
             local t = {{}} for i = 1, {limit} do t[i] = i end
             local calls = 0
             for n = {limit} - 40, {limit} do
               pcall(function() return o:with_mut(f, unpack(t, 1, n)) end)
               calls = calls + 1
             end
             return calls"
        ),
    );
    assert_eq!(calls, 41);
}
