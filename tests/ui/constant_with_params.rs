#[luamod::module(name = "m", class(deterministic))]
pub mod m {
    #[luamod::constant]
    pub fn limit(x: i64) -> i64 {
        x
    }
}

fn main() {}
