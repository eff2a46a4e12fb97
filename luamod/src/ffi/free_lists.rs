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
//! Kept blocks are memory neither Lua nor the system allocator can use
//! for anything else, so the lists keep only what is likely to be asked
//! for again: pushes of a size never outnumber Lua's requests of it (so
//! blocks that shrank to a size by `realloc` do not pile up on its
//! list), and no size Lua stopped asking for (a sweep gives those back,
//! at the second sweep after its last request). Measured with the
//! demo host: a `load` in a loop peaked at 76 MB of resident memory
//! with neither rule, 11 MB with them (as without the lists).
//!
//! What this must never do: hold more than [`FreeLists::MAX_HELD`] bytes
//! (or than a state's memory limit leaves for them), hand a block to a
//! request of another size, or be used from another thread than its
//! state's (Lua calls its allocator from one at a time).

use std::cell::Cell;
use std::ffi::c_void;

use mlua::ffi;

/// The first word of a block on a list: the next block of its size.
struct Free {
    next: *mut Free,
}

/// The list of one size.
struct List {
    /// The last block freed of this size, or null.
    head: Cell<*mut Free>,
    /// How many more blocks of this size the list may take: one for
    /// every request of this size (served or not), one less for every
    /// block taken. A size Lua frees more often than it asks for (blocks
    /// that shrank by `realloc` since they were asked for) would
    /// otherwise fill the lists with blocks nobody takes, which also
    /// keep the system allocator from reusing their memory for other
    /// sizes (a `load` in a loop: 76 MB of resident memory instead of
    /// 11 MB, measured).
    credit: Cell<u32>,
    /// Sweeps since Lua last asked for this size.
    idle: Cell<u8>,
}

/// Freed blocks by exact size, for sizes [`MIN`](Self::MIN) to
/// [`MAX`](Self::MAX) bytes, as many of each as Lua has asked for.
pub(super) struct FreeLists {
    /// `lists[size - MIN]`.
    lists: Box<[List]>,
    /// Bytes held on all lists.
    held: Cell<usize>,
    /// Requests left before the lists next ask whether to sweep.
    until_sweep: Cell<u32>,
    /// Times they asked since the last sweep.
    asks: Cell<u32>,
    /// What they held after the last sweep.
    held_after_sweep: Cell<usize>,
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
    /// them back (a worker does once it has waited 100 ms for work
    /// holding more than 1 MiB).
    pub(super) const MAX_HELD: usize = 16 << 20;
    /// Requests between two looks at whether to sweep (see
    /// [`tick`](Self::tick)): a spawn makes about ten, so a list in use
    /// is asked for many times between two.
    const SWEEP_EVERY: u32 = 1 << 13;
    /// Looks after which the lists sweep whatever they hold.
    const SWEEP_LOOKS: u32 = 8;
    /// Growth of what they hold after which they sweep at the next look.
    const SWEEP_GROWTH: usize = 2 << 20;

    pub(super) fn new() -> FreeLists {
        FreeLists {
            lists: (Self::MIN..=Self::MAX)
                .map(|_| List {
                    head: Cell::new(std::ptr::null_mut()),
                    credit: Cell::new(0),
                    idle: Cell::new(0),
                })
                .collect(),
            held: Cell::new(0),
            until_sweep: Cell::new(Self::SWEEP_EVERY),
            asks: Cell::new(0),
            held_after_sweep: Cell::new(0),
        }
    }

    /// A block of exactly `size` bytes freed earlier, if one is held.
    /// Every request of a kept size counts, served or not: it lets the
    /// list take one more block of that size.
    #[inline(always)]
    pub(super) fn pop(&self, size: usize) -> Option<*mut c_void> {
        let list = self.lists.get(size.wrapping_sub(Self::MIN))?;
        list.credit.set(list.credit.get().saturating_add(1));
        list.idle.set(0);
        let head = &list.head;
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
    /// (and nothing kept) when the size is not kept, its list has taken
    /// as many blocks as Lua asked for of that size, or the lists would
    /// hold more than [`MAX_HELD`](Self::MAX_HELD) bytes or more than
    /// `room`, what the state's memory limit leaves for them.
    ///
    /// # Safety
    /// `block` is a live allocation of exactly `size` bytes made by the
    /// allocator this state wraps, no longer used by anyone.
    #[inline(always)]
    pub(super) unsafe fn push(&self, block: *mut c_void, size: usize, room: usize) -> bool {
        let Some(list) = self.lists.get(size.wrapping_sub(Self::MIN)) else {
            return false;
        };
        let held = self.held.get() + size;
        let credit = list.credit.get();
        if credit == 0 || held > Self::MAX_HELD || held > room {
            return false;
        }
        list.credit.set(credit - 1);
        let head = &list.head;
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

    /// Counts one request; true when the lists should be swept: at a
    /// look (every [`SWEEP_EVERY`](Self::SWEEP_EVERY) requests) after
    /// they grew by [`SWEEP_GROWTH`](Self::SWEEP_GROWTH) since the last
    /// sweep, else at every [`SWEEP_LOOKS`](Self::SWEEP_LOOKS)th look.
    /// (Looks are counted in requests, never in frees: a collection's
    /// burst of frees comes with no request, and must not age the sizes
    /// its processes keep asking for.)
    #[inline(always)]
    pub(super) fn tick(&self) -> bool {
        let n = self.until_sweep.get();
        if n != 0 {
            self.until_sweep.set(n - 1);
            return false;
        }
        self.tick_look()
    }

    #[cold]
    fn tick_look(&self) -> bool {
        self.until_sweep.set(Self::SWEEP_EVERY);
        let asks = self.asks.get() + 1;
        let grown = self.held.get() >= self.held_after_sweep.get() + Self::SWEEP_GROWTH;
        if asks >= Self::SWEEP_LOOKS || grown {
            self.asks.set(0);
            return true;
        }
        self.asks.set(asks);
        false
    }

    /// Gives back, through `free`, the blocks of every size Lua has not
    /// asked for since before the last sweep: a size goes at the second
    /// sweep after its last request. (Its credit stays: blocks of that
    /// size asked for before may still come back.) A script that makes
    /// strings of one length after another would otherwise leave a list
    /// of each length behind, up to [`MAX_HELD`](Self::MAX_HELD) of
    /// blocks nobody takes. (The second, not the first: a worker has
    /// phases of a few thousand requests that make no process, across
    /// which its processes' sizes must stay.)
    ///
    /// # Safety
    /// As [`release`](Self::release).
    #[cold]
    pub(super) unsafe fn sweep(&self, free: ffi::lua_Alloc, ud: *mut c_void) {
        for (i, list) in self.lists.iter().enumerate() {
            let idle = list.idle.get().saturating_add(1);
            list.idle.set(idle);
            if idle >= 2 {
                // SAFETY: forwarded.
                unsafe { self.release_list(list, i + Self::MIN, free, ud) };
            }
        }
        self.held_after_sweep.set(self.held.get());
    }

    /// Frees the blocks of `list`, of `size` bytes each, through `free`.
    ///
    /// # Safety
    /// As [`release`](Self::release).
    unsafe fn release_list(&self, list: &List, size: usize, free: ffi::lua_Alloc, ud: *mut c_void) {
        let mut block = list.head.replace(std::ptr::null_mut());
        while !block.is_null() {
            // SAFETY: as in `pop`; the block is freed with the size it
            // was allocated with, after its link is read.
            unsafe {
                let next = (*block).next;
                free(ud, block.cast(), size, 0);
                block = next;
            }
            self.held.set(self.held.get() - size);
        }
    }

    /// Frees every held block through `free` (the wrapped allocator and
    /// its userdata).
    ///
    /// # Safety
    /// `free` is the allocator that made the blocks, and its state is live.
    pub(super) unsafe fn release(&self, free: ffi::lua_Alloc, ud: *mut c_void) {
        for (i, list) in self.lists.iter().enumerate() {
            // SAFETY: forwarded.
            unsafe { self.release_list(list, i + Self::MIN, free, ud) };
        }
        // Growth is counted from here: after a trim from a high mark,
        // growth would otherwise bring no early sweep until it passed it.
        self.held_after_sweep.set(0);
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

    /// The userdata `counting` takes: the test's count of live blocks.
    fn counter(live: &Cell<isize>) -> *mut c_void {
        live as *const Cell<isize> as *mut c_void
    }

    /// A request of `size` bytes, as luamod's allocator makes it.
    ///
    /// # Safety
    /// `ud` is the test's counter.
    unsafe fn ask(lists: &FreeLists, ud: *mut c_void, size: usize) -> *mut c_void {
        // SAFETY: forwarded.
        lists
            .pop(size)
            .unwrap_or_else(|| unsafe { counting(ud, std::ptr::null_mut(), 0, size) })
    }

    #[test]
    fn a_freed_block_is_reused_only_for_its_own_size_and_released_at_the_end() {
        let live = Cell::new(0isize);
        let ud = counter(&live);
        let lists = FreeLists::new();
        // SAFETY: blocks made by `counting` with the sizes given, pushed
        // at most once each and not used after; a refused one is freed.
        unsafe {
            let a = ask(&lists, ud, 48);
            let b = ask(&lists, ud, 48);
            assert!(lists.push(a, 48, usize::MAX));
            assert!(lists.push(b, 48, usize::MAX));
            assert_eq!(lists.held(), 96);
            assert_eq!(lists.pop(40), None, "another size");
            assert_eq!(lists.pop(56), None, "another size");
            let c = ask(&lists, ud, 48);
            assert_eq!(c, b, "the last freed first");
            assert_eq!(lists.held(), 48);
            // No more than the room the state's limit leaves.
            assert!(!lists.push(c, 48, 48 + 47), "past the room given");
            assert!(lists.push(c, 48, 48 + 48));
            // No more blocks of a size than Lua asked for: one that
            // shrank to it by `realloc` is left to the allocator.
            let shrunk = counting(ud, std::ptr::null_mut(), 0, 48);
            assert!(!lists.push(shrunk, 48, usize::MAX), "more than asked for");
            counting(ud, shrunk, 48, 0);
            assert_eq!(lists.held(), 96);
            // Sizes outside the kept range are left to the allocator.
            let big = ask(&lists, ud, FreeLists::MAX + 1);
            assert!(!lists.push(big, FreeLists::MAX + 1, usize::MAX));
            counting(ud, big, FreeLists::MAX + 1, 0);
            assert_eq!(lists.pop(0), None);
            lists.release(counting, ud);
        }
        assert_eq!(lists.held(), 0);
        assert_eq!(live.get(), 0, "every block went back to its allocator");
        assert_eq!(lists.pop(48), None);
    }

    #[test]
    fn a_sweep_gives_back_a_size_at_the_second_sweep_after_its_last_request() {
        let live = Cell::new(0isize);
        let ud = counter(&live);
        let lists = FreeLists::new();
        // SAFETY: as above.
        unsafe {
            let (a, b) = (ask(&lists, ud, 48), ask(&lists, ud, 56));
            assert!(lists.push(a, 48, usize::MAX));
            assert!(lists.push(b, 56, usize::MAX));
            // Requests for 56 bytes only, each freed again.
            let mut sweeps = 0;
            while sweeps < 3 {
                if lists.tick() {
                    lists.sweep(counting, ud);
                    sweeps += 1;
                    let expected = if sweeps == 1 { 48 + 56 } else { 56 };
                    assert_eq!(lists.held(), expected, "after sweep {sweeps}");
                }
                let p = ask(&lists, ud, 56);
                assert!(lists.push(p, 56, usize::MAX));
            }
            assert_eq!(live.get(), 1, "only the 56-byte block is left");
            lists.release(counting, ud);
        }
        assert_eq!(live.get(), 0);
    }

    #[test]
    fn the_lists_sweep_at_the_first_look_once_they_have_grown() {
        let live = Cell::new(0isize);
        let ud = counter(&live);
        let lists = FreeLists::new();
        let looks_until_sweep = |lists: &FreeLists| {
            let mut requests = 1;
            while !lists.tick() {
                requests += 1;
            }
            requests / (FreeLists::SWEEP_EVERY as usize + 1)
        };
        assert_eq!(looks_until_sweep(&lists), FreeLists::SWEEP_LOOKS as usize);
        // SAFETY: as above.
        unsafe {
            let blocks: Vec<_> = (0..FreeLists::SWEEP_GROWTH / 1024)
                .map(|_| ask(&lists, ud, 1024))
                .collect();
            for p in blocks {
                assert!(lists.push(p, 1024, usize::MAX));
            }
            assert_eq!(looks_until_sweep(&lists), 1, "grown by SWEEP_GROWTH");
            lists.sweep(counting, ud);
            assert_eq!(lists.held(), FreeLists::SWEEP_GROWTH, "asked for: kept");
            assert_eq!(looks_until_sweep(&lists), FreeLists::SWEEP_LOOKS as usize);
            lists.release(counting, ud);
        }
        assert_eq!(live.get(), 0);
    }

    #[test]
    fn the_lists_hold_at_most_max_held_bytes() {
        let live = Cell::new(0isize);
        let ud = counter(&live);
        let lists = FreeLists::new();
        let size = FreeLists::MAX;
        let fits = FreeLists::MAX_HELD / size;
        // SAFETY: as above.
        unsafe {
            let blocks: Vec<_> = (0..=fits).map(|_| ask(&lists, ud, size)).collect();
            for (i, p) in blocks.into_iter().enumerate() {
                let kept = lists.push(p, size, usize::MAX);
                assert_eq!(kept, i < fits, "block {i}");
                if !kept {
                    counting(ud, p, size, 0);
                }
            }
            assert_eq!(lists.held(), fits * size);
            lists.release(counting, ud);
        }
        assert_eq!(live.get(), 0);
    }
}
