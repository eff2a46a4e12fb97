//! Weighing Lua values before a conversion copies them out of Lua.
//!
//! A conversion into Rust (mlua's `FromLua`, its serde `from_value`) reads
//! tables raw and copies every reference it meets: `{s, s, s, ...}` is one
//! string in Lua and a million in a `Vec<String>`, and a chain of tables
//! each holding the next twice is 60 tables in Lua and 2^60 nodes in Rust.
//! [`weigh`] walks the values the way such a conversion does, counting
//! every reference, and stops as soon as the count passes a limit or the
//! nesting a depth, so that what follows it is bounded and so is the walk
//! itself (every step adds at least one unit).
//!
//! Walking a table costs its allocated size, not its entries (one emptied
//! of a million keys, referenced a million times, weighs little and takes
//! hours to walk), so the walk asks [`interrupt::requested`] at every
//! table: on a runtime worker it stops with the process (its deadline, a
//! cancel, the unyielding limit).
//!
//! It never converts, allocates in Lua or runs a metamethod.

use std::ffi::c_int;

use mlua::{Lua, MultiValue, ffi};

use crate::ffi::interrupt;

/// What one value of each kind weighs; every field is at least what the
/// conversion the weights stand for spends on it.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Weights {
    /// Added to a string's length.
    pub string: usize,
    /// A number, boolean, nil or handle (function, userdata, thread).
    pub scalar: usize,
    /// A table, besides its entries.
    pub table: usize,
    /// A table entry, besides its key and value.
    pub entry: usize,
}

impl Weights {
    /// Rust values: a `String`'s header, a word and a tag, a `Vec`'s
    /// header, a map entry's hash.
    pub const RUST: Weights = Weights {
        string: 24,
        scalar: 16,
        table: 24,
        entry: 8,
    };

    /// A lower bound of the value's size as JSON text: a string's quotes,
    /// one character for any other scalar and for a table's brackets less
    /// the separator its first entry does not have (`[1,2]` is 5, weighed
    /// 1 + 2 × 2), so that a value weighed over a limit is over it as JSON.
    #[cfg_attr(not(feature = "temporal"), allow(dead_code))]
    pub const JSON: Weights = Weights {
        string: 2,
        scalar: 1,
        table: 1,
        entry: 0,
    };
}

/// Why [`weigh`] refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Overweight {
    /// Past the limit (counting every reference).
    Large,
    /// Tables nested past the depth.
    Deep,
    /// The process must stop (see the module's documentation).
    Stopped,
}

/// The weight of `values` counting every reference, or why it is refused:
/// more than `limit`, or tables nested more than `max_depth` deep.
pub(crate) fn weigh(
    lua: &Lua,
    values: &MultiValue,
    w: Weights,
    limit: usize,
    max_depth: usize,
) -> Result<usize, Overweight> {
    let mut walk = Walk {
        w,
        limit,
        max_depth,
        total: 0,
    };
    let mut outcome = Ok(());
    // SAFETY: the closure runs inside mlua's protected call with `values`
    // pushed at 1..=n of `st`; `visit` only reads (lua_type, lua_rawlen,
    // lua_next on tables it does not modify, lua_pushnil/lua_pop within the
    // room lua_checkstack granted), so nothing raises, and its frames hold
    // nothing to drop. mlua restores the stack afterwards.
    let pushed = unsafe {
        lua.exec_raw::<()>(values.clone(), |st| {
            let n = ffi::lua_gettop(st);
            for idx in 1..=n {
                outcome = walk.visit(st, idx, 0);
                if outcome.is_err() {
                    break;
                }
            }
            ffi::lua_settop(st, 0);
        })
    };
    // Pushing handles that already live in the state fails only on a
    // stack overflow: refuse rather than convert unweighed.
    pushed.map_err(|_| Overweight::Deep)?;
    outcome.map(|()| walk.total)
}

struct Walk {
    w: Weights,
    limit: usize,
    max_depth: usize,
    total: usize,
}

impl Walk {
    fn add(&mut self, n: usize) -> Result<(), Overweight> {
        self.total = self.total.saturating_add(n);
        if self.total > self.limit {
            return Err(Overweight::Large);
        }
        Ok(())
    }

    /// Weighs the value at absolute index `idx`, `depth` tables down.
    ///
    /// # Safety
    /// `st` is a live state and `idx` a valid absolute index.
    unsafe fn visit(
        &mut self,
        st: *mut ffi::lua_State,
        idx: c_int,
        depth: usize,
    ) -> Result<(), Overweight> {
        // SAFETY: as the function's contract; lua_next pops the key it is
        // given and pushes a key and a value, which the loop pops back to
        // the key before the next lua_next.
        unsafe {
            match ffi::lua_type(st, idx) {
                ffi::LUA_TSTRING => {
                    self.add(self.w.string.saturating_add(ffi::lua_rawlen(st, idx)))
                }
                ffi::LUA_TTABLE => {
                    self.add(self.w.table)?;
                    if interrupt::requested() {
                        return Err(Overweight::Stopped);
                    }
                    if depth >= self.max_depth || ffi::lua_checkstack(st, 3) == 0 {
                        return Err(Overweight::Deep);
                    }
                    ffi::lua_pushnil(st);
                    while ffi::lua_next(st, idx) != 0 {
                        let value = ffi::lua_gettop(st);
                        self.add(self.w.entry)?;
                        self.visit(st, value - 1, depth + 1)?;
                        self.visit(st, value, depth + 1)?;
                        ffi::lua_pop(st, 1);
                    }
                    Ok(())
                }
                _ => self.add(self.w.scalar),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn weigh_src(src: &str, w: Weights, limit: usize, depth: usize) -> Result<usize, Overweight> {
        let lua = Lua::new();
        let values: MultiValue = lua.load(src).eval().expect("the test's chunk runs");
        weigh(&lua, &values, w, limit, depth)
    }

    #[test]
    fn every_reference_counts() {
        let once = weigh_src(
            "return string.rep('x', 1000)",
            Weights::RUST,
            usize::MAX,
            10,
        );
        let many = weigh_src(
            "local s = string.rep('x', 1000) return {s, s, s, s}, s",
            Weights::RUST,
            usize::MAX,
            10,
        );
        assert_eq!(once, Ok(1024));
        // The table, four entries with their integer keys, five strings.
        assert_eq!(many, Ok(24 + 4 * (8 + 16) + 5 * 1024));
    }

    #[test]
    fn json_weights_stay_under_the_text() {
        for (src, text) in [
            ("return {1, 2, 3}", "[1,2,3]"),
            ("return {}", "{}"),
            ("return {a = 'x', b = true}", r#"{"a":"x","b":true}"#),
            ("return {{}, {{}}}", "[[],[[]]]"),
            ("return 'caf\\u{e9}'", "\"café\""),
        ] {
            let w = weigh_src(src, Weights::JSON, usize::MAX, 10).expect("weighed");
            assert!(
                w <= text.len(),
                "{src}: weighed {w}, JSON is {}",
                text.len()
            );
        }
    }

    #[test]
    fn a_shared_chain_stops_at_the_limit_not_at_its_expansion() {
        // 2^60 paths through 60 tables: the walk must stop near the limit.
        let src = "local t = {} for i = 1, 60 do t = {t, t} end return t";
        assert_eq!(
            weigh_src(src, Weights::JSON, 1 << 20, 128),
            Err(Overweight::Large)
        );
    }

    #[test]
    fn nesting_past_the_depth_is_refused() {
        let src = "local t = {} for i = 1, 300 do t = {t} end return t";
        assert_eq!(
            weigh_src(src, Weights::RUST, usize::MAX, 128),
            Err(Overweight::Deep)
        );
        assert!(weigh_src(src, Weights::RUST, usize::MAX, 301).is_ok());
        // Far deeper than any limit: refused without overflowing anything.
        let deep = "local t = {} for i = 1, 200000 do t = {t} end return t";
        assert_eq!(
            weigh_src(deep, Weights::RUST, usize::MAX, 1000),
            Err(Overweight::Deep)
        );
    }

    #[test]
    fn keys_are_weighed_and_walked_too() {
        let src = "local s = string.rep('k', 500) return {[s] = 1, [{s, s}] = 2}";
        let w = weigh_src(src, Weights::RUST, usize::MAX, 10).expect("weighed");
        assert_eq!(w, 24 + 2 * 8 + (524 + 16) + (24 + 2 * (8 + 16 + 524) + 16));
    }
}
