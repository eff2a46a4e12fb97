//! `#[luamod::methods]`: one export per item, listed by role in the
//! class's `MethodsDef`.

use proc_macro2::{Span, TokenStream};
use quote::{format_ident, quote};
use syn::ItemImpl;

use super::dummy::wrap_in_const;
use super::export::{self, Body, ExportSpec};
use super::module::ret_span;
use crate::ast::methods::{Methods, Role};
use crate::ctxt::Ctxt;
use crate::valid;

pub fn entry(args: TokenStream, input: TokenStream) -> TokenStream {
    let imp: ItemImpl = match syn::parse2(input.clone()) {
        Ok(i) => i,
        Err(_) => {
            let mut out = syn::Error::new(
                Span::call_site(),
                "`#[luamod::methods]` goes on an inherent impl block: `impl Type { ... }`",
            )
            .to_compile_error();
            out.extend(input);
            return out;
        }
    };
    let cx = Ctxt::new();
    let m = Methods::parse(&cx, args, imp);
    valid::methods::check_methods(&cx, &m);
    let imp = &m.imp;
    let body = match cx.check() {
        Ok(()) => expand(&m, true),
        Err(e) => {
            // Still implement the trait (with no items) so that one mistake
            // does not also report "has no methods block" on the type.
            let mut out = e.to_compile_error();
            out.extend(expand(&m, false));
            out
        }
    };
    quote!(#imp #body)
}

fn expand(m: &Methods, with_items: bool) -> TokenStream {
    let p = m.krate.private();
    let self_ty = &m.self_ty;
    let info_module = quote!(<#self_ty as #p::LuaMethods>::class_name);
    let mut fns = Vec::new();
    let mut lists: [Vec<TokenStream>; 5] = Default::default();
    let specs = if with_items { &m.specs[..] } else { &[] };
    for s in specs {
        let ident = &s.sig.ident;
        let spec = ExportSpec {
            p: p.clone(),
            export_ident: format_ident!("__luamod_method_{}", ident),
            info_module: info_module.clone(),
            lua_name: s.lua_name(),
            body: Body::Call {
                path: quote!(<#self_ty>::#ident),
                params: &s.params,
                receiver: s.receiver.map(|mutable| (self_ty.clone(), mutable)),
            },
            ret_span: ret_span(&s.sig),
            ret_ty: s.ret_ty.clone(),
            returns_override: s.returns.clone(),
            doc: s.doc.clone(),
            is_async: s.yields.is_some(),
            permission: None,
            setter_method: s.role() == Role::Setter,
            async_shim: false,
        };
        fns.push(export::export_fn(&spec));
        let slot = match s.role() {
            Role::Method => 0,
            Role::Getter => 1,
            Role::Setter => 2,
            Role::Meta => 3,
            Role::Static => 4,
        };
        lists[slot].push(export::function_def(&spec));
    }
    let [methods, getters, setters, meta, statics] = &lists;
    let commands = specs.iter().filter_map(|s| s.yields.as_ref());
    wrap_in_const(quote! {
        #(#fns)*

        #[diagnostic::do_not_recommend]
        // SAFETY: `class` is the type's own class definition.
        unsafe impl #p::LuaMethods for #self_ty {
            fn class() -> &'static #p::ClassDef {
                <#self_ty as #p::LuaClass>::CLASS
            }

            const ITEMS: &'static #p::MethodsDef = &#p::MethodsDef {
                methods: &[#(#methods),*],
                getters: &[#(#getters),*],
                setters: &[#(#setters),*],
                meta: &[#(#meta),*],
                statics: &[#(#statics),*],
                commands: &[#(<#commands as #p::Command>::DEF),*],
            };
        }
    })
}
