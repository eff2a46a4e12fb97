//! Attribute macros for luamod. Each entry point only dispatches; parsing
//! lives in `ast`/`attr`, checks in `valid`, code generation in `expand`.
//! Use these through the `luamod` crate (`#[luamod::module]`).

mod ast;
mod attr;
mod ctxt;
mod expand;
mod valid;

use proc_macro::TokenStream;

/// Turns an inline `mod` into a Lua module: collects its
/// `#[luamod::function]` items and emits `pub static MODULE: luamod::ModuleDef`.
#[proc_macro_attribute]
pub fn module(args: TokenStream, input: TokenStream) -> TokenStream {
    expand::module(args.into(), input.into()).into()
}

/// Marks a function inside a `#[luamod::module]` as a Lua export.
/// On its own (outside a module) it is an error.
#[proc_macro_attribute]
pub fn function(args: TokenStream, input: TokenStream) -> TokenStream {
    expand::lone_function(args.into(), input.into()).into()
}
