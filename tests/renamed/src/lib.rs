//! Every macro, used through a dependency renamed to `lm`: generated code
//! names `lm::__private`, never `luamod`.

/// A module whose generated code must name the crate `lm`.
#[lm::module(name = "renamed", class(deterministic, io), crate = "lm")]
pub mod renamed {
    use lm::prelude::*;

    /// A point.
    #[derive(LuaRecord, Debug, Clone, PartialEq)]
    pub struct Point {
        pub x: i64,
        pub y: i64,
    }

    /// A counter.
    #[lm::userdata]
    pub struct Counter {
        #[lua(field)]
        pub n: i64,
    }

    #[lm::methods]
    impl Counter {
        pub fn new(n: i64) -> Counter {
            Counter { n }
        }

        pub fn add(&mut self, by: i64) -> i64 {
            self.n += by;
            self.n
        }
    }

    /// Greets.
    #[lm::function]
    pub fn greet(name: &str, #[lua(default = "Hi")] greeting: &str) -> String {
        format!("{greeting}, {name}!")
    }

    /// Moves a point.
    #[lm::function]
    pub fn shift(p: Point, by: i64) -> Point {
        Point {
            x: p.x + by,
            y: p.y + by,
        }
    }

    /// A value from the constant.
    #[lm::constant]
    pub fn answer() -> i64 {
        42
    }

    /// An async export: its command and handler are generated.
    #[lm::function]
    pub async fn later(x: i64) -> i64 {
        x + 1
    }
}

/// A command outside any module.
#[derive(lm::Command)]
#[command(id = 7777, name = "renamed.ping", output = i64, crate = "lm")]
pub struct Ping;
