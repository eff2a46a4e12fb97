//! Code generation, one file per entry point, sharing the export generator
//! ([`export`]), the manifest describer ([`sig`]) and the `const _` wrapper
//! ([`dummy`]). Generated code names only `<crate>::__private::*` paths and
//! assumes nothing about what is in scope at the use site.

mod asyncfn;
pub mod command;
mod dummy;
mod export;
pub mod methods;
pub mod module;
pub mod record;
mod sig;
mod spec;
pub mod userdata;
