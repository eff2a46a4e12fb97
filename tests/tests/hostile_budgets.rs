//! The adversarial suite, part two: scripts that try to keep a worker, its
//! memory or the host to themselves. Each runs as a real process in the
//! real runtime; every test checks the runaway is stopped and that the
//! other processes and the host go on.
//!
//! Time bounds here are generous (a noisy 2-core machine); the measured
//! latencies are in BENCHMARKS.md.

#![cfg(not(feature = "luajit"))]

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use luamod::prelude::*;
use luamod::runtime::SpawnOptions;
use luamod_examples::time;

/// The example `buffer`'s cap on all buffers is the whole test binary's:
/// the tests that fill it, or rely on room under it, take turns.
static BUFFERS: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// One worker: a runaway there would starve everything else.
fn runtime() -> Runtime {
    runtime_with(1)
}

/// A runtime with the modules the spinners use.
fn runtime_with(workers: usize) -> Runtime {
    Runtime::builder()
        .module(&time::MODULE)
        .module(&luamod_examples::buffer::MODULE)
        .module(&luamod_examples::json::MODULE)
        .workers(workers)
        .build()
        .unwrap()
}

/// One worker with `modules`, its state limited to `bytes`.
fn limited(modules: &[&'static luamod::ModuleDef], bytes: usize) -> Runtime {
    let mut b = Runtime::builder().workers(1).memory_limit(bytes);
    for m in modules {
        b = b.module(m);
    }
    b.build().unwrap()
}

/// How many iterations of an empty Lua loop `rt`'s worker runs per
/// millisecond, for tests that size work in time slices.
async fn loop_iterations_per_ms(rt: &Runtime) -> f64 {
    rt.run(
        "local time, n = require('time'), 4000000
         local t0 = time.now()
         for i = 1, n do end
         return n / math.max(1, time.now() - t0)",
    )
    .await
    .unwrap()
}

/// The order in which `hog` and `sibling` finish.
async fn finishing_order(
    rt: &Runtime,
    hog: luamod::Pid,
    sibling: luamod::Pid,
) -> Vec<&'static str> {
    let order = std::sync::Mutex::new(Vec::new());
    tokio::join!(
        async {
            rt.join(hog).await.unwrap();
            order.lock().unwrap().push("hog");
        },
        async {
            rt.join(sibling).await.unwrap();
            order.lock().unwrap().push("sibling");
        }
    );
    order.into_inner().unwrap()
}

/// Scripts that never give the worker back on their own.
const SPINNERS: &[(&str, &str)] = &[
    ("loop", "while true do end"),
    ("yield loop", "while true do coroutine.yield() end"),
    (
        "nested coroutine",
        "coroutine.wrap(function() while true do end end)()",
    ),
    (
        "coroutine in a coroutine",
        "local co = coroutine.create(function()
           coroutine.wrap(function() local x = 0 while true do x = x + 1 end end)()
         end)
         print(coroutine.resume(co))",
    ),
    (
        "pcall loop",
        "while true do pcall(function() while true do end end) end",
    ),
    (
        "sort comparator",
        "table.sort({3, 2, 1}, function(a, b) while true do end end)",
    ),
    (
        "comparator with pcall",
        "table.sort({3, 2, 1}, function(a, b)
           while true do pcall(function() while true do end end) end
         end)",
    ),
    (
        "gsub callback",
        "string.gsub('abc', '%w', function() while true do end end)",
    ),
    (
        "metamethod",
        "local t = setmetatable({}, { __index = function() while true do end end }) return t.x",
    ),
    (
        "error handler",
        "xpcall(error, function() while true do end end)",
    ),
    (
        "handler that fails",
        "while true do xpcall(error, function(e) return e.x.y end) end",
    ),
    (
        "__close",
        "do local x <close> = setmetatable({}, { __close = function() while true do end end }) end",
    ),
    (
        "__tostring in C",
        "return string.format('%s', setmetatable({}, { __tostring = function() while true do end end }))",
    ),
    (
        "load reader",
        "while true do load(function() while true do end end) end",
    ),
    (
        "__close after a stop",
        "local co = coroutine.create(function()
           local g <close> = setmetatable({}, { __close = function() while true do end end })
           table.sort({3, 2, 1}, function() while true do end end)
         end)
         coroutine.resume(co)
         coroutine.close(co)
         while true do end",
    ),
    (
        "wrap cleaning up after a stop",
        "pcall(coroutine.wrap(function()
           local g <close> = setmetatable({}, { __close = function() while true do end end })
           table.sort({3, 2, 1}, function() while true do end end)
         end))
         while true do end",
    ),
    (
        "pattern that backtracks",
        "return ('a'):rep(40):find(('a?'):rep(40) .. ('a'):rep(40))",
    ),
    (
        "gsub that backtracks",
        "return (('a'):rep(30)):gsub(('a*'):rep(30) .. 'b', '')",
    ),
    (
        "gmatch that backtracks",
        "for x in (('a'):rep(30)):gmatch(('a-'):rep(30) .. 'b') do end",
    ),
    (
        "find with a long bracket class",
        "return string.find(('b'):rep(1e6), '[' .. ('a'):rep(1e6) .. 'b]*c')",
    ),
    (
        "balance over a long subject",
        "return (('('):rep(1e7)):find('%b()')",
    ),
    (
        "gsub with a long replacement",
        "local r = ('%0'):rep(1e6) while true do (('x'):rep(1e5)):gsub('', r) end",
    ),
    (
        "long error through nested wraps",
        "local msg = ('x'):rep(5e7)
         local function nest(d)
           if d == 0 then error(msg, 0) end
           return coroutine.wrap(function() return nest(d - 1) end)()
         end
         while true do pcall(nest, 190) end",
    ),
    (
        "format of many costly conversions",
        "local n = 200000 local args = {} for i = 1, n do args[i] = 1.7976931348623157e308 end
         local f = ('%.99f'):rep(n)
         while true do pcall(string.format, f, table.unpack(args, 1, n)) end",
    ),
    (
        "date of many conversions",
        "local f = ('%%'):rep(1e7) while true do pcall(os.date, f) end",
    ),
    (
        "format quoting long strings",
        "local s = ('\\1'):rep(1 << 20) local a = {} for i = 1, 1000 do a[i] = s end
         local f = ('%q'):rep(1000)
         while true do pcall(string.format, f, table.unpack(a)) end",
    ),
    (
        "format whose conversions have no letter",
        "local f = ('%1'):rep(5e6) while true do pcall(string.format, f) end",
    ),
    ("move of nothing", "table.move({}, 1, math.maxinteger, 1)"),
    (
        "insert under a huge length",
        "table.insert(setmetatable({}, { __len = function() return 1 << 62 end }), 1, 'x')",
    ),
    (
        "remove under a huge length",
        "table.remove(setmetatable({}, { __len = function() return 1 << 62 end }), 1)",
    ),
    (
        "sort of long strings",
        "local s = ('x'):rep(1 << 20) local t = {} for i = 1, 20000 do t[i] = s end table.sort(t)",
    ),
    (
        "sort of very long strings",
        "local s = ('x'):rep(1 << 26) local t = {} for i = 1, 300 do t[i] = s end
         while true do table.sort(t) end",
    ),
    (
        "plain find of a long needle",
        "return string.find(('a'):rep(2e7), ('a'):rep(1e5) .. 'b', 1, true)",
    ),
    (
        "sort by pcall of a spinning wrap",
        "local F = coroutine.wrap(function() while true do end end)
         local t = {} for i = 1, 100000 do t[i] = F end
         table.sort(t, pcall)",
    ),
    // Code that cannot be stopped where it is and spends its time in
    // coroutines it starts one after another: the signal lands in one of
    // them, which is stopped, and the loop starts the next.
    (
        "comparator resuming spinners",
        "table.sort({3, 2, 1}, function()
           while true do coroutine.resume(coroutine.create(function() while true do end end)) end
         end)",
    ),
    (
        "gsub callback calling wrapped spinners under pcall",
        "string.gsub('abc', '%w', function()
           while true do pcall(coroutine.wrap(function() while true do end end)) end
         end)",
    ),
    (
        "__close resuming spinners",
        "do local x <close> = setmetatable({}, { __close = function()
           while true do coroutine.resume(coroutine.create(function() while true do end end)) end
         end }) end",
    ),
    (
        "callback of a Rust function resuming spinners",
        "require('buffer').Buffer.new('a'):each_line(function()
           while true do coroutine.resume(coroutine.create(function() while true do end end)) end
         end)",
    ),
    // Lua code that runs on a thread other than the one the process (or its
    // `coroutine` library) resumed: the `__close` handlers of a coroutine
    // being closed, and a callback a Rust function calls through mlua
    // (on the worker state's main thread).
    (
        "__close of a coroutine it closes",
        "local co = coroutine.create(function()
           local g <close> = setmetatable({}, { __close = function() while true do end end })
           coroutine.yield()
         end)
         coroutine.resume(co)
         coroutine.close(co)
         while true do end",
    ),
    (
        "__close of a wrap that failed",
        "pcall(coroutine.wrap(function()
           local g <close> = setmetatable({}, { __close = function() while true do end end })
           error('x')
         end))
         while true do end",
    ),
    (
        "callback of a Rust function",
        "require('buffer').Buffer.new('a'):each_line(function() while true do end end)",
    ),
    // C code that loops calling C functions: no Lua instruction runs.
    (
        "concat of a table whose __index is concat",
        "local t = setmetatable({}, { __index = table.concat })
         table.concat(t, '', 1, math.maxinteger)",
    ),
    (
        "C function as the callback of a Rust function",
        "local b = require('buffer').Buffer.new(('x\\n'):rep(1 << 24))
         while true do b:each_line(type) end",
    ),
    (
        "callback of a Rust function, retried",
        "local b = require('buffer').Buffer.new('a')
         while true do pcall(b.each_line, b, function() while true do end end) end",
    ),
    // C loops that read through a 1,990-deep `__index` chain of tables:
    // one element is 1,990 lookups and no call.
    (
        "unpack through a deep __index chain",
        "local t = {} for i = 1, 1990 do t = setmetatable({}, { __index = t }) end
         while true do pcall(table.unpack, t, 1, 500000) end",
    ),
    (
        "concat through a deep __index chain",
        "local t = {} for i = 1, 200000 do t[i] = 'x' end
         for i = 1, 1990 do t = setmetatable({}, { __index = t }) end
         while true do table.concat(t, '', 1, 200000) end",
    ),
    // Lua's parser: C with no hook, quadratic on a long `or` chain (each
    // load here ran about a minute in one go).
    (
        "load of a long or chain",
        "local s = 'return a' .. (' or a'):rep(300000) while true do load(s) end",
    ),
    (
        "load by a reader that returns it at once",
        "local s = 'return a' .. (' or a'):rep(300000)
         while true do
           local once = s
           load(function() local p = once once = nil return p end)
         end",
    ),
    // A Rust export that walks what the script hands it: the example
    // `json.encode` over a table emptied of its 2^17 entries, 131,000
    // times (each `pairs` walks the empty slots).
    (
        "json of an emptied table, many times",
        "local E = {} for i = 1, 1 << 17 do E[i] = true end for i = 1, 1 << 17 do E[i] = nil end
         local o = {} for i = 1, 131000 do o[i] = E end
         local encode = require('json').encode
         while true do pcall(encode, o) end",
    ),
    (
        "deep recursion",
        "local function f(n) return 1 + f(n + 1) end print(pcall(f, 1)) while true do end",
    ),
    (
        "recursion",
        "local function f(n) if n > 100 then n = 0 end return f(n + 1) end return f(0)",
    ),
];

fn opts(name: &str) -> SpawnOptions {
    SpawnOptions {
        name: Some(name.to_owned()),
        ..SpawnOptions::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_spinning_process_is_stopped_by_its_deadline() {
    let rt = runtime();
    for (name, src) in SPINNERS {
        let deadline = Duration::from_millis(100);
        let started = Instant::now();
        let r: Result<(), _> = rt
            .run_with(
                *src,
                SpawnOptions {
                    deadline: Some(deadline),
                    ..opts(name)
                },
            )
            .await;
        let late = started.elapsed().saturating_sub(deadline);
        let err = r.expect_err(name);
        assert_eq!(err.kind(), Some(ErrorKind::Timeout), "{name}: {err}");
        assert!(
            late < Duration::from_secs(1),
            "{name}: stopped {late:?} late"
        );
    }
    let two: i64 = rt.run("return 1 + 1").await.unwrap();
    assert_eq!(two, 2);
    // What Lua would loop on for ages and that has nothing to do.
    let empty: String = rt
        .run("return string.rep('', math.maxinteger) .. string.rep('', math.maxinteger, '')")
        .await
        .unwrap();
    assert_eq!(empty, "");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_spinning_process_is_stopped_by_cancel() {
    let rt = runtime();
    for (name, src) in SPINNERS {
        let pid = rt.spawn(*src, opts(name)).unwrap();
        tokio::time::sleep(Duration::from_millis(50)).await;
        let asked = Instant::now();
        rt.cancel(pid);
        let err = rt.join(pid).await.expect_err(name);
        assert_eq!(err.kind(), Some(ErrorKind::Canceled), "{name}: {err}");
        let took = asked.elapsed();
        assert!(
            took < Duration::from_secs(1),
            "{name}: stopped after {took:?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sleeper_beside_a_spinner_wakes_on_time() {
    let rt = runtime();
    for (name, src) in SPINNERS {
        let spinner = rt.spawn(*src, opts(name)).unwrap();
        let started = Instant::now();
        let slept: i64 = rt.run("require('time').sleep(100) return 1").await.unwrap();
        let took = started.elapsed();
        assert_eq!(slept, 1);
        assert!(
            took < Duration::from_secs(2),
            "{name}: a 100 ms sleep took {took:?} beside it"
        );
        rt.cancel(spinner);
        let err = rt.join(spinner).await.expect_err(name);
        // Canceled, or already stopped where it could not yield.
        assert!(
            matches!(
                err.kind(),
                Some(ErrorKind::Canceled | ErrorKind::ResourceExhausted)
            ),
            "{name}: {err}"
        );
    }
    let stats = rt.stats().await;
    assert!(stats[0].preemptions > 0, "{stats:?}");
    assert_eq!(stats[0].processes, 0, "{stats:?}");
}

/// The `__close` handlers of a process that is cancelled or runs out of
/// time run as it ends, and are stopped if they run on; one that spends
/// its time in coroutines it starts one after another is stopped too.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_close_handler_resuming_spinners_at_the_end_is_stopped() {
    let rt = Runtime::builder()
        .module(&time::MODULE)
        .workers(1)
        .unyielding_limit(Duration::from_millis(200))
        .build()
        .unwrap();
    let src = "local x <close> = setmetatable({}, { __close = function()
                 while true do coroutine.resume(coroutine.create(function() while true do end end)) end
               end })
               require('time').sleep(100000)";
    let deadline = Duration::from_millis(100);
    let started = Instant::now();
    let err = rt
        .run_with::<()>(
            src,
            SpawnOptions {
                deadline: Some(deadline),
                ..SpawnOptions::default()
            },
        )
        .await
        .unwrap_err();
    assert_eq!(err.kind(), Some(ErrorKind::Timeout), "{err}");
    let took = started.elapsed();
    assert!(took < Duration::from_secs(2), "ended after {took:?}");
    let pid = rt.spawn(src, SpawnOptions::default()).unwrap();
    tokio::time::sleep(Duration::from_millis(50)).await;
    let asked = Instant::now();
    rt.cancel(pid);
    let err = rt.join(pid).await.unwrap_err();
    assert_eq!(err.kind(), Some(ErrorKind::Canceled), "{err}");
    let took = asked.elapsed();
    assert!(took < Duration::from_secs(2), "ended after {took:?}");
    // The worker is free for the next process.
    let two: i64 = rt.run("return 1 + 1").await.unwrap();
    assert_eq!(two, 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_process_that_cannot_yield_is_stopped_after_the_limit() {
    let rt = Runtime::builder()
        .module(&luamod_examples::buffer::MODULE)
        .workers(1)
        .unyielding_limit(Duration::from_millis(200))
        .build()
        .unwrap();
    // A comparator, and a callback a Rust function runs (on another Lua
    // thread): neither can yield.
    for src in [
        "table.sort({3, 2, 1}, function(a, b) while true do end end)",
        "require('buffer').Buffer.new('a'):each_line(function() while true do end end)",
    ] {
        let started = Instant::now();
        let err = rt.run::<()>(src).await.unwrap_err();
        assert_eq!(err.kind(), Some(ErrorKind::ResourceExhausted), "{err}");
        assert!(
            err.message().contains("without yielding to the others"),
            "{err}"
        );
        assert!(started.elapsed() < Duration::from_secs(2));
    }
    // Code that yields often is never stopped by it.
    let n: i64 = rt
        .run("local n = 0 for i = 1, 3e7 do n = n + 1 end return n")
        .await
        .unwrap();
    assert_eq!(n, 30_000_000);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_returns_with_spinners_running() {
    let rt = runtime_with(2);
    let mut pids = Vec::new();
    for (name, src) in SPINNERS {
        pids.push(rt.spawn(*src, opts(name)).unwrap());
    }
    tokio::time::sleep(Duration::from_millis(50)).await;
    let grace = Duration::from_millis(200);
    let started = Instant::now();
    rt.shutdown(grace).await;
    let took = started.elapsed();
    assert!(
        took < grace + Duration::from_secs(1),
        "shutdown took {took:?}"
    );
    for pid in pids {
        let err = rt.join(pid).await.expect_err("a spinner survived shutdown");
        assert!(
            matches!(
                err.kind(),
                Some(ErrorKind::Canceled | ErrorKind::ResourceExhausted)
            ),
            "{err}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropping_the_runtime_with_spinners_does_not_hang() {
    let rt = Runtime::builder().workers(1).build().unwrap();
    let pid = rt
        .spawn("while true do end", SpawnOptions::default())
        .unwrap();
    tokio::time::sleep(Duration::from_millis(20)).await;
    let _ = pid;
    drop(rt);
}

/// Preemption is invisible to the script: coroutines that compute across
/// many time slices return what plain Lua returns.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn preempted_coroutines_keep_their_values() {
    let rt = Runtime::builder()
        .module(&time::MODULE)
        .workers(1)
        .time_slice(Duration::from_millis(1))
        .build()
        .unwrap();
    let src = r##"
        local function work(n) local s = 0 for i = 1, n do s = s + i % 7 end return s end
        local gen = coroutine.wrap(function(a)
          for k = 1, 5 do a = coroutine.yield(a + work(300000)) end
          return "done", a
        end)
        local out = {}
        out[1] = gen(1)
        for k = 2, 5 do out[k] = gen(k) end
        local tag, last = gen(99)
        local co = coroutine.create(function(...)
          local x = select("#", ...) + work(200000)
          local y = coroutine.yield(x, "mid")
          require("time").sleep(1)
          error({ code = y + work(100000) })
        end)
        local ok1, x, mid = coroutine.resume(co, 1, 2, 3)
        local ok2, e = coroutine.resume(co, 10)
        local ok3, dead = coroutine.resume(co)
        local okw, werr = pcall(coroutine.wrap(function() work(200000) error("boom") end))
        -- A coroutine resumed from a C callback (it cannot pass a yield
        -- up) computes across slices all the same.
        local gen2 = coroutine.wrap(function() for i = 1, 3 do work(300000) coroutine.yield(i) end end)
        local subs = ("xyz"):gsub("%w", function() return tostring(gen2()) end)
        -- An ordinary empty yield after such a resume stays a yield.
        local log = {}
        local co2 = coroutine.create(function()
          pcall(table.sort, {1, 2}, function(a, b)
            coroutine.resume(coroutine.create(function() work(300000) end))
            return a < b
          end)
          coroutine.yield()
          log[#log + 1] = "after"
        end)
        coroutine.resume(co2)
        log[#log + 1] = "between"
        coroutine.resume(co2)
        -- Resuming oneself, and xpcall's handler.
        local selfok, selfmsg = coroutine.wrap(function() return coroutine.resume(coroutine.running()) end)()
        local okx, msgx = xpcall(error, function(e) return "handled: " .. tostring(e) end, "boom2")
        local badx = select(2, pcall(xpcall, print, 42))
        local badres = select(2, pcall(coroutine.resume, 42))
        local all = { table.concat(out, ","), tag, last, ok1, x, mid, ok2, e.code,
          ok3, dead, okw, werr, coroutine.status(co), subs, table.concat(log, ","),
          selfok, selfmsg, okx, msgx, badx, badres }
        for i = 1, 21 do all[i] = tostring(all[i]) end
        return table.concat(all, " | ")
    "##;
    type Out = String;
    let ours: Out = rt.run(src).await.unwrap();
    // The same script in a plain state, no scheduler, no preemption
    // (`time.sleep` replaced by nothing).
    let lua = luamod::mlua::Lua::new();
    lua.globals()
        .set(
            "require",
            lua.create_function(|lua, _: String| {
                let t = lua.create_table()?;
                t.set("sleep", lua.create_function(|_, _: i64| Ok(()))?)?;
                Ok(t)
            })
            .unwrap(),
        )
        .unwrap();
    let plain: Out = lua.load(src).set_name("=process").eval().unwrap();
    assert_eq!(ours, plain);
    assert!(rt.stats().await[0].preemptions > 0);
}

/// The worker state's main thread, which a script reaches through
/// `coroutine.running()` in a callback a Rust function makes, can be
/// neither closed nor resumed. Closing it from deep inside `pcall`s once
/// left it with that depth of C calls, which every later process on the
/// worker started from: they failed with "C stack overflow".
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_workers_main_thread_can_be_neither_closed_nor_resumed() {
    let rt = runtime();
    let got: String = rt
        .run(
            r#"
            local M
            require('buffer').Buffer.new('x'):each_line(function() M = coroutine.running() end)
            local closed
            local function dive(n)
                if n == 0 then
                    closed = select(2, pcall(coroutine.close, M))
                    return
                end
                pcall(dive, n - 1)
            end
            dive(150)
            local resumed = select(2, coroutine.resume(M))
            return tostring(closed) .. ' | ' .. tostring(resumed)
            "#,
        )
        .await
        .unwrap();
    assert_eq!(
        got,
        "cannot close a normal coroutine | cannot resume non-suspended coroutine"
    );
    // Later processes on the worker nest calls as deep as before.
    let deep: i64 = rt
        .run(
            "local function d(n) if n == 0 then return 1 end return select(2, pcall(d, n - 1)) end
             return d(150)",
        )
        .await
        .unwrap();
    assert_eq!(deep, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exceeding_the_memory_limit_fails_only_the_process_that_allocated() {
    let rt = Runtime::builder()
        .module(&time::MODULE)
        .module(&luamod_examples::greet::MODULE)
        .workers(1)
        .memory_limit(32 << 20)
        .build()
        .unwrap();
    // A bystander on the same worker, waiting while the others grow.
    let bystander = rt
        .spawn(
            "local t = {} for i = 1, 1000 do t[i] = i end
             require('time').sleep(300)
             assert(#t == 1000)",
            SpawnOptions::default(),
        )
        .unwrap();
    let hogs = [
        "local t = {} local i = 0 while true do i = i + 1 t[i] = {i} end",
        "local s = 'x' while true do s = s .. s end",
        "return string.rep('x', 1 << 30)",
        "return ('x'):rep(1 << 24):rep(1 << 10)",
        "local t = {} for i = 1, 1 << 30 do t[#t + 1] = 'abc' .. i end",
        "return table.concat(setmetatable({}, {
           __len = function() return 1 << 20 end,
           __index = function() return ('z'):rep(1 << 20) end }))",
        "local parts = {} for i = 1, 64 do parts[i] = ('y'):rep(1 << 20) end return table.concat(parts)",
        // Results that fill the stack and then the memory: the error is
        // pushed where there is room.
        "local s = ('x'):rep(1 << 20) local t = {} for i = 1, 60 do t[i] = s end
         return require('greet').greet_all(table.unpack(t))",
    ];
    for src in hogs {
        let err = rt.run::<()>(src).await.expect_err(src);
        assert_eq!(
            err.kind(),
            Some(ErrorKind::ResourceExhausted),
            "{src}: {err}"
        );
        assert!(err.message().contains("not enough memory"), "{src}: {err}");
    }
    // A process that catches the error goes on.
    let caught: bool = rt
        .run("local ok, e = pcall(string.rep, 'x', 1 << 30) return not ok and e == 'not enough memory'")
        .await
        .unwrap();
    assert!(caught);
    rt.join(bystander).await.unwrap();
    let two: i64 = rt.run("return 1 + 1").await.unwrap();
    assert_eq!(two, 2);
    let stats = rt.stats().await;
    assert!(stats[0].lua_memory < 32 << 20, "{stats:?}");
}

/// Allocation failure at every point of a process's life in the runtime
/// (spawn, compile, run, yield, resume, finish): limits swept across what
/// the script needs; each run either succeeds or fails cleanly, and the
/// worker keeps answering.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn memory_limits_swept_across_a_process_fail_cleanly() {
    let src = r#"
        local t = {}
        for i = 1, 200 do t[i] = ("v"):rep(i) end
        local co = coroutine.wrap(function() for i = 1, 3 do coroutine.yield(i) end end)
        co() co()
        require("time").sleep(0)
        local ok = pcall(error, { big = ("e"):rep(1000) })
        return #t + co()
    "#;
    // What a worker with nothing running holds, then what the script adds.
    let idle = {
        let rt = Runtime::builder().workers(1).build().unwrap();
        rt.stats().await[0].lua_memory
    };
    let mut failures = 0;
    let mut successes = 0;
    for extra in (0..256 << 10).step_by(2 << 10) {
        let rt = Runtime::builder()
            .module(&time::MODULE)
            .workers(1)
            .memory_limit(idle + (16 << 10) + extra)
            .build();
        let Ok(rt) = rt else {
            failures += 1;
            continue;
        };
        match rt.run::<i64>(src).await {
            Ok(n) => {
                assert_eq!(n, 203);
                successes += 1;
            }
            Err(e) => {
                assert_eq!(e.kind(), Some(ErrorKind::ResourceExhausted), "{e}");
                failures += 1;
            }
        }
        // The worker still answers something small.
        let _ = rt.run::<i64>("return 1").await;
        rt.shutdown(Duration::from_secs(1)).await;
    }
    assert!(failures > 0 && successes > 0, "{failures} / {successes}");
}

/// What `json.decode` builds is Lua's, under the state's memory limit: a
/// text that decodes past it is refused with `nil, err`, and the process
/// and the worker go on.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn decoding_json_past_the_memory_limit_is_refused() {
    let rt = limited(&[&luamod_examples::json::MODULE], 16 << 20);
    // 1.5 million numbers: 3 MiB of text, 24 MiB of Lua array.
    let (kind, after): (String, i64) = rt
        .run(
            "local text = '[' .. ('0,'):rep(1536 * 1024) .. '0]'
             local v, err = require('json').decode(text)
             assert(v == nil, 'decoded past the limit')
             return err:kind(), #require('json').decode('[1, 2, 3]')",
        )
        .await
        .unwrap();
    assert_eq!((kind.as_str(), after), ("RESOURCE_EXHAUSTED", 3));
    let two: i64 = rt.run("return 1 + 1").await.unwrap();
    assert_eq!(two, 2);
}

/// Exports called with the Lua stack all but full say "stack overflow",
/// never "not enough memory" (the memory is there; the stack's room is
/// not), whether they raise an error value or return `nil, err`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_stack_is_a_stack_overflow_not_a_memory_error() {
    let rt = runtime();
    let seen: Vec<String> = rt
        .run(
            "local decode = require('json').decode
             local ops = {
               function() return errors.new{ kind = 'INVALID', message = 'm' } end,
               function() local v, err = decode('[') return err end,
             }
             local t = {} for i = 1, 1000000 do t[i] = i end
             local function g(...)
               local out = {}
               for i, op in ipairs(ops) do out[i] = tostring(select(2, pcall(op))) end
               return out
             end
             local seen, set = {}, {}
             for k = 999900, 999990 do
               local ok, r = pcall(g, table.unpack(t, 1, k))
               for _, m in ipairs(ok and r or { tostring(r) }) do
                 m = m:gsub('^.-:%d+: ', '')
                 if not set[m] then set[m] = true seen[#seen + 1] = m end
               end
             end
             return seen",
        )
        .await
        .unwrap();
    assert!(
        seen.iter().all(|m| !m.contains("not enough memory")),
        "{seen:?}"
    );
    assert!(
        seen.iter().any(|m| m.contains("stack overflow")),
        "{seen:?}"
    );
}

/// A buffer's bytes live on the Rust heap and count against the Lua
/// state's memory limit (`ExternalMemory`): keeping buffers, or growing
/// one, past it is refused as Lua's own out-of-memory, and once the
/// process ends they are given back to the next one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn buffers_count_against_the_memory_limit() {
    let _turn = BUFFERS.lock().await;
    let rt = limited(&[&luamod_examples::buffer::MODULE], 32 << 20);
    for (name, src) in [
        (
            "many",
            "local B, s = require('buffer').Buffer, string.rep('x', 1 << 20)
             local keep = {} for i = 1, 100 do keep[i] = B.new(s) end",
        ),
        (
            "one grows",
            "local b, s = require('buffer').Buffer.new(), string.rep('x', 1 << 20)
             for i = 1, 100 do b:write(s) end",
        ),
        (
            "capacity",
            "return require('buffer').Buffer.with({ capacity = 48 << 20 })",
        ),
        (
            "copies of one",
            "local b = require('buffer').Buffer.new(string.rep('x', 1 << 20))
             local keep = {} for i = 1, 100 do keep[i] = b .. b end",
        ),
    ] {
        let err = rt.run::<()>(src).await.unwrap_err();
        assert_eq!(
            err.kind(),
            Some(ErrorKind::ResourceExhausted),
            "{name}: {err}"
        );
        assert!(err.message().contains("not enough memory"), "{name}: {err}");
    }
    // The refused processes' buffers were freed: 24 MiB fit again.
    let n: i64 = rt
        .run(
            "local B, s = require('buffer').Buffer, string.rep('x', 1 << 20)
             local keep = {} for i = 1, 24 do keep[i] = B.new(s) end return #keep",
        )
        .await
        .unwrap();
    assert_eq!(n, 24);
    // Buffers dropped as they go do not fill the limit: 200 MiB made and
    // dropped, and 78 MiB of copies left behind by a growing one, through
    // 32 MiB.
    let size: i64 = rt
        .run(
            "local B, s = require('buffer').Buffer, string.rep('x', 1 << 20)
             for i = 1, 200 do local b = B.new(s) end
             local acc = B.new() for i = 1, 12 do acc = acc .. B.new(s) end
             return #acc",
        )
        .await
        .unwrap();
    assert_eq!(size, 12 << 20);
    // Dropped buffers do not make Lua's own allocations fail: Lua's
    // collection on a failed allocation runs no finalizer, so garbage
    // buffers would stand in the way of a string until some collection.
    let n: i64 = rt
        .run(
            "local B = require('buffer').Buffer
             for i = 1, 11 do local b = B.with({ capacity = 5 << 20 }) b:write('h') end
             return #string.rep('x', 10 << 20)",
        )
        .await
        .unwrap();
    assert_eq!(n, 10 << 20);
    // A buffer's label and the block that holds its bytes count too: at
    // least 256 bytes each for buffers labelled with 256 bytes.
    let made: i64 = rt
        .run(
            "local B, l = require('buffer').Buffer, string.rep('L', 256)
             local keep = {}
             pcall(function()
               while true do keep[#keep + 1] = B.with({ label = l, init = 'x' }) end
             end)
             return #keep",
        )
        .await
        .unwrap();
    assert!(made > 1000 && made < (32 << 20) / 256, "{made}");
    rt.shutdown(Duration::from_secs(1)).await;
}

/// Calls whose size comes from a script: each refuses cleanly, and the
/// host allocates nothing near the size asked for.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sizes_from_a_script_are_capped() {
    use luamod_examples::{buffer, greet, json};
    let _turn = BUFFERS.lock().await;
    let rt = Runtime::builder()
        .module(&greet::MODULE)
        .module(&buffer::MODULE)
        .module(&json::MODULE)
        .workers(1)
        .build()
        .unwrap();
    let raised = [
        (
            "chant",
            "return require('greet').chant('x', 4294967295)",
            "resulting string too large",
        ),
        (
            "chant with sep",
            "return require('greet').chant('', 4294967295, ',')",
            "resulting string too large",
        ),
        (
            "capacity",
            "return require('buffer').Buffer.with{ capacity = 2^40 }",
            "buffer too large",
        ),
        (
            "one buffer grows",
            "local b = require('buffer').Buffer.new() local s = ('x'):rep(1 << 20)
             for i = 1, 100 do b:write(s) end",
            "buffer too large",
        ),
        (
            "many buffers",
            "local B = require('buffer').Buffer local s = ('x'):rep(60 << 20) local keep = {}
             for i = 1, 20 do keep[i] = B.new(s) end",
            "buffer too large",
        ),
        (
            "join the same buffer many times",
            "local B = require('buffer') local b = B.Buffer.new(('x'):rep(1 << 20))
             local parts = {} for i = 1, 1000 do parts[i] = b end return B.join(parts)",
            "buffer too large",
        ),
        (
            "concat",
            "local B = require('buffer').Buffer local b = B.new(('x'):rep(40 << 20)) return b .. b",
            "buffer too large",
        ),
        (
            "reserved capacity counts",
            "local B = require('buffer').Buffer local keep = {}
             for i = 1, 600 do keep[i] = B.with{ capacity = 1 << 20 } end",
            "buffer too large",
        ),
        (
            "one string passed many times",
            "local s = ('x'):rep(1 << 20) local t = {} for i = 1, 200 do t[i] = s end
             return require('greet').greet_all(table.unpack(t))",
            "arguments too large",
        ),
    ];
    for (name, src, msg) in raised {
        let err = rt.run::<()>(src).await.expect_err(name);
        assert!(err.message().contains(msg), "{name}: {err}");
    }
    // An error wrapped in a loop keeps a bounded chain.
    let depth: i64 = rt
        .run(
            "local e = errors.new{ kind = errors.INVALID, message = 'x' }
             for i = 1, 2000 do e = errors.wrap(e, 'context') end
             local d, c = 0, e while c do d = d + 1 c = c:cause() end return d",
        )
        .await
        .unwrap();
    assert_eq!(depth, luamod::LuaError::MAX_CAUSES as i64 + 1);
    // A label is kept short, so copies of a buffer stay cheap.
    let label: i64 = rt
        .run(
            "local b = require('buffer').Buffer.new() b.label = ('l'):rep(1 << 20) return #b.label",
        )
        .await
        .unwrap();
    assert_eq!(label, buffer::MAX_LABEL as i64);
    // `chant` of nothing is nothing, at once.
    let empty: String = rt
        .run("return require('greet').chant('', 4294967295)")
        .await
        .unwrap();
    assert_eq!(empty, "");

    let returned = [
        (
            "encode deep",
            "local t = {} for i = 1, 3000 do t = { t } end return require('json').encode(t)",
            "INVALID",
        ),
        (
            "decode deep",
            "return require('json').decode(('['):rep(3000) .. (']'):rep(3000))",
            "INVALID",
        ),
        (
            "encode one string many times",
            "local s = ('x'):rep(1 << 20) local t = {} for i = 1, 200 do t[i] = s end
             return require('json').encode(t)",
            "RESOURCE_EXHAUSTED",
        ),
        (
            "pretty text of a shared table",
            "local a = {} for i = 1, 1000 do a[i] = i end local t = {} for i = 1, 8000 do t[i] = a end
             for i = 1, 120 do t = { t } end
             return require('json').encode(t, { pretty = true })",
            "RESOURCE_EXHAUSTED",
        ),
        (
            "decode a long array",
            "return require('json').decode('[' .. ('0,'):rep(3 << 20) .. '0]')",
            "RESOURCE_EXHAUSTED",
        ),
        (
            "encode a shared subtree (2^40 nodes)",
            "local t = { 1 } for i = 1, 40 do t = { t, t } end return require('json').encode(t)",
            "RESOURCE_EXHAUSTED",
        ),
    ];
    for (name, src, kind) in returned {
        let src = format!(
            "local v, err = (function() {src} end)() assert(v == nil, 'no error') return err:kind()"
        );
        let got: String = rt.run(&src).await.unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(got, kind, "{name}");
    }
    let two: i64 = rt.run("return 1 + 1").await.unwrap();
    assert_eq!(two, 2);
    // Its buffers go with its state, before the next test's turn.
    rt.shutdown(Duration::from_secs(1)).await;
}

/// A server that answers every request with a body of `announced` bytes
/// (or, with `None`, no length and no end).
async fn endless_server(announced: Option<u64>) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut sock, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut buf = [0u8; 4096];
                let _ = sock.read(&mut buf).await;
                let head = match announced {
                    Some(n) => format!("HTTP/1.1 200 OK\r\ncontent-length: {n}\r\n\r\n"),
                    None => "HTTP/1.1 200 OK\r\nconnection: close\r\n\r\n".to_owned(),
                };
                if sock.write_all(head.as_bytes()).await.is_err() {
                    return;
                }
                let chunk = vec![b'z'; 64 << 10];
                while sock.write_all(&chunk).await.is_ok() {}
            });
        }
    });
    format!("http://{addr}")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_bodies_past_the_limit_are_refused() {
    use luamod_examples::http_client;
    let announced = endless_server(Some(2_500_000_000)).await;
    let endless = endless_server(None).await;
    let rt = Runtime::builder()
        .module(&http_client::MODULE)
        .actor(Actor::new("tester"))
        .policy(Policy::allow("http_client.request").on("http://127.0.0.1:*"))
        .workers(1)
        .build()
        .unwrap();
    for base in [announced, endless] {
        let src = format!(
            "local r, err = require('http_client').get('{base}/big') return r == nil and err:kind() .. ': ' .. err:message()"
        );
        let got: String = rt.run(&src).await.unwrap();
        assert!(
            got.starts_with("RESOURCE_EXHAUSTED: the response body is longer than"),
            "{got}"
        );
    }
}

/// Keep-alive servers on loopback addresses 127.0.0.2 to 127.0.0.21,
/// each on its own port, that count the connections open to them.
async fn counting_servers() -> (Vec<String>, Arc<AtomicUsize>) {
    let open = Arc::new(AtomicUsize::new(0));
    let mut urls = Vec::new();
    for i in 2..=21 {
        let listener = tokio::net::TcpListener::bind(format!("127.0.0.{i}:0"))
            .await
            .unwrap();
        urls.push(format!("http://{}/", listener.local_addr().unwrap()));
        counting_server(listener, open.clone());
    }
    (urls, open)
}

/// Answers every request on `listener` with `ok`, keeping connections
/// open, counted in `count`, until the client closes them.
fn counting_server(listener: tokio::net::TcpListener, count: Arc<AtomicUsize>) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    tokio::spawn(async move {
        while let Ok((mut sock, _)) = listener.accept().await {
            count.fetch_add(1, Ordering::SeqCst);
            let count = count.clone();
            tokio::spawn(async move {
                let mut buf = vec![0u8; 8192];
                let mut seen = Vec::new();
                loop {
                    match sock.read(&mut buf).await {
                        Ok(0) | Err(_) => break,
                        Ok(n) => seen.extend_from_slice(&buf[..n]),
                    }
                    while let Some(end) = seen.windows(4).position(|w| w == b"\r\n\r\n") {
                        seen.drain(..end + 4);
                        let answer = b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok";
                        if sock.write_all(answer).await.is_err() {
                            break;
                        }
                    }
                }
                count.fetch_sub(1, Ordering::SeqCst);
            });
        }
    });
}

/// A request's connection closes with it: none is kept idle for the next
/// request, where a script naming one loopback address after another
/// held a socket and its buffers for each, outside its memory limit.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_connections_are_not_kept_after_their_request() {
    use luamod_examples::http_client;
    let (urls, open) = counting_servers().await;
    let rt = Runtime::builder()
        .module(&http_client::MODULE)
        .actor(Actor::new("tester"))
        .policy(Policy::allow("http_client.request").on("http://127.*"))
        .workers(1)
        .build()
        .unwrap();
    let list: Vec<String> = urls.iter().map(|u| format!("{u:?}")).collect();
    let src = format!(
        "local http = require('http_client')
         local n = 0
         for _, url in ipairs({{ {} }}) do
           local r = assert(http.get(url))
           if r.body == 'ok' then n = n + 1 end
         end
         return n",
        list.join(", ")
    );
    let answered: i64 = rt.run(&src).await.unwrap();
    assert_eq!(answered, 20);
    let mut left = open.load(Ordering::SeqCst);
    for _ in 0..100 {
        if left == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
        left = open.load(Ordering::SeqCst);
    }
    assert_eq!(left, 0, "connections left open after their requests");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sql_results_past_the_limit_are_refused() {
    use luamod_examples::sql;
    let dir = std::env::temp_dir().join(format!("luamod-sql-budget-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let rt = Runtime::builder()
        .module(&sql::MODULE)
        .actor(Actor::new("tester"))
        .policy(Policy::allow("sql.open").on(format!("{}/*", dir.display()).as_str()))
        .workers(1)
        .build()
        .unwrap();
    let src = format!(
        r#"
        local db = assert(require('sql').open({:?}))
        local endless = "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT x FROM c"
        local r1, e1 = db:query(endless)
        local r2, e2 = db:query("WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c LIMIT 100) SELECT zeroblob(1 << 20) AS b FROM c")
        local r3, e3 = db:query("SELECT length(randomblob(500000000)) AS n")
        local ok = db:query("SELECT 1 AS one")
        return r1 == nil and r2 == nil and r3 == nil and e1:kind() == 'RESOURCE_EXHAUSTED'
          and e2:kind() == 'RESOURCE_EXHAUSTED' and e3:kind() == 'RESOURCE_EXHAUSTED'
          and ok[1].one == 1, e1:message() .. ' / ' .. e2:message() .. ' / ' .. e3:message()
        "#,
        dir.join("budget.db").display().to_string()
    );
    let (ok, msgs): (bool, String) = rt.run(&src).await.unwrap();
    assert!(ok, "{msgs}");
    assert!(
        msgs.contains("more than 100000 rows") && msgs.contains("bytes"),
        "{msgs}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn files_past_the_read_limit_are_refused() {
    use luamod_examples::fs;
    let dir = std::env::temp_dir().join(format!("luamod-fs-budget-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let big = dir.join("big");
    std::fs::write(&big, vec![b'z'; fs::DEFAULT_READ_LIMIT + 1]).unwrap();
    let small = dir.join("small");
    std::fs::write(&small, vec![b'z'; fs::DEFAULT_READ_LIMIT]).unwrap();
    let rt = Runtime::builder()
        .module(&fs::MODULE)
        .actor(Actor::new("tester"))
        .policy(Policy::allow("fs.read").on(format!("{}/*", dir.display()).as_str()))
        .workers(1)
        .build()
        .unwrap();
    let src = format!(
        "local fs = require('fs') local v, e = fs.read({:?}) local s = fs.read({:?})
         return v == nil and e:kind() == 'RESOURCE_EXHAUSTED' and #s",
        big.display().to_string(),
        small.display().to_string()
    );
    let n: i64 = rt.run(&src).await.unwrap();
    assert_eq!(n as usize, fs::DEFAULT_READ_LIMIT);
    let _ = std::fs::remove_dir_all(&dir);
}

/// Rust functions that call back into Lua, nested as deep as Lua allows
/// (its limit of nested C calls), directly and through the library's C
/// functions and metamethods: each level is a Rust frame on the worker's
/// stack. The limit ends it with a Lua error, never the host's stack.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn callbacks_nested_as_deep_as_lua_allows_fail_cleanly() {
    let rt = runtime();
    let shapes = [
        "b:each_line(f)",
        "table.sort({1, 2}, function() b:each_line(f) return false end)",
        "local t = setmetatable({}, { __index = function() b:each_line(f) end }) local _ = t.x",
        "tostring(setmetatable({}, { __tostring = function() b:each_line(f) return '' end }))",
        "string.gsub('a', 'a', function() b:each_line(f) end)",
        "coroutine.wrap(function() b:each_line(f) end)()",
        "local ok, e = pcall(b.each_line, b, f) if not ok then error(e, 0) end",
    ];
    for shape in shapes {
        let src = format!(
            "local b = require('buffer').Buffer.new('a')
             local depth = 0
             local function f() depth = depth + 1 {shape} end
             local ok, e = pcall(f)
             return depth, ok, tostring(e)"
        );
        let (depth, ok, e): (i64, bool, String) = rt.run(src.as_str()).await.unwrap();
        assert!(!ok, "{shape}: no error at depth {depth}");
        assert!(e.contains("stack overflow"), "{shape}: {e}");
        assert!(depth >= 10, "{shape}: only {depth} deep ({e})");
        let two: i64 = rt.run("return 1 + 1").await.unwrap();
        assert_eq!(two, 2, "{shape}");
    }
}

/// An export with a large frame that calls back into Lua: as deep as Lua
/// allows, these would need more stack than a worker has.
#[luamod::module(name = "deep")]
mod deep {
    #[luamod::function]
    pub fn big_frame(f: luamod::mlua::Function) -> luamod::mlua::Result<usize> {
        let buf = std::hint::black_box([1u8; 128 << 10]);
        f.call::<()>(())?;
        Ok(std::hint::black_box(&buf).len())
    }
}

/// The worker refuses an export whose call would overflow its stack, with
/// Lua's words for it; the worker and the host go on.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exports_refuse_to_nest_past_the_workers_stack() {
    let rt = Runtime::builder()
        .module(&deep::MODULE)
        .workers(1)
        .build()
        .unwrap();
    let src = "local deep = require('deep')
        local depth = 0
        local function f() depth = depth + 1 deep.big_frame(f) end
        local ok, e = pcall(f)
        return depth, ok, tostring(e)";
    let (depth, ok, e): (i64, bool, String) = rt.run(src).await.unwrap();
    assert!(!ok);
    assert!(e.contains("C stack overflow"), "{e}");
    // About 100 levels of 128 KiB in a release build, fewer in a debug one
    // (the array is copied); Lua's own limit (200 C levels) is not reached.
    assert!((20..200).contains(&depth), "{depth} deep");
    let two: i64 = rt.run("return 1 + 1").await.unwrap();
    assert_eq!(two, 2);
}

/// A host's result type whose conversion reads a field through `__index`
/// (mlua's own conversions read tables raw; a host's may not).
struct Field(i64);

impl luamod::mlua::FromLua for Field {
    fn from_lua(v: luamod::mlua::Value, _: &luamod::mlua::Lua) -> luamod::mlua::Result<Self> {
        match v {
            luamod::mlua::Value::Table(t) => Ok(Field(t.get("x")?)),
            _ => Err(luamod::mlua::Error::runtime("expected a table")),
        }
    }
}

/// Converting a process's results runs after its end, on the worker; the
/// script's metamethods it reaches are stopped at the unyielding limit as
/// any code that cannot yield, not left to hold the worker for good.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn converting_results_runs_their_metamethods_under_the_budget() {
    let rt = runtime();
    let field: Field = rt
        .run("return setmetatable({}, { __index = function() return 7 end })")
        .await
        .unwrap();
    assert_eq!(field.0, 7);
    let err = rt
        .run::<Field>("return setmetatable({}, { __index = function() while true do end end })")
        .await
        .err()
        .unwrap();
    // The conversion's own error: the hook's.
    assert!(err.message().contains("the process was stopped"), "{err}");
    let two: i64 = rt.run("return 1 + 1").await.unwrap();
    assert_eq!(two, 2);
}

/// Weighing results walks tables raw, and a walk costs a table's
/// allocated size: one emptied of 2^20 entries, referenced 700,000 times,
/// weighs little and would take the worker for about twenty minutes. The
/// walk stops with the process, at the unyielding limit.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn weighing_emptied_tables_stops_at_the_unyielding_limit() {
    let rt = Runtime::builder()
        .unyielding_limit(Duration::from_millis(200))
        .build()
        .unwrap();
    // Keys in the hash part (holes below a border weigh as elements).
    let src = "local a = {} for i = 1, 1 << 20 do a[i + 0.5] = true end
               for i = 1, 1 << 20 do a[i + 0.5] = nil end
               local t = {} for i = 1, 700000 do t[i] = a end
               return t";
    let err = rt.run::<Vec<Vec<bool>>>(src).await.unwrap_err();
    assert!(
        err.message()
            .contains("stopped while its results were weighed"),
        "{err}"
    );
    let two: i64 = rt.run("return 1 + 1").await.unwrap();
    assert_eq!(two, 2);
}

/// Error values are userdata whose Rust side holds what a script sized (a
/// message, a wrapped cause, a traceback): each is charged to Lua with its
/// object, so keeping thousands of copies of a long message runs into the
/// memory limit, not out of the host's memory.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn error_values_kept_by_the_thousand_count_against_the_memory_limit() {
    let rt = Runtime::builder().memory_limit(64 << 20).build().unwrap();
    let keep = |make: &str| {
        format!(
            "local s = string.rep('x', 8 << 20)
             local E = errors.new(s)
             local W = errors.wrap(E, 'w')
             local keep = {{}}
             for i = 1, 10000 do keep[i] = {make} end"
        )
    };
    for make in ["errors.new(s)", "errors.wrap(E, '')", "W:cause()"] {
        let err = rt.run::<()>(keep(make).as_str()).await.unwrap_err();
        assert_eq!(
            err.kind(),
            Some(ErrorKind::ResourceExhausted),
            "{make}: {err}"
        );
    }
    // A few are fine, and the worker goes on.
    let n: i64 = rt
        .run("local E = errors.new(string.rep('x', 1 << 20)) local k = {} for i = 1, 8 do k[i] = errors.wrap(E, i) end return #k")
        .await
        .unwrap();
    assert_eq!(n, 8);
}

/// A process that ends leaving the state nearly full of objects that only
/// a finalizer frees (error values here), without ever being refused,
/// does not leave the next process out of memory: the worker collects
/// fully at the end of a process that grew the state past 7/8 of its
/// limit. (Lua's own collection on a failed allocation runs no
/// finalizer.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_state_filled_with_garbage_objects_is_collected_before_the_next_process() {
    let rt = limited(&[], 64 << 20);
    // Up to 60 MiB, in error values of 1 MiB each, and no further.
    let kept: i64 = rt
        .run(
            "local s = string.rep('x', 1 << 20)
             local keep = {}
             while collectgarbage('count') < 60 * 1024 do keep[#keep + 1] = errors.new(s) end
             return #keep",
        )
        .await
        .unwrap();
    assert!(kept > 40, "{kept}");
    // 40 MiB in strings of 1 MiB.
    let n: i64 = rt
        .run("local t = {} for i = 1, 40 do t[i] = string.rep('y', 1 << 20) .. i end return #t")
        .await
        .unwrap();
    assert_eq!(n, 40);
}

/// A process's error reaches the host as text copied into Rust (and kept
/// until the process is joined): its message and its traceback, whose
/// function names are the script's, are cut to a bounded length.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn process_errors_reach_the_host_cut_to_a_bounded_length() {
    let rt = runtime();
    for src in [
        "error(string.rep('\\255', 8 << 20), 0)",
        // A traceback names the local the function was called through.
        "local id = string.rep('f', 1 << 20)
         load('local ' .. id .. ' = function() error(\"deep down\") end ' .. id .. '()')()",
    ] {
        let err = rt.run::<()>(src).await.unwrap_err();
        let text = format!("{}{}", err.message(), err.traceback().unwrap_or(""));
        assert!(text.len() < 256 << 10, "{} bytes", text.len());
        assert!(text.contains("bytes cut)"), "{}", &text[..200]);
    }
}

/// A host's recursive result type: a table of tables.
#[derive(Debug)]
struct Tree(#[allow(dead_code)] Vec<Tree>);

impl luamod::mlua::FromLua for Tree {
    fn from_lua(v: luamod::mlua::Value, _: &luamod::mlua::Lua) -> luamod::mlua::Result<Tree> {
        match v {
            luamod::mlua::Value::Table(t) => {
                t.sequence_values().collect::<Result<_, _>>().map(Tree)
            }
            _ => Err(luamod::mlua::Error::runtime("not a tree")),
        }
    }
}

/// A conversion copies results per reference: one Lua string held 100,000
/// times is 100 GiB as a `Vec<String>`, and 60 tables each holding the
/// next twice are 2^60 of them. Results are weighed first and refused past
/// the limit (or nested past the depth), before anything is copied.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn results_that_expand_when_copied_are_refused_before_the_copy() {
    let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let record = seen.clone();
    let rt = Runtime::builder()
        .on_complete(move |done| {
            // The first process's results only (weighing the others at
            // the default limit is slow in a debug build).
            let mut seen = record.lock().unwrap();
            if seen.is_empty() {
                let got = done.values::<Vec<String>>().map(|v| v.len());
                seen.push(got.map_err(|e| e.to_string()));
            }
        })
        .build()
        .unwrap();
    let shared = "local s = string.rep('x', 1 << 20) local t = {}
                  for i = 1, 100000 do t[i] = s end return t";
    let err = rt.run::<Vec<String>>(shared).await.unwrap_err();
    assert!(err.message().contains("too large to convert"), "{err}");
    // A host type that converts itself recursively: exponential on the
    // DAG, and as deep as the nesting on the worker's stack.
    // (Weighed against 1 MiB: a debug build weighs the default 64 MiB
    // of it slower than the unyielding limit allows.)
    let dag = "local t = {} for _ = 1, 60 do t = {t, t} end return t";
    let small = SpawnOptions {
        result_limit: Some(1 << 20),
        ..opts("dag")
    };
    let err = rt.run_with::<Tree>(dag, small).await.unwrap_err();
    assert!(err.message().contains("too large to convert"), "{err}");
    let deep = "local t = {} for _ = 1, 200000 do t = {t} end return t";
    let err = rt.run::<Tree>(deep).await.unwrap_err();
    assert!(
        err.message().contains("nest tables more than 1000 deep"),
        "{err}"
    );
    // The on_complete hook's conversion is weighed the same way.
    {
        let seen = seen.lock().unwrap();
        assert!(
            matches!(&seen[0], Err(e) if e.contains("too large to convert")),
            "{seen:?}"
        );
    }
    // `()` reads nothing, so nothing is weighed; a table that holds
    // itself (an object whose `__index` is itself) is an ordinary result.
    rt.run::<()>(shared).await.unwrap();
    let seq: Vec<i64> = rt
        .run("local M = {1, 2} M.__index = M return M")
        .await
        .unwrap();
    assert_eq!(seq, [1, 2]);
    // Ordinary results pass; a raised limit admits what the default
    // (64 MiB) refuses.
    let small: Vec<String> = rt.run("return {'a', 'b'}").await.unwrap();
    assert_eq!(small, ["a", "b"]);
    let big = "local s = string.rep('x', 1 << 20) local t = {}
               for i = 1, 70 do t[i] = s end return t";
    let err = rt.run::<Vec<String>>(big).await.unwrap_err();
    assert!(err.message().contains("too large to convert"), "{err}");
    let copies: Vec<String> = rt
        .run_with(
            big,
            SpawnOptions {
                result_limit: Some(100 << 20),
                ..opts("raised limit")
            },
        )
        .await
        .unwrap();
    assert_eq!(copies.len(), 70);
    assert!(copies.iter().all(|s| s.len() == 1 << 20));
}

/// `Runtime::compile` parses on the host's thread: a text Lua's parser
/// takes minutes over (a long `or` chain) is given up at the unyielding
/// limit; ordinary scripts and syntax errors compile as before.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn compiling_a_text_that_parses_for_minutes_is_given_up() {
    let rt = Runtime::builder()
        .unyielding_limit(Duration::from_millis(200))
        .build()
        .unwrap();
    let source = format!("return x{}", " or x".repeat(300_000));
    let err = rt.compile(&source, "long").unwrap_err();
    assert!(err.message().contains("took longer than"), "{err}");
    assert_eq!(err.kind(), Some(ErrorKind::ResourceExhausted));
    let err = rt.compile("return +", "broken").unwrap_err();
    assert!(err.message().contains("broken:1:"), "{err}");
    assert!(!err.to_string().contains("traceback"), "{err}");
    assert_eq!(err.kind(), None);
    let script = rt.compile("return 1 + 1", "two").unwrap();
    let two: i64 = rt.run(&script).await.unwrap();
    assert_eq!(two, 2);
}

/// A process's own source is parsed inside its first step: a source the
/// parser takes minutes over (a long `or` chain) is stopped by the
/// deadline like any other work, not parsed before the process exists.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_source_that_parses_for_minutes_is_stopped_by_its_deadline() {
    let rt = runtime();
    let source = format!("return x{}", " or x".repeat(300_000));
    let deadline = Duration::from_millis(200);
    let started = Instant::now();
    let err = rt
        .run_with::<()>(
            source.as_str(),
            SpawnOptions {
                deadline: Some(deadline),
                ..opts("long or chain")
            },
        )
        .await
        .expect_err("the parse was stopped");
    let late = started.elapsed().saturating_sub(deadline);
    assert_eq!(err.kind(), Some(ErrorKind::Timeout), "{err}");
    assert!(late < Duration::from_secs(1), "stopped {late:?} late");
    // A syntax error still reads as Lua's.
    let err = rt
        .run::<()>("local x = = 1")
        .await
        .expect_err("a syntax error");
    assert!(err.message().starts_with("process:1:"), "{err}");
    assert!(err.message().contains("unexpected symbol"), "{err}");
}

/// A process that spends most of every step where it cannot be made to
/// yield (a sort comparator computing for about 150 ms, under the 1 s
/// unyielding limit), yielding in between, owes the others the slices it
/// ran past its own: a sibling that computes four such rounds' worth
/// finishes before the hog's tenth round. (Without that, the sibling got
/// one 10 ms slice per round and needed sixty rounds.) Both count loop
/// iterations, calibrated first; the order of the two completions is the
/// assertion, not a time.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_process_that_overruns_its_slices_lets_the_others_catch_up() {
    // Made to yield by the hook in a loop after the sort, or yielding of
    // its own accord.
    for then in ["for i = 1, 100000 do end", "coroutine.yield()"] {
        let rt = runtime_with(1);
        let per_ms = loop_iterations_per_ms(&rt).await;
        let round = (per_ms * 150.0) as i64;
        let hog = format!(
            "for r = 1, 10 do
               table.sort({{1, 2}}, function(a, b) for i = 1, {round} do end return a < b end)
               {then}
             end"
        );
        let sibling = format!("for i = 1, {} do end", round * 4);
        let hog = rt.spawn(hog.as_str(), SpawnOptions::default()).unwrap();
        let sibling = rt.spawn(sibling.as_str(), SpawnOptions::default()).unwrap();
        assert_eq!(
            finishing_order(&rt, hog, sibling).await,
            ["sibling", "hog"],
            "{then}"
        );
    }
}

/// A full collection that the worker runs between steps, because a
/// process's allocation was let through past external memory that may be
/// garbage, is charged to that process like an overrun of its step. It
/// takes time in proportion to the whole heap, and the script below sets
/// one off at every step (a buffer, then a string past the limit beside
/// the buffers): uncharged, its sibling got one slice per round. The
/// order of the two completions is the assertion, not a time.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_collection_a_process_sets_off_is_charged_to_it() {
    let _turn = BUFFERS.lock().await;
    let rt = Runtime::builder()
        .module(&time::MODULE)
        .module(&luamod_examples::buffer::MODULE)
        .workers(1)
        .memory_limit(64 << 20)
        .time_slice(Duration::from_millis(1))
        .build()
        .unwrap();
    let per_ms = loop_iterations_per_ms(&rt).await;
    let hog = "local B = require('buffer').Buffer
         local heap = {} for i = 1, 400000 do heap[i] = {} end
         local big = B.with{ capacity = 24 << 20 }
         coroutine.yield()
         for r = 1, 20 do
           local b = B.with{ capacity = 1 << 20 }
           local s = ('x'):rep(6 << 20)
           b, s = nil, nil
           coroutine.yield()
         end";
    // A hundred slices of work, started once the hog's heap is built (it
    // would share the building's slices).
    let sibling = format!("for i = 1, {} do end", (per_ms * 100.0) as i64);
    let hog = rt.spawn(hog, SpawnOptions::default()).unwrap();
    for _ in 0..10_000 {
        if rt.stats().await[0].lua_memory > 25 << 20 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    let sibling = rt.spawn(sibling.as_str(), SpawnOptions::default()).unwrap();
    assert_eq!(finishing_order(&rt, hog, sibling).await, ["sibling", "hog"]);
}
