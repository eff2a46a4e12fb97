#[luamod::module(name = "m", class(deterministic))]
pub struct NotAModule;

fn main() {}
