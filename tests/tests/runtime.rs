//! The scheduler: processes, yields through pcall and coroutines,
//! dispatch failures, cancellation, deadlines, late completions, shutdown.

#![cfg(not(feature = "luajit"))]

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use luamod::prelude::*;
use luamod::runtime::{HandlerCx, SpawnOptions, handler_fn};
use luamod::testing::{FakeClock, eval, eval_err};
use luamod_examples::time;

#[derive(Command)]
#[command(id = 700, name = "test.unhandled", output = i64)]
struct Unhandled;
#[derive(Command)]
#[command(id = 701, name = "test.fails", output = i64)]
struct Fails;
#[derive(Command)]
#[command(id = 702, name = "test.panics", output = i64)]
struct Panics;

#[luamod::module(name = "cmds", class(io))]
mod cmds {
    use super::*;
    #[luamod::function]
    pub fn unhandled() -> Yield<Unhandled> {
        Yield(Unhandled)
    }
    #[luamod::function]
    pub fn fails() -> Yield<Fails> {
        Yield(Fails)
    }
    #[luamod::function]
    pub fn panics() -> Yield<Panics> {
        Yield(Panics)
    }
}

#[derive(Command)]
#[command(id = 710, name = "test.slow", output = i64)]
struct Slow {
    tag: i64,
}
#[luamod::module(name = "slow", class(io))]
mod slow {
    use super::*;
    #[luamod::function]
    pub fn get(tag: i64) -> Yield<Slow> {
        Yield(Slow { tag })
    }
}

fn rt_with(clock: Option<&FakeClock>) -> Runtime {
    let mut b = Runtime::builder()
        .module(&time::MODULE)
        .module(&luamod_tests::probe::MODULE)
        .workers(2);
    if let Some(c) = clock {
        b = b.handler(c.clone());
    }
    b.build().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn runs_a_process_to_completion() {
    let rt = rt_with(None);
    let (a, b): (i64, String) = eval(&rt, "return 1 + 2, require('probe').rep('ab', 2)").await;
    assert_eq!((a, b.as_str()), (3, "abab"));
    let e = eval_err(&rt, "local x = nil\nreturn x.field").await;
    assert!(e.message().contains("attempt to index a nil value"), "{e}");
    assert!(
        e.traceback().is_some_and(|t| t.contains("stack traceback")),
        "{e:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sleep_suspends_only_the_process_on_the_real_clock() {
    let rt = rt_with(None);
    let start = Instant::now();
    let v: i64 = eval(
        &rt,
        "local time = require('time'); time.sleep(20); return 7",
    )
    .await;
    assert_eq!(v, 7);
    assert!(start.elapsed() >= Duration::from_millis(20));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn yields_pass_through_pcall_and_user_coroutines() {
    let clock = FakeClock::new();
    let rt = rt_with(Some(&clock));
    let src = r#"
        local time = require('time')
        local ok, v = pcall(function() time.sleep(0); return time.now() end)
        assert(ok, v)
        -- a command yielded inside a user coroutine goes to the scheduler;
        -- an ordinary yield keeps its meaning
        local co = coroutine.wrap(function(a)
          local t = time.now()
          local b = coroutine.yield(a + 1)
          time.sleep(0)
          return b * 2, t
        end)
        local first = co(1)
        local second = co(20)
        local co2 = coroutine.create(function() time.sleep(0); return 'done' end)
        local okr, r = coroutine.resume(co2)
        -- and through metamethods of Lua tables
        local lazy = setmetatable({}, { __index = function(_, k) time.sleep(0); return k .. '!' end,
                                         __lt = function() time.sleep(0); return true end })
        assert(lazy.x == 'x!' and lazy < lazy)
        -- xpcall with a handler
        local okx, vx = xpcall(function() time.sleep(0); error('boom') end, function(m) return 'handled' end)
        assert(not okx and vx == 'handled')
        return v, first, second, okr, r
    "#;
    let (v, first, second, okr, r): (i64, i64, i64, bool, String) = eval(&rt, src).await;
    assert_eq!(
        (v, first, second, okr, r.as_str()),
        (0, 2, 40, true, "done")
    );
}

/// A panic payload whose own `Drop` panics.
struct PanicsOnDrop;

impl Drop for PanicsOnDrop {
    fn drop(&mut self) {
        panic!("payload drop");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_panic_payload_that_panics_when_dropped_does_not_stop_the_worker() {
    let rt = Runtime::builder()
        .module(&cmds::MODULE)
        .handler(handler_fn(|_: Panics, _: HandlerCx| async {
            std::panic::panic_any(PanicsOnDrop)
        }))
        .workers(1)
        .build()
        .unwrap();
    let r: String = eval(
        &rt,
        "local v, err = require('cmds').panics() return err:kind() .. '|' .. err:message()",
    )
    .await;
    assert_eq!(
        r,
        "INTERNAL|handler of 'test.panics' panicked: non-string panic payload"
    );
    let n: i64 = eval(&rt, "return 5").await;
    assert_eq!(n, 5);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_command_and_handler_failures_resume_with_nil_err() {
    let rt = Runtime::builder()
        .module(&cmds::MODULE)
        .handler(handler_fn(|_: Fails, _: HandlerCx| async {
            Err(LuaError::new(ErrorKind::Unavailable, "backend down").with_retryable(true))
        }))
        .handler(handler_fn(|_: Panics, _: HandlerCx| async {
            panic!("handler bug")
        }))
        .workers(1)
        .build()
        .unwrap();
    let (a, b, c): (String, String, String) = eval(
        &rt,
        r#"
        local m = require('cmds')
        local function show(v, err) return tostring(v) .. '|' .. err:kind() .. '|' .. err:message() end
        return show(m.unhandled()), show(m.fails()), show(m.panics())
        "#,
    )
    .await;
    assert_eq!(
        a,
        "nil|INTERNAL|no handler for command 700 (test.unhandled): register one with Runtime::builder().handler(...)"
    );
    assert_eq!(b, "nil|UNAVAILABLE|backend down");
    assert_eq!(
        c,
        "nil|INTERNAL|handler of 'test.panics' panicked: handler bug"
    );
    // The runtime keeps running.
    let n: i64 = eval(&rt, "return 5").await;
    assert_eq!(n, 5);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn yielding_outside_a_process_is_a_clear_error() {
    let lua = luamod::lua_with(&[&time::MODULE]).unwrap();
    let err = lua
        .load("require('time').sleep(1)")
        .exec()
        .unwrap_err()
        .to_string();
    assert!(err.contains("'sleep' waits on the outside world (clock.sleep), so it can only run inside a luamod process"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn late_completions_never_reach_another_process() {
    let delivered = Arc::new(AtomicUsize::new(0));
    let d = delivered.clone();
    let rt = Runtime::builder()
        .module(&slow::MODULE)
        // Ignores cancellation on purpose: completes late, after its
        // process is gone.
        .handler(handler_fn(move |c: Slow, _: HandlerCx| {
            let d = d.clone();
            async move {
                tokio::time::sleep(Duration::from_millis(if c.tag == 1 { 60 } else { 5 })).await;
                d.fetch_add(1, Ordering::SeqCst);
                Ok(c.tag)
            }
        }))
        .workers(1)
        .build()
        .unwrap();
    let first = rt
        .spawn("return require('slow').get(1)", SpawnOptions::default())
        .unwrap();
    tokio::time::sleep(Duration::from_millis(10)).await;
    rt.cancel(first);
    let e = rt.join(first).await.unwrap_err();
    assert_eq!(e.kind(), Some(ErrorKind::Canceled));
    // A new process on the same worker waits while the stale completion
    // for the cancelled one arrives; it must get its own value.
    let v: i64 = eval(
        &rt,
        "local s = require('slow'); local a = s.get(2); local b = s.get(3); return a * 10 + b",
    )
    .await;
    assert_eq!(v, 23);
    tokio::time::sleep(Duration::from_millis(80)).await;
    let v: i64 = eval(&rt, "return require('slow').get(4)").await;
    assert_eq!(v, 4);
}

/// A handler that cancels its own process's token (its handle on the
/// process's cancellation, which it may use) does not end the process's
/// deadline with it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_handler_cancelling_its_token_leaves_the_deadline() {
    let rt = Runtime::builder()
        .module(&cmds::MODULE)
        .handler(handler_fn(|_: Fails, cx: HandlerCx| {
            cx.cancel().cancel();
            async { Ok(1) }
        }))
        .workers(1)
        .build()
        .unwrap();
    let opts = SpawnOptions {
        deadline: Some(Duration::from_millis(50)),
        ..Default::default()
    };
    let run = rt.run_with::<()>("require('cmds').fails() while true do end", opts);
    // A guard against a hang only: the deadline ends it in 50 ms.
    let e = tokio::time::timeout(Duration::from_secs(60), run)
        .await
        .expect("the deadline ended the process")
        .unwrap_err();
    assert_eq!(e.kind(), Some(ErrorKind::Timeout), "{e}");
}

/// A process that ends before its deadline takes the deadline's timer
/// with it: a host spawning short processes with long deadlines kept a
/// task per process until each deadline passed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_process_that_ends_early_leaves_no_deadline_timer() {
    let rt = Runtime::builder().workers(1).build().unwrap();
    let metrics = tokio::runtime::Handle::current().metrics();
    let before = metrics.num_alive_tasks();
    for _ in 0..1000 {
        let opts = SpawnOptions {
            deadline: Some(Duration::from_secs(3600)),
            ..Default::default()
        };
        rt.run_with::<()>("return", opts).await.unwrap();
    }
    // Each timer sees its process end on the tokio pool, shortly after.
    let mut alive = metrics.num_alive_tasks();
    for _ in 0..500 {
        if alive <= before + 10 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
        alive = metrics.num_alive_tasks();
    }
    assert!(
        alive <= before + 10,
        "{alive} tasks alive after 1,000 processes ended ({before} before)"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deadlines_hooks_and_shutdown() {
    let clock = FakeClock::new();
    let completed = Arc::new(std::sync::Mutex::new(Vec::new()));
    let c2 = completed.clone();
    let rt = Runtime::builder()
        .module(&time::MODULE)
        .handler(clock.clone())
        .workers(2)
        .on_complete(move |done| {
            c2.lock()
                .unwrap()
                .push((done.pid, done.result.err().and_then(|e| e.kind())))
        })
        .build()
        .unwrap();
    let opts = SpawnOptions {
        deadline: Some(Duration::from_millis(30)),
        ..Default::default()
    };
    let e = rt
        .run_with::<()>("require('time').sleep(1000000)", opts)
        .await
        .unwrap_err();
    assert_eq!(e.kind(), Some(ErrorKind::Timeout));
    assert!(
        e.message().contains("exceeded its deadline of 30 ms"),
        "{e}"
    );
    let p1 = rt
        .spawn("require('time').sleep(5000)", SpawnOptions::default())
        .unwrap();
    let p2 = rt.spawn("return 1", SpawnOptions::default()).unwrap();
    rt.join(p2).await.unwrap();
    clock.wait_for_sleepers(1).await;
    // p1 is still sleeping: shutdown gives it the grace period, then
    // cancels it and its in-flight command.
    rt.shutdown(Duration::from_millis(10)).await;
    let e = rt.join(p1).await.unwrap_err();
    assert_eq!(e.kind(), Some(ErrorKind::Canceled));
    // The cancelled sleep goes away (its handler task notices the cancel
    // on the tokio pool, shortly after the join returns).
    tokio::time::timeout(Duration::from_secs(10), clock.wait_until_idle())
        .await
        .expect("the cancelled sleep is gone");
    assert!(
        rt.spawn("return 1", SpawnOptions::default()).is_err()
            || rt.run::<()>("return").await.is_err()
    );
    let done = completed.lock().unwrap().clone();
    assert_eq!(done.len(), 3, "{done:?}");
    assert!(done.iter().any(|(_, k)| *k == Some(ErrorKind::Timeout)));
    assert!(done.iter().any(|(_, k)| *k == Some(ErrorKind::Canceled)));
    assert!(done.iter().any(|(_, k)| k.is_none()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn async_fn_exports_run_on_the_pool() {
    let rt = Runtime::builder()
        .module(&luamod_tests::jobs::MODULE)
        .workers(1)
        .build()
        .unwrap();
    let (d, c, e, kind, echo): (i64, String, Option<String>, String, String) = eval(
        &rt,
        r#"
        local jobs = require('jobs')
        local ok, err = jobs.checked(-1)
        return jobs.double(21), jobs.checked(5, 'n='), ok, err:kind(), jobs.echo('hi')
        "#,
    )
    .await;
    assert_eq!(
        (d, c.as_str(), e, kind.as_str(), echo.as_str()),
        (42, "n=5", None, "INVALID", "hi")
    );
    // The commands are declared with derived and explicit ids.
    let ids: Vec<(u16, &str)> = luamod_tests::jobs::MODULE
        .commands
        .iter()
        .map(|c| (c.id.0, c.name))
        .collect();
    assert_eq!(ids[1], (4242, "jobs.checked"));
    assert_eq!(ids[0].0, luamod::CommandId::derive("jobs.double").0);
    // And typed as yielding in the manifest.
    let m = luamod_tests::jobs::MODULE.manifest();
    assert!(m.functions.iter().all(|f| f.sig.is_async));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn processes_have_their_own_globals() {
    let rt = Runtime::builder().workers(1).build().unwrap();
    let a: i64 = eval(&rt, "counter = 1; _G.other = 2; return counter + other").await;
    assert_eq!(a, 3);
    let (c, o, s): (Option<i64>, Option<i64>, String) =
        eval(&rt, "return counter, other, type(string.format)").await;
    assert_eq!((c, o, s.as_str()), (None, None, "function"));
    // The shared standard tables are read-only, so no process can change
    // them for the others; nor can `load` or the environment's metatable
    // reach the shared globals.
    let e = eval_err(&rt, "string.format = nil").await;
    assert_eq!(
        e.message(),
        "process:1: attempt to modify read-only table 'string'"
    );
    let e = eval_err(&rt, "getmetatable('').__index.upper = nil").await;
    assert!(
        e.message().contains("attempt to index a boolean value"),
        "{e}"
    );
    let (v, hidden): (i64, bool) = eval(
        &rt,
        "load('leak = 41')(); return leak + 1, getmetatable(_G) == false",
    )
    .await;
    assert_eq!((v, hidden), (42, true));
    let (leak, upper): (Option<i64>, String) = eval(&rt, "return leak, ('x'):upper()").await;
    assert_eq!((leak, upper.as_str()), (None, "X"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_process_loads_text_into_its_own_globals() {
    let rt = Runtime::builder().workers(1).build().unwrap();
    let src = "local mine = load('x = 5 return x')
        local other = load('return x', 'n', 't', { x = 7 })
        local nil_env = load('return y', 'n', 't', nil)
        y = 9
        local ok, e = pcall(function() local f = load({}) return f end)
        local bin, why = load(string.char(27) .. 'Lua', 'b', 'b')
        local long = load('return ' .. ('1 + '):rep(10000) .. '1')
        return mine(), other(), nil_env(), e, why, long()";
    let (mine, other, nil_env, e, why, long): (i64, i64, i64, String, String, i64) =
        eval(&rt, src).await;
    assert_eq!((mine, other, nil_env, long), (5, 7, 9, 10001));
    // Lua's messages, at the script's own line.
    assert_eq!(
        e,
        "process:5: bad argument #1 to 'load' (function expected, got table)"
    );
    assert_eq!(why, "attempt to load a binary chunk (mode is 't')");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn formats_of_too_many_conversions_are_refused_by_name() {
    let rt = Runtime::builder().workers(1).build().unwrap();
    let (format, date, fine): (String, String, i64) = eval(
        &rt,
        "local _, f = pcall(string.format, ('%d'):rep(10001), 1)
         local _, d = pcall(os.date, ('%%'):rep(10001))
         return f, d, #os.date(('%%'):rep(10000))",
    )
    .await;
    assert_eq!(
        format,
        "bad argument #1 to 'string.format' (more than 10000 conversions in the format)"
    );
    assert_eq!(
        date,
        "bad argument #1 to 'os.date' (more than 10000 conversions in the format)"
    );
    assert_eq!(fine, 10000);
    // Counting looks only at the arguments given: a format of more `%q`
    // than arguments plus the stack's free slots is Lua's own error, and
    // the host goes on (it aborted on Lua's API check in debug builds).
    let (format, date): (String, String) = eval(
        &rt,
        "local _, f = pcall(string.format, ('%q'):rep(40))
         local _, d = pcall(os.date, ('%q'):rep(40))
         return f, d",
    )
    .await;
    assert_eq!(format, "bad argument #2 to 'string.format' (no value)");
    assert!(date.starts_with("bad argument #1 to 'os.date'"), "{date}");
}

#[test]
fn duplicate_ids_are_refused_naming_both() {
    #[derive(Command)]
    #[command(id = 4242, name = "other.clash", output = ())]
    struct Clash;
    let h1 = handler_fn(|_: Clash, _: HandlerCx| async { Ok(()) });
    let h2 = handler_fn(|_: Clash, _: HandlerCx| async { Ok(()) });
    let err = Runtime::builder()
        .handler(h1)
        .handler(h2)
        .build()
        .err()
        .unwrap();
    assert_eq!(
        err.message(),
        "two handlers for command id 4242: 'other.clash' and 'other.clash'"
    );

    #[luamod::module(name = "clash", class(io))]
    mod clash {
        #[luamod::function(command = 4242)]
        pub async fn clash() {}
    }
    let err = Runtime::builder()
        .module(&luamod_tests::jobs::MODULE)
        .module(&clash::MODULE)
        .build()
        .err()
        .unwrap();
    assert_eq!(
        err.message(),
        "commands 'jobs.checked' (module 'jobs') and 'clash.clash' (module 'clash') both use id 4242"
    );
}

#[test]
fn a_runtime_built_outside_tokio_brings_its_own_handler_pool() {
    // No tokio runtime here: the runtime starts (and later stops) its own.
    let rt = Runtime::builder()
        .module(&time::MODULE)
        .workers(1)
        .build()
        .unwrap();
    let driver = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let v: i64 = driver
        .block_on(rt.run("require('time').sleep(5); return 9"))
        .unwrap();
    assert_eq!(v, 9);
    drop(rt);
}

/// Converts a process's result by panicking: host code run by the worker.
struct PanickyResult;

impl luamod::mlua::FromLuaMulti for PanickyResult {
    fn from_lua_multi(_: luamod::mlua::MultiValue, _: &Lua) -> luamod::mlua::Result<Self> {
        panic!("host conversion panicked on purpose")
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_panic_in_host_callbacks_does_not_kill_the_worker() {
    let hooks = Arc::new(AtomicUsize::new(0));
    let seen = hooks.clone();
    let rt = Runtime::builder()
        .workers(1)
        .on_complete(move |_| {
            if seen.fetch_add(1, Ordering::SeqCst) == 0 {
                panic!("on_complete panicked on purpose");
            }
        })
        .build()
        .unwrap();
    // The first process's on_complete panics; the worker goes on.
    let n: i64 = eval(&rt, "return 1").await;
    assert_eq!(n, 1);
    // Converting this result panics on the worker: the caller gets an error.
    let e = rt.run::<PanickyResult>("return 2").await.err().unwrap();
    assert!(
        e.message().contains("stopped before the process finished"),
        "{e}"
    );
    // The one worker still runs processes.
    let n: i64 = eval(&rt, "return 3").await;
    assert_eq!(n, 3);
    // The hook runs after the result is delivered: wait for the third.
    let start = Instant::now();
    while hooks.load(Ordering::SeqCst) < 3 && start.elapsed() < Duration::from_secs(10) {
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    assert_eq!(hooks.load(Ordering::SeqCst), 3);
}

/// A handler of the host's own, written against `ErasedHandler`: panics
/// as it starts (for `Fails`), or answers with a boxed task whose future
/// panics later, on the tokio pool (for `Panics`).
struct Careless(luamod::CommandId, &'static str);

impl luamod::runtime::ErasedHandler for Careless {
    fn command(&self) -> (luamod::CommandId, &'static str) {
        (self.0, self.1)
    }

    fn start(&self, _: &mut dyn std::any::Any, _: HandlerCx) -> luamod::command::BoxTask {
        if self.0 == <Fails as Command>::ID {
            panic!("careless start");
        }
        luamod::command::boxed_task(async {
            tokio::time::sleep(Duration::from_millis(5)).await;
            panic!("careless poll")
        })
    }
}

/// Host handler code that panics where the runtime calls it (starting
/// the handler, polling its task inline or on the pool) fails that
/// command with an error: the process is told, it does not hang, and the
/// worker and its other processes go on.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_host_handler_that_panics_starting_or_polling_fails_only_its_command() {
    let rt = Runtime::builder()
        .module(&cmds::MODULE)
        .handler(Arc::new(Careless(<Fails as Command>::ID, "test.fails"))
            as Arc<dyn luamod::runtime::ErasedHandler>)
        .handler(Arc::new(Careless(<Panics as Command>::ID, "test.panics"))
            as Arc<dyn luamod::runtime::ErasedHandler>)
        .workers(1)
        .build()
        .unwrap();
    let (a, b): (String, String) = eval(
        &rt,
        r#"
        local m = require('cmds')
        local function show(v, err) return tostring(v) .. '|' .. err:kind() .. '|' .. err:message() end
        return show(m.fails()), show(m.panics())
        "#,
    )
    .await;
    assert_eq!(
        a,
        "nil|INTERNAL|the handler of 'test.fails' panicked as it started: careless start"
    );
    assert!(
        b.starts_with("nil|INTERNAL|command 'test.panics' completed without a result"),
        "{b}"
    );
    let n: i64 = eval(&rt, "return 5").await;
    assert_eq!(n, 5);
}

/// A `handler_fn` closure that panics before it hands back its future (the
/// handler is not cloned per command, so nothing wraps that part in the
/// task) fails its command the same way, with what the panic said; the
/// handler's next command and the worker go on.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_handler_fn_that_panics_before_making_its_future_fails_only_that_command() {
    let calls = Arc::new(AtomicUsize::new(0));
    let seen = calls.clone();
    let rt = Runtime::builder()
        .module(&cmds::MODULE)
        .handler(handler_fn(move |_: Fails, _: HandlerCx| {
            if seen.fetch_add(1, Ordering::SeqCst) == 0 {
                panic!("no future this time");
            }
            async { Ok(7) }
        }))
        .workers(1)
        .build()
        .unwrap();
    let r: String = eval(
        &rt,
        r#"
        local m = require('cmds')
        local v, err = m.fails()
        return tostring(v) .. '|' .. err:kind() .. '|' .. err:message() .. '|' .. m.fails()
        "#,
    )
    .await;
    assert_eq!(
        r,
        "nil|INTERNAL|the handler of 'test.fails' panicked as it started: no future this time|7"
    );
    assert_eq!(calls.load(Ordering::SeqCst), 2);
}

/// A worker keeps the blocks a collection frees for its next processes,
/// and gives them back once it has waited a while for work.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_idle_worker_gives_its_kept_blocks_back() {
    let rt = Runtime::builder().workers(1).build().unwrap();
    // Processes that each leave about 1.4 MiB of small tables behind,
    // which the collector frees while the next ones run.
    let churn = "local t = {} for i = 1, 20000 do t[i] = {i} end";
    let mut most = 0;
    for _ in 0..20 {
        let pids: Vec<_> = (0..50)
            .map(|_| rt.spawn(churn, SpawnOptions::default()).unwrap())
            .collect();
        for pid in pids {
            rt.join(pid).await.unwrap();
        }
        most = rt.stats().await[0].lua_kept;
        if most > 1 << 20 {
            break;
        }
    }
    assert!(most > 1 << 20, "a busy worker keeps freed blocks: {most}");
    tokio::time::sleep(Duration::from_millis(500)).await;
    let kept = rt.stats().await[0].lua_kept;
    assert!(kept <= 1 << 20, "{kept} bytes kept after 500 ms idle");
}
