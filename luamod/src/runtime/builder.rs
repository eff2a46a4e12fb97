//! [`Builder`]: the modules, handlers, context and workers of a runtime,
//! checked (duplicate or reserved command ids, classes a context may not
//! bind) before any worker starts.

use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::clock;
use super::dispatch;
use super::handle::{Runtime, WorkerHandle};
use super::preempt::Preempt;
use super::shared::{Completed, Hook, Shared};
use super::worker::Worker;
use crate::command::{CommandId, ErasedHandler, HandlerSet, States};
use crate::error::Error;
use crate::ffi::native_stack::{Floor, WORKER_STACK};
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
    time_slice: Duration,
    unyielding_limit: Duration,
    memory_limit: Option<usize>,
    globals: bool,
    /// Module states given with `module_with`.
    states: States,
    /// A `module_with` whose state does not fit its module.
    state_error: Option<String>,
}

impl Runtime {
    /// A builder with no modules and one worker per available core.
    pub fn builder() -> Builder {
        Builder::new()
    }
}

impl Builder {
    /// The time slice a runtime gives processes unless told otherwise.
    pub const DEFAULT_TIME_SLICE: Duration = Duration::from_millis(10);

    /// How long, unless told otherwise, a process may run where it cannot
    /// be preempted.
    pub const DEFAULT_UNYIELDING_LIMIT: Duration = Duration::from_secs(1);

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
            time_slice: Builder::DEFAULT_TIME_SLICE,
            unyielding_limit: Builder::DEFAULT_UNYIELDING_LIMIT,
            memory_limit: None,
            globals: false,
            states: States::default(),
            state_error: None,
        }
    }

    /// Binds `m` in every worker and registers its default handlers. A
    /// module with a state (`state = T`) gets `T::default()`.
    pub fn module(mut self, m: &'static ModuleDef) -> Self {
        self.modules.push(m);
        self
    }

    /// [`module`](Self::module) with the module's state given: its exports
    /// (`cfg: &T`) and command handlers (`HandlerCx::state`) of this
    /// runtime see `state`. A state of another type than the module
    /// declares is refused by `build`.
    ///
    /// ```
    /// #[luamod::module(name = "greet", class(deterministic), state = Greeting)]
    /// pub mod greet {
    ///     /// How to greet (the default: "hello").
    ///     pub struct Greeting {
    ///         pub word: String,
    ///     }
    ///
    ///     impl Default for Greeting {
    ///         fn default() -> Self {
    ///             Greeting { word: "hello".into() }
    ///         }
    ///     }
    ///
    ///     /// Greets `name` with the configured word.
    ///     #[luamod::function]
    ///     pub fn hi(cfg: &Greeting, name: String) -> String {
    ///         format!("{} {name}", cfg.word)
    ///     }
    /// }
    /// # tokio::runtime::Runtime::new().unwrap().block_on(async {
    /// let rt = luamod::Runtime::builder()
    ///     .module_with(&greet::MODULE, greet::Greeting { word: "ahoy".into() })
    ///     .build()?;
    /// let s: String = rt.run("return require('greet').hi('Ann')").await?;
    /// assert_eq!(s, "ahoy Ann");
    /// # Ok::<(), luamod::Error>(()) }).unwrap();
    /// ```
    pub fn module_with<T: std::any::Any + Send + Sync>(
        mut self,
        m: &'static ModuleDef,
        state: T,
    ) -> Self {
        match &m.state {
            Some(def) if (def.type_id)() == std::any::TypeId::of::<T>() => {
                self.states = self
                    .states
                    .with(std::any::TypeId::of::<T>(), std::sync::Arc::new(state));
            }
            Some(def) => {
                self.state_error.get_or_insert(format!(
                    "module '{}' has state {}, not {}",
                    m.name,
                    def.type_name,
                    std::any::type_name::<T>()
                ));
            }
            None => {
                self.state_error
                    .get_or_insert(format!("module '{}' declares no state", m.name));
            }
        }
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

    /// How long a process computes before the others on its worker get
    /// their turn (default [`Builder::DEFAULT_TIME_SLICE`], at least 1 ms).
    /// A process past its slice is made to yield where it is and goes
    /// behind the processes that are ready, and deadlines and `cancel` stop
    /// code that computes. Exceptions: code that cannot yield (and pattern
    /// matching) is stopped only after
    /// [`unyielding_limit`](Self::unyielding_limit); and preemption needs
    /// POSIX signals (a watchdog thread sends `SIGURG` to
    /// the worker), so elsewhere processes run until they yield.
    pub fn time_slice(mut self, slice: Duration) -> Self {
        self.time_slice = slice;
        self
    }

    /// How long a process may run past its time slice where it cannot
    /// yield (default [`Builder::DEFAULT_UNYIELDING_LIMIT`]): inside a Lua
    /// function that C code called, such as a `table.sort` comparator, a
    /// `string.gsub` callback or a metamethod run by the library. Such a
    /// process holds its worker; past this limit it is stopped with a
    /// `RESOURCE_EXHAUSTED` error.
    pub fn unyielding_limit(mut self, limit: Duration) -> Self {
        self.unyielding_limit = limit;
        self
    }

    /// The unyielding limit set so far (compiling is given up past it).
    #[cfg_attr(not(feature = "temporal"), allow(dead_code))]
    pub(crate) fn unyielding(&self) -> Duration {
        self.unyielding_limit
    }

    /// The most bytes each worker's Lua state may hold (default: no
    /// limit). An allocation past it fails with Lua's `not enough memory`
    /// in the process that asked for it; that process ends with a
    /// `RESOURCE_EXHAUSTED` error unless it catches it, and every other
    /// process on the worker goes on. The limit is per worker state, not
    /// per process: one process may use what the others leave.
    ///
    /// ```
    /// # tokio::runtime::Runtime::new().unwrap().block_on(async {
    /// let rt = luamod::Runtime::builder().memory_limit(16 << 20).build()?;
    /// let err = rt
    ///     .run::<()>("local t = {} for i = 1, 1e9 do t[i] = ('x'):rep(64) .. i end")
    ///     .await
    ///     .unwrap_err();
    /// assert_eq!(err.kind(), Some(luamod::ErrorKind::ResourceExhausted));
    /// assert_eq!(rt.run::<i64>("return 1 + 1").await?, 2);
    /// # Ok::<(), luamod::Error>(()) }).unwrap();
    /// ```
    pub fn memory_limit(mut self, bytes: usize) -> Self {
        self.memory_limit = Some(bytes);
        self
    }

    /// Binds every module as a global too (`json.encode(...)` without
    /// `require`), for scripts written for hosts that do that. Off by
    /// default: modules are reached through `require`. A process may shadow
    /// such a global with its own; the module table itself stays read-only.
    ///
    /// ```
    /// #[luamod::module(name = "greet", class(deterministic))]
    /// pub mod greet {
    ///     /// Says hello.
    ///     #[luamod::function]
    ///     pub fn hi() -> String {
    ///         "hi".to_owned()
    ///     }
    /// }
    /// # tokio::runtime::Runtime::new().unwrap().block_on(async {
    /// let rt = luamod::Runtime::builder()
    ///     .module(&greet::MODULE)
    ///     .globals(true)
    ///     .build()?;
    /// let same: bool = rt.run("return greet == require('greet') and greet.hi() == 'hi'").await?;
    /// assert!(same);
    /// # Ok::<(), luamod::Error>(()) }).unwrap();
    /// ```
    pub fn globals(mut self, on: bool) -> Self {
        self.globals = on;
        self
    }

    /// Called once per process, on its worker thread, when it completes,
    /// with its result values or its error (see [`Completed`]).
    ///
    /// The hook (and `Runtime::run`'s conversion of the results) runs as
    /// a last step of the process: script code it reaches through Lua (a
    /// metamethod behind `Table::get`) is stopped at the unyielding limit,
    /// which counts the hook's own time too, and a forced shutdown stops
    /// it. Keep it short; hand slow work to another thread.
    ///
    /// ```
    /// # tokio::runtime::Runtime::new().unwrap().block_on(async {
    /// use std::sync::{Arc, Mutex};
    /// let seen = Arc::new(Mutex::new(Vec::new()));
    /// let log = seen.clone();
    /// let rt = luamod::Runtime::builder()
    ///     .on_complete(move |done| {
    ///         let v: Result<i64, _> = done.values();
    ///         log.lock().unwrap().push(v.map_err(|e| e.to_string()));
    ///     })
    ///     .build()?;
    /// rt.run::<()>("return 7").await?;
    /// assert_eq!(seen.lock().unwrap()[0], Ok(7));
    /// # Ok::<(), luamod::Error>(()) }).unwrap();
    /// ```
    pub fn on_complete(mut self, f: impl Fn(Completed<'_>) + Send + Sync + 'static) -> Self {
        self.on_complete = Some(Box::new(f));
        self
    }

    /// Every declared module state: the host's, else the default.
    pub(crate) fn module_states(&self) -> States {
        let mut states = self.states.clone();
        for m in &self.modules {
            if let Some(def) = &m.state
                && !states.has((def.type_id)())
            {
                states = states.with((def.type_id)(), (def.default)());
            }
        }
        states
    }

    /// The modules bound so far.
    #[cfg_attr(not(feature = "temporal"), allow(dead_code))]
    pub(crate) fn modules(&self) -> &[&'static ModuleDef] {
        &self.modules
    }

    /// What the processes' standard library offers.
    #[cfg_attr(not(feature = "temporal"), allow(dead_code))]
    pub(crate) fn sandbox_ref(&self) -> &Sandbox {
        &self.sandbox
    }

    /// The context processes will run in.
    #[cfg_attr(not(feature = "temporal"), allow(dead_code))]
    pub(crate) fn context_ref(&self) -> &Context {
        &self.context
    }

    /// Takes the host's handlers out (a host that routes commands
    /// elsewhere, such as Temporal's activities, runs them itself).
    #[cfg_attr(not(feature = "temporal"), allow(dead_code))]
    pub(crate) fn take_handlers(&mut self) -> Vec<Arc<dyn ErasedHandler>> {
        std::mem::take(&mut self.handlers)
    }

    /// Builds the dispatch table (refusing duplicate or reserved ids) and
    /// starts the workers.
    pub fn build(self) -> Result<Runtime, Error> {
        if let Some(e) = &self.state_error {
            return Err(Error::new(e.clone()));
        }
        for m in &self.modules {
            m.admit(self.context.kind)?;
        }
        let states = self.module_states();
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
            preempt: Arc::new(Preempt::new(
                self.workers,
                self.time_slice,
                self.unyielding_limit,
            )),
            memory_limit: self.memory_limit,
            globals: self.globals,
            states,
            contexts: std::sync::Mutex::new(super::idmap::new()),
        });
        let default_context = Arc::new(self.context);
        let mut workers = Vec::new();
        for i in 0..self.workers {
            let (tx, rx) = super::inbox::inbox();
            let (ready_tx, ready_rx) = mpsc::channel();
            let sh = shared.clone();
            let wtx = tx.clone();
            let join = std::thread::Builder::new()
                .name(format!("luamod-worker-{i}"))
                .stack_size(WORKER_STACK)
                .spawn(move || {
                    let _floor = Floor::set(WORKER_STACK);
                    match Worker::new(sh.clone(), i, wtx, rx) {
                        Ok(w) => {
                            let _ = ready_tx.send(Ok(()));
                            w.run();
                        }
                        Err(e) => {
                            sh.preempt.never_started();
                            let _ = ready_tx.send(Err(Error::from(e)));
                        }
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
        shared
            .preempt
            .start_watchdog()
            .map_err(|e| Error::new(format!("cannot start the watchdog thread: {e}")))?;
        Ok(Runtime::new(workers, shared, default_context, owned))
    }
}
