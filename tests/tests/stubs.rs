//! Type manifests and stubs: JSON round trip, golden files, no drift between
//! manifests and what Lua sees, and proof by the real checkers
//! (`emmylua_check` for the LuaLS stubs here; the `luau-analyze` crate for
//! the Luau definitions in `tests/luau`, a crate of its own because Luau's C
//! symbols clash with Lua 5.4's) on correct and wrong scripts under
//! `tests/lua/stubs`.
//!
//! Golden files: `LUAMOD_BLESS=1 cargo test -p luamod-tests --test stubs`
//! rewrites `tests/golden/` from the current output; review the diff.

#![cfg(not(feature = "luajit"))]

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

use luamod::stubs::{self, Format};
use luamod::types::TypeManifest;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).to_path_buf()
}

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("luamod-stubs-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[test]
fn manifests_round_trip_through_json() {
    for m in stubs::manifests(&luamod_examples::all()) {
        let back = TypeManifest::from_json(&m.to_json()).unwrap();
        assert_eq!(back, m, "{}", m.name);
    }
}

#[test]
fn golden_files_match() {
    let golden = root().join("golden");
    let bless = std::env::var_os("LUAMOD_BLESS").is_some();
    let mut stale = Vec::new();
    for (rel, text) in stubs::render(&luamod_examples::all(), Format::All) {
        let path = golden.join(&rel);
        if bless {
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(&path, &text).unwrap();
        } else if std::fs::read_to_string(&path).ok().as_deref() != Some(text.as_str()) {
            stale.push(rel.display().to_string());
        }
    }
    assert!(
        stale.is_empty(),
        "stubs differ from tests/golden (rerun with LUAMOD_BLESS=1 and review): {stale:?}"
    );
}

/// Every name Lua sees in a module table has a type, and every typed name
/// is in the table.
#[test]
fn manifests_match_what_lua_sees() {
    let modules = luamod_examples::all();
    let lua = luamod::lua_with(&modules).unwrap();
    for (def, m) in modules
        .iter()
        .zip(stubs::manifests(&modules).into_iter().skip(1))
    {
        let table = def.bind(&lua).unwrap();
        // Lua's own `pairs` (through the read-only proxy's `__pairs`).
        let names: Vec<String> = lua
            .load(
                "local t, out = ..., {}
                 for k, v in pairs(t) do
                   if type(v) == 'table' then
                     for k2 in pairs(v) do out[#out + 1] = k .. '.' .. k2 end
                   else
                     out[#out + 1] = k
                   end
                 end
                 return out",
            )
            .call(table)
            .unwrap();
        let seen: BTreeSet<String> = names.into_iter().collect();
        let mut typed = BTreeSet::new();
        let luamod::types::Type::Record { fields } = m.export() else {
            panic!("module type is a record")
        };
        for f in fields {
            match &f.ty {
                luamod::types::Type::Record { fields: inner } => {
                    for g in inner {
                        typed.insert(format!("{}.{}", f.name, g.name));
                    }
                }
                _ => {
                    typed.insert(f.name.clone());
                }
            }
        }
        assert_eq!(seen, typed, "module {}", m.name);
    }
}

fn emmylua() -> Command {
    Command::new("emmylua_check")
}

/// Diagnostics as (file name, 1-based line, code).
fn run_emmylua(config: Option<&Path>, workspace: &Path) -> Vec<(String, usize, String)> {
    assert!(workspace.is_dir(), "{} missing", workspace.display());
    let mut cmd = emmylua();
    if let Some(c) = config {
        assert!(c.is_file());
        cmd.arg("-c").arg(c);
    }
    let out = cmd.arg("-f").arg("json").arg(workspace).output().unwrap_or_else(|e| {
        panic!("cannot run emmylua_check ({e}); install it with `cargo install --locked emmylua_check` (bash .ci/run does)")
    });
    let stdout = String::from_utf8_lossy(&out.stdout);
    let start = stdout.find('[').unwrap_or(0);
    let files: serde_json::Value =
        serde_json::from_str(stdout[start..].trim()).unwrap_or_else(|e| {
            panic!(
                "unexpected emmylua_check output ({e}): {stdout}\n{}",
                String::from_utf8_lossy(&out.stderr)
            )
        });
    let mut diags = Vec::new();
    for f in files.as_array().unwrap() {
        let name = Path::new(f["file"].as_str().unwrap())
            .file_name()
            .unwrap()
            .to_string_lossy()
            .into_owned();
        for d in f["diagnostics"].as_array().unwrap() {
            let line = d["range"]["start"]["line"].as_u64().unwrap() as usize + 1;
            diags.push((
                name.clone(),
                line,
                d["code"].as_str().unwrap_or("?").to_owned(),
            ));
        }
    }
    diags.sort();
    diags
}

/// `(line, code)` for each code of each line of `file` ending in
/// `--> code[, code]`.
fn expected(file: &Path) -> Vec<(usize, String)> {
    std::fs::read_to_string(file)
        .unwrap()
        .lines()
        .enumerate()
        .filter_map(|(i, l)| {
            l.split_once("--> ")
                .map(|(_, codes)| (i + 1, codes.to_owned()))
        })
        .flat_map(|(line, codes)| {
            codes
                .split(',')
                .map(|c| (line, c.trim().to_owned()))
                .collect::<Vec<_>>()
        })
        .collect()
}

fn write_luals_stubs(name: &str) -> PathBuf {
    let dir = scratch(name);
    stubs::write(&luamod_examples::all(), Format::LuaLs, &dir).unwrap();
    dir
}

#[test]
fn emmylua_accepts_correct_scripts_and_flags_wrong_ones() {
    let stubs_dir = write_luals_stubs("emmy");
    let cfg_dir = scratch("emmy-cfg");
    let cfg = cfg_dir.join(".emmyrc.json");
    let codes = [
        "param-type-mismatch",
        "missing-parameter",
        "redundant-parameter",
        "undefined-field",
        "assign-type-mismatch",
        "unresolved-require",
        "undefined-global",
        "await-in-sync",
    ];
    let severity: serde_json::Map<String, serde_json::Value> = codes
        .iter()
        .map(|c| (c.to_string(), "error".into()))
        .collect();
    let config = serde_json::json!({
        "workspace": { "library": [stubs_dir] },
        "diagnostics": { "severity": severity },
    });
    std::fs::write(&cfg, config.to_string()).unwrap();

    let scripts = root().join("lua/stubs");
    let diags = run_emmylua(Some(&cfg), &scripts);
    let good: Vec<_> = diags.iter().filter(|d| d.0 == "good.lua").collect();
    assert!(good.is_empty(), "correct script got diagnostics: {good:?}");

    let want = expected(&scripts.join("bad.lua"));
    assert!(want.len() >= 12, "at least 12 wrong uses");
    let got: Vec<(usize, String)> = diags
        .iter()
        .filter(|d| d.0 == "bad.lua")
        .map(|d| (d.1, d.2.clone()))
        .collect();
    assert_eq!(
        got.iter().collect::<BTreeSet<_>>(),
        want.iter().collect::<BTreeSet<_>>()
    );
}

#[test]
fn emmylua_finds_no_problem_in_the_stubs_themselves() {
    // Files marked ---@meta are never diagnosed; a copy with diagnostics
    // re-enabled is. A broken control file proves the check is live.
    let stubs_dir = write_luals_stubs("self");
    let copy = scratch("self-copy");
    for entry in std::fs::read_dir(&stubs_dir).unwrap() {
        let path = entry.unwrap().path();
        let text = std::fs::read_to_string(&path).unwrap();
        let (meta, rest) = text.split_once('\n').unwrap();
        let checked = format!(
            "{meta}\n---@diagnostic enable: syntax-error, type-not-found, unknown-doc-tag, doc-syntax-error\n{rest}"
        );
        std::fs::write(copy.join(path.file_name().unwrap()), checked).unwrap();
    }
    let diags = run_emmylua(None, &copy);
    assert!(diags.is_empty(), "stub problems: {diags:?}");

    std::fs::write(
        copy.join("zz_control.lua"),
        "---@meta control\n---@diagnostic enable: type-not-found\n---@param a NoSuchType\nfunction f(a) end\n",
    )
    .unwrap();
    let diags = run_emmylua(None, &copy);
    assert_eq!(
        diags,
        vec![("zz_control.lua".into(), 3, "type-not-found".into())]
    );
}

#[test]
fn check_reports_changed_missing_and_no_longer_generated_stubs() {
    // `compare` is `check` without LUAMOD_BLESS, which this suite's own
    // golden test reads.
    let dir = scratch("check");
    let both = [
        &luamod_examples::greet::MODULE,
        &luamod_examples::json::MODULE,
    ];
    let one = [&luamod_examples::greet::MODULE];
    stubs::write(&both, Format::All, &dir).unwrap();
    assert!(stubs::compare(&both, Format::All, &dir).is_ok());
    // Hand-written files next to the stubs are not luamod's business.
    std::fs::write(dir.join("luals/mine.lua"), "return {}\n").unwrap();
    std::fs::write(dir.join("json/data.json"), "{\"a\": 1}\n").unwrap();
    assert!(stubs::compare(&both, Format::All, &dir).is_ok());

    std::fs::write(dir.join("luals/greet.lua"), "---@meta greet\n-- edited\n").unwrap();
    std::fs::remove_file(dir.join("luals/errors.lua")).unwrap();
    let Err(stubs::CheckError::Stale(stale)) = stubs::compare(&one, Format::All, &dir) else {
        panic!("stale stubs not reported")
    };
    // The edited file, and the Luau file of all modules (one fewer now).
    assert_eq!(
        stale.changed,
        ["luals/greet.lua", "luau/luamod.d.luau"].map(PathBuf::from)
    );
    assert_eq!(stale.missing, vec![PathBuf::from("luals/errors.lua")]);
    // json.lua, json.json and json.md: the module is gone from the set.
    assert_eq!(
        stale.extra,
        ["json/json.json", "luals/json.lua", "markdown/json.md"].map(PathBuf::from)
    );
    // What `.unwrap()` prints in the user's test.
    let msg = format!("{stale:?}");
    assert!(
        msg.contains("LUAMOD_BLESS=1") && msg.contains("greet.lua") && msg.contains("json.md"),
        "{msg}"
    );

    // `update` (what LUAMOD_BLESS makes `check` do first) repairs all
    // three and leaves the hand-written files.
    stubs::update(&one, Format::All, &dir).unwrap();
    assert!(stubs::compare(&one, Format::All, &dir).is_ok());
    assert!(!dir.join("luals/json.lua").exists());
    assert!(dir.join("luals/mine.lua").exists() && dir.join("json/data.json").exists());
}

#[test]
fn update_never_removes_through_links_or_other_formats() {
    let dir = scratch("links");
    let outside = scratch("links-outside");
    let both = [
        &luamod_examples::greet::MODULE,
        &luamod_examples::json::MODULE,
    ];
    let one = [&luamod_examples::greet::MODULE];
    // Generated stubs somewhere else, reached through a linked folder and
    // a linked file.
    stubs::write(&both, Format::LuaLs, &outside).unwrap();
    stubs::write(&both, Format::All, &dir).unwrap();
    std::fs::remove_dir_all(dir.join("luals")).unwrap();
    std::os::unix::fs::symlink(&outside, dir.join("luals")).unwrap();
    stubs::update(&one, Format::Luau, &dir).unwrap();
    stubs::update(&one, Format::Json, &dir.join("json")).unwrap();
    assert!(
        outside.join("json.lua").exists(),
        "followed a linked folder"
    );
    assert!(
        dir.join("markdown/json.md").exists(),
        "removed another format's file"
    );

    let single = scratch("links-file");
    stubs::write(&one, Format::LuaLs, &single).unwrap();
    std::fs::remove_file(single.join("greet.lua")).unwrap();
    std::os::unix::fs::symlink(outside.join("greet.lua"), single.join("greet.lua")).unwrap();
    let err = stubs::write(&one, Format::LuaLs, &single).unwrap_err();
    assert!(err.to_string().contains("symbolic link"), "{err}");
}

/// The JSON blocks of docs/stubs.md whose info string names a file
/// (```json .emmyrc.json).
fn documented_configs() -> Vec<(String, String)> {
    let doc = std::fs::read_to_string(root().join("../docs/stubs.md")).unwrap();
    let mut out = Vec::new();
    let mut lines = doc.lines();
    while let Some(l) = lines.next() {
        if let Some(name) = l.strip_prefix("```json ") {
            let body: Vec<&str> = lines.by_ref().take_while(|l| *l != "```").collect();
            out.push((name.trim().to_owned(), body.join("\n")));
        }
    }
    out
}

#[test]
fn documented_editor_configs_find_the_stubs() {
    let configs = documented_configs();
    let names: Vec<&str> = configs.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names, [".luarc.json", ".emmyrc.json"]);
    for (name, body) in configs {
        // A user's project: the committed stubs, the config, a script.
        let project = scratch(&format!("project{name}"));
        stubs::write(&luamod_examples::all(), Format::All, &project.join("stubs")).unwrap();
        serde_json::from_str::<serde_json::Value>(&body)
            .unwrap_or_else(|e| panic!("{name} in docs/stubs.md is not JSON: {e}"));
        std::fs::write(project.join(&name), &body).unwrap();
        std::fs::write(
            project.join("main.lua"),
            "local greet = require(\"greet\")\n\
             local v, err = greet.in_language(\"fr\")\n\
             if err then return end\n\
             print(v:upper())\n\
             greet.greet(42)\n",
        )
        .unwrap();
        // The config is found in the workspace folder, as an editor finds it.
        let diags = run_emmylua(None, &project);
        let main: Vec<(usize, String)> = diags
            .iter()
            .filter(|d| d.0 == "main.lua")
            .map(|d| (d.1, d.2.clone()))
            .collect();
        assert_eq!(
            main,
            vec![(5, "param-type-mismatch".to_owned())],
            "{name}: {diags:?}"
        );
    }
}
