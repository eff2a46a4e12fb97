//! Checks on a `#[luamod::methods]` block and each of its items.

use super::function::{check_params, check_signature};
use crate::ast::methods::{MethodSpec, Methods, Role};
use crate::ctxt::Ctxt;

/// The metamethods a methods block may define, by their Lua names.
pub const METAMETHODS: &[&str] = &[
    "__tostring",
    "__eq",
    "__lt",
    "__le",
    "__len",
    "__call",
    "__concat",
    "__unm",
    "__add",
    "__sub",
    "__mul",
    "__div",
    "__mod",
    "__pow",
    "__idiv",
    "__band",
    "__bor",
    "__bxor",
    "__shl",
    "__shr",
    "__bnot",
    "__close",
    "__index",
    "__newindex",
];

pub fn check_methods(cx: &Ctxt, m: &Methods) {
    if let Some((_, path, _)) = &m.imp.trait_ {
        cx.error_spanned_by(
            path,
            "`#[luamod::methods]` goes on an inherent impl block, not a trait impl",
        );
    }
    if !m.imp.generics.params.is_empty() {
        cx.error_spanned_by(&m.imp.generics, "userdata types cannot be generic");
    }
    for s in &m.specs {
        check_item(cx, s);
    }
    check_duplicates(cx, &m.specs);
}

fn check_item(cx: &Ctxt, s: &MethodSpec) {
    let sig = &s.sig;
    check_signature(cx, sig, &s.name_lit);
    if let Some(a) = &sig.asyncness {
        cx.error_spanned_by(
            a,
            "`async fn` methods are not supported; return `Yield<C>` with a command instead",
        );
    }
    check_params(cx, &s.params, true);
    super::function::check_no_handler_cx(cx, &s.params);
    let nargs = s.args().count();
    if let Some(meta) = &s.meta {
        let m = meta.value();
        if !METAMETHODS.contains(&m.as_str()) {
            let hint = if matches!(m.as_str(), "__gc" | "__name" | "__metatable" | "__mode") {
                format!("`{m}` is managed by luamod and cannot be defined; ")
            } else {
                format!("unknown metamethod `{m}`; ")
            };
            cx.error_spanned_by(
                meta,
                format!("{hint}expected one of: {}", METAMETHODS.join(", ")),
            );
        }
        if s.receiver.is_none() {
            cx.error_spanned_by(
                &sig.ident,
                "a metamethod takes `&self` or `&mut self` first",
            );
        }
        if s.get || s.set {
            cx.error_spanned_by(&sig.ident, "a metamethod is not a field getter or setter");
        }
    } else if s.get && s.set {
        cx.error_spanned_by(
            &sig.ident,
            "a method is either a getter or a setter, not both",
        );
    } else if s.get {
        if s.receiver.is_none() || nargs != 0 {
            cx.error_spanned_by(
                &sig.inputs,
                "a getter takes only `&self`: `#[lua(get)] fn name(&self) -> T`",
            );
        }
    } else if s.set && (s.receiver.is_none() || nargs != 1) {
        cx.error_spanned_by(
            &sig.inputs,
            "a setter takes `&mut self` and exactly one value: `#[lua(set)] fn set_name(&mut self, v: T)`",
        );
    }
}

fn check_duplicates(cx: &Ctxt, specs: &[MethodSpec]) {
    let mut seen: Vec<(String, Role)> = Vec::new();
    for s in specs {
        // Methods and getters share the `obj.name` namespace; setters,
        // metamethods and statics each have their own.
        let ns = match s.role() {
            Role::Method | Role::Getter => Role::Method,
            r => r,
        };
        let name = s.lua_name();
        if seen.iter().any(|(n, r)| *n == name && *r == ns) {
            cx.error_spanned_by(&s.sig.ident, format!("duplicate Lua name `{name}`"));
        }
        seen.push((name, ns));
    }
}
