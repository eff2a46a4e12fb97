//! A Lua script as a Temporal workflow: the workflow function starts the
//! script's process and answers each command it yields with a Temporal
//! timer, the workflow clock, or an activity, in the order the script
//! yields them. On replay the same script yields the same commands and
//! Temporal answers them from history.
//!
//! The SDK names a workflow type with a function of the type; as with
//! activities, [`registering`](super::activity::registering) hands it the
//! name being registered, so one Rust type serves every script.

use std::any::Any;
use std::collections::{BTreeMap, HashMap};
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, Instant, UNIX_EPOCH};

use mlua::{IntoLuaMulti, Lua, LuaSerdeExt, MultiValue};
use serde_json::Value;
use temporalio_common::RetryPolicy;
use temporalio_common::WorkflowDefinition;
use temporalio_common::data_converters::RawValue;
use temporalio_common::error::ApplicationFailure;
use temporalio_common::protos::temporal::api::common::v1::Payload;
use temporalio_sdk::workflow_interceptors::WorkflowOutputValue;
use temporalio_sdk::workflows::{
    WorkflowDefinitionDescriptor, WorkflowError, WorkflowImplementation,
};
use temporalio_sdk::{
    ActivityExecutionError, ActivityOptions, TimerResult, WorkflowContext, WorkflowContextView,
    WorkflowTermination,
};

use super::activity::CommandActivity;
use super::codec::{self, Codec};
use super::mailbox::{Event, Mailbox};
use crate::command::{CommandId, Pid};
use crate::convert::weight::{Overweight, Weights, weigh};
use crate::error::{Error, ErrorKind, LuaError};
use crate::runtime::clock::{Now, Sleep, SleepUntil};
use crate::runtime::{Command, Runtime, Script, SpawnOptions};

/// What every workflow of one [`LuaWorkflows`](super::LuaWorkflows) shares.
pub(crate) struct Shared {
    pub rt: Runtime,
    pub mailbox: Arc<Mailbox>,
    /// Workflow type → script.
    pub scripts: BTreeMap<String, Script>,
    pub codecs: HashMap<CommandId, Codec>,
    /// How long one try of a command's activity may take.
    pub activity_timeout: Duration,
    /// The retry policy of command activities (`None`: Temporal's).
    pub activity_retry: Option<RetryPolicy>,
    /// How long a script may compute between two waits on Temporal.
    pub step_limit: Duration,
    /// The largest command, result or workflow result, as JSON, in bytes.
    pub payload_limit: usize,
}

/// The Rust side of every Lua workflow type.
pub(crate) struct LuaWorkflow {
    pub shared: Option<Arc<Shared>>,
}

/// Its run method, as the SDK describes it: JSON arguments in, one JSON
/// value out.
pub(crate) struct LuaWorkflowRun;

impl WorkflowDefinition for LuaWorkflowRun {
    type Input = RawValue;
    type Output = Value;

    fn name(&self) -> &str {
        "luamod.lua"
    }
}

type Local<T> = Pin<Box<dyn Future<Output = T> + 'static>>;

impl WorkflowImplementation for LuaWorkflow {
    type Run = LuaWorkflowRun;
    const HAS_INIT: bool = false;
    const INIT_TAKES_INPUT: bool = false;

    fn name() -> &'static str {
        "luamod.lua"
    }

    fn definition() -> WorkflowDefinitionDescriptor {
        WorkflowDefinitionDescriptor {
            workflow_type: super::activity::registering_name(),
            has_init: false,
            init_takes_input: false,
            signals: Vec::new(),
            queries: Vec::new(),
            updates: Vec::new(),
        }
    }

    fn init(_: WorkflowContextView, _: Option<RawValue>) -> Self {
        // Registered with a factory, which brings the scripts; a workflow
        // made here has none and fails with a clear error when it runs.
        LuaWorkflow { shared: None }
    }

    fn run(
        ctx: WorkflowContext<Self>,
        input: Option<RawValue>,
    ) -> Local<Result<Box<dyn WorkflowOutputValue>, WorkflowTermination>> {
        Box::pin(async move {
            let out = run_script(ctx, input).await?;
            Ok(Box::new(out) as Box<dyn WorkflowOutputValue>)
        })
    }

    fn dispatch_signal(
        _: WorkflowContext<Self>,
        name: &str,
        _: Box<dyn Any>,
    ) -> Local<Result<(), WorkflowError>> {
        let e = unsupported("signal", name);
        Box::pin(async move { Err(e) })
    }

    fn dispatch_update(
        _: WorkflowContext<Self>,
        name: &str,
        _: Box<dyn Any>,
    ) -> Local<Result<Box<dyn WorkflowOutputValue>, WorkflowError>> {
        let e = unsupported("update", name);
        Box::pin(async move { Err(e) })
    }

    fn validate_update(
        &self,
        _: WorkflowContextView,
        name: &str,
        _: Box<dyn Any>,
    ) -> Result<(), WorkflowError> {
        Err(unsupported("update", name))
    }

    fn dispatch_query(
        &self,
        _: WorkflowContextView,
        name: &str,
        _: Box<dyn Any>,
    ) -> Result<Box<dyn WorkflowOutputValue>, WorkflowError> {
        Err(unsupported("query", name))
    }
}

fn unsupported(what: &str, name: &str) -> WorkflowError {
    WorkflowError::Execution(format!("a Lua workflow has no {what} '{name}'").into())
}

/// The longest failure message sent to Temporal: a script decides what
/// its error says, and a failure is a payload like any other.
const MAX_FAILURE: usize = 32 << 10;

fn failed(msg: impl Into<String>) -> WorkflowTermination {
    let mut msg: String = msg.into();
    if msg.len() > MAX_FAILURE {
        let mut end = MAX_FAILURE;
        while !msg.is_char_boundary(end) {
            end -= 1;
        }
        msg.truncate(end);
        msg.push_str("... (truncated)");
    }
    WorkflowTermination::from(ApplicationFailure::new(msg))
}

/// Ends the process if the workflow function goes first (evicted from the
/// worker's cache, or the worker shuts down).
struct Running {
    shared: Arc<Shared>,
    pid: Pid,
    ended: bool,
}

impl Drop for Running {
    fn drop(&mut self) {
        if !self.ended {
            self.shared.mailbox.close(self.pid);
            self.shared.rt.cancel(self.pid);
        }
    }
}

async fn run_script(
    ctx: WorkflowContext<LuaWorkflow>,
    input: Option<RawValue>,
) -> Result<Value, WorkflowTermination> {
    let shared = ctx
        .state(|w| w.shared.clone())
        .ok_or_else(|| failed("this Lua workflow was registered without its scripts"))?;
    let info = ctx.info();
    let wf_type = info.workflow_type().to_owned();
    let script = shared.scripts.get(&wf_type).cloned().ok_or_else(|| {
        failed(format!(
            "no Lua script is registered as workflow '{wf_type}'"
        ))
    })?;
    let args = input
        .map(|raw| raw.payloads)
        .unwrap_or_default()
        .iter()
        .enumerate()
        .map(|(i, p)| json_of(p).map_err(|e| failed(format!("argument {}: {e}", i + 1))))
        .collect::<Result<Vec<_>, _>>()?;
    let seed: u64 = ctx.random();
    let mailbox = shared.mailbox.clone();
    let limit = shared.payload_limit;
    let pid = shared
        .rt
        .spawn_then(
            script.with_args(JsonArgs(args)),
            SpawnOptions {
                name: Some(wf_type.clone()),
                seed: Some(seed),
                ..SpawnOptions::default()
            },
            move |pid| {
                Box::new(move |lua: &Lua, r: Result<MultiValue, Error>| {
                    mailbox.post(pid, Event::Done(result_json(lua, r, limit)));
                })
            },
        )
        .map_err(|e| failed(e.to_string()))?;
    let mut running = Running {
        shared: shared.clone(),
        pid,
        ended: false,
    };
    // The time the script has computed since the workflow function last
    // waited on Temporal (a timer or an activity, which resolves in a later
    // activation, on replay too): commands answered at once (the clock, a
    // wait of 0 ms) do not reset it, so a script that loops over them is
    // stopped like one that loops over nothing.
    let mut since_wait = Instant::now();
    loop {
        // The process runs to its next command or its end while this waits
        // (see `mailbox`): every command of the step is made before the
        // workflow function returns.
        let left = shared.step_limit.saturating_sub(since_wait.elapsed());
        let Some(event) = shared.mailbox.next(pid, left) else {
            // `running` stops it: the SDK's thread is not held longer.
            return Err(failed(format!(
                "the script computed for more than {} ms without waiting on Temporal; \
                 it was stopped",
                shared.step_limit.as_millis()
            )));
        };
        match event {
            Event::Done(r) => {
                running.ended = true;
                // Asked to cancel, the script saw its waits end with
                // `CANCELED`; ending with an error then is ending cancelled
                // (returning a value still completes the workflow).
                if r.is_err() && ctx.cancellation_token().is_cancelled() {
                    return Err(WorkflowTermination::cancelled());
                }
                return r.map_err(failed);
            }
            Event::Command {
                id,
                cmd,
                reply,
                fail,
            } => {
                let mut waited = false;
                let mut answering = std::pin::pin!(answer(&ctx, &shared, id, cmd, fail));
                let result = std::future::poll_fn(|cx| {
                    let p = answering.as_mut().poll(cx);
                    waited |= p.is_pending();
                    p
                })
                .await;
                // A command answered at once (the clock, a wait of 0 ms, a
                // command refused for its size) leaves the clock running:
                // answering it is work the script asked of this thread,
                // and a script that loops over refused commands must be
                // stopped like one that loops over nothing. A command
                // that fits is encoded and then waited on, which resets it.
                if waited {
                    since_wait = Instant::now();
                }
                let _ = reply.send(result);
            }
        }
    }
}

/// Answers one command: the clock's from the workflow (timers, workflow
/// time), every other one with its activity.
async fn answer(
    ctx: &WorkflowContext<LuaWorkflow>,
    shared: &Shared,
    id: CommandId,
    cmd: Box<dyn Any + Send>,
    fail: fn(LuaError) -> Box<dyn Any + Send>,
) -> Box<dyn Any + Send> {
    if id == Sleep::ID {
        let ms = cmd.downcast::<Sleep>().map(|c| c.ms).unwrap_or(0);
        return unit(sleep(ctx, ms).await);
    }
    if id == SleepUntil::ID {
        let at = cmd
            .downcast::<SleepUntil>()
            .map(|c| c.at)
            .unwrap_or(i64::MIN);
        let left = at.saturating_sub(now_ms(ctx)).max(0);
        return unit(sleep(ctx, left as u64).await);
    }
    if id == Now::ID {
        let r: Result<i64, LuaError> = Ok(now_ms(ctx));
        return Box::new(r);
    }
    let Some(codec) = shared.codecs.get(&id) else {
        // The runtime's forwarders exist only for commands with a codec.
        return fail(LuaError::new(
            ErrorKind::Internal,
            format!("command {id} has no Temporal codec"),
        ));
    };
    let input = match (codec.encode)(&*cmd, shared.payload_limit) {
        Ok(v) => v,
        Err(msg) => return fail(LuaError::new(ErrorKind::Invalid, msg)),
    };
    // Past Temporal's payload limit the workflow task would fail on every
    // try: the script is told instead, the same way on every replay.
    let input = match codec::within(
        &format!("command {}", codec.name),
        input,
        shared.payload_limit,
    ) {
        Ok(v) => v,
        Err(e) => return fail(e),
    };
    let activity = CommandActivity {
        name: codec.name.to_owned(),
    };
    let mut options = ActivityOptions::start_to_close_timeout(shared.activity_timeout);
    options.retry_policy = shared.activity_retry.clone();
    match ctx.execute_activity(activity, input, options).await {
        Ok(out) => (codec.decode_result)(out),
        Err(e) => fail(activity_error(codec.name, e)),
    }
}

/// An activity that produced no result, as the script sees it.
fn activity_error(name: &str, e: ActivityExecutionError) -> LuaError {
    match e {
        ActivityExecutionError::Cancelled(_) => LuaError::new(
            ErrorKind::Canceled,
            format!("{name}: the activity was cancelled"),
        ),
        ActivityExecutionError::Serialization(e) => LuaError::new(
            ErrorKind::Internal,
            format!("{name}: the activity's result does not decode: {e}"),
        ),
        // Timed out, or failed, on every try its retry policy allowed.
        e => LuaError::new(ErrorKind::Unavailable, format!("{name}: {e}")).with_retryable(true),
    }
}

async fn sleep(ctx: &WorkflowContext<LuaWorkflow>, ms: u64) -> Result<(), LuaError> {
    // Temporal refuses a timer of 0 ms; waiting no time is answered here,
    // the same on every replay.
    if ms == 0 {
        return Ok(());
    }
    match ctx.timer(Duration::from_millis(ms)).await {
        TimerResult::Fired => Ok(()),
        TimerResult::Cancelled => Err(LuaError::new(
            ErrorKind::Canceled,
            "the workflow was cancelled while sleeping",
        )),
    }
}

fn unit(r: Result<(), LuaError>) -> Box<dyn Any + Send> {
    Box::new(r)
}

/// The workflow's clock in ms since the epoch (its history's, on replay).
fn now_ms(ctx: &WorkflowContext<LuaWorkflow>) -> i64 {
    ctx.workflow_time()
        .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// A JSON value as a payload (Temporal's `json/plain` encoding).
pub(crate) fn payload_of(v: serde_json::Value) -> Payload {
    Payload {
        metadata: std::iter::once(("encoding".to_owned(), b"json/plain".to_vec())).collect(),
        data: serde_json::to_vec(&v).unwrap_or_default(),
        ..Payload::default()
    }
}

/// A workflow argument: JSON (or Temporal's null).
pub(crate) fn json_of(p: &Payload) -> Result<Value, String> {
    let encoding = p.metadata.get("encoding").map(|e| e.as_slice());
    match encoding {
        Some(b"binary/null") => Ok(Value::Null),
        Some(b"json/plain") | None => {
            serde_json::from_slice(&p.data).map_err(|e| format!("not valid JSON: {e}"))
        }
        Some(other) => Err(format!(
            "encoded as {}, not JSON",
            String::from_utf8_lossy(other)
        )),
    }
}

/// How deep a workflow's result may nest tables: mlua's serde default.
const JSON_DEPTH: usize = 128;

/// A process's end as a workflow result: one value (or none), as JSON.
fn result_json(lua: &Lua, r: Result<MultiValue, Error>, limit: usize) -> Result<Value, String> {
    let values = r.map_err(|e| e.to_string())?;
    if values.len() > 1 {
        return Err(format!(
            "a workflow script returns at most one value (it returned {})",
            values.len()
        ));
    }
    // The conversion copies every reference and would expand a DAG of
    // shared tables before the size check below; weighed first against a
    // lower bound of the JSON text, it is bounded by the limit.
    match weigh(lua, &values, Weights::JSON, limit, JSON_DEPTH) {
        Ok(_) => {}
        Err(Overweight::Large) => {
            return Err(format!(
                "the workflow's result is too large for Temporal: over {limit} bytes as JSON"
            ));
        }
        Err(Overweight::Failed(e)) => {
            return Err(format!("the workflow's result could not be weighed: {e}"));
        }
        Err(Overweight::Stopped) => {
            return Err("the workflow was stopped while its result was weighed".to_owned());
        }
        Err(Overweight::Deep) => {
            return Err(format!(
                "the workflow's result is not JSON: tables nested more than {JSON_DEPTH} deep"
            ));
        }
    }
    let Some(v) = values.into_iter().next() else {
        return Ok(Value::Null);
    };
    lua.from_value_with(
        v,
        mlua::serde::DeserializeOptions::new()
            .deny_unsupported_types(true)
            .deny_recursive_tables(true),
    )
    .map_err(|e| format!("the workflow's result is not JSON: {e}"))
    .and_then(|v| {
        codec::within("the workflow's result", v, limit).map_err(|e| e.message().to_owned())
    })
}

/// Workflow arguments, made Lua values on the process's worker.
struct JsonArgs(Vec<Value>);

impl IntoLuaMulti for JsonArgs {
    fn into_lua_multi(self, lua: &Lua) -> mlua::Result<MultiValue> {
        let opts = mlua::serde::SerializeOptions::new()
            .serialize_none_to_null(false)
            .serialize_unit_to_null(false)
            .set_array_metatable(false);
        self.0
            .iter()
            .map(|v| lua.to_value_with(v, opts))
            .collect::<mlua::Result<Vec<_>>>()
            .map(MultiValue::from_iter)
    }
}
