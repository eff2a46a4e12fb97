#[luamod::module(name = "m", class(network))]
pub mod m {
    #[luamod::function]
    pub async fn fetch(url: &str) -> String {
        url.to_owned()
    }
}

fn main() {}
