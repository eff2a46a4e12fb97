//! `test.lua` in-process, on the VM this crate is built for (Lua 5.4 by
//! default; `--no-default-features --features lua53` for Lua 5.3): the
//! same checks the system interpreter runs against the loadable library.

#[test]
fn the_module_behaves_as_in_the_system_interpreter() {
    let lua = luamod::lua_with(&[&counter::counter::MODULE]).unwrap();
    let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("test.lua");
    let src = std::fs::read_to_string(&script).unwrap();
    lua.load(src)
        .set_name("@test.lua")
        .exec()
        .unwrap_or_else(|e| panic!("{e}"));
}
