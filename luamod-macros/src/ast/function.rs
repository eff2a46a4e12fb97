//! A module's exported function or constant: the item and its options.

use syn::{Ident, ItemFn, LitInt, LitStr, Type};

use super::param::{Param, parse_params};
use super::shape::yield_command;
use crate::attr::{self, Kind, Options, Schema};
use crate::ctxt::Ctxt;

pub const FUNCTION: Schema = Schema {
    what: "function",
    keys: &[
        ("name", Kind::Str),
        ("returns", Kind::Str),
        ("command", Kind::Int),
        ("permission", Kind::Str),
        ("resource", Kind::Path),
    ],
};

pub const CONSTANT: Schema = Schema {
    what: "constant",
    keys: &[("name", Kind::Str), ("returns", Kind::Str)],
};

pub struct Function {
    /// The function as the user wrote it, minus our attributes.
    pub item: ItemFn,
    /// The `name = "..."` literal, if given.
    pub name_lit: Option<LitStr>,
    /// The `returns = "..."` literal, if given.
    pub returns: Option<LitStr>,
    /// `command = N` for an `async fn`.
    pub command: Option<LitInt>,
    /// `C` when the function returns `Yield<C>` or `Then<C, T>`.
    pub yields: Option<Type>,
    /// `permission = "..."`.
    pub permission: Option<LitStr>,
    /// `resource = param`.
    pub resource: Option<Ident>,
    /// `#[luamod::constant]`: evaluated once when the module is bound.
    pub constant: bool,
    pub doc: String,
    pub params: Vec<Param>,
}

impl Function {
    /// Reads `f` (whose `#[luamod::function]`/`#[luamod::constant]`
    /// attribute, `fattr`, was already removed from it).
    pub fn parse(cx: &Ctxt, f: &mut ItemFn, fattr: &syn::Attribute, constant: bool) -> Function {
        let schema = if constant { &CONSTANT } else { &FUNCTION };
        let opts = Options::from_attr(cx, fattr, schema);
        if let Some(lit) = opts.str("returns") {
            attr::types::check_type_list(cx, &lit);
        }
        let resource = opts.path("resource").and_then(|p| match p.get_ident() {
            Some(i) => Some(i.clone()),
            None => {
                cx.error_spanned_by(&p, "`resource` names one parameter of the function");
                None
            }
        });
        let params = parse_params(cx, &mut f.sig);
        Function {
            doc: attr::doc::doc_text(&f.attrs),
            item: f.clone(),
            name_lit: opts.str("name"),
            returns: opts.str("returns"),
            command: opts.int("command"),
            permission: opts.str("permission"),
            resource,
            constant,
            yields: yield_command(&f.sig.output),
            params,
        }
    }

    /// The Lua name: `name = "..."` or the Rust name.
    pub fn lua_name(&self) -> String {
        match &self.name_lit {
            Some(l) => l.value(),
            None => self.item.sig.ident.to_string(),
        }
    }

    pub fn is_async(&self) -> bool {
        self.item.sig.asyncness.is_some()
    }
}
