//! Example modules built with luamod's macros, used by the demo host and the
//! workspace tests.

pub mod buffer;
pub mod greet;
pub mod json;

// The modules whose exports wait on the outside world run in the runtime,
// which LuaJIT builds do not have.
#[cfg(not(feature = "luajit"))]
pub mod demo_server;
#[cfg(not(feature = "luajit"))]
pub mod fs;
#[cfg(not(feature = "luajit"))]
pub mod http_client;
#[cfg(not(feature = "luajit"))]
pub mod paths;
#[cfg(not(feature = "luajit"))]
pub mod sql;
#[cfg(not(feature = "luajit"))]
pub mod sql_vfs;
#[cfg(not(feature = "luajit"))]
pub mod time;

/// Every example module, for hosts that bind them all.
#[cfg(not(feature = "luajit"))]
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

/// Every example module this build has (on LuaJIT, those without the
/// runtime).
#[cfg(feature = "luajit")]
pub fn all() -> Vec<&'static luamod::ModuleDef> {
    vec![&greet::MODULE, &buffer::MODULE, &json::MODULE]
}
