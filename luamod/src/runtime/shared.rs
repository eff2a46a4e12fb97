//! What every worker of a runtime shares: its modules, the dispatch table,
//! the handler pool, the completion hook and the contexts of live
//! processes.

use std::sync::Arc;

use mlua::{FromLuaMulti, Lua, MultiValue};

use super::dispatch;
use super::preempt::Preempt;
use crate::command::Pid;
use crate::error::Error;
use crate::module::ModuleDef;
use crate::sandbox::Sandbox;

pub(crate) type Hook = Box<dyn Fn(Completed<'_>) + Send + Sync>;

/// A finished process, as the `on_complete` hook sees it (on the worker
/// thread, before anyone waiting on the process is told).
pub struct Completed<'a> {
    /// The process.
    pub pid: Pid,
    /// What it returned (Lua values of the worker's state), or its error.
    pub result: Result<&'a MultiValue, &'a Error>,
    lua: &'a Lua,
}

impl<'a> Completed<'a> {
    pub(crate) fn new(pid: Pid, lua: &'a Lua, result: Result<&'a MultiValue, &'a Error>) -> Self {
        Completed { pid, result, lua }
    }

    /// The returned values converted to `R`, or the process's error.
    ///
    /// The values are weighed first as [`Runtime::run`] weighs them, with
    /// its default limits ([`SpawnOptions::RESULT_LIMIT`],
    /// [`SpawnOptions::RESULT_DEPTH`]); convert
    /// [`result`](Self::result) yourself to read more.
    ///
    /// [`Runtime::run`]: super::Runtime::run
    /// [`SpawnOptions::RESULT_LIMIT`]: super::SpawnOptions::RESULT_LIMIT
    /// [`SpawnOptions::RESULT_DEPTH`]: super::SpawnOptions::RESULT_DEPTH
    pub fn values<R: FromLuaMulti + 'static>(&self) -> Result<R, Error> {
        match self.result {
            Ok(v) => super::results::convert::<R>(self.lua, v.clone(), super::results::LIMIT),
            Err(e) => Err(e.clone()),
        }
    }
}

/// What every worker shares.
pub(crate) struct Shared {
    pub modules: Vec<&'static ModuleDef>,
    pub dispatch: dispatch::Table,
    pub tokio: tokio::runtime::Handle,
    pub on_complete: Option<Hook>,
    /// What processes' standard library offers.
    pub sandbox: Sandbox,
    /// Time slices and stop requests.
    pub preempt: Arc<Preempt>,
    /// The most bytes each worker's Lua state may hold.
    pub memory_limit: Option<usize>,
    /// Bind modules as globals too.
    pub globals: bool,
    /// The modules' states.
    pub states: crate::command::States,
    /// Contexts of live processes, for children that inherit them: the
    /// spawning side inserts, the worker removes when the process ends.
    pub contexts: std::sync::Mutex<super::idmap::IdMap<Pid, Arc<crate::security::Context>>>,
}
