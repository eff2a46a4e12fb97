#[luamod::module(name = "m", class(network))]
pub mod m {
    #[luamod::function]
    pub async fn fetch(url: String) -> String {
        url
    }
}

fn main() {}
