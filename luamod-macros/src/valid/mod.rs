//! Checks on what `ast` read, before anything is generated. Every problem
//! is recorded on the span of the token that causes it, and checking goes
//! on so that all of them are reported at once.

pub mod class;
pub mod command;
pub mod function;
pub mod methods;
pub mod module;
pub mod names;
pub mod record;
