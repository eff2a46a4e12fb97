//! The committed editor stubs (`stubs/`, which `.luarc.json` and
//! `.emmyrc.json` point the editor at) match the module: this test fails
//! when they are stale; `LUAMOD_BLESS=1 cargo test` rewrites them.

#[test]
fn lua_stubs_are_current() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("stubs");
    luamod::stubs::check(
        &[&counter::counter::MODULE, &counter::extra::MODULE],
        luamod::stubs::Format::All,
        &dir,
    )
    .unwrap();
}
