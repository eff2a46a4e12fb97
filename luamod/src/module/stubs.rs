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
/// subdirectory (`luals/`, `luau/`, `json/`, `markdown/`). A symbolic link
/// in the place of a file is refused, not written through.
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
        if std::fs::symlink_metadata(&path).is_ok_and(|m| m.file_type().is_symlink()) {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!(
                    "{} is a symbolic link; stubs are written as plain files",
                    path.display()
                ),
            ));
        }
        std::fs::write(&path, text)?;
        written.push(path);
    }
    Ok(written)
}

/// Generated stubs on disk that do not match what the modules render now.
/// Paths are relative to `dir`.
#[derive(Clone, PartialEq, Eq)]
pub struct StaleStubs {
    /// The directory checked.
    pub dir: PathBuf,
    /// Files whose contents differ.
    pub changed: Vec<PathBuf>,
    /// Files the modules render that are not on disk.
    pub missing: Vec<PathBuf>,
    /// Files of this format that luamod generated earlier and no module
    /// renders any more (a module removed or renamed).
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

// `.unwrap()` in a test prints this: the message, not a struct dump.
impl std::fmt::Debug for StaleStubs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Display::fmt(self, f)
    }
}

impl std::error::Error for StaleStubs {}

/// Why [`check`] failed: stale stubs, or the files could not be read or
/// written.
#[derive(Debug)]
pub enum CheckError {
    /// The stubs on disk differ from what the modules render.
    Stale(StaleStubs),
    /// Reading or (when blessing) writing them failed.
    Io(io::Error),
}

impl std::fmt::Display for CheckError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CheckError::Stale(s) => s.fmt(f),
            CheckError::Io(e) => write!(f, "checking stubs: {e}"),
        }
    }
}

impl std::error::Error for CheckError {}

impl From<io::Error> for CheckError {
    fn from(e: io::Error) -> Self {
        CheckError::Io(e)
    }
}

/// Checks that `dir` holds exactly the stubs `modules` render in `format`
/// (as [`write`] writes them): for a test in a module crate, so that
/// committed stubs cannot go stale. With the environment variable
/// `LUAMOD_BLESS` set, it first rewrites them with [`update`].
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
pub fn check(modules: &[&'static ModuleDef], format: Format, dir: &Path) -> Result<(), CheckError> {
    if std::env::var_os("LUAMOD_BLESS").is_some() {
        update(modules, format, dir)?;
    }
    compare(modules, format, dir)
}

/// [`check`] without blessing: compares only, whatever the environment.
pub fn compare(
    modules: &[&'static ModuleDef],
    format: Format,
    dir: &Path,
) -> Result<(), CheckError> {
    let rendered = render(modules, format);
    let mut stale = StaleStubs {
        dir: dir.to_owned(),
        changed: Vec::new(),
        missing: Vec::new(),
        extra: Vec::new(),
    };
    for rel in generated_files(format, dir)? {
        if !rendered.iter().any(|(r, _)| *r == rel) {
            stale.extra.push(rel);
        }
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
        Err(CheckError::Stale(stale))
    }
}

/// Writes the stubs of `modules` under `dir` as [`write`] does, and removes
/// the files of the same format that luamod generated there earlier and
/// no module renders any more. Only plain files directly in the format's
/// folder that carry luamod's header (a manifest, for JSON) are ever
/// removed; links are not followed. Returns the files written.
pub fn update(
    modules: &[&'static ModuleDef],
    format: Format,
    dir: &Path,
) -> io::Result<Vec<PathBuf>> {
    let rendered: Vec<PathBuf> = render(modules, format)
        .into_iter()
        .map(|(r, _)| r)
        .collect();
    for rel in generated_files(format, dir)? {
        if !rendered.contains(&rel) {
            std::fs::remove_file(dir.join(rel))?;
        }
    }
    write(modules, format, dir)
}

/// A folder and file kind a format writes: subfolder under `dir`,
/// extension, and whether a file's text is one luamod generated.
type Owned = (&'static str, &'static str, fn(&str) -> bool);

/// What `format` writes (see [`Owned`]).
fn owned(format: Format) -> Vec<Owned> {
    fn json(text: &str) -> bool {
        TypeManifest::from_json(text).is_ok()
    }
    let all = format == Format::All;
    let sub = |name: &'static str| if all { name } else { "" };
    let mut out: Vec<Owned> = Vec::new();
    if all || format == Format::LuaLs {
        out.push((sub("luals"), "lua", luals::is_generated));
    }
    if all || format == Format::Luau {
        out.push((sub("luau"), "luau", luau::is_generated));
    }
    if all || format == Format::Json {
        out.push((sub("json"), "json", json));
    }
    if all || format == Format::Markdown {
        out.push((sub("markdown"), "md", markdown::is_generated));
    }
    out
}

/// The files of `format` under `dir` that luamod generated, relative to
/// `dir`: plain files (not links) directly in the format's folder, with
/// its extension and its generated marker. A missing folder has none.
fn generated_files(format: Format, dir: &Path) -> io::Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    for (sub, ext, generated) in owned(format) {
        let folder = dir.join(sub);
        if std::fs::symlink_metadata(&folder).is_ok_and(|m| !m.is_dir()) {
            continue;
        }
        let entries = match std::fs::read_dir(&folder) {
            Ok(e) => e,
            Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
            Err(e) => return Err(e),
        };
        for entry in entries {
            let entry = entry?;
            let path = entry.path();
            if !entry.file_type()?.is_file() || path.extension().is_none_or(|e| e != ext) {
                continue;
            }
            if std::fs::read_to_string(&path).is_ok_and(|t| generated(&t)) {
                out.push(Path::new(sub).join(entry.file_name()));
            }
        }
    }
    out.sort();
    Ok(out)
}
