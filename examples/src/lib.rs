//! Example modules built with luamod's macros, used by the demo host and the
//! workspace tests.

pub mod buffer;
pub mod demo_server;
pub mod fs;
pub mod greet;
pub mod http_client;
pub mod json;
pub mod paths;
pub mod sql;
pub mod sql_vfs;
pub mod time;

/// Every example module, for hosts that bind them all.
pub fn all() -> Vec<&'static luamod::ModuleDef> {
    vec![
        &greet::MODULE,
        &buffer::MODULE,
        &time::MODULE,
        &json::MODULE,
        &fs::MODULE,
        &http_client::MODULE,
        &sql::MODULE,
    ]
}
