//! The adversarial suite: every script in `tests/hostile/` runs as a real
//! process in the real runtime, under an actor with (almost) no
//! permissions, on one worker shared with a privileged process. Each
//! script asserts that its attacks are refused and returns `"refused"`;
//! this file checks that nothing changed outside the process.

#![cfg(not(feature = "luajit"))]

use std::path::{Path, PathBuf};

use luamod::Sandbox;
use luamod::prelude::*;
use luamod::runtime::SpawnOptions;
use luamod_examples::{fs, greet, time};

fn script(name: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("hostile")
        .join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

struct Scene {
    rt: Runtime,
    tmp: PathBuf,
}

impl Scene {
    fn new() -> Scene {
        let tmp = std::env::temp_dir().join(format!(
            "luamod-hostile-{}-{}",
            std::process::id(),
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos())
                .unwrap_or(0)
        ));
        std::fs::create_dir_all(&tmp).unwrap();
        let rt = Runtime::builder()
            .module(&greet::MODULE)
            .module(&time::MODULE)
            .module(&fs::MODULE)
            .module(&luamod_tests::audit::MODULE)
            // One worker: every process shares one Lua state.
            .workers(1)
            .actor(Actor::new("mallory"))
            .policy(Policy::allow("greet.hello"))
            .build()
            .unwrap();
        Scene { rt, tmp }
    }

    fn source(&self, name: &str) -> String {
        format!(
            "local TMP = {:?}\n{}",
            self.tmp.display().to_string(),
            script(name)
        )
    }

    async fn refused(&self, name: &str) {
        self.refused_as(name, SpawnOptions::default()).await;
    }

    async fn refused_as(&self, name: &str, mut opts: SpawnOptions) {
        opts.name = Some(name.to_owned());
        let r: Result<String, _> = self.rt.run_with(&self.source(name), opts).await;
        match r {
            Ok(s) => assert_eq!(s, "refused", "{name}"),
            Err(e) => panic!("{name}: an attack got through or the script broke:\n{e}"),
        }
        self.untouched(name).await;
    }

    /// Nothing outside the process changed: no file in TMP, the host
    /// still answers, a fresh process sees clean globals.
    async fn untouched(&self, after: &str) {
        let files: Vec<_> = std::fs::read_dir(&self.tmp).unwrap().collect();
        assert!(files.is_empty(), "{after}: files appeared: {files:?}");
        let clean: bool = self
            .rt
            .run("return planted_global == nil and shared_marker == nil and string.upper('a') == 'A' and tostring(1) == '1'")
            .await
            .unwrap();
        assert!(clean, "{after}: another process sees its changes");
    }

    fn privileged() -> SpawnOptions {
        SpawnOptions {
            context: Some(
                Context::new(Actor::new("admin")).with_policy(Policy::allow(["greet.*", "fs.*"])),
            ),
            ..SpawnOptions::default()
        }
    }
}

impl Drop for Scene {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.tmp);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_ambient_authority() {
    let s = Scene::new();
    s.refused("ambient_authority.lua").await;
    s.refused("binary_chunks.lua").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deleting_a_global_uncovers_nothing_shared() {
    let s = Scene::new();
    s.refused("deleted_globals.lua").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shared_tables_are_frozen_on_every_path() {
    let s = Scene::new();
    s.refused("frozen_tables.lua").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_process_cannot_change_what_the_next_one_runs() {
    let s = Scene::new();
    s.refused("replace_for_others.lua").await;
    s.refused("check_untouched.lua").await;
    // Even the privileged process on the same worker runs clean code.
    s.refused("privileged_hooks.lua").await;
    s.refused_as("privileged_after.lua", Scene::privileged())
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn garbage_collector_and_finalizers_stay_out_of_reach() {
    let s = Scene::new();
    s.refused("collectgarbage.lua").await;
    s.refused("finalizers.lua").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_scheduler_sentinel_never_reaches_a_script() {
    let s = Scene::new();
    s.refused("coroutine_sentinel.lua").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_denied_read_writes_nothing_and_reads_nothing() {
    let s = Scene::new();
    let secret = s.tmp.join("secret");
    std::fs::write(&secret, "top secret").unwrap();
    let src = format!(
        "local v, err = require('fs').read({:?}) return v == nil and err:kind() == errors.PERMISSION_DENIED",
        secret.display().to_string()
    );
    let denied: bool = s.rt.run(&src).await.unwrap();
    assert!(denied);
    let src = format!(
        "local n, err = require('fs').write({:?}, 'x') return n == nil and err:kind() == errors.PERMISSION_DENIED",
        s.tmp.join("new").display().to_string()
    );
    let denied: bool = s.rt.run(&src).await.unwrap();
    assert!(denied);
    std::fs::remove_file(&secret).unwrap();
    s.untouched("fs").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn workflows_admit_only_modules_whose_every_class_is_allowed() {
    let err = Runtime::builder()
        .context(ContextKind::Workflow)
        .module(&luamod_tests::oom::MODULE)
        .build()
        .err()
        .expect("a module with class io in a workflow");
    assert_eq!(err.kind(), Some(ErrorKind::PermissionDenied));
    assert!(
        err.message().contains("'oom'") && err.message().contains("io"),
        "{err}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn workflows_see_no_wall_clock_and_seeded_randomness() {
    let rt = Runtime::builder()
        .context(ContextKind::Workflow)
        .module(&greet::MODULE)
        .actor(Actor::new("wf"))
        .policy(Policy::allow_all())
        .workers(1)
        .build()
        .unwrap();
    let opts = |seed| SpawnOptions {
        seed: Some(seed),
        ..SpawnOptions::default()
    };
    let src = script("workflow_env.lua");
    let a: (i64, i64, f64) = rt.run_with(&src, opts(7)).await.unwrap();
    let b: (i64, i64, f64) = rt.run_with(&src, opts(7)).await.unwrap();
    let c: (i64, i64, f64) = rt.run_with(&src, opts(8)).await.unwrap();
    assert_eq!(a, b, "the same seed gave different sequences");
    assert_ne!(a, c, "different seeds gave the same sequence");
    let r: String = rt
        .run(&script("workflow_deleted_globals.lua"))
        .await
        .unwrap();
    assert_eq!(r, "refused");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn workflows_visit_table_keys_in_one_order_on_every_run() {
    // Two runtimes: two states, two string-hash seeds.
    let mut seen = Vec::new();
    for _ in 0..2 {
        let rt = Runtime::builder()
            .context(ContextKind::Workflow)
            .module(&greet::MODULE)
            .workers(1)
            .build()
            .unwrap();
        let order: String = rt.run(&script("workflow_order.lua")).await.unwrap();
        seen.push(order);
    }
    assert_eq!(seen[0], seen[1]);
    // A process (not a workflow) keeps Lua's own `pairs`, table keys and all.
    let rt = Runtime::builder().workers(1).build().unwrap();
    let n: i64 = rt
        .run("local n = 0 for _ in pairs({ [{}] = 1, [print] = 2 }) do n = n + 1 end return n")
        .await
        .unwrap();
    assert_eq!(n, 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nothing_reachable_from_a_process_is_shared_and_writable() {
    let s = Scene::new();
    let found: Vec<String> =
        s.rt.run("return require('audit').shared_writable(_ENV)")
            .await
            .unwrap();
    assert!(found.is_empty(), "shared and writable: {found:#?}");
    let mut wf = Context::new(Actor::new("wf")).with_policy(Policy::allow_all());
    wf.kind = ContextKind::Workflow;
    let rt = Runtime::builder()
        .module(&greet::MODULE)
        .module(&luamod_tests::audit::MODULE)
        .context(ContextKind::Workflow)
        .workers(1)
        .build()
        .unwrap();
    let found: Vec<String> = rt
        .run("return require('audit').shared_writable(_ENV)")
        .await
        .unwrap();
    assert!(
        found.is_empty(),
        "shared and writable in a workflow: {found:#?}"
    );
}

#[test]
fn the_audit_finds_shared_writable_tables_in_a_plain_state() {
    let lua = luamod::lua_with(&[&luamod_tests::audit::MODULE]).unwrap();
    let found: Vec<String> = lua
        .load("return require('audit').shared_writable(_G)")
        .eval()
        .unwrap();
    assert!(
        found.len() >= 5 && found.iter().any(|p| p.ends_with(".table")),
        "{found:#?}"
    );
    // The same state in a sandbox shares nothing writable but its globals.
    luamod::sandbox::apply(&lua, &Sandbox::default()).unwrap();
    let found: Vec<String> = lua
        .load("return require('audit').shared_writable(_G)")
        .eval()
        .unwrap();
    assert!(found.is_empty(), "{found:#?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn print_goes_to_the_host_hook() {
    let lines = std::sync::Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
    let sink = lines.clone();
    let rt = Runtime::builder()
        .workers(1)
        .sandbox(Sandbox::default().print_to(move |line| {
            sink.lock().unwrap().push(line.to_owned());
        }))
        .build()
        .unwrap();
    let _: () = rt
        .run("print('a', 1, nil, true, setmetatable({}, {__tostring = function() return 'obj' end})) print()")
        .await
        .unwrap();
    assert_eq!(
        *lines.lock().unwrap(),
        vec!["a\t1\tnil\ttrue\tobj".to_owned(), String::new()]
    );
    // A line of any length reaches the hook cut to 64 KiB (it is copied
    // into Rust, three times over if it is not UTF-8).
    let _: () = rt.run("print(string.rep('\\255', 8 << 20))").await.unwrap();
    let lines = lines.lock().unwrap();
    let long = &lines[2];
    assert!(long.len() < 3 * (64 << 10) + 100, "{}", long.len());
    assert!(long.ends_with(&format!("... ({} bytes cut)", (8 << 20) - (64 << 10))));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_host_opts_in_capability_by_capability() {
    let rt = Runtime::builder()
        .workers(1)
        .sandbox(Sandbox::default().allow_env().allow_gc_control())
        .build()
        .unwrap();
    let (getenv, gc, io, dump): (bool, bool, bool, bool) = rt
        .run(
            "return type(os.getenv) == 'function', pcall(collectgarbage, 'step'),
                    io == nil, string.dump == nil",
        )
        .await
        .unwrap();
    assert!(getenv && gc && io && dump);
}
