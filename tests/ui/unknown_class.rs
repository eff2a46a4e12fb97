#[luamod::module(name = "m", class(deterministic, netwrok))]
pub mod m {
    #[luamod::function]
    pub fn f() {}
}

fn main() {}
