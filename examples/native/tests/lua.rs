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

#[test]
fn a_memory_limit_fails_cleanly_and_the_module_goes_on() {
    let lua = luamod::lua_with(&[&counter::counter::MODULE]).unwrap();
    let mem = luamod::MemoryControl::install(&lua).unwrap();
    mem.set_limit(mem.used() + (256 << 10));
    let err = lua
        .load("local t = {} for i = 1, 1e7 do t[i] = ('x'):rep(32) .. i end")
        .exec()
        .unwrap_err();
    assert!(err.to_string().contains("not enough memory"), "{err}");
    mem.set_limit(0);
    let n: i64 = lua
        .load("collectgarbage() return require('counter').add(2, 3)")
        .eval()
        .unwrap();
    assert_eq!(n, 5);
}
