#[luamod::userdata]
pub struct T {
    x: i64,
}

#[luamod::methods]
impl T {
    #[lua(get, set)]
    pub fn x(&self) -> i64 {
        self.x
    }

    #[lua(gett)]
    pub fn y(&self) -> i64 {
        self.x
    }
}

fn main() {}
