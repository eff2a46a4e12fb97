//! Compile-time checks: every diagnostic of the macros, pinned with its span.
//! Regenerate the `.stderr` files with `TRYBUILD=overwrite cargo test -p luamod-tests --test ui`
//! and review the diff.

#![cfg(not(feature = "luajit"))]

#[test]
fn ui() {
    let t = trybuild::TestCases::new();
    t.compile_fail("ui/*.rs");
}
