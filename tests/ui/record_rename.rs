#[derive(luamod::LuaRecord)]
pub struct Endpoint {
    #[lua(rename = "tls")]
    pub secure: bool,
}

fn main() {}
