//! Continuations a process leaves behind when it ends early.
//!
//! An [`crate::Invoke`] keeps its Rust continuation in a holder on the
//! process's Lua stack while the callee runs, and the continuation may own
//! things that must not wait for the garbage collector: an open
//! transaction, a lock, a connection. When the process is cancelled (or
//! fails) with the callee still running, the scheduler drops every
//! continuation the process still holds, at once; when a coroutine of the
//! process is closed (`coroutine.close`, an error through
//! `coroutine.wrap`), the continuations made on it are dropped.
//!
//! The scheduler enters a process's [`Held`] set for each step; a holder
//! made during the step registers its cell there. Plain states have no set
//! (their holders are dropped by the collector, as any userdata).
//!
//! Owns: the cells' registration. Never: runs a continuation.

use std::any::Any;
use std::cell::RefCell;
use std::rc::{Rc, Weak};

use mlua::ffi::lua_State;

/// What a slot holds until the continuation runs.
type Slot = RefCell<Option<Box<dyn Any>>>;

/// A continuation slot shared by its Lua holder and the process's set.
pub(crate) type Cell = Rc<Slot>;

/// The continuations one process may still hold, with the coroutine each
/// was made on.
#[derive(Default)]
pub(crate) struct Held {
    cells: RefCell<Vec<(Weak<Slot>, *const lua_State)>>,
}

impl Held {
    fn register(&self, cell: &Cell, thread: *const lua_State) {
        let mut cells = self.cells.borrow_mut();
        // Keep the list as short as the live holders: a long process makes
        // many transactions one after the other.
        if cells.len() >= 16 && cells.len().is_power_of_two() {
            cells.retain(|(w, _)| w.upgrade().is_some_and(|c| c.borrow().is_some()));
        }
        cells.push((Rc::downgrade(cell), thread));
    }

    /// Drops every continuation still pending (the process has ended).
    /// Their `Drop` runs here, on the worker; a panic in one is caught and
    /// reported, and the others are dropped all the same.
    pub(crate) fn drop_all(&self) {
        let cells = std::mem::take(&mut *self.cells.borrow_mut());
        drop_cells(cells);
    }

    /// Drops the continuations made on `thread` (a coroutine that was
    /// closed: its frames, and the callees they waited on, are gone).
    fn drop_made_on(&self, thread: *const lua_State) {
        // Taken out first: a continuation's `Drop` may make another.
        let mine = {
            let mut cells = self.cells.borrow_mut();
            let (mine, rest) = std::mem::take(&mut *cells)
                .into_iter()
                .partition(|(_, t)| *t == thread);
            *cells = rest;
            mine
        };
        drop_cells(mine);
    }
}

/// Drops what each cell still holds. Their `Drop` runs here; a panic in
/// one is caught and reported, and the others are dropped all the same.
fn drop_cells(cells: Vec<(Weak<Slot>, *const lua_State)>) {
    for (weak, _) in cells {
        let Some(cell) = weak.upgrade() else { continue };
        let Ok(mut slot) = cell.try_borrow_mut() else {
            continue;
        };
        let pending = slot.take();
        drop(slot);
        let dropped = std::panic::catch_unwind(std::panic::AssertUnwindSafe(move || drop(pending)));
        if dropped.is_err() {
            eprintln!("luamod: dropping an abandoned continuation panicked");
        }
    }
}

thread_local! {
    static CURRENT: RefCell<Option<Rc<Held>>> = const { RefCell::new(None) };
}

/// Makes `held` the set of the process that runs until the guard drops.
pub(crate) fn enter(held: Rc<Held>) -> Entered {
    Entered(CURRENT.with(|c| c.borrow_mut().replace(held)))
}

/// Restores the previous set when dropped.
pub(crate) struct Entered(Option<Rc<Held>>);

impl Drop for Entered {
    fn drop(&mut self) {
        let prev = self.0.take();
        CURRENT.with(|c| *c.borrow_mut() = prev);
    }
}

/// A new slot holding `pending`, made on the coroutine `thread`,
/// registered with the running process.
pub(crate) fn hold(pending: Box<dyn Any>, thread: *const lua_State) -> Cell {
    let cell: Cell = Rc::new(RefCell::new(Some(pending)));
    CURRENT.with(|c| {
        if let Some(held) = &*c.borrow() {
            held.register(&cell, thread);
        }
    });
    cell
}

/// Drops the running process's continuations made on `thread`, a
/// coroutine just closed. Call it from a frame where module code may run
/// (their `Drop`).
pub(crate) fn closed(thread: *const lua_State) {
    let held = CURRENT.with(|c| c.borrow().clone());
    if let Some(held) = held {
        held.drop_made_on(thread);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Flag(Rc<std::cell::Cell<bool>>);
    impl Drop for Flag {
        fn drop(&mut self) {
            self.0.set(true);
        }
    }

    #[test]
    fn pending_continuations_are_dropped_and_taken_ones_are_not_held() {
        let held = Rc::new(Held::default());
        let _in = enter(held.clone());
        let dropped = Rc::new(std::cell::Cell::new(false));
        let pending = hold(Box::new(Flag(dropped.clone())), std::ptr::null());
        // Many finished ones in between: the list does not grow with them.
        for _ in 0..1000 {
            let c = hold(Box::new(0u8), std::ptr::null());
            c.borrow_mut().take();
        }
        assert!(held.cells.borrow().len() < 64);
        assert!(!dropped.get());
        held.drop_all();
        assert!(dropped.get(), "the pending continuation was dropped");
        assert!(pending.borrow().is_none());
    }

    #[test]
    fn closing_a_coroutine_drops_only_what_was_made_on_it() {
        let held = Rc::new(Held::default());
        let _in = enter(held.clone());
        let (a, b) = (8u8, 9u8);
        let (on_a, on_b) = (
            &a as *const u8 as *const lua_State,
            &b as *const u8 as *const lua_State,
        );
        let dropped_a = Rc::new(std::cell::Cell::new(false));
        let dropped_b = Rc::new(std::cell::Cell::new(false));
        let _ca = hold(Box::new(Flag(dropped_a.clone())), on_a);
        let cb = hold(Box::new(Flag(dropped_b.clone())), on_b);
        closed(on_a);
        assert!(dropped_a.get() && !dropped_b.get());
        // The other is still the process's to drop when it ends.
        held.drop_all();
        assert!(dropped_b.get() && cb.borrow().is_none());
    }
}
