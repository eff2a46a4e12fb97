#[derive(luamod::Command)]
#[command(id = 300, output = i64, output = u8)]
pub struct Ping;

fn main() {}
