//! The macros work through a renamed dependency.

#[test]
fn a_module_written_through_a_renamed_dependency_works() {
    let lua = lm::lua_with(&[&luamod_renamed_check::renamed::MODULE]).unwrap();
    let (g, x, n, answer): (String, i64, i64, i64) = lua
        .load(
            "local r = require('renamed')
             local c = r.Counter.new(1)
             c:add(2)
             return r.greet('Ann'), r.shift({x = 1, y = 2}, 10).x, c.n, r.answer",
        )
        .eval()
        .unwrap();
    assert_eq!((g.as_str(), x, n, answer), ("Hi, Ann!", 11, 3, 42));
    let e: String = lua
        .load("local ok, e = pcall(require('renamed').greet) return e")
        .eval()
        .unwrap();
    assert!(
        e.contains("bad argument #1 to 'renamed.greet' (string expected, got no value)"),
        "{e}"
    );
    let m = luamod_renamed_check::renamed::MODULE.manifest();
    assert!(
        m.functions
            .iter()
            .any(|f| f.name == "later" && f.sig.is_async)
    );
    assert_eq!(
        <luamod_renamed_check::Ping as lm::Command>::ID,
        lm::CommandId(7777)
    );
}
