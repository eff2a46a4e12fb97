//! Yield round trips and scale.
//!
//! `round_trip`: a Lua process asks a command 10,000 times; the handler
//! completes at once. Side by side, one run: the luamod runtime (the
//! export starts the handler, which is ready at its first poll, so the
//! answer comes back inside the call), and mlua's own
//! `create_async_function` returning at once, driven by `call_async` (it
//! too answers a ready future inside the call). Then an interleaved
//! comparison of the same, and of a handler that is pending once (1,000
//! trips: the process suspends, the handler finishes on the tokio pool,
//! the worker resumes it; mlua's coroutine yields to `call_async`, which
//! polls again on its own thread).
//!
//! `scale`: spawns 100,000 processes that wait (long enough that none ends
//! while counted) and prints spawns per second and bytes per suspended
//! process (Lua memory delta / count), beside the raw C API's floor for
//! the same (coroutines with their own environments, made and resumed in a
//! loop on a plain state); then spawns 100,000 processes that each sleep
//! 100 ms on the real clock and prints the total wall time.
//!
//! Run: `cargo bench -p luamod --bench yields`

use std::time::{Duration, Instant};

mod common;

use criterion::{Criterion, criterion_group, criterion_main};
use luamod::prelude::*;
use luamod::runtime::{HandlerCx, SpawnOptions, handler_fn};

const N: u64 = 10_000;

#[derive(Command)]
#[command(id = 900, name = "bench.ping", output = i64)]
struct Ping(i64);

/// Answered after the handler is pending once: the process suspends.
#[derive(Command)]
#[command(id = 901, name = "bench.wait", output = i64)]
struct Wait(i64);

#[luamod::module(name = "bench", class(io))]
mod bench {
    use super::*;

    #[luamod::function]
    pub fn ping(x: i64) -> Yield<Ping> {
        Yield(Ping(x))
    }

    #[luamod::function]
    pub fn wait(x: i64) -> Yield<Wait> {
        Yield(Wait(x))
    }

    #[luamod::function]
    pub fn sleep(ms: u64) -> Yield<luamod::runtime::clock::Sleep> {
        Yield(luamod::runtime::clock::Sleep { ms })
    }
}

fn round_trip(c: &mut Criterion) {
    let tokio = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio");
    let rt = tokio.block_on(async {
        Runtime::builder()
            .module(&bench::MODULE)
            .handler(handler_fn(
                |p: Ping, _: HandlerCx| async move { Ok(p.0 + 1) },
            ))
            .handler(handler_fn(|w: Wait, _: HandlerCx| async move {
                tokio::task::yield_now().await;
                Ok(w.0 + 1)
            }))
            .workers(1)
            .build()
            .expect("runtime")
    });
    let src = format!(
        "local ping = require('bench').ping; local s = 0 for i = 1, {N} do s = s + ping(i) end return s"
    );

    let lua = mlua::Lua::new();
    lua.gc_set_mode(mlua::prelude::LuaGcMode::Generational(Default::default()));
    let f = lua
        .create_async_function(|_, x: i64| async move { Ok(x + 1) })
        .expect("async fn");
    lua.globals().set("ping", f).expect("set");
    let looped: mlua::Function = lua
        .load(format!(
            "return function() local s = 0 for i = 1, {N} do s = s + ping(i) end return s end"
        ))
        .eval()
        .expect("loop");

    let mut g = c.benchmark_group("yield_round_trip_x10000");
    g.sample_size(20);
    g.bench_function("luamod_runtime", |b| {
        b.iter_custom(|iters| {
            let start = Instant::now();
            for _ in 0..iters {
                let s: i64 = tokio.block_on(rt.run(&src)).expect("run");
                assert_eq!(s as u64, N * (N + 1) / 2 + N);
            }
            start.elapsed()
        })
    });
    g.bench_function("mlua_async_fn", |b| {
        b.iter_custom(|iters| {
            let start = Instant::now();
            for _ in 0..iters {
                let s: i64 = tokio.block_on(looped.call_async(())).expect("call");
                assert_eq!(s as u64, N * (N + 1) / 2 + N);
            }
            start.elapsed()
        })
    });
    g.finish();

    // The two columns above are measured seconds apart, and this shared
    // machine's speed drifts between them: see `common::interleaved`.
    let (ours, theirs, ratio) = common::interleaved(
        PAIRS,
        || {
            let s: i64 = tokio.block_on(rt.run(&src)).expect("run");
            assert_eq!(s as u64, N * (N + 1) / 2 + N);
        },
        || {
            let s: i64 = tokio.block_on(looped.call_async(())).expect("call");
            assert_eq!(s as u64, N * (N + 1) / 2 + N);
        },
    );
    let per_trip = |secs: f64| secs * 1e9 / N as f64;
    println!(
        "yield_round_trip interleaved ({PAIRS} pairs of {N} round trips): luamod {:.0} ns, \
         mlua async fn {:.0} ns per round trip (medians); luamod / mlua {ratio:.2} (median \
         of the pairs' ratios)",
        per_trip(ours),
        per_trip(theirs),
    );

    // A handler that is pending once: the process suspends, the handler
    // finishes on the tokio pool, and the worker resumes the process
    // (mlua's async function yields its coroutine to `call_async`, which
    // polls again on the same thread). Fewer trips: each crosses threads.
    const M: u64 = 1_000;
    let waiting = format!(
        "local wait = require('bench').wait; local s = 0 for i = 1, {M} do s = s + wait(i) end return s"
    );
    let f = lua
        .create_async_function(|_, x: i64| async move {
            tokio::task::yield_now().await;
            Ok(x + 1)
        })
        .expect("async fn");
    lua.globals().set("wait", f).expect("set");
    let mlua_waiting: mlua::Function = lua
        .load(format!(
            "return function() local s = 0 for i = 1, {M} do s = s + wait(i) end return s end"
        ))
        .eval()
        .expect("loop");
    let (ours, theirs, ratio) = common::interleaved(
        PAIRS,
        || {
            let s: i64 = tokio.block_on(rt.run(&waiting)).expect("run");
            assert_eq!(s as u64, M * (M + 1) / 2 + M);
        },
        || {
            let s: i64 = tokio.block_on(mlua_waiting.call_async(())).expect("call");
            assert_eq!(s as u64, M * (M + 1) / 2 + M);
        },
    );
    let per_trip = |secs: f64| secs * 1e9 / M as f64;
    println!(
        "suspending round trip interleaved ({PAIRS} pairs of {M} round trips, the handler \
         pending once): luamod {:.0} ns, mlua async fn {:.0} ns per round trip (medians); \
         luamod / mlua {ratio:.2} (median of the pairs' ratios)",
        per_trip(ours),
        per_trip(theirs),
    );
}

/// Pairs of runs for the interleaved comparisons (`common::interleaved`).
const PAIRS: usize = 101;

/// Until `count` processes of `rt` wait on a command.
async fn until_waiting(rt: &Runtime, count: usize) {
    while rt.stats().await.iter().map(|w| w.waiting).sum::<usize>() != count {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// A C function that yields nothing: the floor's stand-in for a command.
unsafe extern "C-unwind" fn yield_now(l: *mut mlua::ffi::lua_State) -> std::ffi::c_int {
    // SAFETY: called by Lua as a C function, from a coroutine the floor
    // resumes; it owns nothing.
    unsafe { mlua::ffi::lua_yield(l, 0) }
}

/// The raw C API's floor for the same spawns: `count` coroutines, each with
/// its own environment (a table whose metatable's `__index` holds the
/// globals, with `_G` and a closure over the environment standing for its
/// `load`), its main function from a factory compiled once (as
/// `Runtime::compile` makes it), resumed until it yields in a C function,
/// and kept alive. No scheduler, no channel, no timer, no security context
/// or generator. Returns the time and the Lua memory per coroutine.
fn raw_spawns(count: usize) -> (Duration, f64) {
    use mlua::ffi;
    let lua = mlua::Lua::new();
    lua.gc_set_mode(mlua::prelude::LuaGcMode::Generational(
        mlua::prelude::LuaGcGenParams::default(),
    ));
    // SAFETY: `yield_now` follows the C function protocol.
    let sleep = unsafe { lua.create_c_function(yield_now) }.expect("c function");
    let bench = lua.create_table().expect("table");
    bench.raw_set("sleep", sleep).expect("set");
    let base = lua.create_table().expect("table");
    for pair in lua.globals().pairs::<mlua::Value, mlua::Value>() {
        let (k, v) = pair.expect("pair");
        base.raw_set(k, v).expect("set");
    }
    let require = lua
        .load("local bench = ... return function() return bench end")
        .call::<mlua::Function>(bench)
        .expect("require");
    base.raw_set("require", require).expect("set");
    let mt = lua.create_table().expect("table");
    mt.raw_set("__index", base).expect("set");
    let factory = lua
        .load("local _ENV = ... return function(...) require('bench').sleep(600000)\nend")
        .into_function()
        .expect("factory");
    let keep = lua.create_table_with_capacity(count, 0).expect("table");
    let before = lua.used_memory();
    let mut took = Duration::ZERO;
    // A status other than a yield, kept to be reported after the protected
    // call (a panic must not unwind through Lua's C frames).
    let mut failed = None;
    // SAFETY: raw stack work on mlua's state inside its protected call
    // (`exec_raw`): [1] the metatable, [2] the factory, [3] the table that
    // keeps the coroutines; the closure owns nothing a Lua error could skip
    // (the captured locals are plain values), and it cannot panic.
    unsafe {
        lua.exec_raw::<()>((mt, factory, keep.clone()), |st| {
            let start = Instant::now();
            for i in 1..=count {
                let co = ffi::lua_newthread(st);
                ffi::lua_createtable(st, 0, 2);
                ffi::lua_pushvalue(st, 1);
                ffi::lua_setmetatable(st, -2);
                ffi::lua_pushvalue(st, -1);
                ffi::lua_setfield(st, -2, c"_G".as_ptr());
                ffi::lua_pushvalue(st, -1);
                ffi::lua_pushcclosure(st, yield_now, 1);
                ffi::lua_setfield(st, -2, c"load".as_ptr());
                ffi::lua_pushvalue(st, 2);
                ffi::lua_insert(st, -2);
                ffi::lua_call(st, 1, 1);
                ffi::lua_xmove(st, co, 1);
                let mut nres = 0;
                let status = ffi::lua_resume(co, st, 0, &mut nres);
                if status != ffi::LUA_YIELD {
                    failed = Some(status);
                    break;
                }
                ffi::lua_pop(co, nres);
                ffi::lua_rawseti(st, 3, i as ffi::lua_Integer);
            }
            took = start.elapsed();
        })
        .expect("raw spawns");
    }
    assert_eq!(failed, None, "a floor coroutine did not yield");
    let per = (lua.used_memory() - before) as f64 / count as f64;
    assert_eq!(keep.raw_len(), count);
    (took, per)
}

fn scale(_: &mut Criterion) {
    const COUNT: usize = 100_000;
    // The floor first, alone on the machine.
    let (raw, raw_per) = raw_spawns(COUNT);
    let tokio = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio");
    let build = || {
        Runtime::builder()
            .module(&bench::MODULE)
            .workers(1)
            .build()
            .expect("runtime")
    };
    tokio.block_on(async {
        // Phase 1, memory and spawn rate: processes that sleep long enough
        // that none finishes while they are counted.
        let rt = build();
        rt.run::<()>("return").await.expect("warm");
        let before: usize = rt.stats().await.iter().map(|s| s.lua_memory).sum();
        let start = Instant::now();
        let mut pids = Vec::with_capacity(COUNT);
        for _ in 0..COUNT {
            pids.push(
                rt.spawn("require('bench').sleep(600000)", SpawnOptions::default())
                    .expect("spawn"),
            );
        }
        until_waiting(&rt, COUNT).await;
        let suspended = start.elapsed();
        let during: usize = rt.stats().await.iter().map(|s| s.lua_memory).sum();
        rt.shutdown(Duration::ZERO).await;
        let per = (during - before) as f64 / COUNT as f64;

        // Phase 1b: the same processes from a script compiled once.
        let rt = build();
        rt.run::<()>("return").await.expect("warm");
        let script = rt
            .compile("require('bench').sleep(600000)", "sleeper")
            .expect("compile");
        // One process first, so the script's factory is loaded before the
        // memory is read.
        rt.spawn(&script, SpawnOptions::default()).expect("spawn");
        until_waiting(&rt, 1).await;
        let before: usize = rt.stats().await.iter().map(|s| s.lua_memory).sum();
        let start = Instant::now();
        for _ in 1..COUNT {
            rt.spawn(&script, SpawnOptions::default()).expect("spawn");
        }
        until_waiting(&rt, COUNT).await;
        let compiled = start.elapsed();
        let during: usize = rt.stats().await.iter().map(|s| s.lua_memory).sum();
        let per_compiled = (during - before) as f64 / (COUNT - 1) as f64;
        rt.shutdown(Duration::ZERO).await;

        // Phase 2, wall time: processes that each sleep 100 ms.
        let rt = build();
        rt.run::<()>("return").await.expect("warm");
        let start = Instant::now();
        let mut pids = Vec::with_capacity(COUNT);
        for _ in 0..COUNT {
            pids.push(
                rt.spawn("require('bench').sleep(100)", SpawnOptions::default())
                    .expect("spawn"),
            );
        }
        for p in pids {
            rt.join(p).await.expect("join");
        }
        let total = start.elapsed();
        rt.shutdown(Duration::from_secs(1)).await;
        println!(
            "scale: {COUNT} processes: all started and suspended after {suspended:?} \
             ({:.0} spawns/s; from a compiled script {compiled:?}, {:.0} spawns/s); \
             {per:.0} bytes of Lua memory per suspended process ({per_compiled:.0} from \
             a compiled script); \
             {COUNT} processes sleeping 100 ms each: all done after {total:?}",
            COUNT as f64 / suspended.as_secs_f64(),
            COUNT as f64 / compiled.as_secs_f64()
        );
        println!(
            "scale, the raw C API's floor: {COUNT} coroutines, each with its environment and \
             its main function from a compiled factory, resumed until they yield, in {raw:?} \
             ({:.0} spawns/s, {raw_per:.0} bytes each); luamod from a compiled script / floor: \
             {:.2} (time per spawn)",
            COUNT as f64 / raw.as_secs_f64(),
            compiled.as_secs_f64() / (COUNT - 1) as f64 / (raw.as_secs_f64() / COUNT as f64)
        );
    });
}

/// CPU-bound Lua: a process in the runtime (time slices, preemption on)
/// against the same chunk in a plain state, side by side.
fn compute(c: &mut Criterion) {
    const LOOP: &str = "local s = 0 for i = 1, 2000000 do s = s + i % 7 end return s";
    let tokio = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio");
    let rt = tokio.block_on(async { Runtime::builder().workers(1).build().expect("runtime") });
    let lua = mlua::Lua::new();
    let f: mlua::Function = lua.load(LOOP).into_function().expect("chunk");
    let mut g = c.benchmark_group("lua_loop_2e6");
    g.sample_size(20);
    g.bench_function("runtime_process", |b| {
        b.iter(|| tokio.block_on(rt.run::<i64>(LOOP)).expect("run"))
    });
    g.bench_function("plain_state", |b| {
        b.iter(|| f.call::<i64>(()).expect("call"))
    });
    g.finish();

    // Pattern matching and sorting: Lua's own functions (a plain state)
    // against the interruptible ports (the same state after
    // `sandbox::apply`, which installs them), same allocator, no runtime.
    let sandboxed = mlua::Lua::new();
    luamod::sandbox::apply(&sandboxed, &luamod::Sandbox::default()).expect("sandbox");
    for (group, src) in [
        (
            "patterns_gsub_match_x100",
            "local s = ('hello world, 42 times '):rep(50) local n = 0 \
             for i = 1, 100 do n = n + select(2, s:gsub('%w+', '<%0>')) + #s:match('(%d+) times') end \
             return n",
        ),
        (
            "table_sort_20000",
            "local t = {} local x = 1 for i = 1, 20000 do x = (x * 75 + 74) % 65537 t[i] = x end \
             table.sort(t) return t[1]",
        ),
    ] {
        let native: mlua::Function = lua.load(src).into_function().expect("chunk");
        let ported: mlua::Function = sandboxed.load(src).into_function().expect("chunk");
        let mut g = c.benchmark_group(group);
        g.sample_size(20);
        g.bench_function("lua_own", |b| {
            b.iter(|| native.call::<i64>(()).expect("call"))
        });
        g.bench_function("luamod_port", |b| {
            b.iter(|| ported.call::<i64>(()).expect("call"))
        });
        g.finish();
    }
}

/// How fast a runaway is stopped and how the others fare beside it
/// (printed; medians of several tries).
fn preemption(_: &mut Criterion) {
    let tokio = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio");
    let median = |mut v: Vec<Duration>| {
        v.sort();
        v[v.len() / 2]
    };
    tokio.block_on(async {
        let rt = Runtime::builder()
            .module(&bench::MODULE)
            .workers(1)
            .build()
            .expect("runtime");
        let spin = || SpawnOptions::default();
        let mut cancel = Vec::new();
        let mut deadline = Vec::new();
        let mut sleeper = Vec::new();
        for _ in 0..20 {
            let pid = rt.spawn("while true do end", spin()).expect("spawn");
            tokio::time::sleep(Duration::from_millis(30)).await;
            let t = Instant::now();
            rt.cancel(pid);
            let _ = rt.join(pid).await;
            cancel.push(t.elapsed());

            let d = Duration::from_millis(50);
            let t = Instant::now();
            let _ = rt
                .run_with::<()>(
                    "while true do end",
                    SpawnOptions {
                        deadline: Some(d),
                        ..SpawnOptions::default()
                    },
                )
                .await;
            deadline.push(t.elapsed().saturating_sub(d));

            let pid = rt.spawn("while true do end", spin()).expect("spawn");
            let t = Instant::now();
            rt.run::<()>("require('bench').sleep(100)")
                .await
                .expect("sleep");
            sleeper.push(t.elapsed());
            rt.cancel(pid);
            let _ = rt.join(pid).await;
        }
        rt.shutdown(Duration::ZERO).await;

        let mut shutdown = Vec::new();
        for _ in 0..5 {
            let rt = Runtime::builder().workers(2).build().expect("runtime");
            for _ in 0..4 {
                rt.spawn("while true do end", spin()).expect("spawn");
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
            let t = Instant::now();
            rt.shutdown(Duration::from_millis(100)).await;
            shutdown.push(t.elapsed());
        }
        println!(
            "preemption (median of 20): a spinning process stopped {:?} after cancel, \
             {:?} after its deadline; a 100 ms sleeper beside a spinner on one worker \
             done after {:?}; shutdown(100 ms) with 4 spinners on 2 workers returned \
             after {:?} (median of 5)",
            median(cancel),
            median(deadline),
            median(sleeper),
            median(shutdown)
        );
    });
}

criterion_group!(benches, round_trip, compute, scale, preemption);
criterion_main!(benches);
