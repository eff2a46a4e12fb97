//! Weighing a process's results before the host's conversion copies them
//! (see `convert/weight.rs`): the limits `run` and `Completed::values`
//! apply, and their refusals as errors.

use std::any::TypeId;

use mlua::{FromLuaMulti, Lua, MultiValue};

use crate::convert::weight::{Overweight, Weights, weigh};
use crate::error::{Error, ErrorKind, LuaError};

/// The default limit: as much as one export call may copy out of its
/// arguments.
pub(super) const LIMIT: usize = crate::call::CallCx::MAX_COPIED;

/// How deep results may nest tables.
pub(super) const DEPTH: usize = 1000;

/// `values` converted to `R` once weighed ([`check`]); `()` reads
/// nothing of what it is given, so it is not weighed.
pub(super) fn convert<R: FromLuaMulti + 'static>(
    lua: &Lua,
    values: MultiValue,
    limit: usize,
) -> Result<R, Error> {
    if TypeId::of::<R>() != TypeId::of::<()>() {
        check(lua, &values, limit)?;
    }
    R::from_lua_multi(values, lua).map_err(Error::from)
}

/// Refuses results whose conversion would copy more than `limit` bytes
/// (every reference counted) or that nest tables past [`DEPTH`].
fn check(lua: &Lua, values: &MultiValue, limit: usize) -> Result<(), Error> {
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
