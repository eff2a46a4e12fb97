//! The memory of one object inside a Lua full userdata, borrowing it for
//! a call, pushing new objects, and `__gc`.

use std::cell::{Cell, UnsafeCell};
use std::ffi::{c_int, c_void};
use std::mem::{MaybeUninit, align_of, size_of};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::ptr::NonNull;

use mlua::ffi::{self, lua_State};

use super::class::{ClassDef, LuaClass, LuaMethods, registry_key as key};
use super::metatable::build_metatable;
use crate::call::BorrowFlag;
use crate::call::{ArgError, CallCx, CallError};

/// The memory of one object inside a Lua full userdata.
#[repr(C)]
struct Slot<T> {
    /// First, so that a finalizer that finds the object borrowed can
    /// leave its drop to the last release (see [`BorrowFlag`]).
    borrow: BorrowFlag,
    /// False once `__gc` has run (the value is dropped then, or by the
    /// last release of a borrow it found).
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

/// Checks that `idx` holds a live object of class `T` and returns its slot.
///
/// # Safety
/// `class` must be `T`'s class definition (objects of `class` are `Slot<T>`).
/// With `ENTRY`, the caller promises two free stack slots without asking
/// Lua: it is the first thing an export does, and Lua gives a C function
/// `LUA_MINSTACK` (20) free slots when it calls it.
#[inline(always)]
unsafe fn slot_at<'a, T: 'static, const ENTRY: bool>(
    cx: &'a CallCx,
    idx: c_int,
    class: &'static ClassDef,
) -> Result<&'a Slot<T>, ArgError> {
    let state = cx.state();
    // SAFETY: type and mark checks on a live state; what they push they
    // pop. The slot pointer is derived only after the mark proves the
    // block was created by `push::<T>`: a class's objects carry the
    // class's key as a light userdata (their user value on Lua 5.4, slot 1
    // of their metatable before; see `ffi::vm::new_userdata`); no script
    // can make a light userdata, nor reach a user value or a class
    // metatable (the sandbox has no `debug`, and class metatables are
    // hidden by `__metatable`), so no other value carries that mark. One
    // user-value read on 5.4 (38 instructions fewer per method call than
    // reading the metatable's array, measured), instead of a registry
    // lookup and a comparison (a quarter of a method call before that).
    unsafe {
        if !ENTRY && ffi::lua_checkstack(state, 2) == 0 {
            return Err(no_room(idx));
        }
        let block = ffi::lua_touserdata(state, idx);
        let same = !block.is_null() && crate::ffi::vm::has_mark(state, idx, key(class));
        if !same {
            return Err(not_an_object(idx, class));
        }
        let slot = &*slot_ptr::<T>(block);
        if !slot.alive.get() {
            return Err(finalized(idx, class));
        }
        Ok(slot)
    }
}

// The failures of `slot_at` and the borrows, out of line: the checks that
// succeed are inlined into every method.
#[cold]
#[inline(never)]
fn not_an_object(idx: c_int, class: &'static ClassDef) -> ArgError {
    ArgError::Type {
        idx,
        expected: class.name,
    }
}

#[cold]
#[inline(never)]
fn finalized(idx: c_int, class: &'static ClassDef) -> ArgError {
    ArgError::msg(idx, format!("{} has been finalized", class.name))
}

#[cold]
#[inline(never)]
fn in_use(idx: c_int, class: &'static ClassDef) -> ArgError {
    ArgError::msg(idx, format!("{} is in use by a running method", class.name))
}

#[cold]
#[inline(never)]
fn no_room(idx: c_int) -> ArgError {
    ArgError::msg(idx, "stack overflow")
}

/// The object at `idx` if it is a live `T`, borrowed shared for the rest
/// of the call; `None` for any other value (no error).
#[doc(hidden)]
pub fn ud_try<T: LuaClass>(cx: &CallCx, idx: c_int) -> Option<&T> {
    ud_ref::<T>(cx, idx).ok()
}

/// `self` of a method: as [`ud_ref`], with the class found through
/// [`LuaMethods`] (so that a methods block on a type that is no userdata is
/// reported once, on the block).
///
/// # Safety
/// Called first in a method's export, before it pushes anything (the
/// generated code does): the check relies on the free stack slots Lua
/// gives a C function it calls.
#[doc(hidden)]
#[inline(always)]
pub unsafe fn method_self<T: LuaMethods>(cx: &CallCx, idx: c_int) -> Result<&T, ArgError> {
    // SAFETY: `LuaMethods::class` is `T`'s class (an unsafe trait's
    // promise); the stack room is the caller's promise.
    unsafe { borrow_shared::<T, true>(cx, idx, T::class()) }
}

/// `&mut self` of a method: as [`ud_mut`], through [`LuaMethods`].
///
/// # Safety
/// As [`method_self`].
#[doc(hidden)]
#[inline(always)]
#[allow(clippy::mut_from_ref)]
pub unsafe fn method_self_mut<T: LuaMethods>(cx: &CallCx, idx: c_int) -> Result<&mut T, ArgError> {
    // SAFETY: as in method_self.
    unsafe { borrow_mut::<T, true>(cx, idx, T::class()) }
}

/// Borrows the object at `idx` shared for the rest of the call.
#[doc(hidden)]
pub fn ud_ref<T: LuaClass>(cx: &CallCx, idx: c_int) -> Result<&T, ArgError> {
    // SAFETY: `T::CLASS` is `T`'s class.
    unsafe { borrow_shared::<T, false>(cx, idx, T::CLASS) }
}

/// A clone of the object at `idx`, for a by-value parameter: checked as a
/// shared borrow would be, cloned at once, and not held for the rest of
/// the call. The value may be an element read out of a table, which
/// nothing anchors once it is read: a borrow recorded until the call
/// ends would point into an object the collector may free meanwhile.
#[doc(hidden)]
pub fn ud_clone<T: LuaClass + Clone>(cx: &CallCx, idx: c_int) -> Result<T, ArgError> {
    // SAFETY: `T::CLASS` is `T`'s class.
    let slot = unsafe { slot_at::<T, false>(cx, idx, T::CLASS)? };
    if slot.borrow.count.get() < 0 {
        return Err(in_use(idx, T::CLASS));
    }
    // SAFETY: alive (checked), initialised by `push`, and no `&mut` exists
    // (the flag is not -1); the object stays at `idx` while it is cloned,
    // and `clone` cannot reach Lua.
    Ok(unsafe { (*slot.value.get()).assume_init_ref() }.clone())
}

/// Borrows the object at `idx` exclusively for the rest of the call.
///
/// The `&mut T` comes from the object's memory, not from `cx`; exclusivity
/// is enforced by the borrow flag, as `RefCell` does.
#[doc(hidden)]
#[allow(clippy::mut_from_ref)]
pub fn ud_mut<T: LuaClass>(cx: &CallCx, idx: c_int) -> Result<&mut T, ArgError> {
    // SAFETY: `T::CLASS` is `T`'s class.
    unsafe { borrow_mut::<T, false>(cx, idx, T::CLASS) }
}

/// # Safety
/// `class` is `T`'s class definition.
#[inline]
unsafe fn borrow_shared<'a, T: 'static, const ENTRY: bool>(
    cx: &'a CallCx,
    idx: c_int,
    class: &'static ClassDef,
) -> Result<&'a T, ArgError> {
    // SAFETY: forwarded.
    let slot = unsafe { slot_at::<T, ENTRY>(cx, idx, class)? };
    let b = slot.borrow.count.get();
    if b < 0 {
        return Err(in_use(idx, class));
    }
    slot.borrow.count.set(b + 1);
    // SAFETY: the flag is first in the slot (`#[repr(C)]`), the pointer
    // is the whole slot's, and the userdata is anchored on this call's
    // stack, so it outlives the call; CallCx releases it when the call
    // ends.
    unsafe { cx.hold_borrow(NonNull::from(slot).cast()) };
    // SAFETY: alive (checked), initialised by `push`, and no `&mut` exists
    // (the flag was not -1); the shared borrow is recorded until the call ends.
    Ok(unsafe { (*slot.value.get()).assume_init_ref() })
}

/// # Safety
/// `class` is `T`'s class definition.
#[allow(clippy::mut_from_ref)]
#[inline]
unsafe fn borrow_mut<'a, T: 'static, const ENTRY: bool>(
    cx: &'a CallCx,
    idx: c_int,
    class: &'static ClassDef,
) -> Result<&'a mut T, ArgError> {
    // SAFETY: forwarded.
    let slot = unsafe { slot_at::<T, ENTRY>(cx, idx, class)? };
    if slot.borrow.count.get() != 0 {
        return Err(in_use(idx, class));
    }
    slot.borrow.count.set(-1);
    // SAFETY: as in borrow_shared.
    unsafe { cx.hold_borrow(NonNull::from(slot).cast()) };
    // SAFETY: alive, initialised, and no other borrow exists (flag was 0);
    // the flag now excludes any other borrow until the call ends.
    Ok(unsafe { (*slot.value.get()).assume_init_mut() })
}

/// Pushes `value` as a new object of class `T`.
#[doc(hidden)]
pub fn push<T: LuaClass>(cx: &CallCx, value: T) -> Result<c_int, CallError> {
    push_sized(cx, value, 0)
}

/// [`push`], with a block `extra` bytes larger than the value needs: what
/// the value holds on the Rust heap, so that Lua's memory accounting (and
/// a memory limit) sees it for as long as the object lives. The extra
/// bytes are never touched.
pub(crate) fn push_sized<T: LuaClass>(
    cx: &CallCx,
    value: T,
    extra: usize,
) -> Result<c_int, CallError> {
    let state = cx.state();
    let size = alloc_size::<T>().saturating_add(extra);
    // Refused before asking: inside the allocation window a block past
    // the limit would be made anyway (its failure deferred), and it
    // would stay until the collector finalizes it.
    if extra > 0 && cx.exceeds_limit(size) {
        return Err(CallError::OutOfMemory);
    }
    let class = T::CLASS;
    // SAFETY: live state with room checked; the metatable exists after
    // ensure_metatable. lua_newuserdatauv returns a block of at least
    // alloc_size bytes aligned to at least LUA_ALIGN, inside which slot_ptr finds an
    // aligned Slot<T>; it is fully initialised before the metatable (and
    // with it `__gc`) is attached, so `__gc` never sees uninit memory.
    unsafe {
        if ffi::lua_checkstack(state, 3) == 0 {
            return Err(CallError::Message("stack overflow".to_owned()));
        }
        ensure_metatable(cx, class)?;
        // The block is allocated (guarded) while `value` is still owned by
        // this frame, and only then moved in: nothing raises after the move.
        let mark = key(class) as *mut c_void;
        cx.alloc(0, |st| {
            crate::ffi::vm::new_userdata(st, size, mark);
        })?;
        let block = ffi::lua_touserdata(state, -1);
        slot_ptr::<T>(block).write(Slot {
            borrow: BorrowFlag::new(),
            alive: Cell::new(true),
            value: UnsafeCell::new(MaybeUninit::new(value)),
        });
        ffi::lua_rawgetp(state, ffi::LUA_REGISTRYINDEX, key(class));
        ffi::lua_setmetatable(state, -2);
    }
    Ok(1)
}

/// `__gc` of class `T`: drops the value once; a panic in `Drop` is caught.
/// An object a running call still borrows (a script can hand a method an
/// object whose finalizer is pending: weak-keyed tables keep them) is
/// dropped when that call releases it instead.
///
/// # Safety
/// Only installed as `__gc` in `T`'s metatable.
#[doc(hidden)]
pub unsafe extern "C-unwind" fn gc<T: LuaClass>(state: *mut lua_State) -> c_int {
    // SAFETY: see the function's contract. The mark is checked before the
    // block is read as a `Slot<T>` (with the `debug` library a script can
    // call this `__gc` on another object); a `__gc` has LUA_MINSTACK free
    // slots for the check. No Rust value is alive when this returns to
    // Lua; a panic is caught so it never unwinds into C.
    unsafe {
        let block = ffi::lua_touserdata(state, 1);
        if block.is_null() || !crate::ffi::vm::has_mark(state, 1, key(T::CLASS)) {
            return 0;
        }
        let slot = &*slot_ptr::<T>(block);
        if slot.alive.replace(false) {
            if slot.borrow.count.get() != 0 {
                // `alive` is false: no new borrow, and the last release
                // drops the value.
                slot.borrow.doomed.set(Some(drop_doomed::<T>));
            } else {
                drop_value::<T>(slot);
            }
        }
    }
    0
}

/// Drops the value of a finalized object that was borrowed when its
/// finalizer ran, once the last borrow is released.
///
/// # Safety
/// `flag` points to a whole `Slot<T>` (as `hold_borrow` was given it)
/// whose value is initialised, not borrowed, and never used again.
unsafe fn drop_doomed<T>(flag: NonNull<BorrowFlag>) {
    // SAFETY: the caller's promise.
    unsafe { drop_value::<T>(flag.cast::<Slot<T>>().as_ref()) }
}

/// Drops the value in `slot`, catching a panic of its `Drop`.
///
/// # Safety
/// The value is initialised, not borrowed, and never used again.
unsafe fn drop_value<T>(slot: &Slot<T>) {
    let value = slot.value.get();
    // SAFETY: the caller's promise.
    if let Err(p) = catch_unwind(AssertUnwindSafe(|| unsafe { (*value).assume_init_drop() })) {
        crate::ffi::forget_panic(p);
    }
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

/// Whether the value at `idx` is an object of `class` (it carries the
/// class's mark), without running anything.
///
/// # Safety
/// Live state with room for two values.
pub(crate) unsafe fn is_instance(
    state: *mut lua_State,
    idx: c_int,
    class: &'static ClassDef,
) -> bool {
    // SAFETY: type and mark reads only; what is pushed is popped.
    unsafe {
        let idx = ffi::lua_absindex(state, idx);
        crate::ffi::vm::has_mark(state, idx, key(class))
    }
}
