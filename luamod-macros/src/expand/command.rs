//! `#[derive(Command)]`: the `Command` impl of a plain-data struct.

use proc_macro2::TokenStream;
use quote::quote;
use syn::DeriveInput;

use crate::ast::command::CommandSpec;
use crate::ctxt::Ctxt;
use crate::valid;

pub fn entry(input: TokenStream) -> TokenStream {
    let di: DeriveInput = match syn::parse2(input) {
        Ok(d) => d,
        Err(e) => return e.to_compile_error(),
    };
    let cx = Ctxt::new();
    let c = CommandSpec::parse(&cx, di);
    valid::command::check_command(&cx, &c);
    match cx.check() {
        Ok(()) => expand(&c),
        Err(e) => e.to_compile_error(),
    }
}

fn expand(c: &CommandSpec) -> TokenStream {
    let p = c.krate.private();
    let ident = &c.input.ident;
    let (id, name) = (&c.id, &c.name);
    let output = c.output.clone().unwrap_or_else(|| syn::parse_quote!(()));
    let default_handler = c.handler.as_ref().map(|h| {
        quote! {
            fn default_handler() -> #p::Option<#p::Arc<dyn #p::ErasedHandler>> {
                #p::Some(#p::handler_fn::<Self, _, _>(#h))
            }
        }
    });
    quote! {
        impl #p::Command for #ident {
            const ID: #p::CommandId = #p::CommandId(#id);
            const NAME: &'static str = #name;
            type Output = #output;
            #default_handler
        }
    }
}
