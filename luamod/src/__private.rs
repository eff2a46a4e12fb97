//! The macro contract: every path generated code names, and nothing else.
//! Generated code spells these as `<crate path>::__private::NAME` (the
//! crate path is `::luamod`, or what `crate = "..."` says), so it assumes
//! nothing about the caller's scope. Not a stable API; no logic lives here.

pub use core::clone::Clone;
pub use core::default::Default;
pub use core::ffi::c_int;
pub use core::option::Option::{self, None, Some};
pub use core::result::Result::{self, Err, Ok};
pub use std::string::String;
pub use std::sync::Arc;
pub use std::vec;
pub use std::vec::Vec;

pub use luamod_types::{Field, FunctionType, Param, Type};
pub use mlua::ffi::lua_State;
pub use mlua::{Lua, Variadic};

pub use crate::call::{
    ArgError, CallCx, CallError, ExportInfo, ExportKind, FunctionDef, call, check_permission,
    context,
};
pub use crate::command::{
    Command, CommandDef, CommandId, ErasedHandler, HandlerCx, StateDef, StateValue, States,
    handler_fn,
};
pub use crate::convert::{
    FastRet, FromArg, IntoReturn, NoRet, PrepareArg, PrepareNone, PrepareTag, Prepared, RetTag,
    SlowRet, arg, arg_prepared, default_into, expect_table, field, field_is_nil, new_table,
    set_field,
};
pub use crate::module::ModuleDef;
pub use crate::security::{Class, Context};
pub use crate::suspend::Yield;
pub use crate::types::{
    AnyReturns, AnyType, KnownReturns, KnownType, LuaType, Tag, TypeRegistry, parse_returns,
    parse_type,
};
pub use crate::userdata::{
    ClassDef, LuaClass, LuaMethods, MethodsDef, class_type, gc, method_self, method_self_mut,
    push as ud_push, ud_clone, ud_mut, ud_ref,
};

/// The module state of type `T` for an export's `cfg: &T` parameter.
pub fn module_state<T: core::any::Any + Send + Sync>(
    cx: &crate::call::CallCx,
) -> Result<Arc<T>, crate::call::CallError> {
    cx.lua()
        .app_data_ref::<States>()
        .and_then(|s| s.get::<T>())
        .ok_or_else(|| {
            crate::call::CallError::Message(format!(
                "no module state of type {} in this Lua state (bind the module with \
                 ModuleDef::bind or a runtime builder)",
                core::any::type_name::<T>()
            ))
        })
}

/// `Arc::new(T::default())`, for a module's `StateDef`.
pub fn default_state<T: Default + core::any::Any + Send + Sync>() -> StateValue {
    Arc::new(T::default())
}

/// `TypeId::of::<T>()`, for a module's `StateDef`.
pub fn state_type_id<T: core::any::Any>() -> core::any::TypeId {
    core::any::TypeId::of::<T>()
}

/// `luaopen_NAME` for a module that asks for it (`luaopen`), when luamod is
/// built with its `module` feature (a loadable module for a stock
/// interpreter); nothing otherwise: a vendored Lua must not be loaded into
/// another interpreter.
#[cfg(feature = "module")]
#[doc(hidden)]
#[macro_export]
macro_rules! __luamod_luaopen {
    ($open:ident, $module:path) => {
        /// Opens the module: what `require` calls in a stock interpreter.
        ///
        /// # Safety
        /// Called by Lua's package loader with its running state.
        #[unsafe(no_mangle)]
        pub unsafe extern "C-unwind" fn $open(
            state: *mut $crate::__private::lua_State,
        ) -> $crate::__private::c_int {
            // SAFETY: forwarded: Lua calls this as a C function.
            unsafe { $crate::__private::open_module(state, &$module) }
        }
    };
}

#[cfg(not(feature = "module"))]
#[doc(hidden)]
#[macro_export]
macro_rules! __luamod_luaopen {
    ($open:ident, $module:path) => {};
}

pub use crate::__luamod_luaopen as luaopen;

/// The body of a module's `luaopen_NAME`: binds the module in the calling
/// interpreter's state (its `Lua` is made on first use, as mlua's module
/// mode does) and returns its table.
///
/// # Safety
/// `state` is the running state of a Lua C function call.
pub unsafe fn open_module(state: *mut lua_State, module: &'static ModuleDef) -> c_int {
    // SAFETY: forwarded; mlua's entrypoint turns a failure into a Lua
    // error raised after its Rust values are dropped.
    unsafe { mlua::Lua::entrypoint1(state, move |lua| module.bind(lua)) }
}
