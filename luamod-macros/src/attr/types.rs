//! Type overrides (`type = "..."`, `returns = "..."`) are checked at
//! compile time with the manifest's own parser, so a typo is an error on
//! the literal.

use syn::LitStr;

use crate::ctxt::Ctxt;

/// Checks a `type = "..."` string with the manifest's own parser, so a typo
/// is a compile error on the literal.
pub fn check_type(cx: &Ctxt, lit: &LitStr) {
    if let Err(e) = luamod_types::Type::parse(&lit.value()) {
        cx.error_spanned_by(lit, format!("invalid Lua type `{}`: {e}", lit.value()));
    }
}

/// Checks `returns = "A, B"`: comma-separated types.
pub fn check_type_list(cx: &Ctxt, lit: &LitStr) {
    let v = lit.value();
    let mut depth = 0i32;
    let mut start = 0;
    let mut parts = Vec::new();
    for (i, c) in v.char_indices() {
        match c {
            '(' | '<' | '{' | '[' => depth += 1,
            ')' | '>' | '}' | ']' => depth -= 1,
            ',' if depth == 0 => {
                parts.push(&v[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    parts.push(&v[start..]);
    for part in parts {
        if let Err(e) = luamod_types::Type::parse(part.trim()) {
            cx.error_spanned_by(lit, format!("invalid Lua type `{}`: {e}", part.trim()));
        }
    }
}
