//! The Lua face of [`LuaError`]: its userdata methods and the global `errors`
//! module (`errors.NOT_FOUND`, `errors.new`, `errors.wrap`, `errors.is`).
//!
//! This is part of the base every luamod state gets; it is installed once per
//! state by [`crate::def::install_base`].

use mlua::{Lua, MetaMethod, Table, UserData, UserDataMethods, Value};

use crate::error::{Detail, ErrorKind, LuaError};

impl UserData for LuaError {
    fn add_methods<M: UserDataMethods<Self>>(m: &mut M) {
        m.add_method("kind", |_, e, ()| Ok(e.kind.as_str()));
        m.add_method("message", |_, e, ()| Ok(e.message.clone()));
        m.add_method("retryable", |_, e, ()| Ok(e.retryable));
        m.add_method("details", |lua, e, ()| details_table(lua, e));
        m.add_method("stack", |_, e, ()| Ok(e.stack.clone()));
        m.add_method("cause", |_, e, ()| Ok(e.cause.as_deref().cloned()));
        m.add_meta_method(MetaMethod::ToString, |_, e, ()| Ok(e.to_string()));
        m.add_meta_method(MetaMethod::Eq, |_, a, b: mlua::AnyUserData| {
            Ok(b.borrow::<LuaError>().is_ok_and(|b| {
                a.kind == b.kind && a.message == b.message && a.retryable == b.retryable
            }))
        });
    }
}

impl mlua::FromLua for LuaError {
    fn from_lua(value: Value, _: &Lua) -> mlua::Result<Self> {
        match value {
            Value::UserData(ud) => Ok(ud.borrow::<LuaError>()?.clone()),
            other => Err(mlua::Error::FromLuaConversionError {
                from: other.type_name(),
                to: "error".to_owned(),
                message: None,
            }),
        }
    }
}

fn details_table(lua: &Lua, e: &LuaError) -> mlua::Result<Table> {
    let t = lua.create_table_with_capacity(0, e.details.len())?;
    for (k, v) in &e.details {
        match v {
            Detail::Bool(b) => t.raw_set(k.as_str(), *b)?,
            Detail::Integer(i) => t.raw_set(k.as_str(), *i)?,
            Detail::Number(n) => t.raw_set(k.as_str(), *n)?,
            Detail::String(s) => t.raw_set(k.as_str(), s.as_str())?,
        }
    }
    Ok(t)
}

fn detail_from(v: Value, key: &str) -> mlua::Result<Detail> {
    Ok(match v {
        Value::Boolean(b) => Detail::Bool(b),
        Value::Integer(i) => Detail::Integer(i),
        Value::Number(n) => Detail::Number(n),
        Value::String(s) => Detail::String(s.to_str()?.to_owned()),
        other => {
            return Err(mlua::Error::runtime(format!(
                "errors.new: details.{key} must be a boolean, number or string, got {}",
                other.type_name()
            )));
        }
    })
}

fn kind_from(v: Value) -> mlua::Result<ErrorKind> {
    match v {
        Value::Nil => Ok(ErrorKind::Unknown),
        Value::String(s) => {
            let s = s.to_str()?;
            ErrorKind::parse(&s).ok_or_else(|| {
                let valid: Vec<&str> = ErrorKind::ALL.iter().map(|k| k.as_str()).collect();
                mlua::Error::runtime(format!(
                    "errors.new: unknown kind '{s}' (expected one of {})",
                    valid.join(", ")
                ))
            })
        }
        other => Err(mlua::Error::runtime(format!(
            "errors.new: kind must be a string, got {}",
            other.type_name()
        ))),
    }
}

/// `errors.new{kind=, message=, retryable=, details=}` or `errors.new("msg")`.
fn new_error(lua: &Lua, spec: Value) -> mlua::Result<LuaError> {
    let mut e = match spec {
        Value::String(s) => LuaError::new(ErrorKind::Unknown, s.to_str()?.to_owned()),
        Value::Table(t) => {
            let kind = kind_from(t.get("kind")?)?;
            let message: Option<String> = t.get("message")?;
            let mut e = LuaError::new(kind, message.unwrap_or_default());
            e.retryable = t.get("retryable")?;
            if let Some(details) = t.get::<Option<Table>>("details")? {
                for pair in details.pairs::<String, Value>() {
                    let (k, v) = pair?;
                    let d = detail_from(v, &k)?;
                    e.details.insert(k, d);
                }
            }
            e
        }
        other => {
            return Err(mlua::Error::runtime(format!(
                "errors.new: table or string expected, got {}",
                other.type_name()
            )));
        }
    };
    e.stack = Some(lua.traceback(None, 2)?.to_str()?.to_owned());
    Ok(e)
}

/// `errors.wrap(err, msg)`: keeps kind and retryable; a string error becomes
/// an `UNKNOWN` one.
fn wrap_error(lua: &Lua, (err, msg): (Value, String)) -> mlua::Result<LuaError> {
    let inner = match err {
        Value::UserData(ud) => ud.borrow::<LuaError>()?.clone(),
        Value::String(s) => LuaError::new(ErrorKind::Unknown, s.to_str()?.to_owned()),
        other => {
            return Err(mlua::Error::runtime(format!(
                "errors.wrap: error or string expected, got {}",
                other.type_name()
            )));
        }
    };
    let mut e = inner.wrap(msg);
    e.stack = Some(lua.traceback(None, 2)?.to_str()?.to_owned());
    Ok(e)
}

/// `errors.is(err, kind)`: true when `err` or any error it wraps has `kind`.
fn is_error(_: &Lua, (err, kind): (Value, String)) -> mlua::Result<bool> {
    let Some(kind) = ErrorKind::parse(&kind) else {
        return Ok(false);
    };
    Ok(match err {
        Value::UserData(ud) => ud.borrow::<LuaError>().is_ok_and(|e| e.is(kind)),
        _ => false,
    })
}

/// Builds the (still mutable) `errors` table.
pub(crate) fn create(lua: &Lua) -> mlua::Result<Table> {
    let t = lua.create_table()?;
    for k in ErrorKind::ALL {
        t.raw_set(k.as_str(), k.as_str())?;
    }
    t.raw_set("new", lua.create_function(new_error)?)?;
    t.raw_set("wrap", lua.create_function(wrap_error)?)?;
    t.raw_set("is", lua.create_function(is_error)?)?;
    Ok(t)
}
