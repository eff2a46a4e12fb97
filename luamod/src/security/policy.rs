//! [`Policy`]: a rule allowing or denying actions on resources.

use std::collections::BTreeMap;

use super::actor::Actor;

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

    pub(crate) fn applies(&self, actor: &Actor, action: &str, resource: &str) -> bool {
        self.actions.iter().any(|p| p.matches(action))
            && self.resources.iter().any(|p| p.matches(resource))
            && self.actors.iter().any(|p| p.matches(&actor.id))
            && self.meta.iter().all(|(k, v)| actor.meta.get(k) == Some(v))
    }
}
