//! Static facts about one export: [`ExportInfo`] (for error messages) and
//! [`FunctionDef`] (what a module or class lists).

use std::ffi::c_int;

use mlua::ffi::lua_State;

use crate::types::TypeRegistry;

/// Static facts about one export, used in error messages.
#[doc(hidden)]
#[derive(Debug)]
pub struct ExportInfo {
    /// Lua name of the module (`greet`), or of the class (`greet.Counter`)
    /// for methods. A function, so a methods block can name its class
    /// through a trait without requiring it at compile time.
    pub owner: fn() -> &'static str,
    /// Lua name of the function, method or field.
    pub name: &'static str,
    /// How argument errors are worded.
    pub kind: ExportKind,
}

impl ExportInfo {
    /// `owner.name`, as Lua would name the function in a plain table.
    pub fn qualified_name(&self) -> String {
        format!("{}.{}", (self.owner)(), self.name)
    }
}

/// What an export is, for the wording of its argument errors.
#[doc(hidden)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExportKind {
    /// A function or method: `bad argument #N to 'f' (...)`.
    Function,
    /// A field setter (called by `__newindex` with `(obj, value)`):
    /// `invalid value for field 'x' of mod.Type (...)`.
    Setter,
}

/// One exported function, as a module or class lists it.
#[derive(Debug)]
pub struct FunctionDef {
    /// The Lua name.
    pub name: &'static str,
    /// Its doc comment (without a `# Arguments` list).
    pub doc: &'static str,
    /// The generated C function.
    pub func: unsafe extern "C-unwind" fn(*mut lua_State) -> c_int,
    /// Describes its signature (generated from the Rust signature).
    pub sig: fn(&mut TypeRegistry) -> luamod_types::FunctionType,
    /// `permission = "..."`: the action checked before the body runs, and
    /// the name of the parameter used as resource (empty: none).
    pub permission: Option<(&'static str, &'static str)>,
}
