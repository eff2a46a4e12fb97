//! What every worker of a runtime shares: its modules, the dispatch table,
//! the handler pool and the completion hook.

use super::dispatch;
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
}
