#[luamod::module(name = "my module", class(deterministic))]
pub mod m {
    #[luamod::function]
    pub fn f() {}
}

fn main() {}
