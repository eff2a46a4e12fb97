//! Checks a parsed module before anything is generated. Every problem is
//! recorded on the span of the token that causes it.

use std::collections::HashMap;

use syn::spanned::Spanned;

use crate::ast::{Function, Module, ParamKind};
use crate::ctxt::Ctxt;

const LUA_KEYWORDS: &[&str] = &[
    "and", "break", "do", "else", "elseif", "end", "false", "for", "function", "goto", "if", "in",
    "local", "nil", "not", "or", "repeat", "return", "then", "true", "until", "while",
];

/// Whether `s` can be written as `m.s` in Lua.
pub fn is_lua_identifier(s: &str) -> bool {
    let mut chars = s.chars();
    let Some(first) = chars.next() else {
        return false;
    };
    (first == '_' || first.is_ascii_alphabetic())
        && chars.all(|c| c == '_' || c.is_ascii_alphanumeric())
        && !LUA_KEYWORDS.contains(&s)
}

pub fn check_module(cx: &Ctxt, m: &Module) {
    if m.item.content.is_none() {
        cx.error_spanned_by(
            &m.item,
            "`#[luamod::module]` needs an inline module (`mod name { ... }`), not `mod name;`",
        );
    }
    if let Some(name) = &m.args.name {
        let v = name.value();
        if v.is_empty() || !v.split('.').all(is_lua_identifier) {
            cx.error_spanned_by(
                name,
                format!("`{v}` is not a valid Lua module name (identifiers separated by dots)"),
            );
        }
    }
    let pure = !m.args.classes.is_empty()
        && m.args
            .classes
            .iter()
            .all(|(c, _)| c == "deterministic" || c == "encoding");
    let mut seen: HashMap<String, ()> = HashMap::new();
    for f in &m.functions {
        if pure && (f.item.sig.asyncness.is_some() || f.yields.is_some()) {
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
        if f.item.sig.asyncness.is_some() {
            check_async_params(cx, f);
        }
        check_function(cx, f);
        let name = f.lua_name();
        if seen.insert(name.clone(), ()).is_some() {
            match &f.name_lit {
                Some(l) => cx.error_spanned_by(l, format!("duplicate export name `{name}`")),
                None => cx
                    .error_spanned_by(&f.item.sig.ident, format!("duplicate export name `{name}`")),
            }
        }
    }
}

fn check_function(cx: &Ctxt, f: &Function) {
    check_signature(cx, &f.item.sig, &f.name_lit);
    check_params(cx, &f.params, false);
    if f.constant && (!f.params.is_empty() || f.item.sig.asyncness.is_some() || f.yields.is_some())
    {
        cx.error_spanned_by(
            &f.item.sig,
            "a `#[luamod::constant]` is a plain function with no parameters, evaluated once when the module is bound",
        );
    }
    if let Some(res) = &f.resource {
        let names: Vec<String> = f
            .params
            .iter()
            .filter(|p| matches!(p.kind, ParamKind::Arg { .. }))
            .filter_map(|p| p.name.clone())
            .collect();
        if !names.iter().any(|n| res == n) {
            cx.error_spanned_by(
                res,
                format!(
                    "`resource = {res}` names no parameter of `{}`; its Lua parameters are: {}",
                    f.item.sig.ident,
                    if names.is_empty() {
                        "(none)".to_owned()
                    } else {
                        names.join(", ")
                    }
                ),
            );
        }
        if f.permission.is_none() {
            cx.error_spanned_by(res, "`resource` goes with `permission = \"...\"`");
        }
    }
}

/// Checks shared by functions and methods: the name, generics, qualifiers.
pub fn check_signature(cx: &Ctxt, sig: &syn::Signature, name_lit: &Option<syn::LitStr>) {
    let f_name_lit = name_lit;
    if let Some(l) = f_name_lit
        && !is_lua_identifier(&l.value())
    {
        cx.error_spanned_by(
            l,
            format!(
                "`{}` is not a valid Lua identifier for an export name",
                l.value()
            ),
        );
    }
    if f_name_lit.is_none() && !is_lua_identifier(&sig.ident.to_string()) {
        cx.error_spanned_by(
            &sig.ident,
            format!(
                "`{}` is a Lua keyword; rename the export with `#[luamod::function(name = \"...\")]`",
                sig.ident
            ),
        );
    }
    if let Some(gp) = sig.generics.type_params().next() {
        cx.error_spanned_by(
            gp,
            "Lua exports cannot be generic: Lua needs one concrete function per export",
        );
    }
    if let Some(cp) = sig.generics.const_params().next() {
        cx.error_spanned_by(cp, "Lua exports cannot have const generic parameters");
    }
    if let Some(u) = &sig.unsafety {
        cx.error_spanned_by(u, "Lua exports cannot be `unsafe fn`");
    }
    if let Some(abi) = &sig.abi {
        cx.error_spanned_by(
            abi,
            "Lua exports cannot declare an ABI; luamod generates the C entry point",
        );
    }
    if let Some(v) = &sig.variadic {
        cx.error_spanned_by(
            v,
            "use a final `Variadic<T>` parameter for variable arguments",
        );
    }
}

/// Parameter order rules. `allow_receiver`: a leading `&self`/`&mut self`
/// is fine (methods).
pub fn check_params(cx: &Ctxt, params: &[crate::ast::Param], allow_receiver: bool) {
    let mut seen_arg = false;
    let mut seen_optional: Option<&syn::FnArg> = None;
    let n = params.len();
    for (i, p) in params.iter().enumerate() {
        match &p.kind {
            ParamKind::Receiver { by_value, .. } => {
                if !allow_receiver {
                    cx.error_spanned_by(
                        &p.span_of,
                        "`self` receiver in a free function: exports in a module are plain functions \
                         (methods belong in a `#[luamod::methods]` impl block)",
                    )
                } else if *by_value {
                    cx.error_spanned_by(
                        &p.span_of,
                        "methods take `&self` or `&mut self`: Lua owns the object, so it cannot be moved out by value",
                    )
                }
            }
            ParamKind::Lua | ParamKind::Context => {
                if seen_arg {
                    cx.error_spanned_by(
                        &p.span_of,
                        "`lua: &Lua` and `ctx: &Context` must come before the Lua arguments",
                    );
                }
            }
            ParamKind::Arg {
                optional,
                variadic,
                default,
            } => {
                seen_arg = true;
                if *variadic && i + 1 != n {
                    cx.error_spanned_by(&p.span_of, "`Variadic<T>` must be the last parameter");
                }
                if *variadic && default.is_some() {
                    cx.error_spanned_by(
                        &p.span_of,
                        "a `Variadic<T>` parameter cannot have a default",
                    );
                }
                if *optional {
                    seen_optional.get_or_insert(&p.span_of);
                } else if !*variadic && let Some(prev) = seen_optional {
                    let mut e = syn::Error::new(
                        p.span_of.span(),
                        "required parameter after an optional one: Lua callers could not omit the \
                         optional one; make this parameter optional too, or move it first",
                    );
                    e.combine(syn::Error::new(
                        prev.span(),
                        "the optional parameter is here",
                    ));
                    cx.syn_error(e);
                }
            }
        }
    }
}

/// An `async fn`'s arguments move into a command that crosses threads.
fn check_async_params(cx: &Ctxt, f: &Function) {
    for p in &f.params {
        match (&p.kind, &p.ty) {
            (ParamKind::Lua | ParamKind::Context, _) => cx.error_spanned_by(
                &p.span_of,
                "an `async fn` export runs off the Lua thread and cannot take `lua: &Lua` or `ctx: &Context`",
            ),
            (ParamKind::Arg { .. }, Some(ty)) if quote::quote!(#ty).to_string().contains('&') => cx
                .error_spanned_by(
                    ty,
                    "`async fn` exports take owned arguments (`String`, not `&str`): they are \
                     moved into a command and handled on another thread",
                ),
            _ => {}
        }
    }
}
