#[luamod::userdata(nam = "m.T")]
pub struct T {
    #[lua(feild)]
    pub x: i64,
}

#[luamod::methods]
impl T {}

fn main() {}
