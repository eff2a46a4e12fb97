//! Checks on a `#[luamod::module]` and the functions it exports.

use std::collections::HashSet;

use super::function::{check_async_params, check_function};
use super::names::is_lua_identifier;
use crate::ast::module::Module;
use crate::attr::CLASSES;
use crate::ctxt::Ctxt;

pub fn check_module(cx: &Ctxt, m: &Module) {
    if m.item.content.is_none() {
        cx.error_spanned_by(
            &m.item,
            "`#[luamod::module]` needs an inline module (`mod name { ... }`), not `mod name;`",
        );
    }
    if let Some(name) = &m.name {
        let v = name.value();
        if v.is_empty() || !v.split('.').all(is_lua_identifier) {
            cx.error_spanned_by(
                name,
                format!("`{v}` is not a valid Lua module name (identifiers separated by dots)"),
            );
        }
    }
    let mut seen_classes = HashSet::new();
    for class in &m.classes {
        if !CLASSES.iter().any(|(c, _)| class == c) {
            let valid: Vec<&str> = CLASSES.iter().map(|(c, _)| *c).collect();
            cx.error_spanned_by(
                class,
                format!(
                    "unknown module class `{class}`; expected one of: {}",
                    valid.join(", ")
                ),
            );
        } else if !seen_classes.insert(class.to_string()) {
            cx.error_spanned_by(class, format!("duplicate class `{class}`"));
        }
    }
    let pure = !m.classes.is_empty()
        && m.classes
            .iter()
            .all(|c| c == "deterministic" || c == "encoding");
    let mut seen = HashSet::new();
    for f in &m.functions {
        if pure && (f.is_async() || f.yields.is_some()) {
            let culprit: &dyn quote::ToTokens = match &f.item.sig.asyncness {
                Some(a) => a,
                None => &f.item.sig.output,
            };
            cx.error_spanned_by(
                culprit,
                format!(
                    "`{}` waits on a command, which reaches the outside world, but the module's \
                     classes are only deterministic/encoding; add a class such as io, network, \
                     storage or time",
                    f.item.sig.ident
                ),
            );
        }
        if f.is_async() {
            check_async_params(cx, f);
        }
        check_function(cx, f);
        let name = f.lua_name();
        if !seen.insert(name.clone()) {
            match &f.name_lit {
                Some(l) => cx.error_spanned_by(l, format!("duplicate export name `{name}`")),
                None => cx
                    .error_spanned_by(&f.item.sig.ident, format!("duplicate export name `{name}`")),
            }
        }
    }
}
