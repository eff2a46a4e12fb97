//! Lua workflows on [Temporal](https://temporal.io): a compiled script
//! runs as a durable workflow, and every command it yields becomes a
//! Temporal activity whose implementation is the command's handler (with
//! the feature `temporal`).
//!
//! The script runs in a `Workflow` context: it binds only modules whose
//! classes a workflow admits (refused when [`Builder::build`] runs), its
//! `os` has no clock, and its `math.random` is seeded from the workflow.
//! What it waits on comes from Temporal: `workflow.sleep` is a durable
//! timer, `workflow.now` the workflow's clock, and a command's result is
//! recorded in the workflow's history. When a worker dies, another one
//! replays the script against that history: the commands it already
//! completed are answered from history and their handlers do not run
//! again.
//!
//! ```no_run
//! # async fn demo(client: luamod::temporal::client::Client) -> Result<(), Box<dyn std::error::Error>> {
//! use luamod::temporal::LuaWorkflows;
//! use luamod::temporal::sdk::{Runtime, Worker, WorkerOptions};
//!
//! let workflows = LuaWorkflows::builder(luamod::Runtime::builder().workers(1))
//!     .workflow("greet", r#"
//!         local workflow = require("workflow")
//!         local name = ...
//!         workflow.sleep(1000)          -- a durable timer
//!         return "hello " .. name
//!     "#)
//!     .build()?;
//! let mut options = WorkerOptions::new("lua").build();
//! workflows.register(&mut options)?;
//! let runtime = Runtime::from_current_tokio(Default::default())?;
//! Worker::new(&runtime, client, options)?.run().await?;
//! # Ok(()) }
//! ```
//!
//! Pieces: `driver` (the workflow function that drives a script),
//! `activity` (a command's activity), `codec` (commands and results as
//! JSON), `mailbox` (where a process's commands meet its workflow
//! function), `lint` (refusing scripts that read a wall clock), `time`
//! (the `workflow` Lua module).

mod activity;
mod codec;
mod driver;
mod lint;
mod mailbox;
mod time;

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;
use serde::de::DeserializeOwned;
use temporalio_sdk::WorkerOptions;
use temporalio_sdk::workflow_replayer::WorkflowReplayerOptions;

use self::activity::{CommandActivity, CommandRunner, registering};
use self::codec::Codec;
use self::driver::{LuaWorkflow, Shared};
use self::mailbox::{Forward, Mailbox};
use crate::command::{Command, CommandId, ErasedHandler};
use crate::error::Error;
use crate::runtime::Script;
use crate::runtime::clock::{self, Now, Sleep, SleepUntil};
use crate::security::ContextKind;

pub use self::time::workflow;

/// Temporal's SDK (workers, replays), client and common types, at the
/// versions luamod is built with.
pub use {temporalio_client as client, temporalio_common as common, temporalio_sdk as sdk};

/// Makes the workflow function's state for one Lua workflow.
type WorkflowFactory = Box<dyn Fn() -> LuaWorkflow + Send + Sync>;

/// Lua scripts registered as Temporal workflow types, ready to add to a
/// Temporal worker ([`register`](LuaWorkflows::register)).
pub struct LuaWorkflows {
    shared: Arc<Shared>,
    runners: Vec<Arc<CommandRunner>>,
}

/// Builds [`LuaWorkflows`]: the runtime the scripts run in, the commands
/// that become activities, and the scripts.
pub struct Builder {
    runtime: crate::runtime::Builder,
    codecs: Vec<Codec>,
    scripts: Vec<(String, String)>,
    activity_timeout: Duration,
    activity_retry: Option<common::RetryPolicy>,
    step_limit: Duration,
    payload_limit: usize,
}

impl LuaWorkflows {
    /// Starts from a runtime builder: its modules, handlers, sandbox,
    /// memory limit, workers, actor and policies are the workflows'. Its
    /// context becomes `Workflow`; the `workflow` module is bound.
    pub fn builder(runtime: crate::runtime::Builder) -> Builder {
        Builder {
            runtime,
            codecs: Vec::new(),
            scripts: Vec::new(),
            activity_timeout: Builder::DEFAULT_ACTIVITY_TIMEOUT,
            activity_retry: None,
            step_limit: Builder::DEFAULT_STEP_LIMIT,
            payload_limit: Builder::DEFAULT_PAYLOAD_LIMIT,
        }
    }

    /// Adds the workflow types and the command activities to a worker's
    /// options: [`register_workflows`](Self::register_workflows) and
    /// [`register_activities`](Self::register_activities). A worker with
    /// these options runs the Lua workflows and their commands' handlers;
    /// several such workers, on one machine or many, share the task
    /// queue's workflows.
    pub fn register(&self, options: &mut WorkerOptions) -> Result<(), Error> {
        self.register_workflows(options)?;
        self.register_activities(options);
        Ok(())
    }

    /// Adds the workflow types only (a worker that runs scripts but leaves
    /// the commands' activities to other workers).
    pub fn register_workflows(&self, options: &mut WorkerOptions) -> Result<(), Error> {
        self.each_workflow(|factory| {
            options
                .register_workflow_with_factory::<LuaWorkflow, _>(factory)
                .map(drop)
        })
    }

    /// Adds the command activities only (one per command, named after it),
    /// which run the commands' handlers. An activity of the same name
    /// registered before is replaced.
    pub fn register_activities(&self, options: &mut WorkerOptions) {
        for r in &self.runners {
            let r = r.clone();
            registering(r.codec.name, || {
                options.register_activity::<CommandActivity>(r);
            });
        }
    }

    /// Adds the workflow types to a replayer's options: replaying a
    /// recorded history against the scripts tells whether they still make
    /// the same commands (a changed script fails with Temporal's
    /// nondeterminism error).
    pub fn register_replay(&self, options: &mut WorkflowReplayerOptions) -> Result<(), Error> {
        self.each_workflow(|factory| {
            options
                .register_workflow_with_factory::<LuaWorkflow, _>(factory)
                .map(drop)
        })
    }

    /// Calls `add` with the factory of each workflow type, while the SDK
    /// asks for that type's name (see `activity::registering`).
    fn each_workflow(
        &self,
        mut add: impl FnMut(WorkflowFactory) -> Result<(), sdk::WorkflowRegistrationError>,
    ) -> Result<(), Error> {
        for name in self.shared.scripts.keys() {
            let shared = self.shared.clone();
            registering(name, || {
                add(Box::new(move || LuaWorkflow {
                    shared: Some(shared.clone()),
                }))
            })
            .map_err(|e| Error::new(e.to_string()))?;
        }
        Ok(())
    }

    /// The registered workflow types, in order.
    pub fn workflow_types(&self) -> impl Iterator<Item = &str> {
        self.shared.scripts.keys().map(String::as_str)
    }
}

impl Builder {
    /// How long one try of a command's activity may run unless told
    /// otherwise. A try whose worker is lost is retried after it.
    pub const DEFAULT_ACTIVITY_TIMEOUT: Duration = Duration::from_secs(30);

    /// How long a script may compute between two waits on Temporal unless
    /// told otherwise.
    pub const DEFAULT_STEP_LIMIT: Duration = Duration::from_secs(2);

    /// The largest command, command result or workflow result, as JSON,
    /// unless told otherwise: under Temporal's default limit on a payload
    /// (2 MiB).
    pub const DEFAULT_PAYLOAD_LIMIT: usize = 1 << 20;

    /// The largest command, command result or workflow result, as JSON, in
    /// bytes (default [`DEFAULT_PAYLOAD_LIMIT`](Self::DEFAULT_PAYLOAD_LIMIT)).
    /// A command past it is not sent: the script gets `nil, err` (`INVALID`);
    /// a result past it becomes that error; a workflow result past it fails
    /// the workflow. A payload past the server's limit would instead fail
    /// the workflow task on every try. Keep it under the server's limit,
    /// and do not lower it under running workflows: a replay that refuses
    /// a command the history has is a nondeterminism error.
    pub fn payload_limit(mut self, bytes: usize) -> Self {
        self.payload_limit = bytes;
        self
    }

    /// Lets a workflow yield `C`: it becomes the activity type named
    /// `C::NAME`, its input and result crossing Temporal as JSON. Every
    /// command of the bound modules must be registered (the runtime's
    /// clock commands aside, which Temporal answers itself).
    pub fn command<C>(mut self) -> Self
    where
        C: Command + Serialize + DeserializeOwned,
        C::Output: Serialize + DeserializeOwned,
    {
        self.codecs.push(Codec::of::<C>());
        self
    }

    /// Registers `source` as the workflow type `workflow_type`. A workflow
    /// of that type runs the chunk with the workflow's arguments (JSON
    /// values) as its `...`; what it returns (one value or none) is the
    /// workflow's result, as JSON.
    pub fn workflow(mut self, workflow_type: &str, source: &str) -> Self {
        self.scripts
            .push((workflow_type.to_owned(), source.to_owned()));
        self
    }

    /// How long one try of a command's activity may run (default
    /// [`DEFAULT_ACTIVITY_TIMEOUT`](Self::DEFAULT_ACTIVITY_TIMEOUT)).
    pub fn activity_timeout(mut self, timeout: Duration) -> Self {
        self.activity_timeout = timeout;
        self
    }

    /// The retry policy of command activities (default: Temporal's, which
    /// retries a try that timed out, with backoff, without end). A
    /// handler's error is a result, never retried: the policy applies when
    /// a try times out (its worker was lost, or the handler hung).
    pub fn activity_retry(mut self, policy: common::RetryPolicy) -> Self {
        self.activity_retry = Some(policy);
        self
    }

    /// How long a script may compute between two waits on Temporal
    /// (default [`DEFAULT_STEP_LIMIT`](Self::DEFAULT_STEP_LIMIT)),
    /// commands answered at once (the clock) included. The worker's
    /// workflow thread waits while a script computes (every command of a
    /// workflow task must be made before the task completes), so a script
    /// past this limit is stopped and its workflow fails, and the worker
    /// goes on with the others. Failing the workflow, not the task: the
    /// script is not trusted, and a task retried without end would hold a
    /// worker for the limit on every try. The limit guards against
    /// runaway scripts; leave ample room over what a step needs, on the
    /// slowest machine, and keep it under the workflow task timeout (10 s
    /// unless the workflow is started with another).
    pub fn step_limit(mut self, limit: Duration) -> Self {
        self.step_limit = limit;
        self
    }

    /// Checks everything and starts the workflows' runtime: a module a
    /// workflow may not bind, a command with no codec or no handler, two
    /// scripts of one type, or a script that does not compile is an
    /// error here, before any workflow runs.
    pub fn build(self) -> Result<LuaWorkflows, Error> {
        let mut runtime = self.runtime.context(ContextKind::Workflow);
        if !runtime
            .modules()
            .iter()
            .any(|m| std::ptr::eq(*m, &workflow::MODULE))
        {
            runtime = runtime.module(&workflow::MODULE);
        }
        for m in runtime.modules() {
            m.admit(ContextKind::Workflow)?;
        }
        if let Some(what) = runtime.sandbox_ref().nondeterministic() {
            return Err(Error::new(format!(
                "the sandbox allows {what}, which differs between runs: a workflow \
                 replays, so its sandbox may not"
            )));
        }
        // Handlers run in activities; the runtime's processes get
        // forwarders in their place.
        let mut handlers: HashMap<CommandId, Arc<dyn ErasedHandler>> = HashMap::new();
        for m in runtime.modules() {
            for c in m.all_commands() {
                if let Some(h) = (c.default_handler)() {
                    handlers.insert(c.id, h);
                }
            }
        }
        for h in runtime.take_handlers() {
            let (id, name) = h.command();
            if clock::is_runtime_command(id) {
                return Err(Error::new(format!(
                    "a handler for '{name}': in a Temporal workflow the clock is the workflow's"
                )));
            }
            handlers.insert(id, h);
        }
        let mut codecs: HashMap<CommandId, Codec> = HashMap::new();
        for c in self.codecs {
            if clock::is_runtime_command(c.id) {
                return Err(Error::new(format!(
                    "'{}' is a clock command: Temporal answers it with timers and workflow time",
                    c.name
                )));
            }
            if let Some(other) = codecs.insert(c.id, c) {
                return Err(Error::new(format!(
                    "commands '{}' and '{}' both use id {}",
                    other.name, c.name, c.id
                )));
            }
        }
        for m in runtime.modules() {
            for c in m.all_commands() {
                if !clock::is_runtime_command(c.id) && !codecs.contains_key(&c.id) {
                    return Err(Error::new(format!(
                        "command '{}' of module '{}' cannot cross Temporal: register it with \
                         .command::<T>() (a command that is Serialize and Deserialize, and whose \
                         output is)",
                        c.name, m.name
                    )));
                }
            }
        }
        let mut scripts = BTreeMap::new();
        for (name, source) in self.scripts {
            let script = Script::compile(&source, &name, runtime.unyielding())?;
            if let Some((line, what)) = lint::wall_clock_reads(&source).into_iter().next() {
                return Err(Error::new(format!(
                    "workflow '{name}': {name}:{line}: reads {what}, a wall clock, which a \
                     workflow may not (a replay would read another time); read workflow.now(), \
                     the workflow's own clock"
                )));
            }
            if scripts.insert(name.clone(), script).is_some() {
                return Err(Error::new(format!(
                    "two scripts for workflow type '{name}'"
                )));
            }
        }
        let context = Arc::new(runtime.context_ref().clone());
        let states = runtime.module_states();
        let mut runners = Vec::new();
        for c in codecs.values() {
            let handler = handlers.get(&c.id).cloned().ok_or_else(|| {
                Error::new(format!(
                    "no handler for command '{}': give one with Runtime::builder().handler(...)",
                    c.name
                ))
            })?;
            runners.push(Arc::new(CommandRunner {
                codec: *c,
                handler,
                context: context.clone(),
                states: states.clone(),
                payload_limit: self.payload_limit,
            }));
        }
        let mailbox = Arc::new(Mailbox::default());
        let mut forwards: Vec<Arc<dyn ErasedHandler>> = vec![
            forward::<Sleep>(&mailbox),
            forward::<Now>(&mailbox),
            forward::<SleepUntil>(&mailbox),
        ];
        for c in codecs.values() {
            forwards.push(Arc::new(Forward {
                id: c.id,
                name: c.name,
                mailbox: mailbox.clone(),
                fail: c.fail,
                take: c.take,
            }));
        }
        let runtime = runtime.handler(forwards);
        // Built where no tokio runtime is current, so the workflows'
        // runtime owns its handler pool: a workflow function waits for
        // its process while the SDK's thread is blocked, and the replies
        // that resume processes must not need that thread (see `mailbox`).
        let rt = std::thread::scope(|s| s.spawn(move || runtime.build()).join())
            .map_err(|_| Error::new("building the workflows' runtime panicked"))??;
        Ok(LuaWorkflows {
            shared: Arc::new(Shared {
                rt,
                mailbox,
                scripts,
                codecs,
                activity_timeout: self.activity_timeout,
                activity_retry: self.activity_retry,
                step_limit: self.step_limit,
                payload_limit: self.payload_limit,
            }),
            runners,
        })
    }
}

/// A Lua workflow's arguments, for starting one from a client: each value
/// is one argument of the script (`...`), as JSON.
///
/// ```
/// let args = luamod::temporal::arguments([serde_json::json!("A1"), serde_json::json!([100, 250])]);
/// assert_eq!(args.payloads.len(), 2);
/// ```
pub fn arguments(
    values: impl IntoIterator<Item = serde_json::Value>,
) -> common::data_converters::RawValue {
    common::data_converters::RawValue::new(values.into_iter().map(driver::payload_of).collect())
}

/// A Lua workflow's result as JSON (what [`arguments`] is to its input).
pub fn result(raw: &common::data_converters::RawValue) -> Result<serde_json::Value, Error> {
    match raw.payloads.first() {
        Some(p) => driver::json_of(p).map_err(Error::new),
        None => Ok(serde_json::Value::Null),
    }
}

fn forward<C: Command>(mailbox: &Arc<Mailbox>) -> Arc<dyn ErasedHandler> {
    Arc::new(Forward {
        id: C::ID,
        name: C::NAME,
        mailbox: mailbox.clone(),
        fail: codec::fail::<C>,
        take: codec::take::<C>,
    })
}
