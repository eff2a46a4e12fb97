//! `#[luamod::userdata]`: the class definition, its field accessors (made
//! by the export generator like any export), and the conversions that let
//! the type be a parameter (`&T`, `&mut T`, `T` when `Clone`) and a result.

use proc_macro2::TokenStream;
use quote::{format_ident, quote};
use syn::Item;

use super::dummy::wrap_in_const;
use super::export::{self, Body, ExportSpec};
use crate::ast::class::Userdata;
use crate::ctxt::Ctxt;
use crate::valid;

pub fn entry(args: TokenStream, input: TokenStream) -> TokenStream {
    let item: Item = match syn::parse2(input) {
        Ok(i) => i,
        Err(e) => return e.to_compile_error(),
    };
    let cx = Ctxt::new();
    let Some(u) = Userdata::parse(&cx, args, item.clone()) else {
        let mut out = match cx.check() {
            Err(e) => e.to_compile_error(),
            Ok(()) => TokenStream::new(),
        };
        out.extend(quote!(#item));
        return out;
    };
    valid::class::check_userdata(&cx, &u);
    let item = &u.item;
    // Expanded even after an error (with the options that did parse), so
    // that one mistake does not also report the type as no userdata.
    let mut body = match cx.check() {
        Ok(()) => TokenStream::new(),
        Err(e) => e.to_compile_error(),
    };
    body.extend(expand(&u));
    quote!(#item #body)
}

fn expand(u: &Userdata) -> TokenStream {
    let p = u.krate.private();
    let ident = &u.ident;
    let name = u.lua_name();
    let short = name.rsplit('.').next().unwrap_or(&name).to_owned();
    let doc = &u.doc;
    let self_ty: syn::Type = syn::parse_quote!(#ident);
    let info_module = quote!(|| <#ident as #p::LuaClass>::CLASS.name);
    let mut fns = Vec::new();
    let mut getters = Vec::new();
    let mut setters = Vec::new();
    for f in &u.fields {
        let member = &f.member;
        let base = match member {
            syn::Member::Named(id) => id.to_string(),
            syn::Member::Unnamed(i) => i.index.to_string(),
        };
        let accessors = [
            (f.get, format_ident!("__luamod_get_{}", base), false),
            (f.set, format_ident!("__luamod_set_{}", base), true),
        ];
        for (wanted, export_ident, setter) in accessors {
            if !wanted {
                continue;
            }
            let body = if setter {
                Body::Set {
                    self_ty: self_ty.clone(),
                    member: member.clone(),
                    ty: f.ty.clone(),
                }
            } else {
                Body::Get {
                    self_ty: self_ty.clone(),
                    member: member.clone(),
                    ty: f.ty.clone(),
                }
            };
            let spec = ExportSpec {
                p: p.clone(),
                export_ident,
                info_module: info_module.clone(),
                lua_name: f.lua_name.clone(),
                body,
                ret_span: proc_macro2::Span::call_site(),
                ret_ty: None,
                returns_override: None,
                doc: f.doc.clone(),
                is_async: false,
                permission: None,
                setter_method: false,
                async_shim: false,
            };
            fns.push(export::export_fn(&spec));
            let def = export::function_def(&spec);
            if setter {
                setters.push(def);
            } else {
                getters.push(def);
            }
        }
    }
    let by_value = u.by_clone.then(|| {
        quote! {
            #[diagnostic::do_not_recommend]
            impl<'a> #p::FromArg<'a> for #ident {
                fn from_arg(cx: &'a #p::CallCx, idx: #p::c_int) -> #p::Result<Self, #p::ArgError> {
                    #p::ud_clone::<#ident>(cx, idx)
                }
            }
        }
    });
    wrap_in_const(quote! {
        #(#fns)*

        // A static, not a constant: the class is known in each Lua state
        // by this definition's address, which must be one address.
        static __LUAMOD_CLASS: #p::ClassDef = #p::ClassDef {
            name: #name,
            short: #short,
            doc: #doc,
            field_getters: &[#(#getters),*],
            field_setters: &[#(#setters),*],
            items: <#ident as #p::LuaMethods>::ITEMS,
            gc: #p::gc::<#ident>,
        };

        #[diagnostic::do_not_recommend]
        // SAFETY: the class definition above is this type's alone.
        unsafe impl #p::LuaClass for #ident {
            const CLASS: &'static #p::ClassDef = &__LUAMOD_CLASS;
        }

        impl #p::LuaType for #ident {
            fn lua_type(reg: &mut #p::TypeRegistry) -> #p::Type {
                #p::class_type(reg, <#ident as #p::LuaClass>::CLASS)
            }
        }

        #[diagnostic::do_not_recommend]
        impl<'a> #p::FromArg<'a> for &'a #ident {
            fn from_arg(cx: &'a #p::CallCx, idx: #p::c_int) -> #p::Result<Self, #p::ArgError> {
                #p::ud_ref::<#ident>(cx, idx)
            }
        }

        #[diagnostic::do_not_recommend]
        impl<'a> #p::FromArg<'a> for &'a mut #ident {
            fn from_arg(cx: &'a #p::CallCx, idx: #p::c_int) -> #p::Result<Self, #p::ArgError> {
                #p::ud_mut::<#ident>(cx, idx)
            }
        }

        #[diagnostic::do_not_recommend]
        impl #p::IntoReturn for #ident {
            fn push_return(self, cx: &#p::CallCx) -> #p::Result<#p::c_int, #p::CallError> {
                #p::ud_push::<#ident>(cx, self)
            }
        }

        #by_value
    })
}
