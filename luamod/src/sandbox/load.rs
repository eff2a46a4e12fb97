//! The sandbox's `load`: Lua's own (same checks, same messages, same
//! results), except that the parser is fed at most [`PIECE`] bytes at a
//! time, and asks between two pieces whether to give up.
//!
//! Lua's parser runs in C, where no hook fires, and some chunks cost it
//! quadratic time: in a long chain of `or`, each term walks the list of
//! jumps so far, so one `load` of a couple of megabytes runs for minutes.
//! The reader Lua calls for more text is the one place the runtime can
//! stop it; [`interrupt::requested`] answers there (the process must stop,
//! or has run past the unyielding limit), and the reader then raises "the
//! process was stopped", which `load` returns as its error (the hook
//! raises again at the next instruction). A reader function the script
//! passes is fed through the same cut, so returning everything at once
//! changes nothing.
//!
//! Process environments get their `load` as a C closure over the
//! environment ([`push_in_env`]): a `load` with no `env` (or a false one)
//! loads into the process's globals, and messages point at the script's
//! line, not at a wrapper's.

use std::ffi::{c_char, c_int, c_void};

use mlua::ffi::{self, lua_State};

use crate::ffi::interrupt;

/// What `load` returns as its error when the parse was stopped.
pub(crate) const STOPPED: &str = "the process was stopped";

/// The most bytes the parser gets from one call of its reader.
const PIECE: usize = 256;

/// Where `load` keeps the string a reader function returned (Lua's
/// `RESERVEDSLOT`).
const RESERVED_SLOT: c_int = 5;

/// What the reader hands out: the string at `s` (anchored on the stack),
/// from `at` on, and whether more comes from the function at index 1.
struct Feed {
    s: *const c_char,
    len: usize,
    at: usize,
    from_function: bool,
    /// Whether a piece was given: the first comes without a question.
    started: bool,
}

/// The `lua_Reader` over a [`Feed`].
///
/// # Safety
/// Called by `lua_load` from [`load_with`], with `data` its `Feed`.
unsafe extern "C-unwind" fn read(
    l: *mut lua_State,
    data: *mut c_void,
    size: *mut usize,
) -> *const c_char {
    // SAFETY: `data` is the `Feed` on `load_with`'s frame, alive for the
    // call of `lua_load`; `s` points into a string anchored on the stack
    // (index 1, or the reserved slot that only this reader replaces). A
    // raise here unwinds into `lua_load`'s protection, past a frame that
    // owns nothing.
    unsafe {
        let feed = &mut *data.cast::<Feed>();
        if feed.at == feed.len {
            if !feed.from_function {
                *size = 0;
                return std::ptr::null();
            }
            // Lua's `generic_reader`, word for word.
            ffi::luaL_checkstack(l, 2, c"too many nested functions".as_ptr());
            ffi::lua_pushvalue(l, 1);
            ffi::lua_call(l, 0, 1);
            if ffi::lua_isnil(l, -1) != 0 {
                ffi::lua_pop(l, 1);
                *size = 0;
                return std::ptr::null();
            } else if ffi::lua_isstring(l, -1) == 0 {
                ffi::luaL_error(l, c"reader function must return a string".as_ptr());
            }
            ffi::lua_replace(l, RESERVED_SLOT);
            feed.s = ffi::lua_tolstring(l, RESERVED_SLOT, &mut feed.len);
            feed.at = 0;
            if feed.len == 0 {
                // An empty string ends the chunk, as in Lua.
                *size = 0;
                return feed.s;
            }
        }
        if feed.started && interrupt::requested() {
            ffi::lua_pushlstring(l, STOPPED.as_ptr().cast(), STOPPED.len());
            ffi::lua_error(l);
        }
        feed.started = true;
        let n = PIECE.min(feed.len - feed.at);
        let piece = feed.s.add(feed.at);
        feed.at += n;
        *size = n;
        piece
    }
}

/// `luaB_load` with [`read`] as the reader. `mode` overrides argument 3
/// when given; `default_env` is the upvalue index of the environment used
/// when argument 4 is absent, nil or false.
///
/// # Safety
/// Called from a C function of `l` (its arguments at 1..=4).
unsafe fn load_with(
    l: *mut lua_State,
    mode: Option<&'static std::ffi::CStr>,
    default_env: Option<c_int>,
) -> c_int {
    // SAFETY: lbaselib's `luaB_load` and `load_aux`; the frame owns
    // nothing (the feed holds pointers into Lua strings on the stack).
    unsafe {
        let mut len = 0usize;
        let s = ffi::lua_tolstring(l, 1, &mut len);
        let mode = match mode {
            Some(m) => m.as_ptr(),
            None => ffi::luaL_optstring(l, 3, c"bt".as_ptr()),
        };
        let env = match default_env {
            Some(up) if ffi::lua_toboolean(l, 4) == 0 => ffi::lua_upvalueindex(up),
            _ if ffi::lua_type(l, 4) != ffi::LUA_TNONE => 4,
            _ => 0,
        };
        let mut feed = Feed {
            s,
            len,
            at: 0,
            from_function: s.is_null(),
            started: false,
        };
        let status = if s.is_null() {
            let name = ffi::luaL_optstring(l, 2, c"=(load)".as_ptr());
            ffi::luaL_checktype(l, 1, ffi::LUA_TFUNCTION);
            ffi::lua_settop(l, RESERVED_SLOT);
            ffi::lua_load(l, read, (&raw mut feed).cast(), name, mode)
        } else {
            let name = ffi::luaL_optstring(l, 2, s);
            ffi::lua_load(l, read, (&raw mut feed).cast(), name, mode)
        };
        if status == ffi::LUA_OK {
            if env != 0 {
                ffi::lua_pushvalue(l, env);
                if ffi::lua_setupvalue(l, -2, 1).is_null() {
                    ffi::lua_pop(l, 1);
                }
            }
            1
        } else {
            ffi::lua_pushnil(l);
            ffi::lua_insert(l, -2);
            2
        }
    }
}

/// `load`, any mode.
pub(crate) unsafe extern "C-unwind" fn load(l: *mut lua_State) -> c_int {
    // SAFETY: a C function of `l`.
    unsafe { load_with(l, None, None) }
}

/// `load` of text only (argument 3 is ignored).
pub(crate) unsafe extern "C-unwind" fn load_text(l: *mut lua_State) -> c_int {
    // SAFETY: a C function of `l`.
    unsafe { load_with(l, Some(c"t"), None) }
}

unsafe extern "C-unwind" fn load_in_env(l: *mut lua_State) -> c_int {
    // SAFETY: a C closure made by `push_in_env` (upvalue 1, the env).
    unsafe { load_with(l, None, Some(1)) }
}

unsafe extern "C-unwind" fn load_text_in_env(l: *mut lua_State) -> c_int {
    // SAFETY: a C closure made by `push_in_env` (upvalue 1, the env).
    unsafe { load_with(l, Some(c"t"), Some(1)) }
}

/// [`load_text`] called with no message handler. The parser's protected
/// call keeps the handler of the call around it, and a caller's (mlua's,
/// which appends a traceback) would otherwise end up in a syntax error's
/// message.
unsafe extern "C-unwind" fn load_text_plain(l: *mut lua_State) -> c_int {
    // SAFETY: a C function of `l`; pushing a light C function does not
    // allocate, and an error of the inner call (a memory error only:
    // `load` returns its other failures) is raised again from a frame that
    // owns nothing.
    unsafe {
        let n = ffi::lua_gettop(l);
        ffi::lua_pushcfunction(l, load_text);
        ffi::lua_insert(l, 1);
        if ffi::lua_pcall(l, n, ffi::LUA_MULTRET, 0) != ffi::LUA_OK {
            ffi::lua_error(l);
        }
        ffi::lua_gettop(l)
    }
}

/// Compiles `source` as text (Lua's `load`, chunk name `chunkname`) fed
/// in pieces: a parse that [`interrupt::requested`] stops between two
/// ends with the error "the process was stopped".
pub(crate) fn compile_text(
    lua: &mlua::Lua,
    source: &str,
    chunkname: &str,
) -> mlua::Result<mlua::Function> {
    // SAFETY: `load_text_plain` follows the C function protocol.
    let load = unsafe { lua.create_c_function(load_text_plain) }?;
    let (f, err): (Option<mlua::Function>, Option<String>) =
        load.call((lua.create_string(source)?, chunkname))?;
    f.ok_or_else(|| mlua::Error::SyntaxError {
        message: err.unwrap_or_default(),
        incomplete_input: false,
    })
}

/// Pushes the `load` of the environment at `env`: a closure over it that
/// loads into it unless told another environment (text only unless
/// `binary`).
///
/// # Safety
/// `env` is a valid index of `l`, which has a free stack slot; may raise a
/// memory error.
pub(crate) unsafe fn push_in_env(l: *mut lua_State, env: c_int, binary: bool) {
    // SAFETY: pushes the env, then a C closure that pops it as upvalue.
    unsafe {
        ffi::lua_pushvalue(l, env);
        let f = if binary {
            load_in_env
        } else {
            load_text_in_env
        };
        ffi::lua_pushcclosure(l, f, 1);
    }
}

#[cfg(test)]
mod tests {
    /// Fed in pieces, `load` gives Lua's own results and messages: the
    /// default chunk name, readers that return long strings, numbers or
    /// junk, an `env` given as nil, and the mode check.
    #[test]
    fn load_fed_in_pieces_is_luas_own() {
        let script = r##"
            local load = ...
            local out = {}
            local function rec(...)
              local t = table.pack(...)
              for i = 1, t.n do
                local v = t[i]
                if type(v) == "function" then
                  local ok, r = pcall(v)
                  v = "f:" .. tostring(ok) .. "," .. tostring(r)
                end
                t[i] = tostring(v)
              end
              out[#out + 1] = select("#", ...) .. "|" .. table.concat(t, "|", 1, t.n)
            end
            local long = "return " .. ("1 + "):rep(300) .. "1"
            local broken = "return " .. ("1 + "):rep(300) .. "+"
            local function once(s) return function() local p = s s = nil return p end end
            local function parts(...)
              local t, i = { ... }, 0
              return function() i = i + 1 return t[i] end
            end
            rec(load(long))
            rec(load(broken))
            rec(load(broken, "=name"))
            rec(load(long, nil, "b"))
            rec(load(long, "x", "t", nil))
            rec(load("return x", "x", "t", { x = 7 }))
            rec(load(long:rep(1, ""), "x", "t", { x = 7 }))
            rec(load(("x = 1 "):rep(100) .. "return x", "x", "t", {}))
            rec(load(once(long)))
            rec(load(once(broken)))
            rec(load(parts("return ", 12, ("+ 1 "):rep(200), "")))
            rec(load(parts("return 1", {})))
            rec(load(parts(long, true)))
            rec(pcall(load, {}))
            rec(pcall(load, long, {}))
            rec(pcall(load))
            rec(pcall(function() local f = load({}) return f end))
            rec(pcall(function() local f = load(long, {}) return f end))
            rec(pcall(function() local f = load(once(long), "n", {}) return f end))
            rec(load(42))
            return table.concat(out, "\n")
        "##;
        let run = |ours: bool| {
            let lua = mlua::Lua::new();
            let native: mlua::Function = lua.globals().get("load").unwrap();
            let load = if ours {
                // SAFETY: the sandbox's `load` follows the C function protocol.
                let ours = unsafe { lua.create_c_function(super::load).unwrap() };
                // Where tracebacks find it, as Lua's own.
                lua.globals().set("load", &ours).unwrap();
                ours
            } else {
                native
            };
            lua.load(script).call::<String>(load).unwrap()
        };
        super::super::assert_same_lines(&run(false), &run(true));
    }
}
