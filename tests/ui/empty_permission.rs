#[luamod::module(name = "m", class(io))]
pub mod m {
    #[luamod::function(permission = " ")]
    pub fn f() -> i64 {
        1
    }
}

fn main() {}
