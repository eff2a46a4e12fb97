//! Weighing a process's results before the host's conversion copies them
//! (see `convert/weight.rs`): the limits `run` and `Completed::values`
//! apply, and their refusals as errors.

use mlua::{Lua, MultiValue};

use crate::convert::weight::{Overweight, Weights, weigh};
use crate::error::{Error, ErrorKind, LuaError};

/// The default limit: as much as one export call may copy out of its
/// arguments.
pub(super) const LIMIT: usize = crate::call::CallCx::MAX_COPIED;

/// How deep results may nest tables.
pub(super) const DEPTH: usize = 1000;

/// Refuses results whose conversion would copy more than `limit` bytes
/// (every reference counted) or that nest tables past [`DEPTH`].
pub(super) fn check(lua: &Lua, values: &MultiValue, limit: usize) -> Result<(), Error> {
    let depth = DEPTH;
    let exhausted =
        |m: String| Error::from_lua_error(LuaError::new(ErrorKind::ResourceExhausted, m));
    match weigh(lua, values, Weights::RUST, limit, depth) {
        Ok(_) => Ok(()),
        Err(Overweight::Large) => Err(exhausted(format!(
            "the process's results are too large to convert: more than {limit} bytes \
             counting every reference"
        ))),
        Err(Overweight::Deep) => Err(exhausted(format!(
            "the process's results nest tables more than {depth} deep"
        ))),
        Err(Overweight::Stopped) => Err(Error::new(
            "the process was stopped while its results were weighed",
        )),
        Err(Overweight::Failed(e)) => Err(Error::new(format!(
            "the process's results could not be weighed: {e}"
        ))),
    }
}
