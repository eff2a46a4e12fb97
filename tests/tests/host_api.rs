//! What a host needs beyond `run(source)`: frozen data from exports,
//! modules bound as globals.

#![cfg(not(feature = "luajit"))]

use luamod::prelude::*;
use luamod::runtime::SpawnOptions;
use luamod_examples::greet;
use luamod_tests::shelf;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn frozen_results_are_read_only_at_every_level() {
    let rt = Runtime::builder()
        .module(&shelf::MODULE)
        .workers(1)
        .build()
        .unwrap();
    let got: Vec<String> = rt
        .run(
            "local shelf = require('shelf')
             local c = shelf.catalog()
             local out = {}
             local function try(name, f)
               local ok, err = pcall(f)
               out[#out + 1] = name .. ': ' .. (ok and 'allowed' or tostring(err))
             end
             try('assign', function() c.odd = nil end)
             try('nested', function() c.odd[1] = 7 end)
             try('rawset', function() rawset(c, 'x', 1) end)
             try('setmetatable', function() setmetatable(c, nil) end)
             try('insert', function() table.insert(c.even, 6) end)
             local keys = {}
             for k, v in pairs(c) do keys[#keys + 1] = k .. '=' .. #v end
             table.sort(keys)
             out[#out + 1] = table.concat(keys, ',')
             out[#out + 1] = tostring(c.odd[2]) .. ' ' .. tostring(#c.odd)
             out[#out + 1] = tostring(shelf.count())
             local v, err = shelf.maybe(false)
             out[#out + 1] = tostring(v) .. ' ' .. err:kind()
             local ok = pcall(function() shelf.maybe(true)[1] = 'b' end)
             out[#out + 1] = tostring(ok)
             return out",
        )
        .await
        .unwrap();
    assert!(
        got[0].starts_with("assign: ")
            && got[0].contains("attempt to modify read-only table 'shelf.catalog'"),
        "{got:?}"
    );
    for line in &got[1..5] {
        assert!(line.contains("read-only table 'shelf.catalog'"), "{got:?}");
    }
    assert_eq!(
        &got[5..],
        ["even=2,odd=3", "3 3", "5", "nil NOT_FOUND", "false"]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn modules_can_be_globals_too() {
    let with = Runtime::builder()
        .module(&greet::MODULE)
        .globals(true)
        .workers(1)
        .build()
        .unwrap();
    let same: bool = with
        .run("return greet == require('greet') and greet.hello('Ann') == require('greet').hello('Ann')")
        .await
        .unwrap();
    assert!(same);
    // A process that shadows the global changes only its own view.
    let _: () = with.run("greet = nil").await.unwrap();
    let still: bool = with.run("return greet ~= nil").await.unwrap();
    assert!(still);
    let err = with.run::<()>("greet.hello = nil").await.unwrap_err();
    assert!(err.to_string().contains("read-only table 'greet'"), "{err}");

    let without = Runtime::builder()
        .module(&greet::MODULE)
        .workers(1)
        .build()
        .unwrap();
    let absent: bool = without.run("return greet == nil").await.unwrap();
    assert!(absent);
}

#[test]
fn frozen_returns_are_typed_as_what_they_hold() {
    let files = luamod::stubs::render(&[&shelf::MODULE], luamod::stubs::Format::LuaLs);
    let (_, text) = files
        .iter()
        .find(|(p, _)| p.ends_with("shelf.lua"))
        .expect("shelf stub");
    assert!(
        text.contains("---@return table<string, integer[]>\nfunction shelf.catalog() end"),
        "{text}"
    );
    assert!(
        text.contains("---@return integer\nfunction shelf.count() end"),
        "{text}"
    );
}

/// A script with functions the host calls by name, with arguments from
/// Rust and typed results.
const LEDGER: &str = r#"
local M = {}
function M.total(items, fee)
  local sum = 0
  for _, v in ipairs(items) do sum = sum + v end
  return sum + (fee or 0), #items
end
function greet(name) return "hello, " .. name end
function slow(ms) require("time").sleep(ms) return ms end
return M
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scripts_compile_once_and_run_at_named_functions() {
    let rt = Runtime::builder()
        .module(&luamod_examples::time::MODULE)
        .workers(2)
        .build()
        .unwrap();
    let script = rt.compile(LEDGER, "ledger").unwrap();
    assert_eq!(script.name(), "ledger");
    // A field of the returned table, with arguments converted in the
    // process (a Vec becomes a Lua sequence) and typed results.
    let (sum, n): (i64, i64) = rt
        .run(script.call("total", (vec![1, 2, 3], 10)))
        .await
        .unwrap();
    assert_eq!((sum, n), (16, 3));
    // A global function; the argument is data, never source text.
    let hello: String = rt
        .run(script.call("greet", "world\") os.exit() --"))
        .await
        .unwrap();
    assert_eq!(hello, "hello, world\") os.exit() --");
    // The same script on both workers, many times, and functions that wait.
    let mut pids = Vec::new();
    for i in 0..20 {
        pids.push(
            rt.spawn(script.call("slow", i % 3), SpawnOptions::default())
                .unwrap(),
        );
    }
    for pid in pids {
        rt.join(pid).await.unwrap();
    }
    // The whole chunk runs too (its `...` are the arguments).
    let echoed: (i64, String) = rt
        .run(
            rt.compile("return ...", "echo")
                .unwrap()
                .with_args((5, "five".to_owned())),
        )
        .await
        .unwrap();
    assert_eq!(echoed, (5, "five".to_owned()));
    // Unknown function: a clear error, not a crash.
    let err = rt.run::<()>(script.call("nope", ())).await.unwrap_err();
    assert!(
        err.to_string()
            .contains("the script has no function 'nope'"),
        "{err}"
    );
}

#[test]
fn compile_errors_come_at_compile_time_with_the_line() {
    let rt = Runtime::builder().workers(1).build().unwrap();
    let err = rt
        .compile("local x = 1\nlocal y = = 2\n", "broken")
        .unwrap_err();
    let text = err.to_string();
    assert!(text.contains("broken:2:"), "{text}");
    assert!(text.contains("unexpected symbol"), "{text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn script_errors_show_the_scripts_lines() {
    let rt = Runtime::builder().workers(1).build().unwrap();
    let script = rt
        .compile("function f()\n  error('boom')\nend", "failing")
        .unwrap();
    let err = rt.run::<()>(script.call("f", ())).await.unwrap_err();
    assert!(err.to_string().contains("failing:2: boom"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_complete_sees_result_values() {
    let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let log = seen.clone();
    let rt = Runtime::builder()
        .workers(1)
        .on_complete(move |done| {
            let v: Result<(i64, String), _> = done.values();
            log.lock().unwrap().push(v.map_err(|e| e.to_string()));
        })
        .build()
        .unwrap();
    let script = rt
        .compile("function pair(n) return n * 2, 'x' .. n end", "pairs")
        .unwrap();
    let _: (i64, String) = rt.run(script.call("pair", 21)).await.unwrap();
    let _ = rt.run::<()>("error('nope', 0)").await;
    let seen = seen.lock().unwrap();
    assert_eq!(seen[0], Ok((42, "x21".to_owned())));
    assert!(seen[1].as_ref().unwrap_err().contains("nope"));
}

/// Two runtimes in one process configure the same modules differently:
/// module state is per runtime, not per process.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_runtimes_configure_the_same_modules_differently() {
    use luamod_examples::{fs, sql};
    let dir = std::env::temp_dir().join(format!("luamod-state-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let dir = std::fs::canonicalize(dir).unwrap();
    let file = dir.join("ten");
    std::fs::write(&file, "0123456789").unwrap();
    let make = |read_limit: usize, max_rows: usize| {
        Runtime::builder()
            .module_with(&fs::MODULE, fs::FsConfig { read_limit })
            .module_with(
                &sql::MODULE,
                sql::SqlConfig {
                    max_rows,
                    ..sql::SqlConfig::default()
                },
            )
            .workers(1)
            .actor(Actor::new("host"))
            .policy(Policy::allow(["fs.read", "sql.open"]))
            .build()
            .unwrap()
    };
    let small = make(4, 2);
    let large = make(1 << 20, 1000);
    let src = format!(
        "local fs, sql = require('fs'), require('sql')
         local data, err = fs.read({:?})
         local db = assert(sql.open(':memory:'))
         local rows, qerr = db:query('WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 5) SELECT x FROM c')
         return (data and #data or err:kind()) .. ' ' .. (rows and #rows or qerr:kind())",
        file.display().to_string()
    );
    let a: String = small.run(&src).await.unwrap();
    let b: String = large.run(&src).await.unwrap();
    assert_eq!(a, "RESOURCE_EXHAUSTED RESOURCE_EXHAUSTED");
    assert_eq!(b, "10 5");
    // A module without an explicit state gets its default.
    let default: String = make_default().run(&src).await.unwrap();
    assert_eq!(default, "10 5");
    let _ = std::fs::remove_dir_all(&dir);
}

fn make_default() -> Runtime {
    Runtime::builder()
        .module(&luamod_examples::fs::MODULE)
        .module(&luamod_examples::sql::MODULE)
        .workers(1)
        .actor(Actor::new("host"))
        .policy(Policy::allow(["fs.read", "sql.open"]))
        .build()
        .unwrap()
}

#[test]
fn a_state_that_does_not_fit_its_module_is_refused() {
    let Err(wrong) = Runtime::builder()
        .module_with(&luamod_examples::fs::MODULE, 5_u32)
        .build()
    else {
        panic!("a u32 was taken as fs's state");
    };
    assert!(
        wrong
            .to_string()
            .contains("module 'fs' has state FsConfig, not u32"),
        "{wrong}"
    );
    let Err(none) = Runtime::builder()
        .module_with(&greet::MODULE, 5_u32)
        .build()
    else {
        panic!("greet took a state");
    };
    assert!(
        none.to_string()
            .contains("module 'greet' declares no state"),
        "{none}"
    );
    // Plain states take a state when binding, and refuse a wrong one.
    let lua = luamod::lua_with(&[]).unwrap();
    luamod_examples::fs::MODULE
        .bind_with(&lua, luamod_examples::fs::FsConfig { read_limit: 1 })
        .unwrap();
    assert!(
        luamod_examples::fs::MODULE
            .bind_with(&lua, "nope")
            .unwrap_err()
            .to_string()
            .contains("not &str")
    );
}

/// A script is loaded once per worker and every process gets a fresh
/// main function over it: globals are per process, a trailing comment or
/// varargs behave as in a chunk of its own.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_process_of_a_script_has_its_own_globals() {
    let rt = Runtime::builder().workers(1).build().unwrap();
    let script = rt
        .compile(
            "counter = (counter or 0) + 1\nreturn counter, select('#', ...) -- done",
            "count",
        )
        .unwrap();
    for _ in 0..3 {
        let (n, args): (i64, i64) = rt.run(script.with_args((1, 2, 3))).await.unwrap();
        assert_eq!((n, args), (1, 3));
    }
    // Its globals are its process's, never the worker's own: what it
    // writes is not seen by the next process.
    let _: () = rt
        .run(&rt.compile("leaked = true", "writer").unwrap())
        .await
        .unwrap();
    let clean: bool = rt.run("return leaked == nil").await.unwrap();
    assert!(clean);
    let err = rt
        .run::<()>(&rt.compile("error('line two')", "lines").unwrap())
        .await
        .unwrap_err();
    assert!(err.to_string().contains("lines:1: line two"), "{err}");
}
