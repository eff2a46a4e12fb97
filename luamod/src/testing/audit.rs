//! Auditing what code can reach: every table reachable from an environment
//! must be its own or frozen.

use std::collections::HashSet;

use mlua::ffi;
use mlua::{Lua, Table, Value, Variadic};

/// The tables reachable from `env` that are neither `env` itself nor
/// frozen: shared places another process could write. Walks table keys
/// and values (through frozen proxies too, to what they forward and to
/// what that table's own metatable's `__index` gives),
/// metatables as `getmetatable` returns them, and the upvalues of
/// functions (which Lua code cannot read without `debug`, so this is
/// stricter than an attacker). Returns a path for each finding.
///
/// Run it from inside a process on its `_ENV`: an empty result means the
/// process shares nothing writable.
pub fn writable_shared_tables(lua: &Lua, env: &Table) -> mlua::Result<Vec<String>> {
    let mut seen = HashSet::new();
    let mut found = Vec::new();
    let mut queue: Vec<(String, Value)> = vec![("_ENV".to_owned(), Value::Table(env.clone()))];
    while let Some((path, v)) = queue.pop() {
        if !seen.insert(v.to_pointer()) {
            continue;
        }
        match &v {
            Value::Table(t) => {
                let frozen = crate::readonly::is_frozen(lua, t)?;
                let contents = if frozen {
                    let inner = crate::readonly::inner_of(lua, t)?;
                    // Reads through the proxy fall through to the table,
                    // and from there through its own metatable's
                    // `__index`: what that gives is reachable too.
                    if let Some(index) = inner
                        .as_ref()
                        .and_then(|i| i.metatable())
                        .map(|m| m.raw_get::<Value>("__index"))
                        .transpose()?
                        .filter(|i| !i.is_nil())
                    {
                        queue.push((format!("{path}<__index behind>"), index));
                    }
                    inner
                } else {
                    if t != env {
                        found.push(path.clone());
                    }
                    Some(t.clone())
                };
                if let Some(c) = contents {
                    for pair in c.pairs::<Value, Value>() {
                        let (k, val) = pair?;
                        let name = match &k {
                            Value::String(s) => s.to_string_lossy(),
                            other => format!("[{other:?}]"),
                        };
                        queue.push((format!("{path}.{name}"), val));
                        queue.push((format!("{path}[key {name}]"), k));
                    }
                }
            }
            Value::Function(f) => {
                for (i, up) in upvalues(lua, f)?.into_iter().enumerate() {
                    queue.push((format!("{path}<upvalue {}>", i + 1), up));
                }
            }
            _ => {}
        }
        let mt = metatable_of(lua, &v)?;
        // Reads fall through `__index` tables: their contents are readable
        // even when the table itself is not.
        if let Some(Value::Table(index)) = mt
            .as_ref()
            .map(|m| m.raw_get::<Value>("__index"))
            .transpose()?
        {
            for pair in index.pairs::<Value, Value>() {
                let (k, val) = pair?;
                // A key the table has itself shadows the one behind it.
                if let Value::Table(t) = &v
                    && !t.raw_get::<Value>(&k)?.is_nil()
                {
                    continue;
                }
                let name = match &k {
                    Value::String(s) => s.to_string_lossy(),
                    other => format!("[{other:?}]"),
                };
                queue.push((format!("{path}.{name}"), val));
            }
        }
        if let Some(shown) = visible_metatable(mt)? {
            queue.push((format!("getmetatable({path})"), shown));
        }
    }
    found.sort();
    Ok(found)
}

/// What `getmetatable` gives for a table with metatable `mt`: the
/// `__metatable` field if there is one, else `mt`.
fn visible_metatable(mt: Option<Table>) -> mlua::Result<Option<Value>> {
    let Some(mt) = mt else { return Ok(None) };
    let shown: Value = mt.raw_get("__metatable")?;
    Ok(match shown {
        Value::Nil => Some(Value::Table(mt)),
        other => Some(other),
    })
}

/// The metatable of any value, read raw.
fn metatable_of(lua: &Lua, v: &Value) -> mlua::Result<Option<Table>> {
    // SAFETY: mlua pushes `v`; the closure replaces it by its metatable or
    // nil (one value either way).
    unsafe {
        lua.exec_raw(v, |st| {
            if ffi::lua_getmetatable(st, -1) == 0 {
                ffi::lua_pushnil(st);
            }
            ffi::lua_replace(st, -2);
        })
    }
}

fn upvalues(lua: &Lua, f: &mlua::Function) -> mlua::Result<Vec<Value>> {
    // SAFETY: mlua pushes `f` as the only argument; the closure pushes its
    // upvalues after it, which mlua returns with it (we drop the first).
    let all: Variadic<Value> = unsafe {
        lua.exec_raw(f, |st| {
            let mut i = 1;
            while ffi::lua_checkstack(st, 1) != 0 && !ffi::lua_getupvalue(st, -i, i).is_null() {
                i += 1;
            }
        })?
    };
    Ok(all.into_iter().skip(1).collect())
}
