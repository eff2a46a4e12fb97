#[luamod::module(name = "m", class(pure))]
pub mod m {
    #[luamod::function(name = "nil")]
    pub fn a(x: Option<i64>, y: i64) -> i64 {
        x.unwrap_or(y)
    }
}

fn main() {}
