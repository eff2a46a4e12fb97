//! What every worker of a runtime shares: its modules, the dispatch table,
//! the handler pool and the completion hook.

use std::sync::Arc;

use super::dispatch;
use super::preempt::Preempt;
use crate::command::Pid;
use crate::error::Error;
use crate::module::ModuleDef;
use crate::sandbox::Sandbox;

pub(crate) type Hook = Box<dyn Fn(Pid, &Result<(), Error>) + Send + Sync>;

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
}
