//! `#[derive(LuaRecord)]`: a struct read from and written to a Lua table.

use proc_macro2::TokenStream;
use quote::{quote, quote_spanned};
use syn::DeriveInput;
use syn::spanned::Spanned;

use super::dummy::wrap_in_const;
use crate::ast::record::{Record, RecordField};
use crate::ast::shape::last_segment_is;
use crate::ctxt::Ctxt;
use crate::valid;

pub fn entry(input: TokenStream) -> TokenStream {
    let di: DeriveInput = match syn::parse2(input) {
        Ok(d) => d,
        Err(e) => return e.to_compile_error(),
    };
    let cx = Ctxt::new();
    let r = Record::parse(&cx, di);
    valid::record::check_record(&cx, &r);
    match (cx.check(), &r.fields) {
        (Ok(()), Some(fields)) => expand(&r, fields),
        (Err(e), _) => e.to_compile_error(),
        (Ok(()), None) => TokenStream::new(),
    }
}

fn expand(r: &Record, fields: &[RecordField]) -> TokenStream {
    let p = r.krate.private();
    let ident = &r.input.ident;
    let (rec_name, rec_doc) = (&r.name, &r.doc);
    let type_fields = fields.iter().map(|f| {
        let (ty, name, doc) = (&f.ty, &f.lua_name, &f.doc);
        let optional = f.default || last_segment_is(ty, "Option");
        quote! {
            #p::Field {
                name: #p::String::from(#name),
                ty: (&#p::Tag::<#ty>::new()).__lua_type(reg).strip_optional().clone(),
                optional: #optional,
                readonly: false,
                doc: #p::String::from(#doc),
            }
        }
    });
    let reads = fields.iter().map(|f| {
        let (fid, ty, name) = (&f.ident, &f.ty, &f.lua_name);
        let read = quote_spanned! {ty.span()=>
            #p::field::<#ty>(cx, idx, #name)?
        };
        if f.default {
            quote! {
                #fid: if #p::field_is_nil(cx, idx, #name)? {
                    <#ty as #p::Default>::default()
                } else {
                    #read
                }
            }
        } else {
            quote!(#fid: #read)
        }
    });
    let writes = fields.iter().map(|f| {
        let (fid, name) = (&f.ident, &f.lua_name);
        quote!(#p::set_field(cx, #name, self.#fid)?;)
    });
    let n = fields.len();
    wrap_in_const(quote! {
            impl #p::LuaType for #ident {
                fn lua_type(reg: &mut #p::TypeRegistry) -> #p::Type {
                    #[allow(unused_imports)]
                    use #p::{AnyType as _, KnownType as _};
                    reg.record(#rec_name, #rec_doc, |reg| #p::vec![#(#type_fields),*])
                }
            }

            #[diagnostic::do_not_recommend]
            impl<'a> #p::FromArg<'a> for #ident {
                fn from_arg(
                    cx: &'a #p::CallCx,
                    idx: #p::c_int,
                ) -> #p::Result<Self, #p::ArgError> {
                    #p::expect_table(cx, idx)?;
                    #p::Ok(#ident { #(#reads),* })
                }
            }

            #[diagnostic::do_not_recommend]
            impl #p::IntoReturn for #ident {
                fn push_return(
                    self,
                    cx: &#p::CallCx,
                ) -> #p::Result<#p::c_int, #p::CallError> {
                    #p::new_table(cx, 0, #n)?;
                    #(#writes)*
                    #p::Ok(1)
                }
            }
    })
}
