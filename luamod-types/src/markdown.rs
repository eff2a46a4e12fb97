//! A Markdown reference page per module.

use std::fmt::Write;

use crate::manifest::{FunctionDecl, TypeDef, TypeManifest};
use crate::syntax::render;

fn signature(prefix: &str, sep: &str, f: &FunctionDecl) -> String {
    let mut ps: Vec<String> = f
        .sig
        .params
        .iter()
        .map(|p| format!("{}{}", p.name, if p.optional { "?" } else { "" }))
        .collect();
    if f.sig.variadic.is_some() {
        ps.push("...".into());
    }
    let mut rets: Vec<String> = f.sig.returns.iter().map(render).collect();
    if let Some(v) = &f.sig.variadic_returns {
        rets.push(format!("...{}", render(v)));
    }
    let ret = if rets.is_empty() {
        String::new()
    } else {
        format!(" -> {}", rets.join(", "))
    };
    format!("{prefix}{sep}{}({}){ret}", f.name, ps.join(", "))
}

fn function(out: &mut String, prefix: &str, sep: &str, f: &FunctionDecl) {
    let _ = writeln!(out, "### `{}`\n", signature(prefix, sep, f));
    if f.sig.is_async {
        out.push_str("*Yields:* the calling process waits for the result.\n\n");
    }
    if let Some(p) = &f.permission {
        let on = p
            .resource
            .as_ref()
            .map(|r| format!(" on `{r}`"))
            .unwrap_or_default();
        let _ = writeln!(out, "*Permission:* `{}`{on}.\n", p.action);
    }
    if !f.doc.is_empty() {
        let _ = writeln!(out, "{}\n", f.doc);
    }
    if !f.sig.params.is_empty() || f.sig.variadic.is_some() {
        out.push_str("| parameter | type | |\n|---|---|---|\n");
        for p in &f.sig.params {
            let ty = if p.optional {
                p.ty.strip_optional()
            } else {
                &p.ty
            };
            let opt = if p.optional { "optional. " } else { "" };
            let _ = writeln!(
                out,
                "| `{}` | `{}` | {opt}{} |",
                p.name,
                render(ty),
                p.doc.replace('\n', " ")
            );
        }
        if let Some(v) = &f.sig.variadic {
            let _ = writeln!(out, "| `...` | `{}` | any number |", render(v));
        }
        out.push('\n');
    }
}

/// The reference page of one module.
pub fn module_page(m: &TypeManifest) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "# `{}`\n", m.name);
    if !m.description.is_empty() {
        let _ = writeln!(out, "{}\n", m.description);
    }
    if !m.classes.is_empty() {
        let cs: Vec<String> = m.classes.iter().map(|c| format!("`{c}`")).collect();
        let _ = writeln!(out, "Classes: {}\n", cs.join(", "));
    }
    if !m.constants.is_empty() {
        out.push_str("## Constants\n\n");
        for c in &m.constants {
            let _ = writeln!(out, "- `{}.{}`: `{}`", m.name, c.name, render(&c.ty));
        }
        out.push('\n');
    }
    if !m.functions.is_empty() {
        out.push_str("## Functions\n\n");
        for f in &m.functions {
            function(&mut out, &m.name, ".", f);
        }
    }
    let own: Vec<&TypeDef> = m.types.iter().filter(|t| m.defines(t)).collect();
    if !own.is_empty() {
        out.push_str("## Types\n\n");
    }
    for t in own {
        match t {
            TypeDef::Record { name, doc, fields } => {
                let _ = writeln!(out, "### record `{name}`\n");
                if !doc.is_empty() {
                    let _ = writeln!(out, "{doc}\n");
                }
                out.push_str("| field | type | |\n|---|---|---|\n");
                for f in fields {
                    let opt = if f.optional { "optional. " } else { "" };
                    let _ = writeln!(
                        out,
                        "| `{}` | `{}` | {opt}{} |",
                        f.name,
                        render(&f.ty),
                        f.doc.replace('\n', " ")
                    );
                }
                out.push('\n');
            }
            TypeDef::Interface {
                name,
                doc,
                fields,
                methods,
                metamethods,
                statics,
            } => {
                let _ = writeln!(out, "### userdata `{name}`\n");
                if !doc.is_empty() {
                    let _ = writeln!(out, "{doc}\n");
                }
                if !fields.is_empty() {
                    out.push_str("| field | type | |\n|---|---|---|\n");
                    for f in fields {
                        let ro = if f.readonly { "read-only. " } else { "" };
                        let _ = writeln!(
                            out,
                            "| `{}` | `{}` | {ro}{} |",
                            f.name,
                            render(&f.ty),
                            f.doc.replace('\n', " ")
                        );
                    }
                    out.push('\n');
                }
                let short = t.short_name();
                for s in statics {
                    function(&mut out, &format!("{}.{short}", m.name), ".", s);
                }
                for f in methods {
                    function(&mut out, short, ":", f);
                }
                if !metamethods.is_empty() {
                    let ms: Vec<String> = metamethods
                        .iter()
                        .map(|x| format!("`{}`", x.name))
                        .collect();
                    let _ = writeln!(out, "Metamethods: {}\n", ms.join(", "));
                }
            }
        }
    }
    out
}
