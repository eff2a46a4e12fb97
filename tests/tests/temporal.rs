//! Lua workflows on a real Temporal server (the dev server `.ci/run`
//! starts; its address in `LUAMOD_TEMPORAL_ADDRESS`): commands become
//! activities, sleeps durable timers; a worker process killed mid-workflow
//! is replaced and the workflow completes without running finished
//! commands again; two worker processes share a task queue; a changed
//! script fails to replay a recorded history.
#![cfg(feature = "temporal")]

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use luamod::temporal::client::{
    Client, WorkflowFetchHistoryOptions, WorkflowGetResultOptions, WorkflowStartOptions,
};
use luamod::temporal::common::UntypedWorkflow;
use luamod::temporal::common::protos::temporal::api::enums::v1::EventType;
use luamod::temporal::sdk::workflow_replayer::{
    WorkflowReplayError, WorkflowReplayFailure, WorkflowReplayer, WorkflowReplayerOptions,
};
use luamod::temporal::sdk::{Runtime, Worker, WorkerOptions};
use luamod::temporal::{arguments, result};
use luamod_tests::temporal::{ORDER, builder, connect, workflows};
use serde_json::{Value, json};

fn address() -> String {
    std::env::var("LUAMOD_TEMPORAL_ADDRESS").expect(
        "LUAMOD_TEMPORAL_ADDRESS is not set: this suite runs against a Temporal server \
         (`bash .ci/run` starts a dev server for it)",
    )
}

/// A name no other run of the suite uses (the server outlives runs).
fn unique(what: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    format!("{what}-{}-{nanos}", std::process::id())
}

fn scratch(what: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(unique(what));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// What each test starts from: a scratch folder and its charge log, a task
/// queue of its own, a client.
struct Scene {
    dir: PathBuf,
    log: PathBuf,
    queue: String,
    client: Client,
}

impl Scene {
    async fn new(what: &str) -> Scene {
        let dir = scratch(what);
        Scene {
            log: dir.join("charges.log"),
            dir,
            queue: unique(what),
            client: connect(&address())
                .await
                .expect("connect to the Temporal server"),
        }
    }
}

fn charges(log: &Path) -> Vec<String> {
    std::fs::read_to_string(log)
        .unwrap_or_default()
        .lines()
        .map(str::to_owned)
        .collect()
}

async fn start_order(
    client: &Client,
    queue: &str,
    id: &str,
    args: Value,
) -> luamod::temporal::client::WorkflowHandle<Client, UntypedWorkflow> {
    let Value::Array(args) = args else {
        panic!("arguments are a list")
    };
    client
        .start_workflow(
            UntypedWorkflow::new("order"),
            arguments(args),
            WorkflowStartOptions::new(queue, id).build(),
        )
        .await
        .expect("start the workflow")
}

/// Runs `body` while an in-process worker with `options` polls (on this
/// task: the worker's future is not `Send`), then stops the worker.
async fn with_worker<T>(
    client: &Client,
    options: WorkerOptions,
    body: impl std::future::Future<Output = T>,
) -> T {
    let runtime = Runtime::from_current_tokio(Default::default()).unwrap();
    let mut worker = Worker::new(&runtime, client.clone(), options).unwrap();
    let stop = worker.shutdown_handle();
    let body = async {
        let out = body.await;
        stop();
        out
    };
    let (run, out) = tokio::join!(worker.run(), body);
    run.expect("the worker ran");
    out
}

async fn outcome(
    handle: &luamod::temporal::client::WorkflowHandle<Client, UntypedWorkflow>,
) -> Result<Value, String> {
    match handle.get_result(WorkflowGetResultOptions::default()).await {
        Ok(raw) => Ok(result(&raw).expect("a JSON result")),
        Err(e) => Err(format!("{e:?}")),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_script_runs_as_a_workflow_its_commands_as_activities_and_a_changed_script_fails_to_replay()
 {
    let Scene {
        dir,
        log,
        queue,
        client,
    } = Scene::new("inproc").await;
    let workflows = workflows(log.clone(), "inproc".into()).build().unwrap();
    let mut options = WorkerOptions::new(queue.clone()).build();
    workflows.register(&mut options).unwrap();
    let id = unique("order");
    let (handle, out) = with_worker(&client, options, async {
        let handle = start_order(&client, &queue, &id, json!(["A1", [100, 0, 250], 200])).await;
        let out = outcome(&handle).await;
        (handle, out)
    })
    .await;
    let out = out.expect("the workflow completed");
    // Receipts from the handler, `nil, err` as the script saw it, and
    // three durable timers of 200 ms in workflow time.
    assert_eq!(
        out["receipts"],
        json!(["A1:100", "refused: INVALID", "A1:250"])
    );
    assert!(out["waited"].as_i64().unwrap() >= 600, "{out}");
    assert_eq!(
        charges(&log),
        ["inproc A1 100", "inproc A1 0", "inproc A1 250"]
    );

    // The recorded history replays against the same script ...
    let history = || handle.fetch_history(WorkflowFetchHistoryOptions::default());
    let replay_log = dir.join("replay.log");
    let replayer = |source: &str| {
        let mut opts = WorkflowReplayerOptions::new().build();
        builder(replay_log.clone(), "replay".into())
            .workflow("order", source)
            .build()
            .unwrap()
            .register_replay(&mut opts)
            .unwrap();
        WorkflowReplayer::new(opts).unwrap()
    };
    replayer(ORDER)
        .replay_workflow(history())
        .await
        .expect("the same script replays its history");
    // ... and replaying runs no handler.
    assert_eq!(charges(&log).len(), 3);
    assert!(!replay_log.exists());

    // A script that now waits before its first charge makes another
    // command than the history recorded: Temporal's nondeterminism error.
    let changed = format!("require('workflow').sleep(1)\n{ORDER}");
    let err = replayer(&changed)
        .replay_workflow(history())
        .await
        .expect_err("a changed script does not replay");
    assert!(
        matches!(
            err,
            WorkflowReplayError::Replay(WorkflowReplayFailure::Nondeterminism { .. })
        ),
        "{err:?}"
    );
}

/// A worker process (`src/bin/temporal_worker.rs`), killed when dropped.
struct WorkerProcess(Child);

impl WorkerProcess {
    /// Starts one and waits until it polls `queue`.
    fn start(queue: &str, log: &Path, name: &str) -> WorkerProcess {
        let mut child = Command::new(env!("CARGO_BIN_EXE_temporal_worker"))
            .env("LUAMOD_TEMPORAL_ADDRESS", address())
            .env("TASK_QUEUE", queue)
            .env("CHARGE_LOG", log)
            .env("WORKER", name)
            .stdout(Stdio::piped())
            .spawn()
            .expect("start a worker process");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        assert_eq!(line.trim(), "ready", "worker {name} did not start");
        WorkerProcess(child)
    }

    /// SIGKILL: no shutdown, no goodbye to the server.
    fn kill(mut self) {
        self.0.kill().unwrap();
        self.0.wait().unwrap();
    }
}

impl Drop for WorkerProcess {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Waits (up to a minute) until the workflow's history has an event of
/// type `what`.
async fn until_history_has(
    handle: &luamod::temporal::client::WorkflowHandle<Client, UntypedWorkflow>,
    what: EventType,
) {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let events = handle
            .fetch_history(WorkflowFetchHistoryOptions::default())
            .into_events()
            .await
            .unwrap_or_default();
        if events.iter().any(|e| e.event_type == what as i32) {
            return;
        }
        assert!(Instant::now() < deadline, "no {what:?} in the history");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_workflow_outlives_its_killed_worker_and_finished_commands_do_not_run_again() {
    let Scene {
        log, queue, client, ..
    } = Scene::new("crash").await;
    let first = WorkerProcess::start(&queue, &log, "w1");
    let handle = start_order(
        &client,
        &queue,
        &unique("order"),
        json!(["B1", [1, 2, 3], 1000]),
    )
    .await;
    // The first charge is done and recorded, and the workflow sleeps on a
    // durable timer: the worker process dies there.
    until_history_has(&handle, EventType::TimerStarted).await;
    first.kill();
    assert_eq!(charges(&log), ["w1 B1 1"]);
    let _second = WorkerProcess::start(&queue, &log, "w2");
    let out = outcome(&handle).await.expect("the workflow completed");
    assert_eq!(out["receipts"], json!(["B1:1", "B1:2", "B1:3"]));
    assert!(out["waited"].as_i64().unwrap() >= 3000, "{out}");
    // Each handler ran once: the new worker replayed the first charge from
    // history instead of charging again.
    assert_eq!(charges(&log), ["w1 B1 1", "w2 B1 2", "w2 B1 3"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_worker_processes_share_the_workflows_of_a_task_queue() {
    let Scene {
        log, queue, client, ..
    } = Scene::new("scale").await;
    let _a = WorkerProcess::start(&queue, &log, "a");
    let _b = WorkerProcess::start(&queue, &log, "b");
    let mut handles = Vec::new();
    for i in 0..16 {
        let order = format!("C{i}");
        let args = json!([order, [i + 1, i + 101], 100]);
        handles.push((
            i,
            start_order(&client, &queue, &unique("order"), args).await,
        ));
    }
    for (i, h) in &handles {
        let out = outcome(h).await.expect("the workflow completed");
        assert_eq!(
            out["receipts"],
            json!([format!("C{i}:{}", i + 1), format!("C{i}:{}", i + 101)])
        );
    }
    let lines = charges(&log);
    assert_eq!(lines.len(), 32, "each charge ran once: {lines:?}");
    let by = |w: &str| {
        lines
            .iter()
            .filter(|l| l.starts_with(&format!("{w} ")))
            .count()
    };
    assert!(
        by("a") > 0 && by("b") > 0,
        "both workers took work: {lines:?}"
    );
    assert_eq!(by("a") + by("b"), 32);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_scripts_fail_their_own_workflow_and_the_worker_goes_on() {
    let Scene {
        log, queue, client, ..
    } = Scene::new("hostile").await;
    let cases: &[(&str, &str, &str)] = &[
        // Computes forever: stopped at the step limit, the worker thread
        // freed.
        ("spin", "while true do end", "without waiting on Temporal"),
        // Commands answered at once count as computing too.
        (
            "clockloop",
            "local w = require('workflow') while true do w.now() end",
            "without waiting on Temporal",
        ),
        // A clock reached around the build-time check finds none.
        (
            "clock",
            "local o = os return o['ti' .. 'me']()",
            "a workflow has no wall clock",
        ),
        ("two", "return 1, 2", "at most one value"),
        ("fn", "return { f = print }", "not JSON"),
        ("cycle", "local t = {} t.t = t return t", "not JSON"),
        ("boom", "error('boom')", "boom"),
        (
            "keys",
            "for _ in pairs({ [{}] = 1 }) do end",
            "a table key has none",
        ),
        // Past the payload limit (lowered to 100 kB below, so that the
        // conversions stay far inside the step limit in a debug build on
        // a busy machine): the command is not sent (the script gets
        // `nil, err`), and a result is refused.
        (
            "hugecmd",
            "local _, err = require('orders').charge(('x'):rep(200000), 1) error(err)",
            "command orders.charge is too large for Temporal",
        ),
        // Refused commands are answered at once: a loop of them is
        // computing, stopped like a loop of nothing (a refusal must never
        // count as a wait; that the time spent refusing is not given back
        // only makes the stop come sooner, which this does not measure).
        (
            "hugeloop",
            "local o, s = require('orders'), ('x'):rep(200000) while true do o.charge(s, 1) end",
            "without waiting on Temporal",
        ),
        ("hugeerror", "error(('x'):rep(200000))", "... (truncated)"),
        (
            "hugeresult",
            "return ('x'):rep(200000)",
            "the workflow's result is too large for Temporal",
        ),
        // 60 tables, each holding the next twice: 2^60 nodes as JSON,
        // refused before the conversion expands them.
        (
            "dag",
            "local t = {} for _ = 1, 60 do t = {t, t} end return t",
            "the workflow's result is too large for Temporal",
        ),
        (
            "deep",
            "local t = {} for _ = 1, 100000 do t = {t} end return t",
            "tables nested more than 128 deep",
        ),
    ];
    let mut b = workflows(log.clone(), "hostile".into())
        .step_limit(Duration::from_millis(300))
        .payload_limit(100_000);
    for (name, source, _) in cases {
        b = b.workflow(name, source);
    }
    let mut options = WorkerOptions::new(queue.clone()).build();
    b.build().unwrap().register(&mut options).unwrap();
    let (failures, after) = with_worker(&client, options, async {
        let mut failures = Vec::new();
        for (name, _, _) in cases {
            let handle = client
                .start_workflow(
                    UntypedWorkflow::new(*name),
                    arguments([]),
                    WorkflowStartOptions::new(queue.clone(), unique(name)).build(),
                )
                .await
                .unwrap();
            failures.push(outcome(&handle).await);
        }
        // The worker still runs workflows (a 0 ms sleep is no timer:
        // Temporal refuses those).
        let handle = start_order(&client, &queue, &unique("after"), json!(["D1", [5], 0])).await;
        (failures, outcome(&handle).await)
    })
    .await;
    for ((name, _, expected), got) in cases.iter().zip(&failures) {
        let err = got.as_ref().expect_err(name);
        assert!(err.contains(expected), "{name}: {err}");
    }
    assert_eq!(after.unwrap()["receipts"], json!(["D1:5"]));
}

#[test]
fn what_a_workflow_may_not_do_is_refused_before_it_runs() {
    use luamod::temporal::LuaWorkflows;
    let log = std::env::temp_dir().join(unique("refused"));
    let refused = |b: luamod::temporal::Builder| b.build().err().expect("refused").to_string();
    // A module whose class a workflow may not bind.
    let e = refused(LuaWorkflows::builder(
        luamod::Runtime::builder().module(&luamod_examples::time::MODULE),
    ));
    assert!(e.contains("'time'") && e.contains("class time"), "{e}");
    // A sandbox that lets a workflow see what differs between runs.
    let e = refused(LuaWorkflows::builder(
        luamod::Runtime::builder().sandbox(luamod::Sandbox::default().allow_io()),
    ));
    assert!(e.contains("the sandbox allows io"), "{e}");
    // A script that reads a wall clock by name.
    let e =
        refused(builder(log.clone(), "x".into()).workflow("late", "local t = 1\nreturn os.time()"));
    assert!(e.contains("late:2: reads os.time"), "{e}");
    // A command that cannot cross Temporal (no codec registered).
    let e = refused(LuaWorkflows::builder(
        luamod::Runtime::builder().module(&luamod_tests::temporal::orders::MODULE),
    ));
    assert!(
        e.contains("'orders.charge'") && e.contains(".command::<T>()"),
        "{e}"
    );
    // A command with no handler.
    let e = refused(
        LuaWorkflows::builder(
            luamod::Runtime::builder().module(&luamod_tests::temporal::orders::MODULE),
        )
        .command::<luamod_tests::temporal::orders::Charge>(),
    );
    assert!(e.contains("no handler for command 'orders.charge'"), "{e}");
    // A script that does not compile, and two scripts of one type.
    let e = refused(builder(log.clone(), "x".into()).workflow("bad", "return +"));
    assert!(e.contains("bad:1:"), "{e}");
    let e = refused(workflows(log, "x".into()).workflow("order", "return 1"));
    assert!(e.contains("two scripts for workflow type 'order'"), "{e}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cancelled_workflow_ends_its_wait_and_ends_cancelled() {
    let Scene {
        log, queue, client, ..
    } = Scene::new("cancel").await;
    let mut options = WorkerOptions::new(queue.clone()).build();
    workflows(log, "cancel".into())
        .workflow(
            "patient",
            r#"
            local workflow = require("workflow")
            local _, err = workflow.sleep(10 * 60 * 1000)
            if err then error(err) end
            return "slept"
            "#,
        )
        .build()
        .unwrap()
        .register(&mut options)
        .unwrap();
    let out = with_worker(&client, options, async {
        let handle = client
            .start_workflow(
                UntypedWorkflow::new("patient"),
                arguments([]),
                WorkflowStartOptions::new(queue.clone(), unique("patient")).build(),
            )
            .await
            .unwrap();
        until_history_has(&handle, EventType::TimerStarted).await;
        handle
            .cancel(luamod::temporal::client::WorkflowCancelOptions::default())
            .await
            .unwrap();
        outcome(&handle).await
    })
    .await;
    let err = out.expect_err("a cancelled workflow has no result");
    assert!(err.starts_with("Cancelled"), "{err}");
}
