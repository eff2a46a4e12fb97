//! The `time` module on the real clock and on the fake clock.

#![cfg(not(feature = "luajit"))]

use std::time::{Duration, Instant};

use luamod::prelude::*;
use luamod::runtime::SpawnOptions;
use luamod::testing::{FakeClock, eval};
use luamod_examples::time;

fn real() -> Runtime {
    Runtime::builder()
        .module(&time::MODULE)
        .workers(2)
        .build()
        .unwrap()
}

fn fake() -> (Runtime, FakeClock) {
    let clock = FakeClock::new();
    let rt = Runtime::builder()
        .module(&time::MODULE)
        .handler(clock.clone())
        .workers(2)
        .build()
        .unwrap();
    (rt, clock)
}

const THREE_TICKS: &str = r#"
    local time = require('time')
    local t = time.ticker(10)
    local start = time.now()
    for i = 1, 3 do assert(t:wait()) end
    t:stop()
    return time.now() - start, t:wait(), t.active
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_ten_ms_ticks_take_at_least_25ms_on_the_real_clock() {
    let rt = real();
    let start = Instant::now();
    let (lua_ms, after_stop, active): (i64, bool, bool) = eval(&rt, THREE_TICKS).await;
    assert!(
        start.elapsed() >= Duration::from_millis(25),
        "{:?}",
        start.elapsed()
    );
    assert!(lua_ms >= 25, "{lua_ms}");
    assert!(
        !after_stop && !active,
        "a stopped ticker returns false at once"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_same_ticks_on_the_fake_clock_take_no_real_time() {
    let (rt, clock) = fake();
    let pid = rt.spawn(THREE_TICKS, SpawnOptions::default()).unwrap();
    for _ in 0..3 {
        clock.wait_for_sleepers(1).await;
        clock.advance_to_next();
    }
    rt.join(pid).await.unwrap();
    assert_eq!(clock.now(), 30);
    let (ms, _, _): (i64, bool, bool) = {
        let (rt, clock) = fake();
        let h = tokio::spawn(async move { eval::<(i64, bool, bool)>(&rt, THREE_TICKS).await });
        for _ in 0..3 {
            clock.wait_for_sleepers(1).await;
            clock.advance(10);
        }
        h.await.unwrap()
    };
    assert_eq!(ms, 30, "exactly three periods of fake time");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn staggered_tickers_interleave_by_deadline() {
    let (rt, clock) = fake();
    // Two processes log into a shared Rust-side list through their results:
    // each returns the fake times at which it ticked.
    let a = "local time = require('time'); local t = time.ticker(10); local out = {}
             for i = 1, 3 do t:wait(); out[i] = time.now() end return table.concat(out, ',')";
    let b = "local time = require('time'); time.sleep(5); local t = time.ticker(10); local out = {}
             for i = 1, 3 do t:wait(); out[i] = time.now() end return table.concat(out, ',')";
    let rt = std::sync::Arc::new(rt);
    let (ra, rb) = (rt.clone(), rt.clone());
    let ha = tokio::spawn(async move { eval::<String>(&ra, a).await });
    let hb = tokio::spawn(async move { eval::<String>(&rb, b).await });
    // Advance only when every live process waits on the clock, so each
    // process reads the time of its own tick.
    loop {
        let live = [&ha, &hb].iter().filter(|h| !h.is_finished()).count();
        if live == 0 {
            break;
        }
        tokio::select! {
            _ = clock.wait_for_sleepers(live) => {
                clock.advance_to_next();
            }
            _ = tokio::time::sleep(Duration::from_millis(2)) => {}
        }
    }
    assert_eq!(ha.await.unwrap(), "10,20,30");
    assert_eq!(hb.await.unwrap(), "15,25,35");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn timers_stop_reset_and_die_with_their_process() {
    let (rt, clock) = fake();
    let src = r#"
        local time = require('time')
        local t = time.after(50)
        assert(t.active and t.period == nil)
        assert(t:stop() == true and t:stop() == false)
        local waited = t:wait()
        t:reset(20)
        local fired = t:wait()
        return waited, fired, time.now()
    "#;
    let h = {
        let rt = std::sync::Arc::new(rt);
        let r2 = rt.clone();
        (
            tokio::spawn(async move { eval::<(bool, bool, i64)>(&r2, src).await }),
            rt,
        )
    };
    clock.wait_for_sleepers(1).await;
    clock.advance(20);
    let (waited, fired, now) = h.0.await.unwrap();
    assert_eq!((waited, fired, now), (false, true, 20));

    // A ticker whose process is cancelled leaves nothing waiting.
    let rt = h.1;
    let pid = rt
        .spawn(
            "local t = require('time').ticker(5); while true do t:wait() end",
            SpawnOptions::default(),
        )
        .unwrap();
    clock.wait_for_sleepers(1).await;
    rt.cancel(pid);
    assert_eq!(
        rt.join(pid).await.unwrap_err().kind(),
        Some(ErrorKind::Canceled)
    );
    // Its in-flight sleep is cancelled (it returns at once if it already was).
    let idle = tokio::time::timeout(Duration::from_secs(5), clock.wait_until_idle()).await;
    assert!(
        idle.is_ok(),
        "the cancelled ticker still waits on the clock"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn memory_stays_bounded_under_a_stream_of_yields() {
    let (rt, _clock) = fake();
    rt.run::<()>("return").await.unwrap();
    let before: usize = rt.stats().await.iter().map(|s| s.lua_memory).sum();
    let n: i64 = eval(
        &rt,
        "local time = require('time'); local n = 0
         for i = 1, 200000 do n = n + time.now() + (time.sleep(0) or 0) end
         return n",
    )
    .await;
    assert_eq!(n, 0);
    let after: usize = rt.stats().await.iter().map(|s| s.lua_memory).sum();
    // 400,000 yields; the state may grow a little but must not keep garbage
    // per yield (that would be tens of MB).
    assert!(
        after < before + 4 * 1024 * 1024,
        "before {before} B, after {after} B"
    );
}
