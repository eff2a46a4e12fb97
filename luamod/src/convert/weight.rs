//! Weighing Lua values before a conversion copies them out of Lua.
//!
//! A conversion into Rust (mlua's `FromLua`, its serde `from_value`) reads
//! tables raw and copies every reference it meets: `{s, s, s, ...}` is one
//! string in Lua and a million in a `Vec<String>`, and a chain of tables
//! each holding the next twice is 60 tables in Lua and 2^60 nodes in Rust.
//! [`weigh`] walks the values the way such a conversion does, counting
//! every reference, and stops as soon as the count passes a limit or the
//! nesting a depth. A table met again inside itself (a cycle) is counted
//! and not walked again: conversions that read it whole refuse cycles or
//! never end on them, and the ones that read a few fields of an object
//! whose `__index` is itself are the common case.
//!
//! Walking a table costs its allocated size, not its entries (one emptied
//! of a million keys, referenced a million times, weighs little and takes
//! hours to walk), so the walk asks [`interrupt::requested`] at every
//! table: on a runtime worker it stops with the process (its deadline, a
//! cancel, the unyielding limit).
//!
//! It never converts or runs a metamethod, and allocates nothing in Lua
//! but stack room.

use std::ffi::{c_int, c_void};

use mlua::{Lua, MultiValue, ffi};

use crate::ffi::interrupt;

/// What one value of each kind weighs.
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
    /// Tables with a border (`#t > 0`) are read as sequences over
    /// `1..=#t`, holes included, their other keys ignored (mlua's serde
    /// does so); otherwise every entry is read.
    pub by_length: bool,
}

impl Weights {
    /// Rust values, within a small factor: a `String`'s header, a word
    /// and a tag, a `Vec`'s header, a map entry's share of its table.
    /// mlua's sequences stop at the first hole and its maps read every
    /// entry, so every entry is weighed, and so is every hole below the
    /// border (serde reads those as elements).
    pub const RUST: Weights = Weights {
        string: 24,
        scalar: 16,
        table: 24,
        entry: 8,
        by_length: false,
    };

    /// A lower bound of the value's size as JSON text, as mlua's serde
    /// writes it: a string's quotes, one character for any other scalar
    /// (a hole is `null`) and for a table's brackets less the separator
    /// its first entry does not have (`[1,2]` is 5, weighed 1 + 2 × 2), so
    /// that a value weighed over a limit is over it as JSON.
    #[cfg_attr(not(feature = "temporal"), allow(dead_code))]
    pub const JSON: Weights = Weights {
        string: 2,
        scalar: 1,
        table: 1,
        entry: 0,
        by_length: true,
    };
}

/// Why [`weigh`] refused.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Overweight {
    /// Past the limit (counting every reference).
    Large,
    /// Tables nested past the depth.
    Deep,
    /// The process must stop (see the module's documentation).
    Stopped,
    /// The values could not be put on the stack (a memory error).
    Failed(String),
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
        path: Vec::new(),
    };
    let mut outcome = Ok(());
    // SAFETY: the closure runs inside mlua's protected call with `values`
    // pushed at 1..=n of `st`, and `LUA_MINSTACK` slots free. `visit`
    // reads with lua_type, lua_rawlen, lua_topointer, lua_rawgeti and
    // lua_next (on tables nothing modifies, so lua_next always finds its
    // key) and pushes only within the room lua_checkstack granted: none of
    // them raises. Were anything to raise, the frames it would skip own
    // nothing (`walk` and `outcome` live outside the closure). mlua
    // restores the stack afterwards.
    let pushed = unsafe {
        lua.exec_raw::<()>(values.clone(), |st| {
            let n = ffi::lua_gettop(st);
            for idx in 1..=n {
                outcome = walk.visit(st, idx);
                if outcome.is_err() {
                    break;
                }
            }
            ffi::lua_settop(st, 0);
        })
    };
    // The walk's own refusal first: a stop it saw may also have been
    // raised by the hook around the protected call, which then fails.
    outcome?;
    match pushed {
        Ok(()) => Ok(walk.total),
        Err(_) if interrupt::requested() => Err(Overweight::Stopped),
        Err(e) => Err(Overweight::Failed(e.to_string())),
    }
}

struct Walk {
    w: Weights,
    limit: usize,
    max_depth: usize,
    total: usize,
    /// The tables being walked, outermost first.
    path: Vec<*const c_void>,
}

impl Walk {
    fn add(&mut self, n: usize) -> Result<(), Overweight> {
        self.total = self.total.saturating_add(n);
        if self.total > self.limit {
            return Err(Overweight::Large);
        }
        Ok(())
    }

    /// Weighs the value at absolute index `idx`.
    ///
    /// # Safety
    /// `st` is a live state and `idx` a valid absolute index.
    unsafe fn visit(&mut self, st: *mut ffi::lua_State, idx: c_int) -> Result<(), Overweight> {
        // SAFETY: as the function's contract.
        unsafe {
            match ffi::lua_type(st, idx) {
                ffi::LUA_TSTRING => {
                    self.add(self.w.string.saturating_add(ffi::lua_rawlen(st, idx)))
                }
                ffi::LUA_TTABLE => self.table(st, idx),
                _ => self.add(self.w.scalar),
            }
        }
    }

    /// # Safety
    /// As [`visit`](Self::visit), and `idx` holds a table.
    unsafe fn table(&mut self, st: *mut ffi::lua_State, idx: c_int) -> Result<(), Overweight> {
        self.add(self.w.table)?;
        if interrupt::requested() {
            return Err(Overweight::Stopped);
        }
        // SAFETY: as the function's contract; every push below is within
        // the room checked here, and each loop pops back to where it began
        // (lua_next pops the key it is given and pushes a key and a value).
        unsafe {
            let t = ffi::lua_topointer(st, idx);
            if self.path.contains(&t) {
                return Ok(());
            }
            if self.path.len() >= self.max_depth || ffi::lua_checkstack(st, 3) == 0 {
                return Err(Overweight::Deep);
            }
            self.path.push(t);
            let len = if self.w.by_length {
                ffi::lua_rawlen(st, idx)
            } else {
                0
            };
            if len > 0 {
                for i in 1..=len {
                    self.add(self.w.entry.saturating_add(self.w.scalar))?;
                    ffi::lua_rawgeti(st, idx, i as ffi::lua_Integer);
                    let r = self.visit(st, ffi::lua_gettop(st));
                    ffi::lua_pop(st, 1);
                    r?;
                }
            } else {
                let mut entries = 0usize;
                ffi::lua_pushnil(st);
                while ffi::lua_next(st, idx) != 0 {
                    entries += 1;
                    let value = ffi::lua_gettop(st);
                    let r = self.add(self.w.entry).and_then(|()| {
                        self.visit(st, value - 1)?;
                        self.visit(st, value)
                    });
                    if r.is_err() {
                        ffi::lua_pop(st, 2);
                        return r;
                    }
                    ffi::lua_pop(st, 1);
                }
                // A reader that goes by the border (serde into host types:
                // `Vec<Option<T>>`, `serde_json::Value`) makes an element
                // of every hole below it.
                let holes = ffi::lua_rawlen(st, idx).saturating_sub(entries);
                self.add(holes.saturating_mul(self.w.entry.saturating_add(self.w.scalar)))?;
            }
            self.path.pop();
        }
        Ok(())
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

    /// The JSON weight is a lower bound of mlua's serde output: sequences
    /// to their border, holes as `null`, other keys of a sequence dropped.
    #[cfg(feature = "temporal")]
    #[test]
    fn json_weights_stay_under_the_text() {
        let holey = "local a = {} for i = 1, 64 do a[i] = true end
                     for i = 2, 63 do a[i] = nil end return a";
        for src in [
            "return {1, 2, 3}",
            "return {}",
            "return {a = 'x', b = true}",
            "return {{}, {{}}}",
            "return 'caf\\u{e9}\\n\\0'",
            "return {1, 2, 3, pad = string.rep('x', 1000)}",
            "return {x = {[1] = 'one', [2] = 'two'}}",
            "return {1.5, -2^63, 1e300, 0/0 == 0/0}",
            holey,
        ] {
            let lua = Lua::new();
            let values: MultiValue = lua.load(src).eval().expect("the test's chunk runs");
            let w = weigh(&lua, &values, Weights::JSON, usize::MAX, 10).expect("weighed");
            let value = values.into_iter().next().expect("one value");
            let json: serde_json::Value = mlua::LuaSerdeExt::from_value_with(
                &lua,
                value,
                mlua::serde::DeserializeOptions::new().deny_unsupported_types(true),
            )
            .expect("JSON");
            let text = json.to_string();
            assert!(w <= text.len(), "{src}: weighed {w}, JSON is {text}");
        }
    }

    /// A sequence with holes is as long as its border, whatever `next`
    /// finds in it: 2 entries under a border of 65,536 weigh as 65,536.
    #[test]
    fn holes_below_the_border_weigh_as_json_writes_them() {
        let src = "local a = {} for i = 1, 65536 do a[i] = true end
                   for i = 2, 65535 do a[i] = nil end
                   local t = {} for i = 1, 20 do t[i] = a end return t";
        assert_eq!(
            weigh_src(src, Weights::JSON, 1 << 20, 128),
            Err(Overweight::Large)
        );
    }

    /// Holes below the border weigh as elements for Rust readers too.
    #[test]
    fn holes_weigh_for_rust_readers_too() {
        let src = "local a = {} for i = 1, 1 << 20 do a[i] = true end
                   for i = 2, (1 << 20) - 1 do a[i] = nil end
                   local t = {} for i = 1, 100 do t[i] = a end return t";
        assert_eq!(
            weigh_src(src, Weights::RUST, 64 << 20, 128),
            Err(Overweight::Large)
        );
    }

    /// A table that holds itself is weighed once on each path: an object
    /// whose `__index` is itself is an ordinary result.
    #[test]
    fn cycles_are_counted_not_walked_again() {
        let src = "local M = {x = 1} M.__index = M M.self = M return M";
        let w = weigh_src(src, Weights::RUST, usize::MAX, 10).expect("weighed");
        // M, three entries with string keys, the number, M twice more.
        assert_eq!(w, 24 + 3 * 8 + (24 + 1) + (24 + 7) + (24 + 4) + 16 + 2 * 24);
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
