#[luamod::module(name = "m", class(deterministic))]
pub mod m {
    #[luamod::function]
    pub fn size() -> i64 {
        1
    }

    #[luamod::function(name = "size")]
    pub fn length() -> i64 {
        2
    }
}

fn main() {}
