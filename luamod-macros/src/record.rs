//! `#[derive(LuaRecord)]`: a struct with named fields read from and written
//! to a Lua table.

use proc_macro2::TokenStream;
use quote::{quote, quote_spanned};
use syn::spanned::Spanned;
use syn::{Data, DeriveInput, Fields, LitStr};

use crate::ast;
use crate::ctxt::Ctxt;

struct FieldSpec {
    ident: syn::Ident,
    ty: syn::Type,
    lua_name: String,
    default: bool,
    doc: String,
}

struct RecordSpec {
    /// The Lua type name: `#[lua(name = "...")]` (added by the module
    /// macro as `module.Type`), else the Rust name.
    name: String,
    doc: String,
    fields: Vec<FieldSpec>,
}

pub fn derive(input: TokenStream) -> TokenStream {
    let di: DeriveInput = match syn::parse2(input) {
        Ok(d) => d,
        Err(e) => return e.to_compile_error(),
    };
    let cx = Ctxt::new();
    let mut name: Option<LitStr> = None;
    for a in di.attrs.iter().filter(|a| a.path().is_ident("lua")) {
        let r = a.parse_nested_meta(|meta| {
            if meta.path.is_ident("name") {
                name = Some(meta.value()?.parse()?);
            } else {
                cx.error_spanned_by(
                    &meta.path,
                    "unknown record option; expected `name = \"...\"`",
                );
            }
            Ok(())
        });
        if let Err(e) = r {
            cx.syn_error(e);
        }
    }
    let spec = RecordSpec {
        name: name
            .map(|l| l.value())
            .unwrap_or_else(|| di.ident.to_string()),
        doc: crate::attr::doc_text(&di.attrs),
        fields: parse(&cx, &di),
    };
    match cx.check() {
        Ok(()) => expand(&di, &spec),
        Err(e) => e.to_compile_error(),
    }
}

fn parse(cx: &Ctxt, di: &DeriveInput) -> Vec<FieldSpec> {
    if di.generics.type_params().next().is_none()
        && di.generics.const_params().next().is_none()
        && di.generics.lifetimes().next().is_some()
    {
        cx.error_spanned_by(
            &di.generics,
            "`LuaRecord` fields must own their data (`String`, not `&str`): \
             the table is read into the struct and then left behind",
        );
    } else if !di.generics.params.is_empty() {
        cx.error_spanned_by(&di.generics, "`LuaRecord` types cannot be generic");
    }
    let named = match &di.data {
        Data::Struct(s) => match &s.fields {
            Fields::Named(n) => n,
            Fields::Unnamed(_) | Fields::Unit => {
                cx.error_spanned_by(
                    &di.ident,
                    "`LuaRecord` needs a struct with named fields: they become the table's keys",
                );
                return Vec::new();
            }
        },
        _ => {
            cx.error_spanned_by(&di.ident, "`LuaRecord` needs a struct with named fields");
            return Vec::new();
        }
    };
    let mut out = Vec::new();
    for f in &named.named {
        let Some(ident) = f.ident.clone() else {
            continue;
        };
        let mut rename: Option<LitStr> = None;
        let mut default = false;
        for a in f.attrs.iter().filter(|a| a.path().is_ident("lua")) {
            let r = a.parse_nested_meta(|meta| {
                if meta.path.is_ident("rename") {
                    rename = Some(meta.value()?.parse()?);
                } else if meta.path.is_ident("default") {
                    default = true;
                } else {
                    cx.error_spanned_by(
                        &meta.path,
                        "unknown record field option; expected `rename = \"...\"` or `default`",
                    );
                    if meta.input.peek(syn::Token![=]) {
                        let _: syn::Expr = meta.value()?.parse()?;
                    }
                }
                Ok(())
            });
            if let Err(e) = r {
                cx.syn_error(e);
            }
        }
        let lua_name = rename
            .as_ref()
            .map(|l| l.value())
            .unwrap_or_else(|| ident.to_string());
        if lua_name.is_empty() {
            cx.error_spanned_by(&ident, "a record field name cannot be empty");
        }
        if default && ast::last_segment_is(&f.ty, "Option") {
            cx.error_spanned_by(
                &ident,
                "an `Option` field is already optional; drop `default`",
            );
        }
        out.push(FieldSpec {
            ident,
            ty: f.ty.clone(),
            lua_name,
            default,
            doc: crate::attr::doc_text(&f.attrs),
        });
    }
    out
}

fn expand(di: &DeriveInput, spec: &RecordSpec) -> TokenStream {
    let ident = &di.ident;
    let fields = &spec.fields;
    let (rec_name, rec_doc) = (&spec.name, &spec.doc);
    let type_fields = fields.iter().map(|f| {
        let (ty, name, doc) = (&f.ty, &f.lua_name, &f.doc);
        let optional = f.default || ast::last_segment_is(ty, "Option");
        quote! {
            ::luamod::__private::Field {
                name: ::luamod::__private::String::from(#name),
                ty: (&::luamod::__private::Tag::<#ty>::new()).__lua_type(reg).strip_optional().clone(),
                optional: #optional,
                readonly: false,
                doc: ::luamod::__private::String::from(#doc),
            }
        }
    });
    let reads = fields.iter().map(|f| {
        let (fid, ty, name) = (&f.ident, &f.ty, &f.lua_name);
        let read = quote_spanned! {ty.span()=>
            ::luamod::__private::field::<#ty>(cx, idx, #name)?
        };
        if f.default {
            quote! {
                #fid: if ::luamod::__private::field_is_nil(cx, idx, #name)? {
                    <#ty as ::luamod::__private::Default>::default()
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
        quote!(::luamod::__private::set_field(cx, #name, self.#fid)?;)
    });
    let n = fields.len();
    quote! {
        const _: () = {
            impl ::luamod::__private::LuaType for #ident {
                fn lua_type(reg: &mut ::luamod::__private::TypeRegistry) -> ::luamod::__private::Type {
                    #[allow(unused_imports)]
                    use ::luamod::__private::{AnyType as _, KnownType as _};
                    reg.record(#rec_name, #rec_doc, |reg| ::std::vec![#(#type_fields),*])
                }
            }

            impl<'a> ::luamod::__private::FromArg<'a> for #ident {
                fn from_arg(
                    cx: &'a ::luamod::__private::CallCx,
                    idx: ::luamod::__private::c_int,
                ) -> ::luamod::__private::Result<Self, ::luamod::__private::ArgError> {
                    ::luamod::__private::expect_table(cx, idx)?;
                    ::luamod::__private::Ok(#ident { #(#reads),* })
                }
            }

            impl ::luamod::__private::IntoReturn for #ident {
                fn push_return(
                    self,
                    cx: &::luamod::__private::CallCx,
                ) -> ::luamod::__private::Result<::luamod::__private::c_int, ::luamod::__private::CallError> {
                    ::luamod::__private::new_table(cx, 0, #n)?;
                    #(#writes)*
                    ::luamod::__private::Ok(1)
                }
            }
        };
    }
}
