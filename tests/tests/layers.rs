//! The crates' structure, checked: no import cycle between the files of
//! `luamod`, `luamod-macros` and `luamod-types`, and in `luamod` imports
//! point only down the layers (see docs/architecture.md).
//!
//! Edges are the `crate::` and `super::` paths a file names (in `use`
//! items and in code), resolved to the file of the deepest module they
//! name. Comments and string literals are skipped.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// `luamod`'s layers, lowest first. A file may use its own layer and the
/// ones before it; the crate root (`lib.rs`, `__private.rs`) may use all.
const LAYERS: &[&str] = &[
    "ffi", "error", "types", "readonly", "security", "command", "call", "convert", "userdata",
    "module", "sandbox", "suspend", "runtime", "testing", "temporal",
];

type ModPath = Vec<String>;

struct Crate {
    /// Module path → file.
    files: BTreeMap<ModPath, PathBuf>,
}

impl Crate {
    fn load(src: &Path) -> Crate {
        let mut files = BTreeMap::new();
        let mut stack = vec![src.to_path_buf()];
        while let Some(dir) = stack.pop() {
            for entry in std::fs::read_dir(&dir).unwrap() {
                let path = entry.unwrap().path();
                if path.is_dir() {
                    stack.push(path);
                } else if path.extension().is_some_and(|e| e == "rs") {
                    let rel = path.strip_prefix(src).unwrap();
                    let mut m: ModPath = rel
                        .iter()
                        .map(|c| c.to_string_lossy().trim_end_matches(".rs").to_owned())
                        .collect();
                    if matches!(m.last().map(String::as_str), Some("mod" | "lib")) {
                        m.pop();
                    }
                    files.insert(m, path);
                }
            }
        }
        Crate { files }
    }

    /// The file of the deepest module `path` names.
    fn resolve(&self, path: &[String]) -> Option<&PathBuf> {
        (0..=path.len())
            .rev()
            .find_map(|n| self.files.get(&path[..n]))
    }

    /// File → files it uses.
    fn edges(&self) -> BTreeMap<PathBuf, BTreeSet<PathBuf>> {
        let mut out = BTreeMap::new();
        for (module, file) in &self.files {
            let text = std::fs::read_to_string(file).unwrap();
            let mut targets = BTreeSet::new();
            for (inline, path) in paths(&strip(&text)) {
                let mut base = module.clone();
                base.extend(inline);
                let absolute = match path.first().map(String::as_str) {
                    Some("crate") => path[1..].to_vec(),
                    Some("super") => {
                        let mut m = base.clone();
                        let mut rest = &path[..];
                        while rest.first().map(String::as_str) == Some("super") {
                            m.pop();
                            rest = &rest[1..];
                        }
                        m.extend(rest.iter().cloned());
                        m
                    }
                    _ => continue,
                };
                if let Some(target) = self.resolve(&absolute)
                    && target != file
                {
                    targets.insert(target.clone());
                }
            }
            out.insert(file.clone(), targets);
        }
        out
    }
}

/// Removes comments and the contents of string and char literals.
fn strip(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let b = text.as_bytes();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'/' && b.get(i + 1) == Some(&b'/') {
            while i < b.len() && b[i] != b'\n' {
                i += 1;
            }
        } else if b[i] == b'"' {
            i += 1;
            while i < b.len() && b[i] != b'"' {
                i += if b[i] == b'\\' { 2 } else { 1 };
            }
            i += 1;
            out.push_str("\"\"");
        } else if b[i] == b'\'' && b.get(i + 2) == Some(&b'\'') {
            i += 3;
            out.push_str("' '");
        } else {
            out.push(b[i] as char);
            i += 1;
        }
    }
    out
}

/// Every `crate::...`/`super::...` path, with the inline modules it sits
/// in (`mod tests { use super::*; }` refers to the file's own module).
fn paths(text: &str) -> Vec<(Vec<String>, Vec<String>)> {
    let tokens = tokenize(text);
    let mut out = Vec::new();
    // Inline modules: (name, brace depth inside it).
    let mut inline: Vec<(String, usize)> = Vec::new();
    let mut depth = 0usize;
    let mut i = 0;
    while i < tokens.len() {
        let t = tokens[i].as_str();
        match t {
            "{" => depth += 1,
            "}" => {
                depth = depth.saturating_sub(1);
                if inline.last().is_some_and(|(_, d)| *d > depth) {
                    inline.pop();
                }
            }
            "mod" if tokens.get(i + 2).map(String::as_str) == Some("{") => {
                inline.push((tokens[i + 1].clone(), depth + 1));
            }
            "crate" | "super" if tokens.get(i + 1).map(String::as_str) == Some("::") => {
                if i > 0 && tokens[i - 1] == "::" {
                    i += 1;
                    continue;
                }
                let (paths, next) = read_path(&tokens, i);
                let here: Vec<String> = inline.iter().map(|(n, _)| n.clone()).collect();
                out.extend(paths.into_iter().map(|p| (here.clone(), p)));
                i = next;
                continue;
            }
            _ => {}
        }
        i += 1;
    }
    out
}

/// Reads `a::b::{c, d::e}` from `tokens[i]`, expanding groups.
fn read_path(tokens: &[String], mut i: usize) -> (Vec<Vec<String>>, usize) {
    let mut prefix = Vec::new();
    loop {
        let t = &tokens[i];
        if t == "{" {
            let mut out = Vec::new();
            i += 1;
            while i < tokens.len() && tokens[i] != "}" {
                if tokens[i] == "," {
                    i += 1;
                    continue;
                }
                let (inner, next) = read_path(tokens, i);
                for p in inner {
                    let mut full = prefix.clone();
                    full.extend(p);
                    out.push(full);
                }
                i = next;
            }
            return (out, i + 1);
        }
        if !t
            .chars()
            .next()
            .is_some_and(|c| c.is_alphanumeric() || c == '_')
        {
            return (vec![prefix], i);
        }
        prefix.push(t.clone());
        i += 1;
        if tokens.get(i).map(String::as_str) != Some("::") {
            return (vec![prefix], i);
        }
        i += 1;
    }
}

fn tokenize(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let chars: Vec<char> = text.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c.is_alphanumeric() || c == '_' {
            let start = i;
            while i < chars.len() && (chars[i].is_alphanumeric() || chars[i] == '_') {
                i += 1;
            }
            out.push(chars[start..i].iter().collect());
        } else if c == ':' && chars.get(i + 1) == Some(&':') {
            out.push("::".to_owned());
            i += 2;
        } else if !c.is_whitespace() {
            out.push(c.to_string());
            i += 1;
        } else {
            i += 1;
        }
    }
    out
}

/// A cycle in `edges`, if any, as the files along it.
fn find_cycle(edges: &BTreeMap<PathBuf, BTreeSet<PathBuf>>) -> Option<Vec<PathBuf>> {
    fn visit(
        n: &PathBuf,
        edges: &BTreeMap<PathBuf, BTreeSet<PathBuf>>,
        state: &mut BTreeMap<PathBuf, u8>,
        stack: &mut Vec<PathBuf>,
    ) -> Option<Vec<PathBuf>> {
        state.insert(n.clone(), 1);
        stack.push(n.clone());
        for m in edges.get(n).into_iter().flatten() {
            match state.get(m).copied().unwrap_or(0) {
                1 => {
                    let start = stack.iter().position(|x| x == m).unwrap_or(0);
                    let mut cycle = stack[start..].to_vec();
                    cycle.push(m.clone());
                    return Some(cycle);
                }
                0 => {
                    if let Some(c) = visit(m, edges, state, stack) {
                        return Some(c);
                    }
                }
                _ => {}
            }
        }
        stack.pop();
        state.insert(n.clone(), 2);
        None
    }
    let mut state = BTreeMap::new();
    for n in edges.keys() {
        if state.get(n).copied().unwrap_or(0) == 0
            && let Some(c) = visit(n, edges, &mut state, &mut Vec::new())
        {
            return Some(c);
        }
    }
    None
}

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

fn show(files: &[PathBuf]) -> String {
    let root = workspace();
    files
        .iter()
        .map(|f| f.strip_prefix(&root).unwrap_or(f).display().to_string())
        .collect::<Vec<_>>()
        .join(" -> ")
}

#[test]
fn no_import_cycle_between_files() {
    for krate in ["luamod", "luamod-macros", "luamod-types"] {
        let c = Crate::load(&workspace().join(krate).join("src"));
        let edges = c.edges();
        assert!(edges.len() > 5, "{krate}: files not found");
        if let Some(cycle) = find_cycle(&edges) {
            panic!("{krate}: import cycle: {}", show(&cycle));
        }
    }
}

#[test]
fn luamod_imports_point_down_the_layers() {
    let src = workspace().join("luamod").join("src");
    let c = Crate::load(&src);
    let layer_of = |f: &Path| -> Option<usize> {
        let first = f
            .strip_prefix(&src)
            .ok()?
            .iter()
            .next()?
            .to_string_lossy()
            .into_owned();
        LAYERS.iter().position(|l| *l == first)
    };
    let mut wrong = Vec::new();
    for (from, tos) in c.edges() {
        let Some(a) = layer_of(&from) else { continue };
        for to in tos {
            match layer_of(&to) {
                Some(b) if b <= a => {}
                _ => wrong.push(show(&[from.clone(), to])),
            }
        }
    }
    assert!(
        wrong.is_empty(),
        "imports that point up (or to the crate root):\n{}",
        wrong.join("\n")
    );
    // Every folder is a layer.
    for entry in std::fs::read_dir(&src).unwrap() {
        let p = entry.unwrap().path();
        if p.is_dir() {
            let name = p.file_name().unwrap().to_string_lossy().into_owned();
            assert!(
                LAYERS.contains(&name.as_str()),
                "folder {name} is in no layer"
            );
        }
    }
}

#[test]
fn the_checker_sees_cycles_and_upward_imports() {
    let dir = std::env::temp_dir().join(format!("luamod-layers-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(dir.join("a")).unwrap();
    std::fs::write(dir.join("lib.rs"), "mod a;\n// use crate::b; (a comment)\n").unwrap();
    std::fs::write(dir.join("a/mod.rs"), "mod x;\nmod y;\n").unwrap();
    std::fs::write(dir.join("a/x.rs"), "use super::y::Y;\n").unwrap();
    std::fs::write(
        dir.join("a/y.rs"),
        "pub struct Y; fn f() { crate::a::x::g(); let s = \"crate::nope\"; }\n",
    )
    .unwrap();
    let c = Crate::load(&dir);
    let cycle = find_cycle(&c.edges()).expect("the x <-> y cycle");
    assert_eq!(cycle.len(), 3, "{cycle:?}");
    std::fs::write(
        dir.join("a/y.rs"),
        "pub struct Y;\nmod tests { use super::*; }\n",
    )
    .unwrap();
    assert!(find_cycle(&Crate::load(&dir).edges()).is_none());
    let _ = std::fs::remove_dir_all(&dir);
}
