#[luamod::module(name = "m", class(deterministic))]
pub mod m {
    #[luamod::function]
    pub fn f(a: Option<i64>, b: i64) -> i64 {
        a.unwrap_or(0) + b
    }

    #[luamod::function]
    pub fn g(#[lua(default = 1)] a: i64, b: &str) -> String {
        format!("{a}{b}")
    }
}

fn main() {}
