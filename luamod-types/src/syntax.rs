//! The text form of a type: LuaLS type syntax, which stubs, Markdown and
//! `Display` print, and which `Type::parse` reads back.

use std::fmt;

use crate::names;
use crate::ty::{FunctionType, Type};

/// The LuaLS spelling, also read by [`Type::parse`].
impl fmt::Display for Type {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&render(self))
    }
}

/// A type in LuaLS syntax.
pub fn render(t: &Type) -> String {
    match t {
        Type::Nil => "nil".into(),
        Type::Boolean => "boolean".into(),
        Type::Integer => "integer".into(),
        Type::Number => "number".into(),
        Type::String => "string".into(),
        Type::Any => "any".into(),
        Type::Unknown => "unknown".into(),
        Type::Table => "table".into(),
        Type::Thread => "thread".into(),
        Type::Userdata => "userdata".into(),
        Type::Optional { of } => format!("{}?", atom(of)),
        Type::Union { of } => of.iter().map(render).collect::<Vec<_>>().join("|"),
        Type::Array { of } => format!("{}[]", atom(of)),
        Type::Map { key, value } => format!("table<{}, {}>", render(key), render(value)),
        Type::Tuple { of } => match of.as_slice() {
            [one] => render(one),
            _ => "any".into(),
        },
        Type::Function(f) => render_fun(f),
        Type::Record { fields } => {
            let inner: Vec<String> = fields
                .iter()
                .map(|f| {
                    let key = if names::is_identifier(&f.name) {
                        f.name.clone()
                    } else {
                        format!("[{}]", names::quote(&f.name))
                    };
                    format!(
                        "{key}{}: {}",
                        if f.optional { "?" } else { "" },
                        render(&f.ty)
                    )
                })
                .collect();
            format!("{{ {} }}", inner.join(", "))
        }
        Type::Named { name } => name.clone(),
        Type::Literal { value } => names::quote(value),
        Type::Error => "errors.Error".into(),
    }
}

/// Renders `t`, parenthesised when a postfix (`?`, `[]`) would bind wrongly.
fn atom(t: &Type) -> String {
    match t {
        Type::Union { .. } | Type::Function(_) => format!("({})", render(t)),
        _ => render(t),
    }
}

fn render_fun(f: &FunctionType) -> String {
    if f.params.is_empty()
        && f.returns.is_empty()
        && f.variadic.is_some()
        && f.variadic_returns.is_some()
    {
        return "function".into();
    }
    let mut params: Vec<String> = f
        .params
        .iter()
        .map(|p| {
            format!(
                "{}{}: {}",
                names::param(&p.name),
                if p.optional { "?" } else { "" },
                render(p.ty.strip_optional_if(p.optional))
            )
        })
        .collect();
    if let Some(v) = &f.variadic {
        params.push(format!("...: {}", render(v)));
    }
    let mut rets: Vec<String> = f.returns.iter().map(render).collect();
    if let Some(v) = &f.variadic_returns {
        rets.push(format!("...{}", render(v)));
    }
    if rets.is_empty() {
        format!("fun({})", params.join(", "))
    } else {
        format!("fun({}): {}", params.join(", "), rets.join(", "))
    }
}
