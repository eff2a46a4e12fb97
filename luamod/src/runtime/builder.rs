//! [`Builder`]: the modules, handlers, context and workers of a runtime,
//! checked (duplicate or reserved command ids, classes a context may not
//! bind) before any worker starts.

use std::sync::mpsc;
use std::sync::{Arc, Mutex};

use super::clock;
use super::dispatch;
use super::handle::{Runtime, WorkerHandle};
use super::shared::{Hook, Shared};
use super::worker::Worker;
use crate::command::{CommandId, ErasedHandler, HandlerSet, Pid};
use crate::error::Error;
use crate::module::ModuleDef;
use crate::sandbox::Sandbox;
use crate::security::{Actor, Context, ContextKind, Policy};

/// Builds a [`Runtime`].
pub struct Builder {
    modules: Vec<&'static ModuleDef>,
    handlers: Vec<Arc<dyn ErasedHandler>>,
    workers: usize,
    on_complete: Option<Hook>,
    context: Context,
    sandbox: Sandbox,
}

impl Runtime {
    /// A builder with no modules and one worker per available core.
    pub fn builder() -> Builder {
        Builder::new()
    }
}

impl Builder {
    fn new() -> Builder {
        Builder {
            modules: Vec::new(),
            handlers: Vec::new(),
            workers: std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(1),
            on_complete: None,
            context: Context::default(),
            sandbox: Sandbox::default(),
        }
    }

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
    pub fn context(mut self, kind: ContextKind) -> Self {
        self.context.kind = kind;
        self
    }

    /// Who processes act for. Without an actor every permission is denied.
    pub fn actor(mut self, actor: Actor) -> Self {
        self.context.actor = Some(actor);
        self
    }

    /// Adds a policy to the processes' scope. Without any allowing policy,
    /// every permission is denied; `Policy::allow_all()` opts out visibly.
    pub fn policy(mut self, p: Policy) -> Self {
        self.context = self.context.with_policy(p);
        self
    }

    /// What the processes' standard library offers beyond the strict
    /// sandbox (the default): see [`Sandbox`].
    pub fn sandbox(mut self, sandbox: Sandbox) -> Self {
        self.sandbox = sandbox;
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
            m.admit(self.context.kind)?;
        }
        let mut table = dispatch::Table::default();
        for h in clock::real_clock() {
            table.insert(h);
        }
        let mut declared: Vec<(CommandId, &'static str, &'static str)> = Vec::new();
        for m in &self.modules {
            for c in m.all_commands() {
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
            sandbox: self.sandbox,
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
        Ok(Runtime::new(workers, shared, default_context, owned))
    }
}
