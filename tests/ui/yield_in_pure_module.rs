use luamod::prelude::*;
use luamod::runtime::clock::Sleep;

#[luamod::module(name = "m", class(deterministic, encoding))]
pub mod m {
    use super::*;

    #[luamod::function]
    pub fn nap(ms: u64) -> Yield<Sleep> {
        Yield(Sleep { ms })
    }

    #[luamod::function]
    pub async fn fetch(url: String) -> String {
        url
    }
}

fn main() {}
