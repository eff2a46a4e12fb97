#[luamod::module(name = "m", class(io))]
pub mod m {
    #[luamod::function(command = 300)]
    pub fn f() -> i64 {
        1
    }
}

fn main() {}
