//! Attribute macros for luamod. Every entry point is the same pipeline:
//! `ast` reads the item (with `attr` for the options), `valid` checks it,
//! `expand` generates code. Errors are collected in a [`ctxt::Ctxt`] so the
//! user sees all of them at once, each on the token that causes it.
//!
//! Generated code names only `<crate>::__private::*` paths, where `<crate>`
//! is `::luamod` or what `crate = "..."` says ([`krate`]).
//!
//! Use these through the `luamod` crate (`#[luamod::module]`).

mod ast;
mod attr;
mod ctxt;
mod expand;
mod krate;
mod valid;

use proc_macro::TokenStream;

/// Turns an inline `mod` into a Lua module: collects its
/// `#[luamod::function]` items and emits `pub static MODULE: luamod::ModuleDef`.
#[proc_macro_attribute]
pub fn module(args: TokenStream, input: TokenStream) -> TokenStream {
    expand::module::entry(args.into(), input.into()).into()
}

/// Marks a function inside a `#[luamod::module]` as a Lua export.
/// On its own (outside a module) it is an error.
#[proc_macro_attribute]
pub fn function(args: TokenStream, input: TokenStream) -> TokenStream {
    expand::module::lone_item(args.into(), input.into(), "function").into()
}

/// Marks a zero-argument function inside a `#[luamod::module]` whose value
/// becomes a constant field of the module table (evaluated once per state).
/// On its own (outside a module) it is an error.
#[proc_macro_attribute]
pub fn constant(args: TokenStream, input: TokenStream) -> TokenStream {
    expand::module::lone_item(args.into(), input.into(), "constant").into()
}

/// Makes a struct or enum a Lua userdata type (`name = "mod.Type"`
/// optional; inside a module it defaults to `<module>.<Type>`; `clone` lets
/// it be taken by value). Fields marked `#[lua(field)]`, `#[lua(get)]` or
/// `#[lua(set)]` become Lua fields.
#[proc_macro_attribute]
pub fn userdata(args: TokenStream, input: TokenStream) -> TokenStream {
    expand::userdata::entry(args.into(), input.into()).into()
}

/// Exports the functions of an impl block of a `#[luamod::userdata]` type:
/// methods, `#[lua(get)]`/`#[lua(set)]` fields, `#[lua(meta = "__name")]`
/// metamethods, and associated functions (constructors).
#[proc_macro_attribute]
pub fn methods(args: TokenStream, input: TokenStream) -> TokenStream {
    expand::methods::entry(args.into(), input.into()).into()
}

/// Converts a struct with named fields to and from a Lua table.
#[proc_macro_derive(LuaRecord, attributes(lua))]
pub fn lua_record(input: TokenStream) -> TokenStream {
    expand::record::entry(input.into()).into()
}

/// Makes a plain-data struct a command:
/// `#[command(id = N, name = "mod.name", output = T, handler = path)]`.
#[proc_macro_derive(Command, attributes(command))]
pub fn command(input: TokenStream) -> TokenStream {
    expand::command::entry(input.into()).into()
}
