//! [`ExternalMemory`]: Rust memory that an object owned by Lua holds,
//! counted against its state's memory limit as if Lua had allocated it.
//!
//! A userdata's Rust side (a buffer's bytes, a cache, a decoded image) is
//! invisible to Lua's allocator: a script could keep thousands of them, or
//! grow one without end, and the state's limit would never see it. An
//! object that holds such memory keeps an `ExternalMemory` beside it and
//! resizes it as it grows; growth past the limit is refused, and dropping
//! the object gives the bytes back.

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use mlua::Lua;

use super::alloc::Account;

/// Rust memory held by an object that Lua owns, counted against the
/// memory limit of the state it grows in (see
/// [`MemoryControl`](crate::MemoryControl); every runtime worker has one).
/// On a state without luamod's allocator it counts nothing and refuses
/// nothing.
///
/// Keep one in the object, [`resize`](Self::resize) it before the Rust
/// side grows (with the state's `Lua`, which an export takes as a
/// `lua: &Lua` parameter), and let it drop with the object, on any thread:
///
/// ```
/// use luamod::ExternalMemory;
/// use luamod::mlua::Lua;
///
/// #[derive(Default)]
/// struct Samples {
///     data: Vec<f64>,
///     charge: ExternalMemory,
/// }
///
/// impl Samples {
///     fn push(&mut self, lua: &Lua, x: f64) -> Result<(), luamod::MemoryRefused> {
///         if self.data.len() == self.data.capacity() {
///             let more = self.data.capacity().max(4) * 2;
///             self.charge.resize(lua, more * size_of::<f64>())?;
///             self.data.reserve_exact(more - self.data.len());
///         }
///         self.data.push(x);
///         Ok(())
///     }
/// }
///
/// let lua = luamod::lua_with(&[])?;
/// let mem = luamod::MemoryControl::install(&lua)?;
/// mem.set_limit(mem.used() + (1 << 20));
/// let mut s = Samples::default();
/// let refused = (0..1_000_000).try_for_each(|i| s.push(&lua, i as f64));
/// assert!(refused.is_err() && mem.external() <= 1 << 20);
/// drop(s);
/// assert_eq!(mem.external(), 0);
/// # Ok::<(), mlua::Error>(())
/// ```
///
/// Objects are collected when Lua's collector gets to them, which knows
/// nothing of their Rust memory: garbage holding external memory is freed
/// by a full collection, which `resize` runs before it refuses. A Lua
/// allocation that only external memory stands in the way of is let
/// through instead, and the allocator asks its owner for that collection
/// ([`MemoryControl::collection_due`](crate::MemoryControl::collection_due);
/// a runtime worker runs it between steps). A refused growth counts as a
/// refusal of the state's allocator.
#[derive(Default)]
pub struct ExternalMemory {
    /// The count of the state it grew in last.
    counted_in: Option<Arc<AtomicUsize>>,
    bytes: usize,
}

impl ExternalMemory {
    /// Counts nothing yet.
    pub fn new() -> ExternalMemory {
        ExternalMemory::default()
    }

    /// The bytes counted now.
    pub fn bytes(&self) -> usize {
        self.bytes
    }

    /// Counts `bytes` in `lua`'s state from now on. Growth that would take
    /// the state past its limit is refused and changes nothing; a shrink
    /// never is. (Resized with another state than before, the bytes move
    /// to that state.)
    ///
    /// Lua's collector paces itself by Lua's own allocations and knows
    /// nothing of external memory, so garbage objects may hold much of it:
    /// before refusing, a full collection gives back what they hold. It
    /// runs finalizers, so call this where Lua code could run (any export
    /// may).
    pub fn resize(&mut self, lua: &Lua, bytes: usize) -> Result<(), MemoryRefused> {
        let Some(st) = Account::of(lua) else {
            self.release();
            self.bytes = bytes;
            return Ok(());
        };
        let here = self
            .counted_in
            .as_ref()
            .is_some_and(|c| Arc::ptr_eq(c, &st.external));
        let held_here = if here { self.bytes } else { 0 };
        if bytes > held_here && bytes > self.bytes {
            let grow = bytes - held_here;
            if st.would_exceed(grow) {
                // What garbage holds is given back by its finalizers; a
                // growth past the limit itself cannot be helped.
                if grow <= st.limit() {
                    let _ = lua.gc_collect();
                    st.collected();
                }
                if st.exceeds(grow) {
                    return Err(MemoryRefused {
                        asked: grow,
                        limit: st.limit(),
                    });
                }
            }
        }
        self.release();
        let _ = st
            .external
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| {
                Some(n.saturating_add(bytes))
            });
        self.counted_in = Some(st.external.clone());
        self.bytes = bytes;
        Ok(())
    }

    /// Takes this object's bytes out of the count it is in.
    fn release(&mut self) {
        if let Some(c) = self.counted_in.take() {
            let bytes = self.bytes;
            let _ = c.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| {
                Some(n.saturating_sub(bytes))
            });
        }
    }
}

impl Drop for ExternalMemory {
    fn drop(&mut self) {
        self.release();
    }
}

impl fmt::Debug for ExternalMemory {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ExternalMemory")
            .field("bytes", &self.bytes)
            .field("counted", &self.counted_in.is_some())
            .finish()
    }
}

/// [`ExternalMemory::resize`] refused: the growth would pass the state's
/// memory limit. Raised to Lua (as `mlua::Error` or `LuaError`), it is
/// Lua's own `not enough memory`, of kind `RESOURCE_EXHAUSTED`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemoryRefused {
    /// The growth asked for, in bytes.
    pub asked: usize,
    /// The state's limit.
    pub limit: usize,
}

impl fmt::Display for MemoryRefused {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "not enough memory: {} more bytes would pass the state's limit of {} bytes",
            self.asked, self.limit
        )
    }
}

impl std::error::Error for MemoryRefused {}

impl From<MemoryRefused> for mlua::Error {
    fn from(e: MemoryRefused) -> mlua::Error {
        mlua::Error::MemoryError(e.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::ExternalMemory;
    use crate::ffi::alloc::MemoryControl;

    /// A state with luamod's allocator, limited to `room` bytes more than
    /// it uses now.
    fn limited(room: usize) -> (mlua::Lua, MemoryControl) {
        let lua = mlua::Lua::new();
        let mem = MemoryControl::install(&lua).unwrap();
        mem.set_limit(mem.used() + room);
        (lua, mem)
    }

    #[test]
    fn external_memory_and_lua_share_one_limit() {
        let (lua, mem) = limited(4 << 20);
        let mut a = ExternalMemory::new();
        a.resize(&lua, 3 << 20).unwrap();
        assert_eq!(mem.external(), 3 << 20);
        // Lua's own allocations now have 1 MiB left.
        let big = lua
            .load("return string.rep('x', 2 << 20)")
            .eval::<mlua::LuaString>();
        assert!(big.is_err());
        // A refused growth changes nothing, and counts as a refusal.
        let refusals = mem.refusals();
        let mut b = ExternalMemory::new();
        let e = b.resize(&lua, 2 << 20).unwrap_err();
        assert_eq!(
            (e.asked, b.bytes(), mem.refusals()),
            (2 << 20, 0, refusals + 1)
        );
        // Shrinking gives back.
        a.resize(&lua, 1 << 20).unwrap();
        b.resize(&lua, 2 << 20).unwrap();
        assert_eq!(mem.external(), 3 << 20);
        drop((a, b));
        assert_eq!(mem.external(), 0);
    }

    /// An object owned by Lua that holds external memory.
    struct Blob(#[allow(dead_code)] ExternalMemory);

    impl mlua::UserData for Blob {}

    #[test]
    fn garbage_objects_give_their_memory_back_before_a_refusal() {
        let (lua, mem) = limited(8 << 20);
        for _ in 0..100 {
            let mut e = ExternalMemory::new();
            e.resize(&lua, 1 << 20).unwrap();
            // Garbage as soon as it is made.
            lua.create_userdata(Blob(e)).unwrap();
        }
        assert!(mem.external() <= 8 << 20);
    }

    /// A new Lua string of `n` bytes (a single allocation on every VM:
    /// each one different, as LuaJIT interns every string).
    fn string_of(lua: &mlua::Lua, n: usize) -> mlua::Result<mlua::LuaString> {
        static MADE: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let mut bytes = vec![b'x'; n];
        let id = MADE.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        bytes[..8].copy_from_slice(&id.to_le_bytes());
        lua.create_string(bytes)
    }

    #[test]
    fn lua_allocations_pass_external_memory_until_a_collection_shows_it_live() {
        let (lua, mem) = limited(4 << 20);
        let mut live = ExternalMemory::new();
        live.resize(&lua, 3 << 20).unwrap();
        // A quarter of a MiB past the limit: it may be garbage's, so let
        // through, and a collection asked for.
        let n = 5 << 18;
        drop(string_of(&lua, n).unwrap());
        assert!(mem.collection_due());
        lua.gc_collect().unwrap();
        mem.collected();
        assert!(!mem.collection_due());
        // Still counted after a full collection: live, and in the way.
        assert!(string_of(&lua, n).is_err());
        drop(live);
        assert!(string_of(&lua, n).is_ok());
    }

    #[test]
    fn without_luamods_allocator_nothing_is_counted_or_refused() {
        let lua = mlua::Lua::new();
        let mut e = ExternalMemory::new();
        e.resize(&lua, usize::MAX).unwrap();
        assert_eq!(e.bytes(), usize::MAX);
    }

    #[test]
    fn an_object_outlives_allocators_and_may_drop_on_any_thread() {
        let lua = mlua::Lua::new();
        let mem = MemoryControl::install(&lua).unwrap();
        let mut e = ExternalMemory::new();
        e.resize(&lua, 1 << 20).unwrap();
        drop(mem);
        // Without the allocator, nothing counts; dropped on another
        // thread, the object gives back what it counted.
        e.resize(&lua, 2 << 20).unwrap();
        let mem = MemoryControl::install(&lua).unwrap();
        e.resize(&lua, 1 << 20).unwrap();
        assert_eq!(mem.external(), 1 << 20);
        std::thread::spawn(move || drop(e)).join().unwrap();
        assert_eq!(mem.external(), 0);
    }
}
