#[luamod::module(name = "m", class(deterministic))]
pub mod m {
    #[luamod::function(name = "end")]
    pub fn finish() {}

    #[luamod::function(name = "to-string")]
    pub fn to_string() {}
}

fn main() {}
