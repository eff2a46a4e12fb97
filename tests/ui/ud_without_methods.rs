#[luamod::userdata]
pub struct Lonely {
    pub x: i64,
}

fn main() {}
