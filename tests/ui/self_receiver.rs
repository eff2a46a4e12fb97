#[luamod::module(name = "m", class(deterministic))]
pub mod m {
    pub struct S;

    impl S {
        pub fn helper(&self) {}
    }

    #[luamod::function]
    pub fn f(self, x: i64) -> i64 {
        x
    }
}

fn main() {}
