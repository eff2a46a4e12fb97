#[luamod::module(name = "a", class(io), name = "b", class(time))]
pub mod m {}

fn main() {}
