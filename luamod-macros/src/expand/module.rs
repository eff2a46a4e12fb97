//! `#[luamod::module]`: the module's exports and its `MODULE` static.

use proc_macro2::{Span, TokenStream};
use quote::{format_ident, quote};
use syn::{Item, ItemMod};

use super::asyncfn;
use super::export::{self, Body, ExportSpec};
use crate::ast::function::Function;
use crate::ast::module::Module;
use crate::attr::CLASSES;
use crate::ctxt::Ctxt;
use crate::valid;

pub fn entry(args: TokenStream, input: TokenStream) -> TokenStream {
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
    let m = Module::parse(&cx, args, item);
    valid::module::check_module(&cx, &m);
    match cx.check() {
        Ok(()) => expand(&m),
        Err(e) => {
            // The module with our attributes removed (parsing strips them),
            // so one mistake does not also cause "unknown attribute" errors.
            let mut out = e.to_compile_error();
            let item = &m.item;
            out.extend(quote!(#item));
            out
        }
    }
}

/// `#[luamod::function]` or `#[luamod::constant]` outside a module.
pub fn lone_item(args: TokenStream, input: TokenStream, what: &str) -> TokenStream {
    let _ = args;
    let span = syn::parse2::<syn::ItemFn>(input.clone())
        .map(|f| f.sig.ident.span())
        .unwrap_or_else(|_| Span::call_site());
    let e = syn::Error::new(
        span,
        format!(
            "`#[luamod::{what}]` must be inside a `#[luamod::module]` inline module; \
             the module collects its functions into `MODULE`"
        ),
    );
    let mut out = e.to_compile_error();
    out.extend(input);
    out
}

fn expand(m: &Module) -> TokenStream {
    let p = m.krate.private();
    let mut item = m.item.clone();
    let lua_name = m.lua_name();
    let description = &m.doc;
    let classes = m.classes.iter().filter_map(|ident| {
        let (_, variant) = CLASSES.iter().find(|(c, _)| ident == c)?;
        let v = format_ident!("{}", variant, span = ident.span());
        Some(quote!(#p::Class::#v))
    });
    let userdata = &m.userdata;
    let commands: Vec<syn::Type> = m
        .functions
        .iter()
        .filter_map(|f| {
            if f.is_async() {
                let c = asyncfn::command_ident(f);
                Some(syn::parse_quote!(#c))
            } else {
                f.yields.clone()
            }
        })
        .chain(m.extra_commands.iter().map(|c| syn::parse_quote!(#c)))
        .collect();
    let mut exports = Vec::new();
    let mut defs = Vec::new();
    let mut constants = Vec::new();
    for f in &m.functions {
        let (export_fn, def) = function(m, &lua_name, f);
        exports.push(export_fn);
        if f.constant {
            constants.push(def);
        } else {
            defs.push(def);
        }
    }
    let state = match &m.state {
        Some(ty) => {
            let name = quote!(#ty).to_string();
            quote!(#p::Some(#p::StateDef {
                type_name: #name,
                type_id: #p::state_type_id::<#ty>,
                default: #p::default_state::<#ty>,
            }))
        }
        None => quote!(#p::None),
    };
    // Lua's C loader calls `luaopen_` followed by the name, dots as
    // underscores (`require("a.b")` → `luaopen_a_b`). Only for modules that
    // ask: luamod's `module` feature reaches every crate of a build.
    let luaopen = m.luaopen.then(|| {
        let open = luaopen_ident(&lua_name);
        quote!(#p::luaopen!(#open, MODULE);)
    });
    let generated = quote! {
        #(#exports)*

        /// The Lua module defined here; bind it with `luamod::lua_with` or
        /// a runtime builder.
        pub static MODULE: #p::ModuleDef = #p::ModuleDef {
            name: #lua_name,
            description: #description,
            classes: &[#(#classes),*],
            functions: &[#(#defs),*],
            constants: &[#(#constants),*],
            userdata: &[#(<#userdata as #p::LuaClass>::CLASS),*],
            commands: &[#(<#commands as #p::Command>::DEF),*],
            state: #state,
        };

        #luaopen
    };
    if let Some((_, items)) = &mut item.content {
        items.push(Item::Verbatim(generated));
    }
    quote!(#item)
}

fn function(m: &Module, module: &str, f: &Function) -> (TokenStream, TokenStream) {
    let p = m.krate.private();
    let ident = &f.item.sig.ident;
    let async_parts = f.is_async().then(|| asyncfn::expand(&p, module, f));
    let path = match &async_parts {
        Some((_, shim)) => quote!(self::#shim),
        None => quote!(self::#ident),
    };
    let spec = ExportSpec {
        p: p.clone(),
        export_ident: format_ident!("__luamod_export_{}", ident),
        info_module: quote!(|| #module),
        lua_name: f.lua_name(),
        body: Body::Call {
            path,
            params: &f.params,
            receiver: None,
        },
        ret_span: ret_span(&f.item.sig),
        ret_ty: match &f.item.sig.output {
            syn::ReturnType::Default => None,
            syn::ReturnType::Type(_, ty) => Some((**ty).clone()),
        },
        returns_override: f.returns.clone(),
        doc: f.doc.clone(),
        is_async: f.is_async() || f.yields.is_some(),
        permission: f.permission.clone().map(|a| (a, f.resource.clone())),
        setter_method: false,
        async_shim: f.is_async(),
    };
    let mut tokens = export::export_fn(&spec);
    if let Some((extra, _)) = async_parts {
        tokens.extend(extra);
    }
    (tokens, export::function_def(&spec))
}

/// Where errors about a function's results point: its return type.
pub fn ret_span(sig: &syn::Signature) -> Span {
    use syn::spanned::Spanned;
    match &sig.output {
        syn::ReturnType::Default => sig.ident.span(),
        syn::ReturnType::Type(_, ty) => ty.span(),
    }
}

/// The loader symbol Lua's C searcher calls for module `name`.
fn luaopen_ident(name: &str) -> proc_macro2::Ident {
    format_ident!("luaopen_{}", name.replace('.', "_"))
}

#[cfg(test)]
mod tests {
    #[test]
    fn loader_symbols_are_lua_s() {
        assert_eq!(
            super::luaopen_ident("counter").to_string(),
            "luaopen_counter"
        );
        assert_eq!(super::luaopen_ident("a.b.c").to_string(), "luaopen_a_b_c");
    }
}
