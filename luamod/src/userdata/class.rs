//! What luamod knows about a userdata type: [`ClassDef`], [`MethodsDef`],
//! and the traits the macros implement ([`LuaClass`], [`LuaMethods`]).

use std::ffi::{c_int, c_void};

use mlua::ffi::lua_State;

use crate::call::FunctionDef;

/// The Lua-facing items of a `#[luamod::methods]` block.
#[derive(Debug)]
pub struct MethodsDef {
    /// Methods (`obj:name(...)`).
    pub methods: &'static [FunctionDef],
    /// Field getters (`#[lua(get)]`), called with the object.
    pub getters: &'static [FunctionDef],
    /// Field setters (`#[lua(set)]`), called with the object and the value.
    pub setters: &'static [FunctionDef],
    /// Metamethods by their Lua names (`__tostring`, ...).
    pub meta: &'static [FunctionDef],
    /// Associated functions without a receiver, exported through the module
    /// as `module.Type.name`.
    pub statics: &'static [FunctionDef],
    /// Commands its methods may yield.
    pub commands: &'static [crate::command::CommandDef],
}

/// Everything luamod knows about a userdata type.
#[derive(Debug)]
pub struct ClassDef {
    /// The Lua type name (`counter.Counter`), used as `__name`.
    pub name: &'static str,
    /// The short name under which the module exports its constructors.
    pub short: &'static str,
    /// The type's doc comment.
    pub doc: &'static str,
    /// Getters of `#[lua(field)]` struct fields.
    pub field_getters: &'static [FunctionDef],
    /// Setters of `#[lua(field)]` struct fields.
    pub field_setters: &'static [FunctionDef],
    /// The methods block.
    pub items: &'static MethodsDef,
    /// `__gc`: drops the Rust value.
    pub gc: unsafe extern "C-unwind" fn(*mut lua_State) -> c_int,
}

/// A Rust type exposed to Lua as userdata. Implemented by
/// `#[luamod::userdata]`.
///
/// # Safety
/// `CLASS` points at a `static` (each state knows the class by that one
/// address) that belongs to `Self` alone: objects of the class are read as
/// `Self`, and its `gc` is `gc::<Self>`.
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a luamod userdata type",
    note = "add `#[luamod::userdata]` to the definition of `{Self}`"
)]
pub unsafe trait LuaClass: Sized + 'static {
    /// The type's class definition.
    const CLASS: &'static ClassDef;
}

/// The methods of a userdata type. Implemented by `#[luamod::methods]`.
#[diagnostic::on_unimplemented(
    message = "`{Self}` has no `#[luamod::methods]` block",
    note = "add `#[luamod::methods] impl {Self} {{ }}` (it may be empty)"
)]
///
/// # Safety
/// [`class`](Self::class) returns `Self`'s own class definition (objects
/// of that class are read as `Self`). The macro implements it as
/// `<Self as LuaClass>::CLASS`.
pub unsafe trait LuaMethods: 'static {
    /// The items of the methods block.
    const ITEMS: &'static MethodsDef;

    /// The class this block belongs to. Generated code reaches the class
    /// through this trait, not `LuaClass`, so a methods block on a type
    /// that is no userdata reports one error, here.
    fn class() -> &'static ClassDef;

    /// The class's Lua name.
    fn class_name() -> &'static str {
        Self::class().name
    }
}

/// The registry key of `class`'s metatable: the address of its definition.
pub(crate) fn registry_key(class: &'static ClassDef) -> *const c_void {
    class as *const ClassDef as *const c_void
}
