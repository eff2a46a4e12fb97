//! The Lua face of [`LuaError`]: the `errors.Error` userdata and the global
//! `errors` module (`errors.NOT_FOUND`, `errors.new`, `errors.wrap`,
//! `errors.is`), written with luamod's own macros, so its manifest comes
//! from these signatures like any module's.
//!
//! It also registers the state's error-value constructor, through which the
//! lower layers (which know nothing of this module) turn a `LuaError` into
//! a Lua value (see `call::ERROR_VALUE_KEY`).

use std::ffi::c_int;

use mlua::Lua;
use mlua::ffi::{self, lua_State};

pub use self::api::{ErrorValue, MODULE};
use crate::call::{ArgError, CallCx, CallError, ExportInfo, ExportKind};
use crate::convert::{FromArg, IntoReturn};
use crate::error::{Detail, ErrorKind, LuaError};
use crate::types::{LuaType, TypeRegistry};
use crate::userdata::ud_try;
use luamod_types::Type;

/// Operational errors: the kinds, and creating, wrapping and testing error values.
#[luamod::module(name = "errors", class(deterministic))]
pub mod api {
    use std::collections::BTreeMap;

    use super::{ErrorArg, MaybeError, Spec};
    use crate::error::{Detail, ErrorKind, LuaError};

    /// An operational error, returned as `nil, err`.
    #[luamod::userdata(name = "errors.Error")]
    pub struct ErrorValue(pub LuaError);

    #[luamod::methods]
    impl ErrorValue {
        /// The kind: one of the `errors` constants.
        pub fn kind(&self) -> ErrorKind {
            self.0.kind()
        }

        /// The message.
        pub fn message(&self) -> &str {
            self.0.message()
        }

        /// Whether retrying may succeed; nil when unknown.
        pub fn retryable(&self) -> Option<bool> {
            self.0.retryable()
        }

        /// A fresh table of details.
        pub fn details(&self) -> BTreeMap<String, Detail> {
            self.0.details().clone()
        }

        /// The Lua traceback where the error was created.
        pub fn stack(&self) -> Option<&str> {
            self.0.stack()
        }

        /// The wrapped error, if any.
        pub fn cause(&self) -> Option<LuaError> {
            self.0.cause().cloned()
        }

        /// The message.
        #[lua(meta = "__tostring")]
        pub fn tostring(&self) -> &str {
            self.0.message()
        }

        /// Same kind, message and retryability.
        #[lua(meta = "__eq")]
        pub fn same(&self, other: &ErrorValue) -> bool {
            let (a, b) = (&self.0, &other.0);
            a.kind() == b.kind() && a.message() == b.message() && a.retryable() == b.retryable()
        }
    }

    /// Creates an error from `{kind=, message=, retryable=, details=}` or a message.
    #[luamod::function]
    pub fn new(spec: Spec) -> LuaError {
        match spec {
            Spec::Message(m) => LuaError::new(ErrorKind::Unknown, m),
            Spec::Fields(f) => {
                let mut e = LuaError::new(
                    f.kind.unwrap_or(ErrorKind::Unknown),
                    f.message.unwrap_or_default(),
                );
                if let Some(r) = f.retryable {
                    e = e.with_retryable(r);
                }
                for (k, v) in f.details.unwrap_or_default() {
                    e = e.with_detail(k, v);
                }
                e
            }
        }
    }

    /// Wraps `err` with context; kind and retryable are kept.
    #[luamod::function]
    pub fn wrap(err: ErrorArg, msg: &str) -> LuaError {
        err.0.wrap(msg)
    }

    /// Whether `err` or an error it wraps has `kind`.
    #[luamod::function]
    pub fn is(err: MaybeError, kind: &str) -> bool {
        match (err.0, ErrorKind::parse(kind)) {
            (Some(e), Some(k)) => e.is(k),
            _ => false,
        }
    }

    #[luamod::constant(name = "UNKNOWN", returns = "\"UNKNOWN\"")]
    pub fn unknown() -> ErrorKind {
        ErrorKind::Unknown
    }

    #[luamod::constant(name = "NOT_FOUND", returns = "\"NOT_FOUND\"")]
    pub fn not_found() -> ErrorKind {
        ErrorKind::NotFound
    }

    #[luamod::constant(name = "ALREADY_EXISTS", returns = "\"ALREADY_EXISTS\"")]
    pub fn already_exists() -> ErrorKind {
        ErrorKind::AlreadyExists
    }

    #[luamod::constant(name = "INVALID", returns = "\"INVALID\"")]
    pub fn invalid() -> ErrorKind {
        ErrorKind::Invalid
    }

    #[luamod::constant(name = "PERMISSION_DENIED", returns = "\"PERMISSION_DENIED\"")]
    pub fn permission_denied() -> ErrorKind {
        ErrorKind::PermissionDenied
    }

    #[luamod::constant(name = "UNAVAILABLE", returns = "\"UNAVAILABLE\"")]
    pub fn unavailable() -> ErrorKind {
        ErrorKind::Unavailable
    }

    #[luamod::constant(name = "INTERNAL", returns = "\"INTERNAL\"")]
    pub fn internal() -> ErrorKind {
        ErrorKind::Internal
    }

    #[luamod::constant(name = "CANCELED", returns = "\"CANCELED\"")]
    pub fn canceled() -> ErrorKind {
        ErrorKind::Canceled
    }

    #[luamod::constant(name = "CONFLICT", returns = "\"CONFLICT\"")]
    pub fn conflict() -> ErrorKind {
        ErrorKind::Conflict
    }

    #[luamod::constant(name = "TIMEOUT", returns = "\"TIMEOUT\"")]
    pub fn timeout() -> ErrorKind {
        ErrorKind::Timeout
    }

    #[luamod::constant(name = "RATE_LIMITED", returns = "\"RATE_LIMITED\"")]
    pub fn rate_limited() -> ErrorKind {
        ErrorKind::RateLimited
    }

    #[luamod::constant(name = "RESOURCE_EXHAUSTED", returns = "\"RESOURCE_EXHAUSTED\"")]
    pub fn resource_exhausted() -> ErrorKind {
        ErrorKind::ResourceExhausted
    }
}

/// The fields `errors.new` accepts.
#[derive(luamod::LuaRecord)]
#[lua(name = "errors.Spec")]
pub struct SpecFields {
    /// One of the `errors` constants (default `UNKNOWN`).
    pub kind: Option<ErrorKind>,
    /// The message.
    pub message: Option<String>,
    /// Whether retrying may succeed.
    pub retryable: Option<bool>,
    /// Extra facts: booleans, numbers or strings.
    pub details: Option<std::collections::BTreeMap<String, Detail>>,
}

/// `errors.new`'s argument: a table of fields, or just a message.
pub enum Spec {
    /// `errors.new("message")`.
    Message(String),
    /// `errors.new{...}`.
    Fields(SpecFields),
}

// Internal to this module: not a suggestion for users' parameter types.
#[diagnostic::do_not_recommend]
impl<'a> FromArg<'a> for Spec {
    fn from_arg(cx: &'a CallCx, idx: c_int) -> Result<Self, ArgError> {
        // SAFETY: live state, any index.
        match unsafe { ffi::lua_type(cx.state(), idx) } {
            ffi::LUA_TSTRING | ffi::LUA_TNUMBER => String::from_arg(cx, idx).map(Spec::Message),
            ffi::LUA_TTABLE => SpecFields::from_arg(cx, idx).map(Spec::Fields),
            _ => Err(ArgError::Type {
                idx,
                expected: "table or string",
            }),
        }
    }
}

impl LuaType for Spec {
    fn lua_type(reg: &mut TypeRegistry) -> Type {
        Type::Union {
            of: vec![SpecFields::lua_type(reg), Type::String],
        }
    }
}

/// `errors.wrap`'s error: an error value, or a message (an `UNKNOWN` error).
pub struct ErrorArg(LuaError);

// Internal to this module: not a suggestion for users' parameter types.
#[diagnostic::do_not_recommend]
impl<'a> FromArg<'a> for ErrorArg {
    fn from_arg(cx: &'a CallCx, idx: c_int) -> Result<Self, ArgError> {
        if let Some(e) = ud_try::<ErrorValue>(cx, idx) {
            return Ok(ErrorArg(e.0.clone()));
        }
        // SAFETY: live state, any index.
        match unsafe { ffi::lua_type(cx.state(), idx) } {
            ffi::LUA_TSTRING | ffi::LUA_TNUMBER => {
                String::from_arg(cx, idx).map(|m| ErrorArg(LuaError::new(ErrorKind::Unknown, m)))
            }
            _ => Err(ArgError::Type {
                idx,
                expected: "errors.Error or string",
            }),
        }
    }
}

impl LuaType for ErrorArg {
    fn lua_type(_: &mut TypeRegistry) -> Type {
        Type::Union {
            of: vec![Type::Error, Type::String],
        }
    }
}

/// Any value; an error value if it is one.
pub struct MaybeError(Option<LuaError>);

// Internal to this module: not a suggestion for users' parameter types.
#[diagnostic::do_not_recommend]
impl<'a> FromArg<'a> for MaybeError {
    fn from_arg(cx: &'a CallCx, idx: c_int) -> Result<Self, ArgError> {
        Ok(MaybeError(
            ud_try::<ErrorValue>(cx, idx).map(|e| e.0.clone()),
        ))
    }
}

impl LuaType for MaybeError {
    fn lua_type(_: &mut TypeRegistry) -> Type {
        Type::Any
    }
}

/// A kind is its constant's string: `errors.NOT_FOUND == "NOT_FOUND"`.
// Internal to this module: not a suggestion for users' parameter types.
#[diagnostic::do_not_recommend]
impl<'a> FromArg<'a> for ErrorKind {
    fn from_arg(cx: &'a CallCx, idx: c_int) -> Result<Self, ArgError> {
        let s = <&str>::from_arg(cx, idx)?;
        ErrorKind::parse(s).ok_or_else(|| {
            let valid: Vec<&str> = ErrorKind::ALL.iter().map(|k| k.as_str()).collect();
            ArgError::msg(
                idx,
                format!("unknown kind '{s}'; expected one of {}", valid.join(", ")),
            )
        })
    }
}

#[diagnostic::do_not_recommend]
impl IntoReturn for ErrorKind {
    fn push_return(self, cx: &CallCx) -> Result<c_int, CallError> {
        self.as_str().push_return(cx)
    }
}

impl LuaType for ErrorKind {
    fn lua_type(_: &mut TypeRegistry) -> Type {
        Type::Union {
            of: ErrorKind::ALL
                .iter()
                .map(|k| Type::Literal {
                    value: k.as_str().to_owned(),
                })
                .collect(),
        }
    }
}

// Internal to this module: not a suggestion for users' parameter types.
#[diagnostic::do_not_recommend]
impl<'a> FromArg<'a> for Detail {
    fn from_arg(cx: &'a CallCx, idx: c_int) -> Result<Self, ArgError> {
        // SAFETY: live state, any index.
        let ty = unsafe { ffi::lua_type(cx.state(), idx) };
        match ty {
            ffi::LUA_TBOOLEAN => bool::from_arg(cx, idx).map(Detail::Bool),
            // SAFETY: as above.
            ffi::LUA_TNUMBER if unsafe { ffi::lua_isinteger(cx.state(), idx) } != 0 => {
                i64::from_arg(cx, idx).map(Detail::Integer)
            }
            ffi::LUA_TNUMBER => f64::from_arg(cx, idx).map(Detail::Number),
            ffi::LUA_TSTRING => String::from_arg(cx, idx).map(Detail::String),
            _ => Err(ArgError::Type {
                idx,
                expected: "boolean, number or string",
            }),
        }
    }
}

#[diagnostic::do_not_recommend]
impl IntoReturn for Detail {
    fn push_return(self, cx: &CallCx) -> Result<c_int, CallError> {
        match self {
            Detail::Bool(b) => b.push_return(cx),
            Detail::Integer(i) => i.push_return(cx),
            Detail::Number(n) => n.push_return(cx),
            Detail::String(s) => s.push_return(cx),
        }
    }
}

impl LuaType for Detail {
    fn lua_type(_: &mut TypeRegistry) -> Type {
        Type::Union {
            of: vec![Type::Boolean, Type::Integer, Type::Number, Type::String],
        }
    }
}

/// The error at `idx` as a `LuaError`: an error value's own, or an
/// `UNKNOWN` error describing any other value.
pub(crate) fn error_at(cx: &CallCx, idx: c_int) -> LuaError {
    if let Some(e) = ud_try::<ErrorValue>(cx, idx) {
        return e.0.clone();
    }
    // SAFETY: live state, any index.
    unsafe {
        if ffi::lua_type(cx.state(), idx) == ffi::LUA_TSTRING {
            return LuaError::new(
                ErrorKind::Unknown,
                crate::ffi::stack::string_at(cx.state(), idx),
            );
        }
        let ty = crate::ffi::stack::basic_type_name(cx.state(), idx);
        LuaError::new(ErrorKind::Unknown, format!("error object is a {ty} value"))
    }
}

/// Registers the error-value constructor of `lua`'s state.
pub(crate) fn install(lua: &Lua) -> mlua::Result<()> {
    // SAFETY: pushes a light C function and stores it in the registry.
    unsafe {
        lua.exec_raw::<()>((), |st| {
            ffi::lua_pushcfunction(st, make_error_value);
            ffi::lua_rawsetp(
                st,
                ffi::LUA_REGISTRYINDEX,
                &crate::call::ERROR_VALUE_KEY as *const u8 as *const std::ffi::c_void,
            );
        })
    }
}

/// The error-value constructor: `(light userdata *const LuaError) ->
/// errors.Error`, called with `lua_pcall` by the export reporting it.
unsafe extern "C-unwind" fn make_error_value(state: *mut lua_State) -> c_int {
    static INFO: ExportInfo = ExportInfo {
        owner: || "errors",
        name: "Error",
        kind: ExportKind::Function,
    };
    // SAFETY: argument 1 is a pointer to a LuaError that outlives this
    // call (`CallCx::push_error_value`). This frame owns nothing yet and
    // runs under lua_pcall, so luaL_traceback may raise here. Level 2 is
    // the Lua code that called the export reporting the error.
    unsafe {
        let e = ffi::lua_touserdata(state, 1) as *const LuaError;
        if e.is_null() {
            return 0;
        }
        ffi::lua_settop(state, 1);
        if (*e).stack().is_none() {
            ffi::luaL_traceback(state, state, std::ptr::null(), 2);
        }
        crate::call::call(state, &INFO, |cx| {
            let mut v = (*e).clone();
            if v.stack.is_none() {
                v.stack = Some(crate::ffi::stack::string_at(cx.state(), 2));
            }
            // The copy's strings are charged to Lua with the object: a
            // script that keeps many errors of a long message keeps that
            // much Lua memory.
            let heap = v.heap_size();
            crate::userdata::push_sized(cx, ErrorValue(v), heap)
        })
    }
}
