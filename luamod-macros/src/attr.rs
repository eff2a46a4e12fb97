//! Parsing the arguments of `#[luamod::module(...)]`, `#[luamod::function(...)]`
//! and the parameter attribute `#[lua(...)]`.

use syn::parse::ParseStream;
use syn::{Attribute, Expr, Ident, LitStr, Token};

use crate::ctxt::Ctxt;

/// The module classes, as written in `class(...)`, with their Rust variants.
pub const CLASSES: &[(&str, &str)] = &[
    ("deterministic", "Deterministic"),
    ("nondeterministic", "Nondeterministic"),
    ("io", "Io"),
    ("network", "Network"),
    ("storage", "Storage"),
    ("workflow", "Workflow"),
    ("encoding", "Encoding"),
    ("time", "Time"),
    ("process", "Process"),
    ("security", "Security"),
];

pub struct ModuleArgs {
    pub name: Option<LitStr>,
    /// Each class as written, with its Rust variant name once validated.
    pub classes: Vec<(Ident, &'static str)>,
}

pub fn parse_module_args(cx: &Ctxt, input: ParseStream) -> syn::Result<ModuleArgs> {
    let mut args = ModuleArgs {
        name: None,
        classes: Vec::new(),
    };
    while !input.is_empty() {
        let key: Ident = input.parse()?;
        if key == "name" {
            input.parse::<Token![=]>()?;
            let lit: LitStr = input.parse()?;
            if args.name.is_some() {
                cx.error_spanned_by(&key, "duplicate `name`");
            }
            args.name = Some(lit);
        } else if key == "class" {
            let content;
            syn::parenthesized!(content in input);
            let list = content.parse_terminated(syn::ext::IdentExt::parse_any, Token![,])?;
            for class in list {
                match CLASSES.iter().find(|(lua, _)| class == lua) {
                    Some((_, variant)) => {
                        if args.classes.iter().any(|(c, _)| *c == class) {
                            cx.error_spanned_by(&class, format!("duplicate class `{class}`"));
                        }
                        args.classes.push((class, variant));
                    }
                    None => cx.error_spanned_by(
                        &class,
                        format!(
                            "unknown module class `{class}`; expected one of: {}",
                            CLASSES
                                .iter()
                                .map(|(c, _)| *c)
                                .collect::<Vec<_>>()
                                .join(", ")
                        ),
                    ),
                }
            }
        } else {
            cx.error_spanned_by(
                &key,
                format!("unknown module option `{key}`; expected `name = \"...\"` or `class(...)`"),
            );
            // Skip whatever value follows so later options still parse.
            let _ = input.step(|cursor| {
                let mut rest = *cursor;
                while let Some((tt, next)) = rest.token_tree() {
                    if matches!(&tt, proc_macro2::TokenTree::Punct(p) if p.as_char() == ',') {
                        return Ok(((), rest));
                    }
                    rest = next;
                }
                Ok(((), rest))
            });
        }
        if input.is_empty() {
            break;
        }
        input.parse::<Token![,]>()?;
    }
    Ok(args)
}

#[derive(Default)]
pub struct FunctionArgs {
    pub name: Option<LitStr>,
    /// `returns = "T1, T2"`: overrides the return types in the manifest.
    pub returns: Option<LitStr>,
    /// `command = N`: the id of an `async fn`'s generated command.
    pub command: Option<syn::LitInt>,
    /// `permission = "mod.action"`.
    pub permission: Option<LitStr>,
    /// `resource = param`: the parameter whose value is the resource.
    pub resource: Option<Ident>,
}

pub fn parse_function_args(cx: &Ctxt, input: ParseStream) -> syn::Result<FunctionArgs> {
    let mut args = FunctionArgs::default();
    while !input.is_empty() {
        let key: Ident = syn::ext::IdentExt::parse_any(input)?;
        input.parse::<Token![=]>()?;
        if key == "name" {
            args.name = Some(input.parse()?);
        } else if key == "permission" {
            let lit: LitStr = input.parse()?;
            if lit.value().trim().is_empty() {
                cx.error_spanned_by(&lit, "a permission names an action, such as \"fs.read\"");
            }
            args.permission = Some(lit);
        } else if key == "resource" {
            args.resource = Some(input.parse()?);
        } else if key == "command" {
            let lit: syn::LitInt = input.parse()?;
            match lit.base10_parse::<u16>() {
                Ok(v) if v >= 256 => {}
                _ => cx.error_spanned_by(&lit, "a command id is a number in 256..=65535"),
            }
            args.command = Some(lit);
        } else if key == "returns" {
            let lit: LitStr = input.parse()?;
            check_type_list(cx, &lit);
            args.returns = Some(lit);
        } else {
            let _: Expr = input.parse()?;
            cx.error_spanned_by(
                &key,
                format!(
                    "unknown function option `{key}`; expected `name`, `returns`, `command`, `permission` or `resource`"
                ),
            );
        }
        if input.is_empty() {
            break;
        }
        input.parse::<Token![,]>()?;
    }
    Ok(args)
}

/// Options of a parameter's `#[lua(...)]`.
#[derive(Default)]
pub struct ParamArgs {
    pub default: Option<Expr>,
    /// `type = "..."`: the parameter's type in the manifest.
    pub ty: Option<LitStr>,
}

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

/// Whether `attr` is `#[lua(...)]`.
pub fn is_lua_attr(attr: &Attribute) -> bool {
    attr.path().is_ident("lua")
}

pub fn parse_param_attr(cx: &Ctxt, attr: &Attribute, out: &mut ParamArgs) {
    let res = attr.parse_nested_meta(|meta| {
        if meta.path.is_ident("default") {
            let expr: Expr = meta.value()?.parse()?;
            if out.default.is_some() {
                cx.error_spanned_by(&meta.path, "duplicate `default`");
            }
            out.default = Some(expr);
            Ok(())
        } else if meta.path.is_ident("type") {
            let lit: LitStr = meta.value()?.parse()?;
            check_type(cx, &lit);
            out.ty = Some(lit);
            Ok(())
        } else {
            let key = meta
                .path
                .get_ident()
                .map(ToString::to_string)
                .unwrap_or_else(|| "?".to_owned());
            cx.error_spanned_by(
                &meta.path,
                format!(
                    "unknown parameter option `{key}`; expected `default = <expr>` or `type = \"...\"`"
                ),
            );
            // Consume a value if one follows, so parsing can go on.
            if meta.input.peek(Token![=]) {
                let _: Expr = meta.value()?.parse()?;
            }
            Ok(())
        }
    });
    if let Err(e) = res {
        cx.syn_error(e);
    }
}

/// Whether `attr` is `#[luamod::NAME]` (or `#[NAME]` after a `use`).
pub fn is_luamod_attr(attr: &Attribute, name: &str) -> bool {
    let segs: Vec<String> = attr
        .path()
        .segments
        .iter()
        .map(|s| s.ident.to_string())
        .collect();
    match segs.as_slice() {
        [one] => one == name,
        [krate, one] => krate == "luamod" && one == name,
        _ => false,
    }
}

/// Whether `attr` is `#[luamod::constant]`.
pub fn is_constant_attr(attr: &Attribute) -> bool {
    is_luamod_attr(attr, "constant")
}

/// Whether `attr` is `#[luamod::function]`.
pub fn is_function_attr(attr: &Attribute) -> bool {
    is_luamod_attr(attr, "function")
}

/// The text of `///` comments, one line each, without the leading space.
pub fn doc_text(attrs: &[Attribute]) -> String {
    let mut lines = Vec::new();
    for attr in attrs {
        if !attr.path().is_ident("doc") {
            continue;
        }
        if let syn::Meta::NameValue(nv) = &attr.meta
            && let Expr::Lit(syn::ExprLit {
                lit: syn::Lit::Str(s),
                ..
            }) = &nv.value
        {
            let v = s.value();
            lines.push(v.strip_prefix(' ').unwrap_or(&v).to_owned());
        }
    }
    lines.join("\n").trim().to_owned()
}

/// Splits a doc comment into its description and the entries of a
/// `# Arguments` section (`* `name` - text` or `- name: text`), rustdoc style.
pub fn split_arguments(doc: &str) -> (String, Vec<(String, String)>) {
    let mut desc = Vec::new();
    let mut args = Vec::new();
    let mut in_args = false;
    for line in doc.lines() {
        let t = line.trim();
        if t.starts_with('#') {
            in_args = t
                .trim_start_matches('#')
                .trim()
                .eq_ignore_ascii_case("arguments");
            if in_args {
                continue;
            }
        }
        if !in_args {
            desc.push(line);
            continue;
        }
        let item = t
            .strip_prefix('*')
            .or_else(|| t.strip_prefix('-'))
            .map(str::trim);
        match item {
            Some(item) => {
                let (name, text) = match item.split_once(" - ").or_else(|| item.split_once(':')) {
                    Some((n, d)) => (n, d),
                    None => (item, ""),
                };
                let name = name.trim().trim_matches('`').to_owned();
                args.push((name, text.trim().to_owned()));
            }
            None if !t.is_empty() => {
                if let Some(last) = args.last_mut() {
                    last.1.push(' ');
                    last.1.push_str(t);
                }
            }
            None => {}
        }
    }
    (desc.join("\n").trim().to_owned(), args)
}
