//! Modules: their definitions ([`ModuleDef`], from `#[luamod::module]`),
//! binding them to a state (read-only tables in `package.loaded`), luamod's
//! base every state gets (the guards and the global `errors` module), and
//! writing stubs for a set of modules.

mod bind;
mod def;
pub mod errors;
pub mod stubs;

pub use bind::{install_base, lua_with};
pub use def::ModuleDef;
