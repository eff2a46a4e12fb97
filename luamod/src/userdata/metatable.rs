//! The per-state metatable of a userdata class, and the C functions that
//! dispatch `__index`, `__newindex` and `__eq` for it.

use std::ffi::c_int;

use mlua::ffi::{self, lua_State};
use mlua::{Lua, Table};

use super::class::{ClassDef, registry_key as key};
use crate::call::FunctionDef;

/// Registers the metatable of `class` in `lua` if it is not there yet.
pub(crate) fn build_metatable(lua: &Lua, class: &'static ClassDef) -> mlua::Result<()> {
    // SAFETY: pushes the registry entry; mlua pops it as the result.
    let existing: Option<Table> = unsafe {
        lua.exec_raw((), |st| {
            ffi::lua_rawgetp(st, ffi::LUA_REGISTRYINDEX, key(class));
        })?
    };
    if existing.is_some() {
        return Ok(());
    }
    let c_fn = |f: &FunctionDef| {
        // SAFETY: generated exports follow the C function protocol.
        unsafe { lua.create_c_function(f.func) }
    };
    let items = class.items;
    let methods = lua.create_table()?;
    for m in items.methods {
        methods.raw_set(m.name, c_fn(m)?)?;
    }
    let getters = lua.create_table()?;
    for g in class.field_getters.iter().chain(items.getters) {
        getters.raw_set(g.name, c_fn(g)?)?;
    }
    let getters_for_newindex = getters.clone();
    let setters = lua.create_table()?;
    for s in class.field_setters.iter().chain(items.setters) {
        setters.raw_set(s.name, c_fn(s)?)?;
    }
    let mt = lua.create_table()?;
    let mut index_fallback = mlua::Value::Nil;
    let mut newindex_fallback = mlua::Value::Nil;
    for m in items.meta {
        match m.name {
            "__index" => index_fallback = mlua::Value::Function(c_fn(m)?),
            "__newindex" => newindex_fallback = mlua::Value::Function(c_fn(m)?),
            "__eq" => mt.raw_set("__eq", closure(lua, class_eq, c_fn(m)?, 1)?)?,
            name => mt.raw_set(name, c_fn(m)?)?,
        }
    }
    let has_fields = !class.field_getters.is_empty() || !items.getters.is_empty();
    if has_fields || !index_fallback.is_nil() {
        mt.raw_set(
            "__index",
            closure(lua, class_index, (methods, getters, index_fallback), 3)?,
        )?;
    } else {
        mt.raw_set("__index", methods)?;
    }
    mt.raw_set(
        "__newindex",
        closure(
            lua,
            class_newindex,
            (setters, newindex_fallback, class.name, getters_for_newindex),
            4,
        )?,
    )?;
    mt.raw_set("__name", class.name)?;
    mt.raw_set("__metatable", false)?;
    // The class's mark, which `slot_at` reads to recognise its objects
    // before Lua 5.4 (on 5.4 each object carries it as its user value).
    mt.raw_set(1, mlua::LightUserData(key(class) as *mut std::ffi::c_void))?;
    // SAFETY: `class.gc` is `gc::<T>` for this class's `T`.
    mt.raw_set("__gc", unsafe { lua.create_c_function(class.gc)? })?;
    // SAFETY: mlua pushes `mt` as the only argument; the closure pops it
    // into the registry.
    unsafe {
        lua.exec_raw::<()>(mt, |st| {
            ffi::lua_rawsetp(st, ffi::LUA_REGISTRYINDEX, key(class));
        })
    }
}

/// A C closure of `f` with `n` upvalues (the values of `upvalues`).
fn closure(
    lua: &Lua,
    f: ffi::lua_CFunction,
    upvalues: impl mlua::IntoLuaMulti,
    n: c_int,
) -> mlua::Result<mlua::Function> {
    // SAFETY: mlua pushes the `n` upvalues; lua_pushcclosure pops them and
    // pushes the closure, which mlua takes as the result.
    unsafe {
        lua.exec_raw(upvalues, |st| {
            ffi::lua_pushcclosure(st, f, n);
        })
    }
}

// The C functions below own no Rust values, so a raise inside them (from
// a getter, a setter, a fallback or luaL_error) skips nothing that drops.

/// `__index` for classes with fields: methods, getters, fallback, nil.
unsafe extern "C-unwind" fn class_index(state: *mut lua_State) -> c_int {
    // SAFETY: called by Lua as `__index(obj, key)`; upvalues set by closure().
    unsafe {
        ffi::luaL_checkstack(state, 4, std::ptr::null());
        ffi::lua_settop(state, 2);
        ffi::lua_pushvalue(state, 2);
        if ffi::lua_rawget(state, ffi::lua_upvalueindex(1)) != ffi::LUA_TNIL {
            return 1;
        }
        ffi::lua_pop(state, 1);
        ffi::lua_pushvalue(state, 2);
        if ffi::lua_rawget(state, ffi::lua_upvalueindex(2)) == ffi::LUA_TFUNCTION {
            ffi::lua_pushvalue(state, 1);
            ffi::lua_call(state, 1, 1);
            return 1;
        }
        ffi::lua_pop(state, 1);
        if ffi::lua_type(state, ffi::lua_upvalueindex(3)) == ffi::LUA_TFUNCTION {
            ffi::lua_pushvalue(state, ffi::lua_upvalueindex(3));
            ffi::lua_pushvalue(state, 1);
            ffi::lua_pushvalue(state, 2);
            ffi::lua_call(state, 2, 1);
            return 1;
        }
        ffi::lua_pushnil(state);
        1
    }
}

/// `__newindex`: setters, fallback, else an error naming field and class.
unsafe extern "C-unwind" fn class_newindex(state: *mut lua_State) -> c_int {
    // SAFETY: called by Lua as `__newindex(obj, key, value)`.
    unsafe {
        ffi::luaL_checkstack(state, 4, std::ptr::null());
        ffi::lua_settop(state, 3);
        ffi::lua_pushvalue(state, 2);
        if ffi::lua_rawget(state, ffi::lua_upvalueindex(1)) == ffi::LUA_TFUNCTION {
            ffi::lua_pushvalue(state, 1);
            ffi::lua_pushvalue(state, 3);
            ffi::lua_call(state, 2, 0);
            return 0;
        }
        ffi::lua_pop(state, 1);
        if ffi::lua_type(state, ffi::lua_upvalueindex(2)) == ffi::LUA_TFUNCTION {
            ffi::lua_pushvalue(state, ffi::lua_upvalueindex(2));
            ffi::lua_pushvalue(state, 1);
            ffi::lua_pushvalue(state, 2);
            ffi::lua_pushvalue(state, 3);
            ffi::lua_call(state, 3, 0);
            return 0;
        }
        let field = ffi::luaL_tolstring(state, 2, std::ptr::null_mut());
        ffi::lua_pushvalue(state, 2);
        if ffi::lua_rawget(state, ffi::lua_upvalueindex(4)) != ffi::LUA_TNIL {
            return ffi::luaL_error(
                state,
                c"attempt to set read-only field '%s' on %s".as_ptr(),
                field,
                ffi::lua_tostring(state, ffi::lua_upvalueindex(3)),
            );
        }
        ffi::luaL_error(
            state,
            c"attempt to set unknown field '%s' on %s".as_ptr(),
            field,
            ffi::lua_tostring(state, ffi::lua_upvalueindex(3)),
        )
    }
}

/// `__eq`: objects of different classes are never equal; only two objects
/// of this class reach the class's own `__eq` (upvalue 1).
unsafe extern "C-unwind" fn class_eq(state: *mut lua_State) -> c_int {
    // SAFETY: called by Lua as `__eq(a, b)`, both full userdata or tables.
    unsafe {
        ffi::luaL_checkstack(state, 3, std::ptr::null());
        ffi::lua_settop(state, 2);
        let same = ffi::lua_getmetatable(state, 1) != 0
            && ffi::lua_getmetatable(state, 2) != 0
            && ffi::lua_rawequal(state, -1, -2) != 0;
        ffi::lua_settop(state, 2);
        if !same {
            ffi::lua_pushboolean(state, 0);
            return 1;
        }
        ffi::lua_pushvalue(state, ffi::lua_upvalueindex(1));
        ffi::lua_insert(state, 1);
        ffi::lua_call(state, 2, 1);
        1
    }
}

/// Exports the class's associated functions as a read-only table.
pub(crate) fn statics_table(lua: &Lua, class: &'static ClassDef) -> mlua::Result<Option<Table>> {
    if class.items.statics.is_empty() {
        return Ok(None);
    }
    let t = lua.create_table()?;
    for f in class.items.statics {
        // SAFETY: generated exports follow the C function protocol.
        t.raw_set(f.name, unsafe { lua.create_c_function(f.func)? })?;
    }
    Ok(Some(crate::readonly::freeze(lua, class.name, t)?))
}
