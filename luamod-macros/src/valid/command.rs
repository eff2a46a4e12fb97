//! Checks on a `#[derive(Command)]` struct.

use crate::ast::command::CommandSpec;
use crate::ctxt::Ctxt;

pub fn check_command(cx: &Ctxt, c: &CommandSpec) {
    let ident = &c.input.ident;
    if !c.found {
        cx.error_spanned_by(
            ident,
            "a command needs `#[command(id = N, name = \"mod.name\", output = T)]`",
        );
    }
    if !c.input.generics.params.is_empty() {
        cx.error_spanned_by(
            &c.input.generics,
            "commands are plain data and cannot be generic",
        );
    }
    match &c.id {
        Some(l) => match l.base10_parse::<u16>() {
            Ok(v) if v < 256 => cx.error_spanned_by(
                l,
                format!("command id {v} is reserved for the runtime; use 256..=65535"),
            ),
            Ok(_) => {}
            Err(_) => cx.error_spanned_by(l, "a command id is a number in 256..=65535"),
        },
        None if c.found => cx.error_spanned_by(ident, "missing `id = N` in `#[command(...)]`"),
        None => {}
    }
    if c.name.is_none() && c.found {
        cx.error_spanned_by(ident, "missing `name = \"mod.name\"` in `#[command(...)]`");
    }
}
