//! The manifest describer of an export: a function that builds its
//! `FunctionType` from the Rust signature, asking each type's `LuaType`
//! (or `any` for types without one, so describing never fails to compile).

use proc_macro2::TokenStream;
use quote::quote;
use syn::visit_mut::VisitMut;

use super::spec::{Body, ExportSpec};
use crate::ast::param::ParamKind;
use crate::ast::shape::generic_args;
use crate::attr;

/// Replaces every named lifetime by `'static`: a type description only needs
/// the type's shape, and the describing function has no lifetime params.
struct StaticLifetimes;

impl VisitMut for StaticLifetimes {
    fn visit_lifetime_mut(&mut self, l: &mut syn::Lifetime) {
        if l.ident != "static" && l.ident != "_" {
            *l = syn::Lifetime::new("'static", l.span());
        }
    }
}

fn describable(ty: &syn::Type) -> syn::Type {
    let mut t = ty.clone();
    StaticLifetimes.visit_type_mut(&mut t);
    t
}

fn has_impl_trait(ty: &syn::Type) -> bool {
    quote!(#ty)
        .into_iter()
        .any(|t| matches!(t, proc_macro2::TokenTree::Ident(i) if i == "impl"))
}

/// `(&Tag::<T>::new()).__lua_type(reg)`: the Lua type of `T`.
fn type_of(p: &TokenStream, ty: &syn::Type) -> TokenStream {
    let d = describable(ty);
    quote!((&#p::Tag::<#d>::new()).__lua_type(reg))
}

fn param(p: &TokenStream, name: &str, ty: TokenStream, optional: bool, doc: &str) -> TokenStream {
    quote! {
        #p::Param {
            name: #p::String::from(#name),
            ty: #ty,
            optional: #optional,
            doc: #p::String::from(#doc),
        }
    }
}

pub fn describer(spec: &ExportSpec) -> TokenStream {
    let p = &spec.p;
    let sig_ident = spec.sig_ident();
    let is_async = spec.is_async;
    let (_, arg_docs) = attr::doc::split_arguments(&spec.doc);
    let mut params = Vec::new();
    let mut variadic = quote!(#p::None);
    // The correlated rows come from the same trait as the returns, when
    // the returns are described by it (not for an override or a getter).
    let mut rows = quote!(#p::Vec::new());
    let returns = match &spec.body {
        Body::Get { ty, .. } => {
            let t = type_of(p, ty);
            quote!((#p::vec![#t], #p::None))
        }
        Body::Set { ty, .. } => {
            params.push(param(p, "value", type_of(p, ty), false, ""));
            quote!((#p::Vec::new(), #p::None))
        }
        Body::Call { params: ps, .. } => {
            for (i, prm) in ps.iter().enumerate() {
                let ParamKind::Arg {
                    optional,
                    variadic: is_variadic,
                    ..
                } = &prm.kind
                else {
                    continue;
                };
                let Some(ty) = &prm.ty else { continue };
                let name = prm.name.clone().unwrap_or_else(|| format!("arg{}", i + 1));
                let doc = arg_docs
                    .iter()
                    .find(|(n, _)| *n == name)
                    .map(|(_, d)| d.clone())
                    .unwrap_or_default();
                let described = if *is_variadic {
                    generic_args(ty).cloned().unwrap_or_else(|| ty.clone())
                } else {
                    ty.clone()
                };
                let type_expr = match &prm.type_override {
                    Some(lit) => quote!(#p::parse_type(#lit)),
                    None => type_of(p, &described),
                };
                if *is_variadic {
                    variadic = quote!(#p::Some(#type_expr));
                } else {
                    params.push(param(p, &name, type_expr, *optional, &doc));
                }
            }
            match (&spec.returns_override, &spec.ret_ty) {
                (Some(lit), _) => quote!((#p::parse_returns(#lit), #p::None)),
                (None, Some(ty)) if has_impl_trait(ty) => {
                    quote!((#p::Vec::new(), #p::Some(#p::Type::Any)))
                }
                (None, Some(ty)) => {
                    let d = describable(ty);
                    rows = quote!((&#p::Tag::<#d>::new()).__lua_return_rows(reg));
                    quote!((&#p::Tag::<#d>::new()).__lua_returns(reg))
                }
                (None, None) => quote!((#p::Vec::new(), #p::None)),
            }
        }
    };
    quote! {
        #[doc(hidden)]
        #[allow(non_snake_case)]
        fn #sig_ident(reg: &mut #p::TypeRegistry) -> #p::FunctionType {
            #[allow(unused_imports)]
            use #p::{AnyReturns as _, AnyType as _, KnownReturns as _, KnownType as _};
            let (returns, variadic_returns) = #returns;
            let return_rows = #rows;
            #p::FunctionType {
                params: #p::vec![#(#params),*],
                variadic: #variadic,
                returns,
                variadic_returns,
                return_rows,
                is_async: #is_async,
            }
        }
    }
}
