use luamod::LuaRecord;

#[derive(LuaRecord)]
pub struct Named<'a> {
    pub name: &'a str,
}

fn main() {}
