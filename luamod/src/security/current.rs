//! Which security context the running code has: the runtime process's
//! (set by the scheduler around each step), else the one a host set on a
//! plain state, else none (every permission denied).
//!
//! The runtime sets it; exports read it. Nothing here knows about either.

use std::cell::RefCell;
use std::sync::Arc;

use super::context::Context;

thread_local! {
    static CURRENT: RefCell<Option<Arc<Context>>> = const { RefCell::new(None) };
}

/// Makes `ctx` the context of code running on this thread until the
/// returned guard is dropped (the previous one is restored).
#[must_use = "the context is current only while the guard lives"]
pub(crate) fn enter(ctx: Arc<Context>) -> Entered {
    let prev = CURRENT.with(|c| c.replace(Some(ctx)));
    Entered { prev }
}

/// Restores the previous context when dropped.
pub(crate) struct Entered {
    prev: Option<Arc<Context>>,
}

impl Entered {
    /// Restores the previous context and gives back the one entered (a
    /// move: no reference count changes).
    pub(crate) fn leave(mut self) -> Option<Arc<Context>> {
        let prev = self.prev.take();
        let current = CURRENT.with(|c| c.replace(prev));
        // Nothing left to restore: `Drop` would clear the restored one.
        std::mem::forget(self);
        current
    }
}

impl Drop for Entered {
    fn drop(&mut self) {
        let prev = self.prev.take();
        CURRENT.with(|c| *c.borrow_mut() = prev);
    }
}

/// Leaves the entered context until the returned guard is dropped (it is
/// restored then): for host code, such as a handler's first poll, that
/// runs during a process's step but is not the process's code.
#[must_use = "the context is left only while the guard lives"]
pub(crate) fn leave_for_a_while() -> Entered {
    Entered {
        prev: CURRENT.with(|c| c.replace(None)),
    }
}

/// The context entered on this thread, if any (a process's, during its
/// step).
pub(crate) fn entered() -> Option<Arc<Context>> {
    CURRENT.with(|c| c.borrow().clone())
}

/// Whether the code running on this thread is a workflow process.
pub(crate) fn in_workflow() -> bool {
    CURRENT.with(|c| {
        c.borrow()
            .as_ref()
            .is_some_and(|ctx| ctx.kind == super::context::ContextKind::Workflow)
    })
}

/// The context of the code running on this thread in `lua`: the runtime
/// process's, else the plain state's ([`set`]), else none.
pub fn of(lua: &mlua::Lua) -> Arc<Context> {
    CURRENT
        .with(|c| c.borrow().clone())
        .or_else(|| lua.app_data_ref::<Arc<Context>>().map(|c| c.clone()))
        .unwrap_or_else(|| Arc::new(Context::none().clone()))
}

/// Sets the security context of a plain state (one made by
/// `luamod::lua_with`); permission checks in its exports use it. Without
/// one, they deny.
pub fn set(lua: &mlua::Lua, ctx: Context) {
    lua.set_app_data(Arc::new(ctx));
}
