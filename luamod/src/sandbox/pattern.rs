//! `string.find`, `match`, `gmatch` and `gsub` with a matcher that can be
//! interrupted.
//!
//! Lua's pattern matcher runs entirely in C: a crafted pattern backtracks
//! for minutes (`("a"):rep(40):find(("a?"):rep(40) .. ("a"):rep(40))`) and
//! no hook can stop it, because hooks run only between Lua instructions.
//! This is the same matcher, ported from Lua 5.4's `lstrlib.c` line for
//! line (same semantics, same error messages), that asks
//! [`crate::ffi::interrupt::requested`] every few thousand units of work
//! whether to give up, and then raises "the process was stopped". A unit
//! is a matching step or a byte that one step scans (a bracket class
//! compared, a `%b` balance or a `%1` capture scanned), so one step over a
//! long class or subject cannot run for long between two questions.
//!
//! The argument checks use Lua's own `luaL_check*` functions, so their
//! messages are Lua's. Matching returns errors as values and raises only
//! from the outer C function, whose frame owns nothing.
//!
//! Owns: the four functions. Never: allocates on the Rust heap (the
//! replacement string of `gsub` is built in a `luaL_Buffer`).

use std::ffi::c_int;

use mlua::ffi::{self, lua_State};

use crate::ffi::interrupt;

const MAXCAPTURES: usize = 32;
const MAXCCALLS: i32 = 200;
const CAP_UNFINISHED: isize = -1;
const CAP_POSITION: isize = -2;
const L_ESC: u8 = b'%';
const SPECIALS: &[u8] = b"^$*+?.([%-";
/// Units of work between two questions to [`interrupt::requested`].
const POLL_EVERY: u64 = 1 << 12;

/// Why a match gave up (raised by the caller, after the match).
#[derive(Clone, Copy)]
enum Fail {
    /// A message with no argument.
    Msg(&'static std::ffi::CStr),
    /// "invalid capture index %N..." with the index.
    CaptureIndex(c_int),
    Stopped,
}

type Res<T> = Result<T, Fail>;

struct MatchState<'a> {
    src: &'a [u8],
    pat: &'a [u8],
    matchdepth: i32,
    level: usize,
    capture: [(usize, isize); MAXCAPTURES],
    /// Work done so far, in steps and bytes scanned (see `charge`).
    work: u64,
    /// When to ask next whether to stop.
    next_poll: u64,
}

/// The byte at `i`, or 0 past the end (Lua's strings end with a `\0` that
/// the C code reads).
#[inline]
fn at(s: &[u8], i: usize) -> u8 {
    s.get(i).copied().unwrap_or(0)
}

impl<'a> MatchState<'a> {
    fn new(src: &'a [u8], pat: &'a [u8]) -> Self {
        MatchState {
            src,
            pat,
            matchdepth: MAXCCALLS,
            level: 0,
            capture: [(0, 0); MAXCAPTURES],
            work: 0,
            next_poll: POLL_EVERY,
        }
    }

    fn reprep(&mut self) {
        self.matchdepth = MAXCCALLS;
        self.level = 0;
    }

    #[inline]
    fn tick(&mut self) -> Res<()> {
        self.charge(1)
    }

    /// Counts `units` of work (a matching step, or a byte of a scan that
    /// one step makes: a class's bytes compared, a balance or a capture
    /// scanned) and asks whether to stop every `POLL_EVERY` units, so no
    /// single step can run for long between two questions.
    #[inline]
    fn charge(&mut self, units: usize) -> Res<()> {
        self.work = self.work.saturating_add(units as u64);
        if self.work >= self.next_poll {
            self.next_poll = self.work.saturating_add(POLL_EVERY);
            if interrupt::requested() {
                return Err(Fail::Stopped);
            }
        }
        Ok(())
    }

    fn check_capture(&self, l: u8) -> Res<usize> {
        let l = l as c_int - b'1' as c_int;
        if l < 0 || l as usize >= self.level || self.capture[l as usize].1 == CAP_UNFINISHED {
            return Err(Fail::CaptureIndex(l + 1));
        }
        Ok(l as usize)
    }

    fn capture_to_close(&self) -> Res<usize> {
        (0..self.level)
            .rev()
            .find(|&l| self.capture[l].1 == CAP_UNFINISHED)
            .ok_or(Fail::Msg(c"invalid pattern capture"))
    }

    fn class_end(&self, mut p: usize) -> Res<usize> {
        let c = at(self.pat, p);
        p += 1;
        match c {
            L_ESC => {
                if p == self.pat.len() {
                    return Err(Fail::Msg(c"malformed pattern (ends with '%')"));
                }
                Ok(p + 1)
            }
            b'[' => {
                if at(self.pat, p) == b'^' {
                    p += 1;
                }
                loop {
                    if p == self.pat.len() {
                        return Err(Fail::Msg(c"malformed pattern (missing ']')"));
                    }
                    let c = at(self.pat, p);
                    p += 1;
                    if c == L_ESC && p < self.pat.len() {
                        p += 1;
                    }
                    if at(self.pat, p) == b']' {
                        break;
                    }
                }
                Ok(p + 1)
            }
            _ => Ok(p),
        }
    }

    fn single_match(&self, s: usize, p: usize, ep: usize) -> bool {
        if s >= self.src.len() {
            return false;
        }
        let c = self.src[s];
        match at(self.pat, p) {
            b'.' => true,
            L_ESC => match_class(c, at(self.pat, p + 1)),
            b'[' => match_bracket_class(c, self.pat, p, ep - 1),
            pc => pc == c,
        }
    }

    fn match_balance(&mut self, s: usize, p: usize) -> Res<Option<usize>> {
        if p + 1 >= self.pat.len() {
            return Err(Fail::Msg(c"malformed pattern (missing arguments to '%b')"));
        }
        if at(self.src, s) != self.pat[p] {
            return Ok(None);
        }
        let (b, e) = (self.pat[p], self.pat[p + 1]);
        let mut start = s;
        let mut cont = 1;
        let mut s = s;
        let end = loop {
            s += 1;
            if s >= self.src.len() {
                break None;
            }
            // Charged as it goes: a subject may be gigabytes long.
            if s - start == POLL_EVERY as usize {
                self.charge(s - start)?;
                start = s;
            }
            if self.src[s] == e {
                cont -= 1;
                if cont == 0 {
                    break Some(s + 1);
                }
            } else if self.src[s] == b {
                cont += 1;
            }
        };
        self.charge(s - start)?;
        Ok(end)
    }

    fn max_expand(&mut self, s: usize, p: usize, ep: usize) -> Res<Option<usize>> {
        let mut i = 0usize;
        while self.single_match(s + i, p, ep) {
            i += 1;
            // Each byte costs the class's length (a bracket class is
            // compared byte by byte).
            self.charge(ep - p)?;
        }
        loop {
            self.tick()?;
            if let Some(res) = self.do_match(s + i, ep + 1)? {
                return Ok(Some(res));
            }
            if i == 0 {
                return Ok(None);
            }
            i -= 1;
        }
    }

    fn min_expand(&mut self, mut s: usize, p: usize, ep: usize) -> Res<Option<usize>> {
        loop {
            self.tick()?;
            if let Some(res) = self.do_match(s, ep + 1)? {
                return Ok(Some(res));
            } else if self.single_match(s, p, ep) {
                self.charge(ep - p)?;
                s += 1;
            } else {
                return Ok(None);
            }
        }
    }

    fn start_capture(&mut self, s: usize, p: usize, what: isize) -> Res<Option<usize>> {
        let level = self.level;
        if level >= MAXCAPTURES {
            return Err(Fail::Msg(c"too many captures"));
        }
        self.capture[level] = (s, what);
        self.level = level + 1;
        let res = self.do_match(s, p)?;
        if res.is_none() {
            self.level -= 1;
        }
        Ok(res)
    }

    fn end_capture(&mut self, s: usize, p: usize) -> Res<Option<usize>> {
        let l = self.capture_to_close()?;
        self.capture[l].1 = (s - self.capture[l].0) as isize;
        let res = self.do_match(s, p)?;
        if res.is_none() {
            self.capture[l].1 = CAP_UNFINISHED;
        }
        Ok(res)
    }

    fn match_capture(&mut self, s: usize, l: u8) -> Res<Option<usize>> {
        let l = self.check_capture(l)?;
        let (init, len) = self.capture[l];
        let len = len as usize;
        self.charge(len)?;
        if self.src.len() - s >= len && self.src[init..init + len] == self.src[s..s + len] {
            Ok(Some(s + len))
        } else {
            Ok(None)
        }
    }

    /// `match` of lstrlib: the end of the match of `pat[p..]` at `s`.
    fn do_match(&mut self, s: usize, p: usize) -> Res<Option<usize>> {
        if self.matchdepth == 0 {
            return Err(Fail::Msg(c"pattern too complex"));
        }
        self.matchdepth -= 1;
        self.tick()?;
        let r = self.match_body(s, p);
        self.matchdepth += 1;
        r
    }

    fn match_body(&mut self, mut s: usize, mut p: usize) -> Res<Option<usize>> {
        loop {
            if p == self.pat.len() {
                return Ok(Some(s));
            }
            match self.pat[p] {
                b'(' => {
                    return if at(self.pat, p + 1) == b')' {
                        self.start_capture(s, p + 2, CAP_POSITION)
                    } else {
                        self.start_capture(s, p + 1, CAP_UNFINISHED)
                    };
                }
                b')' => return self.end_capture(s, p + 1),
                b'$' if p + 1 == self.pat.len() => {
                    return Ok((s == self.src.len()).then_some(s));
                }
                L_ESC if at(self.pat, p + 1) == b'b' => match self.match_balance(s, p + 2)? {
                    Some(e) => {
                        s = e;
                        p += 4;
                        continue;
                    }
                    None => return Ok(None),
                },
                L_ESC if at(self.pat, p + 1) == b'f' => {
                    p += 2;
                    if at(self.pat, p) != b'[' {
                        return Err(Fail::Msg(c"missing '[' after '%f' in pattern"));
                    }
                    let ep = self.class_end(p)?;
                    self.charge(ep - p)?;
                    let previous = if s == 0 { 0 } else { self.src[s - 1] };
                    if !match_bracket_class(previous, self.pat, p, ep - 1)
                        && match_bracket_class(at(self.src, s), self.pat, p, ep - 1)
                    {
                        p = ep;
                        continue;
                    }
                    return Ok(None);
                }
                L_ESC if at(self.pat, p + 1).is_ascii_digit() => {
                    match self.match_capture(s, at(self.pat, p + 1))? {
                        Some(e) => {
                            s = e;
                            p += 2;
                            continue;
                        }
                        None => return Ok(None),
                    }
                }
                _ => {
                    let ep = self.class_end(p)?;
                    // Finding the class's end and matching a byte against
                    // it scan the class.
                    self.charge(ep - p)?;
                    let suffix = at(self.pat, ep);
                    if !self.single_match(s, p, ep) {
                        if matches!(suffix, b'*' | b'?' | b'-') {
                            p = ep + 1;
                            continue;
                        }
                        return Ok(None);
                    }
                    match suffix {
                        b'?' => {
                            if let Some(res) = self.do_match(s + 1, ep + 1)? {
                                return Ok(Some(res));
                            }
                            p = ep + 1;
                            continue;
                        }
                        b'+' => return self.max_expand(s + 1, p, ep),
                        b'*' => return self.max_expand(s, p, ep),
                        b'-' => return self.min_expand(s, p, ep),
                        _ => {
                            s += 1;
                            p = ep;
                            continue;
                        }
                    }
                }
            }
        }
    }
}

fn match_class(c: u8, cl: u8) -> bool {
    let res = match cl.to_ascii_lowercase() {
        b'a' => c.is_ascii_alphabetic(),
        b'c' => c.is_ascii_control(),
        b'd' => c.is_ascii_digit(),
        b'g' => c.is_ascii_graphic(),
        b'l' => c.is_ascii_lowercase(),
        b'p' => c.is_ascii_punctuation(),
        b's' => matches!(c, b' ' | b'\t' | b'\n' | 0x0b | 0x0c | b'\r'),
        b'u' => c.is_ascii_uppercase(),
        b'w' => c.is_ascii_alphanumeric(),
        b'x' => c.is_ascii_hexdigit(),
        b'z' => c == 0,
        _ => return cl == c,
    };
    if cl.is_ascii_lowercase() { res } else { !res }
}

/// `p` is at the `[`, `ec` at the closing `]`.
fn match_bracket_class(c: u8, pat: &[u8], mut p: usize, ec: usize) -> bool {
    let mut sig = true;
    if at(pat, p + 1) == b'^' {
        sig = false;
        p += 1;
    }
    loop {
        p += 1;
        if p >= ec {
            return !sig;
        }
        if pat[p] == L_ESC {
            p += 1;
            if match_class(c, at(pat, p)) {
                return sig;
            }
        } else if at(pat, p + 1) == b'-' && p + 2 < ec {
            p += 2;
            if pat[p - 2] <= c && c <= pat[p] {
                return sig;
            }
        } else if pat[p] == c {
            return sig;
        }
    }
}

/// Raises `f`. The caller's frame owns nothing.
///
/// # Safety
/// Called from a C function of `l`.
unsafe fn raise(l: *mut lua_State, f: Fail) -> c_int {
    // SAFETY: forwarded; luaL_error formats the message and raises.
    unsafe {
        match f {
            Fail::Msg(m) => ffi::luaL_error(l, c"%s".as_ptr(), m.as_ptr()),
            Fail::CaptureIndex(i) => {
                ffi::luaL_error(l, c"invalid capture index %%%d".as_ptr(), i as c_int)
            }
            Fail::Stopped => ffi::luaL_error(l, c"the process was stopped".as_ptr()),
        }
    }
}

/// The bytes of the string at `idx` (checked as `luaL_checklstring`). The
/// slice lives as long as the value stays on the stack.
///
/// # Safety
/// Called from a C function of `l`; may raise.
unsafe fn check_bytes<'a>(l: *mut lua_State, idx: c_int) -> &'a [u8] {
    // SAFETY: luaL_checklstring returns a pointer to `len` bytes that live
    // while the string is on the stack.
    unsafe {
        let mut len = 0usize;
        let p = ffi::luaL_checklstring(l, idx, &mut len);
        std::slice::from_raw_parts(p.cast::<u8>(), len)
    }
}

fn posrelat_i(pos: ffi::lua_Integer, len: usize) -> usize {
    if pos > 0 {
        pos as usize
    } else if pos == 0 || pos < -(len as ffi::lua_Integer) {
        1
    } else {
        (len as ffi::lua_Integer + pos + 1) as usize
    }
}

/// Pushes capture `i` (or the whole match `s..e` when there is none).
///
/// # Safety
/// As `raise`.
unsafe fn push_one_capture(
    l: *mut lua_State,
    ms: &MatchState,
    i: usize,
    s: usize,
    e: usize,
) -> Res<()> {
    // SAFETY: pushes one value.
    unsafe {
        if i >= ms.level {
            if i != 0 {
                return Err(Fail::CaptureIndex(i as c_int + 1));
            }
            ffi::lua_pushlstring(l, ms.src[s..e].as_ptr().cast(), e - s);
            return Ok(());
        }
        let (init, len) = ms.capture[i];
        if len == CAP_UNFINISHED {
            return Err(Fail::Msg(c"unfinished capture"));
        }
        if len == CAP_POSITION {
            ffi::lua_pushinteger(l, init as ffi::lua_Integer + 1);
        } else {
            let len = len as usize;
            ffi::lua_pushlstring(l, ms.src[init..init + len].as_ptr().cast(), len);
        }
        Ok(())
    }
}

/// Pushes every capture (or the whole match `s..e` when `whole` and there
/// is none); returns how many.
///
/// # Safety
/// As `raise`.
unsafe fn push_captures(
    l: *mut lua_State,
    ms: &MatchState,
    whole: Option<(usize, usize)>,
) -> Res<c_int> {
    // SAFETY: checks room, then pushes.
    unsafe {
        let n = if ms.level == 0 && whole.is_some() {
            1
        } else {
            ms.level
        };
        ffi::luaL_checkstack(l, n as c_int, c"too many captures".as_ptr());
        let (s, e) = whole.unwrap_or((0, 0));
        for i in 0..n {
            push_one_capture(l, ms, i, s, e)?;
        }
        Ok(n as c_int)
    }
}

fn no_specials(p: &[u8]) -> bool {
    !p.iter().any(|c| SPECIALS.contains(c))
}

/// `lmemfind`: where `needle` first occurs in `s`, asking
/// [`interrupt::requested`] every few MiB of comparisons (a long needle of
/// repeated bytes costs its length at every position).
fn memfind(s: &[u8], needle: &[u8]) -> Res<Option<usize>> {
    if needle.is_empty() {
        return Ok(Some(0));
    }
    if needle.len() > s.len() {
        return Ok(None);
    }
    let last = s.len() - needle.len();
    let mut work = 0usize;
    let mut i = 0;
    while i <= last {
        let Some(off) = s[i..=last].iter().position(|&c| c == needle[0]) else {
            return Ok(None);
        };
        i += off;
        if s[i..i + needle.len()] == *needle {
            return Ok(Some(i));
        }
        work += off + needle.len();
        if work > 1 << 22 {
            work = 0;
            if interrupt::requested() {
                return Err(Fail::Stopped);
            }
        }
        i += 1;
    }
    Ok(None)
}

/// `str_find_aux`: the results pushed, or the failure.
///
/// # Safety
/// As `raise`; arguments are checked first (they may raise).
unsafe fn find_aux(l: *mut lua_State, find: bool) -> Res<c_int> {
    // SAFETY: lstrlib's stack work.
    unsafe {
        let s = check_bytes(l, 1);
        let p = check_bytes(l, 2);
        let init = posrelat_i(ffi::luaL_optinteger(l, 3, 1), s.len()) - 1;
        if init > s.len() {
            ffi::lua_pushnil(l);
            return Ok(1);
        }
        if find && (ffi::lua_toboolean(l, 4) != 0 || no_specials(p)) {
            if let Some(at) = memfind(&s[init..], p)? {
                let start = init + at;
                ffi::lua_pushinteger(l, start as ffi::lua_Integer + 1);
                ffi::lua_pushinteger(l, (start + p.len()) as ffi::lua_Integer);
                return Ok(2);
            }
        } else {
            let anchor = at(p, 0) == b'^';
            let p = if anchor { &p[1..] } else { p };
            let mut ms = MatchState::new(s, p);
            let mut s1 = init;
            loop {
                ms.reprep();
                if let Some(res) = ms.do_match(s1, 0)? {
                    if find {
                        ffi::lua_pushinteger(l, s1 as ffi::lua_Integer + 1);
                        ffi::lua_pushinteger(l, res as ffi::lua_Integer);
                        return Ok(push_captures(l, &ms, None)? + 2);
                    }
                    return push_captures(l, &ms, Some((s1, res)));
                }
                s1 += 1;
                if s1 > s.len() || anchor {
                    break;
                }
            }
        }
        ffi::lua_pushnil(l);
        Ok(1)
    }
}

unsafe extern "C-unwind" fn str_find(l: *mut lua_State) -> c_int {
    // SAFETY: this frame owns nothing; failures are raised after matching.
    unsafe { find_aux(l, true).unwrap_or_else(|f| raise(l, f)) }
}

unsafe extern "C-unwind" fn str_match(l: *mut lua_State) -> c_int {
    // SAFETY: as `str_find`.
    unsafe { find_aux(l, false).unwrap_or_else(|f| raise(l, f)) }
}

/// `gmatch(s, p [, init])`: a closure over `s`, `p`, the next position and
/// the end of the last match (upvalues 1–4).
unsafe extern "C-unwind" fn gmatch(l: *mut lua_State) -> c_int {
    // SAFETY: lstrlib's stack work; this frame owns nothing.
    unsafe {
        let s = check_bytes(l, 1);
        check_bytes(l, 2);
        let mut init = posrelat_i(ffi::luaL_optinteger(l, 3, 1), s.len()) - 1;
        if init > s.len() {
            init = s.len() + 1;
        }
        ffi::lua_settop(l, 2);
        ffi::lua_pushinteger(l, init as ffi::lua_Integer);
        ffi::lua_pushinteger(l, -1);
        ffi::lua_pushcclosure(l, gmatch_aux, 4);
        1
    }
}

unsafe fn gmatch_step(l: *mut lua_State) -> Res<c_int> {
    // SAFETY: the upvalues `gmatch` set.
    unsafe {
        let s = check_bytes(l, ffi::lua_upvalueindex(1));
        let p = check_bytes(l, ffi::lua_upvalueindex(2));
        let mut src = ffi::lua_tointeger(l, ffi::lua_upvalueindex(3)) as usize;
        let last = ffi::lua_tointeger(l, ffi::lua_upvalueindex(4));
        let mut ms = MatchState::new(s, p);
        while src <= s.len() {
            ms.reprep();
            if let Some(e) = ms.do_match(src, 0)?
                && e as ffi::lua_Integer != last
            {
                ffi::lua_pushinteger(l, e as ffi::lua_Integer);
                ffi::lua_replace(l, ffi::lua_upvalueindex(3));
                ffi::lua_pushinteger(l, e as ffi::lua_Integer);
                ffi::lua_replace(l, ffi::lua_upvalueindex(4));
                return push_captures(l, &ms, Some((src, e)));
            }
            src += 1;
        }
        ffi::lua_pushinteger(l, src as ffi::lua_Integer);
        ffi::lua_replace(l, ffi::lua_upvalueindex(3));
        Ok(0)
    }
}

unsafe extern "C-unwind" fn gmatch_aux(l: *mut lua_State) -> c_int {
    // SAFETY: as `str_find`.
    unsafe { gmatch_step(l).unwrap_or_else(|f| raise(l, f)) }
}

/// `add_s`: the replacement string (argument 3) with `%0`–`%9` expanded;
/// returns the bytes it scanned and copied (its work: a replacement of a
/// million `%0` is that much per match, even where the match is empty).
///
/// # Safety
/// As `raise`; `b` is the buffer of this call.
unsafe fn add_s(
    l: *mut lua_State,
    ms: &MatchState,
    b: *mut ffi::luaL_Buffer,
    s: usize,
    e: usize,
) -> Res<usize> {
    // SAFETY: argument 3 is a string or number (checked by gsub); the
    // buffer functions keep the stack discipline of luaL_Buffer.
    unsafe {
        let mut len = 0usize;
        let news = ffi::lua_tolstring(l, 3, &mut len);
        let news = std::slice::from_raw_parts(news.cast::<u8>(), len);
        let mut work = news.len();
        let mut i = 0;
        while let Some(off) = news[i..].iter().position(|&c| c == L_ESC) {
            let pct = i + off;
            ffi::luaL_addlstring(b, news[i..pct].as_ptr().cast(), pct - i);
            let c = at(news, pct + 1);
            if c == L_ESC {
                ffi::luaL_addlstring(b, news[pct + 1..].as_ptr().cast(), 1);
            } else if c == b'0' {
                ffi::luaL_addlstring(b, ms.src[s..e].as_ptr().cast(), e - s);
                work += e - s;
            } else if c.is_ascii_digit() {
                // (`%1` with no captures is the whole match, as in Lua.)
                push_one_capture(l, ms, (c - b'1') as usize, s, e)?;
                work += ffi::lua_rawlen(l, -1);
                ffi::luaL_addvalue(b);
            } else {
                return Err(Fail::Msg(c"invalid use of '%' in replacement string"));
            }
            i = pct + 2;
            if i > news.len() {
                i = news.len();
            }
        }
        ffi::luaL_addlstring(b, news[i..].as_ptr().cast(), news.len() - i);
        Ok(work)
    }
}

/// `add_value`: whether the subject changed, and the work of a string
/// replacement (see `add_s`).
///
/// # Safety
/// As `add_s`; may call Lua (the replacement function or `__index`).
unsafe fn add_value(
    l: *mut lua_State,
    ms: &MatchState,
    b: *mut ffi::luaL_Buffer,
    s: usize,
    e: usize,
    tr: c_int,
) -> Res<(bool, usize)> {
    // SAFETY: lstrlib's stack work; a Lua error in the callback unwinds
    // this frame, which owns nothing.
    unsafe {
        match tr {
            ffi::LUA_TFUNCTION => {
                ffi::lua_pushvalue(l, 3);
                let n = push_captures(l, ms, Some((s, e)))?;
                ffi::lua_call(l, n, 1);
            }
            ffi::LUA_TTABLE => {
                push_one_capture(l, ms, 0, s, e)?;
                ffi::lua_gettable(l, 3);
            }
            _ => {
                let work = add_s(l, ms, b, s, e)?;
                return Ok((true, work));
            }
        }
        if ffi::lua_toboolean(l, -1) == 0 {
            ffi::lua_pop(l, 1);
            ffi::luaL_addlstring(b, ms.src[s..e].as_ptr().cast(), e - s);
            Ok((false, 0))
        } else if ffi::lua_isstring(l, -1) == 0 {
            ffi::luaL_error(
                l,
                c"invalid replacement value (a %s)".as_ptr(),
                ffi::luaL_typename(l, -1),
            );
            Ok((false, 0))
        } else {
            ffi::luaL_addvalue(b);
            Ok((true, 0))
        }
    }
}

unsafe fn gsub_aux(l: *mut lua_State, b: *mut ffi::luaL_Buffer) -> Res<c_int> {
    // SAFETY: lstrlib's stack work; `b` was initialised by the caller.
    unsafe {
        let src = check_bytes(l, 1);
        let p = check_bytes(l, 2);
        let tr = ffi::lua_type(l, 3);
        let max_s = ffi::luaL_optinteger(l, 4, src.len() as ffi::lua_Integer + 1);
        if !matches!(
            tr,
            ffi::LUA_TNUMBER | ffi::LUA_TSTRING | ffi::LUA_TFUNCTION | ffi::LUA_TTABLE
        ) {
            crate::ffi::stack::luaL_typeerror(l, 3, c"string/function/table".as_ptr());
        }
        ffi::luaL_buffinit(l, b);
        let anchor = at(p, 0) == b'^';
        let p = if anchor { &p[1..] } else { p };
        let mut ms = MatchState::new(src, p);
        let mut s = 0usize;
        let mut last: Option<usize> = None;
        let mut n: ffi::lua_Integer = 0;
        let mut changed = false;
        while n < max_s {
            ms.reprep();
            match ms.do_match(s, 0)? {
                Some(e) if Some(e) != last => {
                    n += 1;
                    let (added, work) = add_value(l, &ms, b, s, e, tr)?;
                    changed |= added;
                    ms.charge(work)?;
                    s = e;
                    last = Some(e);
                }
                _ if s < src.len() => {
                    ffi::luaL_addlstring(b, src[s..].as_ptr().cast(), 1);
                    s += 1;
                }
                _ => break,
            }
            if anchor {
                break;
            }
        }
        if !changed {
            ffi::lua_pushvalue(l, 1);
        } else {
            ffi::luaL_addlstring(b, src[s..].as_ptr().cast(), src.len() - s);
            ffi::luaL_pushresult(b);
        }
        ffi::lua_pushinteger(l, n);
        Ok(2)
    }
}

unsafe extern "C-unwind" fn str_gsub(l: *mut lua_State) -> c_int {
    // SAFETY: the buffer lives in this frame (plain data Lua manages); the
    // frame owns nothing to drop when a failure is raised.
    unsafe {
        let mut b: ffi::luaL_Buffer = std::mem::zeroed();
        gsub_aux(l, &mut b).unwrap_or_else(|f| raise(l, f))
    }
}

/// Puts the interruptible matcher into `string` (before it is frozen).
pub(crate) fn install(lua: &mlua::Lua) -> mlua::Result<()> {
    install_into(&lua.globals().raw_get("string")?, lua)
}

fn install_into(string: &mlua::Table, lua: &mlua::Lua) -> mlua::Result<()> {
    // SAFETY: the four follow the C function protocol and own nothing when
    // they raise.
    unsafe {
        string.raw_set("find", lua.create_c_function(str_find)?)?;
        string.raw_set("match", lua.create_c_function(str_match)?)?;
        string.raw_set("gmatch", lua.create_c_function(gmatch)?)?;
        string.raw_set("gsub", lua.create_c_function(str_gsub)?)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    /// Runs `script` on a state with Lua's own matcher and on one with
    /// ours; returns both outputs.
    #[cfg(feature = "lua54")]
    fn both(script: &str) -> (String, String) {
        let run = |ours: bool| {
            let lua = mlua::Lua::new();
            if ours {
                super::install(&lua).unwrap();
            }
            lua.load(script).eval::<String>().unwrap()
        };
        (run(false), run(true))
    }

    /// Every result and every error message, for thousands of generated
    /// patterns and subjects, is Lua's own. The port is of Lua 5.4's
    /// matcher (5.3's `gmatch` and `gsub` treat an empty match after a
    /// non-empty one differently), so the comparison is with 5.4.
    #[test]
    #[cfg(feature = "lua54")]
    fn the_port_matches_lua_on_generated_patterns() {
        let script = r#"
            local seed = 12345
            local function rnd(n) seed = (seed * 1103515245 + 12345) % 2147483648 return seed % n + 1 end
            local pieces = { "a", "b", ".", "%a", "%d", "%s", "%w", "%p", "%u", "%x", "%c", "%g", "%z",
              "%A", "%D", "(", ")", "()", "[ab]", "[^a]", "[a-c]", "[%d]", "[]", "[", "]", "^", "$",
              "*", "+", "-", "?", "%1", "%2", "%0", "%b()", "%bab", "%f[%w]", "%f[^a]", "%f", "%",
              "%%", "%]", "1", " ", "\0", "[%a-]", "[a-]", "%b", "(a", "a)" }
            local subjects = { "", "a", "ab", "aab]b(c)d 1-2%", "(a(b)c)", "hello world 42",
              "AbC dEf", "a\0b", "  x  ", "aaaaaaab", "ba(ba)ab" }
            local out = {}
            local function rec(...)
              local t = table.pack(...)
              for i = 1, t.n do t[i] = tostring(t[i]) end
              out[#out + 1] = table.concat(t, "|", 1, t.n)
            end
            for i = 1, 6000 do
              local n = rnd(6)
              local p = {}
              for k = 1, n do p[k] = pieces[rnd(#pieces)] end
              p = table.concat(p)
              local s = subjects[rnd(#subjects)]
              local init = ({ nil, 1, 2, -1, -3, 0, 100 })[rnd(7)]
              rec(pcall(string.find, s, p, init))
              rec(pcall(string.find, s, p, init, true))
              rec(pcall(string.match, s, p, init))
              rec(pcall(string.gsub, s, p, "<%0>"))
              rec(pcall(string.gsub, s, p, "%1-%%", 2))
              rec(pcall(string.gsub, s, p, function(a, b) return b end))
              rec(pcall(string.gsub, s, p, { a = "A", b = false }))
              rec(pcall(function()
                local r = {}
                for a, b in string.gmatch(s, p, init) do r[#r + 1] = tostring(a) .. "," .. tostring(b) end
                return table.concat(r, ";")
              end))
            end
            -- Argument errors and odd replacement values.
            rec(pcall(string.find))
            rec(pcall(string.find, "a", {}))
            rec(pcall(string.gsub, "a", "a", true))
            rec(pcall(string.gsub, "a", "a", function() return {} end))
            rec(pcall(string.gsub, "abc", "%w", "%9"))
            rec(pcall(string.gsub, "abc", "%w", "%"))
            rec(pcall(string.gsub, "abc", "%w", "%x"))
            rec(pcall(string.gsub, "abc", "(b)", "[%1%0]", 1.5))
            rec(pcall(string.gmatch, "abc"))
            rec(pcall(string.find, 123, 2))
            rec(pcall(string.find, ("a"):rep(300), ("(a)"):rep(40)))
            rec(pcall(string.find, ("a"):rep(300), ("a?"):rep(250)))
            rec(("x = 1, y = 2"):gsub("(%w+) = (%w+)", "%2 = %1"))
            rec(string.gsub("hello", "", "-"))
            rec(string.find("a.b", ".", 1, true))
            return table.concat(out, "\n")
        "#;
        let (native, ours) = both(script);
        let (n, o): (Vec<_>, Vec<_>) = (native.lines().collect(), ours.lines().collect());
        assert_eq!(n.len(), o.len());
        for (i, (a, b)) in n.iter().zip(&o).enumerate() {
            assert_eq!(a, b, "case {i}");
        }
    }
}
