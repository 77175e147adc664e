//! OMA LwM2M JSON, content format 11543, legacy 1543 (LwM2M Core TS 1.0.2 §6.4.4; legacy since
//! 1.1): `{"bn":"/3/0/","bt":…,"e":[{"n":"0","sv":"Open Mobile Alliance"},{"n":"9","v":100}]}`.
//!
//! Accepted from peers, never to be chosen for 1.1+ peers (see spec notes §3.2, pitfall 2).
//!
//! **Names.** An entry's path is `bn` + `n`; an absent `bn` is the empty string (as Leshan reads
//! it), and a name that then does not start with `/` is taken relative to the target
//! (`{"e":[{"n":"0",…}]}` for `/3/0`). Names may carry a gateway prefix (`"bn":"/d01/3/0/"`); it
//! must then be the target's prefix, and a name without one gets the target's prefix. Every
//! entry must name a resource or resource instance under the target, shaped as the model
//! declares it (instances of a multi-instance resource, a single-instance resource itself).
//!
//! **Values.** `v` is a number, `sv` a string, `bv` a boolean, `ov` an object link `"oid:iid"`;
//! exactly one per entry. Opaque is `sv` holding standard base64 (padding optional on input),
//! and an Objlnk is also read from `sv` when the model says so (Leshan writes it that way). JSON
//! numbers without fraction or exponent are read exactly as Integer (or Unsigned above
//! `i64::MAX`), never through `f64`; others are Float. When the [`Registry`] knows the resource,
//! the value is coerced to the declared type with [`Value::coerce`] (an error if that would lose
//! information); otherwise it is kept as decoded, an `sv` staying a String.
//!
//! **Time.** A record's time is `bt` + `t` when both are present, else whichever is present,
//! else none. Relative times (SenML's "negative or small means before now") are not resolved
//! here. Several entries may name one path with different times (historical values).
//!
//! **Encode.** `bn` is the target path (prefix included) followed by `/`, and each entry's `n`
//! is the record's path relative to it (`"0"`, `"6/0"`, `"0/1"`). When the only record is the
//! target itself (a single resource or resource instance), `bn` is that path without `/` and
//! the entry has no `n`, as Leshan writes it, since a trailing `/` would make `bn`+`n` name no
//! path. A record's own prefix is not consulted. Values are coerced to the model's type first;
//! a timestamped record gets an absolute `t`, no `bt` is written.

use serde_json::{Map, Number, Value as Json};

use super::text::{check_shape, coerce_to_model, decode_base64, encode_base64, parse_objlnk};
use super::{FormatError, Record};
use crate::model::Registry;
use crate::path::{Path, PrefixedPath};
use crate::value::{DataType, Value};

const FORMAT: &str = "oma json";

fn invalid(reason: impl Into<String>) -> FormatError {
    FormatError::Invalid { format: FORMAT, reason: reason.into() }
}

/// Decodes an OMA JSON payload answering or addressed to `target`.
pub fn decode(payload: &[u8], target: &PrefixedPath, registry: &Registry) -> Result<Vec<Record>, FormatError> {
    let root: Json = serde_json::from_slice(payload).map_err(|e| FormatError::Malformed {
        format: FORMAT,
        offset: byte_offset(payload, e.line(), e.column()),
        reason: format!("invalid json ({:?} error)", e.classify()).to_lowercase(),
    })?;
    let Json::Object(root) = root else {
        return Err(invalid("the payload is not a json object"));
    };
    let base_name = match root.get("bn") {
        None => "",
        Some(Json::String(s)) => s.as_str(),
        Some(_) => return Err(invalid("\"bn\" is not a string")),
    };
    let base_time = optional_number(&root, "bt", "the root object")?;
    let entries = match root.get("e") {
        Some(Json::Array(entries)) => entries,
        Some(_) => return Err(invalid("\"e\" is not an array")),
        None => return Err(invalid("no \"e\" array")),
    };
    let relative_base = match target.path {
        Path::Root => target.to_string(),
        _ => format!("{target}/"),
    };
    let mut records = Vec::with_capacity(entries.len());
    for (index, entry) in entries.iter().enumerate() {
        let Json::Object(entry) = entry else {
            return Err(invalid(format!("entry {index} is not an object")));
        };
        let name = match entry.get("n") {
            None => "",
            Some(Json::String(s)) => s.as_str(),
            Some(_) => return Err(invalid(format!("entry {index}: \"n\" is not a string"))),
        };
        let mut full = format!("{base_name}{name}");
        if !full.starts_with('/') {
            full.insert_str(0, &relative_base);
        }
        let path = resolve(&full, target).map_err(|reason| invalid(format!("entry {index}: {reason}")))?;
        check_shape(FORMAT, &path, registry)?;
        let value = entry_value(entry, registry.data_type(&path.path))
            .map_err(|reason| invalid(format!("entry {index} ({path}): {reason}")))?;
        let value = match registry.data_type(&path.path) {
            Some(data_type) => value.coerce(data_type).map_err(|e| invalid(format!("entry {index} ({path}): {e}")))?,
            None => value,
        };
        let time = optional_number(entry, "t", &format!("entry {index}"))?;
        let time = match (base_time, time) {
            (Some(bt), Some(t)) => Some(bt + t),
            (bt, t) => bt.or(t),
        };
        records.push(Record { path, value, time });
    }
    Ok(records)
}

/// 1-based line and column (as serde_json reports them) to a byte offset, clamped to the payload.
fn byte_offset(payload: &[u8], line: usize, column: usize) -> usize {
    let line_start: usize = payload.split(|&b| b == b'\n').take(line.saturating_sub(1)).map(|l| l.len() + 1).sum();
    (line_start + column.saturating_sub(1)).min(payload.len())
}

fn optional_number(object: &Map<String, Json>, key: &str, whose: &str) -> Result<Option<f64>, FormatError> {
    match object.get(key) {
        None => Ok(None),
        Some(Json::Number(n)) => Ok(n.as_f64()),
        Some(_) => Err(invalid(format!("{whose}: \"{key}\" is not a number"))),
    }
}

/// Parses a resolved name and checks it against the target: a resource or resource instance
/// below `target.path`, with no prefix or the target's.
fn resolve(full: &str, target: &PrefixedPath) -> Result<PrefixedPath, String> {
    let parsed: PrefixedPath = full.parse().map_err(|_| "the name is not an lwm2m path".to_owned())?;
    let prefix = match (parsed.prefix, &target.prefix) {
        (None, prefix) => prefix.clone(),
        (Some(p), Some(t)) if &p == t => Some(p),
        (Some(p), _) => return Err(format!("prefix {p} does not match the target {target}")),
    };
    let path = PrefixedPath { prefix, path: parsed.path };
    if !matches!(path.path, Path::Resource(..) | Path::ResourceInstance(..)) {
        return Err(format!("{path} is not a resource or resource instance"));
    }
    if !target.path.contains(&path.path) {
        return Err(format!("{path} lies outside the target {target}"));
    }
    Ok(path)
}

/// The value of an entry: exactly one of `v`, `sv`, `bv`, `ov`.
fn entry_value(entry: &Map<String, Json>, data_type: Option<DataType>) -> Result<Value, String> {
    let mut found = ["v", "sv", "bv", "ov"].into_iter().filter_map(|k| entry.get(k).map(|v| (k, v)));
    let Some((key, json)) = found.next() else {
        return Err("no value (v, sv, bv or ov)".into());
    };
    if let Some((other, _)) = found.next() {
        return Err(format!("both \"{key}\" and \"{other}\""));
    }
    let wrong = || format!("\"{key}\" holds the wrong json type");
    Ok(match (key, json) {
        ("v", Json::Number(n)) => number(n).ok_or_else(wrong)?,
        ("bv", Json::Bool(b)) => Value::Boolean(*b),
        ("ov", Json::String(s)) => parse_objlnk(s).ok_or("\"ov\" is not an object link \"oid:iid\"")?,
        ("sv", Json::String(s)) => match data_type {
            Some(DataType::Opaque) => {
                Value::Opaque(decode_base64(s).map_err(|at| format!("invalid base64 at character {at}"))?)
            }
            Some(DataType::ObjLnk) => parse_objlnk(s).ok_or("\"sv\" is not an object link \"oid:iid\"")?,
            _ => Value::String(s.clone()),
        },
        _ => return Err(wrong()),
    })
}

/// A JSON number as Integer, Unsigned (above `i64::MAX`) or Float; integers never via `f64`.
fn number(n: &Number) -> Option<Value> {
    if let Some(i) = n.as_i64() {
        Some(Value::Integer(i))
    } else if let Some(u) = n.as_u64() {
        Some(Value::Unsigned(u))
    } else {
        n.as_f64().map(Value::Float)
    }
}

/// Encodes `records` as an OMA JSON object for `target`.
pub fn encode(records: &[Record], target: &PrefixedPath, registry: &Registry) -> Result<Vec<u8>, FormatError> {
    let whole_target = matches!(records, [only] if only.path.path == target.path);
    let base_name = match target.path {
        _ if whole_target => target.to_string(),
        Path::Root => target.to_string(),
        _ => format!("{target}/"),
    };
    let mut out = String::from("{\"bn\":");
    out.push_str(&json_string(&base_name));
    out.push_str(",\"e\":[");
    for (index, record) in records.iter().enumerate() {
        let path = record.path.path;
        if !matches!(path, Path::Resource(..) | Path::ResourceInstance(..)) {
            return Err(invalid(format!("record {} is not a resource or resource instance", record.path)));
        }
        if !target.path.contains(&path) {
            return Err(invalid(format!("record {} lies outside the target {target}", record.path)));
        }
        check_shape(FORMAT, &record.path, registry)?;
        if index > 0 {
            out.push(',');
        }
        out.push('{');
        if !whole_target {
            let relative: Vec<String> = path.ids()[target.path.depth()..].iter().map(u16::to_string).collect();
            out.push_str("\"n\":");
            out.push_str(&json_string(&relative.join("/")));
            out.push(',');
        }
        let (key, json) = match coerce_to_model(FORMAT, record, registry)? {
            Value::String(s) | Value::CoreLnk(s) => ("sv", json_string(&s)),
            Value::Integer(i) | Value::Time(i) => ("v", i.to_string()),
            Value::Unsigned(u) => ("v", u.to_string()),
            Value::Float(f) => ("v", json_float(f).ok_or_else(|| non_finite(record))?),
            Value::Boolean(b) => ("bv", b.to_string()),
            Value::Opaque(bytes) => ("sv", json_string(&encode_base64(&bytes))),
            Value::ObjLnk(o, i) => ("ov", json_string(&format!("{o}:{i}"))),
            Value::None => {
                return Err(FormatError::Unrepresentable {
                    format: FORMAT,
                    what: format!("the valueless (executable) resource {}", record.path),
                })
            }
        };
        out.push_str(&format!("\"{key}\":{json}"));
        if let Some(time) = record.time {
            let time = if time.fract() == 0.0 && time.abs() < 9.0e15 {
                format!("{}", time as i64)
            } else {
                json_float(time).ok_or_else(|| non_finite(record))?
            };
            out.push_str(&format!(",\"t\":{time}"));
        }
        out.push('}');
    }
    out.push_str("]}");
    Ok(out.into_bytes())
}

fn non_finite(record: &Record) -> FormatError {
    FormatError::Unrepresentable { format: FORMAT, what: format!("a non-finite number in {}", record.path) }
}

fn json_string(s: &str) -> String {
    Json::String(s.to_owned()).to_string()
}

/// A finite float as a JSON number that reads back to the same `f64` (`22.0`, `0.1`, `1e300`).
fn json_float(f: f64) -> Option<String> {
    Number::from_f64(f).map(|n| n.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_error_positions_become_byte_offsets() {
        let payload = b"{\n  \"bn\": x}";
        assert_eq!(byte_offset(payload, 2, 9), 10);
        assert_eq!(byte_offset(payload, 1, 1), 0);
        assert_eq!(byte_offset(payload, 9, 9), payload.len());
    }
}
