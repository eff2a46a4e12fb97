#[luamod::userdata]
pub struct Point {
    pub x: f64,
}

#[luamod::methods]
impl Point {
    #[lua(meta = "__tostrin")]
    pub fn show(&self) -> String {
        format!("{}", self.x)
    }
}

fn main() {}
