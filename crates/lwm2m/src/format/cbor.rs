//! application/cbor, content format 60 (LwM2M Core TS 1.2 §7.5.3; RFC 8949).
//!
//! Exactly one CBOR data item holding the value of one resource or resource instance: the
//! target must be `/o/i/r` (of a single-instance resource) or `/o/i/r/ri`, and the one record
//! carries the target path, gateway prefix included. Bytes after the item are refused.
//!
//! | CBOR item | decoded as (no model) | written for |
//! |---|---|---|
//! | unsigned (major 0) | Integer, or Unsigned above `i64::MAX` | Unsigned, and Integer/Time ≥ 0 |
//! | negative (major 1) | Integer; below `i64::MIN` refused | Integer/Time < 0 |
//! | float16/32/64 | Float | Float, in the shortest width that keeps the value |
//! | text string | String | String, Corelnk, Objlnk (`"oid:iid"`) |
//! | byte string | Opaque | Opaque |
//! | true/false | Boolean | Boolean |
//! | null (or undefined) | none | none |
//! | tag 1 (epoch time) on an integer or integral float | Time | — |
//!
//! CBOR carries types, but not all LwM2M ones: when the [`Registry`] knows the resource the
//! decoded value is coerced to the declared type with [`Value::coerce`] (an error when that would
//! lose information), and a text string becomes an Objlnk when the model says so. When the model
//! does not know the resource the value is kept as decoded; integers never pass through `f64`.
//! Time is written as a plain integer (tag 1 is accepted on input); tag 0 date strings, other
//! tags, arrays and maps are refused. On encode the value is first coerced to the model's type;
//! a record's own prefix is not consulted.

use ciborium::value::Value as Cbor;

use super::text::{check_single_target, coerce_to_model, parse_objlnk, single_record};
use super::{FormatError, Record};
use crate::model::Registry;
use crate::path::PrefixedPath;
use crate::value::{DataType, Value};

const FORMAT: &str = "cbor";

fn malformed(offset: usize, reason: impl Into<String>) -> FormatError {
    FormatError::Malformed { format: FORMAT, offset, reason: reason.into() }
}

fn invalid(reason: impl Into<String>) -> FormatError {
    FormatError::Invalid { format: FORMAT, reason: reason.into() }
}

/// Decodes the single CBOR data item addressed to `target`.
pub fn decode(payload: &[u8], target: &PrefixedPath, registry: &Registry) -> Result<Vec<Record>, FormatError> {
    check_single_target(FORMAT, target, registry)?;
    let mut rest = payload;
    let item: Cbor = ciborium::de::from_reader(&mut rest).map_err(|e| {
        let at = payload.len() - rest.len();
        match e {
            ciborium::de::Error::Io(_) => malformed(at, "truncated cbor item"),
            ciborium::de::Error::Syntax(offset) => malformed(offset, "invalid cbor"),
            ciborium::de::Error::Semantic(offset, _) => malformed(offset.unwrap_or(at), "unsupported cbor item"),
            ciborium::de::Error::RecursionLimitExceeded => malformed(at, "cbor nested too deeply"),
        }
    })?;
    if !rest.is_empty() {
        let at = payload.len() - rest.len();
        return Err(malformed(at, format!("{} trailing bytes after the cbor item", rest.len())));
    }
    let data_type = registry.data_type(&target.path);
    let value = item_value(item, data_type).map_err(|reason| invalid(format!("{target}: {reason}")))?;
    let value = match data_type {
        Some(data_type) => value.coerce(data_type).map_err(|e| invalid(format!("{target}: {e}")))?,
        None => value,
    };
    Ok(vec![Record::new(target.clone(), value)])
}

/// The LwM2M value of a CBOR item; `data_type` only decides how text is read.
fn item_value(item: Cbor, data_type: Option<DataType>) -> Result<Value, String> {
    Ok(match item {
        Cbor::Integer(i) => integer(i128::from(i))?,
        Cbor::Float(f) => Value::Float(f),
        Cbor::Text(s) => match data_type {
            Some(DataType::ObjLnk) => parse_objlnk(&s).ok_or("text is not an object link \"oid:iid\"")?,
            _ => Value::String(s),
        },
        Cbor::Bytes(b) => Value::Opaque(b),
        Cbor::Bool(b) => Value::Boolean(b),
        Cbor::Null => Value::None,
        Cbor::Tag(1, inner) => match *inner {
            Cbor::Integer(i) => Value::Time(i64::try_from(i128::from(i)).map_err(|_| "epoch time out of i64 range")?),
            Cbor::Float(f) => match Value::Float(f).coerce(DataType::Time) {
                Ok(time) => time,
                Err(_) => return Err("epoch time with a fraction or out of range".into()),
            },
            _ => return Err("tag 1 must hold a number".into()),
        },
        Cbor::Tag(0, _) => return Err("tag 0 date strings are not supported; use tag 1 or an integer".into()),
        Cbor::Tag(tag, _) => return Err(format!("cbor tag {tag} is not a resource value")),
        Cbor::Array(_) => return Err("plain cbor carries one value, not an array".into()),
        Cbor::Map(_) => return Err("plain cbor carries one value, not a map".into()),
        _ => return Err("unsupported cbor item".into()),
    })
}

fn integer(i: i128) -> Result<Value, String> {
    if let Ok(i) = i64::try_from(i) {
        Ok(Value::Integer(i))
    } else if let Ok(u) = u64::try_from(i) {
        Ok(Value::Unsigned(u))
    } else {
        Err("integer out of the 64-bit range".into())
    }
}

/// Encodes the one record for `target` as a single CBOR data item.
pub fn encode(records: &[Record], target: &PrefixedPath, registry: &Registry) -> Result<Vec<u8>, FormatError> {
    let record = single_record(FORMAT, records, target, registry)?;
    let item = match coerce_to_model(FORMAT, record, registry)? {
        Value::String(s) | Value::CoreLnk(s) => Cbor::Text(s),
        Value::Integer(i) | Value::Time(i) => Cbor::Integer(i.into()),
        Value::Unsigned(u) => Cbor::Integer(u.into()),
        Value::Float(f) => Cbor::Float(f),
        Value::Boolean(b) => Cbor::Bool(b),
        Value::Opaque(bytes) => Cbor::Bytes(bytes),
        Value::ObjLnk(o, i) => Cbor::Text(format!("{o}:{i}")),
        Value::None => Cbor::Null,
    };
    let mut out = Vec::new();
    ciborium::ser::into_writer(&item, &mut out)
        .map_err(|e| invalid(format!("{}: cannot write cbor: {e}", record.path)))?;
    Ok(out)
}
