// A default expression is user code: it gets no unsafe context from the
// generated C function around it.
unsafe fn secret() -> i64 {
    42
}

#[luamod::module(name = "m", class(deterministic))]
pub mod m {
    #[luamod::function]
    pub fn f(#[lua(default = super::secret())] x: i64) -> i64 {
        x
    }
}

fn main() {}
