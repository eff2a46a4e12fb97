#[luamod::userdata]
pub struct Token {
    id: u64,
}

#[luamod::methods]
impl Token {
    pub fn consume(self) -> u64 {
        self.id
    }
}

fn main() {}
