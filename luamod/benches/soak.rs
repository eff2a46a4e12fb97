//! Soak: 10,000 processes on 2 workers ask commands as fast as they can
//! for a minute. Every five seconds it prints commands per second, the Lua
//! heap of both workers and the process's resident set; at the end, the
//! totals and whether the heap stayed under 64 MiB and the resident set
//! flat (the last sample within 10% of the first of the measured minute).
//! It exits non-zero if either fails.
//!
//! The handler answers at once, so a process is not suspended by its
//! commands: it runs until its time slice ends, and one worker's 5,000
//! processes take about 50 s (5,000 slices of 10 ms) to have each run
//! once. The measured minute starts after a warm-up that ends when the
//! heap has stopped growing (two samples in a row within 1%), by then
//! every process has made its table and strings; at most three minutes.
//!
//! Run: `cargo bench -p luamod --bench soak` (`LUAMOD_SOAK_SECS` sets the
//! duration; default 60).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use luamod::prelude::*;
use luamod::runtime::{HandlerCx, SpawnOptions, handler_fn};

const PROCESSES: usize = 10_000;
const HEAP_CEILING: usize = 64 << 20;

#[derive(Command)]
#[command(id = 901, name = "soak.ping", output = i64)]
struct Ping(i64);

#[luamod::module(name = "soak", class(io))]
mod soak {
    use super::*;

    #[luamod::function]
    pub fn ping(x: i64) -> Yield<Ping> {
        Yield(Ping(x))
    }
}

/// Resident set size in bytes (Linux), else 0.
fn rss() -> usize {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap_or_default();
    let pages: usize = statm
        .split_whitespace()
        .nth(1)
        .and_then(|p| p.parse().ok())
        .unwrap_or(0);
    pages * 4096
}

fn mib(b: usize) -> f64 {
    b as f64 / (1 << 20) as f64
}

fn main() {
    // `cargo bench` passes `--bench`; `cargo test --benches` passes nothing
    // that asks for a run: then only check that it starts.
    let secs: u64 = std::env::var("LUAMOD_SOAK_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(60);
    if !std::env::args().any(|a| a == "--bench") {
        return;
    }
    let tokio = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio");
    let yields = Arc::new(AtomicU64::new(0));
    let counted = yields.clone();
    let rt = tokio.block_on(async {
        Runtime::builder()
            .module(&soak::MODULE)
            .handler(handler_fn(move |p: Ping, _: HandlerCx| {
                counted.fetch_add(1, Ordering::Relaxed);
                async move { Ok(p.0 + 1) }
            }))
            .workers(2)
            .memory_limit(256 << 20)
            .build()
            .expect("runtime")
    });
    let script = rt
        .compile(
            "local ping = require('soak').ping
             local s, t = 0, {}
             while true do
                 s = ping(s) % 1000
                 t[s % 16 + 1] = ('x'):rep(s % 32)
             end",
            "soak",
        )
        .expect("compile");
    for _ in 0..PROCESSES {
        rt.spawn(&script, SpawnOptions::default()).expect("spawn");
    }
    println!("soak: {PROCESSES} processes, 2 workers, {secs} s after the warm-up");
    let begun = Instant::now();
    let mut last = (begun, 0u64);
    let mut heap_max = 0usize;
    // Samples every 5 s: (heap, rss); prints each.
    let mut sample = |phase: &str| {
        let pause = Duration::from_secs(5).min(Duration::from_secs(secs.max(1)));
        std::thread::sleep(pause);
        let now = Instant::now();
        let n = yields.load(Ordering::Relaxed);
        let stats = tokio.block_on(rt.stats());
        let heap: usize = stats.iter().map(|w| w.lua_memory).sum();
        let live: usize = stats.iter().map(|w| w.processes).sum();
        heap_max = heap_max.max(heap);
        let rss = rss();
        println!(
            "{:>5.1} s {phase:>7}  {:>10.0} commands/s  heap {:>6.1} MiB  rss {:>6.1} MiB  live {live}",
            now.duration_since(begun).as_secs_f64(),
            (n - last.1) as f64 / now.duration_since(last.0).as_secs_f64(),
            mib(heap),
            mib(rss),
        );
        last = (now, n);
        (heap, rss)
    };
    let mut before = sample("warm-up");
    loop {
        let now = sample("warm-up");
        let steady = (now.0 as f64) <= before.0 as f64 * 1.01;
        before = now;
        if steady || begun.elapsed() > Duration::from_secs(180) {
            break;
        }
    }
    let warm_up = begun.elapsed();
    let (first_n, start) = (yields.load(Ordering::Relaxed), Instant::now());
    let base = before.1;
    let mut rss_last = base;
    while start.elapsed() < Duration::from_secs(secs) {
        rss_last = sample("soak").1;
    }
    let total = yields.load(Ordering::Relaxed) - first_n;
    let elapsed = start.elapsed().as_secs_f64();
    let flat = rss_last as f64 <= base as f64 * 1.10;
    println!(
        "warm-up {:.0} s; then {total} commands in {elapsed:.1} s: {:.0} commands/s; heap max {:.1} MiB (ceiling {}); rss {:.1} -> {:.1} MiB ({})",
        warm_up.as_secs_f64(),
        total as f64 / elapsed,
        mib(heap_max),
        mib(HEAP_CEILING),
        mib(base),
        mib(rss_last),
        if flat { "flat" } else { "GREW" },
    );
    tokio.block_on(rt.shutdown(Duration::from_millis(500)));
    if heap_max >= HEAP_CEILING || !flat {
        std::process::exit(1);
    }
}
