//! [`Runtime`]: the handle a host holds to spawn, run, join and cancel
//! processes and to shut the workers down.

use super::idmap::{self, IdMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use mlua::FromLuaMulti;
use tokio::sync::oneshot;

use super::preempt::Preempt;
use super::script::{Entry, Script};
use super::shared::Shared;
use super::worker::{self, Msg, SpawnRequest, WorkerStats};
use crate::command::Pid;
use crate::error::{Error, ErrorKind, LuaError};
use crate::security::{Context, Policy};

/// Options for one process.
#[derive(Debug, Clone, Default)]
pub struct SpawnOptions {
    /// The chunk name in error messages (default `process`).
    pub name: Option<String>,
    /// Cancel the process with a `Timeout` error after this long.
    pub deadline: Option<Duration>,
    /// Its context (default: the runtime's). A `Workflow` context is
    /// refused before any Lua runs if the runtime binds modules a workflow
    /// may not use.
    pub context: Option<Context>,
    /// Spawned on behalf of this (live) process: inherits its actor and
    /// scope, narrowed by `narrow`.
    pub parent: Option<Pid>,
    /// Policies that restrict the inherited scope (with `parent`).
    pub narrow: Vec<Policy>,
    /// The seed of the process's `math.random` (default: fresh for a
    /// process, 0 for a workflow, whose sequence must replay).
    pub seed: Option<u64>,
    /// The most [`Runtime::run`] and [`Runtime::run_with`] copy out of
    /// Lua converting the process's results, in bytes (an estimate, within
    /// a small factor), counting every reference: a string returned a
    /// thousand times over (`{s, s, s, ...}`) counts a thousand times.
    /// `None` is [`SpawnOptions::RESULT_LIMIT`]. Results past it, or nested
    /// more than [`SpawnOptions::RESULT_DEPTH`] tables deep, fail the run
    /// before any conversion. Every returned value is weighed, whatever
    /// `R` reads of it, except for `R = ()`. The weighing takes time in
    /// proportion to the limit: a huge one lets a script's results take as
    /// long to weigh as to copy (the unyielding limit still stops both).
    pub result_limit: Option<usize>,
}

impl SpawnOptions {
    /// The default of [`result_limit`](Self::result_limit): 64 MiB, as
    /// much as one export call may copy out of its arguments.
    pub const RESULT_LIMIT: usize = super::results::LIMIT;

    /// How deep [`Runtime::run`]'s results may nest tables.
    pub const RESULT_DEPTH: usize = super::results::DEPTH;
}

pub(super) struct WorkerHandle {
    pub(super) tx: super::inbox::Outbox<Msg>,
    pub(super) join: Mutex<Option<JoinHandle<()>>>,
}

/// Our own handler pool, when the host has no tokio runtime; shut down in
/// the background so dropping it inside async code does not panic.
pub(super) struct OwnedTokio(Option<tokio::runtime::Runtime>);

impl Drop for OwnedTokio {
    fn drop(&mut self) {
        if let Some(rt) = self.0.take() {
            rt.shutdown_background();
        }
    }
}

/// Runs Lua processes on worker threads and routes their commands.
pub struct Runtime {
    workers: Vec<WorkerHandle>,
    next_pid: AtomicU64,
    shared: Arc<Shared>,
    default_context: Arc<Context>,
    joins: Mutex<IdMap<Pid, oneshot::Receiver<Result<(), Error>>>>,
    _owned_tokio: Option<OwnedTokio>,
}

impl Runtime {
    pub(super) fn new(
        workers: Vec<WorkerHandle>,
        shared: Arc<Shared>,
        default_context: Arc<Context>,
        owned: Option<tokio::runtime::Runtime>,
    ) -> Runtime {
        Runtime {
            workers,
            next_pid: AtomicU64::new(1),
            shared,
            default_context,
            joins: Mutex::new(idmap::new()),
            _owned_tokio: owned.map(|rt| OwnedTokio(Some(rt))),
        }
    }

    fn worker_for(&self, pid: Pid) -> &WorkerHandle {
        &self.workers[(pid.0 % self.workers.len() as u64) as usize]
    }

    /// The context a new process gets: explicit, inherited from a live
    /// parent (narrowed), or the runtime's; refused before any Lua runs if
    /// its kind does not admit the runtime's modules.
    fn context_for(&self, opts: &mut SpawnOptions) -> Result<Arc<Context>, Error> {
        let ctx = if let Some(c) = opts.context.take() {
            Arc::new(c)
        } else if let Some(parent) = opts.parent {
            let contexts = self
                .shared
                .contexts
                .lock()
                .map_err(|_| Error::new("context table poisoned"))?;
            let p = contexts
                .get(&parent)
                .ok_or_else(|| Error::new(format!("no live parent process {parent}")))?;
            Arc::new(p.child(std::mem::take(&mut opts.narrow)))
        } else {
            self.default_context.clone()
        };
        for m in &self.shared.modules {
            m.admit(ctx.kind)?;
        }
        Ok(ctx)
    }

    fn send_spawn(
        &self,
        entry: Entry,
        opts: SpawnOptions,
        done: worker::Done,
    ) -> Result<Pid, Error> {
        self.spawn_then(entry, opts, |_| done)
    }

    /// Spawns a process whose completion `make_done(pid)` makes: the
    /// completion knows its process, even one that ends before this
    /// returns.
    pub(crate) fn spawn_then(
        &self,
        entry: Entry,
        mut opts: SpawnOptions,
        make_done: impl FnOnce(Pid) -> worker::Done,
    ) -> Result<Pid, Error> {
        let context = self.context_for(&mut opts)?;
        let pid = Pid(self.next_pid.fetch_add(1, Ordering::Relaxed));
        let done = make_done(pid);
        // The worker removes it when the process ends, before `done`.
        if let Ok(mut m) = self.shared.contexts.lock() {
            m.insert(pid, context.clone());
        }
        self.worker_for(pid)
            .tx
            .send(Msg::Spawn(Box::new(SpawnRequest {
                pid,
                name: opts.name,
                entry,
                deadline: opts.deadline,
                context,
                seed: opts.seed,
                done,
            })))
            .map_err(|_| {
                // The request (and its completion) came back unsent.
                if let Ok(mut m) = self.shared.contexts.lock() {
                    m.remove(&pid);
                }
                Error::new("the runtime has shut down")
            })?;
        Ok(pid)
    }

    /// Compiles `source` once into a [`Script`] every worker can run (a
    /// syntax error is reported here: `name:LINE: message`). Spawning a
    /// script loads its bytecode instead of parsing the text again.
    ///
    /// The parse runs on the calling thread. Lua's parser is quadratic on
    /// some texts (a long chain of `or`), so it is fed in pieces and given
    /// up past the runtime's unyielding limit
    /// ([`Builder::unyielding_limit`](super::Builder::unyielding_limit),
    /// 1 s by default), with an error that says so.
    pub fn compile(&self, source: &str, name: &str) -> Result<Script, Error> {
        Script::compile(source, name, self.shared.preempt.unyielding())
    }

    /// Runs a process to completion and converts its return values: source
    /// text, a [`Script`], or an [`Entry`] (a script's function with
    /// arguments). Errors carry the Lua message and traceback.
    ///
    /// The conversion runs on the worker once the process has ended. First
    /// the results are weighed as a conversion copies them, raw and
    /// counting every reference (a script that returns the same long
    /// string a million times over, `{s, s, s, ...}`, would make
    /// `R = Vec<String>` copy it a million times): past
    /// [`SpawnOptions::result_limit`] (64 MiB unless set), or nested more
    /// than [`SpawnOptions::RESULT_DEPTH`] tables deep (a host type that
    /// converts itself recursively would recurse as deep), the run fails
    /// without converting. A table that holds itself is counted once per
    /// path, not refused (`M.__index = M` is an ordinary result): a host
    /// type that converts itself recursively must refuse cycles itself,
    /// or it recurses until the worker's stack overflows.
    ///
    /// mlua's own conversions read tables raw; a `FromLua` of the host's
    /// that reaches the script's metamethods (`Table::get` through
    /// `__index`) runs script code, which the unyielding limit stops as
    /// any code that cannot yield (the conversion then fails with "the
    /// process was stopped"), and copies what that code returns uncounted.
    pub async fn run<R: FromLuaMulti + Send + 'static>(
        &self,
        entry: impl Into<Entry>,
    ) -> Result<R, Error> {
        self.run_with(entry, SpawnOptions::default()).await
    }

    /// [`run`](Self::run) with options (name, deadline).
    pub async fn run_with<R: FromLuaMulti + Send + 'static>(
        &self,
        entry: impl Into<Entry>,
        opts: SpawnOptions,
    ) -> Result<R, Error> {
        let (tx, rx) = oneshot::channel();
        let limit = opts.result_limit.unwrap_or(SpawnOptions::RESULT_LIMIT);
        self.send_spawn(
            entry.into(),
            opts,
            Box::new(move |lua, r| {
                let r = r.and_then(|mv| super::results::convert::<R>(lua, mv, limit));
                let _ = tx.send(r);
            }),
        )?;
        rx.await
            .map_err(|_| Error::new("the runtime stopped before the process finished"))?
    }

    /// Starts a process (source text, a [`Script`] or an [`Entry`]);
    /// [`join`](Self::join) waits for it.
    pub fn spawn(&self, entry: impl Into<Entry>, opts: SpawnOptions) -> Result<Pid, Error> {
        let (tx, rx) = oneshot::channel();
        let pid = self.send_spawn(
            entry.into(),
            opts,
            Box::new(move |_, r| {
                let _ = tx.send(r.map(|_| ()));
            }),
        )?;
        self.joins
            .lock()
            .map_err(|_| Error::new("join table poisoned"))?
            .insert(pid, rx);
        Ok(pid)
    }

    /// Waits for a process started with [`spawn`](Self::spawn).
    pub async fn join(&self, pid: Pid) -> Result<(), Error> {
        let rx = self
            .joins
            .lock()
            .map_err(|_| Error::new("join table poisoned"))?
            .remove(&pid)
            .ok_or_else(|| Error::new(format!("no joinable process {pid}")))?;
        rx.await
            .map_err(|_| Error::new("the runtime stopped before the process finished"))?
    }

    /// Cancels a process: its in-flight command is cancelled and it
    /// completes with a `Canceled` error. Unknown or finished pids are ignored.
    pub fn cancel(&self, pid: Pid) {
        let e = LuaError::new(ErrorKind::Canceled, format!("process {pid} was cancelled"));
        // Interrupts the process if it computes; the message ends it.
        self.shared.preempt.request_stop(pid, e.clone());
        let _ = self.worker_for(pid).tx.send(Msg::Cancel { pid, error: e });
    }

    /// Stops accepting processes, lets running ones finish for up to
    /// `grace`, then cancels the rest (they complete with `Canceled`), and
    /// waits for the workers to exit.
    pub async fn shutdown(&self, grace: Duration) {
        for w in &self.workers {
            let _ = w.tx.send(Msg::Drain);
        }
        // The timer runs here, not on the workers: a worker may be busy
        // with a process that computes where it cannot yield.
        let preempt = self.shared.preempt.clone();
        let txs: Vec<_> = self.workers.iter().map(|w| w.tx.clone()).collect();
        self.shared.tokio.spawn(async move {
            tokio::time::sleep(grace).await;
            force_stop(&preempt, &txs);
        });
        let joins: Vec<JoinHandle<()>> = self
            .workers
            .iter()
            .filter_map(|w| w.join.lock().ok().and_then(|mut j| j.take()))
            .collect();
        let _ = tokio::task::spawn_blocking(move || {
            for j in joins {
                let _ = j.join();
            }
        })
        .await;
    }

    /// A snapshot of every worker (answered between process steps).
    pub async fn stats(&self) -> Vec<WorkerStats> {
        let mut out = Vec::new();
        for w in &self.workers {
            let (tx, rx) = oneshot::channel();
            if w.tx.send(Msg::Stats(tx)).is_ok()
                && let Ok(s) = rx.await
            {
                out.push(s);
            }
        }
        out
    }

    /// Allocation-failure injection on every worker (see
    /// `testing::fail_allocations_from`); answers whether any worker had a
    /// failure injected (when stopping).
    pub(crate) async fn fail_allocations(&self, n: Option<u64>) -> bool {
        let mut any = false;
        for w in &self.workers {
            let (tx, rx) = oneshot::channel();
            if w.tx.send(Msg::FailAllocations(n, tx)).is_ok() {
                any |= rx.await.unwrap_or(false);
            }
        }
        any
    }

    /// The handle of the pool handlers run on.
    pub fn tokio(&self) -> &tokio::runtime::Handle {
        &self.shared.tokio
    }
}

impl Drop for Runtime {
    fn drop(&mut self) {
        let txs: Vec<_> = self.workers.iter().map(|w| w.tx.clone()).collect();
        for tx in &txs {
            let _ = tx.send(Msg::Drain);
        }
        force_stop(&self.shared.preempt, &txs);
    }
}

/// Stops every process now: those that compute are interrupted, and every
/// worker ends the rest with a `Canceled` error.
fn force_stop(preempt: &Preempt, txs: &[super::inbox::Outbox<Msg>]) {
    preempt.request_stop_all(worker::shutting_down());
    for tx in txs {
        let _ = tx.send(Msg::ForceStop);
    }
}
