pub struct Point {
    pub x: f64,
}

#[luamod::module(name = "m", class(deterministic))]
pub mod m {
    use super::Point;

    #[luamod::function]
    pub fn norm(p: Point) -> f64 {
        p.x
    }
}

fn main() {}
