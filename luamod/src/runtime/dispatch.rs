//! The dispatch table: command id → handler. Built once, when the runtime
//! is built, and never changed afterwards.

use std::sync::Arc;

use super::idmap::IdMap;
use crate::command::{CommandId, ErasedHandler};

/// The dispatch table: command id → handler.
#[derive(Default, Clone)]
pub(crate) struct Table {
    map: IdMap<CommandId, Arc<dyn ErasedHandler>>,
}

impl Table {
    pub fn get(&self, id: CommandId) -> Option<&Arc<dyn ErasedHandler>> {
        self.map.get(&id)
    }

    pub fn insert(&mut self, h: Arc<dyn ErasedHandler>) {
        let (id, _) = h.command();
        self.map.insert(id, h);
    }

    pub fn contains(&self, id: CommandId) -> Option<&'static str> {
        self.map.get(&id).map(|h| h.command().1)
    }
}
