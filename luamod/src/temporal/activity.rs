//! Commands as Temporal activities: one activity type per command, named
//! after it (`orders.charge`), whose implementation is the command's
//! handler. Temporal runs it once per command (again only if a worker is
//! lost while it runs) and records its result for replays.
//!
//! The SDK names an activity type with a function of the type, not of a
//! value; [`registering`] hands it the name of the command being
//! registered, so one Rust type serves every command.

use std::cell::RefCell;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use serde_json::Value;
use temporalio_common::ActivityDefinition;
use temporalio_common::error::ApplicationFailure;
use temporalio_sdk::activities::{
    ActivityContext, ActivityDefinitions, ActivityError, ActivityImplementer, ExecutableActivity,
};

use super::codec::Codec;
use crate::command::{CancelToken, ErasedHandler, HandlerCx, Pid, States};
use crate::error::{ErrorKind, LuaError};
use crate::security::Context;

thread_local! {
    static REGISTERING: RefCell<String> = const { RefCell::new(String::new()) };
}

/// Runs `f` (a registration) with `name` as the type name the SDK asks for.
pub(crate) fn registering<R>(name: &str, f: impl FnOnce() -> R) -> R {
    let prev = REGISTERING.with(|r| r.replace(name.to_owned()));
    let out = f();
    REGISTERING.with(|r| *r.borrow_mut() = prev);
    out
}

pub(crate) fn registering_name() -> String {
    REGISTERING.with(|r| r.borrow().clone())
}

/// The activity type of one command (a workflow schedules it by value).
pub(crate) struct CommandActivity {
    pub name: String,
}

impl ActivityDefinition for CommandActivity {
    type Input = Value;
    type Output = Value;

    fn name(&self) -> &str {
        &self.name
    }
}

/// What runs a command's activity: its codec and handler, and what the
/// handler is given (the workflows' context and module states).
pub(crate) struct CommandRunner {
    pub codec: Codec,
    pub handler: Arc<dyn ErasedHandler>,
    pub context: Arc<Context>,
    pub states: States,
    /// The largest result, as JSON, in bytes.
    pub payload_limit: usize,
}

// The SDK's bound on an activity's implementer; luamod registers each
// runner itself (`LuaWorkflows::register_activities`).
impl ActivityImplementer for CommandRunner {
    fn register_all(self: Arc<Self>, defs: &mut ActivityDefinitions) {
        let name = self.codec.name;
        registering(name, || {
            defs.register_activity::<CommandActivity>(self);
        });
    }
}

type ActivityFuture = Pin<Box<dyn Future<Output = Result<Value, ActivityError>> + Send>>;

impl ExecutableActivity for CommandActivity {
    type Implementer = CommandRunner;
    const REQUIRES_INSTANCE: bool = true;

    fn definition() -> Self {
        CommandActivity {
            name: registering_name(),
        }
    }

    fn execute(
        receiver: Option<Arc<CommandRunner>>,
        ctx: ActivityContext,
        input: Value,
    ) -> ActivityFuture {
        Box::pin(async move {
            let Some(runner) = receiver else {
                return Err(failure("a luamod command activity has no runner"));
            };
            // A command that does not decode never will: no retry.
            let mut cmd = (runner.codec.decode)(input).map_err(failure)?;
            let cancel = CancelToken::new();
            // An activity runs for no process of this worker.
            let hcx = HandlerCx::new(
                Pid(0),
                cancel.clone(),
                runner.context.clone(),
                runner.states.clone(),
            );
            // Handler code: a panic as it starts fails this activity, not
            // the worker that runs it.
            let started = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                runner.handler.start(&mut *cmd, hcx)
            }));
            let mut task = match started {
                Ok(task) => task,
                Err(payload) => {
                    let out = (runner.codec.fail)(LuaError::new(
                        ErrorKind::Internal,
                        format!(
                            "the handler of {} panicked as it started: {}",
                            runner.codec.name,
                            crate::command::panic_text(&*payload)
                        ),
                    ));
                    // Its `Drop` may panic too: leaked, not dropped.
                    std::mem::forget(payload);
                    return Ok(super::codec::result_within(
                        &runner.codec,
                        out,
                        runner.payload_limit,
                    ));
                }
            };
            tokio::select! {
                () = crate::command::ready(&mut task) => {
                    let out = task.as_mut().take_boxed().unwrap_or_else(|| {
                        (runner.codec.fail)(LuaError::new(
                            ErrorKind::Internal,
                            format!("the handler of {} finished without a result", runner.codec.name),
                        ))
                    });
                    Ok(super::codec::result_within(&runner.codec, out, runner.payload_limit))
                }
                _ = ctx.cancelled() => {
                    cancel.cancel();
                    Err(ActivityError::cancelled())
                }
            }
        })
    }
}

fn failure(msg: impl Into<String>) -> ActivityError {
    let msg: String = msg.into();
    ActivityError::Application(Box::new(ApplicationFailure::non_retryable(msg)))
}
