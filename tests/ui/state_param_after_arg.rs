#[luamod::module(name = "m", class(deterministic), state = Config)]
pub mod m {
    #[derive(Default)]
    pub struct Config {
        pub word: String,
    }

    #[luamod::function]
    pub fn hi(name: String, cfg: &Config) -> String {
        format!("{} {name}", cfg.word)
    }
}

fn main() {}
