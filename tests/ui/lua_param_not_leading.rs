use luamod::prelude::*;

#[luamod::module(name = "m", class(deterministic))]
pub mod m {
    use super::*;

    #[luamod::function]
    pub fn f(x: i64, lua: &Lua) -> i64 {
        let _ = lua;
        x
    }
}

fn main() {}
