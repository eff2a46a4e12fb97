pub struct Handle(u32);

#[luamod::userdata]
pub struct Conn {
    #[lua(field)]
    pub handle: Handle,
}

#[luamod::methods]
impl Conn {}

fn main() {}
