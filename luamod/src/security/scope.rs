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
    /// How many parents it has.
    depth: usize,
    /// Narrowed past [`MAX_DEPTH`](Self::MAX_DEPTH): denies everything,
    /// whatever is added to it.
    deny_all: bool,
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
        if self.deny_all {
            return Decision::Deny;
        }
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

    /// The most parents a scope has: past them, a narrowed scope denies
    /// everything (a child can only lose permissions). Evaluating and
    /// dropping a scope walk its parents recursively; a chain of children
    /// each spawning the next, narrowed every time, would otherwise grow
    /// without end and overflow the stack.
    pub const MAX_DEPTH: usize = 64;

    /// A child scope: the parent's permissions, restricted by `narrowing`
    /// (everything denied past [`MAX_DEPTH`](Self::MAX_DEPTH) parents).
    pub fn narrowed(self: &Arc<Self>, narrowing: Vec<Policy>) -> Scope {
        if self.deny_all || self.depth >= Self::MAX_DEPTH {
            return Scope {
                deny_all: true,
                ..Scope::new()
            };
        }
        // Nothing to narrow, and nothing of its own: the same scope as
        // `self`, one layer over `self`'s parent (generations of children
        // that narrow nothing add no layers).
        if narrowing.is_empty() && self.policies.is_empty() && self.parent.is_some() {
            return Scope {
                policies: Vec::new(),
                parent: self.parent.clone(),
                depth: self.depth,
                deny_all: false,
            };
        }
        Scope {
            policies: narrowing,
            parent: Some(self.clone()),
            depth: self.depth + 1,
            deny_all: false,
        }
    }

    /// How many parents it has.
    #[cfg(test)]
    pub(crate) fn depth(&self) -> usize {
        self.depth
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Generations of narrowed children stop adding parents: past
    /// `MAX_DEPTH` a child is denied everything, and a chain as long as a
    /// script could spawn evaluates and drops without deep recursion.
    #[test]
    fn narrowing_stops_at_the_depth_and_denies_past_it() {
        let actor = Actor::new("a");
        let mut scope = Arc::new(Scope::new().with(Policy::allow("x")));
        for generation in 1..=100_000 {
            scope = Arc::new(scope.narrowed(vec![Policy::allow("x")]));
            let allowed = scope.evaluate(&actor, "x", "r") == Decision::Allow;
            if generation <= 2 * Scope::MAX_DEPTH {
                assert_eq!(allowed, generation <= Scope::MAX_DEPTH, "{generation}");
            }
        }
        assert!(scope.depth <= Scope::MAX_DEPTH);
        assert_eq!(scope.evaluate(&actor, "x", "r"), Decision::Deny);
        // Adding a policy to a scope past the depth grants nothing.
        let mut past = (*scope).clone();
        past.push(Policy::allow("x"));
        assert_eq!(past.evaluate(&actor, "x", "r"), Decision::Deny);
    }
}
