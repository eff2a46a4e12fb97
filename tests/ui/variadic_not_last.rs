use luamod::prelude::*;

#[luamod::module(name = "m", class(deterministic))]
pub mod m {
    use super::*;

    #[luamod::function]
    pub fn f(xs: Variadic<i64>, last: i64) -> i64 {
        xs.len() as i64 + last
    }
}

fn main() {}
