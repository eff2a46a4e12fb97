//! `string.format` and `os.date` with at most [`MAX_CONVERSIONS`]
//! conversions per call, and `string.pack`, `packsize` and `unpack` with
//! formats of at most [`MAX_PACK_FORMAT`] bytes.
//!
//! Both run their whole format in one C call, and a conversion can cost
//! tens of microseconds (`%.99f` of a huge number; `strftime` for each
//! `os.date` conversion), so a long format of them held a worker for
//! seconds with no instruction in between. Short of porting both, each
//! counts the format's conversions first (one pass over it) and refuses a
//! format with more; otherwise it is Lua's own function, called in place
//! (same frame, so the same checks and messages). Only a C function with
//! no upvalues can be called so (it reads nothing of its frame but its
//! arguments); anything else a host put there is left as it is.

use std::ffi::c_int;

use mlua::ffi::{self, lua_State};

/// Conversions one format may hold: at 25 µs for the costliest, a quarter
/// of a second.
const MAX_CONVERSIONS: usize = 10_000;

/// The conversions in `fmt`, weighed: each `%` and what follows it
/// counts `weight(k, letter)` for the `k`-th conversion (0-based, the one
/// that reads argument `k + 2`) and its letter; `%%` counts only where it
/// costs as much as a conversion (`os.date`'s `strftime`). Stops counting
/// past `limit`: the count itself must not be the long loop.
fn conversions(
    fmt: &[u8],
    percent_counts: bool,
    limit: usize,
    weight: impl Fn(usize, u8) -> usize,
) -> usize {
    let mut n = 0;
    let mut k = 0;
    let mut i = 0;
    while let Some(off) = fmt[i..].iter().position(|&c| c == b'%') {
        let next = i + off + 1;
        if fmt.get(next) == Some(&b'%') {
            if percent_counts {
                n += 1;
            }
        } else {
            // The letter after flags, width and precision, which Lua
            // reads within 32 bytes (a scan to the end for each `%` would
            // make the count itself quadratic).
            let letter = fmt[next.min(fmt.len())..]
                .iter()
                .take(32)
                .copied()
                .find(|c| c.is_ascii_alphabetic())
                .unwrap_or(0);
            n += weight(k, letter);
            k += 1;
        }
        if n > limit {
            return n;
        }
        i = (next + 1).min(fmt.len());
    }
    n
}

/// Calls upvalue 1 (Lua's own C function, which has no upvalues of its
/// own: `wrap` checked) in this frame, after refusing a string argument 1
/// with more than [`MAX_CONVERSIONS`].
///
/// # Safety
/// A C closure made by [`wrap`].
unsafe fn capped(l: *mut lua_State, percent_counts: bool) -> c_int {
    // SAFETY: reads argument 1 without converting it (a number is left to
    // Lua's function), raises from a frame that owns nothing, then hands
    // this very call to Lua's function, which reads its arguments and
    // pushes its results as if Lua had called it.
    unsafe {
        if ffi::lua_type(l, 1) == ffi::LUA_TSTRING {
            let mut len = 0usize;
            let p = ffi::lua_tolstring(l, 1, &mut len);
            let fmt = std::slice::from_raw_parts(p.cast::<u8>(), len);
            // `%q` escapes its string byte by byte, a `snprintf` for some:
            // a megabyte of it weighs as much as 4,096 conversions. Only
            // the arguments given are looked at: an index past the top by
            // more than the frame's free slots is not one the C API may
            // be asked about (Lua's API check aborts on it; a format of
            // 21 `%q` and no argument reached it).
            let top = ffi::lua_gettop(l);
            let weight = |k: usize, letter: u8| {
                let arg = c_int::try_from(k).map_or(c_int::MAX, |k| k.saturating_add(2));
                if letter == b'q' && arg <= top && ffi::lua_type(l, arg) == ffi::LUA_TSTRING {
                    1 + ffi::lua_rawlen(l, arg) / 256
                } else {
                    1
                }
            };
            if conversions(fmt, percent_counts, MAX_CONVERSIONS, weight) > MAX_CONVERSIONS {
                let msg = ffi::lua_pushfstring(
                    l,
                    c"more than %d conversions in the format".as_ptr(),
                    MAX_CONVERSIONS as c_int,
                );
                return ffi::luaL_argerror(l, 1, msg);
            }
        }
        call_wrapped(l)
    }
}

/// The longest format `string.pack`, `packsize` and `unpack` take: each
/// byte of one is a step of their loop, and a format of a hundred million
/// spaces (options that do nothing) held a worker for seconds. Real
/// formats are a few dozen bytes.
const MAX_PACK_FORMAT: usize = 1 << 16;

/// As [`capped`], for the `string.pack` family: refuses a format longer
/// than [`MAX_PACK_FORMAT`].
///
/// # Safety
/// A C closure made by [`wrap`].
unsafe extern "C-unwind" fn pack_family(l: *mut lua_State) -> c_int {
    // SAFETY: as `capped`.
    unsafe {
        if ffi::lua_type(l, 1) == ffi::LUA_TSTRING && ffi::lua_rawlen(l, 1) > MAX_PACK_FORMAT {
            let msg = ffi::lua_pushfstring(
                l,
                c"format longer than %d bytes".as_ptr(),
                MAX_PACK_FORMAT as c_int,
            );
            return ffi::luaL_argerror(l, 1, msg);
        }
        call_wrapped(l)
    }
}

/// Hands this call to upvalue 1.
///
/// # Safety
/// A C closure made by [`wrap`] (its upvalue a C function without
/// upvalues).
unsafe fn call_wrapped(l: *mut lua_State) -> c_int {
    // SAFETY: see `capped`.
    unsafe {
        match ffi::lua_tocfunction(l, ffi::lua_upvalueindex(1)) {
            Some(f) => f(l),
            None => ffi::luaL_error(l, c"luamod: the wrapped function is missing".as_ptr()),
        }
    }
}

unsafe extern "C-unwind" fn format(l: *mut lua_State) -> c_int {
    // SAFETY: a closure made by `wrap`.
    unsafe { capped(l, false) }
}

unsafe extern "C-unwind" fn date(l: *mut lua_State) -> c_int {
    // SAFETY: a closure made by `wrap`.
    unsafe { capped(l, true) }
}

/// `f` behind `body` (one of this module's caps); `f` itself if it is not
/// a C function without upvalues.
fn wrap(
    lua: &mlua::Lua,
    f: mlua::Function,
    body: ffi::lua_CFunction,
) -> mlua::Result<mlua::Function> {
    // SAFETY: mlua pushes `f`; the closure reads whether it is a C
    // function and has an upvalue (lua_getupvalue pushes it if so, popped
    // at once), then closes `body` over `f` (or leaves `f` as it is);
    // `body` follows the C function protocol (see `capped`).
    unsafe {
        lua.exec_raw::<mlua::Function>(f, |st| {
            if ffi::lua_tocfunction(st, -1).is_none() {
                return;
            }
            if !ffi::lua_getupvalue(st, -1, 1).is_null() {
                ffi::lua_pop(st, 1);
                return;
            }
            ffi::lua_pushcclosure(st, body, 1);
        })
    }
}

/// Puts the capped `string.format`, `pack`, `packsize` and `unpack` into
/// `string` (before it is frozen).
pub(crate) fn install_format(lua: &mlua::Lua) -> mlua::Result<()> {
    let string: mlua::Table = lua.globals().raw_get("string")?;
    string.raw_set("format", wrap(lua, string.raw_get("format")?, format)?)?;
    for name in ["pack", "packsize", "unpack"] {
        if let Some(f) = string.raw_get::<Option<mlua::Function>>(name)? {
            string.raw_set(name, wrap(lua, f, pack_family)?)?;
        }
    }
    Ok(())
}

/// The capped `os.date`.
pub(crate) fn date_of(lua: &mlua::Lua, os_date: mlua::Function) -> mlua::Result<mlua::Function> {
    wrap(lua, os_date, date)
}

#[cfg(test)]
mod tests {
    use super::conversions;

    #[test]
    fn conversions_are_counted_as_each_function_runs_them() {
        let one = |_, _| 1;
        assert_eq!(conversions(b"", false, 100, one), 0);
        assert_eq!(conversions(b"%d %s%%x %", false, 100, one), 3);
        assert_eq!(conversions(b"%d %s%%x %", true, 100, one), 4);
        assert_eq!(conversions(b"%%%%", false, 100, one), 0);
        assert_eq!(conversions(b"%%%%", true, 100, one), 2);
        // Stops once past the limit.
        assert_eq!(conversions(&b"%d".repeat(1000), false, 10, one), 11);
        // A conversion's letter is looked for within 32 bytes only.
        let q = |_, letter| if letter == b'q' { 100 } else { 1 };
        let far = [b"%".as_slice(), &[b'1'; 40], b"q"].concat();
        assert_eq!(conversions(&far, false, 1000, q), 1);
        // The weight sees each conversion's place and letter.
        let q = |k, letter| if letter == b'q' { 100 + k } else { 1 };
        assert_eq!(conversions(b"%5.2f %q %-3q", false, 1000, q), 1 + 101 + 102);
    }

    const SCRIPT: &str =
        "return table.concat({string.format('%5.2f|%q|%s', 1.5, 'a\\n', {} ~= nil),
        select(2, pcall(string.format, '%d', 'x')),
        select(2, pcall(string.format, '%y', 1)),
        select(2, pcall(string.format)),
        os.date('!%Y-%m-%d %H', 0),
        select(2, pcall(os.date, '%Ez', 0)),
        string.pack('<i4', 7):byte(1), string.packsize('i8'), string.unpack('<i2', '\\1\\0'),
        select(2, pcall(string.pack, 'i17', 1)),
        select(2, pcall(string.unpack, 'i4', 'x'))}, '\\n')";

    /// Lua's own results and messages, and the cap's refusal.
    #[test]
    fn the_capped_functions_are_luas_own_below_the_cap() {
        let lua = mlua::Lua::new();
        let native: String = lua.load(SCRIPT).eval().unwrap();
        super::install_format(&lua).unwrap();
        let os: mlua::Table = lua.globals().get("os").unwrap();
        let date = super::date_of(&lua, os.get("date").unwrap()).unwrap();
        os.set("date", date).unwrap();
        let ours: String = lua.load(SCRIPT).eval().unwrap();
        assert_eq!(native, ours);
        let refused: String = lua
            .load("return select(2, pcall(string.format, ('%d'):rep(10001), 1))")
            .eval()
            .unwrap();
        assert_eq!(
            refused,
            "bad argument #1 to 'string.format' (more than 10000 conversions in the format)"
        );
        let fine: usize = lua
            .load("return #string.format(('%%'):rep(20000) .. ('%d'):rep(10000), table.unpack(table.pack(('1 '):rep(10000):byte(1, -1)), 1, 10000))")
            .eval()
            .unwrap();
        assert!(fine > 20000);
        let refused: String = lua
            .load("return select(2, pcall(os.date, ('%%'):rep(10001)))")
            .eval()
            .unwrap();
        assert_eq!(
            refused,
            "bad argument #1 to 'os.date' (more than 10000 conversions in the format)"
        );
        let refused: String = lua
            .load("return select(2, pcall(string.unpack, (' '):rep(65537), ''))")
            .eval()
            .unwrap();
        assert_eq!(
            refused,
            "bad argument #1 to 'string.unpack' (format longer than 65536 bytes)"
        );
        let quoted: String = lua
            .load("local s = ('\\1'):rep(1 << 20) return select(2, pcall(string.format, ('%q'):rep(3), s, s, s))")
            .eval()
            .unwrap();
        assert_eq!(
            quoted,
            "bad argument #1 to 'string.format' (more than 10000 conversions in the format)"
        );
    }

    /// A function a host put in their place that is not a plain C function
    /// (an mlua closure reads its own upvalue) is left as it is.
    #[test]
    fn other_functions_are_left_unwrapped() {
        let lua = mlua::Lua::new();
        let mine = lua.create_function(|_, s: String| Ok(s.len())).unwrap();
        let same = super::date_of(&lua, mine.clone()).unwrap();
        assert_eq!(same, mine);
        let n: usize = same.call(("%d").repeat(20_000)).unwrap();
        assert_eq!(n, 40_000);
    }
}
