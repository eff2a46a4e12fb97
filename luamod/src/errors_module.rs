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

/// The `errors` module's manifest (written by hand: the module is part of
/// the base, not generated by the macros).
pub(crate) fn manifest() -> luamod_types::TypeManifest {
    use luamod_types::{Field, FunctionDecl, FunctionType, Param, Type, TypeDef, TypeManifest};
    let f = |name: &str, doc: &str, params: Vec<Param>, returns: Vec<Type>| FunctionDecl {
        name: name.to_owned(),
        doc: doc.to_owned(),
        sig: FunctionType {
            params,
            returns,
            ..FunctionType::default()
        },
        permission: None,
    };
    let p = |name: &str, ty: Type| Param {
        name: name.to_owned(),
        ty,
        optional: false,
        doc: String::new(),
    };
    let details = Type::map(
        Type::String,
        Type::Union {
            of: vec![Type::Boolean, Type::Integer, Type::Number, Type::String],
        },
    );
    let kinds = Type::Union {
        of: ErrorKind::ALL
            .iter()
            .map(|k| Type::Literal {
                value: k.as_str().to_owned(),
            })
            .collect(),
    };
    let spec = Type::Record {
        fields: vec![
            Field {
                name: "kind".into(),
                ty: Type::String,
                optional: true,
                readonly: false,
                doc: String::new(),
            },
            Field {
                name: "message".into(),
                ty: Type::String,
                optional: true,
                readonly: false,
                doc: String::new(),
            },
            Field {
                name: "retryable".into(),
                ty: Type::Boolean,
                optional: true,
                readonly: false,
                doc: String::new(),
            },
            Field {
                name: "details".into(),
                ty: details.clone(),
                optional: true,
                readonly: false,
                doc: String::new(),
            },
        ],
    };
    let mut m = TypeManifest::new(
        "errors",
        "Operational errors: the kinds, and creating, wrapping and testing error values.",
    );
    m.global = true;
    m.constants = ErrorKind::ALL
        .iter()
        .map(|k| Field {
            name: k.as_str().to_owned(),
            ty: Type::Literal {
                value: k.as_str().to_owned(),
            },
            optional: false,
            readonly: true,
            doc: String::new(),
        })
        .collect();
    m.functions = vec![
        f(
            "new",
            "Creates an error from `{kind=, message=, retryable=, details=}` or a message.",
            vec![p(
                "spec",
                Type::Union {
                    of: vec![spec, Type::String],
                },
            )],
            vec![Type::Error],
        ),
        f(
            "wrap",
            "Wraps `err` with context; kind and retryable are kept.",
            vec![
                p(
                    "err",
                    Type::Union {
                        of: vec![Type::Error, Type::String],
                    },
                ),
                p("msg", Type::String),
            ],
            vec![Type::Error],
        ),
        f(
            "is",
            "Whether `err` or an error it wraps has `kind`.",
            vec![p("err", Type::Any), p("kind", Type::String)],
            vec![Type::Boolean],
        ),
    ];
    m.types = vec![TypeDef::Interface {
        name: "errors.Error".into(),
        doc: "An operational error, returned as `nil, err`.".into(),
        fields: Vec::new(),
        methods: vec![
            f(
                "kind",
                "The kind: one of the `errors` constants.",
                vec![],
                vec![kinds],
            ),
            f("message", "The message.", vec![], vec![Type::String]),
            f(
                "retryable",
                "Whether retrying may succeed; nil when unknown.",
                vec![],
                vec![Type::Boolean.optional()],
            ),
            f(
                "details",
                "A fresh table of details.",
                vec![],
                vec![details],
            ),
            f(
                "stack",
                "The Lua traceback where the error was created.",
                vec![],
                vec![Type::String.optional()],
            ),
            f(
                "cause",
                "The wrapped error, if any.",
                vec![],
                vec![Type::Error.optional()],
            ),
        ],
        metamethods: vec![f("__tostring", "", vec![], vec![Type::String])],
        statics: Vec::new(),
    }];
    m
}
