//! JSON with serde_json.
//!
//! Encoding rules (predictable, documented):
//! - a table whose keys are exactly `1..n` (n ≥ 1) is an array;
//! - every other table is an object and must have only string keys
//!   (a table mixing integer and string keys, or with other key types, is
//!   refused with `nil, err` of kind `INVALID`);
//! - the empty table is an empty object `{}`;
//! - `json.null` encodes `null`, and decoding gives `json.null` for `null`;
//! - NaN and infinities, functions, userdata and threads are refused;
//! - a table that contains itself is refused (no infinite output);
//! - limits (clear `INVALID` errors, never a crash): tables nest at most
//!   [`MAX_DEPTH`] deep (decoding too: serde_json's own limit is the
//!   same), `encode` refuses values whose text would pass [`MAX_TEXT`]
//!   bytes before escapes (counting 32 bytes per value, so a table that
//!   lists one large table or string many times cannot multiply the
//!   host's memory), and `decode` reads at most [`MAX_TEXT`] bytes.

pub use self::json::{MAX_DEPTH, MAX_TEXT, MODULE};

mod decode;

/// JSON encoding and decoding.
#[luamod::module(name = "json", class(encoding, deterministic))]
#[allow(clippy::module_inception)]
pub mod json {
    use luamod::mlua::{self, LightUserData, Value};
    use luamod::prelude::*;

    /// Options for `json.encode`.
    #[derive(LuaRecord, Debug, Default)]
    pub struct EncodeOptions {
        /// Indent the output.
        pub pretty: Option<bool>,
    }

    /// How deep tables may nest, encoding or decoding.
    pub const MAX_DEPTH: usize = 128;

    /// The most bytes of JSON text `encode` writes and `decode` reads
    /// (4 MiB). `decode` builds Lua values as it reads, so what it holds
    /// is Lua's, under the state's memory limit; `encode` builds a value
    /// tree first, bounded by the same count.
    pub const MAX_TEXT: usize = 4 << 20;

    fn invalid(msg: impl Into<String>) -> LuaError {
        LuaError::new(ErrorKind::Invalid, msg).with_retryable(false)
    }

    fn too_large() -> LuaError {
        LuaError::new(
            ErrorKind::ResourceExhausted,
            format!("cannot encode: the JSON text would exceed {MAX_TEXT} bytes"),
        )
    }

    /// The walk's state: the tables on the path (cycles, depth) and the
    /// bytes of text still allowed (a cheap over-estimate per value).
    struct Walk {
        path: Vec<*const std::ffi::c_void>,
        budget: usize,
        pretty: bool,
    }

    impl Walk {
        fn spend(&mut self, n: usize) -> Result<(), LuaError> {
            self.budget = self.budget.checked_sub(n).ok_or_else(too_large)?;
            Ok(())
        }
    }

    fn to_json(v: &Value, walk: &mut Walk) -> Result<serde_json::Value, LuaError> {
        use serde_json::Value as J;
        // Every value costs a tree node and writes at least a separator;
        // pretty text indents it by two spaces per level.
        walk.spend(
            32 + if walk.pretty {
                2 * walk.path.len() + 1
            } else {
                0
            },
        )?;
        Ok(match v {
            Value::Nil => J::Null,
            Value::LightUserData(p) if p.0.is_null() => J::Null,
            Value::Boolean(b) => J::Bool(*b),
            Value::Integer(i) => J::from(*i),
            Value::Number(n) => serde_json::Number::from_f64(*n)
                .map(J::Number)
                .ok_or_else(|| invalid(format!("cannot encode {n} as JSON")))?,
            Value::String(s) => J::String({
                // Escapes at most sextuple a byte; quotes add two.
                walk.spend(s.as_bytes().len())?;
                s.to_str()
                    .map_err(|_| invalid("cannot encode a string that is not UTF-8"))?
                    .to_owned()
            }),
            Value::Table(t) => {
                // Each table is walked twice by `pairs`, which costs its
                // allocated size, not its entries: a table emptied of 2^17
                // entries, referenced 131,000 times, is minutes of walking
                // in one call.
                if luamod::stop_requested() {
                    return Err(LuaError::new(
                        ErrorKind::Canceled,
                        "the process was stopped",
                    ));
                }
                let ptr = t.to_pointer();
                if walk.path.contains(&ptr) {
                    return Err(invalid("cannot encode a table that contains itself"));
                }
                if walk.path.len() >= MAX_DEPTH {
                    return Err(invalid(format!(
                        "cannot encode tables nested more than {MAX_DEPTH} deep"
                    )));
                }
                walk.path.push(ptr);
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
                let out = if len > 0 && int_keys && count == len {
                    let mut arr = Vec::with_capacity(len);
                    for i in 1..=len {
                        let item: Value = t.raw_get(i).map_err(|e| invalid(e.to_string()))?;
                        arr.push(to_json(&item, walk)?);
                    }
                    J::Array(arr)
                } else {
                    let mut obj = serde_json::Map::new();
                    for pair in t.clone().pairs::<Value, Value>() {
                        let (k, item) = pair.map_err(|e| invalid(e.to_string()))?;
                        let Value::String(k) = k else {
                            return Err(invalid(format!(
                                "cannot encode a table with a {} key as a JSON object (keys must be strings, or exactly 1..n for an array)",
                                k.type_name()
                            )));
                        };
                        let key = k
                            .to_str()
                            .map_err(|_| invalid("cannot encode a key that is not UTF-8"))?
                            .to_owned();
                        walk.spend(key.len())?;
                        obj.insert(key, to_json(&item, walk)?);
                    }
                    J::Object(obj)
                };
                walk.path.pop();
                out
            }
            other => {
                return Err(invalid(format!(
                    "cannot encode a {} as JSON",
                    other.type_name()
                )));
            }
        })
    }

    /// Encodes a Lua value as JSON text (see the module docs for how tables
    /// map to arrays and objects).
    #[luamod::function]
    pub fn encode(
        #[lua(type = "any")] value: Value,
        opts: Option<EncodeOptions>,
    ) -> Result<String, LuaError> {
        let pretty = opts.and_then(|o| o.pretty).unwrap_or(false);
        let mut walk = Walk {
            path: Vec::new(),
            budget: MAX_TEXT,
            pretty,
        };
        let j = to_json(&value, &mut walk)?;
        let text = if pretty {
            serde_json::to_string_pretty(&j)
        } else {
            serde_json::to_string(&j)
        };
        text.map_err(|e| invalid(e.to_string()))
    }

    /// Decodes JSON text; `null` becomes `json.null`. Malformed input is
    /// `nil, err` naming the line and column.
    #[luamod::function]
    pub fn decode(lua: &Lua, text: &str) -> Result<Value, LuaError> {
        if text.len() > MAX_TEXT {
            return Err(LuaError::new(
                ErrorKind::ResourceExhausted,
                format!("cannot decode more than {MAX_TEXT} bytes of JSON"),
            ));
        }
        let failed = std::cell::Cell::new(None);
        let mut de = serde_json::Deserializer::from_str(text);
        // serde_json refuses nesting deeper than 128 (= MAX_DEPTH).
        let decoded = serde::de::DeserializeSeed::deserialize(
            super::decode::Build {
                lua,
                failed: &failed,
            },
            &mut de,
        )
        .and_then(|v| de.end().map(|()| v));
        decoded.map_err(|e| match failed.take() {
            Some(mlua::Error::MemoryError(_)) => {
                LuaError::new(ErrorKind::ResourceExhausted, "not enough memory")
            }
            Some(other) => LuaError::new(ErrorKind::Internal, other.to_string()),
            None => invalid(format!(
                "invalid JSON at line {} column {}: {e}",
                e.line(),
                e.column()
            ))
            .with_detail("line", e.line() as i64)
            .with_detail("column", e.column() as i64),
        })
    }

    /// Whether `v` is `json.null`.
    #[luamod::function]
    pub fn is_null(v: Value) -> bool {
        matches!(v, Value::LightUserData(p) if p.0.is_null())
    }

    /// The `null` sentinel: decoding gives it for JSON `null`, encoding
    /// turns it into `null` (a light userdata, as mlua's `Value::NULL`).
    #[luamod::constant(returns = "userdata")]
    pub fn null() -> LightUserData {
        LightUserData(std::ptr::null_mut())
    }
}
