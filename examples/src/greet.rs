//! The smallest useful module: the README's example.

pub use self::greet::MODULE;

/// Greeting utilities.
#[luamod::module(name = "greet", class(deterministic, encoding))]
#[allow(clippy::module_inception)]
pub mod greet {
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

    /// Repeats `name` `times` times, separated by `sep` (like `string.rep`).
    #[luamod::function]
    pub fn chant(name: &str, times: u32, sep: Option<&str>) -> String {
        vec![name; times as usize].join(sep.unwrap_or(""))
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
