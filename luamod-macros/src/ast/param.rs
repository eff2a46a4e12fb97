//! Parameters of exported functions and methods, with their `#[lua(...)]`
//! options (stripped from the item: it is not a real attribute).

use syn::{FnArg, LitStr, Type};

use super::shape::{is_ref_to, last_segment_is};
use crate::attr::{self, Kind, Options, Schema};
use crate::ctxt::Ctxt;

const PARAM: Schema = Schema {
    what: "parameter",
    keys: &[("default", Kind::Expr), ("type", Kind::Str)],
};

pub enum ParamKind {
    /// `lua: &Lua`, supplied by the runtime.
    Lua,
    /// `ctx: &Context`, the process's security context.
    Context,
    /// `cx: HandlerCx` of an `async fn`: the process, its context and the
    /// cancel token, as the handler that runs the body sees them.
    Handler,
    /// `cfg: &T` where the module declares `state = T`: its state.
    State(Type),
    /// A Lua argument.
    Arg {
        /// `Option<T>` or `#[lua(default = ...)]`: absent or nil is accepted.
        optional: bool,
        /// `Variadic<T>`: takes every remaining argument.
        variadic: bool,
        default: Option<syn::Expr>,
    },
    /// A `self` receiver.
    Receiver {
        /// `&mut self`.
        mutable: bool,
        /// `self` by value (not `&self`/`&mut self`).
        by_value: bool,
    },
}

pub struct Param {
    pub kind: ParamKind,
    pub ty: Option<Type>,
    /// The whole input, for spans.
    pub span_of: FnArg,
    /// The Rust parameter name (for manifests), if the pattern is a name.
    pub name: Option<String>,
    /// `#[lua(type = "...")]`.
    pub type_override: Option<LitStr>,
}

/// Reads the parameters and strips `#[lua(...)]` from them.
pub fn parse_params(cx: &Ctxt, sig: &mut syn::Signature) -> Vec<Param> {
    let mut out = Vec::new();
    for input in sig.inputs.iter_mut() {
        match input {
            FnArg::Receiver(r) => out.push(Param {
                kind: ParamKind::Receiver {
                    mutable: r.reference.is_some() && r.mutability.is_some(),
                    by_value: r.reference.is_none(),
                },
                ty: None,
                span_of: input.clone(),
                name: Some("self".to_owned()),
                type_override: None,
            }),
            FnArg::Typed(pt) => {
                let mut opts = Options::default();
                pt.attrs.retain(|a| {
                    if attr::is_lua_attr(a) {
                        opts.merge(cx, Options::from_attr(cx, a, &PARAM));
                        false
                    } else {
                        true
                    }
                });
                let type_override = opts.str("type");
                if let Some(lit) = &type_override {
                    attr::types::check_type(cx, lit);
                }
                let default = opts.expr("default");
                let ty = (*pt.ty).clone();
                let name = match &*pt.pat {
                    syn::Pat::Ident(pi) => Some(pi.ident.to_string()),
                    _ => None,
                };
                let kind = if is_ref_to(&ty, "Lua") {
                    ParamKind::Lua
                } else if is_ref_to(&ty, "Context") {
                    ParamKind::Context
                } else if last_segment_is(&ty, "HandlerCx") {
                    ParamKind::Handler
                } else {
                    ParamKind::Arg {
                        optional: last_segment_is(&ty, "Option") || default.is_some(),
                        variadic: last_segment_is(&ty, "Variadic"),
                        default,
                    }
                };
                out.push(Param {
                    kind,
                    ty: Some(ty),
                    span_of: FnArg::Typed(pt.clone()),
                    name,
                    type_override,
                });
            }
        }
    }
    out
}

/// Marks the parameters of type `&state` (the module's `state = T`) as the
/// module's state rather than Lua arguments.
pub fn mark_state(params: &mut [Param], state: &Type) {
    let want = quote::quote!(#state).to_string();
    for p in params {
        let Some(Type::Reference(r)) = &p.ty else {
            continue;
        };
        let elem = &r.elem;
        if r.mutability.is_none()
            && matches!(p.kind, ParamKind::Arg { .. })
            && quote::quote!(#elem).to_string() == want
        {
            p.kind = ParamKind::State((**elem).clone());
        }
    }
}
