//! Contexts and permissions: who runs a process ([`Actor`]), what it may do
//! ([`Scope`] of [`Policy`]s), where it runs ([`ContextKind`]), what a
//! module may touch ([`Class`]), and which context the running code has
//! ([`current`]).
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

mod actor;
mod class;
mod context;
pub mod current;
mod policy;
mod scope;

pub use actor::Actor;
pub use class::Class;
pub use context::{Context, ContextKind};
pub use policy::{Effect, IntoPatterns, Pattern, Policy};
pub use scope::{Decision, Scope};
