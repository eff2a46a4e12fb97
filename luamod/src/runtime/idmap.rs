//! [`IdMap`]: the runtime's maps keyed by its own ids (process ids,
//! command ids, script ids).
//!
//! Those keys are numbers the runtime or the module author chose, never a
//! script, so the maps need no protection against chosen collisions
//! (SipHash's job) and hash with one multiplication: the default hasher
//! was an eighth of a yield round trip (callgrind).

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

/// A map keyed by a runtime id.
pub(crate) type IdMap<K, V> = HashMap<K, V, BuildHasherDefault<IdHasher>>;

/// An empty [`IdMap`].
pub(crate) fn new<K, V>() -> IdMap<K, V> {
    HashMap::default()
}

/// Fibonacci hashing of integer ids: the product's bits are all mixed from
/// the id's, and consecutive ids (pids are a counter) fall in different
/// buckets.
#[derive(Default, Clone, Copy)]
pub(crate) struct IdHasher(u64);

const K: u64 = 0x9e37_79b9_7f4a_7c15;

impl Hasher for IdHasher {
    #[inline]
    fn finish(&self) -> u64 {
        self.0
    }

    #[inline]
    fn write_u64(&mut self, n: u64) {
        self.0 = (self.0.rotate_left(5) ^ n).wrapping_mul(K);
    }

    #[inline]
    fn write_u16(&mut self, n: u16) {
        self.write_u64(n.into());
    }

    #[inline]
    fn write_u32(&mut self, n: u32) {
        self.write_u64(n.into());
    }

    #[inline]
    fn write_usize(&mut self, n: usize) {
        self.write_u64(n as u64);
    }

    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.write_u64(b.into());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::command::{CommandId, Pid};

    #[test]
    fn consecutive_ids_spread_and_maps_work() {
        let mut m: IdMap<Pid, u64> = new();
        for i in 0..10_000 {
            m.insert(Pid(i), i * 2);
        }
        assert!((0..10_000).all(|i| m.get(&Pid(i)) == Some(&(i * 2))));
        // The low bits hashbrown picks buckets with differ between
        // neighbours.
        let low = |p: u64| {
            let mut h = IdHasher::default();
            std::hash::Hash::hash(&Pid(p), &mut h);
            h.finish() & 0xff
        };
        let distinct: std::collections::HashSet<u64> = (0..256).map(low).collect();
        assert_eq!(distinct.len(), 256);
        let mut c: IdMap<CommandId, ()> = new();
        c.insert(CommandId(900), ());
        assert!(c.contains_key(&CommandId(900)) && !c.contains_key(&CommandId(901)));
    }
}
