#[luamod::function]
pub fn lonely(x: i64) -> i64 {
    x
}

fn main() {}
