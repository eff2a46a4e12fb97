#[luamod::userdata]
pub struct T;

#[luamod::methods]
impl T {
    pub async fn wait(&self) -> i64 {
        1
    }
}

fn main() {}
