//! `async fn` exports: the macro writes the command that carries the
//! arguments, its default handler (which awaits the function on the
//! runtime's pool) and a shim the export calls, returning `Yield<command>`.

use proc_macro2::TokenStream;
use quote::{format_ident, quote};

use crate::ast::function::Function;
use crate::ast::param::ParamKind;
use crate::ast::shape::{generic_args, last_segment_is};

/// The command type of an `async fn` export.
pub fn command_ident(f: &Function) -> syn::Ident {
    format_ident!("__luamod_cmd_{}", f.item.sig.ident)
}

/// For `async fn f(a: A) -> R`: a command struct carrying the arguments,
/// its `Command` impl whose default handler awaits `f`, and a shim the
/// export calls that returns `Yield<command>`.
pub fn expand(p: &TokenStream, module: &str, f: &Function) -> (TokenStream, syn::Ident) {
    let ident = &f.item.sig.ident;
    let cmd = command_ident(f);
    let shim = format_ident!("__luamod_async_{}", ident);
    let name = format!("{module}.{}", f.lua_name());
    let id = match &f.command {
        Some(lit) => quote!(#p::CommandId(#lit)),
        None => quote!(#p::CommandId::derive(#name)),
    };
    let mut fields = Vec::new();
    let mut names = Vec::new();
    let mut tys = Vec::new();
    // The body's arguments: the command's fields, and the handler's
    // context where the function takes `cx: HandlerCx`.
    let mut args = Vec::new();
    for (i, prm) in f.params.iter().enumerate() {
        if let ParamKind::Handler = prm.kind {
            args.push(quote!(_cx.clone()));
        } else if let ParamKind::State(ty) = &prm.kind {
            // The command keeps the runtime's state alive; the body
            // borrows it while it runs.
            let n = format_ident!("a{}", i);
            fields.push(quote!(pub #n: #p::Arc<#ty>));
            args.push(quote!(&*cmd.#n));
            names.push(n);
            tys.push(syn::parse_quote!(#p::Arc<#ty>));
        } else if let Some(ty) = &prm.ty {
            let n = format_ident!("a{}", i);
            fields.push(quote!(pub #n: #ty));
            args.push(quote!(cmd.#n));
            names.push(n);
            tys.push(ty.clone());
        }
    }
    let (output, body) = match &f.item.sig.output {
        syn::ReturnType::Type(_, ty) if last_segment_is(ty, "Result") => {
            let ok = generic_args(ty)
                .cloned()
                .unwrap_or_else(|| syn::parse_quote!(()));
            (quote!(#ok), quote!(self::#ident(#(#args),*).await))
        }
        syn::ReturnType::Type(_, ty) => {
            (quote!(#ty), quote!(#p::Ok(self::#ident(#(#args),*).await)))
        }
        syn::ReturnType::Default => (quote!(()), quote!(#p::Ok(self::#ident(#(#args),*).await))),
    };
    let tokens = quote! {
        #[doc(hidden)]
        #[allow(non_camel_case_types)]
        pub struct #cmd { #(#fields),* }

        impl #p::Command for #cmd {
            const ID: #p::CommandId = #id;
            const NAME: &'static str = #name;
            type Output = #output;
            fn default_handler() -> #p::Option<
                #p::Arc<dyn #p::ErasedHandler>,
            > {
                #p::Some(#p::handler_fn(
                    |cmd: Self, _cx: #p::HandlerCx| async move { #body },
                ))
            }
        }

        #[doc(hidden)]
        #[allow(non_snake_case)]
        fn #shim(#(#names: #tys),*) -> #p::Yield<#cmd> {
            #p::Yield(#cmd { #(#names),* })
        }
    };
    (tokens, shim)
}
