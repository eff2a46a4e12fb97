//! Call cost from Lua, side by side in one run: the luamod export vs the
//! same function hand-written with mlua's `create_function` vs a raw C
//! function written against the Lua C API vs pure Lua.
//!
//! Each sample runs a Lua loop of `CALLS` calls; divide the reported time by
//! `CALLS` for the cost of one call (BENCHMARKS.md does).
//!
//! Every column runs in a state set up as a runtime worker's: the strict
//! sandbox, luamod's allocator with a memory limit. (The CPU budget hook is
//! not installed: a worker arms it only when its watchdog signals an
//! overrun, so a call never meets it; its cost on a running process is
//! measured by `count_instructions rt-noop`, see BENCHMARKS.md.)
//!
//! Run: `cargo bench -p luamod --bench calls`

use std::ffi::c_int;

mod common;

use criterion::{Criterion, criterion_group, criterion_main};
use luamod::mlua::{self, Function, Lua, ffi};

const CALLS: usize = 1000;

#[luamod::module(name = "bench", class(deterministic))]
mod bench {
    #[luamod::function]
    pub fn add(a: i64, b: i64) -> i64 {
        a.wrapping_add(b)
    }

    #[luamod::function]
    pub fn len(s: &str) -> usize {
        s.len()
    }

    #[luamod::function]
    pub fn echo(s: String) -> String {
        s
    }

    #[luamod::function]
    pub fn noop() {}

    /// A counter object.
    #[luamod::userdata]
    pub struct Counter {
        n: i64,
    }

    #[luamod::methods]
    impl Counter {
        pub fn new() -> Counter {
            Counter { n: 0 }
        }

        pub fn add(&mut self, by: i64) -> i64 {
            self.n = self.n.wrapping_add(by);
            self.n
        }
    }
}

/// The same counter, hand-written against mlua's `UserData`.
struct MluaCounter {
    n: i64,
}

impl mlua::UserData for MluaCounter {
    fn add_methods<M: mlua::UserDataMethods<Self>>(m: &mut M) {
        m.add_method_mut("add", |_, this, by: i64| {
            this.n = this.n.wrapping_add(by);
            Ok(this.n)
        });
    }
}

/// A state as a runtime worker has it: the strict sandbox, luamod's
/// allocator and a 256 MiB limit. The control must outlive the state's use.
fn worker_like() -> (Lua, luamod::MemoryControl) {
    let lua = Lua::new();
    luamod::sandbox::apply(&lua, &luamod::Sandbox::default()).expect("sandbox");
    let mem = luamod::MemoryControl::install(&lua).expect("allocator");
    mem.set_limit(256 << 20);
    (lua, mem)
}

fn method_group(c: &mut Criterion) {
    let (lua, _mem) = worker_like();
    let class: mlua::Table = bench::MODULE
        .bind(&lua)
        .and_then(|m| m.get("Counter"))
        .expect("class");
    let new: Function = class.get("new").expect("constructor");
    let objects: [(&str, mlua::Value); 3] = [
        ("luamod", new.call(()).expect("ours")),
        (
            "mlua",
            mlua::Value::UserData(lua.create_userdata(MluaCounter { n: 0 }).expect("mlua")),
        ),
        (
            "pure_lua",
            lua.load(
                "local C = {}; C.__index = C
                 function C:add(by) self.n = self.n + by; return self.n end
                 return setmetatable({ n = 0 }, C)",
            )
            .eval()
            .expect("lua object"),
        ),
    ];
    let looped: Function = lua
        .load(format!(
            "local o = ...\nreturn function() for i = 1, {CALLS} do o:add(1) end end"
        ))
        .into_function()
        .expect("loop chunk");
    let mut g = c.benchmark_group("method_add");
    let mut bodies = Vec::new();
    for (label, o) in objects {
        let body: Function = looped.call(o).expect("bind loop");
        g.bench_function(label, |b| b.iter(|| body.call::<()>(()).expect("loop")));
        bodies.push(body);
    }
    g.finish();
    interleaved(
        "method_add",
        ("luamod", &bodies[0]),
        ("pure_lua", &bodies[2]),
    );
}

// Raw C API versions, as a careful C programmer would write them.
unsafe extern "C-unwind" fn c_add(l: *mut ffi::lua_State) -> c_int {
    // SAFETY: Lua calls this with a live state; only integers are live
    // when luaL_checkinteger raises.
    unsafe {
        let a = ffi::luaL_checkinteger(l, 1);
        let b = ffi::luaL_checkinteger(l, 2);
        ffi::lua_pushinteger(l, a.wrapping_add(b));
    }
    1
}

unsafe extern "C-unwind" fn c_len(l: *mut ffi::lua_State) -> c_int {
    // SAFETY: as c_add.
    unsafe {
        let mut n = 0usize;
        ffi::luaL_checklstring(l, 1, &mut n);
        ffi::lua_pushinteger(l, n as i64);
    }
    1
}

unsafe extern "C-unwind" fn c_echo(l: *mut ffi::lua_State) -> c_int {
    // SAFETY: as c_add; the Rust copy mirrors the `String` the others make.
    unsafe {
        let mut n = 0usize;
        let p = ffi::luaL_checklstring(l, 1, &mut n);
        let owned = std::slice::from_raw_parts(p as *const u8, n).to_vec();
        ffi::lua_pushlstring(l, owned.as_ptr().cast(), owned.len());
    }
    1
}

unsafe extern "C-unwind" fn c_noop(_: *mut ffi::lua_State) -> c_int {
    0
}

struct Impls {
    luamod: Function,
    mlua: Function,
    c_api: Function,
    lua: Function,
}

fn impls(lua: &Lua, name: &str) -> mlua::Result<Impls> {
    let m = bench::MODULE.bind(lua)?;
    let (mlua_fn, c_fn, lua_src) = match name {
        "add" => (
            lua.create_function(|_, (a, b): (i64, i64)| Ok(a.wrapping_add(b)))?,
            // SAFETY: c_add follows the C function protocol.
            unsafe { lua.create_c_function(c_add)? },
            "return function(a, b) return a + b end",
        ),
        "len" => (
            lua.create_function(|_, s: mlua::LuaString| Ok(s.as_bytes().len()))?,
            // SAFETY: as above.
            unsafe { lua.create_c_function(c_len)? },
            "return function(s) return #s end",
        ),
        "echo" => (
            lua.create_function(|_, s: String| Ok(s))?,
            // SAFETY: as above.
            unsafe { lua.create_c_function(c_echo)? },
            "return function(s) return s end",
        ),
        _ => (
            lua.create_function(|_, ()| Ok(()))?,
            // SAFETY: as above.
            unsafe { lua.create_c_function(c_noop)? },
            "return function() end",
        ),
    };
    Ok(Impls {
        luamod: m.get(name)?,
        mlua: mlua_fn,
        c_api: c_fn,
        lua: lua.load(lua_src).eval()?,
    })
}

fn loop_of(lua: &Lua, call: &str) -> Function {
    lua.load(format!(
        "local f = ...\nreturn function() for i = 1, {CALLS} do {call} end end"
    ))
    .into_function()
    .expect("loop chunk")
}

fn group(c: &mut Criterion, title: &str, name: &str, call: &str) {
    let (lua, _mem) = worker_like();
    let fns = impls(&lua, name).expect("impls");
    let looped = loop_of(&lua, call);
    let mut g = c.benchmark_group(title);
    for (label, f) in [
        ("luamod", &fns.luamod),
        ("mlua", &fns.mlua),
        ("c_api", &fns.c_api),
        ("pure_lua", &fns.lua),
    ] {
        let body: Function = looped.call(f).expect("bind loop");
        g.bench_function(label, |b| b.iter(|| body.call::<()>(()).expect("loop")));
    }
    g.finish();
    interleaved(
        title,
        ("luamod", &looped.call(&fns.luamod).expect("bind loop")),
        ("c_api", &looped.call(&fns.c_api).expect("bind loop")),
    );
}

/// Prints the interleaved comparison of `ours` with `reference` (see
/// `common::interleaved`), per call.
fn interleaved(title: &str, ours: (&str, &Function), reference: (&str, &Function)) {
    const PAIRS: usize = 201;
    // Loops of `CALLS` calls per sample.
    const LOOPS: usize = 50;
    let run = |f: &Function| {
        for _ in 0..LOOPS {
            f.call::<()>(()).expect("loop");
        }
    };
    let (a, b, ratio) = common::interleaved(PAIRS, || run(ours.1), || run(reference.1));
    let per_call = |secs: f64| secs * 1e9 / (LOOPS * CALLS) as f64;
    println!(
        "{title} interleaved ({PAIRS} pairs): {} {:.1} ns, {} {:.1} ns per call (medians); \
         {} / {} {ratio:.2} (median of the pairs' ratios)",
        ours.0,
        per_call(a),
        reference.0,
        per_call(b),
        ours.0,
        reference.0,
    );
}

/// The bad-argument path under `pcall`: luamod's `add(i, nil)`, mlua's,
/// the C API's `luaL_checkinteger`, and Lua's own library function
/// (`string.rep('x', nil)`) as the reference.
fn bad_arg_group(c: &mut Criterion) {
    let (lua, _mem) = worker_like();
    let fns = impls(&lua, "add").expect("impls");
    let rep: Function = lua.load("return string.rep").eval().expect("string.rep");
    let looped = loop_of(&lua, "pcall(f, i, nil)");
    let rep_loop = loop_of(&lua, "pcall(f, 'x', nil)");
    let mut g = c.benchmark_group("bad_arg_pcall");
    for (label, f, l) in [
        ("luamod", &fns.luamod, &looped),
        ("mlua", &fns.mlua, &looped),
        ("c_api", &fns.c_api, &looped),
        ("lua_string_rep", &rep, &rep_loop),
    ] {
        let body: Function = l.call(f).expect("bind loop");
        g.bench_function(label, |b| b.iter(|| body.call::<()>(()).expect("loop")));
    }
    g.finish();
    interleaved(
        "bad_arg_pcall",
        ("luamod", &looped.call(&fns.luamod).expect("bind loop")),
        ("lua_string_rep", &rep_loop.call(&rep).expect("bind loop")),
    );
}

fn calls(c: &mut Criterion) {
    group(c, "add_i64_i64", "add", "f(i, 2)");
    group(c, "len_str", "len", "f('hello world')");
    group(c, "echo_string", "echo", "f('hello')");
    group(c, "noop", "noop", "f()");
    bad_arg_group(c);
    method_group(c);
}

criterion_group!(benches, calls);
criterion_main!(benches);
