#[luamod::module(name = "files", class(io))]
pub mod files {
    #[luamod::function(permission = "fs.read", resource = pth)]
    pub fn read(path: String) -> String {
        path
    }
}

fn main() {}
