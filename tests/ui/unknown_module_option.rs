#[luamod::module(name = "m", clas(deterministic), version = "1")]
pub mod m {
    #[luamod::function]
    pub fn f() {}
}

fn main() {}
