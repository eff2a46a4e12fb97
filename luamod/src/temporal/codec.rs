//! How a command and its result cross Temporal: as JSON, both ways.
//!
//! A workflow's process yields a command as a Rust value; Temporal records
//! an activity's input and output as payloads. [`Codec`] holds, for one
//! command type, the functions that turn one into the other. A handler's
//! error is part of the result (`{"err": {...}}`), so on replay the script
//! sees the very `nil, err` it saw the first time.

use std::any::Any;

use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

use crate::command::{Command, CommandId};
use crate::error::{ErrorKind, LuaError};

type Boxed = Box<dyn Any + Send>;

/// The conversions of one command type.
#[derive(Clone, Copy)]
pub(crate) struct Codec {
    pub id: CommandId,
    pub name: &'static str,
    /// Workflow side: the parked command, as the activity's input, if it
    /// takes at most the given bytes as JSON (counted before it is built).
    pub encode: fn(&(dyn Any + Send), usize) -> Result<Value, String>,
    /// Activity side: the input, as the command the handler takes (an
    /// `Option<C>`, boxed: the slot `ErasedHandler::start` takes from).
    pub decode: fn(Value) -> Result<Boxed, String>,
    /// Activity side: the handler's boxed result, as the activity's
    /// output, or the error that it takes more than the given bytes as
    /// JSON (counted before it is built).
    pub encode_result: fn(Boxed, usize) -> Value,
    /// Workflow side: the activity's output, as the handler result the
    /// process resumes with.
    pub decode_result: fn(Value) -> Boxed,
    /// A failure, boxed as this command's handler result.
    pub fail: fn(LuaError) -> Boxed,
    /// Workflow side: the command out of its slot (an `Option<C>`), boxed.
    pub take: fn(&mut dyn Any) -> Option<Boxed>,
}

impl Codec {
    pub(crate) fn of<C>() -> Codec
    where
        C: Command + Serialize + DeserializeOwned,
        C::Output: Serialize + DeserializeOwned,
    {
        Codec {
            id: C::ID,
            name: C::NAME,
            encode: encode::<C>,
            decode: decode::<C>,
            encode_result: encode_result::<C>,
            decode_result: decode_result::<C>,
            fail: fail::<C>,
            take: take::<C>,
        }
    }
}

/// A failure boxed as `C`'s handler result.
pub(crate) fn fail<C: Command>(e: LuaError) -> Boxed {
    let r: Result<C::Output, LuaError> = Err(e);
    Box::new(r)
}

/// `C` taken out of its slot (an `Option<C>`), boxed.
pub(crate) fn take<C: Command>(slot: &mut dyn Any) -> Option<Boxed> {
    let cmd = slot.downcast_mut::<Option<C>>()?.take()?;
    Some(Box::new(cmd))
}

fn encode<C: Command + Serialize>(cmd: &(dyn Any + Send), limit: usize) -> Result<Value, String> {
    let cmd = (cmd as &dyn Any)
        .downcast_ref::<C>()
        .ok_or_else(|| format!("command {} ({}) is of another type", C::ID, C::NAME))?;
    // Counted first: built, a command's bytes are a `Value` each (a 32 MiB
    // `Vec<u8>` is a gigabyte of them), on the SDK's thread.
    if json_size(cmd, limit).is_none() {
        return Err(too_large(&format!("command {}", C::NAME), limit));
    }
    serde_json::to_value(cmd).map_err(|e| format!("command {}: {e}", C::NAME))
}

fn decode<C: Command + DeserializeOwned>(v: Value) -> Result<Boxed, String> {
    let cmd: C = serde_json::from_value(v).map_err(|e| format!("command {}: {e}", C::NAME))?;
    Ok(Box::new(Some(cmd)))
}

fn encode_result<C: Command>(result: Boxed, limit: usize) -> Value
where
    C::Output: Serialize,
{
    let r = match result.downcast::<Result<C::Output, LuaError>>() {
        Ok(r) => *r,
        Err(_) => Err(LuaError::new(
            ErrorKind::Internal,
            format!("the handler of {} returned another type", C::NAME),
        )),
    };
    match r {
        Ok(out) if json_size(&out, limit).is_none() => error_json(&LuaError::new(
            ErrorKind::Invalid,
            too_large(&format!("the result of {}", C::NAME), limit),
        )),
        Ok(out) => match serde_json::to_value(out) {
            Ok(v) => json!({ "ok": v }),
            Err(e) => error_json(&LuaError::new(
                ErrorKind::Internal,
                format!("the result of {} does not encode: {e}", C::NAME),
            )),
        },
        Err(e) => error_json(&e),
    }
}

fn decode_result<C: Command>(v: Value) -> Boxed
where
    C::Output: DeserializeOwned,
{
    let r: Result<C::Output, LuaError> = match v {
        Value::Object(mut m) if m.contains_key("ok") => {
            let ok = m.remove("ok").unwrap_or(Value::Null);
            serde_json::from_value(ok).map_err(|e| {
                LuaError::new(
                    ErrorKind::Internal,
                    format!("the recorded result of {} does not decode: {e}", C::NAME),
                )
            })
        }
        Value::Object(mut m) if m.contains_key("err") => {
            Err(error_from_json(m.remove("err").unwrap_or(Value::Null)))
        }
        other => Err(LuaError::new(
            ErrorKind::Internal,
            format!("the recorded result of {} is malformed: {other}", C::NAME),
        )),
    };
    Box::new(r)
}

/// The bytes `v` takes as JSON (counted, not written), if at most
/// `limit`; `None` past it (the count stops there), or if it does not
/// serialize.
pub(crate) fn json_size<T: Serialize + ?Sized>(v: &T, limit: usize) -> Option<usize> {
    struct Count(usize, usize);
    impl std::io::Write for Count {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0 += buf.len();
            if self.0 > self.1 {
                return Err(std::io::Error::other("past the limit"));
            }
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let mut c = Count(0, limit);
    serde_json::to_writer(&mut c, v).ok().map(|()| c.0)
}

fn too_large(what: &str, limit: usize) -> String {
    format!("{what} is too large for Temporal: over {limit} bytes as JSON")
}

/// Refuses a payload past `limit` bytes, saying what it was.
pub(crate) fn within(what: &str, v: Value, limit: usize) -> Result<Value, LuaError> {
    if json_size(&v, limit).is_none() {
        return Err(LuaError::new(ErrorKind::Invalid, too_large(what, limit)));
    }
    Ok(v)
}

/// A handler's result as the activity's output, or the error that it was
/// too large (a payload past Temporal's limit would fail the workflow's
/// task on every try).
pub(crate) fn result_within(codec: &Codec, result: Boxed, limit: usize) -> Value {
    (codec.encode_result)(result, limit)
}

fn error_json(e: &LuaError) -> Value {
    json!({ "err": {
        "kind": e.kind().as_str(),
        "message": e.message(),
        "retryable": e.retryable(),
    }})
}

fn error_from_json(v: Value) -> LuaError {
    let kind = v
        .get("kind")
        .and_then(Value::as_str)
        .and_then(ErrorKind::parse)
        .unwrap_or(ErrorKind::Unknown);
    let message = v.get("message").and_then(Value::as_str).unwrap_or("");
    let e = LuaError::new(kind, message);
    match v.get("retryable").and_then(Value::as_bool) {
        Some(r) => e.with_retryable(r),
        None => e,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, PartialEq, serde::Serialize, serde::Deserialize)]
    struct Charge {
        cents: u64,
    }

    impl Command for Charge {
        const ID: CommandId = CommandId(900);
        const NAME: &'static str = "test.charge";
        type Output = String;
    }

    fn result_of(b: Boxed) -> Result<String, LuaError> {
        *b.downcast::<Result<String, LuaError>>().unwrap()
    }

    #[test]
    fn a_command_and_its_results_survive_the_trip() {
        let c = Codec::of::<Charge>();
        let input = (c.encode)(&Charge { cents: 250 }, 1 << 20).unwrap();
        assert_eq!(input, json!({ "cents": 250 }));
        let back = (c.decode)(input).unwrap();
        assert_eq!(
            *back.downcast::<Option<Charge>>().unwrap(),
            Some(Charge { cents: 250 })
        );

        let ok: Result<String, LuaError> = Ok("receipt-1".into());
        let out = (c.encode_result)(Box::new(ok), 1 << 20);
        assert_eq!(result_of((c.decode_result)(out)).unwrap(), "receipt-1");

        let err: Result<String, LuaError> =
            Err(LuaError::new(ErrorKind::NotFound, "no card").with_retryable(false));
        let e =
            result_of((c.decode_result)((c.encode_result)(Box::new(err), 1 << 20))).unwrap_err();
        assert_eq!(
            (e.kind(), e.message(), e.retryable()),
            (ErrorKind::NotFound, "no card", Some(false))
        );
    }

    #[test]
    fn payloads_past_the_limit_become_errors() {
        let c = Codec::of::<Charge>();
        let big: Result<String, LuaError> = Ok("x".repeat(100));
        let e = result_of((c.decode_result)(result_within(&c, Box::new(big), 64))).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Invalid);
        assert!(
            e.message()
                .contains("the result of test.charge is too large"),
            "{e}"
        );
        let small: Result<String, LuaError> = Ok("r".into());
        let ok = result_of((c.decode_result)(result_within(&c, Box::new(small), 64)));
        assert_eq!(ok.unwrap(), "r");
        let v = json!({ "a": [1, "xy"] });
        assert_eq!(json_size(&v, 100), Some(r#"{"a":[1,"xy"]}"#.len()));
        assert_eq!(json_size(&v, 5), None);
        // A command is refused by its size before it is built.
        let e = (c.encode)(&Charge { cents: 250 }, 8).unwrap_err();
        assert!(
            e.contains("command test.charge is too large for Temporal"),
            "{e}"
        );
    }

    /// A command is counted before it is built, and the count stops at
    /// the limit: a command of a gigabyte of bytes is refused after about
    /// the limit's worth, not turned into a gigabyte of `Value`s first.
    #[test]
    fn commands_are_refused_by_size_before_they_are_built() {
        /// Stands in for a huge command: serializing it past a million
        /// elements panics.
        #[derive(serde::Deserialize)]
        struct Huge;
        impl serde::Serialize for Huge {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                use serde::ser::SerializeSeq;
                let mut seq = s.serialize_seq(None)?;
                for i in 0..u64::MAX {
                    assert!(i < 1_000_000, "serialized past the limit");
                    seq.serialize_element(&0u8)?;
                }
                seq.end()
            }
        }
        impl Command for Huge {
            const ID: CommandId = CommandId(901);
            const NAME: &'static str = "test.huge";
            type Output = String;
        }
        let c = Codec::of::<Huge>();
        let e = (c.encode)(&Huge, 1 << 16).unwrap_err();
        assert!(
            e.contains("command test.huge is too large for Temporal"),
            "{e}"
        );
    }

    #[test]
    fn malformed_input_and_history_are_errors_not_panics() {
        let c = Codec::of::<Charge>();
        assert!(
            (c.decode)(json!({ "cents": "many" }))
                .unwrap_err()
                .contains("test.charge")
        );
        assert!(
            (c.encode)(&5u8, 1 << 20)
                .unwrap_err()
                .contains("another type")
        );
        let e = result_of((c.decode_result)(json!(42))).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Internal);
        let e = result_of((c.decode_result)(json!({ "ok": 42 }))).unwrap_err();
        assert!(e.message().contains("does not decode"), "{e}");
    }
}
