//! `permission = "..."` on an export: the check that runs before its body.

use super::cx::CallCx;
use super::error::CallError;
use crate::security::Context;

/// The context of the running call (for `ctx: &Context` parameters).
#[doc(hidden)]
#[inline(always)]
pub fn context(cx: &CallCx) -> &Context {
    cx.context()
}

/// Runs a `permission = "..."` check; refused → `nil, err` to Lua.
#[doc(hidden)]
pub fn check_permission(
    cx: &CallCx,
    action: &str,
    resource: &dyn std::fmt::Display,
) -> Result<(), CallError> {
    cx.context()
        .check(action, resource)
        .map_err(CallError::Return)
}
