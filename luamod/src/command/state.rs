//! Module state: what a host configures a module with when it adds it to
//! a runtime (`Builder::module_with`) or binds it to a plain state
//! (`ModuleDef::bind_with`). Exports receive it as a `cfg: &T` parameter,
//! command handlers through [`super::HandlerCx::state`]. One value per
//! state type, per runtime: two runtimes in one process can configure the
//! same module differently.

use std::any::{Any, TypeId};
use std::collections::HashMap;
use std::sync::Arc;

/// A state value, shared by every worker of a runtime.
pub type StateValue = Arc<dyn Any + Send + Sync>;

/// The states of the modules bound to one runtime or Lua state, by type.
#[derive(Clone, Default)]
pub struct States(Arc<HashMap<TypeId, StateValue>>);

impl States {
    /// The state of type `T`, if one was given or defaulted.
    pub fn get<T: Any + Send + Sync>(&self) -> Option<Arc<T>> {
        self.0
            .get(&TypeId::of::<T>())
            .cloned()
            .and_then(|v| v.downcast::<T>().ok())
    }

    /// A copy with `value` as the state of its type (replacing one).
    pub(crate) fn with(&self, type_id: TypeId, value: StateValue) -> States {
        let mut map = (*self.0).clone();
        map.insert(type_id, value);
        States(Arc::new(map))
    }

    /// Whether a state of this type is present.
    pub(crate) fn has(&self, type_id: TypeId) -> bool {
        self.0.contains_key(&type_id)
    }
}

impl std::fmt::Debug for States {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("States")
            .field("count", &self.0.len())
            .finish()
    }
}

/// What `#[luamod::module(state = T)]` records: the state's type and its
/// default (`T::default()`), used when the host gives none.
#[derive(Debug)]
pub struct StateDef {
    /// `T` as written, for messages.
    pub type_name: &'static str,
    /// `TypeId::of::<T>`.
    pub type_id: fn() -> TypeId,
    /// `Arc::new(T::default())`.
    pub default: fn() -> StateValue,
}
