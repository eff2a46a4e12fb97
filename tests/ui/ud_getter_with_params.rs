#[luamod::userdata]
pub struct Point {
    pub x: f64,
}

#[luamod::methods]
impl Point {
    #[lua(get)]
    pub fn scaled(&self, by: f64) -> f64 {
        self.x * by
    }
}

fn main() {}
