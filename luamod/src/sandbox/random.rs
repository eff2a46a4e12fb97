//! `math.random` and `math.randomseed` with one generator per process.
//!
//! Lua keeps one generator per state, which every process of a worker
//! would share: one process could observe or steer another's numbers, and
//! a workflow's sequence would depend on what else ran. Here each process
//! has its own [`Rng`] (xoshiro256**, as Lua 5.4's), made current by the
//! scheduler for each step; code outside a process uses one per thread.
//! The semantics and error messages are Lua 5.4's.

use std::cell::{Cell, RefCell};
use std::ffi::c_int;

use mlua::ffi::{self, lua_State};

/// A xoshiro256** generator.
#[derive(Debug, Clone)]
pub struct Rng([u64; 4]);

impl Rng {
    /// A generator whose whole sequence follows from `seed`.
    pub fn seeded(seed: u64) -> Rng {
        Rng::from_pair(seed, 0)
    }

    /// Seeded as Lua's `math.randomseed(n, m)` seeds.
    fn from_pair(n: u64, m: u64) -> Rng {
        let mut r = Rng([n, 0xff, m, 0]);
        // Discard the first values, as Lua does, to spread the seed.
        for _ in 0..16 {
            r.next_u64();
        }
        r
    }

    /// A generator seeded from the process's entropy (the OS's randomness
    /// behind `std`'s hash keys, and the clock).
    pub fn from_entropy() -> Rng {
        use std::hash::{BuildHasher, Hasher};
        let mut h = std::collections::hash_map::RandomState::new().build_hasher();
        h.write_u128(
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos())
                .unwrap_or(0),
        );
        let a = h.finish();
        let b = std::collections::hash_map::RandomState::new()
            .build_hasher()
            .finish();
        Rng::from_pair(a, b)
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        let s = &mut self.0;
        let result = s[1].wrapping_mul(5).rotate_left(7).wrapping_mul(9);
        let t = s[1] << 17;
        s[2] ^= s[0];
        s[3] ^= s[1];
        s[1] ^= s[2];
        s[0] ^= s[3];
        s[2] ^= t;
        s[3] = s[3].rotate_left(45);
        result
    }

    /// A uniform integer in `0..=n`, by rejection as Lua's `project`.
    fn project(&mut self, mut ran: u64, n: u64) -> u64 {
        if n & n.wrapping_add(1) == 0 {
            return ran & n;
        }
        let mut lim = n;
        lim |= lim >> 1;
        lim |= lim >> 2;
        lim |= lim >> 4;
        lim |= lim >> 8;
        lim |= lim >> 16;
        lim |= lim >> 32;
        loop {
            ran &= lim;
            if ran <= n {
                return ran;
            }
            ran = self.next_u64();
        }
    }
}

thread_local! {
    static CURRENT: Cell<*mut Rng> = const { Cell::new(std::ptr::null_mut()) };
    static FALLBACK: RefCell<Rng> = RefCell::new(Rng::from_entropy());
}

/// Makes `rng` the generator of code running on this thread until the
/// guard is dropped.
#[must_use = "the generator is current only while the guard lives"]
pub(crate) fn enter(rng: &mut Rng) -> Entered {
    let prev = CURRENT.with(|c| c.replace(rng as *mut Rng));
    Entered { prev }
}

/// Restores the previous generator when dropped.
pub(crate) struct Entered {
    prev: *mut Rng,
}

impl Drop for Entered {
    fn drop(&mut self) {
        CURRENT.with(|c| c.set(self.prev));
    }
}

/// Runs `f` on the current generator.
fn with_rng<R>(f: impl FnOnce(&mut Rng) -> R) -> R {
    let cur = CURRENT.with(|c| c.get());
    if cur.is_null() {
        FALLBACK.with(|r| f(&mut r.borrow_mut()))
    } else {
        // SAFETY: `enter` stored a pointer to a generator that outlives
        // its guard, and this thread is the only one using it.
        f(unsafe { &mut *cur })
    }
}

/// `math.random([m [, n]])`.
pub(super) unsafe extern "C-unwind" fn random(state: *mut lua_State) -> c_int {
    let rv = with_rng(Rng::next_u64);
    // SAFETY: this frame owns only integers, so the argument checks may
    // raise; the generator was used and released above.
    unsafe {
        let (low, up) = match ffi::lua_gettop(state) {
            0 => {
                ffi::lua_pushnumber(state, (rv >> 11) as f64 * (0.5 / (1u64 << 52) as f64));
                return 1;
            }
            1 => {
                let up = ffi::luaL_checkinteger(state, 1);
                if up == 0 {
                    ffi::lua_pushinteger(state, rv as i64);
                    return 1;
                }
                (1, up)
            }
            2 => (
                ffi::luaL_checkinteger(state, 1),
                ffi::luaL_checkinteger(state, 2),
            ),
            _ => return ffi::luaL_error(state, c"wrong number of arguments".as_ptr()),
        };
        if low > up {
            return ffi::luaL_argerror(state, 1, c"interval is empty".as_ptr());
        }
        let span = (up as u64).wrapping_sub(low as u64);
        let r = with_rng(|g| g.project(rv, span));
        ffi::lua_pushinteger(state, r.wrapping_add(low as u64) as i64);
        1
    }
}

/// `math.randomseed([n [, m]])`: reseeds the current process's generator
/// (from fresh entropy without arguments, which a workflow may not do) and
/// returns the two seed parts.
pub(super) unsafe extern "C-unwind" fn randomseed(state: *mut lua_State) -> c_int {
    // SAFETY: as `random`.
    unsafe {
        let (n, m) = if ffi::lua_type(state, 1) == ffi::LUA_TNONE {
            if crate::security::current::in_workflow() {
                return ffi::luaL_error(
                    state,
                    c"a workflow's random sequence must replay: math.randomseed needs a seed"
                        .as_ptr(),
                );
            }
            let e = Rng::from_entropy();
            (e.0[0], e.0[2])
        } else {
            let n = ffi::luaL_checkinteger(state, 1) as u64;
            let m = ffi::luaL_optinteger(state, 2, 0) as u64;
            (n, m)
        };
        with_rng(|g| *g = Rng::from_pair(n, m));
        ffi::lua_pushinteger(state, n as i64);
        ffi::lua_pushinteger(state, m as i64);
        2
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seeded_generators_repeat_and_differ() {
        let (mut a, mut b, mut c) = (Rng::seeded(7), Rng::seeded(7), Rng::seeded(8));
        let xs: Vec<u64> = (0..4).map(|_| a.next_u64()).collect();
        let ys: Vec<u64> = (0..4).map(|_| b.next_u64()).collect();
        let zs: Vec<u64> = (0..4).map(|_| c.next_u64()).collect();
        assert_eq!(xs, ys);
        assert_ne!(xs, zs);
    }

    #[test]
    fn project_stays_in_range() {
        let mut g = Rng::seeded(1);
        for n in [0u64, 1, 2, 5, 6, 1000, u64::MAX / 3] {
            for _ in 0..200 {
                let r = g.next_u64();
                assert!(g.project(r, n) <= n);
            }
        }
    }
}
