//! One scheduler worker: a thread that owns one Lua state and the processes
//! (coroutines) in it, and runs them until they finish, yield a command, or
//! are cancelled.
//!
//! The worker owns: process table, ready queue (with the turns a process
//! owes after overrunning its slice), per-process generation,
//! the spare task. It never blocks on a handler: an export starts its
//! command's handler and polls it once, inside the step (`starter`); a
//! handler ready then is answered in the call, and a task that is not is
//! parked, moved to the tokio pool after the step, and comes back finished
//! as a message. A completion whose process is gone or whose generation is
//! stale is dropped, and so is a parked task nobody waits for, under
//! `catch_unwind` (a task's `Drop` is handler code).

use std::any::Any;
use std::collections::VecDeque;

use super::idmap::{self, IdMap};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::rc::Rc;
use std::sync::Arc;
use std::time::Duration;

use mlua::thread::ThreadStatus;
use mlua::{Lua, MultiValue, Table, Thread, Value};

use super::resume::Stepped;
use super::script::{Code, Entry};
use super::shared::{Completed, Shared};
use super::starter::drop_task;
use crate::command::{BoxTask, CancelToken, HandlerCx, Pid};
use crate::error::{Error, ErrorKind, LuaError};
use crate::ffi::alloc::MemoryControl;
use crate::sandbox::random::Rng;
use crate::security::{Context, ContextKind};
use crate::suspend::abandon::{self, Held};
use crate::suspend::park::{COMPLETED, Delivery, Parked, WORKER_STATE, spent_task, take_parked};

/// Converts a finished process's values (on the worker thread) and delivers
/// them to whoever waits.
pub(crate) type Done = Box<dyn FnOnce(&Lua, Result<MultiValue, Error>) + Send>;

pub(crate) enum Msg {
    Spawn(Box<SpawnRequest>),
    Complete {
        pid: Pid,
        generation: u64,
        task: BoxTask,
    },
    Cancel {
        pid: Pid,
        error: LuaError,
    },
    /// Accept no new process; exit once none is left.
    Drain,
    ForceStop,
    Stats(tokio::sync::oneshot::Sender<WorkerStats>),
    /// Allocation-failure injection (`Some(n)`: the n-th allocation from
    /// now fails, and every later one; `None`: stop, answering whether a
    /// failure was injected).
    FailAllocations(Option<u64>, tokio::sync::oneshot::Sender<bool>),
}

/// What a new process needs.
pub(crate) struct SpawnRequest {
    pub pid: Pid,
    /// The chunk name of its source text (default `process`); a compiled
    /// script keeps the name it was compiled with.
    pub name: Option<String>,
    pub entry: Entry,
    pub deadline: Option<Duration>,
    pub context: Arc<Context>,
    /// The seed of its `math.random` (workflows: given or 0).
    pub seed: Option<u64>,
    pub done: Done,
}

struct Proc {
    thread: Thread,
    /// `thread`'s `lua_State`, read once: it stays put while `thread`
    /// keeps the coroutine alive (asking mlua for it each step pushes and
    /// pops a value).
    state: *mut mlua::ffi::lua_State,
    /// Its own `math.random` generator. Not boxed: a step points the
    /// library at it (`random::enter`) only while it holds the process's
    /// entry borrowed, or the process itself once removed, so it does not
    /// move meanwhile.
    rng: Rng,
    generation: u64,
    waiting: bool,
    cancel: CancelToken,
    /// Ends the deadline's timer when the process ends (its own: handlers
    /// can cancel `cancel`, which must not end the deadline). Only with a
    /// deadline.
    ended: Option<CancelToken>,
    /// What its handlers receive (its pid, cancel token, context and the
    /// module states): one shared handle, so a command costs one reference
    /// count for all of it. Made at its first command (a process that never
    /// waits does not pay for it).
    cx: Option<HandlerCx>,
    /// The finished handler (its output inside), for the next step to
    /// deliver.
    result: Option<BoxTask>,
    /// `Then`'s mapping function while the process waits.
    map: Option<Box<dyn Any>>,
    /// Its security context; moved into the thread's current context for
    /// each step and back (a move, not a reference count per step).
    context: Option<Arc<Context>>,
    done: Option<Done>,
    /// Continuations it may leave pending (dropped when it ends).
    held: Rc<Held>,
    /// The preemption hook raised a stop error on its thread in its last
    /// step (that thread's hooks may be off: it is not closed).
    hook_raised: bool,
    /// Turns it gives up to the others: the slices its last step ran past
    /// its own where it could not be made to yield (see `owes_turn`).
    owed: u32,
}

/// The most turns a process gives up after one step (a step ran past its
/// slice by at most the unyielding limit: 100 slices by default).
const MAX_OWED: u64 = 1000;

/// A snapshot of one worker.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct WorkerStats {
    /// Live processes.
    pub processes: usize,
    /// Of those, how many wait on a command handled off the worker.
    pub waiting: usize,
    /// Bytes the worker's Lua state uses.
    pub lua_memory: usize,
    /// Bytes of blocks the state freed that its allocator keeps for reuse
    /// (see [`MemoryControl::kept`](crate::MemoryControl::kept)).
    pub lua_kept: usize,
    /// Times a process was made to yield at the end of its time slice.
    pub preemptions: u64,
}

pub(crate) struct Worker {
    lua: Lua,
    /// Its place among the runtime's workers (its preemption slice).
    index: usize,
    /// luamod's allocator on the worker's state: exports use allocation
    /// windows instead of `lua_pcall`, and limits are set here.
    memory: MemoryControl,
    /// Bytes in use after the last collection `collect_if_full` forced
    /// (or less, as seen since).
    collected_to: std::cell::Cell<usize>,
    /// The allocator's refusals counted by then.
    refusals_seen: std::cell::Cell<u64>,
    shared: Arc<Shared>,
    procs: IdMap<Pid, Proc>,
    ready: VecDeque<Pid>,
    tx: super::inbox::Outbox<Msg>,
    rx: super::inbox::Inbox<Msg>,
    draining: bool,
    make_env: mlua::Function,
    /// Environment, main function and coroutine of a compiled script's
    /// process without entry or arguments (see `MAKE_ENV`).
    new_process: mlua::Function,
    /// Makes the main function of a process entered at a function or with
    /// arguments.
    make_main: mlua::Function,
    /// Makes the main function of a process spawned from source text (see
    /// `COMPILE_LATE`).
    compile_late: mlua::Function,
    /// Compiled scripts loaded on this worker, by `Script::id`: each a
    /// factory of main functions (see `Script::compile`).
    scripts: IdMap<u64, mlua::Function>,
    /// Seeds the generators of processes that bring none.
    seeds: Rng,
    preemptions: u64,
    /// How many processes owe turns (see `owes_turn`): while none does,
    /// the ready loop looks nothing up.
    owing: usize,
    /// The last process whose step grew the objects' external memory: the
    /// collection the allocator asks for (see `collect_for_external`) is
    /// for that memory, whichever process's allocation then crossed the
    /// limit.
    external_grower: Option<Pid>,
    resumer: super::resume::Resumer,
    /// A finished task (its output taken) whose allocation the next
    /// handler of its type reuses.
    spare_task: std::cell::Cell<Option<BoxTask>>,
}

/// The most bytes of freed blocks a worker keeps for reuse once it has
/// waited [`IDLE_WAIT`] for work (see `MemoryControl::trim`).
const IDLE_KEPT: usize = 1 << 20;

/// How long a worker waits for work before it gives its kept blocks back.
const IDLE_WAIT: std::time::Duration = std::time::Duration::from_millis(100);

/// Builds a process's global table: reads fall through to a private copy
/// of the restricted globals (one per context kind, never handed to a
/// script, so deleting a name of one's own only uncovers the same sandboxed
/// value again), writes stay in the process. `load` (text only unless the
/// sandbox allows binary chunks) and, when allowed, `loadfile`/`dofile`
/// default to the process's globals; the base holds none of them.
///
/// The chunk returns `make_env` and `new_process`: the common spawn (a
/// compiled script, no entry function, no arguments) in one call from
/// Rust: environment, main function from the script's factory, coroutine
/// (each call from Rust through mlua costs about 4,000 instructions).
const MAKE_ENV: &str = r#"
local mt, workflow_mt, loadfile, binary, new_env, assert, create = ...
local function make_env(workflow)
  local env = new_env(workflow and workflow_mt or mt, loadfile and 4 or 2, binary)
  if loadfile then
    env.loadfile = function(f, mode, e) return loadfile(f, binary and mode or "t", e or env) end
    env.dofile = function(f) return assert(loadfile(f, binary and "bt" or "t", env))() end
  end
  return env
end
local function new_process(factory, workflow)
  return create(factory(make_env(workflow)))
end
return make_env, new_process
"#;

/// `compile_late(source, chunkname, env)`: the main function of a process
/// spawned from source text, which compiles it when it first runs, with
/// the sandbox's `load` (text only, fed to the parser in pieces): inside
/// the process's first step, where a deadline, a cancel or the unyielding
/// limit stops a parse that would run for minutes (Lua's parser is
/// quadratic on some chunks). A syntax error fails the process there, with
/// Lua's message.
const COMPILE_LATE: &str = r#"
local load, error = ...
return function(source, chunkname, env)
  return function(...)
    local chunk, err = load(source, chunkname, "t", env)
    if not chunk then error(err, 0) end
    return chunk(...)
  end
end
"#;

/// The main function of a process entered at `name` (a field of the table
/// the chunk returns, else a global it defines) or with arguments. It
/// captures `table.pack`/`unpack`, `type`, `error` and `tostring` once, as
/// the sandboxed worker globals hold them (the same functions processes
/// get), so a process cannot replace them for the wrapper.
const MAKE_MAIN: &str = r#"
local pack, unpack, type, error, tostring = table.pack, table.unpack, type, error, tostring
return function(chunk, env, name, ...)
  local args = pack(...)
  if name == nil then
    return function() return chunk(unpack(args, 1, args.n)) end
  end
  return function()
    local exports = chunk()
    local f
    if type(exports) == "table" then f = exports[name] end
    if f == nil then f = env[name] end
    if type(f) ~= "function" then
      error("the script has no function '" .. tostring(name)
        .. "' (neither in the table it returns nor among its globals)", 0)
    end
    return f(unpack(args, 1, args.n))
  end
end
"#;

/// `new_env(mt, n, binary)`: a new table with metatable `mt`, its `_G`
/// (itself) and its `load` (the sandbox's, loading into it by default;
/// text only unless `binary`), with room for `n` fields. The sandbox's
/// `setmetatable` checks what a script may not do (a fifth of a spawn,
/// measured), and a Lua closure for `load` would cost another allocation
/// and put its own line in `load`'s messages; the worker's own tables need
/// none of that.
unsafe extern "C-unwind" fn new_env(state: *mut mlua::ffi::lua_State) -> std::ffi::c_int {
    use mlua::ffi;
    // SAFETY: called from `MAKE_ENV` with a metatable built by the worker
    // (no `__newindex`: the sets below are raw in effect), a small count
    // and a boolean; a C function has LUA_MINSTACK free slots and this
    // uses three; nothing here owns memory, so a memory error raised by an
    // allocation skips nothing.
    unsafe {
        ffi::luaL_checktype(state, 1, ffi::LUA_TTABLE);
        let n = ffi::lua_tointeger(state, 2).clamp(0, 4) as std::ffi::c_int;
        let binary = ffi::lua_toboolean(state, 3) != 0;
        ffi::lua_createtable(state, 0, n);
        ffi::lua_pushvalue(state, 1);
        ffi::lua_setmetatable(state, -2);
        ffi::lua_pushvalue(state, -1);
        ffi::lua_setfield(state, -2, c"_G".as_ptr());
        crate::sandbox::load::push_in_env(state, -1, binary);
        ffi::lua_setfield(state, -2, c"load".as_ptr());
    }
    1
}

/// Loads bytecode made by `Script::compile` (a factory that takes its
/// globals as its argument).
fn load_compiled(lua: &Lua, bytecode: &[u8]) -> mlua::Result<mlua::Function> {
    use mlua::ffi;
    // SAFETY: luaL_loadbufferx only reads the buffer (alive for the call)
    // and leaves the function or an error; the error is raised inside
    // mlua's protected call, over a closure that owns nothing. The
    // bytecode is the host's (`compile`), never a script's.
    unsafe {
        lua.exec_raw::<mlua::Function>((), |st| {
            let status = ffi::luaL_loadbufferx(
                st,
                bytecode.as_ptr() as *const std::ffi::c_char,
                bytecode.len(),
                c"=script".as_ptr(),
                c"b".as_ptr(),
            );
            if status != ffi::LUA_OK {
                ffi::lua_error(st);
            }
        })
    }
}

impl Worker {
    pub fn new(
        shared: Arc<Shared>,
        index: usize,
        tx: super::inbox::Outbox<Msg>,
        rx: super::inbox::Inbox<Msg>,
    ) -> mlua::Result<Worker> {
        let lua = crate::module::lua_with(&shared.modules)?;
        // The runtime's states replace the defaults binding put there.
        lua.set_app_data(shared.states.clone());
        // Generational collection where the VM has it (5.4).
        #[cfg(feature = "lua54")]
        lua.gc_set_mode(mlua::prelude::LuaGcMode::Generational(
            mlua::prelude::LuaGcGenParams::default(),
        ));
        let globals = lua.globals();
        // Lua's own, before the process library replaces the table.
        let create: mlua::Function = globals.raw_get::<Table>("coroutine")?.raw_get("create")?;
        let coroutine = super::coroutines::library(&lua)?;
        super::preempt::install(&lua, &coroutine)?;
        globals.raw_set("coroutine", coroutine)?;
        if shared.globals {
            let loaded: Table = lua.named_registry_value("_LOADED")?;
            for m in &shared.modules {
                globals.raw_set(m.name, loaded.raw_get::<Value>(m.name)?)?;
            }
        }
        let restricted = crate::sandbox::restrict(&lua, &shared.sandbox)?;
        let base_mt = |workflow: bool| -> mlua::Result<Table> {
            let base = lua.create_table()?;
            for pair in globals.pairs::<Value, Value>() {
                let (k, v) = pair?;
                base.raw_set(k, v)?;
            }
            // Each process has its own `_G` and loaders (its environment).
            for name in ["_G", "load", "loadfile", "dofile"] {
                base.raw_set(name, Value::Nil)?;
            }
            if workflow {
                base.raw_set("os", &restricted.workflow_os)?;
                base.raw_set("package", &restricted.workflow_package)?;
                base.raw_set("pairs", &restricted.workflow_pairs)?;
                base.raw_set("next", &restricted.workflow_next)?;
            }
            let mt = lua.create_table()?;
            mt.raw_set("__index", base)?;
            mt.raw_set("__metatable", false)?;
            Ok(mt)
        };
        let (make_env, new_process): (mlua::Function, mlua::Function) =
            lua.load(MAKE_ENV).set_name("=luamod.env").call((
                base_mt(false)?,
                base_mt(true)?,
                restricted.loadfile,
                restricted.binary_chunks,
                // SAFETY: `new_env` follows the C function protocol.
                unsafe { lua.create_c_function(new_env)? },
                globals.raw_get::<mlua::Function>("assert")?,
                create,
            ))?;
        let make_main: mlua::Function = lua.load(MAKE_MAIN).set_name("=luamod.entry").call(())?;
        let compile_late: mlua::Function =
            lua.load(COMPILE_LATE).set_name("=luamod.source").call((
                globals.raw_get::<mlua::Function>("load")?,
                globals.raw_get::<mlua::Function>("error")?,
            ))?;
        // SAFETY: reads the registry's main-thread entry (one push, one
        // pop) to record which state this worker thread runs; `Yield`
        // compares against it to tell runtime states from plain ones.
        unsafe {
            lua.exec_raw::<()>((), |st| {
                WORKER_STATE.with(|w| w.set(crate::ffi::vm::main_thread(st)));
            })?;
        }
        let memory = MemoryControl::install(&lua)?;
        if let Some(limit) = shared.memory_limit {
            memory.set_limit(limit);
        }
        Ok(Worker {
            index,
            memory,
            collected_to: std::cell::Cell::new(0),
            refusals_seen: std::cell::Cell::new(0),
            shared,
            procs: idmap::new(),
            ready: VecDeque::new(),
            tx,
            rx,
            draining: false,
            make_env,
            new_process,
            make_main,
            compile_late,
            scripts: idmap::new(),
            seeds: Rng::from_entropy(),
            preemptions: 0,
            owing: 0,
            external_grower: None,
            resumer: super::resume::Resumer::new(&lua)?,
            spare_task: std::cell::Cell::new(None),
            lua,
        })
    }

    // Kept out of the thread's start closure: inlined there, the loop
    // grew too large for its own callees (the process table, the dispatch
    // table, the channel) to be inlined into it, which cost a yield about
    // a hundred instructions (callgrind, `count_instructions 1|3 ping`).
    #[inline(never)]
    pub fn run(mut self) {
        let shared = self.shared.clone();
        let _attached = shared
            .preempt
            .attach(self.index, WORKER_STATE.with(|w| w.get()));
        // Handler futures are polled on this thread (their first poll, by
        // the export that asks the command) and may use tokio (timers, spawning): the worker
        // stays inside the runtime's context for its whole life rather
        // than entering it for every command (a tenth of a yield).
        let _tokio = shared.tokio.enter();
        loop {
            while let Some(pid) = self.ready.pop_front() {
                if self.owing > 0 && !self.ready.is_empty() && self.owes_turn(pid) {
                    self.ready.push_back(pid);
                    continue;
                }
                let external = self.memory.external();
                self.step(pid);
                if self.memory.external() > external {
                    self.external_grower = Some(pid);
                }
                if self.memory.collection_due() {
                    let grower = self.external_grower.take();
                    self.collect_for_external(grower.unwrap_or(pid));
                }
                // Between steps: completions, cancels and shutdown come in
                // while processes keep each other busy.
                while let Some(msg) = self.rx.try_next() {
                    self.handle(msg);
                }
            }
            if self.draining && self.procs.is_empty() {
                break;
            }
            // Idle for a while: the blocks a collection freed in a burst,
            // kept for the next spawns, go back to the allocator they
            // came from (mlua's: Rust's global allocator). Not at every
            // pause: a host spawning in bursts would lose them between
            // two. A worker that is never idle keeps them, within the
            // lists' cap and its limit.
            let msg = if self.memory.kept() > IDLE_KEPT {
                match self.rx.next_within(IDLE_WAIT) {
                    Ok(msg) => msg,
                    Err(()) => {
                        self.memory.trim();
                        self.rx.next()
                    }
                }
            } else {
                self.rx.next()
            };
            let Some(msg) = msg else { break };
            self.handle(msg);
        }
        // Processes left when every sender is gone, and the spare task:
        // their tasks are handler code, dropped under a guard.
        let pids: Vec<Pid> = self.procs.keys().copied().collect();
        for pid in pids {
            if let Some(task) = self.procs.get_mut(&pid).and_then(|p| p.result.take()) {
                drop_task(task, pid);
            }
        }
        if let Some(task) = self.spare_task.take() {
            drop_task(task, Pid(0));
        }
        WORKER_STATE.with(|w| w.set(std::ptr::null_mut()));
    }

    fn handle(&mut self, msg: Msg) {
        match msg {
            Msg::Spawn(req) => self.spawn(*req),
            Msg::Complete {
                pid,
                generation,
                task,
            } => {
                if let Some(p) = self.procs.get_mut(&pid)
                    && p.waiting
                    && p.generation == generation
                {
                    p.waiting = false;
                    p.result = Some(task);
                    self.ready.push_back(pid);
                } else {
                    // Late, for a finished or cancelled process: dropped.
                    drop_task(task, pid);
                }
            }
            Msg::Cancel { pid, error } => {
                if self.procs.contains_key(&pid) {
                    self.finish(pid, Err(Error::from_lua_error(error)));
                }
                self.shared.preempt.forget(pid);
            }
            Msg::Drain => self.draining = true,
            Msg::Stats(reply) => {
                let _ = reply.send(WorkerStats {
                    processes: self.procs.len(),
                    waiting: self.procs.values().filter(|p| p.waiting).count(),
                    lua_memory: self.memory.used(),
                    lua_kept: self.memory.kept(),
                    preemptions: self.preemptions,
                });
            }
            Msg::FailAllocations(n, reply) => {
                let injected = match n {
                    Some(n) => {
                        self.memory.fail_from(n);
                        false
                    }
                    None => self.memory.stop_failing(),
                };
                let _ = reply.send(injected);
            }
            Msg::ForceStop => {
                let pids: Vec<Pid> = self.procs.keys().copied().collect();
                for pid in pids {
                    self.finish(pid, Err(Error::from_lua_error(shutting_down())));
                }
            }
        }
    }

    fn spawn(&mut self, req: SpawnRequest) {
        let SpawnRequest {
            pid,
            name,
            entry,
            deadline,
            context,
            seed,
            done,
        } = req;
        if self.draining {
            self.forget_context(pid);
            done(&self.lua, Err(Error::from_lua_error(shutting_down())));
            return;
        }
        let workflow = context.kind == ContextKind::Workflow;
        let thread = (|| -> mlua::Result<Thread> {
            let Entry {
                code,
                function,
                args,
            } = entry;
            if let (Code::Script(script), None, None) = (&code, &function, &args) {
                let factory = self.factory(script)?;
                return self.new_process.call((factory, workflow));
            }
            let env: Table = self.make_env.call(workflow)?;
            let chunk = match &code {
                Code::Source(source) => self.compile_late.call((
                    self.lua.create_string(source)?,
                    format!("={}", name.as_deref().unwrap_or("process")),
                    &env,
                ))?,
                Code::Script(script) => {
                    let factory = self.factory(script)?;
                    factory.call::<mlua::Function>(env.clone())?
                }
            };
            let main = match (function, args) {
                (None, None) => chunk,
                (function, args) => {
                    let mut call = MultiValue::new();
                    call.push_back(Value::Function(chunk));
                    call.push_back(Value::Table(env));
                    call.push_back(match function {
                        Some(f) => Value::String(self.lua.create_string(f)?),
                        None => Value::Nil,
                    });
                    if let Some(args) = args {
                        // Host code: a panic converting the arguments fails
                        // this spawn, not the worker.
                        let lua = &self.lua;
                        let converted = catch_unwind(AssertUnwindSafe(|| args(lua)))
                            .unwrap_or_else(|_| {
                                Err(mlua::Error::runtime(
                                    "converting the process's arguments panicked",
                                ))
                            })?;
                        call.extend(converted);
                    }
                    self.make_main.call(call)?
                }
            };
            self.lua.create_thread(main)
        })();
        let thread = match thread {
            Ok(t) => t,
            Err(e) => {
                self.forget_context(pid);
                done(&self.lua, Err(Error::from(e)));
                // A spawn that ran out of memory: the state may be full of
                // garbage only a full collection frees.
                self.collect_if_full();
                return;
            }
        };
        let rng = match (seed, workflow) {
            (Some(s), _) => Rng::seeded(s),
            (None, true) => Rng::seeded(0),
            (None, false) => Rng::seeded(self.seeds.next_u64()),
        };
        let state = thread.to_pointer() as *mut mlua::ffi::lua_State;
        let ended = deadline.map(|_| CancelToken::new());
        self.procs.insert(
            pid,
            Proc {
                thread,
                state,
                rng,
                generation: 0,
                waiting: false,
                cancel: CancelToken::new(),
                ended: ended.clone(),
                cx: None,
                result: None,
                map: None,
                context: Some(context),
                done: Some(done),
                held: Rc::new(Held::default()),
                hook_raised: false,
                owed: 0,
            },
        );
        if let (Some(d), Some(ended)) = (deadline, ended) {
            let tx = self.tx.clone();
            let preempt = self.shared.preempt.clone();
            self.shared.tokio.spawn(async move {
                // A process that ends first takes its timer with it: a
                // host spawning short processes with long deadlines
                // would otherwise keep a task (and the worker's channel)
                // per process until each deadline passed.
                tokio::select! {
                    _ = ended.cancelled() => return,
                    _ = tokio::time::sleep(d) => {}
                }
                let e = LuaError::new(
                    ErrorKind::Timeout,
                    format!(
                        "process {pid} exceeded its deadline of {} ms",
                        d.as_millis()
                    ),
                )
                .with_retryable(true);
                // Interrupts the process if it computes; the message ends it.
                preempt.request_stop(pid, e.clone());
                let _ = tx.send(Msg::Cancel { pid, error: e });
            });
        }
        self.ready.push_back(pid);
    }

    fn step(&mut self, pid: Pid) {
        let Some(p) = self.procs.get_mut(&pid) else {
            return;
        };
        let delivery = p.result.take().map(|task| Delivery {
            task,
            spent: false,
            map: p.map.take(),
        });
        COMPLETED.with(|c| *c.borrow_mut() = delivery);
        let (running, state) = enter(&self.shared.preempt, self.index, pid, p);
        // Exports of this step start their commands' handlers through it.
        let starter = super::starter::StepStarter {
            handlers: &self.shared.dispatch,
            states: &self.shared.states,
            preempt: &self.shared.preempt,
            pid,
            cx: std::cell::RefCell::new(p.cx.take()),
            cancel: &p.cancel,
            spare: &self.spare_task,
        };
        let main = WORKER_STATE.with(|w| w.get());
        let (lua, resumer) = (&self.lua, &mut self.resumer);
        let r = crate::suspend::park::with_starter(&starter, || {
            // SAFETY: the process's thread, alive (`p` holds it),
            // suspended or new (a finished process is removed), on this
            // worker; `main` is the worker state's main thread, idle
            // between steps.
            unsafe { resumer.resume(lua, main, state) }
        });
        p.cx = starter.cx.into_inner();
        // Preempted: the hook yielded it (the hook stays installed over the
        // yield, which is how mlua's resume knows to keep its stack).
        let preempted = super::preempt::take_preempted(state);
        p.hook_raised = super::preempt::take_raised();
        p.context = running.leave();
        let (spent, left) = spent_task();
        // A delivery no continuation took (the process did not resume into
        // it): its task is handler code to drop under a guard.
        if let Some(left) = left {
            drop_task(left.task, pid);
        }
        if spent.is_some() {
            // Kept for the next handler to reuse; the one it replaces (if
            // the last handler did not take it) is dropped, as handler
            // code, under a panic guard.
            if let Some(old) = self.spare_task.replace(spent) {
                drop_task(old, pid);
            }
        }
        let mut parked = take_parked();
        // Stopped while it computed: it ends with the reason it was
        // stopped for, whatever the interruption looked like inside.
        if let Some(e) = self.shared.preempt.stop_error(pid) {
            self.finish(pid, Err(Error::from_lua_error(e)));
        } else {
            match r {
                Err(e) => self.finish(pid, Err(Error::from(e))),
                Ok(Stepped::Yielded { system: true }) if parked.is_some() => {
                    self.charge_overrun(pid);
                    if let Some(parked) = parked.take() {
                        self.dispatch(pid, parked);
                    }
                }
                // Preempted, or an ordinary `coroutine.yield` at the top
                // of a process (a cooperative reschedule): behind the
                // others.
                Ok(Stepped::Yielded { .. }) => {
                    self.preemptions += u64::from(preempted);
                    self.charge_overrun(pid);
                    self.ready.push_back(pid);
                }
                Ok(Stepped::Returned(values)) => self.finish(pid, Ok(values)),
            }
        }
        // A started task the step parked and nobody waits for (the process
        // was stopped, failed or returned instead of suspending): handler
        // code, dropped under a guard.
        if let Some(parked) = parked {
            drop_task(parked.task, pid);
        }
    }

    /// A process whose step ran well past its slice (inside code that
    /// cannot yield, such as a `table.sort` comparator, for up to the
    /// unyielding limit) owes the others that many turns, however the
    /// step ended (preempted, `coroutine.yield`, a command): otherwise one
    /// that spends just under the limit there at every step, and yields
    /// in between, kept almost all of its worker's CPU.
    fn charge_overrun(&mut self, pid: Pid) {
        let over = self.shared.preempt.slices_over(self.index);
        // The usual step: no overrun, and no process owing anything, so
        // there is nothing to change (and no lookup on every step).
        if over == 0 && self.owing == 0 {
            return;
        }
        self.set_owed(pid, over);
    }

    /// Sets the turns `pid` owes (at most `MAX_OWED`), keeping `owing`.
    fn set_owed(&mut self, pid: Pid, turns: u64) {
        if let Some(p) = self.procs.get_mut(&pid) {
            let owed = u32::try_from(turns.min(MAX_OWED)).unwrap_or(u32::MAX);
            match (p.owed > 0, owed > 0) {
                (false, true) => self.owing += 1,
                (true, false) => self.owing -= 1,
                _ => {}
            }
            p.owed = owed;
        }
    }

    /// Whether `pid`, next in line with others behind it, gives its turn
    /// up (one of those it owes). A process that must stop never does:
    /// its stop would wait for the others.
    fn owes_turn(&mut self, pid: Pid) -> bool {
        let Some(p) = self.procs.get_mut(&pid) else {
            return false;
        };
        if p.owed == 0 {
            return false;
        }
        if self.shared.preempt.must_stop(pid) {
            p.owed = 0;
            self.owing -= 1;
            return false;
        }
        p.owed -= 1;
        if p.owed == 0 {
            self.owing -= 1;
        }
        true
    }

    /// Waits, off the worker, for the handler the process's export
    /// started and parked (it did not answer at once).
    fn dispatch(&mut self, pid: Pid, parked: Parked) {
        let Parked { mut task, map } = parked;
        let Some(p) = self.procs.get_mut(&pid) else {
            drop_task(task, pid);
            return;
        };
        p.generation += 1;
        p.map = map;
        p.waiting = true;
        let generation = p.generation;
        let cancel = p.cancel.clone();
        let tx = self.tx.clone();
        self.shared.tokio.spawn(async move {
            let finished = tokio::select! {
                () = crate::command::ready(&mut task) => true,
                () = cancel.cancelled() => false,
            };
            if finished {
                let _ = tx.send(Msg::Complete {
                    pid,
                    generation,
                    task,
                });
            }
        });
    }

    fn finish(&mut self, pid: Pid, result: Result<MultiValue, Error>) {
        let Some(mut p) = self.procs.remove(&pid) else {
            return;
        };
        if p.owed > 0 {
            self.owing -= 1;
        }
        self.shared.preempt.forget(pid);
        p.cancel.cancel();
        if let Some(ended) = &p.ended {
            ended.cancel();
        }
        self.close(pid, &mut p);
        p.held.drop_all();
        // A finished task not delivered yet (the process ended between its
        // completion and its next step) and a `Then` mapping: handler and
        // module code, dropped under a guard.
        if let Some(task) = p.result.take() {
            drop_task(task, pid);
        }
        if let Some(map) = p.map.take()
            && let Err(payload) = catch_unwind(AssertUnwindSafe(|| drop(map)))
        {
            std::mem::forget(payload);
        }
        // Host code: a panic in it is reported, never allowed to end the
        // worker (every other process on it would be lost). It may run the
        // script's code (a `FromLua` reading through `__index`), so it runs
        // as a step of the process: the unyielding limit and a shutdown
        // stop that code as any other.
        let step = self.shared.preempt.enter_step(self.index, pid, p.state);
        let lua = &self.lua;
        if let Some(hook) = &self.shared.on_complete {
            let done = Completed::new(pid, lua, result.as_ref());
            if catch_unwind(AssertUnwindSafe(|| hook(done))).is_err() {
                eprintln!(
                    "luamod: the on_complete hook panicked for process {pid}; the worker goes on"
                );
            }
        }
        // After the hook (which may spawn a child of this process), before
        // whoever waits hears of it.
        self.forget_context(pid);
        if let Some(done) = p.done.take()
            && catch_unwind(AssertUnwindSafe(|| done(lua, result))).is_err()
        {
            eprintln!("luamod: the completion of process {pid} panicked; the worker goes on");
        }
        self.collect_if_full();
        drop(step);
        // A stop the step's code earned (the unyielding limit).
        self.shared.preempt.forget(pid);
    }
}

impl Worker {
    /// Runs two full collections, finalizers included, when the state is
    /// past seven eighths of its memory limit and has either refused an
    /// allocation or grown by an eighth of the limit since the last such
    /// collection. Lua's own collection on a failed allocation is an
    /// emergency one, which runs no finalizer and so frees no userdata: a
    /// process that fills the state with objects (error values, say) and
    /// ends would otherwise leave every later process on the worker out of
    /// memory. The allocator's own count of refusals is the signal (a
    /// script can raise "not enough memory" itself), and usage past seven
    /// eighths the condition, so that a refusal of one huge request in a
    /// half-empty state, or a state whose live data sits near the limit,
    /// does not make the worker collect after every process.
    ///
    /// Finalizers run with hooks off: a script's `__gc` (only with
    /// `Sandbox::allow_finalizers`) that loops holds the worker here, as
    /// it would in any collection.
    fn collect_if_full(&self) {
        let Some(limit) = self.shared.memory_limit else {
            return;
        };
        // Objects' Rust memory too: garbage that holds it is freed by the
        // same finalizers.
        let used = self.memory.used().saturating_add(self.memory.external());
        // Grown from the lowest usage seen since, not from a high mark
        // that the collector's own work has left behind.
        if used < self.collected_to.get() {
            self.collected_to.set(used);
        }
        let refusals = self.memory.refusals();
        let refused = refusals != self.refusals_seen.get();
        let grown = used - self.collected_to.get() >= limit / 8;
        if used > limit / 8 * 7 && (refused || grown) {
            // Twice: the first runs the finalizers, and the objects they
            // finalized are freed by the next. `gc_collect` fails only
            // when there is no stack room for it; nothing to hand on.
            let _ = self.lua.gc_collect();
            let _ = self.lua.gc_collect();
            self.memory.collected();
            self.collected_to
                .set(self.memory.used().saturating_add(self.memory.external()));
            self.refusals_seen.set(self.memory.refusals());
        }
    }

    /// The full collection the allocator asked for when it let a request
    /// through that only objects' external memory stood in the way of
    /// (see `AllocState::refuse`), for `pid`'s objects. Between steps:
    /// finalizers run in no process's context. It takes time in
    /// proportion to the whole heap, and a script can set one off at
    /// every step: its whole slices are owed by `pid`, as an overrun of
    /// its step would be.
    #[cold]
    fn collect_for_external(&mut self, pid: Pid) {
        let started = std::time::Instant::now();
        let _ = self.lua.gc_collect();
        self.memory.collected();
        let slices = self.shared.preempt.slices_in(started.elapsed());
        if slices > 0 {
            let owed = self.procs.get(&pid).map_or(0, |p| u64::from(p.owed));
            self.set_owed(pid, owed + slices);
        }
    }

    /// Drops the context entry of a process that ended (children can no
    /// longer inherit from it).
    fn forget_context(&self, pid: Pid) {
        if let Ok(mut m) = self.shared.contexts.lock() {
            m.remove(&pid);
        }
    }

    /// The factory of `script`'s main functions, loaded once per worker.
    fn factory(&mut self, script: &super::script::Script) -> mlua::Result<mlua::Function> {
        if let Some(f) = self.scripts.get(&script.id()) {
            return Ok(f.clone());
        }
        // Scripts a host dropped stay cached until the cache is full; then
        // it starts over (a host with many live scripts reloads some).
        const MAX_SCRIPTS: usize = 256;
        if self.scripts.len() >= MAX_SCRIPTS {
            self.scripts.clear();
        }
        let f = load_compiled(&self.lua, script.bytecode())?;
        self.scripts.insert(script.id(), f.clone());
        Ok(f)
    }

    /// Closes a process that did not return, as `coroutine.close` would:
    /// its pending to-be-closed variables run (in their own step, under
    /// the same time budget as any step that cannot yield; their errors are
    /// ignored, the process's result stands). Those of the coroutines it
    /// waits inside (their yield passed up to the scheduler) run first,
    /// innermost first, as an unwinding would reach them.
    ///
    /// While they run, the process's thread and those coroutines can be
    /// neither resumed nor closed by them (`runtime/closing.rs`): a
    /// handler could otherwise run the process on after its end, or drop
    /// the frames that keep the coroutines still to close alive.
    ///
    /// Not for a process whose last step ended with the preemption hook
    /// raising a stop error, on any of its threads: an error raised in a
    /// hook leaves that thread's hooks off for good, so handlers run there
    /// (its own, or through a handler that closes it) could loop
    /// unstoppably. Such a process was computing, not waiting, when it was
    /// stopped.
    fn close(&mut self, pid: Pid, p: &mut Proc) {
        if p.hook_raised {
            return;
        }
        match p.thread.status() {
            ThreadStatus::Resumable | ThreadStatus::Error => {}
            _ => return,
        }
        let main = WORKER_STATE.with(|w| w.get());
        let (running, state) = enter(&self.shared.preempt, self.index, pid, p);
        // SAFETY: `state` is the process's thread, alive (we hold it), not
        // running, on this worker; lua_closethread runs the handlers in
        // protected mode and never raises; the handlers cannot yield (Lua
        // calls them as non-yieldable). It leaves the thread empty.
        unsafe {
            // SAFETY: `state` is suspended or dead here, `main` idle (no
            // Lua code runs on it between steps). The coroutines found are
            // anchored on `main`'s stack (lua_checkstack reports a failure
            // instead of raising; then they are not closed), so they live
            // until all are closed whatever their handlers do to the
            // frames that held them; `closing` refuses resuming or closing
            // them (and `state`) meanwhile. Innermost first, each as the
            // preemption signal's target; once a handler has run past the
            // budget (the process must stop), the rest are skipped, as
            // `coroutine.close` skips them then.
            let chain = super::coroutines::waiting_inside(state);
            let base = mlua::ffi::lua_gettop(main);
            let anchored = mlua::ffi::lua_checkstack(main, chain.len() as std::ffi::c_int) != 0
                && chain
                    .iter()
                    .all(|&co| mlua::ffi::lua_checkstack(co, 1) != 0);
            if anchored {
                for &co in &chain {
                    mlua::ffi::lua_pushthread(co);
                    mlua::ffi::lua_xmove(co, main, 1);
                }
            }
            let chain: &[_] = if anchored { &chain } else { &[] };
            let _closing = super::closing::closing(state, chain);
            for &co in chain.iter().rev() {
                if super::preempt::stopping() {
                    break;
                }
                let prev = super::preempt::switch_target(co);
                crate::ffi::close_thread(co, main);
                super::preempt::switch_target(prev);
            }
            crate::ffi::close_thread(state, main);
            mlua::ffi::lua_settop(main, base);
        }
        p.context = running.leave();
        // A handler that tried to wait left nothing to dispatch.
        if let Some(parked) = take_parked() {
            drop_task(parked.task, pid);
        }
        self.shared.preempt.forget(pid);
    }
}

/// What a process's Lua code runs inside, entered for a step or for its
/// closing: its security context, its random generator, the set of its
/// pending continuations and the preemption step. Fields drop in order:
/// the step ends first, the context last.
struct Running<'a> {
    _step: super::preempt::StepGuard<'a>,
    _held: abandon::Entered,
    _rng: crate::sandbox::random::Entered,
    _context: crate::security::current::Entered,
}

impl Running<'_> {
    /// Leaves the process, in the fields' order; gives back its security
    /// context for the process to keep until its next step.
    fn leave(self) -> Option<Arc<Context>> {
        let Running {
            _step,
            _held,
            _rng,
            _context,
        } = self;
        drop(_step);
        drop(_held);
        drop(_rng);
        _context.leave()
    }
}

/// Enters `p` (see [`Running`]); also returns its Lua thread.
fn enter<'a>(
    preempt: &'a super::preempt::Preempt,
    index: usize,
    pid: Pid,
    p: &mut Proc,
) -> (Running<'a>, *mut mlua::ffi::lua_State) {
    // Its own context, moved in (and back when the step ends). It is
    // missing only after a step unwound, which ends the worker first; if
    // it ever were, the process would be denied everything, not allowed.
    let context = p
        .context
        .take()
        .unwrap_or_else(|| Arc::new(Context::none().clone()));
    let context = crate::security::current::enter(context);
    let rng = crate::sandbox::random::enter(&mut p.rng);
    let held = abandon::enter(p.held.clone());
    let state = p.state;
    let step = preempt.enter_step(index, pid, state);
    (
        Running {
            _step: step,
            _held: held,
            _rng: rng,
            _context: context,
        },
        state,
    )
}

pub(crate) fn shutting_down() -> LuaError {
    LuaError::new(ErrorKind::Canceled, "the runtime is shutting down")
}
