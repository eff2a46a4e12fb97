//! The process the worker is closing: while its `__close` handlers run
//! (`Worker::close`), its own thread and the coroutines it waits inside can
//! be neither resumed nor closed by them (`coroutine.resume`, `wrap`,
//! `coroutine.close` ask here). Resuming would run the process on after
//! its end; closing would drop the frames that keep the coroutines still to
//! close alive.
//!
//! Owns: the set of those threads, for one closing at a time. Never: touches
//! a Lua state.

use mlua::ffi::lua_State;

thread_local! {
    /// The threads of the process the worker is closing (its own and the
    /// coroutines it waits inside): the `__close` handlers that run then
    /// may neither resume nor close them.
    static CLOSING: std::cell::RefCell<Vec<*mut lua_State>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// What resuming or closing one of those threads says.
pub(crate) const MESSAGE: &std::ffi::CStr =
    c"cannot resume or close a coroutine of a process that is being closed";

/// Marks `process` and `chain` as being closed until the guard drops.
#[must_use = "the threads are marked only while the guard lives"]
pub(crate) fn closing(process: *mut lua_State, chain: &[*mut lua_State]) -> Closing {
    CLOSING.with(|c| {
        let mut c = c.borrow_mut();
        c.push(process);
        c.extend_from_slice(chain);
    });
    Closing
}

/// Ends [`closing`] when dropped.
pub(crate) struct Closing;

impl Drop for Closing {
    fn drop(&mut self) {
        CLOSING.with(|c| c.borrow_mut().clear());
    }
}

/// Whether `co` belongs to the process being closed.
pub(crate) fn is_closing(co: *mut lua_State) -> bool {
    CLOSING.with(|c| {
        let c = c.borrow();
        !c.is_empty() && c.contains(&co)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_threads_are_marked_while_the_guard_lives() {
        // Never dereferenced: only compared.
        let (p, a, b, other) = (
            8 as *mut lua_State,
            16 as *mut _,
            24 as *mut _,
            32 as *mut _,
        );
        assert!(!is_closing(p));
        {
            let _guard = closing(p, &[a, b]);
            assert!(is_closing(p) && is_closing(a) && is_closing(b));
            assert!(!is_closing(other));
        }
        assert!(!is_closing(p) && !is_closing(a));
    }
}
