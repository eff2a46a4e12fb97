//! Checks on a `#[derive(LuaRecord)]` struct.

use crate::ast::record::Record;
use crate::ast::shape::last_segment_is;
use crate::ctxt::Ctxt;

pub fn check_record(cx: &Ctxt, r: &Record) {
    let g = &r.input.generics;
    if g.type_params().next().is_none()
        && g.const_params().next().is_none()
        && g.lifetimes().next().is_some()
    {
        cx.error_spanned_by(
            g,
            "`LuaRecord` fields must own their data (`String`, not `&str`): \
             the table is read into the struct and then left behind",
        );
    } else if !g.params.is_empty() {
        cx.error_spanned_by(g, "`LuaRecord` types cannot be generic");
    }
    let Some(fields) = &r.fields else {
        let msg = match &r.input.data {
            syn::Data::Struct(_) => {
                "`LuaRecord` needs a struct with named fields: they become the table's keys"
            }
            _ => "`LuaRecord` needs a struct with named fields",
        };
        cx.error_spanned_by(&r.input.ident, msg);
        return;
    };
    for f in fields {
        if let Some(k) = &f.rename {
            cx.error_spanned_by(k, "luamod spells renaming `name = \"...\"` everywhere; write `#[lua(name = \"...\")]`");
        }
        if f.lua_name.is_empty() {
            cx.error_spanned_by(&f.ident, "a record field name cannot be empty");
        }
        if f.default && last_segment_is(&f.ty, "Option") {
            cx.error_spanned_by(
                &f.ident,
                "an `Option` field is already optional; drop `default`",
            );
        }
    }
}
