//! A `#[derive(Command)]` struct and its `#[command(...)]` options.

use syn::{DeriveInput, LitInt, LitStr, Path, Type};

use super::module::crate_option;
use crate::attr::{Kind, Options, Schema};
use crate::ctxt::Ctxt;
use crate::krate::Krate;

const COMMAND: Schema = Schema {
    what: "command",
    keys: &[
        ("id", Kind::Int),
        ("name", Kind::Str),
        ("output", Kind::Type),
        ("handler", Kind::Path),
        ("crate", Kind::Str),
    ],
};

pub struct CommandSpec {
    pub input: DeriveInput,
    /// Whether a `#[command(...)]` attribute was found.
    pub found: bool,
    pub id: Option<LitInt>,
    pub name: Option<LitStr>,
    pub output: Option<Type>,
    pub handler: Option<Path>,
    pub krate: Krate,
}

impl CommandSpec {
    pub fn parse(cx: &Ctxt, input: DeriveInput) -> CommandSpec {
        let mut opts = Options::default();
        let mut found = false;
        for a in input.attrs.iter().filter(|a| a.path().is_ident("command")) {
            found = true;
            opts.merge(cx, Options::from_attr(cx, a, &COMMAND));
        }
        CommandSpec {
            found,
            id: opts.int("id"),
            name: opts.str("name"),
            output: opts.ty("output"),
            handler: opts.path("handler"),
            krate: crate_option(cx, &opts),
            input,
        }
    }
}
