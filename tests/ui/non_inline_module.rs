#[luamod::module(name = "m", class(deterministic))]
pub mod external;

fn main() {}
