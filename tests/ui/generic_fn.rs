#[luamod::module(name = "m", class(deterministic))]
pub mod m {
    #[luamod::function]
    pub fn f<T: Default>(x: i64) -> i64 {
        let _ = T::default();
        x
    }
}

fn main() {}
