//! A fixed amount of work, for counting instructions with callgrind
//! (wall time on a shared machine is too noisy to compare small changes).
//!
//! ```text
//! cargo build --release -p luamod --example count_instructions
//! valgrind --tool=callgrind target/release/examples/count_instructions ROUNDS MODE
//! ```
//!
//! MODE is `mlua-ping` (10,000 calls of an mlua async function per round,
//! the reference for `ping`), `rt-noop` (2·10⁶ calls of `noop()` in a runtime process per
//! round; `rt-noop-unsliced`: the same with a time slice too long to end,
//! so the CPU budget never fires), `spawn` (10,000 processes of a compiled script per round,
//! spawned and joined; `spawn-wait`: each waits on a timer, and once all
//! have started waiting all are cancelled), `ping` (10,000 commands through the runtime per
//! round, each answered at once, inside the call), `loop` (a pure-Lua loop of 2·10⁶ iterations in a runtime
//! process per round) or `echo` (200,000 calls of `echo(String)` in a plain
//! state per round) or `call-KIND` (200,000 calls per round in a plain
//! state with luamod's allocator and a limit: `add`, `noop`, `len`, the
//! raw C API's `c-add`, `c-noop`, `c-len`, `c-echo`, pure Lua's `lua-add`,
//! and `method`/`lua-method` on a userdata and a pure-Lua object). Run it
//! with two round counts; the difference divided by the extra work is the
//! cost of one operation (BENCHMARKS.md).

use luamod::prelude::*;
use luamod::runtime::{HandlerCx, handler_fn};

#[derive(Command)]
#[command(id = 900, name = "bench.ping", output = i64)]
struct Ping(i64);

/// Waits on a timer (as the clock's `sleep` does) after counting its start.
#[derive(Command)]
#[command(id = 901, name = "bench.park", output = i64)]
struct Park;

#[luamod::module(name = "bench", class(io))]
mod bench {
    use super::*;

    #[luamod::function]
    pub fn ping(x: i64) -> Yield<Ping> {
        Yield(Ping(x))
    }

    #[luamod::function]
    pub fn echo(s: String) -> String {
        s
    }

    #[luamod::function]
    pub fn add(a: i64, b: i64) -> i64 {
        a.wrapping_add(b)
    }

    #[luamod::function]
    pub fn len(s: &str) -> usize {
        s.len()
    }

    #[luamod::function]
    pub fn noop() {}

    #[luamod::function]
    pub fn park() -> Yield<Park> {
        Yield(Park)
    }

    /// A counter object.
    #[luamod::userdata]
    #[derive(Default)]
    pub struct Counter {
        n: i64,
    }

    #[luamod::methods]
    impl Counter {
        pub fn new() -> Counter {
            Counter::default()
        }

        pub fn add(&mut self, by: i64) -> i64 {
            self.n = self.n.wrapping_add(by);
            self.n
        }
    }
}

/// `add` written against the raw C API, for comparison.
unsafe extern "C-unwind" fn c_add(l: *mut luamod::mlua::ffi::lua_State) -> std::ffi::c_int {
    use luamod::mlua::ffi;
    // SAFETY: Lua calls this with a live state; only integers are live
    // when luaL_checkinteger raises.
    unsafe {
        let a = ffi::luaL_checkinteger(l, 1);
        let b = ffi::luaL_checkinteger(l, 2);
        ffi::lua_pushinteger(l, a.wrapping_add(b));
    }
    1
}

/// `len` against the raw C API.
unsafe extern "C-unwind" fn c_len(l: *mut luamod::mlua::ffi::lua_State) -> std::ffi::c_int {
    use luamod::mlua::ffi;
    // SAFETY: as c_add.
    unsafe {
        let mut n = 0usize;
        ffi::luaL_checklstring(l, 1, &mut n);
        ffi::lua_pushinteger(l, n as i64);
    }
    1
}

/// `echo` against the raw C API, copying into Rust as the export does.
unsafe extern "C-unwind" fn c_echo(l: *mut luamod::mlua::ffi::lua_State) -> std::ffi::c_int {
    use luamod::mlua::ffi;
    // SAFETY: as c_add; `p` points at `n` bytes of the argument string,
    // which stays on the stack. A memory error in lua_pushlstring would
    // leak `owned` (not undefined behaviour); this runs far below its limit.
    unsafe {
        let mut n = 0usize;
        let p = ffi::luaL_checklstring(l, 1, &mut n);
        let owned = std::slice::from_raw_parts(p as *const u8, n).to_vec();
        ffi::lua_pushlstring(l, owned.as_ptr().cast(), owned.len());
    }
    1
}

/// `noop` against the raw C API.
unsafe extern "C-unwind" fn c_noop(_: *mut luamod::mlua::ffi::lua_State) -> std::ffi::c_int {
    0
}

/// 200,000 calls of `call` (a Lua expression over `f`) per round, in a
/// plain state with luamod's allocator and a memory limit (as a runtime
/// worker has).
fn calls(rounds: usize, which: &str, sandboxed: bool) {
    let lua = if sandboxed {
        let lua = luamod::mlua::Lua::new();
        luamod::sandbox::apply(&lua, &luamod::Sandbox::default()).expect("sandbox");
        lua.globals()
            .set("__bench", bench::MODULE.bind(&lua).expect("bind"))
            .expect("set");
        lua
    } else {
        luamod::lua_with(&[&bench::MODULE]).expect("state")
    };
    let mem = luamod::MemoryControl::install(&lua).expect("allocator");
    mem.set_limit(256 << 20);
    // SAFETY: all follow the C function protocol.
    unsafe {
        for (name, f) in [
            ("c_add", c_add as luamod::mlua::ffi::lua_CFunction),
            ("c_noop", c_noop),
            ("c_len", c_len),
            ("c_echo", c_echo),
        ] {
            let f = lua.create_c_function(f).expect("C function");
            lua.globals().set(name, f).expect("set");
        }
    }
    let (f, call) = match which {
        "add" => ("require('bench').add", "f(i, 1)"),
        "c-add" => ("c_add", "f(i, 1)"),
        "noop" => ("require('bench').noop", "f()"),
        "c-noop" => ("c_noop", "f()"),
        "len" => ("require('bench').len", "f('hello')"),
        "c-len" => ("c_len", "f('hello')"),
        "echo" => ("require('bench').echo", "f('hello')"),
        "c-echo" => ("c_echo", "f('hello')"),
        // The bad-argument path under pcall: ours, the C API's
        // luaL_checkinteger, and Lua's own library (`string.rep`).
        "bad-add" => ("require('bench').add", "pcall(f, i, nil)"),
        "bad-c-add" => ("c_add", "pcall(f, i, nil)"),
        "bad-rep" => ("string.rep", "pcall(f, 'x', nil)"),
        "lua-add" => ("function(a, b) return a + b end", "f(i, 1)"),
        "method" => ("require('bench').Counter.new()", "f:add(1)"),
        "lua-method" => (
            "setmetatable({ n = 0 }, { __index = { add = function(self, by) \
             self.n = self.n + by return self.n end } })",
            "f:add(1)",
        ),
        other => {
            eprintln!("unknown call {other:?}");
            std::process::exit(2);
        }
    };
    let f = if sandboxed {
        f.replace("require('bench')", "__bench")
    } else {
        f.to_owned()
    };
    let g: luamod::mlua::Function = lua
        .load(format!(
            "local f = {f} return function(n) for i = 1, n do {call} end end"
        ))
        .eval()
        .expect("chunk");
    for _ in 0..rounds {
        g.call::<()>(200_000).expect("call");
    }
}

fn main() {
    let mut args = std::env::args().skip(1);
    let rounds: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(1);
    let mode = args.next().unwrap_or_else(|| "ping".to_owned());
    if let Some(which) = mode.strip_prefix("sb-call-") {
        calls(rounds, which, true);
        return;
    }
    if let Some(which) = mode.strip_prefix("call-") {
        calls(rounds, which, false);
        return;
    }
    if mode == "mlua-ping" {
        // mlua's own async function, driven by `call_async` on tokio: the
        // reference for the yield round trip.
        let tokio = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("tokio");
        let lua = luamod::mlua::Lua::new();
        let f = lua
            .create_async_function(|_, x: i64| async move { Ok(x + 1) })
            .expect("async fn");
        lua.globals().set("ping", f).expect("set");
        let looped: luamod::mlua::Function = lua
            .load("return function() local s = 0 for i = 1, 10000 do s = s + ping(i) end return s end")
            .eval()
            .expect("loop");
        for _ in 0..rounds {
            let _: i64 = tokio.block_on(looped.call_async(())).expect("call");
        }
        return;
    }
    if mode == "echo" {
        let lua = luamod::lua_with(&[&bench::MODULE]).expect("state");
        let f: luamod::mlua::Function = lua
            .load(
                "local echo = require('bench').echo
                 return function(n) local s for i = 1, n do s = echo('hello') end return s end",
            )
            .eval()
            .expect("chunk");
        for _ in 0..rounds {
            let _: String = f.call(200_000).expect("call");
        }
        return;
    }
    let src = match mode.as_str() {
        "ping" => {
            "local ping = require('bench').ping local s = 0
             for i = 1, 10000 do s = s + ping(i) end return s"
        }
        "loop" => "local s = 0 for i = 1, 2000000 do s = s + i % 7 end return s",
        // Calls in a runtime process (sandbox, memory limit, CPU budget):
        // with the default time slice, and with one too long to end.
        "rt-noop" | "rt-noop-unsliced" => {
            "local noop = require('bench').noop
             for i = 1, 2000000 do noop() end return 0"
        }
        "spawn" | "spawn-wait" => "",
        other => {
            eprintln!(
                "unknown mode {other:?}: ping, mlua-ping, loop, rt-noop, rt-noop-unsliced, \
                 spawn, spawn-wait, echo or call-KIND"
            );
            std::process::exit(2);
        }
    };
    let tokio = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio");
    // Starts of `Park`'s handler; every 10,000th wakes the waiting round.
    let parked = std::sync::Arc::new((
        std::sync::atomic::AtomicUsize::new(0),
        tokio::sync::Notify::new(),
    ));
    let counter = parked.clone();
    let rt = tokio.block_on(async {
        Runtime::builder()
            .module(&bench::MODULE)
            .handler(handler_fn(
                |p: Ping, _: HandlerCx| async move { Ok(p.0 + 1) },
            ))
            .handler(handler_fn(move |_: Park, _: HandlerCx| {
                let n = counter.0.fetch_add(1, std::sync::atomic::Ordering::SeqCst) + 1;
                if n.is_multiple_of(10_000) {
                    counter.1.notify_one();
                }
                async {
                    tokio::time::sleep(std::time::Duration::from_secs(600)).await;
                    Ok(0)
                }
            }))
            .workers(1)
            .memory_limit(256 << 20)
            .time_slice(if mode == "rt-noop-unsliced" {
                std::time::Duration::from_secs(3600)
            } else {
                luamod::runtime::Builder::DEFAULT_TIME_SLICE
            })
            .build()
            .expect("runtime")
    });
    if mode == "spawn-wait" {
        // 10,000 processes of a compiled script per round that each wait
        // on a timer (as the `scale` bench's do); once every handler has
        // started, all are cancelled and joined.
        let script = rt
            .compile("require('bench').park()", "parked")
            .expect("compile");
        for _ in 0..rounds {
            tokio.block_on(async {
                let mut pids = Vec::with_capacity(10_000);
                for _ in 0..10_000 {
                    pids.push(rt.spawn(&script, Default::default()).expect("spawn"));
                }
                parked.1.notified().await;
                for &p in &pids {
                    rt.cancel(p);
                }
                for p in pids {
                    let _ = rt.join(p).await;
                }
            });
        }
        return;
    }
    if mode == "spawn" {
        // 10,000 processes of a compiled script per round, each returning
        // at once.
        let script = rt.compile("return 1", "one").expect("compile");
        for _ in 0..rounds {
            tokio.block_on(async {
                let mut pids = Vec::with_capacity(10_000);
                for _ in 0..10_000 {
                    pids.push(rt.spawn(&script, Default::default()).expect("spawn"));
                }
                for p in pids {
                    rt.join(p).await.expect("join");
                }
            });
        }
        return;
    }
    for _ in 0..rounds {
        let _: i64 = tokio.block_on(rt.run(src)).expect("run");
    }
}
