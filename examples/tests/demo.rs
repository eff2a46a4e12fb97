//! The demo host, run as a user would run it.

use std::process::Command;

fn demo(args: &[&str]) -> (bool, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_luamod-examples"))
        .args(args)
        .current_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/.."))
        .output()
        .expect("run the demo");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn the_tour_runs_every_module() {
    let (ok, out, err) = demo(&["run", "examples/lua/tour.lua", "--serve-demo"]);
    assert!(ok, "stdout:\n{out}\nstderr:\n{err}");
    for line in [
        "Hello, Ann!",
        "no greeting for language 'xx'",
        "attempt to modify read-only table 'greet'",
        "Buffer(greeting, 16 bytes)",
        "The secret handshake for Ann is three taps.",
        "permission denied: no policy allows actor 'demo' to perform 'greet.secret' on 'Bob'",
        "slept and ticked 3 times; at least 50 ms passed: true",
        "{\"list\":[1,2,3],\"ok\":true}",
        "reading /etc/hostname:\tPERMISSION_DENIED",
        "  note 2: second",
        "failed transaction:\tnil\texamples/lua/tour.lua:",
        "bad SQL:\tno such table: nowhere",
        "GET /hello -> 200 hi",
        "slow server:\tTIMEOUT\tretryable: true",
        "tour finished",
    ] {
        assert!(out.contains(line), "missing {line:?} in\n{out}");
    }
}

#[test]
fn errors_show_message_source_line_and_traceback() {
    let (ok, _, err) = demo(&["run", "examples/lua/failing.lua"]);
    assert!(!ok);
    assert!(err.contains("error: examples/lua/failing.lua:4: bad argument #2 to 'chant' (number has no integer representation)"), "{err}");
    assert!(
        err.contains("  4 |   return greet.chant(\"la\", n)"),
        "{err}"
    );
    assert!(err.contains("stack traceback:"), "{err}");
}

#[test]
fn policy_files_and_workflow_contexts() {
    let (ok, out, err) = demo(&[
        "run",
        "examples/lua/policy.lua",
        "--policy",
        "examples/policies/readonly.json",
    ]);
    assert!(ok, "{err}");
    assert!(out.contains("running as reader"));
    assert!(out.contains("a policy forbids actor 'reader' to perform 'greet.secret' on 'Mallory'"));
    assert!(out.contains("PERMISSION_DENIED\tpermission denied: no policy allows actor 'reader' to perform 'fs.write'"));
    let (ok, _, err) = demo(&["run", "examples/lua/tour.lua", "--context", "workflow"]);
    assert!(!ok);
    assert!(
        err.contains("not bound: time, fs, http_client, sql"),
        "{err}"
    );
    assert!(err.contains("module 'time' not found"), "{err}");
    let (ok, _, err) = demo(&[
        "run",
        "examples/lua/tour.lua",
        "--policy",
        "/nonexistent.json",
    ]);
    assert!(
        !ok && err.contains("cannot read policy file /nonexistent.json"),
        "{err}"
    );
}

#[test]
fn modules_and_stubs_commands() {
    let (ok, out, _) = demo(&["modules"]);
    assert!(ok);
    assert!(out.contains("fs [io]"));
    assert!(out.contains("fn fs.read  (permission fs.read on path)"));
    assert!(out.contains("command 1101 (sql.exec)"));
    assert!(out.contains("userdata time.Timer"));
    let dir = std::env::temp_dir().join(format!("luamod-demo-stubs-{}", std::process::id()));
    let d = dir.display().to_string();
    let (ok, out, err) = demo(&["stubs", "--out", &d, "--format", "all"]);
    assert!(ok, "{err}");
    for m in [
        "errors",
        "greet",
        "buffer",
        "time",
        "json",
        "fs",
        "http_client",
        "sql",
    ] {
        for (sub, ext) in [("luals", "lua"), ("json", "json"), ("markdown", "md")] {
            let f = dir.join(sub).join(format!("{m}.{ext}"));
            assert!(
                f.is_file() && out.contains(&f.display().to_string()),
                "{}",
                f.display()
            );
        }
    }
    assert!(dir.join("luau/luamod.d.luau").is_file());
    let (ok, _, err) = demo(&["stubs", "--out", &d, "--format", "yaml"]);
    assert!(!ok && err.contains("unknown stub format 'yaml'"));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_runaway_script_is_stopped_by_the_demo_defaults() {
    let dir = std::env::temp_dir().join(format!("luamod-demo-runaway-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let spin = dir.join("spin.lua");
    std::fs::write(&spin, "while true do end").unwrap();
    let hog = dir.join("hog.lua");
    std::fs::write(
        &hog,
        "local t = {} local i = 0 while true do i = i + 1 t[i] = {i} end",
    )
    .unwrap();
    let spin = spin.display().to_string();
    let hog = hog.display().to_string();

    let (ok, _, err) = demo(&["run", &spin, "--deadline", "300ms"]);
    assert!(!ok);
    assert!(err.contains("exceeded its deadline of 300 ms"), "{err}");

    let (ok, _, err) = demo(&["run", &hog, "--memory-limit", "32M"]);
    assert!(!ok);
    assert!(err.contains("not enough memory"), "{err}");

    let (ok, _, err) = demo(&["run", &spin, "--deadline", "soon"]);
    assert!(!ok);
    assert!(err.contains("--deadline takes a duration"), "{err}");
    let _ = std::fs::remove_dir_all(&dir);
}
