//! Lua values straight into JSON text: no `serde_json::Value` tree in
//! between, so an encode holds the text it writes and the entries (key
//! and value handles) of the objects on its current path, nothing more (a
//! tree cost about 630 bytes per object against the 32 its budget
//! counted).

use std::io;

use luamod::mlua::{self, Value};
use luamod::prelude::*;

use super::json::{MAX_DEPTH, MAX_TEXT};

pub(super) fn invalid(msg: impl Into<String>) -> LuaError {
    LuaError::new(ErrorKind::Invalid, msg).with_retryable(false)
}

fn too_large() -> LuaError {
    LuaError::new(
        ErrorKind::ResourceExhausted,
        format!("cannot encode: the JSON text would exceed {MAX_TEXT} bytes"),
    )
}

/// Encodes `v` as JSON text, two-space indented when `pretty` (as
/// `serde_json::to_string_pretty` writes).
pub(super) fn encode(v: &Value, pretty: bool) -> Result<String, LuaError> {
    let mut walk = Walk {
        path: Vec::new(),
        budget: MAX_TEXT,
        pretty,
        out: Vec::new(),
    };
    walk.value(v, false)?;
    String::from_utf8(walk.out).map_err(|_| invalid("cannot encode: the text is not UTF-8"))
}

/// The walk's state: the tables on the path (cycles, depth), the bytes of
/// text still allowed (a cheap over-estimate per value, counted before
/// the value is written, so that a table listing one large value many
/// times is refused before its text is), and the text.
struct Walk {
    path: Vec<*const std::ffi::c_void>,
    budget: usize,
    pretty: bool,
    out: Vec<u8>,
}

impl Walk {
    fn spend(&mut self, n: usize) -> Result<(), LuaError> {
        self.budget = self.budget.checked_sub(n).ok_or_else(too_large)?;
        Ok(())
    }

    /// What every value costs: a separator at least, and with `pretty`
    /// two spaces of indent per level.
    fn value_cost(&self) -> usize {
        32 + if self.pretty {
            2 * self.path.len() + 1
        } else {
            0
        }
    }

    fn push(&mut self, bytes: &[u8]) -> Result<(), LuaError> {
        io::Write::write_all(&mut Bounded(&mut self.out), bytes).map_err(|_| too_large())
    }

    /// A JSON string: quoted and escaped as serde_json writes it. Escapes
    /// can make the text up to six times the string (which the budget
    /// counts once), so the text's own length is checked as it is
    /// written.
    fn string(&mut self, s: &mlua::LuaString, what: &str) -> Result<(), LuaError> {
        let s = s
            .to_str()
            .map_err(|_| invalid(format!("cannot encode a {what} that is not UTF-8")))?;
        // Escaping a `str` can only fail by the writer refusing.
        serde_json::to_writer(Bounded(&mut self.out), &*s).map_err(|_| too_large())
    }

    /// A new line and the indent of the current depth, when `pretty`.
    fn newline(&mut self) -> Result<(), LuaError> {
        if self.pretty {
            let depth = self.path.len();
            self.push(b"\n")?;
            for _ in 0..depth {
                self.push(b"  ")?;
            }
        }
        Ok(())
    }

    /// Writes `v`. `paid`: its object entry already spent its cost.
    fn value(&mut self, v: &Value, paid: bool) -> Result<(), LuaError> {
        if !paid {
            self.spend(self.value_cost())?;
        }
        match v {
            Value::Nil => self.push(b"null"),
            Value::LightUserData(p) if p.0.is_null() => self.push(b"null"),
            Value::Boolean(true) => self.push(b"true"),
            Value::Boolean(false) => self.push(b"false"),
            Value::Integer(i) => self.push(i.to_string().as_bytes()),
            Value::Number(n) => {
                let n = serde_json::Number::from_f64(*n)
                    .ok_or_else(|| invalid(format!("cannot encode {n} as JSON")))?;
                self.push(n.to_string().as_bytes())
            }
            Value::String(s) => {
                self.spend(s.as_bytes().len())?;
                self.string(s, "string")
            }
            Value::Table(t) => self.table(t),
            other => Err(invalid(format!(
                "cannot encode a {} as JSON",
                other.type_name()
            ))),
        }
    }

    fn table(&mut self, t: &mlua::Table) -> Result<(), LuaError> {
        // Each table is walked twice by `pairs`, which costs its
        // allocated size, not its entries: a table emptied of 2^17
        // entries, referenced 131,000 times, is minutes of walking in one
        // call.
        if luamod::stop_requested() {
            return Err(LuaError::new(
                ErrorKind::Canceled,
                "the process was stopped",
            ));
        }
        let ptr = t.to_pointer();
        if self.path.contains(&ptr) {
            return Err(invalid("cannot encode a table that contains itself"));
        }
        if self.path.len() >= MAX_DEPTH {
            return Err(invalid(format!(
                "cannot encode tables nested more than {MAX_DEPTH} deep"
            )));
        }
        let len = t.raw_len();
        let mut count = 0usize;
        let mut int_keys = true;
        for pair in t.clone().pairs::<Value, Value>() {
            let (k, _) = pair.map_err(|e| invalid(e.to_string()))?;
            count += 1;
            if !matches!(k, Value::Integer(i) if i >= 1 && (i as usize) <= len) {
                int_keys = false;
            }
        }
        if len > 0 && int_keys && count == len {
            self.path.push(ptr);
            self.push(b"[")?;
            for i in 1..=len {
                if i > 1 {
                    self.push(b",")?;
                }
                self.newline()?;
                let item: Value = t.raw_get(i).map_err(|e| invalid(e.to_string()))?;
                self.value(&item, false)?;
            }
            self.path.pop();
            self.newline()?;
            self.push(b"]")
        } else {
            // Sorted by key, as serde_json's map writes them. Each entry
            // spends its value's cost (at the entry's depth) and its key's
            // bytes as it is collected, so the list is bounded by the
            // budget too.
            self.path.push(ptr);
            let mut entries = Vec::new();
            for pair in t.clone().pairs::<Value, Value>() {
                let (k, item) = pair.map_err(|e| invalid(e.to_string()))?;
                let Value::String(k) = k else {
                    return Err(invalid(format!(
                        "cannot encode a table with a {} key as a JSON object (keys must be strings, or exactly 1..n for an array)",
                        k.type_name()
                    )));
                };
                self.spend(k.as_bytes().len() + self.value_cost())?;
                entries.push((k, item));
            }
            // Keys are unique: an unstable sort gives the one order.
            entries.sort_unstable_by(|a, b| Ord::cmp(&*a.0.as_bytes(), &*b.0.as_bytes()));
            self.push(b"{")?;
            for (i, (k, item)) in entries.iter().enumerate() {
                if i > 0 {
                    self.push(b",")?;
                }
                self.newline()?;
                self.string(k, "key")?;
                let colon: &[u8] = if self.pretty { b": " } else { b":" };
                self.push(colon)?;
                self.value(item, true)?;
            }
            self.path.pop();
            if !entries.is_empty() {
                self.newline()?;
            }
            self.push(b"}")
        }
    }
}

/// The text buffer, refusing to grow past [`MAX_TEXT`].
struct Bounded<'a>(&'a mut Vec<u8>);

impl io::Write for Bounded<'_> {
    fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
        if self.0.len() + bytes.len() > MAX_TEXT {
            return Err(io::Error::other("the JSON text would be too large"));
        }
        self.0.extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use luamod::mlua::{Lua, Value};

    /// The text is serde_json's, compact and pretty, for values of every
    /// kind (keys sorted, floats and escapes as serde_json writes them).
    #[test]
    fn writes_what_serde_json_writes() {
        let lua = Lua::new();
        let v: Value = lua
            .load(
                r#"return { b = { 1, 2.5, -0.0, 1e300, "q\"\n\1é" }, a = {}, c = { z = true, y = false },
                            ["k\t"] = { { x = 1 }, { 3 } }, n = math.mininteger }"#,
            )
            .eval()
            .unwrap();
        let expected = serde_json::json!({
            "b": [1, 2.5, -0.0, 1e300, "q\"\n\u{1}é"],
            "a": {},
            "c": { "z": true, "y": false },
            "k\t": [{ "x": 1 }, [3]],
            "n": i64::MIN,
        });
        assert_eq!(
            super::encode(&v, false).unwrap(),
            serde_json::to_string(&expected).unwrap()
        );
        assert_eq!(
            super::encode(&v, true).unwrap(),
            serde_json::to_string_pretty(&expected).unwrap()
        );
    }
}
