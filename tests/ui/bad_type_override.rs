use luamod::prelude::*;

#[luamod::module(name = "m", class(deterministic))]
pub mod m {
    use super::*;

    #[luamod::function(returns = "table<string, integer")]
    pub fn counts(#[lua(type = "fun(x: integer): string[]")] f: Function, #[lua(type = "strin g")] t: Table) -> Table {
        let _ = f;
        t
    }
}

fn main() {}
