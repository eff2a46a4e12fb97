//! Lua workflows on a real Temporal server (the dev server `.ci/run`
//! starts; its address in `LUAMOD_TEMPORAL_ADDRESS`): commands become
//! activities, sleeps durable timers; a worker process killed mid-workflow
//! is replaced and the workflow completes without running finished
//! commands again; two worker processes share a task queue; a changed
//! script fails to replay a recorded history.
#![cfg(feature = "temporal")]

use std::path::{Path, PathBuf};

use luamod::temporal::client::{
    Client, WorkflowFetchHistoryOptions, WorkflowGetResultOptions, WorkflowStartOptions,
};
use luamod::temporal::common::UntypedWorkflow;
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
    let dir = scratch("inproc");
    let log = dir.join("charges.log");
    let queue = unique("inproc");
    let client = connect(&address()).await.unwrap();
    let workflows = workflows(log.clone(), "inproc".into()).build().unwrap();
    let mut options = WorkerOptions::new(queue.clone()).build();
    workflows.register(&mut options).unwrap();
    let runtime = Runtime::from_current_tokio(Default::default()).unwrap();
    let mut worker = Worker::new(&runtime, client.clone(), options).unwrap();
    let stop = worker.shutdown_handle();
    let id = unique("order");
    let body = async {
        let handle = start_order(&client, &queue, &id, json!(["A1", [100, 0, 250], 200])).await;
        let out = outcome(&handle).await;
        stop();
        (handle, out)
    };
    let (run, (handle, out)) = tokio::join!(worker.run(), body);
    run.expect("the worker ran");
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
