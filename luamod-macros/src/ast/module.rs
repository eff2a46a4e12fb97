//! A `#[luamod::module]`: its options, its exported functions, and the
//! userdata types, records and methods blocks defined inside it, whose
//! attributes are completed with the module's defaults (`name =
//! "module.Type"`, the crate path) before they expand.

use proc_macro2::{TokenStream, TokenTree};
use quote::quote;
use syn::{Attribute, Ident, Item, ItemMod, LitStr};

use super::function::Function;
use crate::attr::{self, Kind, Options, Schema};
use crate::ctxt::Ctxt;
use crate::krate::Krate;

const MODULE: Schema = Schema {
    what: "module",
    keys: &[
        ("name", Kind::Str),
        ("class", Kind::List),
        ("commands", Kind::List),
        ("state", Kind::Type),
        ("crate", Kind::Str),
        ("luaopen", Kind::Flag),
    ],
};

pub struct Module {
    pub item: ItemMod,
    pub name: Option<LitStr>,
    /// Each class as written.
    pub classes: Vec<Ident>,
    /// `commands(A, B)`: commands its exports yield only from a
    /// continuation (a `Then` or `Invoke` chain), so no export's return
    /// type names them; their default handlers are registered too.
    pub extra_commands: Vec<Ident>,
    /// `state = T`: what the host configures the module with.
    pub state: Option<syn::Type>,
    /// `luaopen`: with luamod's `module` feature, export `luaopen_NAME`
    /// for a stock interpreter's `require`.
    pub luaopen: bool,
    pub krate: Krate,
    pub doc: String,
    pub functions: Vec<Function>,
    /// Userdata types defined in the module.
    pub userdata: Vec<Ident>,
}

impl Module {
    /// The name `require` takes: `name = "..."` or the Rust module's name.
    pub fn lua_name(&self) -> String {
        match &self.name {
            Some(l) => l.value(),
            None => self.item.ident.to_string(),
        }
    }

    pub fn parse(cx: &Ctxt, args: TokenStream, mut item: ItemMod) -> Module {
        let opts = Options::parse(cx, args, &MODULE);
        let krate = crate_option(cx, &opts);
        let mut m = Module {
            doc: attr::doc::doc_text(&item.attrs),
            name: opts.str("name"),
            classes: opts
                .list("class")
                .map(<[Ident]>::to_vec)
                .unwrap_or_default(),
            extra_commands: opts
                .list("commands")
                .map(<[Ident]>::to_vec)
                .unwrap_or_default(),
            state: opts.ty("state"),
            luaopen: opts.flag("luaopen"),
            krate,
            functions: Vec::new(),
            userdata: Vec::new(),
            item: item.clone(),
        };
        let lua_name = m.lua_name();
        let custom_crate = opts.str("crate");
        let kname = m.krate.name();
        if let Some((_, items)) = &mut item.content {
            for it in items.iter_mut() {
                adopt(it, &lua_name, custom_crate.as_ref(), &kname);
                match it {
                    Item::Struct(s)
                        if s.attrs
                            .iter()
                            .any(|a| attr::is_luamod_attr(a, "userdata", &kname)) =>
                    {
                        m.userdata.push(s.ident.clone());
                    }
                    Item::Enum(e)
                        if e.attrs
                            .iter()
                            .any(|a| attr::is_luamod_attr(a, "userdata", &kname)) =>
                    {
                        m.userdata.push(e.ident.clone());
                    }
                    Item::Fn(f) => {
                        let pos = f.attrs.iter().position(|a| {
                            attr::is_luamod_attr(a, "function", &kname)
                                || attr::is_luamod_attr(a, "constant", &kname)
                        });
                        if let Some(pos) = pos {
                            let fattr = f.attrs.remove(pos);
                            let constant = attr::is_luamod_attr(&fattr, "constant", &kname);
                            m.functions.push(Function::parse(cx, f, &fattr, constant));
                        }
                    }
                    _ => {}
                }
            }
        }
        if let Some(state) = &m.state {
            for f in &mut m.functions {
                super::param::mark_state(&mut f.params, state);
            }
        }
        m.item = item;
        m
    }
}

/// `crate = "..."`, or `::luamod`.
pub fn crate_option(cx: &Ctxt, opts: &Options) -> Krate {
    match opts.str("crate") {
        Some(lit) => Krate::from_lit(&lit).unwrap_or_else(|e| {
            cx.syn_error(e);
            Krate::default()
        }),
        None => Krate::default(),
    }
}

/// Completes the attributes of a userdata type, record or methods block
/// defined in the module.
fn adopt(item: &mut Item, module: &str, krate: Option<&LitStr>, kname: &str) {
    match item {
        Item::Struct(s) => {
            let name = format!("{module}.{}", s.ident);
            if let Some(a) = s
                .attrs
                .iter_mut()
                .find(|a| attr::is_luamod_attr(a, "userdata", kname))
            {
                complete(a, &name, krate);
            } else if derives(&s.attrs, "LuaRecord") {
                complete_record(&mut s.attrs, &name, krate);
            }
        }
        Item::Enum(e) => {
            let name = format!("{module}.{}", e.ident);
            if let Some(a) = e
                .attrs
                .iter_mut()
                .find(|a| attr::is_luamod_attr(a, "userdata", kname))
            {
                complete(a, &name, krate);
            }
        }
        Item::Impl(i) => {
            if let Some(a) = i
                .attrs
                .iter_mut()
                .find(|a| attr::is_luamod_attr(a, "methods", kname))
                && let Some(k) = krate
                && !has_key(a, "crate")
            {
                let path = a.path().clone();
                let old = list_tokens(a);
                *a = syn::parse_quote!(#[#path(crate = #k #old)]);
            }
        }
        _ => {}
    }
}

/// Adds `name = "..."` and `crate = "..."` to `#[luamod::userdata(...)]`
/// when they are missing.
fn complete(a: &mut Attribute, name: &str, krate: Option<&LitStr>) {
    let mut extra = TokenStream::new();
    if !has_key(a, "name") {
        extra.extend(quote!(name = #name,));
    }
    if let Some(k) = krate
        && !has_key(a, "crate")
    {
        extra.extend(quote!(crate = #k,));
    }
    if extra.is_empty() {
        return;
    }
    let path = a.path().clone();
    let old = match &a.meta {
        syn::Meta::List(l) => l.tokens.clone(),
        _ => TokenStream::new(),
    };
    *a = syn::parse_quote!(#[#path(#extra #old)]);
}

fn complete_record(attrs: &mut Vec<Attribute>, name: &str, krate: Option<&LitStr>) {
    let lua_attrs: Vec<&Attribute> = attrs.iter().filter(|a| attr::is_lua_attr(a)).collect();
    if !lua_attrs.iter().any(|a| has_key(a, "name")) {
        attrs.push(syn::parse_quote!(#[lua(name = #name)]));
    }
    if let Some(k) = krate
        && !attrs
            .iter()
            .any(|a| attr::is_lua_attr(a) && has_key(a, "crate"))
    {
        attrs.push(syn::parse_quote!(#[lua(crate = #k)]));
    }
}

/// `, tokens` of an attribute's list, or nothing.
fn list_tokens(a: &Attribute) -> TokenStream {
    match &a.meta {
        syn::Meta::List(l) if !l.tokens.is_empty() => {
            let t = &l.tokens;
            quote!(, #t)
        }
        _ => TokenStream::new(),
    }
}

/// Whether the attribute's list has `key = ...` at its top level.
fn has_key(a: &Attribute, key: &str) -> bool {
    let syn::Meta::List(l) = &a.meta else {
        return false;
    };
    let tokens: Vec<TokenTree> = l.tokens.clone().into_iter().collect();
    tokens.windows(2).any(|w| {
        matches!((&w[0], &w[1]), (TokenTree::Ident(i), TokenTree::Punct(p)) if i == key && p.as_char() == '=')
    })
}

/// Whether `#[derive(..., Name, ...)]` is among `attrs`.
pub fn derives(attrs: &[Attribute], name: &str) -> bool {
    attrs.iter().any(|a| {
        a.path().is_ident("derive")
            && a.parse_args_with(
                syn::punctuated::Punctuated::<syn::Path, syn::Token![,]>::parse_terminated,
            )
            .is_ok_and(|list| {
                list.iter()
                    .any(|p| p.segments.last().is_some_and(|s| s.ident == name))
            })
    })
}
