#[luamod::userdata]
pub struct Point {
    pub x: f64,
    pub y: f64,
}

#[luamod::methods]
impl Point {
    #[lua(set)]
    pub fn set_xy(&mut self, x: f64, y: f64) {
        self.x = x;
        self.y = y;
    }

    #[lua(set)]
    pub fn set_nothing(&mut self) {}
}

fn main() {}
