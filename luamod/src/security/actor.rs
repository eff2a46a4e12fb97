//! [`Actor`]: who a process acts for.

use std::collections::BTreeMap;

/// Who a process acts for.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Actor {
    /// The actor's id.
    pub id: String,
    /// Free-form attributes policies may test (`role = admin`).
    pub meta: BTreeMap<String, String>,
}

impl Actor {
    /// An actor with no attributes.
    pub fn new(id: impl Into<String>) -> Self {
        Actor {
            id: id.into(),
            meta: BTreeMap::new(),
        }
    }

    /// Adds an attribute.
    pub fn with_meta(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.meta.insert(key.into(), value.into());
        self
    }
}
