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
//!   bytes (counting 32 bytes per value and a string's bytes before it
//!   writes them, so a table that lists one large table or string many
//!   times is refused before its text is made, and the text itself), and
//!   `decode` reads at most [`MAX_TEXT`] bytes.

pub use self::json::{MAX_DEPTH, MAX_TEXT, MODULE};

mod decode;
mod encode;

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
    /// is Lua's, under the state's memory limit; `encode` writes the text
    /// as it walks, holding besides it only the entries (key and value
    /// handles) of the objects on its path, bounded by the same count.
    pub const MAX_TEXT: usize = 4 << 20;

    use super::encode::invalid;

    /// Encodes a Lua value as JSON text (see the module docs for how tables
    /// map to arrays and objects).
    #[luamod::function]
    pub fn encode(
        #[lua(type = "any")] value: Value,
        opts: Option<EncodeOptions>,
    ) -> Result<String, LuaError> {
        let pretty = opts.and_then(|o| o.pretty).unwrap_or(false);
        super::encode::encode(&value, pretty)
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
