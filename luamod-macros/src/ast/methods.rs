//! A `#[luamod::methods]` impl block: each function's role (method, field
//! getter or setter, metamethod, associated function) and signature.

use proc_macro2::TokenStream;
use syn::visit_mut::VisitMut;
use syn::{ImplItem, ItemImpl, LitStr, Type};

use super::module::crate_option;
use super::param::{Param, ParamKind, parse_params};
use super::shape::{ReplaceSelf, yield_command};
use crate::attr::{self, Kind, Options, Schema};
use crate::ctxt::Ctxt;
use crate::krate::Krate;

const METHODS: Schema = Schema {
    what: "methods",
    keys: &[("crate", Kind::Str)],
};

const ITEM: Schema = Schema {
    what: "method",
    keys: &[
        ("get", Kind::Flag),
        ("set", Kind::Flag),
        ("meta", Kind::Str),
        ("name", Kind::Str),
        ("returns", Kind::Str),
        ("skip", Kind::Flag),
    ],
};

#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Role {
    Method,
    Getter,
    Setter,
    Meta,
    Static,
}

pub struct MethodSpec {
    pub sig: syn::Signature,
    pub name_lit: Option<LitStr>,
    pub meta: Option<LitStr>,
    pub get: bool,
    pub set: bool,
    pub doc: String,
    pub params: Vec<Param>,
    /// `Some(mutable)` for `&self`/`&mut self`.
    pub receiver: Option<bool>,
    /// The return type with `Self` replaced (`None`: `()`).
    pub ret_ty: Option<Type>,
    pub returns: Option<LitStr>,
    /// `C` when the method returns `Yield<C>`.
    pub yields: Option<Type>,
}

impl MethodSpec {
    pub fn role(&self) -> Role {
        if self.meta.is_some() {
            Role::Meta
        } else if self.get {
            Role::Getter
        } else if self.set {
            Role::Setter
        } else if self.receiver.is_some() {
            Role::Method
        } else {
            Role::Static
        }
    }

    /// The Lua name: the metamethod's, `name = "..."`, or the Rust name
    /// (without `set_` for a setter).
    pub fn lua_name(&self) -> String {
        if let Some(m) = &self.meta {
            return m.value();
        }
        if let Some(l) = &self.name_lit {
            return l.value();
        }
        let n = self.sig.ident.to_string();
        match self.role() {
            Role::Setter => n.strip_prefix("set_").unwrap_or(&n).to_owned(),
            _ => n,
        }
    }

    /// The Lua arguments (no receiver, `lua`, `ctx`).
    pub fn args(&self) -> impl Iterator<Item = &Param> {
        self.params
            .iter()
            .filter(|p| matches!(p.kind, ParamKind::Arg { .. }))
    }
}

pub struct Methods {
    /// The block as written, minus our attributes.
    pub imp: ItemImpl,
    pub self_ty: Type,
    pub krate: Krate,
    pub specs: Vec<MethodSpec>,
}

impl Methods {
    pub fn parse(cx: &Ctxt, args: TokenStream, mut imp: ItemImpl) -> Methods {
        let opts = Options::parse(cx, args, &METHODS);
        let krate = crate_option(cx, &opts);
        let self_ty = (*imp.self_ty).clone();
        let mut specs = Vec::new();
        for item in imp.items.iter_mut() {
            let ImplItem::Fn(f) = item else { continue };
            let mut o = Options::default();
            f.attrs.retain(|a| {
                if attr::is_lua_attr(a) {
                    o.merge(cx, Options::from_attr(cx, a, &ITEM));
                    false
                } else {
                    true
                }
            });
            if o.flag("skip") {
                continue;
            }
            if let Some(lit) = o.str("returns") {
                attr::types::check_type_list(cx, &lit);
            }
            let mut params = parse_params(cx, &mut f.sig);
            for p in params.iter_mut() {
                if let Some(ty) = &mut p.ty {
                    ReplaceSelf(&self_ty).visit_type_mut(ty);
                }
            }
            let ret_ty = match &f.sig.output {
                syn::ReturnType::Default => None,
                syn::ReturnType::Type(_, ty) => {
                    let mut t = (**ty).clone();
                    ReplaceSelf(&self_ty).visit_type_mut(&mut t);
                    Some(t)
                }
            };
            let receiver = params.iter().find_map(|p| match p.kind {
                ParamKind::Receiver { mutable, .. } => Some(mutable),
                _ => None,
            });
            specs.push(MethodSpec {
                doc: attr::doc::doc_text(&f.attrs),
                yields: yield_command(&f.sig.output),
                sig: f.sig.clone(),
                name_lit: o.str("name"),
                meta: o.str("meta"),
                get: o.flag("get"),
                set: o.flag("set"),
                params,
                receiver,
                ret_ty,
                returns: o.str("returns"),
            });
        }
        Methods {
            imp,
            self_ty,
            krate,
            specs,
        }
    }
}
