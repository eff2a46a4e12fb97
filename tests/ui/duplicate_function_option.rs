#[luamod::module(name = "m", class(io))]
pub mod m {
    #[luamod::function(name = "a", name = "b", permission = "m.x", permission = "m.y")]
    pub fn f() -> i64 {
        1
    }
}

fn main() {}
