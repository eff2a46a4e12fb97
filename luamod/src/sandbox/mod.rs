//! The sandbox: what the standard library offers code the host does not
//! trust. Every runtime process runs in one (strict by default); a plain
//! state can be put in one with [`apply`].
//!
//! Secure by default, in the spirit of Luau's sandbox: no `io`, `os` reduced
//! to `time`, `clock`, `date` and `difftime`, no file loading, `load`
//! compiles text only, no `string.dump`, `require` finds bound modules and
//! the standard libraries only, `collectgarbage` answers `"count"` only,
//! `print` goes to a host hook, no finalizers, and every shared table is
//! frozen. A host opts in to more, capability by capability ([`Sandbox`]).
//!
//! Also here: `math.random` with a generator per process ([`random`]), so
//! processes cannot observe or steer each other's sequence and a workflow's
//! is seeded by the host. And versions of the library's long C loops that
//! the runtime can interrupt: the pattern functions ([`pattern`]),
//! `string.rep` and the `table` functions that shift or sort
//! ([`bounded`]); outside a runtime they behave as Lua's own.

pub(crate) mod bounded;
mod conversions;
mod determinism;
mod library;
pub(crate) mod load;
mod options;
pub(crate) mod pattern;
mod print;
pub mod random;

pub use library::apply;
pub(crate) use library::restrict;
pub use options::Sandbox;

/// For the ports' tests: Lua's output (`native`) and the port's, one case
/// per line, equal case by case.
#[cfg(test)]
fn assert_same_lines(native: &str, ours: &str) {
    for (i, (a, b)) in native.lines().zip(ours.lines()).enumerate() {
        assert_eq!(a, b, "case {i}");
    }
    assert_eq!(native.lines().count(), ours.lines().count());
}
