#[luamod::userdata]
pub union Bits {
    pub i: u32,
    pub f: f32,
}

fn main() {}
