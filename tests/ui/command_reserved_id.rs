use luamod::Command;

#[derive(Command)]
#[command(id = 7, name = "m.low", output = ())]
pub struct Low;

#[derive(Command)]
#[command(name = "m.noid")]
pub struct NoId;

fn main() {}
