use luamod::LuaRecord;

#[derive(LuaRecord)]
pub struct Pair(i64, i64);

fn main() {}
