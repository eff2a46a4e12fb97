//! [`Scope`]: a set of policies, evaluated with "any deny wins".

use std::sync::Arc;

use super::actor::Actor;
use super::policy::{Effect, Policy};

/// The outcome of evaluating a scope.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// Some policy allows it and none denies it.
    Allow,
    /// Some policy denies it.
    Deny,
    /// No policy says anything: treated as denied.
    Undefined,
}

/// A set of policies, optionally narrowing a parent scope: a child can only
/// lose permissions, never gain them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Scope {
    policies: Vec<Policy>,
    parent: Option<Arc<Scope>>,
}

impl Scope {
    /// An empty scope (denies everything).
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a policy.
    pub fn with(mut self, p: Policy) -> Self {
        self.policies.push(p);
        self
    }

    pub(crate) fn push(&mut self, p: Policy) {
        self.policies.push(p);
    }

    /// Whether the scope has no policy (and no parent).
    pub fn is_empty(&self) -> bool {
        self.policies.is_empty() && self.parent.is_none()
    }

    /// Evaluates: any deny wins, then any allow, else undefined. A narrowed
    /// scope also needs its parent's allow; with no policies of its own it
    /// inherits the parent's decision.
    pub fn evaluate(&self, actor: &Actor, action: &str, resource: &str) -> Decision {
        let own = {
            let matching = self
                .policies
                .iter()
                .filter(|p| p.applies(actor, action, resource));
            let mut d = Decision::Undefined;
            for p in matching {
                match p.effect {
                    Effect::Deny => return Decision::Deny,
                    Effect::Allow => d = Decision::Allow,
                }
            }
            d
        };
        match &self.parent {
            None => own,
            Some(parent) => match parent.evaluate(actor, action, resource) {
                Decision::Allow if self.policies.is_empty() => Decision::Allow,
                Decision::Allow => own,
                other => other,
            },
        }
    }

    /// A child scope: the parent's permissions, restricted by `narrowing`.
    pub fn narrowed(self: &Arc<Self>, narrowing: Vec<Policy>) -> Scope {
        Scope {
            policies: narrowing,
            parent: Some(self.clone()),
        }
    }
}
