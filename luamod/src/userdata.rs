//! Userdata classes: Rust values owned by Lua, with methods, fields and
//! metamethods.
//!
//! `#[luamod::userdata]` implements [`LuaClass`] for a type and
//! `#[luamod::methods]` implements [`LuaMethods`]; the generated exports read
//! `&T`/`&mut T` through [`ud_ref`]/[`ud_mut`] and push new objects with
//! [`push`]. This module owns the object layout ([`Slot`]), the borrow flag
//! that turns a re-entrant `&mut self` call into a Lua error, the per-state
//! metatable (built once on first use, cached in the registry under the
//! address of the type's [`ClassDef`], hidden by `__metatable = false`), and
//! `__gc`, which runs the Rust `Drop`.
//!
//! Dispatch: a type without fields uses its method table as `__index` (a
//! method call is one table lookup). Fields need the object, which a
//! fallback on the method table would not receive, so a type with fields
//! gets a C `__index` that tries methods, then getters, then the type's own
//! `__index` metamethod, then returns nil like a table.

use std::cell::{Cell, UnsafeCell};
use std::ffi::{c_int, c_void};
use std::mem::{MaybeUninit, align_of, size_of};
use std::panic::{AssertUnwindSafe, catch_unwind};

use mlua::ffi::{self, lua_State};
use mlua::{Lua, Table};

use crate::call::{ArgError, CallCx, CallError};
use crate::def::FunctionDef;

/// The Lua-facing items of a `#[luamod::methods]` block.
#[derive(Debug)]
pub struct MethodsDef {
    /// Methods (`obj:name(...)`).
    pub methods: &'static [FunctionDef],
    /// Field getters (`#[lua(get)]`), called with the object.
    pub getters: &'static [FunctionDef],
    /// Field setters (`#[lua(set)]`), called with the object and the value.
    pub setters: &'static [FunctionDef],
    /// Metamethods by their Lua names (`__tostring`, ...).
    pub meta: &'static [FunctionDef],
    /// Associated functions without a receiver, exported through the module
    /// as `module.Type.name`.
    pub statics: &'static [FunctionDef],
    /// Commands its methods may yield.
    pub commands: &'static [crate::runtime::CommandDef],
}

/// Everything luamod knows about a userdata type.
#[derive(Debug)]
pub struct ClassDef {
    /// The Lua type name (`counter.Counter`), used as `__name`.
    pub name: &'static str,
    /// The short name under which the module exports its constructors.
    pub short: &'static str,
    /// The type's doc comment.
    pub doc: &'static str,
    /// Getters of `#[lua(field)]` struct fields.
    pub field_getters: &'static [FunctionDef],
    /// Setters of `#[lua(field)]` struct fields.
    pub field_setters: &'static [FunctionDef],
    /// The methods block.
    pub items: &'static MethodsDef,
    /// `__gc`: drops the Rust value.
    pub gc: unsafe extern "C-unwind" fn(*mut lua_State) -> c_int,
}

/// A Rust type exposed to Lua as userdata. Implemented by
/// `#[luamod::userdata]`.
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a luamod userdata type",
    note = "add `#[luamod::userdata]` to the definition of `{Self}`"
)]
pub trait LuaClass: Sized + 'static {
    /// The type's class definition.
    const CLASS: &'static ClassDef;
}

/// The methods of a userdata type. Implemented by `#[luamod::methods]`.
#[diagnostic::on_unimplemented(
    message = "`{Self}` has no `#[luamod::methods]` block",
    note = "add `#[luamod::methods] impl {Self} {{ }}` (it may be empty)"
)]
pub trait LuaMethods: LuaClass {
    /// The items of the methods block.
    const ITEMS: &'static MethodsDef;
}

/// The memory of one object inside a Lua full userdata.
#[repr(C)]
struct Slot<T> {
    /// 0 free, n > 0 shared borrows, -1 borrowed mutably.
    borrow: Cell<isize>,
    /// False once `__gc` has dropped the value.
    alive: Cell<bool>,
    value: UnsafeCell<MaybeUninit<T>>,
}

/// Lua aligns userdata memory to at least a pointer; types that need more
/// get padding and an aligned slot inside the block.
const LUA_ALIGN: usize = align_of::<*const u8>();

const fn alloc_size<T>() -> usize {
    let a = align_of::<Slot<T>>();
    size_of::<Slot<T>>() + if a > LUA_ALIGN { a - 1 } else { 0 }
}

fn slot_ptr<T>(block: *mut c_void) -> *mut Slot<T> {
    let a = align_of::<Slot<T>>();
    let addr = block as usize;
    (addr.next_multiple_of(a)) as *mut Slot<T>
}

fn key(class: &'static ClassDef) -> *const c_void {
    class as *const ClassDef as *const c_void
}

/// Checks that `idx` holds a live object of class `T` and returns its slot.
fn slot_at<T: LuaClass>(cx: &CallCx, idx: c_int) -> Result<&Slot<T>, ArgError> {
    let state = cx.state();
    let class = T::CLASS;
    // SAFETY: type and metatable checks on a live state; two values pushed
    // and popped. The slot pointer is derived only after the metatable
    // identity check proves the block was created by `push::<T>`.
    unsafe {
        if ffi::lua_checkstack(state, 2) == 0 {
            return Err(ArgError::msg(idx, "stack overflow"));
        }
        let block = ffi::lua_touserdata(state, idx);
        let mut same = false;
        if !block.is_null()
            && ffi::lua_type(state, idx) == ffi::LUA_TUSERDATA
            && ffi::lua_getmetatable(state, idx) != 0
        {
            ffi::lua_rawgetp(state, ffi::LUA_REGISTRYINDEX, key(class));
            same = ffi::lua_rawequal(state, -1, -2) != 0;
            ffi::lua_pop(state, 2);
        }
        if !same {
            return Err(ArgError::Type {
                idx,
                expected: class.name,
            });
        }
        let slot = &*slot_ptr::<T>(block);
        if !slot.alive.get() {
            return Err(ArgError::msg(
                idx,
                format!("{} has been finalized", class.name),
            ));
        }
        Ok(slot)
    }
}

/// Borrows the object at `idx` shared for the rest of the call.
#[doc(hidden)]
pub fn ud_ref<T: LuaClass>(cx: &CallCx, idx: c_int) -> Result<&T, ArgError> {
    let slot = slot_at::<T>(cx, idx)?;
    let b = slot.borrow.get();
    if b < 0 {
        return Err(ArgError::msg(
            idx,
            format!("{} is in use by a running method", T::CLASS.name),
        ));
    }
    slot.borrow.set(b + 1);
    // SAFETY: the userdata is anchored on this call's stack, so the flag
    // outlives the call, and CallCx releases it when the call ends.
    cx.hold_borrow(unsafe { &*(&slot.borrow as *const Cell<isize>) });
    // SAFETY: alive (checked), initialised by `push`, and no `&mut` exists
    // (the flag was not -1); the shared borrow is recorded until the call ends.
    Ok(unsafe { (*slot.value.get()).assume_init_ref() })
}

/// Borrows the object at `idx` exclusively for the rest of the call.
///
/// The `&mut T` comes from the object's memory, not from `cx`; exclusivity
/// is enforced by the borrow flag, as `RefCell` does.
#[doc(hidden)]
#[allow(clippy::mut_from_ref, clippy::needless_lifetimes)]
pub fn ud_mut<'a, T: LuaClass>(cx: &'a CallCx, idx: c_int) -> Result<&'a mut T, ArgError> {
    let slot = slot_at::<T>(cx, idx)?;
    if slot.borrow.get() != 0 {
        return Err(ArgError::msg(
            idx,
            format!("{} is in use by a running method", T::CLASS.name),
        ));
    }
    slot.borrow.set(-1);
    // SAFETY: as in ud_ref.
    cx.hold_borrow(unsafe { &*(&slot.borrow as *const Cell<isize>) });
    // SAFETY: alive, initialised, and no other borrow exists (flag was 0);
    // the flag now excludes any other borrow until the call ends.
    Ok(unsafe { (*slot.value.get()).assume_init_mut() })
}

/// Releases one borrow taken by `ud_ref`/`ud_mut`.
pub(crate) fn release(flag: &Cell<isize>) {
    let b = flag.get();
    flag.set(if b < 0 { 0 } else { b - 1 });
}

/// Pushes `value` as a new object of class `T`.
#[doc(hidden)]
pub fn push<T: LuaClass>(cx: &CallCx, value: T) -> Result<c_int, CallError> {
    let state = cx.state();
    let class = T::CLASS;
    // SAFETY: live state with room checked; the metatable exists after
    // ensure_metatable. lua_newuserdatauv returns a block of alloc_size
    // bytes aligned to at least LUA_ALIGN, inside which slot_ptr finds an
    // aligned Slot<T>; it is fully initialised before the metatable (and
    // with it `__gc`) is attached, so `__gc` never sees uninit memory.
    unsafe {
        if ffi::lua_checkstack(state, 3) == 0 {
            return Err(mlua::Error::StackError.into());
        }
        ensure_metatable(cx, class)?;
        let block = ffi::lua_newuserdatauv(state, alloc_size::<T>(), 0);
        slot_ptr::<T>(block).write(Slot {
            borrow: Cell::new(0),
            alive: Cell::new(true),
            value: UnsafeCell::new(MaybeUninit::new(value)),
        });
        ffi::lua_rawgetp(state, ffi::LUA_REGISTRYINDEX, key(class));
        ffi::lua_setmetatable(state, -2);
    }
    Ok(1)
}

/// `__gc` of class `T`: drops the value once; a panic in `Drop` is caught.
///
/// # Safety
/// Only installed as `__gc` in `T`'s metatable, so argument 1 is a block
/// created by `push::<T>`.
#[doc(hidden)]
pub unsafe extern "C-unwind" fn gc<T: LuaClass>(state: *mut lua_State) -> c_int {
    // SAFETY: see the function's contract. No Rust value is alive when this
    // returns to Lua; a panic is caught so it never unwinds into C.
    unsafe {
        let block = ffi::lua_touserdata(state, 1);
        if block.is_null() {
            return 0;
        }
        let slot = &*slot_ptr::<T>(block);
        if slot.alive.replace(false) {
            let value = slot.value.get();
            let _ = catch_unwind(AssertUnwindSafe(|| (*value).assume_init_drop()));
        }
    }
    0
}

fn ensure_metatable(cx: &CallCx, class: &'static ClassDef) -> Result<(), CallError> {
    let state = cx.state();
    // SAFETY: one value pushed and popped.
    let exists = unsafe {
        let t = ffi::lua_rawgetp(state, ffi::LUA_REGISTRYINDEX, key(class));
        ffi::lua_pop(state, 1);
        t == ffi::LUA_TTABLE
    };
    if !exists {
        build_metatable(cx.lua(), class)?;
    }
    Ok(())
}

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

// The two C functions below own no Rust values, so a raise inside them (from
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
