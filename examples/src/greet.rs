//! The smallest useful module: the README's example.

pub use self::greet::{MAX_CHANT, MODULE};

/// Greeting utilities.
#[luamod::module(name = "greet", class(deterministic, encoding))]
#[allow(clippy::module_inception)]
pub mod greet {
    use luamod::mlua;
    use luamod::prelude::*;

    /// Returns the classic greeting.
    #[luamod::function]
    pub fn hello() -> &'static str {
        "Hello, World!"
    }

    /// Greets `name`.
    #[luamod::function]
    pub fn greet(name: &str, #[lua(default = "Hello")] greeting: &str) -> String {
        format!("{greeting}, {name}!")
    }

    /// The longest string `chant` builds (16 MiB).
    pub const MAX_CHANT: usize = 16 << 20;

    /// Repeats `name` `times` times, separated by `sep` (like `string.rep`).
    /// A result longer than 16 MiB raises "resulting string too large", as
    /// `string.rep` does past its own limit.
    #[luamod::function]
    pub fn chant(name: &str, times: u32, sep: Option<&str>) -> mlua::Result<String> {
        let sep = sep.unwrap_or("");
        let times = times as usize;
        if name.is_empty() && sep.is_empty() {
            return Ok(String::new());
        }
        let len = name
            .len()
            .checked_mul(times)
            .and_then(|n| n.checked_add(sep.len().checked_mul(times.saturating_sub(1))?))
            .filter(|&n| n <= MAX_CHANT)
            .ok_or_else(|| {
                mlua::Error::runtime(format!(
                    "resulting string too large (the limit is {MAX_CHANT} bytes)"
                ))
            })?;
        let mut out = String::with_capacity(len);
        for i in 0..times {
            if i > 0 {
                out.push_str(sep);
            }
            out.push_str(name);
        }
        Ok(out)
    }

    /// Looks up the greeting for a language code; unknown codes are an
    /// operational error (`nil, err`), not a raise.
    #[luamod::function]
    pub fn in_language(code: &str) -> Result<&'static str, LuaError> {
        match code {
            "en" => Ok("Hello"),
            "fr" => Ok("Bonjour"),
            "de" => Ok("Hallo"),
            "es" => Ok("Hola"),
            other => Err(LuaError::new(
                ErrorKind::NotFound,
                format!("no greeting for language '{other}'"),
            )
            .with_retryable(false)
            .with_detail("code", other)),
        }
    }

    /// A greeting only some callers may ask for: checks the permission
    /// `greet.secret` with `name` as the resource before running.
    #[luamod::function(permission = "greet.secret", resource = name)]
    pub fn secret(name: &str) -> String {
        format!("The secret handshake for {name} is three taps.")
    }

    /// Who is asking: the actor of the calling process (checked by hand).
    #[luamod::function]
    pub fn whoami(ctx: &Context) -> Result<String, LuaError> {
        ctx.check("greet.whoami", "*")?;
        Ok(ctx.actor.as_ref().map(|a| a.id.clone()).unwrap_or_default())
    }

    /// Greets everyone given, returning one greeting per name.
    #[luamod::function]
    pub fn greet_all(names: Variadic<String>) -> Variadic<String> {
        names.iter().map(|n| format!("Hello, {n}!")).collect()
    }
}
