//! LuaLS / EmmyLua `---@meta` stubs: one file per module, so that
//! `require("name")` resolves in the editor.

use std::fmt::Write;

use crate::manifest::{FunctionDecl, TypeDef, TypeManifest};
use crate::names;
use crate::syntax::render;
use crate::ty::{Field, FunctionType};

/// The LuaLS spelling of a type.
fn doc_lines(out: &mut String, doc: &str) {
    for line in doc.lines() {
        let _ = writeln!(out, "---{line}");
    }
}

fn function_annotations(out: &mut String, f: &FunctionDecl) {
    doc_lines(out, &f.doc);
    if let Some(p) = &f.permission {
        let on = p
            .resource
            .as_ref()
            .map(|r| format!(" on `{r}`"))
            .unwrap_or_default();
        let sep = if f.doc.is_empty() { "" } else { "---\n" };
        let _ = writeln!(
            out,
            "{sep}---Requires permission `{}`{on}; refused: `nil, err` (PERMISSION_DENIED).",
            p.action
        );
    }
    if f.sig.is_async {
        out.push_str("---@async\n");
    }
    for p in &f.sig.params {
        let _ = write!(
            out,
            "---@param {}{} {}",
            names::param(&p.name),
            if p.optional { "?" } else { "" },
            render(p.ty.strip_optional_if(p.optional))
        );
        if !p.doc.is_empty() {
            let _ = write!(out, " {}", p.doc.replace('\n', " "));
        }
        out.push('\n');
    }
    if let Some(v) = &f.sig.variadic {
        let _ = writeln!(out, "---@param ... {}", render(v));
    }
    for r in &f.sig.returns {
        let _ = writeln!(out, "---@return {}", render(r));
    }
    if let Some(v) = &f.sig.variadic_returns {
        let _ = writeln!(out, "---@return {} ...", render(v));
    }
    // Correlated rows, which EmmyLua narrows with: after `if err then
    // return end` (or `if not v`, `assert(v, err)`) the value is no longer
    // optional.
    for row in &f.sig.return_rows {
        let row: Vec<String> = row.iter().map(render).collect();
        let _ = writeln!(out, "---@return_overload {}", row.join(", "));
    }
}

fn param_list(sig: &FunctionType) -> String {
    let mut names: Vec<String> = sig.params.iter().map(|p| names::param(&p.name)).collect();
    if sig.variadic.is_some() {
        names.push("...".into());
    }
    names.join(", ")
}

/// `---@operator` names for the metamethods LuaLS understands.
fn operator(meta: &str) -> Option<&'static str> {
    Some(match meta {
        "__add" => "add",
        "__sub" => "sub",
        "__mul" => "mul",
        "__div" => "div",
        "__mod" => "mod",
        "__pow" => "pow",
        "__unm" => "unm",
        "__idiv" => "idiv",
        "__band" => "band",
        "__bor" => "bor",
        "__bxor" => "bxor",
        "__shl" => "shl",
        "__shr" => "shr",
        "__bnot" => "bnot",
        "__concat" => "concat",
        "__len" => "len",
        "__call" => "call",
        _ => return None,
    })
}

fn field_line(out: &mut String, f: &Field) {
    let _ = write!(
        out,
        "---@field {}{} {}",
        names::luals_field(&f.name),
        if f.optional { "?" } else { "" },
        render(f.ty.strip_optional_if(f.optional))
    );
    let mut doc = f.doc.replace('\n', " ");
    if f.readonly {
        doc = if doc.is_empty() {
            "(read-only)".into()
        } else {
            format!("{doc} (read-only)")
        };
    }
    if !doc.is_empty() {
        let _ = write!(out, " {doc}");
    }
    out.push('\n');
}

/// Writes a type definition. An interface's statics are functions of its
/// class table, which the module exposes as a field of that class's type.
fn type_def(out: &mut String, t: &TypeDef) {
    match t {
        TypeDef::Record { name, doc, fields } => {
            doc_lines(out, doc);
            let _ = writeln!(out, "---@class {name}");
            for f in fields {
                field_line(out, f);
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
            let local = names::luau_type(name);
            doc_lines(out, doc);
            let _ = writeln!(out, "---@class {name}");
            for f in fields {
                field_line(out, f);
            }
            for m in metamethods {
                let Some(op) = operator(&m.name) else {
                    continue;
                };
                let ret = m
                    .sig
                    .returns
                    .first()
                    .map(render)
                    .unwrap_or_else(|| "nil".into());
                let operand: Vec<String> = m
                    .sig
                    .params
                    .iter()
                    .map(|p| render(p.ty.strip_optional_if(p.optional)))
                    .collect();
                if operand.is_empty() || matches!(op, "unm" | "len" | "bnot") {
                    let _ = writeln!(out, "---@operator {op}: {ret}");
                } else {
                    let _ = writeln!(out, "---@operator {op}({}): {ret}", operand.join(", "));
                }
            }
            let _ = writeln!(out, "local {local} = {{}}\n");
            for m in methods {
                function_annotations(out, m);
                let _ = writeln!(
                    out,
                    "function {local}:{}({}) end\n",
                    m.name,
                    param_list(&m.sig)
                );
            }
            for s in statics {
                function_annotations(out, s);
                let _ = writeln!(
                    out,
                    "function {local}.{}({}) end\n",
                    s.name,
                    param_list(&s.sig)
                );
            }
        }
    }
}

/// The stub file for one module. `own_types` are the type definitions this
/// file carries (each type is written in exactly one file of a set).
pub fn module_stub(m: &TypeManifest, own_types: &[&TypeDef]) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "---@meta {}\n", m.name);
    let _ = writeln!(
        out,
        "-- Generated by luamod from the Rust sources. Do not edit.\n"
    );
    let var = if m.global {
        m.name.clone()
    } else {
        names::luau_type(&m.name)
    };
    for t in own_types {
        type_def(&mut out, t);
    }
    doc_lines(&mut out, &m.description);
    if !m.classes.is_empty() {
        let _ = writeln!(out, "---\n---Classes: {}", m.classes.join(", "));
    }
    let _ = writeln!(out, "---@class {}", m.name);
    for c in &m.constants {
        field_line(&mut out, c);
    }
    for t in m.exported_interfaces() {
        let _ = writeln!(out, "---@field {} {}", t.short_name(), t.name());
    }
    if m.global {
        let _ = writeln!(out, "{var} = {{}}\n");
    } else {
        let _ = writeln!(out, "local {var} = {{}}\n");
    }
    for f in &m.functions {
        function_annotations(&mut out, f);
        let _ = writeln!(
            out,
            "function {var}.{}({}) end\n",
            f.name,
            param_list(&f.sig)
        );
    }
    let _ = writeln!(out, "return {var}");
    out
}

/// Stubs for a set of modules: `(file name, contents)`, one per module.
/// Each named type is written once: in the module that defines it, or else
/// in the first module that uses it.
pub fn write_all(manifests: &[TypeManifest]) -> Vec<(String, String)> {
    let mut placed: Vec<&str> = Vec::new();
    let mut owners: Vec<Vec<&TypeDef>> = vec![Vec::new(); manifests.len()];
    for (i, m) in manifests.iter().enumerate() {
        for t in &m.types {
            if m.defines(t) && !placed.contains(&t.name()) {
                placed.push(t.name());
                owners[i].push(t);
            }
        }
    }
    for (i, m) in manifests.iter().enumerate() {
        for t in &m.types {
            let defined_elsewhere = manifests.iter().any(|o| o.defines(t));
            if !defined_elsewhere && !placed.contains(&t.name()) {
                placed.push(t.name());
                owners[i].push(t);
            }
        }
    }
    manifests
        .iter()
        .zip(owners)
        .map(|(m, own)| (format!("{}.lua", m.name), module_stub(m, &own)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ty::{Param, Type};

    #[test]
    fn annotation_words_are_quoted_and_keywords_renamed() {
        let mut m = TypeManifest::new("m", "");
        m.types.push(TypeDef::Record {
            name: "m.R".into(),
            doc: String::new(),
            fields: ["private", "public", "ok", "two words"]
                .iter()
                .map(|n| Field {
                    name: (*n).into(),
                    ty: Type::String,
                    optional: false,
                    readonly: false,
                    doc: String::new(),
                })
                .collect(),
        });
        m.functions.push(FunctionDecl {
            permission: None,
            name: "f".into(),
            doc: String::new(),
            sig: FunctionType {
                params: vec![Param {
                    name: "function".into(),
                    ty: Type::named("m.R"),
                    optional: false,
                    doc: String::new(),
                }],
                ..FunctionType::default()
            },
        });
        let text = &write_all(&[m])[0].1;
        for want in [
            "---@field [\"private\"] string\n",
            "---@field [\"public\"] string\n",
            "---@field ok string\n",
            "---@field [\"two words\"] string\n",
            "---@param function_ m.R\n",
            "function m.f(function_) end\n",
        ] {
            assert!(text.contains(want), "missing {want:?} in\n{text}");
        }
    }

    #[test]
    fn correlated_returns_become_overloads() {
        let mut m = TypeManifest::new("t", "");
        m.functions.push(FunctionDecl {
            permission: None,
            name: "find".into(),
            doc: String::new(),
            sig: FunctionType {
                returns: vec![Type::String.optional(), Type::Error.optional()],
                return_rows: vec![vec![Type::String, Type::Nil], vec![Type::Nil, Type::Error]],
                ..FunctionType::default()
            },
        });
        let text = &write_all(&[m])[0].1;
        assert!(
            text.contains(
                "---@return string?\n---@return errors.Error?\n\
                 ---@return_overload string, nil\n---@return_overload nil, errors.Error\n\
                 function t.find() end"
            ),
            "{text}"
        );
    }

    #[test]
    fn yielding_functions_are_marked_async() {
        let mut m = TypeManifest::new("t", "");
        m.functions.push(FunctionDecl {
            permission: None,
            name: "sleep".into(),
            doc: "Waits.".into(),
            sig: FunctionType {
                is_async: true,
                ..FunctionType::default()
            },
        });
        let text = &write_all(&[m])[0].1;
        assert!(
            text.contains("---Waits.\n---@async\nfunction t.sleep() end"),
            "{text}"
        );
    }

    #[test]
    fn types_render_and_parse_back() {
        for s in [
            "string?",
            "integer[]",
            "(string|integer)[]",
            "table<string, boolean>",
            "fun(a: integer, b?: string, ...: number): string, integer",
            "{ host: string, port?: integer }",
            "\"GET\"|\"POST\"",
            "buffer.Buffer",
        ] {
            let t = Type::parse(s).unwrap_or_else(|e| panic!("{s}: {e}"));
            assert_eq!(render(&t), s);
        }
    }
}
