pub struct Opaque;

#[luamod::module(name = "m", class(deterministic))]
pub mod m {
    use super::Opaque;

    #[luamod::function]
    pub fn make() -> Opaque {
        Opaque
    }
}

fn main() {}
