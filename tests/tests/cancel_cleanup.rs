//! A process that is cancelled, times out or fails is closed the way
//! `coroutine.close` closes a coroutine: its to-be-closed variables run,
//! its pending continuations are dropped at once, its handler is dropped
//! (and sees its cancel token). Hostile clean-up code is bounded like any
//! other code.

#![cfg(not(feature = "luajit"))]

use std::time::Duration;

use luamod::prelude::*;
use luamod::runtime::SpawnOptions;
use luamod_examples::time;
use luamod_tests::journal;

fn runtime() -> Runtime {
    Runtime::builder()
        .module(&time::MODULE)
        .module(&journal::MODULE)
        .workers(1)
        .unyielding_limit(Duration::from_millis(200))
        .actor(Actor::new("carol"))
        .build()
        .unwrap()
}

/// Scripts reach the modules through `require`.
const PRELUDE: &str = "local journal, time = require('journal'), require('time')\n";

fn script(body: &str) -> String {
    format!("{PRELUDE}{body}")
}

/// A to-be-closed variable that notes `line` and the error it closes with.
fn closer(line: &str) -> String {
    format!(
        "local closer <close> = setmetatable({{}}, {{ __close = function(_, e)
           journal.note({line:?} .. ' closed: ' .. tostring(e))
         end }})\n"
    )
}

/// Until the one process waits on a command (it must not end first).
async fn until_waiting(rt: &Runtime) {
    loop {
        let stats = rt.stats().await;
        assert_eq!(stats[0].processes, 1, "the process ended early");
        if stats[0].waiting == 1 {
            return;
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
}

/// A process waiting inside coroutines (`wrap` in the process, `resume`
/// in that: the command's yield passed up through both) is closed the way
/// an unwinding would reach its to-be-closed variables: the innermost
/// coroutine's first, the process's own last.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancel_closes_the_coroutines_a_process_waits_inside_innermost_first() {
    let rt = runtime();
    let src = format!(
        "{}coroutine.wrap(function()
           {}print(coroutine.resume(coroutine.create(function()
             {}journal.wait_for_cancel('N handler')
           end)))
         end)()
         journal.note('N0 never')",
        closer("N0"),
        closer("N1"),
        closer("N2"),
    );
    let pid = rt.spawn(script(&src), SpawnOptions::default()).unwrap();
    until_waiting(&rt).await;
    rt.cancel(pid);
    let err = rt.join(pid).await.unwrap_err();
    assert_eq!(err.kind(), Some(ErrorKind::Canceled), "{err}");
    let closed: Vec<String> = journal::lines("N")
        .into_iter()
        .filter(|l| !l.starts_with("N handler"))
        .collect();
    assert_eq!(
        closed,
        ["N2 closed: nil", "N1 closed: nil", "N0 closed: nil"]
    );
}

/// While a cancelled process is closed, its `__close` handlers can neither
/// resume nor close the process's own thread or the coroutines it waits
/// inside: resuming the process would run it on after its end, and closing
/// it would drop the frames that keep the coroutines still to close alive
/// (here, under memory pressure that makes the collector free whatever is
/// unreachable, and then fills what it freed).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn close_handlers_cannot_resume_or_close_the_process_being_closed() {
    let rt = Runtime::builder()
        .module(&time::MODULE)
        .module(&journal::MODULE)
        .workers(1)
        .unyielding_limit(Duration::from_millis(200))
        .memory_limit(32 << 20)
        .build()
        .unwrap();
    let src = script(
        &[
            "local P = coroutine.running()
         local C1
         local spin <close> = setmetatable({}, { __close = function() while true do end end })
         coroutine.wrap(function()
           C1 = coroutine.running()
           coroutine.wrap(function()
             local g <close> = setmetatable({}, { __close = function()
               journal.note('H resume P: ' .. tostring(select(2, coroutine.resume(P))))
               journal.note('H close P: ' .. tostring(select(2, pcall(coroutine.close, P))))
               journal.note('H close C1: ' .. tostring(select(2, pcall(coroutine.close, C1))))",
            luamod_tests::COLLECT_AND_REFILL,
            "end })
             time.sleep(60000)
           end)()
         end)()
         journal.note('H never')",
        ]
        .concat(),
    );
    let pid = rt.spawn(src, SpawnOptions::default()).unwrap();
    until_waiting(&rt).await;
    rt.cancel(pid);
    let err = tokio::time::timeout(Duration::from_secs(30), rt.join(pid))
        .await
        .expect("the worker finished closing")
        .unwrap_err();
    assert_eq!(err.kind(), Some(ErrorKind::Canceled), "{err}");
    let lines = journal::lines("H ");
    assert_eq!(lines.len(), 3, "{lines:?}");
    for line in &lines {
        assert!(
            line.ends_with(
                ": cannot resume or close a coroutine of a process that is being closed"
            ),
            "{lines:?}"
        );
    }
    let n: i64 = rt.run("return 6 * 7").await.unwrap();
    assert_eq!(n, 42);
}

/// A coroutine the hook stopped where it could not yield (its hooks are
/// off for good) is never closed afterwards, not even by a `__close`
/// handler of its process that closes it: its own handler would loop
/// unstopped. The process, stopped while it computed, is not closed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_coroutine_the_hook_stopped_is_never_closed_later() {
    let rt = runtime();
    let src = script(
        "local Q
         local keeper <close> = setmetatable({}, { __close = function()
           journal.note('Q keeper ran')
           coroutine.close(Q)
         end })
         local q = coroutine.wrap(function()
           Q = coroutine.running()
           local bad <close> = setmetatable({}, { __close = function() while true do end end })
           while true do end
         end)
         table.sort({ 1, 2 }, function(a, b) q() return a < b end)",
    );
    let err = tokio::time::timeout(Duration::from_secs(30), rt.run::<()>(src))
        .await
        .expect("the worker finished the process")
        .unwrap_err();
    assert_eq!(err.kind(), Some(ErrorKind::ResourceExhausted), "{err}");
    assert!(journal::lines("Q keeper").is_empty());
    let n: i64 = rt.run("return 6 * 7").await.unwrap();
    assert_eq!(n, 42);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancel_closes_a_waiting_process_and_drops_its_handler() {
    let rt = runtime();
    let src = format!(
        "{}journal.wait_for_cancel('K1 handler')\njournal.note('K1 never')",
        closer("K1")
    );
    let pid = rt.spawn(script(&src), SpawnOptions::default()).unwrap();
    until_waiting(&rt).await;
    rt.cancel(pid);
    let err = rt.join(pid).await.unwrap_err();
    assert_eq!(err.kind(), Some(ErrorKind::Canceled), "{err}");
    assert_eq!(journal::lines("K1 closed"), ["K1 closed: nil"]);
    assert!(journal::lines("K1 never").is_empty());
    // The handler learnt of the cancel (dropped unfinished, or woken by
    // its token: the runtime does both, in either order) and saw the
    // process's actor; it happens on the handler pool, so wait for it.
    let lines = loop {
        let lines = journal::lines("K1 handler");
        if !lines.is_empty() {
            break lines;
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    };
    assert!(
        lines == ["K1 handler dropped (actor Some(\"carol\"))"]
            || lines == ["K1 handler saw the token (actor Some(\"carol\"))"],
        "{lines:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deadline_closes_the_process_too() {
    let rt = runtime();
    let src = format!("{}time.sleep(60000)", closer("K2"));
    let opts = SpawnOptions {
        deadline: Some(Duration::from_millis(50)),
        ..SpawnOptions::default()
    };
    let pid = rt.spawn(script(&src), opts).unwrap();
    let err = rt.join(pid).await.unwrap_err();
    assert_eq!(err.kind(), Some(ErrorKind::Timeout), "{err}");
    assert_eq!(journal::lines("K2"), ["K2 closed: nil"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_process_closes_with_its_error() {
    let rt = runtime();
    let src = format!(
        "{}local function inner()\n{}error('boom', 0) end\ninner()",
        closer("K3 outer"),
        closer("K3 inner")
    );
    let err = rt.run::<()>(&script(&src)).await.unwrap_err();
    assert!(err.to_string().contains("boom"), "{err}");
    // Innermost first, each with the error, as Lua closes them.
    assert_eq!(
        journal::lines("K3"),
        ["K3 inner closed: boom", "K3 outer closed: boom"]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cancelled_invoke_drops_its_continuation_at_once() {
    let rt = runtime();
    let src = "journal.within('K4', function() journal.wait_for_cancel('K4 handler') end)
               journal.note('K4 never')";
    let pid = rt.spawn(script(src), SpawnOptions::default()).unwrap();
    until_waiting(&rt).await;
    // Nothing is collected in between: the drop does not wait for the GC.
    rt.cancel(pid);
    rt.join(pid).await.unwrap_err();
    assert_eq!(journal::lines("K4 abandoned"), ["K4 abandoned"]);
    assert!(journal::lines("K4 never").is_empty());
    // A finished one is not reported as abandoned.
    let done: bool = rt
        .run(&script(
            "return journal.within('K4b', function() time.sleep(1) end)",
        ))
        .await
        .unwrap();
    assert!(done);
    assert!(journal::lines("K4b").is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_close_handler_cannot_wait_and_says_why() {
    let rt = runtime();
    let src = "local closer <close> = setmetatable({}, { __close = function()
                 local ok, err = pcall(time.sleep, 1)
                 journal.note('K5 ' .. tostring(ok) .. ' ' .. tostring(err))
               end })
               time.sleep(60000)";
    let pid = rt.spawn(script(src), SpawnOptions::default()).unwrap();
    until_waiting(&rt).await;
    rt.cancel(pid);
    rt.join(pid).await.unwrap_err();
    let lines = journal::lines("K5");
    assert_eq!(lines.len(), 1, "{lines:?}");
    assert!(
        lines[0].contains("K5 false") && lines[0].contains("cannot wait here"),
        "{lines:?}"
    );
}

/// Hostile clean-up: close handlers that never end are stopped by the
/// unyielding limit, which all of a process's handlers share (a thousand
/// spinning handlers do not take a thousand times the limit); the worker
/// goes on with other processes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn endless_close_handlers_are_bounded() {
    let rt = runtime();
    let spinners: String = (0..50)
        .map(|i| {
            format!(
                "local spin{i} <close> = setmetatable({{}}, {{ __close = function()
                   while true do pcall(function() while true do end end) end
                 end }})\n"
            )
        })
        .collect();
    // Closed in reverse order: the journal's handler runs first.
    let src = format!("{spinners}{}time.sleep(60000)", closer("K6"));
    cancel_within_one_budget(&rt, &src, "K6").await;
    // The same handlers in the coroutines the process waits inside.
    let src = format!(
        "coroutine.wrap(function()
           {spinners}print(coroutine.resume(coroutine.create(function()
             {spinners}{}time.sleep(60000)
           end)))
         end)()",
        closer("K6b")
    );
    cancel_within_one_budget(&rt, &src, "K6b").await;
}

/// Cancels a process of `body` once it waits, and checks it ends cancelled,
/// its handler noted as `tag` closed, within far less than one budget per
/// handler; then that the worker goes on.
async fn cancel_within_one_budget(rt: &Runtime, body: &str, tag: &str) {
    let pid = rt.spawn(script(body), SpawnOptions::default()).unwrap();
    until_waiting(rt).await;
    let started = std::time::Instant::now();
    rt.cancel(pid);
    let err = rt.join(pid).await.unwrap_err();
    assert_eq!(err.kind(), Some(ErrorKind::Canceled), "{err}");
    assert_eq!(journal::lines(tag), [format!("{tag} closed: nil")]);
    // One shared budget of 200 ms (bound generous for a noisy machine, far
    // below one budget per handler).
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    let n: i64 = rt.run("return 6 * 7").await.unwrap();
    assert_eq!(n, 42);
}

/// `coroutine.yield` where the code cannot be suspended (a function that
/// Rust calls back) says so, instead of "outside a coroutine".
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_yield_under_a_rust_callback_says_why_it_cannot() {
    let rt = Runtime::builder()
        .module(&luamod_examples::buffer::MODULE)
        .workers(1)
        .build()
        .unwrap();
    let err = rt
        .run::<()>(
            "local buffer = require('buffer')
             local b = buffer.Buffer.new('a\\nb')
             b:each_line(function() coroutine.yield() end)",
        )
        .await
        .unwrap_err();
    let text = err.to_string();
    assert!(
        text.contains("attempt to yield across a C-call boundary"),
        "{text}"
    );
    assert!(!text.contains("outside a coroutine"), "{text}");
}

/// A close handler that raises, in the very function that fails: before
/// the worker resumed processes itself, mlua's stack reset ran that
/// handler unprotected and its error aborted the host.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_raising_close_handler_in_a_failing_function_does_not_abort() {
    let rt = runtime();
    let src = "local function f()
                 local x <close> = setmetatable({}, { __close = function(_, e)
                   journal.note('K7 closing after ' .. tostring(e))
                   error('from close', 0)
                 end })
                 error('from body', 0)
               end
               f()";
    let err = rt.run::<()>(&script(src)).await.unwrap_err();
    // The process's own error stands; the handler's is ignored.
    assert!(err.to_string().contains("from body"), "{err}");
    assert_eq!(journal::lines("K7"), ["K7 closing after from body"]);
    let n: i64 = rt.run("return 1").await.unwrap();
    assert_eq!(n, 1);
}

/// An error value whose `__tostring` is Lua code is not printed by running
/// that code (it could loop forever outside any budget); it is described
/// by its type.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_error_value_with_a_looping_tostring_is_not_run() {
    let rt = runtime();
    for src in [
        "error(setmetatable({}, { __tostring = function() while true do end end }))",
        // Nor through a C `__tostring` that calls back into the script.
        "error(setmetatable({}, { __tostring = pcall, __call = function() while true do end end }))",
    ] {
        let err = rt.run::<()>(src).await.unwrap_err();
        assert!(
            err.to_string().contains("error object is a table value"),
            "{err}"
        );
    }
    // luamod's own error values still print as themselves.
    let err = rt
        .run::<()>("error(errors.new({ kind = errors.NOT_FOUND, message = 'no such thing' }))")
        .await
        .unwrap_err();
    assert!(err.to_string().contains("no such thing"), "{err}");
}
