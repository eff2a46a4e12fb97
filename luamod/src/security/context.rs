//! [`Context`]: what a process runs as (its kind, actor and scope), and
//! [`ContextKind`], which decides the module classes it may bind.

use std::sync::{Arc, LazyLock};

use super::actor::Actor;
use super::class::Class;
use super::policy::Policy;
use super::scope::{Decision, Scope};
use crate::error::{ErrorKind, LuaError};

/// Where a process runs; decides which module classes it may bind.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ContextKind {
    /// A short function call.
    Function,
    /// An ordinary process (the default).
    #[default]
    Process,
    /// A replayable workflow: no module with a class that reaches the
    /// outside world or differs between runs (see `barred_classes`).
    Workflow,
}

impl ContextKind {
    /// The module classes that keep a module out of this context: a
    /// workflow replays, so it binds no module that reaches the outside
    /// world or differs between runs.
    pub fn barred_classes(self) -> &'static [Class] {
        match self {
            ContextKind::Workflow => &[
                Class::Nondeterministic,
                Class::Io,
                Class::Network,
                Class::Storage,
                Class::Time,
                Class::Process,
            ],
            _ => &[],
        }
    }

    /// Refuses a module (its name and classes) if any of its classes is
    /// barred here (`class(deterministic, io)` cannot run in a workflow),
    /// with a `PermissionDenied` error naming the module and the class.
    ///
    /// ```
    /// use luamod::{Class, ContextKind};
    /// assert!(ContextKind::Workflow.admit("json", &[Class::Encoding, Class::Deterministic]).is_ok());
    /// let e = ContextKind::Workflow.admit("db", &[Class::Deterministic, Class::Io]).unwrap_err();
    /// assert!(e.message().contains("'db'") && e.message().contains("class io"));
    /// ```
    pub fn admit(self, module: &str, classes: &[Class]) -> Result<(), LuaError> {
        let barred = self.barred_classes();
        let Some(bar) = classes.iter().find(|c| barred.contains(c)) else {
            return Ok(());
        };
        let names = |cs: &[Class]| cs.iter().map(|c| c.as_str()).collect::<Vec<_>>().join(", ");
        Err(LuaError::new(
            ErrorKind::PermissionDenied,
            format!(
                "module '{}' (classes: {}) cannot be bound in a {:?} context: its class {} reaches the outside world or differs between runs",
                module,
                names(classes),
                self,
                bar.as_str()
            ),
        )
        .with_retryable(false))
    }
}

/// What a process runs as: its kind, actor and scope.
#[derive(Debug, Clone, Default)]
pub struct Context {
    /// Where it runs.
    pub kind: ContextKind,
    /// Who it acts for (`None`: nobody, so everything is denied).
    pub actor: Option<Actor>,
    /// What it may do.
    pub scope: Arc<Scope>,
}

static NO_CONTEXT: LazyLock<Context> = LazyLock::new(Context::default);

impl Context {
    /// A process context for `actor` with an empty (deny-all) scope.
    pub fn new(actor: Actor) -> Self {
        Context {
            kind: ContextKind::Process,
            actor: Some(actor),
            scope: Arc::new(Scope::new()),
        }
    }

    /// The context of code that has none: denies every permission.
    pub fn none() -> &'static Context {
        &NO_CONTEXT
    }

    /// Adds a policy to the scope.
    pub fn with_policy(mut self, p: Policy) -> Self {
        let mut s = (*self.scope).clone();
        s.push(p);
        self.scope = Arc::new(s);
        self
    }

    /// A child context: same kind and actor, scope narrowed by `narrowing`
    /// (see [`Scope::narrowed`]: generations of children that narrow
    /// nothing add nothing to evaluate).
    pub fn child(&self, narrowing: Vec<Policy>) -> Context {
        Context {
            kind: self.kind,
            actor: self.actor.clone(),
            scope: Arc::new(self.scope.narrowed(narrowing)),
        }
    }

    /// Checks that the actor may perform `action` on `resource`; otherwise
    /// a `PermissionDenied` error (not retryable) naming both.
    pub fn check(&self, action: &str, resource: impl std::fmt::Display) -> Result<(), LuaError> {
        let resource = resource.to_string();
        let denied = |why: &str| {
            Err(LuaError::new(
                ErrorKind::PermissionDenied,
                format!("permission denied: {why} '{action}' on '{resource}'"),
            )
            .with_retryable(false)
            .with_detail("action", action)
            .with_detail("resource", resource.as_str()))
        };
        let Some(actor) = &self.actor else {
            return denied("no actor may perform");
        };
        match self.scope.evaluate(actor, action, &resource) {
            Decision::Allow => Ok(()),
            Decision::Deny => denied(&format!("a policy forbids actor '{}' to perform", actor.id)),
            Decision::Undefined => {
                denied(&format!("no policy allows actor '{}' to perform", actor.id))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Children with nothing to narrow add no layer: a million
    /// generations of them are one layer over the root, to evaluate and to
    /// drop; a policy added to one still only narrows.
    #[test]
    fn children_without_narrowing_add_no_layers() {
        let root = Context::new(Actor::new("a")).with_policy(Policy::allow("x"));
        let mut c = root.child(Vec::new());
        for _ in 0..1_000_000 {
            c = c.child(Vec::new());
        }
        assert_eq!(c.scope.depth(), 1);
        assert!(c.check("x", "r").is_ok());
        let narrowed = c.child(Vec::new()).with_policy(Policy::allow("y"));
        assert!(narrowed.check("y", "r").is_err(), "a child gains nothing");
    }
}
