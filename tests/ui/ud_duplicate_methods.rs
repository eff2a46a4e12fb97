#[luamod::userdata]
pub struct Counter {
    n: i64,
}

#[luamod::methods]
impl Counter {
    pub fn get(&self) -> i64 {
        self.n
    }

    #[lua(name = "get")]
    pub fn value(&self) -> i64 {
        self.n
    }

    #[lua(get, name = "get")]
    pub fn current(&self) -> i64 {
        self.n
    }
}

fn main() {}
