//! Reading the macros' options: one option-list parser ([`options`]), doc
//! comments ([`doc`]), type overrides ([`types`]), and recognising luamod's
//! own attributes on items inside a module.

pub mod doc;
pub mod options;
pub mod types;

use syn::Attribute;

pub use options::{Kind, Options, Schema};

/// The module classes, as written in `class(...)`, with their Rust variants.
pub const CLASSES: &[(&str, &str)] = &[
    ("deterministic", "Deterministic"),
    ("nondeterministic", "Nondeterministic"),
    ("io", "Io"),
    ("network", "Network"),
    ("storage", "Storage"),
    ("workflow", "Workflow"),
    ("encoding", "Encoding"),
    ("time", "Time"),
    ("process", "Process"),
    ("security", "Security"),
];

/// Whether `attr` is `#[lua(...)]`.
pub fn is_lua_attr(attr: &Attribute) -> bool {
    attr.path().is_ident("lua")
}

/// Whether `attr` is `#[luamod::NAME]`, `#[<renamed>::NAME]` or `#[NAME]`
/// (after a `use`).
pub fn is_luamod_attr(attr: &Attribute, name: &str, krate: &str) -> bool {
    let segs: Vec<String> = attr
        .path()
        .segments
        .iter()
        .map(|s| s.ident.to_string())
        .collect();
    match segs.as_slice() {
        [one] => one == name,
        [k, one] => (k == "luamod" || k == krate) && one == name,
        _ => false,
    }
}
