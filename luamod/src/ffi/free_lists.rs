//! [`FreeLists`]: small blocks a Lua state freed, kept for its next
//! requests of the same size.
//!
//! Lua allocates and frees a few sizes over and over: a process's table,
//! closures, coroutine and stack, a call's result string. glibc's `malloc`
//! and `free` were a third of a spawn's instructions (callgrind,
//! BENCHMARKS.md), most of it on the slow paths that a collection's burst
//! of frees pushes them into. A freed block is pushed on a list for its
//! exact size and popped by the next request of that size, a few
//! instructions each.
//!
//! Blocks stay the blocks of the allocator luamod's wraps: each was
//! allocated by it with exactly its list's size and goes back to Lua only
//! for a request of that size. So Lua may later free any of them through
//! that allocator (after [`super::alloc::MemoryControl`] restores it), and
//! its accounting stays exact except for the blocks held here, which it
//! counts as in use until [`FreeLists::release`] gives them back.
//!
//! What this must never do: hold more than [`FreeLists::MAX_HELD`] bytes
//! (or than a state's memory limit leaves for them), hand a block to a request of another size, or be used from another
//! thread than its state's (Lua calls its allocator from one at a time).

use std::cell::Cell;
use std::ffi::c_void;

use mlua::ffi;

/// The first word of a block on a list: the next block of its size.
struct Free {
    next: *mut Free,
}

/// Freed blocks by exact size, for sizes [`MIN`](Self::MIN) to
/// [`MAX`](Self::MAX) bytes.
pub(super) struct FreeLists {
    /// `heads[size - MIN]`: the last block freed of that size, or null.
    heads: Box<[Cell<*mut Free>]>,
    /// Bytes held on all lists.
    held: Cell<usize>,
}

impl FreeLists {
    /// The smallest size kept: a block must hold the link.
    const MIN: usize = std::mem::size_of::<Free>();
    /// The largest size kept: a coroutine's first stack (45 slots of 16
    /// bytes in Lua 5.4) is the largest block every spawn makes.
    const MAX: usize = 1024;
    /// The most bytes held. A collection frees its garbage in a burst,
    /// which the lists must take whole to be of use: a runtime worker's
    /// major collection after 10,000 short processes frees about 15 MiB
    /// (measured). Under a memory limit they hold no more than the limit
    /// leaves beside the state's memory in use (see `push`'s `room`);
    /// [`MemoryControl::trim`](super::alloc::MemoryControl::trim) gives
    /// them back (a worker does when it goes idle).
    pub(super) const MAX_HELD: usize = 16 << 20;

    pub(super) fn new() -> FreeLists {
        FreeLists {
            heads: (Self::MIN..=Self::MAX)
                .map(|_| Cell::new(std::ptr::null_mut()))
                .collect(),
            held: Cell::new(0),
        }
    }

    /// A block of exactly `size` bytes freed earlier, if one is held.
    #[inline(always)]
    pub(super) fn pop(&self, size: usize) -> Option<*mut c_void> {
        let head = self.heads.get(size.wrapping_sub(Self::MIN))?;
        let block = head.get();
        if block.is_null() {
            return None;
        }
        // SAFETY: a block on a list is a live allocation of `size` bytes
        // that Lua freed (see `push`), aligned for a pointer (the wrapped
        // allocator returns blocks aligned for any Lua value); its first
        // word is the link `push` wrote.
        head.set(unsafe { (*block).next });
        self.held.set(self.held.get() - size);
        Some(block.cast())
    }

    /// Keeps `block`, of `size` bytes, which Lua has just freed; false
    /// (and nothing kept) when the size is not kept or the lists would
    /// hold more than [`MAX_HELD`](Self::MAX_HELD) bytes or more than
    /// `room`, what the state's memory limit leaves for them.
    ///
    /// # Safety
    /// `block` is a live allocation of exactly `size` bytes made by the
    /// allocator this state wraps, no longer used by anyone.
    #[inline(always)]
    pub(super) unsafe fn push(&self, block: *mut c_void, size: usize, room: usize) -> bool {
        let Some(head) = self.heads.get(size.wrapping_sub(Self::MIN)) else {
            return false;
        };
        let held = self.held.get() + size;
        if held > Self::MAX_HELD || held > room {
            return false;
        }
        let block = block.cast::<Free>();
        // SAFETY: per the contract the block is unused and at least
        // `MIN` bytes, aligned for a pointer.
        unsafe { block.write(Free { next: head.get() }) };
        head.set(block);
        self.held.set(held);
        true
    }

    /// Bytes held now.
    pub(super) fn held(&self) -> usize {
        self.held.get()
    }

    /// Frees every held block through `free` (the wrapped allocator and
    /// its userdata).
    ///
    /// # Safety
    /// `free` is the allocator that made the blocks, and its state is live.
    pub(super) unsafe fn release(&self, free: ffi::lua_Alloc, ud: *mut c_void) {
        for (i, head) in self.heads.iter().enumerate() {
            let size = i + Self::MIN;
            let mut block = head.replace(std::ptr::null_mut());
            while !block.is_null() {
                // SAFETY: as in `pop`; the block is freed with the size
                // it was allocated with, after its link is read.
                unsafe {
                    let next = (*block).next;
                    free(ud, block.cast(), size, 0);
                    block = next;
                }
            }
        }
        self.held.set(0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The allocator the lists wrap in these tests: the system's, with a
    /// count of live blocks.
    unsafe extern "C" fn counting(
        ud: *mut c_void,
        ptr: *mut c_void,
        _osize: usize,
        nsize: usize,
    ) -> *mut c_void {
        // SAFETY: `ud` is the test's live counter.
        let live = unsafe { &*(ud as *const Cell<isize>) };
        // SAFETY: libc's allocator on its own blocks.
        unsafe {
            if nsize == 0 {
                live.set(live.get() - 1);
                libc::free(ptr);
                std::ptr::null_mut()
            } else {
                live.set(live.get() + 1);
                libc::malloc(nsize)
            }
        }
    }

    #[test]
    fn a_freed_block_is_reused_only_for_its_own_size_and_released_at_the_end() {
        let live = Cell::new(0isize);
        let ud = &live as *const Cell<isize> as *mut c_void;
        let lists = FreeLists::new();
        // SAFETY: blocks made by `counting` with the sizes given, pushed
        // once each and not used after.
        unsafe {
            let a = counting(ud, std::ptr::null_mut(), 0, 48);
            let b = counting(ud, std::ptr::null_mut(), 0, 48);
            assert!(lists.push(a, 48, usize::MAX));
            assert!(lists.push(b, 48, usize::MAX));
            assert_eq!(lists.held(), 96);
            // No more than the room the state's limit leaves.
            let c = counting(ud, std::ptr::null_mut(), 0, 48);
            assert!(!lists.push(c, 48, 96 + 47), "past the room given");
            assert!(lists.push(c, 48, 96 + 48));
            assert_eq!(lists.pop(48), Some(c));
            counting(ud, c, 48, 0);
            assert_eq!(lists.pop(40), None, "another size");
            assert_eq!(lists.pop(56), None, "another size");
            assert_eq!(lists.pop(48), Some(b), "last freed first");
            assert_eq!(lists.held(), 48);
            // Sizes outside the kept range are left to the allocator.
            let big = counting(ud, std::ptr::null_mut(), 0, FreeLists::MAX + 1);
            assert!(!lists.push(big, FreeLists::MAX + 1, usize::MAX));
            counting(ud, big, FreeLists::MAX + 1, 0);
            assert_eq!(lists.pop(FreeLists::MAX + 1), None);
            assert_eq!(lists.pop(0), None);
            assert!(lists.push(b, 48, usize::MAX));
            lists.release(counting, ud);
        }
        assert_eq!(lists.held(), 0);
        assert_eq!(live.get(), 0, "every block went back to its allocator");
        assert_eq!(lists.pop(48), None);
    }

    #[test]
    fn the_lists_hold_at_most_max_held_bytes() {
        let live = Cell::new(0isize);
        let ud = &live as *const Cell<isize> as *mut c_void;
        let lists = FreeLists::new();
        let size = FreeLists::MAX;
        let fits = FreeLists::MAX_HELD / size;
        // SAFETY: as above; a block refused by `push` is freed here.
        unsafe {
            for _ in 0..fits {
                let p = counting(ud, std::ptr::null_mut(), 0, size);
                assert!(lists.push(p, size, usize::MAX));
            }
            let p = counting(ud, std::ptr::null_mut(), 0, size);
            assert!(!lists.push(p, size, usize::MAX), "past MAX_HELD");
            counting(ud, p, size, 0);
            assert_eq!(lists.held(), fits * size);
            lists.release(counting, ud);
        }
        assert_eq!(live.get(), 0);
    }
}
