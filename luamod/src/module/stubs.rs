//! Writing editor stubs and references for a set of modules.
//!
//! ```no_run
//! # use luamod::stubs::{self, Format};
//! # fn demo(m: &'static luamod::ModuleDef) -> std::io::Result<()> {
//! let files = stubs::write(&[m], Format::All, "stubs".as_ref())?;
//! # Ok(()) }
//! ```
//!
//! Every set includes the `errors` module, which every luamod state has.

use std::io;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use luamod_types::{TypeManifest, luals, luau, markdown};

use super::def::ModuleDef;

/// What to write.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// LuaLS/EmmyLua `---@meta` files, `NAME.lua` per module.
    LuaLs,
    /// One Luau definitions file, `luamod.d.luau`.
    Luau,
    /// The manifests as JSON, `NAME.json` per module.
    Json,
    /// A Markdown reference page per module, `NAME.md`.
    Markdown,
    /// All of the above.
    All,
}

impl FromStr for Format {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(match s {
            "luals" => Format::LuaLs,
            "luau" => Format::Luau,
            "json" => Format::Json,
            "markdown" | "md" => Format::Markdown,
            "all" => Format::All,
            other => {
                return Err(format!(
                    "unknown stub format '{other}' (expected luals, luau, json, markdown or all)"
                ));
            }
        })
    }
}

/// The manifests of `modules`, preceded by the `errors` module's.
pub fn manifests(modules: &[&'static ModuleDef]) -> Vec<TypeManifest> {
    let mut errors = super::errors::MODULE.manifest();
    // Every state has it as a global, not only through `require`.
    errors.global = true;
    let mut out = vec![errors];
    out.extend(modules.iter().map(|m| m.manifest()));
    out
}

/// The files of `format` for `modules`, as `(relative path, contents)`.
pub fn render(modules: &[&'static ModuleDef], format: Format) -> Vec<(PathBuf, String)> {
    let ms = manifests(modules);
    let mut out = Vec::new();
    let all = format == Format::All;
    if all || format == Format::LuaLs {
        let sub = if all { "luals" } else { "" };
        for (name, text) in luals::write_all(&ms) {
            out.push((Path::new(sub).join(name), text));
        }
    }
    if all || format == Format::Luau {
        let sub = if all { "luau" } else { "" };
        out.push((Path::new(sub).join("luamod.d.luau"), luau::write_all(&ms)));
    }
    if all || format == Format::Json {
        let sub = if all { "json" } else { "" };
        for m in &ms {
            let text = m.to_json() + "\n";
            out.push((Path::new(sub).join(format!("{}.json", m.name)), text));
        }
    }
    if all || format == Format::Markdown {
        let sub = if all { "markdown" } else { "" };
        for m in &ms {
            out.push((
                Path::new(sub).join(format!("{}.md", m.name)),
                markdown::module_page(m),
            ));
        }
    }
    out
}

/// Writes the files of `format` for `modules` under `dir` (created if
/// needed) and returns their paths. With [`Format::All`] each format gets a
/// subdirectory (`luals/`, `luau/`, `json/`, `markdown/`).
pub fn write(
    modules: &[&'static ModuleDef],
    format: Format,
    dir: &Path,
) -> io::Result<Vec<PathBuf>> {
    let mut written = Vec::new();
    for (rel, text) in render(modules, format) {
        let path = dir.join(rel);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)?;
        }
        std::fs::write(&path, text)?;
        written.push(path);
    }
    Ok(written)
}

/// Generated stubs on disk that do not match what the modules render now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StaleStubs {
    /// The directory checked.
    pub dir: PathBuf,
    /// Files whose contents differ.
    pub changed: Vec<PathBuf>,
    /// Files the modules render that are not on disk.
    pub missing: Vec<PathBuf>,
    /// Files luamod generated earlier that no module renders any more (a
    /// module or format removed).
    pub extra: Vec<PathBuf>,
}

impl std::fmt::Display for StaleStubs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "the stubs in {} are stale (run the check with LUAMOD_BLESS=1 to rewrite them, then review the diff)",
            self.dir.display()
        )?;
        for (what, list) in [
            ("changed", &self.changed),
            ("missing", &self.missing),
            ("no longer generated", &self.extra),
        ] {
            if !list.is_empty() {
                let names: Vec<String> = list.iter().map(|p| p.display().to_string()).collect();
                write!(f, "; {what}: {}", names.join(", "))?;
            }
        }
        Ok(())
    }
}

impl std::error::Error for StaleStubs {}

/// Whether `text` is a file luamod generated (LuaLS stubs and Luau
/// definitions say so in their first lines).
fn generated_by_luamod(text: &str) -> bool {
    text.lines()
        .take(3)
        .any(|l| l.to_ascii_lowercase().contains("generated by luamod"))
}

/// Checks that `dir` holds exactly the stubs `modules` render in `format`
/// (as [`write`] writes them): for a test in a module crate's CI, so that
/// committed stubs cannot go stale. With the environment variable
/// `LUAMOD_BLESS` set, it rewrites them instead (and removes stubs luamod
/// generated for modules that are gone), then checks.
///
/// ```no_run
/// #[luamod::module(name = "greet")]
/// pub mod greet {
///     /// Says hello.
///     #[luamod::function]
///     pub fn hello() -> String {
///         "hi".into()
///     }
/// }
///
/// // A test of the module's crate (`tests/stubs.rs`), next to the
/// // committed `stubs/` folder the editor configuration points at:
/// let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("stubs");
/// luamod::stubs::check(&[&greet::MODULE], luamod::stubs::Format::All, &dir).unwrap();
/// ```
pub fn check(
    modules: &[&'static ModuleDef],
    format: Format,
    dir: &Path,
) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    let rendered = render(modules, format);
    let bless = std::env::var_os("LUAMOD_BLESS").is_some();
    let mut stale = StaleStubs {
        dir: dir.to_owned(),
        changed: Vec::new(),
        missing: Vec::new(),
        extra: generated_files(dir)?
            .into_iter()
            .filter(|p| !rendered.iter().any(|(rel, _)| dir.join(rel) == *p))
            .collect(),
    };
    if bless {
        update(modules, format, dir)?;
        return Ok(());
    }
    for (rel, text) in &rendered {
        match std::fs::read_to_string(dir.join(rel)) {
            Ok(on_disk) if on_disk == *text => {}
            Ok(_) => stale.changed.push(rel.clone()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => stale.missing.push(rel.clone()),
            Err(e) => return Err(e.into()),
        }
    }
    if stale.changed.is_empty() && stale.missing.is_empty() && stale.extra.is_empty() {
        Ok(())
    } else {
        Err(stale.into())
    }
}

/// Writes the stubs of `modules` under `dir` as [`write`] does, and removes
/// the stubs luamod generated there earlier that no module renders any
/// more (files without luamod's header are left alone). Returns the
/// files written.
pub fn update(
    modules: &[&'static ModuleDef],
    format: Format,
    dir: &Path,
) -> io::Result<Vec<PathBuf>> {
    let written = write(modules, format, dir)?;
    for p in generated_files(dir)? {
        if !written.contains(&p) {
            std::fs::remove_file(p)?;
        }
    }
    Ok(written)
}

/// Files under `dir` (and one level of format subdirectories) that luamod
/// generated. A missing `dir` has none.
fn generated_files(dir: &Path) -> io::Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    let mut dirs = vec![(dir.to_owned(), 0)];
    while let Some((d, depth)) = dirs.pop() {
        let entries = match std::fs::read_dir(&d) {
            Ok(e) => e,
            Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
            Err(e) => return Err(e),
        };
        for entry in entries {
            let path = entry?.path();
            if path.is_dir() {
                if depth == 0 {
                    dirs.push((path, 1));
                }
                continue;
            }
            let is_stub = path.extension().is_some_and(|e| e == "lua" || e == "luau");
            if is_stub
                && std::fs::read_to_string(&path)
                    .map(|t| generated_by_luamod(&t))
                    .unwrap_or(false)
            {
                out.push(path);
            }
        }
    }
    out.sort();
    Ok(out)
}
