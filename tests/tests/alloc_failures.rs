//! Allocation-failure injection, in the style of SQLite's out-of-memory
//! tests: for every kind of export, fail the Nth Lua allocation for N = 1,
//! 2, 3, ... until the call completes. For every N there must be no abort
//! and no crash; the call either succeeds or fails with Lua's
//! `not enough memory`; every Rust value it created is dropped; no object
//! stays borrowed; and the state keeps working.

#![cfg(not(feature = "luajit"))]

use std::sync::atomic::Ordering;

use luamod::MemoryControl;
use luamod::mlua::{Function, Lua, MultiValue, Table, Value};
use luamod_tests::oom::oom::LIVE;

/// One Lua chunk per kind of export. Each gets the module as `m` and a
/// long-lived object as `keep`.
const CASES: &[(&str, &str)] = &[
    (
        "string result",
        "return m.echo('a string long enough to be allocated on its own')",
    ),
    ("&str from a number", "return m.len(12345.678)"),
    ("sequence of allocating values", "return m.many(12)"),
    ("table in, map out", "return m.table({'a', 'b', 'a', 'c'})"),
    (
        "record in and out",
        "return m.record({x = 1.5, label = 'p', tags = {'x', 'y'}})",
    ),
    ("error value (nil, err)", "return m.fail('nope')"),
    ("Ok result", "return m.ok('fine')"),
    ("permission refusal", "return m.secret()"),
    ("panic", "return pcall(m.boom)"),
    ("mlua handles", "return m.handle({1, 2, 3})"),
    ("Invoke", "return m.call(function(x) return x end)"),
    ("yield outside a process", "return pcall(m.wait)"),
    ("argument error", "return pcall(m.echo)"),
    ("userdata constructor", "return m.Obj.new('fresh')"),
    ("&mut self method", "return keep:rename('renamed')"),
    (
        "method, metamethod, field",
        "return keep:describe(), tostring(keep), keep.name",
    ),
    (
        "field setter",
        "keep.name = 'set by field'; return keep.name",
    ),
    ("__eq", "return m.Obj.new('a') == m.Obj.new('a')"),
    (
        "errors module",
        "return errors.new{kind = 'INVALID', message = 'm', details = {a = 1}}",
    ),
];

/// `m.boom` panics on purpose: keep its message out of the output.
fn quiet_kaboom() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let prev = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if !info.to_string().contains("kaboom") {
                prev(info);
            }
        }));
    });
}

/// The tests count live values in one global: they must not overlap.
static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn serial() -> std::sync::MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|p| p.into_inner())
}

fn state() -> (Lua, Function) {
    quiet_kaboom();
    let lua = luamod::lua_with(&[&luamod_tests::oom::MODULE]).unwrap();
    lua.load("keep = require('oom').Obj.new('kept')")
        .exec()
        .unwrap();
    let wrap: Function = lua
        .load("return function(src) local f = assert(load(src, '=case', 't', setmetatable({m = require('oom'), keep = keep}, {__index = _G}))) return f end")
        .eval()
        .unwrap();
    (lua, wrap)
}

fn describe(v: &MultiValue) -> String {
    v.iter()
        .map(|v| match v {
            Value::String(s) => s.to_string_lossy(),
            Value::UserData(_) | Value::Table(_) | Value::Function(_) => v.type_name().to_owned(),
            other => format!("{other:?}"),
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// The checks after each injected run: nothing borrowed, nothing leaked,
/// the state works.
fn check_after(lua: &Lua, case: &str, n: u64) {
    let ok: String = lua
        .load("local old = keep:rename('kept'); return keep:describe()")
        .eval()
        .unwrap_or_else(|e| panic!("{case}, N = {n}: the kept object is unusable: {e}"));
    assert_eq!(ok, "kept (obj)", "{case}, N = {n}");
    let two: i64 = lua.load("return 1 + 1").eval().unwrap();
    assert_eq!(two, 2);
    lua.gc_collect().unwrap();
    lua.gc_collect().unwrap();
    // The kept object holds one live value.
    assert_eq!(
        LIVE.load(Ordering::SeqCst),
        1,
        "{case}, N = {n}: a Rust value leaked or was dropped twice"
    );
}

#[test]
fn every_allocation_of_every_export_kind_can_fail() {
    let _serial = serial();
    let mut points = 0;
    for (case, src) in CASES {
        let (lua, wrap) = state();
        let f: Function = wrap.call(*src).unwrap();
        let expected = describe(
            &f.call::<MultiValue>(())
                .unwrap_or_else(|e| panic!("{case}: {e}")),
        );
        let mem = MemoryControl::install(&lua).unwrap();
        check_after(&lua, case, 0);
        let mut n = 1;
        loop {
            mem.fail_from(n);
            let r = f.call::<MultiValue>(());
            let injected = mem.stop_failing();
            match &r {
                Ok(v) if !injected => {
                    assert_eq!(
                        describe(v),
                        expected,
                        "{case}: the result after the last injection"
                    );
                }
                Ok(_) => {}
                Err(e) => {
                    let text = e.to_string();
                    assert!(
                        text.contains("not enough memory"),
                        "{case}, N = {n}: expected a memory error, got: {text}"
                    );
                }
            }
            drop(r);
            check_after(&lua, case, n);
            if !injected {
                break;
            }
            n += 1;
        }
        println!("{case}: {} injection points in a warm state", n - 1);
        points += n - 1;
        drop(mem);
        drop(f);
        drop(wrap);
        drop(lua);
        assert_eq!(
            LIVE.load(Ordering::SeqCst),
            0,
            "{case}: values left after the state closed"
        );
        points += cold(case, src, &expected);
    }
    println!("{points} injection points in all");
    assert!(
        points > 100,
        "too few allocation points were exercised: {points}"
    );
}

/// The case run first thing in a fresh state for each N, so that the
/// first-use paths (metatables, the error constructor's class, interned
/// names) fail too. Returns the number of injection points.
fn cold(case: &str, src: &str, expected: &str) -> u64 {
    let mut n = 1;
    loop {
        let (lua, wrap) = state();
        let f: Function = wrap.call(src).unwrap();
        let mem = MemoryControl::install(&lua).unwrap();
        mem.fail_from(n);
        let r = f.call::<MultiValue>(());
        let injected = mem.stop_failing();
        match &r {
            Ok(v) if !injected => assert_eq!(describe(v), expected, "{case}: cold"),
            Ok(_) => {}
            Err(e) => assert!(
                e.to_string().contains("not enough memory"),
                "{case}, cold N = {n}: {e}"
            ),
        }
        drop(r);
        check_after(&lua, case, n);
        drop((mem, f, wrap, lua));
        assert_eq!(LIVE.load(Ordering::SeqCst), 0, "{case}, cold N = {n}");
        if !injected {
            println!("{case}: {} injection points in a fresh state", n - 1);
            return n - 1;
        }
        n += 1;
    }
}

/// The same exports on a state that keeps mlua's allocator, limited with
/// mlua's own `Lua::set_memory_limit`: luamod protects each allocating
/// call with `lua_pcall` there. The limit is swept upwards byte group by
/// byte group, so each allocation of the call fails in some run.
#[test]
fn mlua_memory_limits_are_supported() {
    let _serial = serial();
    for (case, src) in CASES {
        let (lua, wrap) = state();
        let f: Function = wrap.call(*src).unwrap();
        let expected = describe(&f.call::<MultiValue>(()).unwrap());
        let mut failures = 0;
        let mut extra = 0;
        loop {
            // Twice: objects with finalizers are freed by the second cycle.
            lua.gc_collect().unwrap();
            lua.gc_collect().unwrap();
            lua.set_memory_limit(lua.used_memory() + extra).unwrap();
            let r = f.call::<MultiValue>(());
            lua.set_memory_limit(0).unwrap();
            match &r {
                Ok(v) if describe(v) == expected => break,
                // A `pcall` inside the case caught the memory error.
                Ok(v) => {
                    failures += 1;
                    assert!(
                        describe(v).contains("not enough memory"),
                        "{case}: {}",
                        describe(v)
                    );
                }
                Err(e) => {
                    failures += 1;
                    let text = e.to_string();
                    assert!(
                        text.contains("not enough memory"),
                        "{case}, +{extra} bytes: {text}"
                    );
                }
            }
            drop(r);
            check_after(&lua, case, extra as u64);
            extra += 8;
            assert!(extra < 1 << 20, "{case}: never completed");
        }
        assert!(failures > 0, "{case}: no allocation ever failed");
        drop(f);
        drop(wrap);
        drop(lua);
        assert_eq!(LIVE.load(Ordering::SeqCst), 0, "{case}");
    }
}

#[test]
fn a_table_argument_survives_failures_too() {
    let _serial = serial();
    let (lua, _) = state();
    let mem = MemoryControl::install(&lua).unwrap();
    let t: Table = lua.load("return {4, 5, 6}").eval().unwrap();
    let m: Table = lua.load("return require('oom')").eval().unwrap();
    let handle: Function = m.get("handle").unwrap();
    for n in 1..200 {
        mem.fail_from(n);
        let _ = handle.call::<Value>(&t);
        if !mem.stop_failing() {
            break;
        }
    }
    let out: Table = handle.call(&t).unwrap();
    assert_eq!(out.get::<i64>(3).unwrap(), 12);
}

/// The same proof for runtime processes: the n-th allocation of the worker
/// fails, for n = 1, 2, 3, ... until a process runs through without one —
/// spawning (environment, compilation), running (tables, strings,
/// coroutines, errors), yielding to a handler and resuming, finishing.
/// Every run succeeds or fails with `RESOURCE_EXHAUSTED`; the worker keeps
/// answering.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn runtime_processes_fail_cleanly_at_every_allocation() {
    let rt = luamod::Runtime::builder()
        .module(&luamod_examples::time::MODULE)
        .module(&luamod_examples::greet::MODULE)
        .workers(1)
        .build()
        .unwrap();
    let src = r#"
        local t = {}
        for i = 1, 20 do t[i] = ("v"):rep(i) .. i end
        local co = coroutine.wrap(function(a) local b = coroutine.yield(a + 1) return b * 2 end)
        local x = co(1) + co(3)
        require("time").sleep(0)
        local ok, e = pcall(error, { code = 7 })
        local g = require("greet").greet("Ann")
        return #t + x + e.code + #g
    "#;
    let expected: i64 = rt.run(src).await.unwrap();
    let points = sweep_runtime(&rt, src, &expected).await;
    println!("runtime processes: {points} injection points");
    assert!(points > 20);
}

/// Runs `src` in `rt` with the n-th allocation of the worker failing, for
/// n = 1, 2, 3, ... until a run goes through without one: every run
/// returns `expected` or fails with `RESOURCE_EXHAUSTED`, and the worker
/// answers after each. Returns the number of injection points.
async fn sweep_runtime<T>(rt: &luamod::Runtime, src: &str, expected: &T) -> u64
where
    T: luamod::mlua::FromLuaMulti + Send + PartialEq + std::fmt::Debug + 'static,
{
    use luamod::ErrorKind;
    use luamod::testing::{fail_allocations_from, stop_failing_allocations};
    for n in 1.. {
        fail_allocations_from(rt, n).await;
        let r = rt.run::<T>(src).await;
        let injected = stop_failing_allocations(rt).await;
        match r {
            Ok(v) => assert_eq!(&v, expected, "n = {n}"),
            Err(e) => assert_eq!(e.kind(), Some(ErrorKind::ResourceExhausted), "n = {n}: {e}"),
        }
        let alive: i64 = rt.run("return 40 + 2").await.unwrap();
        assert_eq!(alive, 42, "n = {n}");
        if !injected {
            return n;
        }
        assert!(n < 100_000, "no end to the allocations");
    }
    unreachable!("the sweep returns when a run injected nothing")
}

/// Lua makes the message of a coroutine that cannot be resumed (dead,
/// running, normal) on that coroutine, outside any protected call on it: a
/// failed allocation there has no handler to reach and would abort the
/// host. Swept over every allocation of a script that resumes all three,
/// from coroutines nested two deep: each run returns Lua's messages or
/// fails with `RESOURCE_EXHAUSTED`, and the worker keeps answering.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resuming_what_cannot_be_resumed_fails_cleanly_at_every_allocation() {
    let rt = luamod::Runtime::builder().workers(1).build().unwrap();
    let src = r#"
        local dead = coroutine.create(function() end)
        coroutine.resume(dead)
        -- Lua's message; a memory error goes on as one (level 0 keeps the
        -- message as it is, which Lua raises as a memory error).
        local function message(ok, e)
            if e == 'not enough memory' then error(e, 0) end
            return e
        end
        return coroutine.wrap(function()
            local outer = coroutine.running()
            return coroutine.wrap(function()
                local a = message(coroutine.resume(dead))
                local b = message(coroutine.resume(coroutine.running()))
                local c = message(coroutine.resume(outer))
                return a .. '|' .. b .. '|' .. c
            end)()
        end)()
    "#;
    let expected: String = rt.run(src).await.unwrap();
    assert_eq!(
        expected,
        "cannot resume dead coroutine|cannot resume non-suspended coroutine\
         |cannot resume non-suspended coroutine"
    );
    let points = sweep_runtime(&rt, src, &expected).await;
    println!("resuming what cannot be resumed: {points} injection points");
    assert!(points > 10);
}

/// A state with a 1 MiB string in the global `big` and a memory limit
/// that leaves room for half a copy of it.
fn half_a_copy_of_big() -> (Lua, MemoryControl) {
    let (lua, _) = state();
    let mem = MemoryControl::install(&lua).unwrap();
    lua.load("big = string.rep('x', 1 << 20)").exec().unwrap();
    lua.gc_collect().unwrap();
    mem.set_limit(mem.used() + (1 << 19));
    (lua, mem)
}

/// Makes the `oom` module's pushes lift the memory limit right after they
/// push (its `AFTER_PUSH`), until dropped.
struct LiftAfterPush;

impl LiftAfterPush {
    fn new(mem: &std::rc::Rc<MemoryControl>) -> LiftAfterPush {
        let mem = mem.clone();
        luamod_tests::oom::oom::AFTER_PUSH
            .with(|h| *h.borrow_mut() = Some(Box::new(move || mem.set_limit(0))));
        LiftAfterPush
    }
}

impl Drop for LiftAfterPush {
    fn drop(&mut self) {
        luamod_tests::oom::oom::AFTER_PUSH.with(|h| h.borrow_mut().take());
    }
}

/// A state with a 48 KiB string in the global `big` and a memory limit
/// that leaves 16 KiB of room: a copy of it is small enough to be made in
/// an allocation window (larger strings are refused before they are
/// made), and too large for the room. The limit is lifted after the next
/// push past it, for as long as the returned guard lives (see
/// `LiftAfterPush`).
fn a_third_of_a_copy_of_big() -> (Lua, std::rc::Rc<MemoryControl>, LiftAfterPush) {
    let (lua, _) = state();
    let mem = std::rc::Rc::new(MemoryControl::install(&lua).unwrap());
    lua.load("big = string.rep('x', 48 * 1024)").exec().unwrap();
    lua.gc_collect().unwrap();
    mem.set_limit(mem.used() + 16 * 1024);
    let lifting = LiftAfterPush::new(&mem);
    (lua, mem, lifting)
}

/// A result that does not fit under the memory limit is not handed to the
/// script: the allocation made while Rust values were alive was let
/// through, and the call raises `not enough memory` once they are dropped.
/// (Returning it would let a script grow past its limit one result at a
/// time.)
#[test]
fn a_result_past_the_memory_limit_raises_instead_of_returning() {
    let _serial = serial();
    let (lua, mem) = half_a_copy_of_big();
    let r = lua.load("return #require('oom').echo(big)").eval::<i64>();
    let e = r.expect_err("a 1 MiB result under half a MiB of room");
    assert!(e.to_string().contains("not enough memory"), "{e}");
    mem.set_limit(0);
    lua.load("big = nil").exec().unwrap();
    check_after(&lua, "a result past the limit", 0);
}

/// A failure deferred by a push and then a panic: the call raises `not
/// enough memory` (not the panic's `INTERNAL` error), and the failure is
/// not left behind for the next call to raise. The limit is lifted between
/// the push and the panic, so that reporting the panic cannot run out of
/// memory itself.
#[test]
fn a_deferred_failure_before_a_panic_is_raised_by_that_call_only() {
    let _serial = serial();
    let (lua, mem, _lifting) = a_third_of_a_copy_of_big();
    let r = lua.load("return require('oom').push_then_boom(big)").exec();
    let e = r.expect_err("a panic after a push past the limit");
    assert!(e.to_string().contains("not enough memory"), "{e}");
    // The next call, well within the limit (set again), is not charged
    // for it.
    lua.gc_collect().unwrap();
    mem.set_limit(mem.used() + (16 << 10));
    let n: i64 = lua.load("return #require('oom').echo('x')").eval().unwrap();
    assert_eq!(n, 1);
    mem.set_limit(0);
    lua.load("big = nil").exec().unwrap();
    check_after(&lua, "a push, then a panic", 0);
}

/// Each call answers for the allocation failures deferred during it.
/// Here an export's result goes past the limit (deferred); then, still
/// inside the call, the limit is lifted and Lua code calls another export:
/// that call, within the limit, returns its answer, and the first raises
/// `not enough memory`. (With one flag per state, the second call took the
/// first one's failure and raised it, and the first returned its result
/// past the limit.)
#[test]
fn a_deferred_failure_is_raised_by_the_call_that_deferred_it() {
    let _serial = serial();
    let (lua, _mem, _lifting) = a_third_of_a_copy_of_big();
    let r = lua
        .load(
            "local oom = require('oom')
             inner = 'not run'
             return #oom.push_then_call(big, function() inner = oom.echo('x') end)",
        )
        .eval::<i64>();
    let e = r.expect_err("a 48 KiB result under 16 KiB of room");
    assert!(e.to_string().contains("not enough memory"), "{e}");
    let inner: String = lua.globals().get("inner").unwrap();
    assert_eq!(inner, "x", "the inner call, within the limit, answered");
    lua.load("big = nil").exec().unwrap();
    check_after(&lua, "a failure deferred before a nested call", 0);
}

/// A window inside a window: an export whose guarded push runs a
/// finalizer that calls another export, which goes past the limit. The
/// inner call raises `not enough memory` (in the finalizer), and so does
/// the outer one, in whose window the memory was made. (With one flag per
/// state, the inner call took it and the outer returned.)
#[test]
fn a_failure_deferred_in_a_nested_window_is_raised_by_both_calls() {
    let _serial = serial();
    // The inner call lifts the limit right after its push, so that nothing
    // after it is deferred: the outer call answers for the inner one's
    // failure alone.
    let (lua, mem, _lifting) = a_third_of_a_copy_of_big();
    lua.load(
        "ok, err = true, ''
         local function noop() end
         setmetatable({}, { __gc = function()
           ok, err = pcall(require('oom').push_then_call, big, noop)
         end })",
    )
    .exec()
    .unwrap();
    let r = lua
        .load("return require('oom').collect_then_push()")
        .eval::<String>();
    let e = r.expect_err("the outer call's window holds the inner's failure");
    assert!(e.to_string().contains("not enough memory"), "{e}");
    let (ok, err): (bool, String) = lua.load("return ok, tostring(err)").eval().unwrap();
    assert!(!ok, "the inner call raised");
    assert!(err.contains("not enough memory"), "{err}");
    mem.set_limit(0);
    lua.load("big = nil").exec().unwrap();
    check_after(&lua, "a failure deferred in a nested window", 0);
}

/// A large string result that would pass the memory limit is refused
/// before it is made: the state never holds more than its limit (made
/// inside the allocation window, it stayed as garbage past the limit).
#[test]
fn a_string_result_past_the_limit_is_refused_before_it_is_made() {
    let lua = luamod::lua_with(&[&luamod_examples::greet::MODULE]).unwrap();
    let mem = MemoryControl::install(&lua).unwrap();
    lua.gc_collect().unwrap();
    mem.set_limit(mem.used() + (4 << 20));
    let err = lua
        .load("return require('greet').chant('x', 6 << 20)")
        .exec()
        .unwrap_err();
    assert!(err.to_string().contains("not enough memory"), "{err}");
    assert!(
        mem.used() <= mem.limit(),
        "{} used of {}",
        mem.used(),
        mem.limit()
    );
    // Under the limit, the same export is fine.
    let n: usize = lua
        .load("return #require('greet').chant('x', 1 << 20)")
        .eval()
        .unwrap();
    assert_eq!(n, 1 << 20);
}

/// mlua's count of its allocator's bytes against Lua's own count.
fn counts(lua: &Lua) -> (f64, f64) {
    let lua_kib: f64 = lua.load("return collectgarbage('count')").eval().unwrap();
    (lua.used_memory() as f64 / 1024.0, lua_kib)
}

#[test]
fn a_state_reuses_the_blocks_it_freed_and_gives_them_back() {
    let lua = Lua::new();
    let (mlua_kib, lua_kib) = counts(&lua);
    assert_eq!(mlua_kib, lua_kib, "the two counts agree to begin with");
    let mem = luamod::MemoryControl::install(&lua).unwrap();
    // Garbage made with the collector stopped, freed by one collection.
    let churn = "collectgarbage('stop')
                 local t for i = 1, 10000 do t = {i, tostring(i)} end
                 collectgarbage('restart')";
    lua.load(churn).exec().unwrap();
    lua.gc_collect().unwrap();
    let kept = mem.kept();
    assert!(kept > 100_000, "a collection's garbage is kept: {kept}");
    lua.load("local t for i = 1, 100 do t = {i} end")
        .exec()
        .unwrap();
    assert!(mem.kept() < kept, "new objects take kept blocks");
    mem.trim();
    assert_eq!(mem.kept(), 0);
    // Blocks kept when the allocator goes are given back to mlua's.
    lua.load(churn).exec().unwrap();
    lua.gc_collect().unwrap();
    assert!(mem.kept() > 0);
    drop(mem);
    lua.gc_collect().unwrap();
    let (mlua_kib, lua_kib) = counts(&lua);
    assert_eq!(mlua_kib, lua_kib, "no block is left counted by mlua alone");
    lua.load(churn).exec().unwrap();
}

/// Blocks kept for reuse count against the limit: a script that frees
/// blocks of one size after another (each on its own list) cannot make
/// the state hold more than its limit, and a request that needs their
/// room gets it.
#[test]
fn kept_blocks_stay_within_the_memory_limit() {
    let lua = Lua::new();
    let mem = MemoryControl::install(&lua).unwrap();
    let limit = mem.used() + (2 << 20);
    mem.set_limit(limit);
    // About 256 KiB of distinct strings of each length, dropped.
    let churn: Function = lua
        .load(
            "return function(n)
               local t = {}
               for i = 1, (256 * 1024) // n do t[i] = ('x'):rep(n - 6) .. ('%06d'):format(i) end
               t = nil
               collectgarbage()
             end",
        )
        .eval()
        .unwrap();
    let mut most_kept = 0;
    for n in (60..1000).step_by(10) {
        churn.call::<()>(n).unwrap();
        most_kept = most_kept.max(mem.kept());
        assert!(
            mem.used() + mem.kept() <= limit,
            "length {n}: {} used and {} kept under a limit of {limit}",
            mem.used(),
            mem.kept()
        );
    }
    assert!(most_kept > 100_000, "blocks were kept: {most_kept}");
    // A lower limit applies to kept blocks at once.
    churn.call::<()>(500).unwrap();
    assert!(mem.kept() > 100_000, "{}", mem.kept());
    let lower = mem.used() + mem.kept() / 2;
    mem.set_limit(lower);
    assert!(
        mem.used() + mem.kept() <= lower,
        "{} used and {} kept under a lowered limit of {lower}",
        mem.used(),
        mem.kept()
    );
    mem.set_limit(limit);
    // A table as large as the room left plus half of what is kept: it
    // fits only once the kept blocks are given back.
    churn.call::<()>(500).unwrap();
    let kept = mem.kept();
    assert!(kept > 1024, "{kept}");
    let room = limit - mem.used() - kept;
    let t = lua
        .create_table_with_capacity((room + kept / 2) / 16, 0)
        .unwrap();
    assert!(
        mem.used() + mem.kept() <= limit,
        "{} used and {} kept under a limit of {limit}",
        mem.used(),
        mem.kept()
    );
    drop(t);
}

/// A collection result that passes the memory limit stops at the first
/// element that does not fit: each element is pushed inside an allocation
/// window, where nothing refuses it, so a result of many elements below
/// the 64 KiB pre-check left the state holding several times its limit.
#[test]
fn a_collection_result_stops_at_the_first_element_past_the_limit() {
    let _serial = serial();
    let lua =
        luamod::lua_with(&[&luamod_examples::greet::MODULE, &luamod_tests::oom::MODULE]).unwrap();
    let mem = MemoryControl::install(&lua).unwrap();
    for (case, setup, call) in [
        // Multiple results (`Variadic`): 200 strings of 60 KB.
        (
            "variadic",
            "s = ('x'):rep(60000) names = {} for i = 1, 200 do names[i] = s end",
            "return select('#', require('greet').greet_all(table.unpack(names)))",
        ),
        // A sequence (`Vec`) of 200,000 objects.
        ("sequence", "", "return #require('oom').many(200000)"),
        // A map (`BTreeMap`) of 200,000 keys.
        (
            "map",
            "words = {} for i = 1, 200000 do words[i] = 'word number ' .. i end",
            "return require('oom').table(words)",
        ),
    ] {
        mem.set_limit(0);
        lua.load(setup).exec().unwrap();
        lua.gc_collect().unwrap();
        let limit = mem.used() + (4 << 20);
        mem.set_limit(limit);
        let err = lua.load(call).exec().unwrap_err();
        assert!(
            err.to_string().contains("not enough memory"),
            "{case}: {err}"
        );
        assert!(
            mem.used() <= limit + (512 << 10),
            "{case}: {} used under a limit of {limit}",
            mem.used()
        );
    }
    mem.set_limit(0);
}

/// Once a call has made something past the memory limit, it makes nothing
/// more: converting number arguments to strings (each in an allocation
/// window, where nothing refuses it) went on to the call's end, and
/// 990,000 of them left a state several times past its limit. Counted by
/// the allocator's refusals, each a request let through past the limit
/// inside a window (what is left after the call is no measure: the error
/// that ends it runs an emergency collection).
#[test]
fn argument_conversions_stop_at_the_first_past_the_limit() {
    let _serial = serial();
    let lua = luamod::lua_with(&[&luamod_examples::greet::MODULE]).unwrap();
    let mem = MemoryControl::install(&lua).unwrap();
    // 200,000 distinct numbers: each converts to a string of its own,
    // 8 MB of them in all, past the room left once `table.unpack` has
    // grown the stack (about 6 MB).
    lua.load("nums = {} for i = 1, 200000 do nums[i] = i + 0.5 end")
        .exec()
        .unwrap();
    lua.gc_collect().unwrap();
    mem.set_limit(mem.used() + (10 << 20));
    let refused = mem.refusals();
    let err = lua
        .load("return select('#', require('greet').greet_all(table.unpack(nums)))")
        .exec()
        .unwrap_err();
    assert!(err.to_string().contains("not enough memory"), "{err}");
    let past = mem.refusals() - refused;
    assert!(past <= 4, "{past} requests were let through past the limit");
    mem.set_limit(0);
}
