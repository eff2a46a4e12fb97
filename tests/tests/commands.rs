//! Asking commands: a handler ready at once is answered inside the call,
//! one that is pending suspends only its process; and what is refused
//! before any handler starts (places a yield cannot pass, a call that has
//! already failed, a process being stopped), so no handler works for a
//! caller that is not there to take its answer.

#![cfg(not(feature = "luajit"))]

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use luamod::prelude::*;
use luamod::runtime::{HandlerCx, SpawnOptions, handler_fn};
use luamod::security::{Actor, Context, Policy};

/// Answered with what its handler knows of the asking process; `WhoLater`
/// after the handler was pending once (the process suspends).
#[derive(Command)]
#[command(id = 720, name = "test.who_now", output = String)]
struct WhoNow;
#[derive(Command)]
#[command(id = 721, name = "test.who_later", output = String)]
struct WhoLater;

#[luamod::module(name = "who", class(io))]
mod who {
    use super::*;
    #[luamod::function]
    pub fn now() -> Yield<WhoNow> {
        Yield(WhoNow)
    }
    #[luamod::function]
    pub fn later() -> Yield<WhoLater> {
        Yield(WhoLater)
    }
}

fn who_is(cx: &HandlerCx) -> String {
    let actor = cx.context().actor.as_ref().map(|a| a.id.clone());
    format!("{}:{}", cx.pid(), actor.unwrap_or_default())
}

/// Counts its handler's starts; answered at once (`Now`) or after being
/// pending once (`Later`).
#[derive(Command)]
#[command(id = 730, name = "test.count_now", output = i64)]
struct CountNow;
#[derive(Command)]
#[command(id = 731, name = "test.count_later", output = i64)]
struct CountLater(#[allow(dead_code)] String);
#[derive(Command)]
#[command(id = 732, name = "test.slow_start", output = i64)]
struct SlowStart;
#[derive(Command)]
#[command(id = 733, name = "test.boxed_now", output = i64)]
struct BoxedNow;
/// Never answered: its process waits until it is cancelled.
#[derive(Command)]
#[command(id = 734, name = "test.forever", output = i64)]
struct Forever;

#[luamod::module(name = "counted", class(io))]
mod counted {
    use super::*;
    #[luamod::function]
    pub fn now() -> Yield<CountNow> {
        Yield(CountNow)
    }
    /// Takes an optional string: a number passed is converted inside the
    /// call, which allocates in a window (a required string is converted
    /// before the call starts, where a memory error is raised at once).
    #[luamod::function]
    pub fn later(s: Option<String>) -> Yield<CountLater> {
        Yield(CountLater(s.unwrap_or_default()))
    }
    #[luamod::function]
    pub fn slow_start() -> Yield<SlowStart> {
        Yield(SlowStart)
    }
    #[luamod::function]
    pub fn boxed_now() -> Yield<BoxedNow> {
        Yield(BoxedNow)
    }
    #[luamod::function]
    pub fn forever() -> Yield<Forever> {
        Yield(Forever)
    }
}

/// A module that resumes a coroutine itself, in Rust (mlua's
/// `Thread::resume`), as a module author might: what a yield inside it
/// reaches is this Rust code, not the scheduler.
#[luamod::module(name = "driver")]
mod driver {
    #[luamod::function]
    pub fn drive(co: luamod::mlua::Thread) -> String {
        match co.resume::<luamod::mlua::MultiValue>(()) {
            Ok(values) => format!("resumed: {} value(s), {:?}", values.len(), co.status()),
            // Its first line (mlua appends the coroutine's traceback).
            Err(e) => format!("error: {}", e.to_string().lines().next().unwrap_or("")),
        }
    }
}

/// A runtime with one worker whose handlers count their starts in `starts`.
fn counting(starts: &Arc<AtomicUsize>, memory_limit: Option<usize>) -> Runtime {
    let (a, b, c) = (starts.clone(), starts.clone(), starts.clone());
    let mut builder = Runtime::builder()
        .module(&counted::MODULE)
        .module(&driver::MODULE)
        .handler(handler_fn(move |_: CountNow, _: HandlerCx| {
            let n = a.fetch_add(1, Ordering::SeqCst) as i64;
            async move { Ok(n) }
        }))
        .handler(handler_fn(move |_: CountLater, _: HandlerCx| {
            let n = b.fetch_add(1, Ordering::SeqCst) as i64;
            async move {
                tokio::task::yield_now().await;
                Ok(n)
            }
        }))
        .handler(handler_fn(move |_: SlowStart, _: HandlerCx| {
            let n = c.fetch_add(1, Ordering::SeqCst);
            async move {
                // The first start works far past its process's 20 ms
                // deadline (two seconds, so the deadline's timer has fired
                // even on a loaded machine), on the worker: a first poll
                // runs there.
                if n == 0 {
                    std::thread::sleep(Duration::from_secs(2));
                }
                Ok(n as i64)
            }
        }))
        .handler(Arc::new(Boxer) as Arc<dyn luamod::runtime::ErasedHandler>)
        .handler(handler_fn(|_: Forever, _: HandlerCx| async {
            std::future::pending::<()>().await;
            Ok(0)
        }))
        .workers(1);
    if let Some(limit) = memory_limit {
        builder = builder.memory_limit(limit);
    }
    builder.build().unwrap()
}

/// A host handler whose task keeps its output boxed, ready at once.
struct Boxer;

impl luamod::runtime::ErasedHandler for Boxer {
    fn command(&self) -> (luamod::CommandId, &'static str) {
        (<BoxedNow as Command>::ID, <BoxedNow as Command>::NAME)
    }

    fn start(&self, _: &mut dyn std::any::Any, _: HandlerCx) -> luamod::command::BoxTask {
        luamod::command::boxed_task(async {
            Box::new(Ok::<i64, LuaError>(41)) as Box<dyn std::any::Any + Send>
        })
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_handler_ready_at_once_answers_inside_the_call_boxed_or_not() {
    let starts = Arc::new(AtomicUsize::new(0));
    let rt = counting(&starts, None);
    let (a, b, c): (i64, i64, i64) = rt
        .run("local m = require('counted') return m.now(), m.now(), m.boxed_now() + 1")
        .await
        .unwrap();
    assert_eq!((a, b, c), (0, 1, 42));
}

/// Where a yield could not pass (a `table.sort` comparator, an `xpcall`
/// message handler, a metamethod called by C), a command is refused with a
/// clear error before its handler starts, even one that would be ready at
/// once (it would not need to suspend, but its side effects must not
/// depend on that).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_command_is_refused_where_a_yield_could_not_pass_before_its_handler_starts() {
    let starts = Arc::new(AtomicUsize::new(0));
    let rt = counting(&starts, None);
    let errs: String = rt
        .run(
            r#"
            local m = require('counted')
            local errs = {}
            local ok, e = pcall(table.sort, {3, 1, 2}, function(a, b) m.now() return a < b end)
            errs[#errs + 1] = tostring(ok) .. ':' .. tostring(e)
            local _, e2 = xpcall(error, function(e) local ok, e3 = pcall(m.now) return e3 end, 'x')
            errs[#errs + 1] = tostring(e2)
            local ok4, e4 = pcall(string.gsub, 'ab', '%w', function(c) m.later('x') end)
            errs[#errs + 1] = tostring(ok4) .. ':' .. tostring(e4)
            return table.concat(errs, '\n')
            "#,
        )
        .await
        .unwrap();
    for line in errs.lines() {
        assert!(line.contains("cannot wait here"), "{errs}");
    }
    assert_eq!(errs.lines().count(), 3);
    assert_eq!(starts.load(Ordering::SeqCst), 0, "no handler started");
}

/// Inside a coroutine that Rust code resumes (an export driving it with
/// mlua), a yield would reach that Rust code, not the scheduler: a command
/// there is refused before its handler starts, also one asked from a
/// coroutine that such a coroutine resumes with `coroutine.resume`; the
/// process goes on and asks commands where it can.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_command_inside_a_coroutine_rust_resumes_is_refused_before_its_handler_starts() {
    let starts = Arc::new(AtomicUsize::new(0));
    let rt = counting(&starts, None);
    let (lines, after): (String, i64) = rt
        .run(
            r#"
            local m = require('counted')
            local d = require('driver')
            local out = {}
            out[#out + 1] = d.drive(coroutine.create(function() return m.now() end))
            out[#out + 1] = d.drive(coroutine.create(function() return m.later('x') end))
            out[#out + 1] = d.drive(coroutine.create(function()
                local ok, e = coroutine.resume(coroutine.create(function()
                    return m.later('y')
                end))
                error(tostring(ok) .. ' ' .. tostring(e), 0)
            end))
            out[#out + 1] = d.drive(coroutine.create(function()
                local ok, e = pcall(m.now)
                assert(not ok and tostring(e):find('cannot wait here', 1, true), e)
                return 'caught'
            end))
            return table.concat(out, '\n'), m.now()
            "#,
        )
        .await
        .unwrap();
    let lines: Vec<&str> = lines.lines().collect();
    assert_eq!(lines.len(), 4, "{lines:?}");
    for line in &lines[..3] {
        assert!(
            line.starts_with("error:") && line.contains("cannot wait here"),
            "{line}"
        );
    }
    assert!(lines[2].contains("false"), "{}", lines[2]);
    // The fourth caught its refusal and returned normally.
    assert!(lines[3].starts_with("resumed: 1 value(s)"), "{}", lines[3]);
    assert_eq!(after, 0, "the first handler to start is the one outside");
    assert_eq!(starts.load(Ordering::SeqCst), 1);
}

/// A process cancelled while it waits inside coroutines (B in A) is closed,
/// B first. B's `__close` handler has a Rust function resume the process
/// (luamod cannot refuse that: mlua drives it), so the process's code runs
/// on, is refused A (being closed), ends and drops A; then the handler
/// fills memory until the collector runs. The cancel still ends the process
/// as cancelled and the worker goes on. (The worker anchors the coroutines
/// it closes, so A's life does not depend on the frames that code unwinds;
/// this run did not show a use after free without the anchor either, so it
/// does not prove the anchor.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_process_resumed_by_rust_while_it_is_closed_still_ends_cancelled() {
    let starts = Arc::new(AtomicUsize::new(0));
    let rt = counting(&starts, Some(64 << 20));
    let pid = rt
        .spawn(
            [
                "local m, d = require('counted'), require('driver')
            local P = coroutine.running()
            local A = coroutine.create(function()
                local B = coroutine.create(function()
                    local x <close> = setmetatable({}, { __close = function()
                        d.drive(P)",
                luamod_tests::COLLECT_AND_REFILL,
                "end })
                    m.forever()
                end)
                coroutine.resume(B)
            end)
            coroutine.resume(A)",
            ]
            .concat(),
            SpawnOptions::default(),
        )
        .unwrap();
    while rt.stats().await[0].waiting != 1 {
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    rt.cancel(pid);
    let err = rt.join(pid).await.unwrap_err();
    assert_eq!(err.kind(), Some(ErrorKind::Canceled), "{err}");
    let n: i64 = rt.run("return 6 * 7").await.unwrap();
    assert_eq!(n, 42);
}

/// Commands pass up through coroutines nested two deep (`wrap` in `wrap`,
/// `resume` in `resume`), pending or answered at once, and so does a
/// preemption of a loop two coroutines deep: the chain to the scheduler is
/// handed on at each level and taken back on the way out.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn commands_and_preemptions_pass_up_through_nested_coroutines() {
    let starts = Arc::new(AtomicUsize::new(0));
    let rt = counting(&starts, None);
    let (a, b, c): (i64, i64, i64) = rt
        .run(
            r#"
            local m = require('counted')
            local a = coroutine.wrap(function()
                return coroutine.wrap(function() return m.later('x') end)()
            end)()
            local ok, b = coroutine.resume(coroutine.create(function()
                local ok, v = coroutine.resume(coroutine.create(function()
                    return m.now() + m.later('y')
                end))
                assert(ok, v)
                return v
            end))
            assert(ok, b)
            local c = coroutine.wrap(function()
                return coroutine.wrap(function()
                    local s = 0
                    for i = 1, 10000000 do s = s + i % 3 end
                    return s + m.now()
                end)()
            end)()
            return a, b, c
            "#,
        )
        .await
        .unwrap();
    assert_eq!((a, b, c), (0, 3, 10_000_000 + 3));
    let preempted: u64 = rt.stats().await.iter().map(|w| w.preemptions).sum();
    assert!(preempted > 0, "the loop was preempted");
}

/// A call that has already failed (an argument converted past the memory
/// limit: the failure is raised when the call ends) starts no handler:
/// every handler that started belongs to a call that returned its answer.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_call_that_ran_out_of_memory_starts_no_handler() {
    let starts = Arc::new(AtomicUsize::new(0));
    let rt = counting(&starts, Some(8 << 20));
    let (answered, failed): (i64, i64) = rt
        .run(
            r#"
            local m = require('counted')
            local hog = {}
            pcall(function() while true do hog[#hog + 1] = {} end end)
            local answered, failed = 0, 0
            for i = 1, 300 do
                local ok, err = pcall(m.later, i + 0.5)
                if ok then
                    answered = answered + 1
                elseif tostring(err):find('not enough memory', 1, true) then
                    failed = failed + 1
                else
                    error(err)
                end
            end
            hog = nil
            return answered, failed
            "#,
        )
        .await
        .unwrap();
    assert!(failed > 0, "the limit was reached ({answered} answered)");
    assert_eq!(starts.load(Ordering::SeqCst) as i64, answered);
}

/// A process being stopped (here past its deadline, while a handler's first
/// poll kept the worker busy) starts no more handlers: its next commands
/// fail with the reason at once, until the stop reaches its Lua code.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_process_being_stopped_starts_no_more_handlers() {
    let starts = Arc::new(AtomicUsize::new(0));
    let rt = counting(&starts, None);
    let e = rt
        .run_with::<()>(
            "local m = require('counted') while true do m.slow_start() end",
            SpawnOptions {
                deadline: Some(Duration::from_millis(20)),
                ..SpawnOptions::default()
            },
        )
        .await
        .unwrap_err();
    assert!(e.to_string().contains("deadline"), "{e}");
    assert_eq!(starts.load(Ordering::SeqCst), 1);
}

/// Commands answered at once do not give way, but the time slice still
/// does: a process asking them in a loop leaves the worker to the others.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_loop_of_commands_answered_at_once_does_not_starve_the_others() {
    let starts = Arc::new(AtomicUsize::new(0));
    let rt = counting(&starts, None);
    let spinner = rt
        .spawn(
            "local m = require('counted') while true do m.now() end",
            SpawnOptions::default(),
        )
        .unwrap();
    let n: i64 = rt
        .run("local s = 0 for i = 1, 1000 do s = s + i end return s")
        .await
        .unwrap();
    assert_eq!(n, 500_500);
    assert!(starts.load(Ordering::SeqCst) > 0, "the spinner ran");
    rt.cancel(spinner);
    assert!(rt.join(spinner).await.is_err());
}

/// A handler answered at once runs inside the asking call, and one that is
/// pending runs after its process suspended; either way it sees the asking
/// process (its pid and its security context), however the processes of
/// one worker interleave: nothing of one process's handle reaches
/// another's commands.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn handlers_answered_at_once_or_later_see_the_process_that_asked() {
    let rt = Runtime::builder()
        .module(&who::MODULE)
        .handler(handler_fn(|_: WhoNow, cx: HandlerCx| async move {
            Ok(who_is(&cx))
        }))
        .handler(handler_fn(|_: WhoLater, cx: HandlerCx| async move {
            tokio::task::yield_now().await;
            Ok(who_is(&cx))
        }))
        .workers(1)
        .build()
        .unwrap();
    let script = r#"
        local who = require('who')
        local seen = {}
        for i = 1, 50 do
            seen[#seen + 1] = who.now()
            seen[#seen + 1] = who.later()
        end
        return table.concat(seen, ',')
    "#;
    let as_actor = |name: &str| SpawnOptions {
        context: Some(Context::new(Actor::new(name)).with_policy(Policy::allow_all())),
        ..SpawnOptions::default()
    };
    // Run together on the one worker: their steps interleave.
    let (a, b, c) = tokio::join!(
        rt.run_with::<String>(script, as_actor("alice")),
        rt.run_with::<String>(script, as_actor("bob")),
        rt.run_with::<String>(script, as_actor("carol")),
    );
    let mut pids = std::collections::HashSet::new();
    for (seen, name) in [(a, "alice"), (b, "bob"), (c, "carol")] {
        let seen = seen.unwrap();
        let (pid, _) = seen.split_once(':').unwrap();
        pids.insert(pid.to_owned());
        let expected = vec![format!("{pid}:{name}"); 100].join(",");
        assert_eq!(seen, expected);
    }
    assert_eq!(pids.len(), 3, "three processes");
}

/// A command whose `Drop` panics (module code).
#[derive(Command)]
#[command(id = 734, name = "test.sticky", output = i64)]
struct Sticky;

impl Drop for Sticky {
    fn drop(&mut self) {
        panic!("dropping a command");
    }
}

#[luamod::module(name = "sticky", class(io))]
mod sticky {
    use super::*;
    #[luamod::function]
    pub fn ask() -> Yield<Sticky> {
        Yield(Sticky)
    }
}

/// A host handler that leaves the command in its slot and answers with a
/// task of its own whose `Drop` panics once its output is taken.
struct Careless;

impl luamod::runtime::ErasedHandler for Careless {
    fn command(&self) -> (luamod::CommandId, &'static str) {
        (<Sticky as Command>::ID, <Sticky as Command>::NAME)
    }

    fn start(&self, _: &mut dyn std::any::Any, _: HandlerCx) -> luamod::command::BoxTask {
        Box::pin(PanicsWhenDropped(Some(Box::new(Ok::<i64, LuaError>(9)))))
    }
}

struct PanicsWhenDropped(Option<Box<dyn std::any::Any + Send>>);

impl luamod::command::Task for PanicsWhenDropped {
    fn poll_task(
        self: std::pin::Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<()> {
        std::task::Poll::Ready(())
    }
    fn take_output(self: std::pin::Pin<&mut Self>, _: &mut dyn std::any::Any) -> bool {
        false
    }
    fn take_boxed(mut self: std::pin::Pin<&mut Self>) -> Option<Box<dyn std::any::Any + Send>> {
        self.0.take()
    }
}

impl Drop for PanicsWhenDropped {
    fn drop(&mut self) {
        panic!("dropping a task");
    }
}

/// Once a handler has answered, dropping what is left (the command it left
/// in its slot, its spent task) is module and host code that may panic:
/// the caller still gets its answer, and the worker goes on.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn leftovers_that_panic_when_dropped_do_not_cost_the_answer_or_the_worker() {
    let rt = Runtime::builder()
        .module(&sticky::MODULE)
        .handler(Arc::new(Careless) as Arc<dyn luamod::runtime::ErasedHandler>)
        .workers(1)
        .build()
        .unwrap();
    let (a, b): (i64, i64) = rt
        .run("local s = require('sticky') return s.ask(), s.ask()")
        .await
        .unwrap();
    assert_eq!((a, b), (9, 9));
    let n: i64 = rt.run("return 5").await.unwrap();
    assert_eq!(n, 5);
}
