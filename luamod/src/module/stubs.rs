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
