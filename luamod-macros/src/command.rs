//! `#[derive(Command)]`: a plain-data struct becomes a command a Lua process
//! can yield. `#[command(id = N, name = "mod.name", output = T)]`, and
//! optionally `handler = path` naming the module's default handler, an
//! `async fn(Self, HandlerCx) -> Result<T, LuaError>`.

use proc_macro2::TokenStream;
use quote::quote;
use syn::{DeriveInput, LitInt, LitStr, Path, Type};

use crate::ctxt::Ctxt;

pub fn derive(input: TokenStream) -> TokenStream {
    let di: DeriveInput = match syn::parse2(input) {
        Ok(d) => d,
        Err(e) => return e.to_compile_error(),
    };
    let cx = Ctxt::new();
    let mut id: Option<LitInt> = None;
    let mut name: Option<LitStr> = None;
    let mut output: Option<Type> = None;
    let mut handler: Option<Path> = None;
    let mut found = false;
    for a in di.attrs.iter().filter(|a| a.path().is_ident("command")) {
        found = true;
        let r = a.parse_nested_meta(|meta| {
            if meta.path.is_ident("id") {
                id = Some(meta.value()?.parse()?);
            } else if meta.path.is_ident("name") {
                name = Some(meta.value()?.parse()?);
            } else if meta.path.is_ident("output") {
                output = Some(meta.value()?.parse()?);
            } else if meta.path.is_ident("handler") {
                handler = Some(meta.value()?.parse()?);
            } else {
                cx.error_spanned_by(
                    &meta.path,
                    "unknown command option; expected `id`, `name`, `output` or `handler`",
                );
            }
            Ok(())
        });
        if let Err(e) = r {
            cx.syn_error(e);
        }
    }
    if !found {
        cx.error_spanned_by(
            &di.ident,
            "a command needs `#[command(id = N, name = \"mod.name\", output = T)]`",
        );
    }
    if !di.generics.params.is_empty() {
        cx.error_spanned_by(
            &di.generics,
            "commands are plain data and cannot be generic",
        );
    }
    if let Some(l) = &id {
        match l.base10_parse::<u16>() {
            Ok(v) if v < 256 => cx.error_spanned_by(
                l,
                format!("command id {v} is reserved for the runtime; use 256..=65535"),
            ),
            Ok(_) => {}
            Err(_) => cx.error_spanned_by(l, "a command id is a number in 256..=65535"),
        }
    } else if found {
        cx.error_spanned_by(&di.ident, "missing `id = N` in `#[command(...)]`");
    }
    if name.is_none() && found {
        cx.error_spanned_by(
            &di.ident,
            "missing `name = \"mod.name\"` in `#[command(...)]`",
        );
    }
    if let Err(e) = cx.check() {
        return e.to_compile_error();
    }
    let ident = &di.ident;
    let output = output.unwrap_or_else(|| syn::parse_quote!(()));
    let default_handler = handler.map(|h| {
        quote! {
            fn default_handler() -> ::luamod::__private::Option<
                ::luamod::__private::Arc<dyn ::luamod::__private::ErasedHandler>,
            > {
                ::luamod::__private::Some(::luamod::__private::handler_fn::<Self, _, _>(#h))
            }
        }
    });
    quote! {
        impl ::luamod::__private::Command for #ident {
            const ID: ::luamod::__private::CommandId = ::luamod::__private::CommandId(#id);
            const NAME: &'static str = #name;
            type Output = #output;
            #default_handler
        }
    }
}
