//! Contexts and permissions: who runs a process ([`Actor`]), what it may do
//! ([`Scope`] of [`Policy`]s), and where it runs ([`ContextKind`]).
//!
//! Secure by default: a context with no actor, or a scope with no policy
//! that allows an action, denies it. Any matching deny wins over any allow.
//!
//! ```
//! use luamod::security::{Actor, Context, Policy};
//! let ctx = Context::new(Actor::new("alice"))
//!     .with_policy(Policy::allow("fs.*").on("/tmp/*"))
//!     .with_policy(Policy::deny("fs.write").on("/tmp/locked/*"));
//! assert!(ctx.check("fs.read", "/tmp/a").is_ok());
//! assert!(ctx.check("fs.write", "/tmp/locked/b").is_err());
//! assert!(ctx.check("net.get", "x").is_err()); // nothing allows it
//! ```

use std::collections::BTreeMap;
use std::sync::{Arc, LazyLock};

use crate::error::{ErrorKind, LuaError};

/// Where a process runs; decides which module classes it may bind.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ContextKind {
    /// A short function call.
    Function,
    /// An ordinary process (the default).
    #[default]
    Process,
    /// A replayable workflow: only `deterministic` or `workflow` modules.
    Workflow,
}

impl ContextKind {
    /// The module classes this context accepts (`None`: any).
    pub fn allowed_classes(self) -> Option<&'static [crate::Class]> {
        match self {
            ContextKind::Workflow => Some(&[crate::Class::Deterministic, crate::Class::Workflow]),
            _ => None,
        }
    }

    /// Refuses `m` unless it has one of the allowed classes (a workflow
    /// binds modules classed `deterministic` or `workflow`, such as `json`
    /// with `encoding, deterministic`), with a `PermissionDenied` error
    /// naming the module, its classes and the allowed ones.
    pub fn admit(self, m: &crate::ModuleDef) -> Result<(), LuaError> {
        let Some(allowed) = self.allowed_classes() else {
            return Ok(());
        };
        if m.classes.iter().any(|c| allowed.contains(c)) {
            return Ok(());
        }
        let names =
            |cs: &[crate::Class]| cs.iter().map(|c| c.as_str()).collect::<Vec<_>>().join(", ");
        Err(LuaError::new(
            ErrorKind::PermissionDenied,
            format!(
                "module '{}' (classes: {}) cannot be bound in a {:?} context, which allows only modules of class {}",
                m.name,
                names(m.classes),
                self,
                names(allowed).replace(", ", " or ")
            ),
        )
        .with_retryable(false))
    }
}

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

/// `*` (anything), `prefix*` (starts with `prefix`, so `fs.*` matches
/// `fs.read`), or an exact name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pattern(String);

impl Pattern {
    /// Whether `s` matches.
    pub fn matches(&self, s: &str) -> bool {
        match self.0.strip_suffix('*') {
            Some(prefix) => s.starts_with(prefix),
            None => self.0 == s,
        }
    }
}

/// One or more patterns.
pub trait IntoPatterns {
    /// The patterns.
    fn into_patterns(self) -> Vec<Pattern>;
}

impl IntoPatterns for &str {
    fn into_patterns(self) -> Vec<Pattern> {
        vec![Pattern(self.to_owned())]
    }
}

impl IntoPatterns for String {
    fn into_patterns(self) -> Vec<Pattern> {
        vec![Pattern(self)]
    }
}

impl<const N: usize> IntoPatterns for [&str; N] {
    fn into_patterns(self) -> Vec<Pattern> {
        self.iter().map(|s| Pattern((*s).to_owned())).collect()
    }
}

impl IntoPatterns for Vec<String> {
    fn into_patterns(self) -> Vec<Pattern> {
        self.into_iter().map(Pattern).collect()
    }
}

/// Allow or deny.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Effect {
    /// Permit matching requests.
    Allow,
    /// Refuse matching requests, whatever else allows them.
    Deny,
}

/// A rule: an effect on actions and resources, optionally only for some
/// actors.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Policy {
    /// Allow or deny.
    pub effect: Effect,
    /// Actions it covers.
    pub actions: Vec<Pattern>,
    /// Resources it covers (default `*`).
    pub resources: Vec<Pattern>,
    /// Actor ids it applies to (default: all).
    pub actors: Vec<Pattern>,
    /// Actor attributes that must all be equal (default: none).
    pub meta: BTreeMap<String, String>,
}

impl Policy {
    fn new(effect: Effect, actions: impl IntoPatterns) -> Self {
        Policy {
            effect,
            actions: actions.into_patterns(),
            resources: "*".into_patterns(),
            actors: "*".into_patterns(),
            meta: BTreeMap::new(),
        }
    }

    /// Allows `actions` (on any resource until [`on`](Self::on)).
    pub fn allow(actions: impl IntoPatterns) -> Self {
        Self::new(Effect::Allow, actions)
    }

    /// Denies `actions` (on any resource until [`on`](Self::on)).
    pub fn deny(actions: impl IntoPatterns) -> Self {
        Self::new(Effect::Deny, actions)
    }

    /// Allows every action on every resource: an explicit opt-out of
    /// security for trusted code.
    pub fn allow_all() -> Self {
        Self::allow("*")
    }

    /// Restricts the policy to `resources`.
    pub fn on(mut self, resources: impl IntoPatterns) -> Self {
        self.resources = resources.into_patterns();
        self
    }

    /// Restricts the policy to actors whose id matches.
    pub fn for_actors(mut self, ids: impl IntoPatterns) -> Self {
        self.actors = ids.into_patterns();
        self
    }

    /// Restricts the policy to actors with `key = value` in their meta.
    pub fn when_meta(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.meta.insert(key.into(), value.into());
        self
    }

    fn applies(&self, actor: &Actor, action: &str, resource: &str) -> bool {
        self.actions.iter().any(|p| p.matches(action))
            && self.resources.iter().any(|p| p.matches(resource))
            && self.actors.iter().any(|p| p.matches(&actor.id))
            && self.meta.iter().all(|(k, v)| actor.meta.get(k) == Some(v))
    }
}

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
        s.policies.push(p);
        self.scope = Arc::new(s);
        self
    }

    /// A child context: same kind and actor, scope narrowed by `narrowing`.
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
