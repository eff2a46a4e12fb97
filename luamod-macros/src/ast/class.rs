//! A `#[luamod::userdata]` struct or enum: its options and its Lua fields.

use proc_macro2::TokenStream;
use syn::{Fields, Ident, Item, LitStr, Member, Type};

use super::module::{crate_option, derives};
use crate::attr::{self, Kind, Options, Schema};
use crate::ctxt::Ctxt;
use crate::krate::Krate;

const USERDATA: Schema = Schema {
    what: "userdata",
    keys: &[
        ("name", Kind::Str),
        ("clone", Kind::Flag),
        ("crate", Kind::Str),
    ],
};

const FIELD: Schema = Schema {
    what: "field",
    keys: &[
        ("field", Kind::Flag),
        ("get", Kind::Flag),
        ("set", Kind::Flag),
        ("name", Kind::Str),
    ],
};

/// A struct field exposed to Lua.
pub struct LuaField {
    pub member: Member,
    pub ty: Type,
    pub lua_name: String,
    /// The name's literal or the field's identifier, for spans.
    pub name_span: TokenStream,
    pub get: bool,
    pub set: bool,
    pub doc: String,
}

pub struct Userdata {
    /// The item as written, minus `#[lua(...)]` on fields.
    pub item: Item,
    pub ident: Ident,
    pub generics: syn::Generics,
    pub name: Option<LitStr>,
    /// `clone` given, or `#[derive(Clone)]`: the type may be taken by value.
    pub by_clone: bool,
    pub krate: Krate,
    pub doc: String,
    pub fields: Vec<LuaField>,
}

impl Userdata {
    /// The Lua type name: `name = "..."` (the module supplies
    /// `module.Type`), else the Rust name.
    pub fn lua_name(&self) -> String {
        match &self.name {
            Some(l) => l.value(),
            None => self.ident.to_string(),
        }
    }

    /// Reads a struct or enum; `None` (with an error) for anything else.
    pub fn parse(cx: &Ctxt, args: TokenStream, mut item: Item) -> Option<Userdata> {
        let opts = Options::parse(cx, args, &USERDATA);
        let krate = crate_option(cx, &opts);
        let (ident, generics, attrs) = match &item {
            Item::Struct(s) => (s.ident.clone(), s.generics.clone(), s.attrs.clone()),
            Item::Enum(e) => (e.ident.clone(), e.generics.clone(), e.attrs.clone()),
            other => {
                cx.error_spanned_by(
                    item_keyword(other),
                    "`#[luamod::userdata]` goes on a struct or an enum",
                );
                return None;
            }
        };
        let mut fields = Vec::new();
        if let Item::Struct(s) = &mut item {
            let named = matches!(s.fields, Fields::Named(_));
            for (i, f) in s.fields.iter_mut().enumerate() {
                let mut o = Options::default();
                f.attrs.retain(|a| {
                    if attr::is_lua_attr(a) {
                        o.merge(cx, Options::from_attr(cx, a, &FIELD));
                        false
                    } else {
                        true
                    }
                });
                let (get, set) = (
                    o.flag("get") || o.flag("field"),
                    o.flag("set") || o.flag("field"),
                );
                if !(get || set) {
                    continue;
                }
                let (member, default_name) = match &f.ident {
                    Some(id) => (Member::Named(id.clone()), id.to_string()),
                    None => {
                        if !named {
                            cx.error_spanned_by(&f.ty, "a Lua field needs a named struct field");
                        }
                        (Member::Unnamed(i.into()), String::new())
                    }
                };
                let lit = o.str("name");
                let name_span = match (&lit, &f.ident) {
                    (Some(l), _) => quote::quote!(#l),
                    (None, Some(id)) => quote::quote!(#id),
                    (None, None) => quote::quote!(),
                };
                fields.push(LuaField {
                    member,
                    ty: f.ty.clone(),
                    lua_name: lit.map(|l| l.value()).unwrap_or(default_name),
                    name_span,
                    get,
                    set,
                    doc: attr::doc::doc_text(&f.attrs),
                });
            }
        }
        Some(Userdata {
            ident,
            generics,
            name: opts.str("name"),
            by_clone: opts.flag("clone") || derives(&attrs, "Clone"),
            krate,
            doc: attr::doc::doc_text(&attrs),
            fields,
            item,
        })
    }
}

/// The keyword that starts an item, for an error span.
fn item_keyword(item: &Item) -> TokenStream {
    match item {
        Item::Union(u) => {
            let t = u.union_token;
            quote::quote!(#t)
        }
        Item::Fn(f) => {
            let s = &f.sig;
            quote::quote!(#s)
        }
        Item::Impl(i) => {
            let t = i.impl_token;
            quote::quote!(#t)
        }
        other => quote::quote!(#other),
    }
}
