//! A luamod module built for the system interpreter: `cargo build --release
//! --no-default-features --features module` makes `libcounter.so`, which
//! `require("counter")` loads from `lua5.4` once it is on `package.cpath`
//! as `counter.so` (the rockspec next to this crate does that with
//! LuaRocks).

/// Integers and counters.
#[luamod::module(name = "counter", class(io), luaopen)]
pub mod counter {
    use luamod::prelude::*;

    /// Adds two integers.
    #[luamod::function]
    pub fn add(a: i64, b: i64) -> i64 {
        a.wrapping_add(b)
    }

    /// Parses a decimal integer; anything else is `nil, err` (INVALID).
    #[luamod::function]
    pub fn parse(text: &str) -> Result<i64, LuaError> {
        text.trim().parse().map_err(|_| {
            LuaError::new(
                ErrorKind::Invalid,
                format!(
                    "not an integer: {:?}",
                    text.chars().take(32).collect::<String>()
                ),
            )
        })
    }

    /// Panics: a Rust bug becomes a Lua error, the interpreter goes on.
    #[luamod::function]
    pub fn boom() -> i64 {
        panic!("boom")
    }

    /// Answers after a yield: only inside a luamod runtime process (in the
    /// stock interpreter it is a clear error).
    #[luamod::function]
    pub async fn later(x: i64) -> Result<i64, LuaError> {
        Ok(x)
    }

    /// A counter.
    #[luamod::userdata]
    pub struct Counter {
        n: i64,
    }

    #[luamod::methods]
    impl Counter {
        /// A counter starting at `start` (0 by default).
        pub fn new(start: Option<i64>) -> Counter {
            Counter {
                n: start.unwrap_or(0),
            }
        }

        /// Adds `by` and returns the new value.
        pub fn add(&mut self, by: i64) -> i64 {
            self.n = self.n.wrapping_add(by);
            self.n
        }

        /// The current value.
        pub fn get(&self) -> i64 {
            self.n
        }
    }
}

/// A second module in the same library: loaded from a second copy of it
/// (`counter_extra.so`), it checks that two copies of luamod share one
/// interpreter (see `two.lua`).
#[luamod::module(name = "counter_extra", class(deterministic), luaopen)]
pub mod extra {
    /// Doubles an integer.
    #[luamod::function]
    pub fn double(x: i64) -> i64 {
        x.wrapping_mul(2)
    }
}
