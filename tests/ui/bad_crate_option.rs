#[luamod::module(name = "m", class(io), crate = "not a path")]
pub mod m {}

fn main() {}
