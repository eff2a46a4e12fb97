//! `string.rep`, `table.insert`, `table.remove`, `table.move`,
//! `table.sort`, `table.unpack` and `table.concat` with loops that can be
//! interrupted.
//!
//! Lua runs these loops in C, where no hook fires, and their length comes
//! from the script: `string.rep("", math.maxinteger)` copies nothing a
//! quintillion times, `table.move({}, 1, math.maxinteger, 1)` moves nils,
//! a table whose `__len` says 2^62 makes `insert`/`remove` shift forever,
//! `table.sort` compares with no Lua in between (the default order of
//! long strings), and `table.unpack`/`table.concat` read up to a million
//! elements, each through an `__index` chain of up to 2,000 tables. These
//! are ports of Lua 5.4's `lstrlib.c`/`ltablib.c` (same checks, same
//! messages, same algorithm), asking
//! [`interrupt::requested`] as they go and raising "the process was
//! stopped" when told to.
//!
//! Every function here is a C function whose frame holds only integers
//! and pointers: raising from it skips nothing.

use std::ffi::c_int;

use mlua::ffi::{self, lua_Integer, lua_State};

use crate::ffi::interrupt;

/// Iterations between two questions to [`interrupt::requested`].
const POLL_EVERY: u64 = 1 << 10;

/// Raises if the work should stop (every [`POLL_EVERY`] calls).
///
/// # Safety
/// Called from one of this module's C functions.
#[inline]
unsafe fn poll(l: *mut lua_State, count: &mut u64) {
    // SAFETY: forwarded.
    unsafe { charge(l, count, 1) }
}

/// Counts `units` of work and raises if the work should stop, asking each
/// time the count passes a multiple of [`POLL_EVERY`] (a costly step, such
/// as comparing two long strings, counts for more than one).
///
/// # Safety
/// Called from one of this module's C functions.
#[inline]
unsafe fn charge(l: *mut lua_State, count: &mut u64, units: u64) {
    let before = *count;
    *count = before.saturating_add(units);
    if before / POLL_EVERY != *count / POLL_EVERY && interrupt::requested() {
        // SAFETY: the caller's frame owns nothing.
        unsafe { ffi::luaL_error(l, c"the process was stopped".as_ptr()) };
    }
}

/// `string.rep(s, n [, sep])`, as `str_rep`.
unsafe extern "C-unwind" fn str_rep(l: *mut lua_State) -> c_int {
    // SAFETY: lstrlib's stack work; see the module docs.
    unsafe {
        let mut len = 0usize;
        let s = ffi::luaL_checklstring(l, 1, &mut len);
        let n = ffi::luaL_checkinteger(l, 2);
        let mut lsep = 0usize;
        let sep = ffi::luaL_optlstring(l, 3, c"".as_ptr(), &mut lsep);
        // Lua's MAXSIZE for strings built by the library.
        let maxsize = c_int::MAX as usize;
        if n <= 0 || len + lsep == 0 {
            // (Lua loops `n` times here even when nothing is copied.)
            ffi::lua_pushstring(l, c"".as_ptr());
            return 1;
        }
        if len
            .checked_add(lsep)
            .is_none_or(|unit| unit > maxsize / n as usize)
        {
            return ffi::luaL_error(l, c"resulting string too large".as_ptr());
        }
        let total = n as usize * len + (n as usize - 1) * lsep;
        let mut b: ffi::luaL_Buffer = std::mem::zeroed();
        let start = ffi::luaL_buffinitsize(l, &mut b, total);
        // One copy of `s .. sep`, then doubling what is written: a few
        // large copies instead of `n` small ones, with a poll between.
        let unit = len + lsep;
        let body = (n as usize - 1) * unit;
        if body > 0 {
            std::ptr::copy_nonoverlapping(s, start, len);
            std::ptr::copy_nonoverlapping(sep, start.add(len), lsep);
            let mut done = unit;
            let mut count = 0u64;
            while done < body {
                count += POLL_EVERY - 1;
                poll(l, &mut count);
                let chunk = done.min(body - done);
                std::ptr::copy_nonoverlapping(start, start.add(done), chunk);
                done += chunk;
            }
        }
        std::ptr::copy_nonoverlapping(s, start.add(body), len);
        ffi::luaL_pushresultsize(&mut b, total);
        1
    }
}

const TAB_R: c_int = 1;
const TAB_W: c_int = 2;
const TAB_L: c_int = 4;

/// `checktab`: argument `arg` is a table or behaves like one.
///
/// # Safety
/// As the module's C functions.
unsafe fn check_tab(l: *mut lua_State, arg: c_int, what: c_int) {
    // SAFETY: ltablib's checktab.
    unsafe {
        if ffi::lua_type(l, arg) == ffi::LUA_TTABLE {
            return;
        }
        let mut n = 1;
        let has = |key: &std::ffi::CStr, n: &mut c_int| {
            ffi::lua_pushstring(l, key.as_ptr());
            *n += 1;
            ffi::lua_rawget(l, -*n) != ffi::LUA_TNIL
        };
        if ffi::lua_getmetatable(l, arg) != 0
            && (what & TAB_R == 0 || has(c"__index", &mut n))
            && (what & TAB_W == 0 || has(c"__newindex", &mut n))
            && (what & TAB_L == 0 || has(c"__len", &mut n))
        {
            ffi::lua_pop(l, n);
        } else {
            ffi::luaL_checktype(l, arg, ffi::LUA_TTABLE);
        }
    }
}

/// `aux_getn`: the length of the table argument `n`.
///
/// # Safety
/// As the module's C functions.
unsafe fn aux_getn(l: *mut lua_State, n: c_int, what: c_int) -> lua_Integer {
    // SAFETY: forwarded.
    unsafe {
        check_tab(l, n, what | TAB_L);
        ffi::luaL_len(l, n)
    }
}

/// `table.insert(t, [pos,] v)`, as `tinsert`.
unsafe extern "C-unwind" fn tinsert(l: *mut lua_State) -> c_int {
    // SAFETY: ltablib's stack work; see the module docs.
    unsafe {
        let e = aux_getn(l, 1, TAB_R | TAB_W).wrapping_add(1);
        let pos = match ffi::lua_gettop(l) {
            2 => e,
            3 => {
                let pos = ffi::luaL_checkinteger(l, 2);
                if (pos as u64).wrapping_sub(1) >= e as u64 {
                    return ffi::luaL_argerror(l, 2, c"position out of bounds".as_ptr());
                }
                let mut count = 0u64;
                let mut i = e;
                while i > pos {
                    poll(l, &mut count);
                    ffi::lua_geti(l, 1, i - 1);
                    ffi::lua_seti(l, 1, i);
                    i -= 1;
                }
                pos
            }
            _ => return ffi::luaL_error(l, c"wrong number of arguments to 'insert'".as_ptr()),
        };
        ffi::lua_seti(l, 1, pos);
        0
    }
}

/// `table.remove(t [, pos])`, as `tremove`.
unsafe extern "C-unwind" fn tremove(l: *mut lua_State) -> c_int {
    // SAFETY: ltablib's stack work; see the module docs.
    unsafe {
        let size = aux_getn(l, 1, TAB_R | TAB_W);
        let mut pos = ffi::luaL_optinteger(l, 2, size);
        if pos != size && (pos as u64).wrapping_sub(1) > size as u64 {
            return ffi::luaL_argerror(l, 2, c"position out of bounds".as_ptr());
        }
        ffi::lua_geti(l, 1, pos);
        let mut count = 0u64;
        while pos < size {
            poll(l, &mut count);
            ffi::lua_geti(l, 1, pos + 1);
            ffi::lua_seti(l, 1, pos);
            pos += 1;
        }
        ffi::lua_pushnil(l);
        ffi::lua_seti(l, 1, pos);
        1
    }
}

/// `table.move(a1, f, e, t [, a2])`, as `tmove`.
unsafe extern "C-unwind" fn tmove(l: *mut lua_State) -> c_int {
    // SAFETY: ltablib's stack work; see the module docs.
    unsafe {
        let f = ffi::luaL_checkinteger(l, 2);
        let e = ffi::luaL_checkinteger(l, 3);
        let t = ffi::luaL_checkinteger(l, 4);
        let tt = if ffi::lua_type(l, 5) > ffi::LUA_TNIL {
            5
        } else {
            1
        };
        check_tab(l, 1, TAB_R);
        check_tab(l, tt, TAB_W);
        if e >= f {
            if !(f > 0 || e < lua_Integer::MAX + f) {
                return ffi::luaL_argerror(l, 3, c"too many elements to move".as_ptr());
            }
            let n = e - f + 1;
            if t > lua_Integer::MAX - n + 1 {
                return ffi::luaL_argerror(l, 4, c"destination wrap around".as_ptr());
            }
            let mut count = 0u64;
            if t > e || t <= f || (tt != 1 && ffi::lua_compare(l, 1, tt, ffi::LUA_OPEQ) == 0) {
                for i in 0..n {
                    poll(l, &mut count);
                    ffi::lua_geti(l, 1, f + i);
                    ffi::lua_seti(l, tt, t + i);
                }
            } else {
                for i in (0..n).rev() {
                    poll(l, &mut count);
                    ffi::lua_geti(l, 1, f + i);
                    ffi::lua_seti(l, tt, t + i);
                }
            }
        }
        ffi::lua_pushvalue(l, tt);
        1
    }
}

/// `table.unpack(t [, i [, j]])`, as `tunpack`. Each `lua_geti` may walk
/// an `__index` chain of up to 2,000 tables with no call in between, for up
/// to a million elements.
unsafe extern "C-unwind" fn tunpack(l: *mut lua_State) -> c_int {
    // SAFETY: ltablib's stack work; see the module docs.
    unsafe {
        let mut i = ffi::luaL_optinteger(l, 2, 1);
        let e = if ffi::lua_type(l, 3) <= ffi::LUA_TNIL {
            ffi::luaL_len(l, 1)
        } else {
            ffi::luaL_checkinteger(l, 3)
        };
        if i > e {
            return 0;
        }
        // Elements minus one, computed without overflow.
        let n = (e as u64).wrapping_sub(i as u64);
        if n >= c_int::MAX as u64 || ffi::lua_checkstack(l, n as c_int + 1) == 0 {
            return ffi::luaL_error(l, c"too many results to unpack".as_ptr());
        }
        let mut count = 0u64;
        while i < e {
            poll(l, &mut count);
            ffi::lua_geti(l, 1, i);
            i += 1;
        }
        ffi::lua_geti(l, 1, e);
        n as c_int + 1
    }
}

/// `addfield` of `tconcat`: appends `t[i]`, which must be a string or a
/// number.
///
/// # Safety
/// As the module's C functions, with the buffer's box on top of the stack.
unsafe fn add_field(l: *mut lua_State, b: *mut ffi::luaL_Buffer, i: lua_Integer) {
    // SAFETY: pushes one value and moves it into the buffer, or raises
    // with nothing owned (the index is formatted by Lua).
    unsafe {
        ffi::lua_geti(l, 1, i);
        if ffi::lua_isstring(l, -1) == 0 {
            let kind = ffi::lua_typename(l, ffi::lua_type(l, -1));
            ffi::lua_pushinteger(l, i);
            let index = ffi::lua_tolstring(l, -1, std::ptr::null_mut());
            ffi::luaL_error(
                l,
                c"invalid value (%s) at index %s in table for 'concat'".as_ptr(),
                kind,
                index,
            );
        }
        ffi::luaL_addvalue(b);
    }
}

/// `table.concat(t [, sep [, i [, j]]])`, as `tconcat`: the same walk per
/// element as `unpack`, over a range the script chooses.
unsafe extern "C-unwind" fn tconcat(l: *mut lua_State) -> c_int {
    // SAFETY: ltablib's stack work; see the module docs. The buffer is not
    // moved after `luaL_buffinit` (it may point into itself).
    unsafe {
        let last = aux_getn(l, 1, TAB_R);
        let mut lsep = 0usize;
        let sep = ffi::luaL_optlstring(l, 2, c"".as_ptr(), &mut lsep);
        let mut i = ffi::luaL_optinteger(l, 3, 1);
        let last = ffi::luaL_optinteger(l, 4, last);
        let mut b: ffi::luaL_Buffer = std::mem::zeroed();
        ffi::luaL_buffinit(l, &mut b);
        let mut count = 0u64;
        while i < last {
            poll(l, &mut count);
            add_field(l, &mut b, i);
            ffi::luaL_addlstring(&mut b, sep, lsep);
            i += 1;
        }
        if i == last {
            add_field(l, &mut b, i);
        }
        ffi::luaL_pushresult(&mut b);
        1
    }
}

/// The state of one `sort`: comparisons so far (for polling).
struct Sort {
    l: *mut lua_State,
    count: u64,
}

impl Sort {
    /// # Safety
    /// As the module's C functions.
    unsafe fn set2(&self, i: u32, j: u32) {
        // SAFETY: two values on top, stored into the table.
        unsafe {
            ffi::lua_seti(self.l, 1, i as lua_Integer);
            ffi::lua_seti(self.l, 1, j as lua_Integer);
        }
    }

    /// # Safety
    /// As the module's C functions.
    unsafe fn geti(&self, i: u32) {
        // SAFETY: pushes one value.
        unsafe { ffi::lua_geti(self.l, 1, i as lua_Integer) };
    }

    /// `sort_comp`: whether the value at `a` sorts before the one at `b`.
    ///
    /// # Safety
    /// As the module's C functions.
    unsafe fn less(&mut self, a: c_int, b: c_int) -> bool {
        let l = self.l;
        // SAFETY: ltablib's sort_comp.
        unsafe {
            if ffi::lua_type(l, 2) == ffi::LUA_TNIL {
                // Two strings compare in time of their length: a unit per
                // 256 bytes of the shorter (a comparator, Lua or C, is
                // reached by the hook instead).
                let units = if ffi::lua_type(l, a) == ffi::LUA_TSTRING
                    && ffi::lua_type(l, b) == ffi::LUA_TSTRING
                {
                    (ffi::lua_rawlen(l, a).min(ffi::lua_rawlen(l, b)) / 256) as u64
                } else {
                    0
                };
                charge(l, &mut self.count, 1 + units);
                return ffi::lua_compare(l, a, b, ffi::LUA_OPLT) != 0;
            }
            poll(l, &mut self.count);
            ffi::lua_pushvalue(l, 2);
            ffi::lua_pushvalue(l, a - 1);
            ffi::lua_pushvalue(l, b - 2);
            ffi::lua_call(l, 2, 1);
            let res = ffi::lua_toboolean(l, -1) != 0;
            ffi::lua_pop(l, 1);
            res
        }
    }

    /// # Safety
    /// As the module's C functions; the pivot is on top.
    unsafe fn partition(&mut self, lo: u32, up: u32) -> u32 {
        let l = self.l;
        let mut i = lo;
        let mut j = up - 1;
        // SAFETY: ltablib's partition.
        unsafe {
            loop {
                loop {
                    i += 1;
                    self.geti(i);
                    if !self.less(-1, -2) {
                        break;
                    }
                    if i == up - 1 {
                        ffi::luaL_error(l, c"invalid order function for sorting".as_ptr());
                    }
                    ffi::lua_pop(l, 1);
                }
                loop {
                    j -= 1;
                    self.geti(j);
                    if !self.less(-3, -1) {
                        break;
                    }
                    if j < i {
                        ffi::luaL_error(l, c"invalid order function for sorting".as_ptr());
                    }
                    ffi::lua_pop(l, 1);
                }
                if j < i {
                    ffi::lua_pop(l, 1);
                    self.set2(up - 1, i);
                    return i;
                }
                self.set2(i, j);
            }
        }
    }

    /// `auxsort` (no randomised pivots: an imbalance costs time, which
    /// the polling bounds).
    ///
    /// # Safety
    /// As the module's C functions.
    unsafe fn sort(&mut self, mut lo: u32, mut up: u32) {
        let l = self.l;
        // SAFETY: ltablib's auxsort.
        unsafe {
            while lo < up {
                self.geti(lo);
                self.geti(up);
                if self.less(-1, -2) {
                    self.set2(lo, up);
                } else {
                    ffi::lua_pop(l, 2);
                }
                if up - lo == 1 {
                    return;
                }
                let p = (lo + up) / 2;
                self.geti(p);
                self.geti(lo);
                if self.less(-2, -1) {
                    self.set2(p, lo);
                } else {
                    ffi::lua_pop(l, 1);
                    self.geti(up);
                    if self.less(-1, -2) {
                        self.set2(p, up);
                    } else {
                        ffi::lua_pop(l, 2);
                    }
                }
                if up - lo == 2 {
                    return;
                }
                self.geti(p);
                ffi::lua_pushvalue(l, -1);
                self.geti(up - 1);
                self.set2(p, up - 1);
                let p = self.partition(lo, up);
                if p - lo < up - p {
                    self.sort(lo, p - 1);
                    lo = p + 1;
                } else {
                    self.sort(p + 1, up);
                    up = p - 1;
                }
            }
        }
    }
}

/// `table.sort(t [, comp])`, as `sort`.
unsafe extern "C-unwind" fn sort(l: *mut lua_State) -> c_int {
    // SAFETY: ltablib's stack work; see the module docs.
    unsafe {
        let n = aux_getn(l, 1, TAB_R | TAB_W);
        if n > 1 {
            if n >= c_int::MAX as lua_Integer {
                return ffi::luaL_argerror(l, 1, c"array too big".as_ptr());
            }
            if ffi::lua_type(l, 2) > ffi::LUA_TNIL {
                ffi::luaL_checktype(l, 2, ffi::LUA_TFUNCTION);
            }
            ffi::lua_settop(l, 2);
            Sort { l, count: 0 }.sort(1, n as u32);
        }
        0
    }
}

/// Puts the interruptible versions into `string` and `table` (before they
/// are frozen).
pub(crate) fn install(lua: &mlua::Lua) -> mlua::Result<()> {
    let g = lua.globals();
    let string: mlua::Table = g.raw_get("string")?;
    let table: mlua::Table = g.raw_get("table")?;
    // SAFETY: each follows the C function protocol and owns nothing when
    // it raises.
    unsafe {
        string.raw_set("rep", lua.create_c_function(str_rep)?)?;
        table.raw_set("insert", lua.create_c_function(tinsert)?)?;
        table.raw_set("remove", lua.create_c_function(tremove)?)?;
        table.raw_set("move", lua.create_c_function(tmove)?)?;
        table.raw_set("sort", lua.create_c_function(sort)?)?;
        table.raw_set("concat", lua.create_c_function(tconcat)?)?;
        table.raw_set("unpack", lua.create_c_function(tunpack)?)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    /// The ports give Lua's results and messages. They port Lua 5.4's
    /// library, which 5.3's differs from in places (argument numbers in
    /// `table.remove` messages), so the comparison is with 5.4.
    #[test]
    fn the_ports_match_lua() {
        let script = r#"
            local out = {}
            local function rec(...)
              local t = table.pack(...)
              for i = 1, t.n do
                local v = t[i]
                if type(v) == "table" then
                  local parts = {}
                  for k = 1, 12 do parts[k] = tostring(v[k]) end
                  v = "{" .. table.concat(parts, ",") .. "}"
                end
                t[i] = tostring(v)
              end
              out[#out + 1] = table.concat(t, "|", 1, t.n)
            end
            local function T(...) return { ... } end
            rec(pcall(string.rep, "ab", 3, ","))
            rec(pcall(string.rep, "ab", 0))
            rec(pcall(string.rep, "", 5, ""))
            rec(pcall(string.rep, "x", -1, ","))
            rec(pcall(string.rep, "x", 1))
            rec(pcall(string.rep, "x", 2^31))
            rec(pcall(string.rep))
            rec(pcall(string.rep, "x", 1.5))
            rec(pcall(string.rep, 12, 2, 3))
            for _, args in ipairs({ {T(1, 2, 3), "x"}, {T(1, 2, 3), 1, "x"}, {T(1, 2, 3), 4, "x"},
                {T(1, 2, 3), 5, "x"}, {T(1, 2, 3), 0, "x"}, {T(), 1, "x"}, {T(1), 1, "x", "y"} }) do
              local t = args[1]
              rec(pcall(table.insert, table.unpack(args, 1, #args)))
              rec(t)
            end
            rec(pcall(table.insert, nil, 1))
            rec(pcall(table.insert, T(1), "a", 2))
            for _, pos in ipairs({ 1, 2, 3, 4, 5, 0, -1 }) do
              local t = T(1, 2, 3)
              rec(pcall(table.remove, t, pos))
              rec(t)
            end
            rec(pcall(table.remove, T()))
            rec(pcall(table.remove, T(), 0))
            rec(pcall(table.remove, T(), 1))
            rec(pcall(table.remove, T(), 2))
            for _, a in ipairs({ {1, 3, 2}, {1, 3, 3}, {2, 4, 1}, {1, 0, 1}, {3, 1, 5},
                {math.mininteger, -1, 1}, {1, math.maxinteger, 2}, {-1, 1, 1} }) do
              local t = T(1, 2, 3, 4, 5)
              rec(pcall(table.move, t, a[1], a[2], a[3]))
              rec(t)
              local dst = T()
              rec(pcall(table.move, t, a[1], a[2], a[3], dst))
              rec(dst)
            end
            rec(pcall(table.move, 1, 1, 1, 1))
            rec(pcall(table.move, T(), 1, 1))
            local seed = 7
            local function rnd(n) seed = (seed * 1103515245 + 12345) % 2147483648 return seed % n + 1 end
            for k = 1, 200 do
              local n = rnd(40)
              local t = {}
              for i = 1, n do t[i] = rnd(20) end
              local u = {}
              for i = 1, n do u[i] = tostring(t[i]) end
              rec(pcall(table.sort, t))
              rec(table.concat(t, ","))
              rec(pcall(table.sort, u, function(a, b) return a > b end))
              rec(table.concat(u, ","))
            end
            rec(pcall(table.sort, { 3, 1, 2, 5, 4, 7, 6 }, function(a, b) return true end))
            rec(pcall(table.sort, { 3, "a", 2 }))
            rec(pcall(table.sort, { 1, 2 }, 3))
            rec(pcall(table.sort, 3))
            local proxy = setmetatable({}, { __index = function(_, i) return 10 - i end,
              __newindex = function() end, __len = function() return 5 end })
            rec(pcall(table.sort, proxy))
            rec(pcall(table.unpack, proxy))
            rec(pcall(table.unpack, T(1, 2, 3)))
            rec(pcall(table.unpack, T(1, 2, 3), 2))
            rec(pcall(table.unpack, T(1, 2, 3), 2, 5))
            rec(pcall(table.unpack, T(1, 2, 3), 3, 2))
            rec(pcall(table.unpack, T(1, 2, 3), -1, 1))
            rec(pcall(table.unpack, T(), math.mininteger, math.maxinteger))
            rec(pcall(table.unpack, T(), 1, 1e7))
            rec(pcall(table.unpack, T(), 1, 1.5))
            rec(pcall(table.unpack, 3))
            rec(pcall(table.unpack, "abc", 1, 2))
            rec(pcall(table.concat, proxy, "-"))
            rec(pcall(table.concat, T(1, 2, "x")))
            rec(pcall(table.concat, T(1, 2.5, 3), ", "))
            rec(pcall(table.concat, T(1, 2, 3), ", ", 2))
            rec(pcall(table.concat, T(1, 2, 3), ", ", 2, 5))
            rec(pcall(table.concat, T(1, {}, 3)))
            rec(pcall(table.concat, T(1, 2, 3), {}))
            rec(pcall(table.concat, T(1, 2, 3), "", 3, 1))
            rec(pcall(table.concat, T(1, 2, 3), "", math.maxinteger))
            rec(pcall(table.concat, T(1, 2, 3), "", math.mininteger))
            rec(pcall(table.concat, 3))
            rec(pcall(table.concat, setmetatable({}, { __index = function(_, i) return i end }), "", 1, 4))
            rec(pcall(table.insert, setmetatable({}, { __len = function() return 2 end }), 1, 1))
            return table.concat(out, "\n")
        "#;
        let run = |ours: bool| {
            let lua = mlua::Lua::new();
            if ours {
                super::install(&lua).unwrap();
            }
            lua.load(script).eval::<String>().unwrap()
        };
        super::super::assert_same_lines(&run(false), &run(true));
    }
}
