//! Conversions between Lua values on the call's stack and Rust values:
//! parameters ([`FromArg`]), results ([`IntoReturn`]), tables to and from
//! collections and records, mlua handles, [`Bytes`].
//!
//! Reading never raises; pushing allocates only through
//! [`crate::CallCx::alloc`]. Implement [`FromArg`]/[`IntoReturn`] for your
//! own types to compose with the built-in ones.

mod arg;
mod bytes;
mod frozen;
mod handle;
mod ret;
mod table;
#[cfg(feature = "lua54")]
pub(crate) mod weight;

pub use arg::FromArg;
pub use bytes::Bytes;
pub use frozen::{Frozen, freeze};
pub use ret::IntoReturn;

#[doc(hidden)]
pub use arg::{PrepareArg, PrepareNone, PrepareTag, Prepared, arg, arg_prepared, default_into};
#[doc(hidden)]
pub use ret::{FastRet, NoRet, RetTag, SlowRet};
#[doc(hidden)]
pub use table::{expect_table, field, field_is_nil, new_table, set_field};
