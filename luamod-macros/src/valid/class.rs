//! Checks on a `#[luamod::userdata]` type.

use super::names::is_lua_identifier;
use crate::ast::class::Userdata;
use crate::ctxt::Ctxt;

pub fn check_userdata(cx: &Ctxt, u: &Userdata) {
    if !u.generics.params.is_empty() {
        cx.error_spanned_by(
            &u.generics,
            "userdata types cannot be generic: Lua needs one concrete metatable per type",
        );
    }
    for f in &u.fields {
        if !f.lua_name.is_empty() && !is_lua_identifier(&f.lua_name) {
            cx.error_spanned_by(
                &f.name_span,
                format!("`{}` is not a valid Lua field name", f.lua_name),
            );
        }
    }
}
