pub struct Plain {
    pub x: i64,
}

#[luamod::methods]
impl Plain {
    pub fn x(&self) -> i64 {
        self.x
    }
}

fn main() {}
