#[luamod::module(name = "m", class(io))]
pub mod m {
    use luamod::runtime::HandlerCx;

    #[luamod::function]
    pub fn who(cx: HandlerCx) -> u64 {
        cx.pid().0
    }
}

fn main() {}
