//! The Luau definitions luamod writes for the example modules
//! (`tests/golden/luau/luamod.d.luau`, kept current by the `stubs` test of
//! `luamod-tests`) load into the real Luau analyzer, which accepts a correct
//! script and flags every wrong use in another.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

fn tests_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn checker() -> luau_analyze::Checker {
    let defs_path = tests_dir().join("golden/luau/luamod.d.luau");
    let defs = std::fs::read_to_string(&defs_path)
        .unwrap_or_else(|e| panic!("{}: {e}", defs_path.display()));
    let mut checker = luau_analyze::Checker::new().unwrap();
    checker
        .add_definitions_with_name(&defs, "luamod")
        .unwrap_or_else(|e| panic!("definitions rejected: {e}\n{defs}"));
    checker
}

/// 1-based lines ending in `--> error`.
fn expected(source: &str) -> BTreeSet<usize> {
    source
        .lines()
        .enumerate()
        .filter(|(_, l)| l.trim_end().ends_with("--> error"))
        .map(|(i, _)| i + 1)
        .collect()
}

#[test]
fn correct_script_checks_clean() {
    let src = std::fs::read_to_string(tests_dir().join("lua/stubs/good.luau")).unwrap();
    let r = checker().check(&src).unwrap();
    assert!(
        r.is_ok() && r.diagnostics.is_empty(),
        "{:#?}",
        r.diagnostics
    );
}

#[test]
fn every_wrong_use_is_flagged() {
    let src = std::fs::read_to_string(tests_dir().join("lua/stubs/bad.luau")).unwrap();
    let want = expected(&src);
    assert!(want.len() >= 10);
    let r = checker().check(&src).unwrap();
    let got: BTreeSet<usize> = r.errors().iter().map(|d| d.line as usize + 1).collect();
    assert_eq!(got, want, "{:#?}", r.diagnostics);
}

#[test]
fn broken_definitions_are_rejected() {
    // Control: the analyzer really validates what it loads.
    let mut c = luau_analyze::Checker::new().unwrap();
    assert!(
        c.add_definitions_with_name("declare x: NoSuchType", "bad")
            .is_err()
    );
}
