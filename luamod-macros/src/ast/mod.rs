//! The syntax the macros work on, read from `syn` items: modules and their
//! functions, parameters, userdata types, methods blocks, records and
//! commands. Reading only; checks are in `valid`, code in `expand`.

pub mod class;
pub mod command;
pub mod function;
pub mod methods;
pub mod module;
pub mod param;
pub mod record;
pub mod shape;
