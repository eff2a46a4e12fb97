//! A `#[derive(LuaRecord)]` struct: its Lua name and fields.

use syn::{Data, DeriveInput, Fields, Ident, LitStr, Type};

use super::module::crate_option;
use crate::attr::{self, Kind, Options, Schema};
use crate::ctxt::Ctxt;
use crate::krate::Krate;

const RECORD: Schema = Schema {
    what: "record",
    keys: &[("name", Kind::Str), ("crate", Kind::Str)],
};

const FIELD: Schema = Schema {
    what: "record field",
    keys: &[
        ("name", Kind::Str),
        ("default", Kind::Flag),
        ("rename", Kind::Str),
    ],
};

pub struct RecordField {
    pub ident: Ident,
    pub ty: Type,
    pub lua_name: String,
    pub default: bool,
    pub doc: String,
    /// `rename = "..."` (an old spelling, reported by `valid`).
    pub rename: Option<Ident>,
}

pub struct Record {
    pub input: DeriveInput,
    /// The Lua type name: `#[lua(name = "...")]` (added by the module macro
    /// as `module.Type`), else the Rust name.
    pub name: String,
    pub krate: Krate,
    pub doc: String,
    /// `None`: not a struct with named fields.
    pub fields: Option<Vec<RecordField>>,
}

impl Record {
    pub fn parse(cx: &Ctxt, input: DeriveInput) -> Record {
        let mut opts = Options::default();
        for a in input.attrs.iter().filter(|a| attr::is_lua_attr(a)) {
            opts.merge(cx, Options::from_attr(cx, a, &RECORD));
        }
        let fields = match &input.data {
            Data::Struct(s) => match &s.fields {
                Fields::Named(n) => Some(
                    n.named
                        .iter()
                        .filter_map(|f| {
                            let ident = f.ident.clone()?;
                            let mut o = Options::default();
                            for a in f.attrs.iter().filter(|a| attr::is_lua_attr(a)) {
                                o.merge(cx, Options::from_attr(cx, a, &FIELD));
                            }
                            let name_lit = o.str("name").or_else(|| o.str("rename"));
                            Some(RecordField {
                                lua_name: name_lit
                                    .as_ref()
                                    .map(LitStr::value)
                                    .unwrap_or_else(|| ident.to_string()),
                                ident,
                                ty: f.ty.clone(),
                                default: o.flag("default"),
                                doc: attr::doc::doc_text(&f.attrs),
                                rename: o.key("rename").cloned(),
                            })
                        })
                        .collect(),
                ),
                _ => None,
            },
            _ => None,
        };
        Record {
            name: opts
                .str("name")
                .map(|l| l.value())
                .unwrap_or_else(|| input.ident.to_string()),
            krate: crate_option(cx, &opts),
            doc: attr::doc::doc_text(&input.attrs),
            fields,
            input,
        }
    }
}
