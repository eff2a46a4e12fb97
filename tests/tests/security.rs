//! Contexts, module classes and permissions.

#![cfg(not(feature = "luajit"))]

use luamod::prelude::*;
use luamod::runtime::SpawnOptions;
use luamod::security::{Decision, Scope};
use luamod::testing::eval;
use luamod_examples::{greet, time};

#[test]
fn patterns_and_precedence() {
    let alice = Actor::new("alice").with_meta("role", "admin");
    let bob = Actor::new("bob");
    let scope = Scope::new()
        .with(Policy::allow("fs.read").on("/data/report.txt")) // exact
        .with(Policy::allow("net.*").on("*")) // prefix action, any resource
        .with(Policy::allow(["db.read", "db.write"]).on(["orders", "users"])) // lists
        .with(Policy::deny("net.post")) // deny wins
        .with(Policy::allow("admin.*").when_meta("role", "admin"))
        .with(Policy::allow("bob.only").for_actors("bob"));
    let d = |a: &Actor, action: &str, res: &str| scope.evaluate(a, action, res);
    assert_eq!(d(&alice, "fs.read", "/data/report.txt"), Decision::Allow);
    assert_eq!(d(&alice, "fs.read", "/data/other.txt"), Decision::Undefined);
    assert_eq!(d(&alice, "net.get", "https://x"), Decision::Allow);
    assert_eq!(d(&alice, "net.post", "https://x"), Decision::Deny);
    assert_eq!(d(&alice, "db.write", "users"), Decision::Allow);
    assert_eq!(d(&alice, "db.write", "secrets"), Decision::Undefined);
    assert_eq!(d(&alice, "admin.reboot", "*"), Decision::Allow);
    assert_eq!(d(&bob, "admin.reboot", "*"), Decision::Undefined);
    assert_eq!(d(&bob, "bob.only", "x"), Decision::Allow);
    assert_eq!(d(&alice, "bob.only", "x"), Decision::Undefined);
    let everything = Scope::new()
        .with(Policy::allow_all())
        .with(Policy::deny("*").on("/etc/*"));
    assert_eq!(
        everything.evaluate(&bob, "anything", "/tmp/x"),
        Decision::Allow
    );
    assert_eq!(
        everything.evaluate(&bob, "fs.read", "/etc/passwd"),
        Decision::Deny
    );
}

#[test]
fn secure_by_default() {
    // No actor: denied, even with an allow-all scope.
    let mut no_actor = Context::default().with_policy(Policy::allow_all());
    no_actor.actor = None;
    let e = no_actor.check("fs.read", "/x").unwrap_err();
    assert_eq!(e.kind(), ErrorKind::PermissionDenied);
    assert_eq!(e.retryable(), Some(false));
    assert_eq!(
        e.message(),
        "permission denied: no actor may perform 'fs.read' on '/x'"
    );
    // No scope: denied.
    let e = Context::new(Actor::new("a"))
        .check("fs.read", "/x")
        .unwrap_err();
    assert_eq!(
        e.message(),
        "permission denied: no policy allows actor 'a' to perform 'fs.read' on '/x'"
    );
    // A plain state without a context denies; with one, allows.
    let lua = luamod::lua_with(&[&greet::MODULE]).unwrap();
    let (v, kind): (Option<String>, String) = lua
        .load("local v, err = require('greet').secret('Ann'); return v, err:kind()")
        .eval()
        .unwrap();
    assert_eq!((v, kind.as_str()), (None, "PERMISSION_DENIED"));
    luamod::set_context(
        &lua,
        Context::new(Actor::new("t")).with_policy(Policy::allow("greet.*")),
    );
    let v: String = lua
        .load("return require('greet').secret('Ann')")
        .eval()
        .unwrap();
    assert!(v.contains("three taps"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn permissions_in_processes_and_inheritance() {
    let rt = Runtime::builder()
        .module(&greet::MODULE)
        .actor(Actor::new("demo"))
        .policy(Policy::allow(["greet.secret", "greet.whoami"]).on(["Ann", "*"]))
        .policy(Policy::deny("greet.secret").on("Mallory"))
        .workers(1)
        .build()
        .unwrap();
    let (ok, denied, kind, msg, who): (String, Option<String>, bool, String, String) = eval(
        &rt,
        r#"
        local greet = require('greet')
        local v, err = greet.secret('Mallory')
        local ok, e2 = pcall(function() assert(not v); error(err) end)
        return greet.secret('Ann'), v, err:kind() == errors.PERMISSION_DENIED, err:message(), greet.whoami()
        "#,
    )
    .await;
    assert!(ok.contains("Ann"));
    assert_eq!(denied, None);
    assert!(kind);
    assert_eq!(
        msg,
        "permission denied: a policy forbids actor 'demo' to perform 'greet.secret' on 'Mallory'"
    );
    assert_eq!(who, "demo");

    // A child process inherits the parent's actor and scope, and can be narrowed.
    let clock_rt = Runtime::builder()
        .module(&greet::MODULE)
        .module(&time::MODULE)
        .actor(Actor::new("parent"))
        .policy(Policy::allow("greet.*"))
        .workers(1)
        .build()
        .unwrap();
    let p = clock_rt
        .spawn("require('time').sleep(50)", SpawnOptions::default())
        .unwrap();
    let inherited: String = clock_rt
        .run_with(
            "return require('greet').whoami()",
            SpawnOptions {
                parent: Some(p),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(inherited, "parent");
    let narrowed: (Option<String>, String) = clock_rt
        .run_with(
            "local v, e = require('greet').secret('Ann'); return v, e:message()",
            SpawnOptions {
                parent: Some(p),
                narrow: vec![Policy::allow("greet.whoami")],
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(narrowed.0, None);
    assert!(narrowed.1.contains("permission denied"), "{}", narrowed.1);
    clock_rt.join(p).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn workflows_bind_no_module_with_a_barred_class() {
    let err = Runtime::builder()
        .context(ContextKind::Workflow)
        .module(&greet::MODULE)
        .module(&time::MODULE)
        .build()
        .err()
        .unwrap();
    assert_eq!(err.kind(), Some(ErrorKind::PermissionDenied));
    assert_eq!(
        err.message(),
        "module 'time' (classes: time) cannot be bound in a Workflow context: its class time reaches the outside world or differs between runs"
    );
    // greet is classed deterministic and encoding: a workflow may bind it.
    let wf = Runtime::builder()
        .context(ContextKind::Workflow)
        .module(&greet::MODULE)
        .workers(1)
        .build()
        .unwrap();
    let s: String = eval(&wf, "return require('greet').hello()").await;
    assert_eq!(s, "Hello, World!");
    // A process runtime with an io-class module refuses a workflow process
    // before any Lua runs.
    let rt = Runtime::builder()
        .module(&time::MODULE)
        .workers(1)
        .build()
        .unwrap();
    let mut wf = Context::new(Actor::new("wf"));
    wf.kind = ContextKind::Workflow;
    let err = rt
        .spawn(
            "error('must not run')",
            SpawnOptions {
                context: Some(wf),
                ..Default::default()
            },
        )
        .err()
        .unwrap();
    assert!(
        err.message()
            .starts_with("module 'time' (classes: time) cannot be bound"),
        "{err}"
    );
    // Classes are visible to hosts and in the manifest.
    assert_eq!(time::MODULE.classes(), &[Class::Time]);
    assert_eq!(time::MODULE.manifest().classes, vec!["time".to_owned()]);
    // Requiring a module that is not bound fails like Lua's require.
    let e = rt.run::<()>("require('greet')").await.unwrap_err();
    assert!(e.message().contains("module 'greet' not found"), "{e}");
}

#[test]
fn permissions_appear_in_manifests_and_stubs() {
    let m = greet::MODULE.manifest();
    let f = m.functions.iter().find(|f| f.name == "secret").unwrap();
    let p = f.permission.as_ref().unwrap();
    assert_eq!(
        (p.action.as_str(), p.resource.as_deref()),
        ("greet.secret", Some("name"))
    );
    let stub = luamod::types::luals::write_all(std::slice::from_ref(&m))
        .remove(0)
        .1;
    assert!(stub.contains("---Requires permission `greet.secret` on `name`; refused: `nil, err` (PERMISSION_DENIED)."), "{stub}");
    assert!(
        luamod::types::markdown::module_page(&m)
            .contains("*Permission:* `greet.secret` on `name`.")
    );
}

#[luamod::module(name = "ctxprobe")]
mod ctxprobe {
    use super::*;

    /// Reads the caller's context, then returns its actor or panics. A
    /// `how` that is not a number raises after the context was read.
    #[luamod::function]
    pub fn touch(ctx: &Context, how: i64) -> String {
        match how {
            0 => ctx.actor.as_ref().map(|a| a.id.clone()).unwrap_or_default(),
            _ => panic!("boom"),
        }
    }
}

/// A call holds the security context it looked up only while it runs:
/// however it ends (returning, failing, panicking), the reference is
/// dropped, or every call would leak one.
#[test]
fn a_call_releases_the_context_it_looked_up_however_it_ends() {
    let lua = luamod::lua_with(&[&ctxprobe::MODULE]).unwrap();
    luamod::set_context(&lua, Context::new(Actor::new("t")));
    let held =
        || std::sync::Arc::strong_count(&lua.app_data_ref::<std::sync::Arc<Context>>().unwrap());
    let before = held();
    let touch: luamod::mlua::Function =
        lua.load("return require('ctxprobe').touch").eval().unwrap();
    for how in ["0", "x", "2"] {
        for _ in 0..100 {
            let r = touch.call::<String>(how);
            match how {
                "0" => assert_eq!(r.unwrap(), "t"),
                "x" => assert!(r.unwrap_err().to_string().contains("number expected")),
                _ => assert!(r.unwrap_err().to_string().contains("boom")),
            }
        }
        assert_eq!(held(), before, "after calls with {how}");
    }
}
