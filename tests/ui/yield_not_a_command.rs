use luamod::prelude::*;

pub struct NotACommand;

#[luamod::module(name = "m", class(io))]
pub mod m {
    use super::*;

    #[luamod::function]
    pub fn wait() -> Yield<NotACommand> {
        Yield(NotACommand)
    }
}

fn main() {}
