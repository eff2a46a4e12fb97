//! Lua names in generated stubs.

const LUA_KEYWORDS: &[&str] = &[
    "and", "break", "do", "else", "elseif", "end", "false", "for", "function", "goto", "if", "in",
    "local", "nil", "not", "or", "repeat", "return", "then", "true", "until", "while",
];

/// Words that are tags in LuaLS `---@field` lines.
const ANNOTATION_WORDS: &[&str] = &["readonly", "private", "protected", "public", "package"];

/// Whether `s` is a Lua identifier (and no keyword).
pub fn is_identifier(s: &str) -> bool {
    let mut chars = s.chars();
    chars
        .next()
        .is_some_and(|c| c == '_' || c.is_ascii_alphabetic())
        && chars.all(|c| c == '_' || c.is_ascii_alphanumeric())
        && !LUA_KEYWORDS.contains(&s)
}

/// A parameter name usable in Lua source: keywords get a trailing `_`.
pub fn param(name: &str) -> String {
    let name = name.strip_prefix("r#").unwrap_or(name);
    if LUA_KEYWORDS.contains(&name) {
        format!("{name}_")
    } else if is_identifier(name) {
        name.to_owned()
    } else {
        "arg".to_owned()
    }
}

/// A field name for a `---@field` line: quoted when it is not a plain
/// identifier or clashes with an annotation word.
pub fn luals_field(name: &str) -> String {
    if is_identifier(name) && !ANNOTATION_WORDS.contains(&name) {
        name.to_owned()
    } else {
        format!("[{}]", quote(name))
    }
}

/// A Lua string literal.
pub fn quote(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// A Luau type name for a dotted Lua name (`buffer.Buffer` → `buffer_Buffer`).
pub fn luau_type(name: &str) -> String {
    name.replace('.', "_")
}
