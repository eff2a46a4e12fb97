//! Doc comments: their text, and the `# Arguments` section rustdoc-style
//! docs put parameter descriptions in.

use syn::{Attribute, Expr};

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
