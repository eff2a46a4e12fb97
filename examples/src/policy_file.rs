//! The demo's policy file (JSON), so the security model can be tried
//! without writing Rust:
//!
//! ```json
//! {
//!   "actor": { "id": "alice", "meta": { "role": "admin" } },
//!   "policies": [
//!     { "effect": "allow", "actions": ["fs.read", "fs.write"], "resources": ["/tmp/*"] },
//!     { "effect": "deny",  "actions": "fs.write", "resources": "/tmp/locked*" },
//!     { "effect": "allow", "actions": "greet.*", "actors": ["alice"], "meta": { "role": "admin" } }
//!   ]
//! }
//! ```
//!
//! `actions`, `resources` and `actors` take a string or a list of strings:
//! exact names, `prefix*` patterns or `*`. `resources` and `actors` default
//! to `*`. Any deny wins; nothing allowed means denied.

use luamod::{Actor, Policy};
use serde_json::Value;

fn strings(v: Option<&Value>, field: &str, i: usize) -> Result<Option<Vec<String>>, String> {
    match v {
        None => Ok(None),
        Some(Value::String(s)) => Ok(Some(vec![s.clone()])),
        Some(Value::Array(items)) => items
            .iter()
            .map(|x| {
                x.as_str()
                    .map(str::to_owned)
                    .ok_or_else(|| format!("policies[{i}].{field}: strings expected"))
            })
            .collect::<Result<Vec<_>, _>>()
            .map(Some),
        Some(_) => Err(format!(
            "policies[{i}].{field}: a string or a list of strings expected"
        )),
    }
}

/// Reads the actor and policies from `path`.
pub fn load(path: &str) -> Result<(Actor, Vec<Policy>), String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read policy file {path}: {e}"))?;
    let v: Value = serde_json::from_str(&text).map_err(|e| {
        format!(
            "{path}: invalid JSON at line {} column {}: {e}",
            e.line(),
            e.column()
        )
    })?;
    let actor = v
        .get("actor")
        .ok_or_else(|| format!("{path}: missing \"actor\""))?;
    let id = actor
        .get("id")
        .and_then(Value::as_str)
        .ok_or_else(|| format!("{path}: actor.id must be a string"))?;
    let mut a = Actor::new(id);
    if let Some(meta) = actor.get("meta").and_then(Value::as_object) {
        for (k, val) in meta {
            let s = val
                .as_str()
                .ok_or_else(|| format!("{path}: actor.meta.{k} must be a string"))?;
            a = a.with_meta(k.as_str(), s);
        }
    }
    let mut policies = Vec::new();
    let list = v
        .get("policies")
        .and_then(Value::as_array)
        .ok_or_else(|| format!("{path}: \"policies\" must be a list"))?;
    for (i, p) in list.iter().enumerate() {
        let actions = strings(p.get("actions"), "actions", i)?
            .ok_or_else(|| format!("{path}: policies[{i}].actions is required"))?;
        let mut policy = match p.get("effect").and_then(Value::as_str) {
            Some("allow") => Policy::allow(actions),
            Some("deny") => Policy::deny(actions),
            _ => {
                return Err(format!(
                    "{path}: policies[{i}].effect must be \"allow\" or \"deny\""
                ));
            }
        };
        if let Some(r) = strings(p.get("resources"), "resources", i)? {
            policy = policy.on(r);
        }
        if let Some(a) = strings(p.get("actors"), "actors", i)? {
            policy = policy.for_actors(a);
        }
        if let Some(meta) = p.get("meta").and_then(Value::as_object) {
            for (k, val) in meta {
                let s = val
                    .as_str()
                    .ok_or_else(|| format!("{path}: policies[{i}].meta.{k} must be a string"))?;
                policy = policy.when_meta(k.as_str(), s);
            }
        }
        policies.push(policy);
    }
    Ok((a, policies))
}
