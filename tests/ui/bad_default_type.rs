#[luamod::module(name = "m", class(deterministic))]
pub mod m {
    #[luamod::function]
    pub fn f(#[lua(default = "ten")] n: i64) -> i64 {
        n
    }
}

fn main() {}
