//! JSON text straight into Lua values: no `serde_json::Value` tree in
//! between, so a decode holds no Rust memory the Lua limit does not see
//! (a 4 MiB array of small numbers was about 96 MiB of tree at its peak).

use std::cell::Cell;
use std::fmt;

use luamod::mlua::{self, LightUserData, Lua, Value};
use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};

/// Builds one JSON value, and the values inside it, in `lua`.
#[derive(Clone, Copy)]
pub(super) struct Build<'l> {
    pub(super) lua: &'l Lua,
    /// The first failure of Lua itself (out of memory): serde's errors
    /// carry only a message, and the caller must tell it from bad text.
    pub(super) failed: &'l Cell<Option<mlua::Error>>,
}

impl Build<'_> {
    fn lua<T, E: de::Error>(&self, r: mlua::Result<T>) -> Result<T, E> {
        r.map_err(|e| {
            let msg = e.to_string();
            self.failed.set(Some(e));
            E::custom(msg)
        })
    }
}

impl<'de> DeserializeSeed<'de> for Build<'_> {
    type Value = Value;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Build<'_> {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON value")
    }

    // JSON `null`: the module's `json.null`.
    fn visit_unit<E: de::Error>(self) -> Result<Value, E> {
        Ok(Value::LightUserData(LightUserData(std::ptr::null_mut())))
    }

    fn visit_bool<E: de::Error>(self, b: bool) -> Result<Value, E> {
        Ok(Value::Boolean(b))
    }

    fn visit_i64<E: de::Error>(self, i: i64) -> Result<Value, E> {
        Ok(Value::Integer(i))
    }

    // Past `i64`, a float (as serde_json's `Number::as_f64`).
    fn visit_u64<E: de::Error>(self, u: u64) -> Result<Value, E> {
        Ok(match i64::try_from(u) {
            Ok(i) => Value::Integer(i),
            Err(_) => Value::Number(u as f64),
        })
    }

    fn visit_f64<E: de::Error>(self, n: f64) -> Result<Value, E> {
        Ok(Value::Number(n))
    }

    fn visit_str<E: de::Error>(self, s: &str) -> Result<Value, E> {
        self.lua(self.lua.create_string(s)).map(Value::String)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let t = self.lua(self.lua.create_table())?;
        let mut i: i64 = 1;
        while let Some(v) = seq.next_element_seed(self)? {
            self.lua(t.raw_set(i, v))?;
            i += 1;
        }
        Ok(Value::Table(t))
    }

    // Keys are strings in JSON; a repeated key keeps its last value, as
    // serde_json's own map does.
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let t = self.lua(self.lua.create_table())?;
        while let Some(k) = map.next_key_seed(self)? {
            let v = map.next_value_seed(self)?;
            self.lua(t.raw_set(k, v))?;
        }
        Ok(Value::Table(t))
    }
}
