//! Modules used only by the workspace tests: `probe` mirrors standard Lua
//! functions parameter for parameter, so its error messages can be compared
//! with Lua's own on the same inputs.

/// Functions with the same parameter kinds as Lua standard functions.
#[luamod::module(name = "probe", class(deterministic))]
pub mod probe {
    use luamod::mlua;
    use luamod::prelude::*;

    /// As `string.rep(s, n [, sep])`.
    #[luamod::function]
    pub fn rep(s: &str, n: i64, sep: Option<&str>) -> String {
        let n = n.max(0) as usize;
        vec![s; n].join(sep.unwrap_or(""))
    }

    /// As `string.char(c)` for one code.
    #[luamod::function]
    pub fn char(c: u8) -> String {
        (c as char).to_string()
    }

    /// As `math.floor(x)`.
    #[luamod::function]
    pub fn floor(x: f64) -> i64 {
        x.floor() as i64
    }

    /// As `string.sub(s, i [, j])`, for ASCII.
    #[luamod::function]
    pub fn sub(s: &str, i: i64, j: Option<i64>) -> String {
        let len = s.len() as i64;
        let norm = |k: i64| if k < 0 { (len + k + 1).max(0) } else { k };
        let (i, j) = (norm(i).max(1), norm(j.unwrap_or(-1)).min(len));
        if i > j {
            String::new()
        } else {
            s[(i - 1) as usize..j as usize].to_owned()
        }
    }

    /// As `table.concat(t [, sep])`, for string items.
    #[luamod::function]
    pub fn concat(t: Table, sep: Option<&str>) -> Result<String, LuaError> {
        let items: Vec<String> = t
            .sequence_values::<String>()
            .collect::<mlua::Result<_>>()
            .map_err(|e| LuaError::new(ErrorKind::Invalid, e.to_string()))?;
        Ok(items.join(sep.unwrap_or("")))
    }

    /// As `tostring(v)` for the basic types.
    #[luamod::function]
    pub fn tostring(v: Value) -> String {
        match v {
            Value::Nil => "nil".into(),
            Value::Boolean(b) => b.to_string(),
            Value::Integer(i) => i.to_string(),
            Value::String(s) => s.to_string_lossy(),
            other => other.type_name().to_owned(),
        }
    }

    /// As `string.len(s)`.
    #[luamod::function]
    pub fn len(s: &[u8]) -> usize {
        s.len()
    }

    /// As `string.byte(s [, i])` for one byte.
    #[luamod::function]
    pub fn byte(s: &[u8], i: Option<i64>) -> Option<u8> {
        let i = i.unwrap_or(1);
        usize::try_from(i - 1).ok().and_then(|k| s.get(k).copied())
    }

    /// Narrow integer parameters.
    #[luamod::function]
    pub fn narrow(a: i8, b: u16, c: u64) -> i64 {
        a as i64 + b as i64 + c as i64
    }

    /// `f32`, `bool` and a defaulted integer.
    #[luamod::function]
    pub fn mixed(x: f32, flag: bool, #[lua(default = 10)] base: i64) -> (f64, bool, i64) {
        (x as f64, !flag, base)
    }

    /// Sums every argument.
    #[luamod::function]
    pub fn sum(xs: Variadic<f64>) -> f64 {
        xs.iter().sum()
    }

    /// Takes the state and builds a fresh (mutable) table.
    #[luamod::function]
    pub fn pair(lua: &Lua, a: i64, b: i64) -> mlua::Result<Table> {
        let t = lua.create_table()?;
        t.raw_set("a", a)?;
        t.raw_set("b", b)?;
        Ok(t)
    }

    /// Calls `f(x)` and returns what it returns.
    #[luamod::function]
    pub fn apply(f: Function, x: Value) -> mlua::Result<Value> {
        f.call(x)
    }

    /// Fails as an operational error.
    #[luamod::function]
    pub fn fail(kind: &str, msg: String) -> Result<i64, LuaError> {
        Err(LuaError::new(
            ErrorKind::parse(kind).unwrap_or(ErrorKind::Unknown),
            msg,
        ))
    }

    /// Panics with `msg`.
    #[luamod::function]
    pub fn boom(msg: &str) -> i64 {
        panic!("{msg}")
    }

    /// Renamed export.
    #[luamod::function(name = "renamed")]
    pub fn original_name() -> &'static str {
        "renamed"
    }

    /// Returns nothing.
    #[luamod::function]
    pub fn nothing() {}

    /// Echoes raw bytes (not UTF-8).
    #[luamod::function]
    pub fn bytes_len(b: &[u8], s: Option<String>) -> (usize, Option<String>) {
        (b.len(), s)
    }
}

/// The README's example, compiled and run as a doctest.
#[doc = include_str!("../../README.md")]
#[cfg(doctest)]
pub struct ReadmeExample;
