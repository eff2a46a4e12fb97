//! The runtime: workers that run Lua processes, and the dispatcher that
//! routes the commands they yield to handlers.
//!
//! ```no_run
//! # async fn demo() -> Result<(), luamod::Error> {
//! let rt = luamod::Runtime::builder().workers(2).build()?;
//! let n: i64 = rt.run("return 1 + 2").await?;
//! assert_eq!(n, 3);
//! rt.shutdown(std::time::Duration::from_secs(1)).await;
//! # Ok(()) }
//! ```
//!
//! Pieces, one job each: [`command`] (the yield protocol), [`dispatch`]
//! (handlers and the id table), `worker` (one thread, one Lua state, its
//! processes), [`cancel`] (cancellation tokens). This module wires them and
//! owns the public surface.

pub mod cancel;
pub mod clock;
pub mod command;
pub mod dispatch;
mod worker;

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{self, Sender};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use mlua::FromLuaMulti;
use tokio::sync::oneshot;

pub use cancel::CancelToken;
pub use command::{Command, CommandDef, CommandId, Then, Yield};
pub use dispatch::{ErasedHandler, Handler, HandlerCx, HandlerSet, handler_fn};

use crate::def::ModuleDef;
use crate::error::{ErrorKind, LuaError};
use worker::{Msg, Worker};

/// The context of the process running on this thread, if any.
pub(crate) fn current_context() -> Option<Arc<crate::security::Context>> {
    command::CURRENT_CONTEXT.with(|c| c.borrow().clone())
}

/// A process id. Never reused within a runtime.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Pid(pub u64);

impl fmt::Display for Pid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// A host-side error: a Lua error message with its traceback, or a
/// runtime failure. `Display` prints the message, then the traceback.
#[derive(Debug, Clone)]
pub struct Error {
    message: String,
    traceback: Option<String>,
    kind: Option<ErrorKind>,
}

impl Error {
    /// A runtime error with no Lua origin.
    pub fn new(message: impl Into<String>) -> Self {
        Error {
            message: message.into(),
            traceback: None,
            kind: None,
        }
    }

    /// The Lua message (without the traceback).
    pub fn message(&self) -> &str {
        &self.message
    }

    /// The Lua traceback, if there was one.
    pub fn traceback(&self) -> Option<&str> {
        self.traceback.as_deref()
    }

    /// The kind, for luamod errors (`Canceled` for a cancelled process,
    /// `Timeout` past its deadline, or a `LuaError` raised by Lua code).
    pub fn kind(&self) -> Option<ErrorKind> {
        self.kind
    }

    pub(crate) fn from_lua_error(e: LuaError) -> Self {
        Error {
            message: e.message().to_owned(),
            traceback: e.stack().map(str::to_owned),
            kind: Some(e.kind()),
        }
    }
}

impl From<mlua::Error> for Error {
    fn from(e: mlua::Error) -> Self {
        match e {
            mlua::Error::CallbackError { traceback, cause } => {
                let mut inner = Error::from((*cause).clone());
                inner.traceback.get_or_insert(traceback);
                inner
            }
            mlua::Error::ExternalError(ref ext) => match ext.downcast_ref::<LuaError>() {
                Some(le) => Error::from_lua_error(le.clone()),
                None => Error::new(e.to_string()),
            },
            mlua::Error::RuntimeError(msg) | mlua::Error::SyntaxError { message: msg, .. } => {
                let (message, traceback) = crate::error::split_traceback(&msg);
                Error {
                    message: message.to_owned(),
                    traceback: traceback.map(str::to_owned),
                    kind: None,
                }
            }
            other => Error::new(other.to_string()),
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)?;
        if let Some(tb) = &self.traceback {
            write!(f, "\n{tb}")?;
        }
        Ok(())
    }
}

impl std::error::Error for Error {}

type Hook = Box<dyn Fn(Pid, &Result<(), Error>) + Send + Sync>;

/// What every worker shares.
pub(crate) struct Shared {
    pub modules: Vec<&'static ModuleDef>,
    pub dispatch: dispatch::Table,
    pub tokio: tokio::runtime::Handle,
    pub on_complete: Option<Hook>,
}

/// Builds a [`Runtime`].
pub struct Builder {
    modules: Vec<&'static ModuleDef>,
    handlers: Vec<Arc<dyn ErasedHandler>>,
    workers: usize,
    on_complete: Option<Hook>,
    context: crate::security::Context,
}

/// A snapshot of one worker.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct WorkerStats {
    /// Live processes.
    pub processes: usize,
    /// Of those, how many wait on a command handled off the worker.
    pub waiting: usize,
    /// Bytes the worker's Lua state uses.
    pub lua_memory: usize,
}

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
    pub context: Option<crate::security::Context>,
    /// Spawned on behalf of this (live) process: inherits its actor and
    /// scope, narrowed by `narrow`.
    pub parent: Option<Pid>,
    /// Policies that restrict the inherited scope (with `parent`).
    pub narrow: Vec<crate::security::Policy>,
}

impl Builder {
    /// Binds `m` in every worker and registers its default handlers.
    pub fn module(mut self, m: &'static ModuleDef) -> Self {
        self.modules.push(m);
        self
    }

    /// Adds handlers; they replace a module's default handler for the same
    /// command.
    pub fn handler(mut self, h: impl HandlerSet) -> Self {
        self.handlers.extend(h.handlers());
        self
    }

    /// Number of worker threads (default: the available cores).
    pub fn workers(mut self, n: usize) -> Self {
        self.workers = n.max(1);
        self
    }

    /// The kind of context processes run in (default `Process`). A
    /// `Workflow` runtime refuses, when built, any module whose classes are
    /// not `deterministic` or `workflow`.
    pub fn context(mut self, kind: crate::security::ContextKind) -> Self {
        self.context.kind = kind;
        self
    }

    /// Who processes act for. Without an actor every permission is denied.
    pub fn actor(mut self, actor: crate::security::Actor) -> Self {
        self.context.actor = Some(actor);
        self
    }

    /// Adds a policy to the processes' scope. Without any allowing policy,
    /// every permission is denied; `Policy::allow_all()` opts out visibly.
    pub fn policy(mut self, p: crate::security::Policy) -> Self {
        self.context = self.context.with_policy(p);
        self
    }

    /// Called once per process, on its worker thread, when it completes.
    pub fn on_complete(
        mut self,
        f: impl Fn(Pid, &Result<(), Error>) + Send + Sync + 'static,
    ) -> Self {
        self.on_complete = Some(Box::new(f));
        self
    }

    /// Builds the dispatch table (refusing duplicate or reserved ids) and
    /// starts the workers.
    pub fn build(self) -> Result<Runtime, Error> {
        for m in &self.modules {
            self.context.kind.admit(m).map_err(Error::from_lua_error)?;
        }
        let mut table = dispatch::Table::default();
        for h in clock::real_clock() {
            table.insert(h);
        }
        let mut declared: Vec<(CommandId, &'static str, &'static str)> = Vec::new();
        for m in &self.modules {
            let class_commands = m.userdata.iter().flat_map(|c| c.items.commands.iter());
            for c in m.commands.iter().chain(class_commands) {
                if c.id.0 < CommandId::FIRST_CUSTOM && !clock::is_runtime_command(c.id) {
                    return Err(Error::new(format!(
                        "command '{}' of module '{}' uses id {}, reserved for the runtime (ids below {})",
                        c.name,
                        m.name,
                        c.id,
                        CommandId::FIRST_CUSTOM
                    )));
                }
                if let Some((_, other, om)) = declared
                    .iter()
                    .find(|(id, n, _)| *id == c.id && *n != c.name)
                {
                    return Err(Error::new(format!(
                        "commands '{other}' (module '{om}') and '{}' (module '{}') both use id {}",
                        c.name, m.name, c.id
                    )));
                }
                declared.push((c.id, c.name, m.name));
                if let Some(h) = (c.default_handler)() {
                    table.insert(h);
                }
            }
        }
        let mut host = dispatch::Table::default();
        for h in self.handlers {
            let (id, name) = h.command();
            if id.0 < CommandId::FIRST_CUSTOM && !clock::is_runtime_command(id) {
                return Err(Error::new(format!(
                    "handler for '{name}' uses id {id}, reserved for the runtime"
                )));
            }
            if let Some(other) = host.contains(id) {
                return Err(Error::new(format!(
                    "two handlers for command id {id}: '{other}' and '{name}'"
                )));
            }
            host.insert(h.clone());
            table.insert(h);
        }
        let (tokio, owned) = match tokio::runtime::Handle::try_current() {
            Ok(h) => (h, None),
            Err(_) => {
                let rt = tokio::runtime::Builder::new_multi_thread()
                    .worker_threads(2)
                    .enable_all()
                    .thread_name("luamod-handlers")
                    .build()
                    .map_err(|e| Error::new(format!("cannot start the handler pool: {e}")))?;
                (rt.handle().clone(), Some(rt))
            }
        };
        let shared = Arc::new(Shared {
            modules: self.modules,
            dispatch: table,
            tokio,
            on_complete: self.on_complete,
        });
        let default_context = Arc::new(self.context);
        let mut workers = Vec::new();
        for i in 0..self.workers {
            let (tx, rx) = mpsc::channel();
            let (ready_tx, ready_rx) = mpsc::channel();
            let sh = shared.clone();
            let wtx = tx.clone();
            let join = std::thread::Builder::new()
                .name(format!("luamod-worker-{i}"))
                .spawn(move || match Worker::new(sh, wtx, rx) {
                    Ok(w) => {
                        let _ = ready_tx.send(Ok(()));
                        w.run();
                    }
                    Err(e) => {
                        let _ = ready_tx.send(Err(Error::from(e)));
                    }
                })
                .map_err(|e| Error::new(format!("cannot start a worker thread: {e}")))?;
            ready_rx
                .recv()
                .map_err(|_| Error::new("a worker thread died while starting"))??;
            workers.push(WorkerHandle {
                tx,
                join: Mutex::new(Some(join)),
            });
        }
        Ok(Runtime {
            workers,
            next_pid: AtomicU64::new(1),
            shared,
            default_context,
            contexts: Arc::new(Mutex::new(std::collections::HashMap::new())),
            joins: Mutex::new(std::collections::HashMap::new()),
            _owned_tokio: owned.map(|rt| OwnedTokio(Some(rt))),
        })
    }
}

struct WorkerHandle {
    tx: Sender<Msg>,
    join: Mutex<Option<JoinHandle<()>>>,
}

/// Our own handler pool, when the host has no tokio runtime; shut down in
/// the background so dropping it inside async code does not panic.
struct OwnedTokio(Option<tokio::runtime::Runtime>);

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
    default_context: Arc<crate::security::Context>,
    /// Contexts of live processes, for children that inherit them.
    contexts: Arc<Mutex<std::collections::HashMap<Pid, Arc<crate::security::Context>>>>,
    joins: Mutex<std::collections::HashMap<Pid, oneshot::Receiver<Result<(), Error>>>>,
    _owned_tokio: Option<OwnedTokio>,
}

impl Runtime {
    /// A builder with no modules and one worker per available core.
    pub fn builder() -> Builder {
        Builder {
            modules: Vec::new(),
            handlers: Vec::new(),
            workers: std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(1),
            on_complete: None,
            context: crate::security::Context::default(),
        }
    }

    fn worker_for(&self, pid: Pid) -> &WorkerHandle {
        &self.workers[(pid.0 % self.workers.len() as u64) as usize]
    }

    /// The context a new process gets: explicit, inherited from a live
    /// parent (narrowed), or the runtime's; refused before any Lua runs if
    /// its kind does not admit the runtime's modules.
    fn context_for(&self, opts: &mut SpawnOptions) -> Result<Arc<crate::security::Context>, Error> {
        let ctx = if let Some(c) = opts.context.take() {
            Arc::new(c)
        } else if let Some(parent) = opts.parent {
            let contexts = self
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
            ctx.kind.admit(m).map_err(Error::from_lua_error)?;
        }
        Ok(ctx)
    }

    fn send_spawn(
        &self,
        source: &str,
        mut opts: SpawnOptions,
        done: worker::Done,
    ) -> Result<Pid, Error> {
        let context = self.context_for(&mut opts)?;
        let pid = Pid(self.next_pid.fetch_add(1, Ordering::Relaxed));
        if let Ok(mut m) = self.contexts.lock() {
            m.insert(pid, context.clone());
        }
        let contexts = self.contexts.clone();
        let done: worker::Done = Box::new(move |lua, r| {
            if let Ok(mut m) = contexts.lock() {
                m.remove(&pid);
            }
            done(lua, r)
        });
        self.worker_for(pid)
            .tx
            .send(Msg::Spawn {
                pid,
                name: opts.name.unwrap_or_else(|| "process".to_owned()),
                source: source.to_owned(),
                deadline: opts.deadline,
                context,
                done,
            })
            .map_err(|_| Error::new("the runtime has shut down"))?;
        Ok(pid)
    }

    /// Runs `source` as a process to completion and converts its return
    /// values. Errors carry the Lua message and traceback.
    pub async fn run<R: FromLuaMulti + Send + 'static>(&self, source: &str) -> Result<R, Error> {
        self.run_with(source, SpawnOptions::default()).await
    }

    /// [`run`](Self::run) with options (name, deadline).
    pub async fn run_with<R: FromLuaMulti + Send + 'static>(
        &self,
        source: &str,
        opts: SpawnOptions,
    ) -> Result<R, Error> {
        let (tx, rx) = oneshot::channel();
        self.send_spawn(
            source,
            opts,
            Box::new(move |lua, r| {
                let r = r.and_then(|mv| R::from_lua_multi(mv, lua).map_err(Error::from));
                let _ = tx.send(r);
            }),
        )?;
        rx.await
            .map_err(|_| Error::new("the runtime stopped before the process finished"))?
    }

    /// Starts `source` as a process; [`join`](Self::join) waits for it.
    pub fn spawn(&self, source: &str, opts: SpawnOptions) -> Result<Pid, Error> {
        let (tx, rx) = oneshot::channel();
        let pid = self.send_spawn(
            source,
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
        let _ = self.worker_for(pid).tx.send(Msg::Cancel { pid, error: e });
    }

    /// Stops accepting processes, lets running ones finish for up to
    /// `grace`, then cancels the rest (they complete with `Canceled`), and
    /// waits for the workers to exit.
    pub async fn shutdown(&self, grace: Duration) {
        for w in &self.workers {
            let _ = w.tx.send(Msg::Shutdown { grace });
        }
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

    /// The handle of the pool handlers run on.
    pub fn tokio(&self) -> &tokio::runtime::Handle {
        &self.shared.tokio
    }
}

impl Drop for Runtime {
    fn drop(&mut self) {
        for w in &self.workers {
            let _ = w.tx.send(Msg::Shutdown {
                grace: Duration::ZERO,
            });
        }
    }
}
