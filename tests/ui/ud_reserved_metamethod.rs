#[luamod::userdata]
pub struct Point {
    pub x: f64,
}

#[luamod::methods]
impl Point {
    #[lua(meta = "__gc")]
    pub fn finish(&mut self) {}
}

fn main() {}
