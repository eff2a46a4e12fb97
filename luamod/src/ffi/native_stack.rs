//! How much of the thread's own (machine) stack Rust exports may still use.
//!
//! Lua bounds how deep calls nest through C (200 levels), but not how much
//! machine stack each level takes, and a level that goes through Rust (an
//! export that calls back into Lua, and mlua's call machinery) takes far
//! more than Lua's own: 200 levels overflowed a 2 MiB thread in a debug
//! build, and an export with a large frame needs more. A runtime worker
//! runs on a stack of known size ([`WORKER_STACK`]) and records, when it
//! starts, the address below which an export refuses to start
//! ([`Floor`]); every export asks [`exhausted`] first, so a script that
//! nests too deep gets Lua's "C stack overflow" error instead of the host
//! getting a stack overflow (which aborts it). Threads that recorded
//! nothing (a host's own, running a plain state) are not checked.

use std::cell::Cell;
use std::sync::atomic::{AtomicBool, Ordering};

/// The stack size of a runtime worker's thread.
pub(crate) const WORKER_STACK: usize = 16 << 20;

/// What is kept free below the floor: the rest of the export that checked,
/// and Lua's own C levels up to the next export (at most 200, small ones).
const RESERVE: usize = 2 << 20;

thread_local! {
    static FLOOR: Cell<usize> = const { Cell::new(0) };
}

/// Whether any thread ever set a floor: until then (no runtime yet, or a
/// module loaded by a Lua interpreter, where thread-locals cost a call)
/// an export reads one global instead of a thread-local. Never cleared.
static ANY: AtomicBool = AtomicBool::new(false);

/// The stack pointer (stacks grow downwards on every platform luamod
/// builds for).
#[inline(always)]
fn here() -> usize {
    #[cfg(target_arch = "x86_64")]
    {
        let sp: usize;
        // SAFETY: reads a register; touches no memory.
        unsafe {
            std::arch::asm!("mov {}, rsp", out(reg) sp, options(nomem, nostack, preserves_flags))
        };
        sp
    }
    #[cfg(target_arch = "aarch64")]
    {
        let sp: usize;
        // SAFETY: reads a register; touches no memory.
        unsafe {
            std::arch::asm!("mov {}, sp", out(reg) sp, options(nomem, nostack, preserves_flags))
        };
        sp
    }
    #[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
    {
        // An address in the current frame.
        let probe = 0u8;
        std::hint::black_box(&probe) as *const u8 as usize
    }
}

/// Sets this thread's floor for a stack of `size` bytes whose top is near
/// the caller's frame; clears it when dropped.
pub(crate) struct Floor(());

impl Floor {
    /// Call first thing in a thread spawned with a stack of `size` bytes.
    pub(crate) fn set(size: usize) -> Floor {
        let usable = size.saturating_sub(RESERVE);
        FLOOR.with(|f| f.set(here().saturating_sub(usable)));
        ANY.store(true, Ordering::Relaxed);
        Floor(())
    }
}

impl Drop for Floor {
    fn drop(&mut self) {
        FLOOR.with(|f| f.set(0));
    }
}

/// Whether the current thread's stack is below its floor.
#[inline(always)]
pub(crate) fn exhausted() -> bool {
    ANY.load(Ordering::Relaxed) && here() < FLOOR.with(|f| f.get())
}
