//! The syntax the macros work on: a module and its exported functions, read
//! from `syn` items. Reading only; checks are in `valid`.

use syn::parse::Parser;
use syn::{FnArg, GenericArgument, ItemFn, ItemMod, LitStr, PathArguments, Type};

use crate::attr::{self, FunctionArgs, ModuleArgs, ParamArgs};
use crate::ctxt::Ctxt;

pub struct Module {
    pub item: ItemMod,
    pub args: ModuleArgs,
    pub doc: String,
    pub functions: Vec<Function>,
    /// Userdata types defined in the module.
    pub classes: Vec<syn::Ident>,
}

pub struct Function {
    /// The function as the user wrote it, minus our attributes.
    pub item: ItemFn,
    /// The `name = "..."` literal, if given.
    pub name_lit: Option<LitStr>,
    /// The `returns = "..."` literal, if given.
    pub returns: Option<LitStr>,
    /// `command = N` for an `async fn`.
    pub command: Option<syn::LitInt>,
    /// `C` when the function returns `Yield<C>`.
    pub yields: Option<Type>,
    /// `permission = "..."`.
    pub permission: Option<LitStr>,
    /// `resource = param`.
    pub resource: Option<syn::Ident>,
    /// `#[luamod::constant]`: evaluated once when the module is bound.
    pub constant: bool,
    pub doc: String,
    pub params: Vec<Param>,
}

impl Function {
    /// The Lua name: `name = "..."` or the Rust name.
    pub fn lua_name(&self) -> String {
        match &self.name_lit {
            Some(l) => l.value(),
            None => self.item.sig.ident.to_string(),
        }
    }
}

pub enum ParamKind {
    /// `lua: &Lua`, supplied by the runtime.
    Lua,
    /// `ctx: &Context`, the process's security context.
    Context,
    /// A Lua argument.
    Arg {
        /// `Option<T>` or `#[lua(default = ...)]`: absent or nil is accepted.
        optional: bool,
        /// `Variadic<T>`: takes every remaining argument.
        variadic: bool,
        default: Option<syn::Expr>,
    },
    /// A `self` receiver (an error in a free function).
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

pub fn parse_module(cx: &Ctxt, args: proc_macro2::TokenStream, mut item: ItemMod) -> Module {
    let args =
        match (|input: syn::parse::ParseStream| attr::parse_module_args(cx, input)).parse2(args) {
            Ok(a) => a,
            Err(e) => {
                cx.syn_error(e);
                ModuleArgs {
                    name: None,
                    classes: Vec::new(),
                }
            }
        };
    let doc = attr::doc_text(&item.attrs);
    let mut functions = Vec::new();
    let mut classes = Vec::new();
    let lua_name = args
        .name
        .as_ref()
        .map(|l| l.value())
        .unwrap_or_else(|| item.ident.to_string());
    if let Some((_, items)) = &mut item.content {
        for it in items.iter_mut() {
            crate::class::adopt_record(&lua_name, it);
            if let Some(ident) = crate::class::adopt_userdata(&lua_name, it) {
                classes.push(ident);
                continue;
            }
            let syn::Item::Fn(f) = it else { continue };
            let Some(pos) = f
                .attrs
                .iter()
                .position(|a| attr::is_function_attr(a) || attr::is_constant_attr(a))
            else {
                continue;
            };
            let constant = attr::is_constant_attr(&f.attrs[pos]);
            let fattr = f.attrs.remove(pos);
            let fargs = parse_function_attr(cx, &fattr);
            let params = parse_params(cx, &mut f.sig);
            functions.push(Function {
                doc: attr::doc_text(&f.attrs),
                item: f.clone(),
                name_lit: fargs.name,
                returns: fargs.returns,
                command: fargs.command,
                permission: fargs.permission,
                resource: fargs.resource,
                constant,
                yields: yield_command(&f.sig.output),
                params,
            });
        }
    }
    Module {
        item,
        args,
        doc,
        functions,
        classes,
    }
}

fn parse_function_attr(cx: &Ctxt, attr: &syn::Attribute) -> FunctionArgs {
    match &attr.meta {
        syn::Meta::Path(_) => FunctionArgs::default(),
        syn::Meta::List(list) => {
            match (|input: syn::parse::ParseStream| attr::parse_function_args(cx, input))
                .parse2(list.tokens.clone())
            {
                Ok(a) => a,
                Err(e) => {
                    cx.syn_error(e);
                    FunctionArgs::default()
                }
            }
        }
        syn::Meta::NameValue(nv) => {
            cx.error_spanned_by(
                nv,
                "expected `#[luamod::function]` or `#[luamod::function(name = \"...\")]`",
            );
            FunctionArgs::default()
        }
    }
}

/// Reads the parameters and strips `#[lua(...)]` from them (it is not a real
/// attribute and must not reach the compiler).
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
                let mut pargs = ParamArgs::default();
                pt.attrs.retain(|a| {
                    if attr::is_lua_attr(a) {
                        attr::parse_param_attr(cx, a, &mut pargs);
                        false
                    } else {
                        true
                    }
                });
                let ty = (*pt.ty).clone();
                let name = match &*pt.pat {
                    syn::Pat::Ident(pi) => Some(pi.ident.to_string()),
                    _ => None,
                };
                let type_override = pargs.ty.take();
                let kind = if is_ref_to(&ty, "Lua") {
                    ParamKind::Lua
                } else if is_ref_to(&ty, "Context") {
                    ParamKind::Context
                } else {
                    ParamKind::Arg {
                        optional: last_segment_is(&ty, "Option") || pargs.default.is_some(),
                        variadic: last_segment_is(&ty, "Variadic"),
                        default: pargs.default,
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

/// `&Lua` / `&mlua::Lua`: the runtime-supplied state handle. Recognised by
/// shape, as PyO3 recognises `Python<'py>`: it is a calling-convention
/// marker, not a type whose Lua type we derive.
fn is_ref_to(ty: &Type, name: &str) -> bool {
    match ty {
        Type::Reference(r) => last_segment_is(&r.elem, name) && generic_args(&r.elem).is_none(),
        _ => false,
    }
}

/// Whether the type's path ends in `name` (`Option`, `std::option::Option`).
pub fn last_segment_is(ty: &Type, name: &str) -> bool {
    match ty {
        Type::Path(p) if p.qself.is_none() => {
            p.path.segments.last().is_some_and(|s| s.ident == name)
        }
        _ => false,
    }
}

/// The type argument of `Wrapper<T>`, if any.
pub fn generic_args(ty: &Type) -> Option<&Type> {
    let Type::Path(p) = ty else { return None };
    let seg = p.path.segments.last()?;
    let PathArguments::AngleBracketed(ab) = &seg.arguments else {
        return None;
    };
    ab.args.iter().find_map(|a| match a {
        GenericArgument::Type(t) => Some(t),
        _ => None,
    })
}

/// `C` in a `-> Yield<C>` or `-> Then<C, T>` return type (recognised by shape, like `Option`:
/// it decides the calling convention, not a Lua type).
pub fn yield_command(output: &syn::ReturnType) -> Option<Type> {
    match output {
        syn::ReturnType::Type(_, ty)
            if last_segment_is(ty, "Yield") || last_segment_is(ty, "Then") =>
        {
            generic_args(ty).cloned()
        }
        _ => None,
    }
}
