//! Userdata classes: Rust values owned by Lua, with methods, fields and
//! metamethods.
//!
//! `#[luamod::userdata]` implements [`LuaClass`] for a type and
//! `#[luamod::methods]` implements [`LuaMethods`]; the generated exports read
//! `&T`/`&mut T` through [`ud_ref`]/[`ud_mut`] and push new objects with
//! [`push`]. This layer owns the object layout and the borrow flag that
//! turns a re-entrant `&mut self` call into a Lua error (`slot`), the
//! per-state metatable, built once on first use, cached in the registry
//! under the address of the type's [`ClassDef`] and hidden by
//! `__metatable = false` (`metatable`), `__gc`, which runs the Rust `Drop`,
//! and the class's manifest entry (`interface`).
//!
//! Dispatch: a type without fields uses its method table as `__index` (a
//! method call is one table lookup). Fields need the object, which a
//! fallback on the method table would not receive, so a type with fields
//! gets a C `__index` that tries methods, then getters, then the type's own
//! `__index` metamethod, then returns nil like a table.

mod class;
mod interface;
mod metatable;
mod slot;

pub use class::{ClassDef, LuaClass, LuaMethods, MethodsDef};
pub use interface::class_type;
pub(crate) use metatable::statics_table;
pub use slot::{gc, method_self, method_self_mut, push, ud_clone, ud_mut, ud_ref, ud_try};
pub(crate) use slot::{is_instance, push_sized};
