//! Code generation. Generated code names only `::luamod::__private::*`
//! paths and assumes nothing about what is in scope at the use site.

use proc_macro2::{Span, TokenStream};
use quote::{format_ident, quote};
use syn::{Item, ItemMod};

use crate::ast::{self, Function, Module};
use crate::ctxt::Ctxt;
use crate::export::{self, ExportSpec};
use crate::valid;

pub fn module(args: TokenStream, input: TokenStream) -> TokenStream {
    let item: ItemMod = match syn::parse2(input.clone()) {
        Ok(m) => m,
        Err(_) => {
            let span = match syn::parse2::<Item>(input.clone()) {
                Ok(Item::Struct(s)) => s.ident.span(),
                Ok(Item::Enum(e)) => e.ident.span(),
                Ok(Item::Fn(f)) => f.sig.ident.span(),
                Ok(Item::Impl(i)) => i.impl_token.span,
                _ => Span::call_site(),
            };
            let e = syn::Error::new(
                span,
                "`#[luamod::module]` goes on an inline module: `pub mod name { ... }`",
            );
            let mut out = e.to_compile_error();
            out.extend(input);
            return out;
        }
    };
    let cx = Ctxt::new();
    let m = ast::parse_module(&cx, args, item);
    valid::check_module(&cx, &m);
    match cx.check() {
        Ok(()) => expand_module(&m),
        Err(e) => {
            let mut out = e.to_compile_error();
            out.extend(strip_only(m));
            out
        }
    }
}

/// The user's module with our attributes removed (`parse_module` strips
/// them in place), so one mistake does not also produce a cascade of
/// "unknown attribute" errors.
fn strip_only(m: Module) -> TokenStream {
    let item = m.item;
    quote!(#item)
}

fn expand_module(m: &Module) -> TokenStream {
    let mut item = m.item.clone();
    let mod_ident = &item.ident;
    let lua_mod_name = m
        .args
        .name
        .as_ref()
        .map(|l| l.value())
        .unwrap_or_else(|| mod_ident.to_string());
    let description = &m.doc;
    let classes = m.args.classes.iter().map(|(ident, variant)| {
        let v = format_ident!("{}", variant, span = ident.span());
        quote!(::luamod::__private::Class::#v)
    });

    let userdata_types = &m.classes;
    let commands: Vec<syn::Type> = m
        .functions
        .iter()
        .filter_map(|f| {
            if f.item.sig.asyncness.is_some() {
                let c = async_command_ident(f);
                Some(syn::parse_quote!(#c))
            } else {
                f.yields.clone()
            }
        })
        .collect();
    let mut exports = Vec::new();
    let mut defs = Vec::new();
    let mut constants = Vec::new();
    for f in &m.functions {
        let (export_fn, def) = expand_function(&lua_mod_name, f);
        exports.push(export_fn);
        if f.constant {
            constants.push(def);
        } else {
            defs.push(def);
        }
    }

    let generated: TokenStream = quote! {
        #(#exports)*

        /// The Lua module defined here; bind it with `luamod::lua_with` or
        /// a runtime builder.
        pub static MODULE: ::luamod::__private::ModuleDef = ::luamod::__private::ModuleDef {
            name: #lua_mod_name,
            description: #description,
            classes: &[#(#classes),*],
            functions: &[#(#defs),*],
            constants: &[#(#constants),*],
            userdata: &[#(<#userdata_types as ::luamod::__private::LuaClass>::CLASS),*],
            commands: &[#(<#commands as ::luamod::__private::Command>::DEF),*],
        };
    };
    if let Some((_, items)) = &mut item.content {
        items.push(Item::Verbatim(generated));
    }
    quote!(#item)
}

fn expand_function(module: &str, f: &Function) -> (TokenStream, TokenStream) {
    let ident = &f.item.sig.ident;
    let is_async = f.item.sig.asyncness.is_some();
    let async_parts = is_async.then(|| expand_async(module, f));
    let call_path = match &async_parts {
        Some((_, shim)) => quote!(self::#shim),
        None => quote!(self::#ident),
    };
    let spec = ExportSpec {
        export_ident: format_ident!("__luamod_export_{}", ident),
        info_module: quote!(#module),
        lua_name: f.lua_name(),
        setter: false,
        receiver: None,
        params: &f.params,
        call_path,
        ret_span: export::ret_span(&f.item.sig),
        ret_ty: match &f.item.sig.output {
            syn::ReturnType::Default => None,
            syn::ReturnType::Type(_, ty) => Some((**ty).clone()),
        },
        returns_override: f.returns.clone(),
        doc: f.doc.clone(),
        is_async: is_async || f.yields.is_some(),
        permission: f.permission.clone().map(|p| (p, f.resource.clone())),
    };
    let mut export = export::export_fn(&spec);
    if let Some((tokens, _)) = async_parts {
        export.extend(tokens);
    }
    (export, export::function_def(&spec))
}

/// The command type of an `async fn` export.
fn async_command_ident(f: &Function) -> syn::Ident {
    format_ident!("__luamod_cmd_{}", f.item.sig.ident)
}

/// For `async fn f(a: A) -> R`: a command struct carrying the arguments,
/// its `Command` impl whose default handler awaits `f`, and a shim the
/// export calls that returns `Yield<command>`.
fn expand_async(module: &str, f: &Function) -> (TokenStream, syn::Ident) {
    let ident = &f.item.sig.ident;
    let cmd = async_command_ident(f);
    let shim = format_ident!("__luamod_async_{}", ident);
    let name = format!("{module}.{}", f.lua_name());
    let id = match &f.command {
        Some(lit) => quote!(::luamod::__private::CommandId(#lit)),
        None => quote!(::luamod::__private::CommandId::derive(#name)),
    };
    let mut fields = Vec::new();
    let mut names = Vec::new();
    for (i, p) in f.params.iter().enumerate() {
        if let Some(ty) = &p.ty {
            let n = format_ident!("a{}", i);
            fields.push(quote!(pub #n: #ty));
            names.push(n);
        }
    }
    let (output, body) = match &f.item.sig.output {
        syn::ReturnType::Type(_, ty) if ast::last_segment_is(ty, "Result") => {
            let ok = ast::generic_args(ty)
                .cloned()
                .unwrap_or_else(|| syn::parse_quote!(()));
            (quote!(#ok), quote!(self::#ident(#(cmd.#names),*).await))
        }
        syn::ReturnType::Type(_, ty) => (
            quote!(#ty),
            quote!(::luamod::__private::Ok(self::#ident(#(cmd.#names),*).await)),
        ),
        syn::ReturnType::Default => (
            quote!(()),
            quote!(::luamod::__private::Ok(self::#ident(#(cmd.#names),*).await)),
        ),
    };
    let tys: Vec<_> = f.params.iter().filter_map(|p| p.ty.clone()).collect();
    let tokens = quote! {
        #[doc(hidden)]
        #[allow(non_camel_case_types)]
        pub struct #cmd { #(#fields),* }

        impl ::luamod::__private::Command for #cmd {
            const ID: ::luamod::__private::CommandId = #id;
            const NAME: &'static str = #name;
            type Output = #output;
            fn default_handler() -> ::luamod::__private::Option<
                ::luamod::__private::Arc<dyn ::luamod::__private::ErasedHandler>,
            > {
                ::luamod::__private::Some(::luamod::__private::handler_fn(
                    |cmd: Self, _cx: ::luamod::__private::HandlerCx| async move { #body },
                ))
            }
        }

        #[doc(hidden)]
        #[allow(non_snake_case)]
        fn #shim(#(#names: #tys),*) -> ::luamod::__private::Yield<#cmd> {
            ::luamod::__private::Yield(#cmd { #(#names),* })
        }
    };
    (tokens, shim)
}

pub fn lone_function(args: TokenStream, input: TokenStream) -> TokenStream {
    let _ = args;
    let span = syn::parse2::<syn::ItemFn>(input.clone())
        .map(|f| f.sig.ident.span())
        .unwrap_or_else(|_| Span::call_site());
    let e = syn::Error::new(
        span,
        "`#[luamod::function]` must be inside a `#[luamod::module]` inline module; \
         the module collects its functions into `MODULE`",
    );
    let mut out = e.to_compile_error();
    out.extend(input);
    out
}
