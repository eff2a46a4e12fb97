//! Luau definition files (`declare`), one file for a set of modules. Each
//! module is a global table (Luau definition files cannot declare modules
//! for `require`); userdata classes are `declare class`, records `type`
//! aliases. Dotted Lua names become `_`-joined Luau names.

use std::fmt::Write;

use crate::manifest::{TypeDef, TypeManifest};
use crate::names;
use crate::ty::Field;
use crate::ty::{FunctionType, Type};

/// The Luau spelling of a type.
pub fn render(t: &Type) -> String {
    match t {
        Type::Nil => "nil".into(),
        Type::Boolean => "boolean".into(),
        Type::Integer | Type::Number => "number".into(),
        Type::String => "string".into(),
        Type::Any | Type::Userdata => "any".into(),
        Type::Unknown => "unknown".into(),
        Type::Table => "{ [any]: any }".into(),
        Type::Thread => "thread".into(),
        Type::Optional { of } => format!("{}?", atom(of)),
        Type::Union { of } => {
            // Integer and number are both `number` in Luau: drop repeats.
            let mut parts: Vec<String> = Vec::new();
            for r in of.iter().map(render) {
                if !parts.contains(&r) {
                    parts.push(r);
                }
            }
            parts.join(" | ")
        }
        Type::Array { of } => format!("{{ {} }}", render(of)),
        Type::Map { key, value } => format!("{{ [{}]: {} }}", render(key), render(value)),
        Type::Tuple { of } => match of.as_slice() {
            [one] => render(one),
            _ => "any".into(),
        },
        Type::Function(f) => render_fun(f),
        Type::Record { fields } => record(fields),
        Type::Named { name } => names::luau_type(name),
        Type::Literal { value } => names::quote(value),
        Type::Error => "errors_Error".into(),
    }
}

fn atom(t: &Type) -> String {
    match t {
        Type::Union { .. } | Type::Function(_) => format!("({})", render(t)),
        _ => render(t),
    }
}

fn record(fields: &[Field]) -> String {
    let inner: Vec<String> = fields
        .iter()
        .map(|f| {
            let ty = if f.optional {
                f.ty.clone().optional()
            } else {
                f.ty.clone()
            };
            let key = if names::is_identifier(&f.name) {
                f.name.clone()
            } else {
                format!("[{}]", names::quote(&f.name))
            };
            format!("{key}: {}", render(&ty))
        })
        .collect();
    format!("{{ {} }}", inner.join(", "))
}

/// Parameter list. `...: T` is valid in `declare`d functions and methods;
/// function types need `...T`.
fn params(f: &FunctionType, in_declaration: bool) -> Vec<String> {
    let mut out: Vec<String> = f
        .params
        .iter()
        .map(|p| {
            let ty = if p.optional {
                p.ty.clone().optional()
            } else {
                p.ty.clone()
            };
            format!("{}: {}", names::param(&p.name), render(&ty))
        })
        .collect();
    if let Some(v) = &f.variadic {
        let sep = if in_declaration { ": " } else { "" };
        out.push(format!("...{sep}{}", render(v)));
    }
    out
}

fn returns(f: &FunctionType) -> String {
    let mut rets: Vec<String> = f.returns.iter().map(render).collect();
    if let Some(v) = &f.variadic_returns {
        rets.push(format!("...{}", render(v)));
    }
    match rets.as_slice() {
        [] => "()".into(),
        [one] if f.variadic_returns.is_none() => one.clone(),
        _ => format!("({})", rets.join(", ")),
    }
}

fn render_fun(f: &FunctionType) -> String {
    format!("({}) -> {}", params(f, false).join(", "), returns(f))
}

fn class(out: &mut String, t: &TypeDef) {
    match t {
        TypeDef::Record { name, fields, .. } => {
            let _ = writeln!(
                out,
                "type {} = {}\n",
                names::luau_type(name),
                record(fields)
            );
        }
        TypeDef::Interface {
            name,
            fields,
            methods,
            metamethods,
            ..
        } => {
            let _ = writeln!(out, "declare class {}", names::luau_type(name));
            for f in fields {
                let ty = if f.optional {
                    f.ty.clone().optional()
                } else {
                    f.ty.clone()
                };
                let _ = writeln!(out, "    {}: {}", f.name, render(&ty));
            }
            for m in methods.iter().chain(metamethods) {
                let mut ps = vec!["self".to_owned()];
                ps.extend(params(&m.sig, true));
                let _ = writeln!(
                    out,
                    "    function {}({}): {}",
                    m.name,
                    ps.join(", "),
                    returns(&m.sig)
                );
            }
            out.push_str("end\n\n");
        }
    }
}

fn module_type(m: &TypeManifest) -> String {
    let mut fields: Vec<String> = Vec::new();
    for c in &m.constants {
        fields.push(format!("    {}: {},", c.name, render(&c.ty)));
    }
    for f in &m.functions {
        fields.push(format!("    {}: {},", f.name, render_fun(&f.sig)));
    }
    for t in m.exported_interfaces() {
        if let TypeDef::Interface { statics, .. } = t {
            let inner: Vec<String> = statics
                .iter()
                .map(|s| format!("{}: {}", s.name, render_fun(&s.sig)))
                .collect();
            fields.push(format!(
                "    {}: {{ {} }},",
                t.short_name(),
                inner.join(", ")
            ));
        }
    }
    format!("{{\n{}\n}}", fields.join("\n"))
}

/// The name of a module's table type (`greet` → `greet_module`).
fn module_type_name(m: &TypeManifest) -> String {
    format!("{}_module", names::luau_type(&m.name))
}

/// The first line of the definitions file luamod writes.
pub const HEADER: &str = "-- Luau definitions generated by luamod. Do not edit.";

/// Whether `text` is a definitions file luamod wrote.
pub fn is_generated(text: &str) -> bool {
    text.lines().next() == Some(HEADER)
}

/// One definitions file for all `manifests`.
///
/// Each module is a named table type, declared as a global (for hosts
/// that bind modules as globals, and for `errors`, which always is one)
/// and returned by `require("name")`: `require` is declared as an
/// overloaded function, one overload per module name, which the Luau
/// analyzer resolves from the string literal (an unknown name is an error
/// listing the modules).
pub fn write_all(manifests: &[TypeManifest]) -> String {
    let mut out = format!("{HEADER}\n\n");
    let mut seen: Vec<&str> = Vec::new();
    for m in manifests {
        for t in &m.types {
            if !seen.contains(&t.name()) {
                seen.push(t.name());
                class(&mut out, t);
            }
        }
    }
    for m in manifests {
        let ty = module_type_name(m);
        let _ = writeln!(out, "type {ty} = {}\n", module_type(m));
        let _ = writeln!(out, "declare {}: {ty}\n", names::luau_type(&m.name));
    }
    let overloads: Vec<String> = manifests
        .iter()
        .map(|m| {
            format!(
                "((name: {}) -> {})",
                names::quote(&m.name),
                module_type_name(m)
            )
        })
        .collect();
    if !overloads.is_empty() {
        let _ = writeln!(out, "declare require: {}", overloads.join(" & "));
    }
    out
}
