//! Checks on exported functions and methods: signatures, parameter order,
//! `async fn` arguments, `resource = param`.

use syn::spanned::Spanned;

use super::names::is_lua_identifier;
use crate::ast::function::Function;
use crate::ast::param::{Param, ParamKind};
use crate::ctxt::Ctxt;

pub fn check_function(cx: &Ctxt, f: &Function) {
    check_signature(cx, &f.item.sig, &f.name_lit);
    check_params(cx, &f.params, false);
    if !f.is_async() {
        check_no_handler_cx(cx, &f.params);
    }
    if f.constant && (!f.params.is_empty() || f.item.sig.asyncness.is_some() || f.yields.is_some())
    {
        cx.error_spanned_by(
            &f.item.sig,
            "a `#[luamod::constant]` is a plain function with no parameters, evaluated once when the module is bound",
        );
    }
    if let Some(lit) = &f.permission
        && lit.value().trim().is_empty()
    {
        cx.error_spanned_by(lit, "a permission names an action, such as \"fs.read\"");
    }
    if let Some(lit) = &f.command {
        match lit.base10_parse::<u16>() {
            Ok(v) if v >= 256 => {}
            _ => cx.error_spanned_by(lit, "a command id is a number in 256..=65535"),
        }
        if !f.is_async() {
            cx.error_spanned_by(
                lit,
                "`command = N` names the command of an `async fn` export",
            );
        }
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
    if let Some(l) = name_lit
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
    if name_lit.is_none() && !is_lua_identifier(&sig.ident.to_string()) {
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
pub fn check_params(cx: &Ctxt, params: &[Param], allow_receiver: bool) {
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
            ParamKind::Lua | ParamKind::Context | ParamKind::Handler | ParamKind::State(_) => {
                if seen_arg {
                    cx.error_spanned_by(
                        &p.span_of,
                        "`lua: &Lua`, `ctx: &Context`, `cx: HandlerCx` and the module's state \
                         must come before the Lua arguments",
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

/// `cx: HandlerCx` exists only where a handler runs the body.
pub fn check_no_handler_cx(cx: &Ctxt, params: &[Param]) {
    for p in params {
        if let ParamKind::Handler = p.kind {
            cx.error_spanned_by(
                &p.span_of,
                "`cx: HandlerCx` is for `async fn` exports, whose body runs as a command handler; \
                 a plain export takes `ctx: &Context` for the security context",
            );
        }
    }
}

/// An `async fn`'s arguments move into a command that crosses threads.
pub fn check_async_params(cx: &Ctxt, f: &Function) {
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
