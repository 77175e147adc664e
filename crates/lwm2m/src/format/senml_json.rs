//! SenML JSON, content format 110 (RFC 8428 §5; LwM2M Core TS 1.2 §7.5.6).
//!
//! This module only reads and writes the JSON text; naming, times, prefixes and value typing
//! are shared with SenML CBOR and documented in [`super::senml`].
//!
//! Reading keeps every number as its literal says: `100` and `18446744073709551615` are
//! integers (never routed through `f64`), `1.5`, `1.0` and `1e3` are floats. An integer literal
//! beyond the `u64`/`i64` range can only be read as a float; it is then refused for integer
//! resources. A key given twice in one record is an error. Writing is canonical and compact
//! (no whitespace): integers exactly, floats in the shortest form that reads back to the same
//! `f64` and always with a `.` or exponent (`100.0`, `1e300`), opaque data as base64url without
//! padding, times as integers when they have no fraction. Non-finite floats cannot be written.

use std::fmt;

use serde::de::{self, Deserializer as _, MapAccess, SeqAccess, Visitor};

use super::senml::{
    self, check_unknown_key, invalid, malformed, Field, Number, RecordBuilder, SenmlRecord, SenmlValue,
};
use super::{FormatError, Record};
use crate::model::Registry;
use crate::path::PrefixedPath;

/// Format name used in errors.
pub const FORMAT: &str = "senml+json";

/// Decodes a SenML JSON payload addressed to `target` (see [`super::senml`] for the rules).
pub fn decode(payload: &[u8], target: &PrefixedPath, registry: &Registry) -> Result<Vec<Record>, FormatError> {
    senml::to_records(FORMAT, parse(payload)?, target, registry)
}

/// Encodes records as the SenML JSON answer for `target` (see [`super::senml`] for the shape).
pub fn encode(records: &[Record], target: &PrefixedPath, _registry: &Registry) -> Result<Vec<u8>, FormatError> {
    write(&senml::from_records(FORMAT, records, target)?)
}

/// Parses SenML JSON text into records, without resolving names or times.
pub fn parse(payload: &[u8]) -> Result<Vec<SenmlRecord>, FormatError> {
    let mut deserializer = serde_json::Deserializer::from_slice(payload);
    let raw = deserializer.deserialize_seq(PackVisitor).map_err(|e| json_error(payload, &e))?;
    deserializer.end().map_err(|e| json_error(payload, &e))?;
    raw.into_iter().enumerate().map(|(index, fields)| record(index, fields)).collect()
}

/// Writes records as compact SenML JSON, fields in the order `bn`, `bt`, `n`, value, `t`.
pub fn write(pack: &[SenmlRecord]) -> Result<Vec<u8>, FormatError> {
    let mut out = String::from("[");
    for (index, record) in pack.iter().enumerate() {
        if index > 0 {
            out.push(',');
        }
        let mut fields: Vec<String> = Vec::new();
        if let Some(bn) = &record.base_name {
            fields.push(format!("\"bn\":{}", json_string(bn)));
        }
        if let Some(bt) = record.base_time {
            fields.push(format!("\"bt\":{}", json_time(bt)?));
        }
        if let Some(n) = &record.name {
            fields.push(format!("\"n\":{}", json_string(n)));
        }
        match &record.value {
            None => {}
            Some(SenmlValue::Number(n)) => fields.push(format!("\"v\":{}", json_number(*n)?)),
            Some(SenmlValue::String(s)) => fields.push(format!("\"vs\":{}", json_string(s))),
            Some(SenmlValue::Boolean(b)) => fields.push(format!("\"vb\":{b}")),
            Some(SenmlValue::Data(d)) => fields.push(format!("\"vd\":\"{}\"", senml::encode_base64(d))),
            Some(SenmlValue::ObjLnk(s)) => fields.push(format!("\"vlo\":{}", json_string(s))),
        }
        if let Some(t) = record.time {
            fields.push(format!("\"t\":{}", json_time(t)?));
        }
        out.push('{');
        out.push_str(&fields.join(","));
        out.push('}');
    }
    out.push(']');
    Ok(out.into_bytes())
}

fn json_string(s: &str) -> String {
    serde_json::Value::String(s.to_owned()).to_string()
}

fn json_number(n: Number) -> Result<String, FormatError> {
    match n {
        Number::Integer(i) => Ok(i.to_string()),
        Number::Unsigned(u) => Ok(u.to_string()),
        Number::Float(f) => json_float(f),
    }
}

fn json_float(f: f64) -> Result<String, FormatError> {
    if !f.is_finite() {
        return Err(FormatError::Unrepresentable { format: FORMAT, what: format!("the non-finite float {f}") });
    }
    // serde_json prints the shortest round-trip form and always marks it as a float.
    Ok(serde_json::Value::from(f).to_string())
}

/// Times without fraction are written as integers (`1367491215`), others as floats.
fn json_time(t: f64) -> Result<String, FormatError> {
    const EXACT: f64 = 9_007_199_254_740_992.0; // 2^53
    if t.is_finite() && t.fract() == 0.0 && t.abs() <= EXACT {
        // Exact: |t| <= 2^53 and integral, so the conversion loses nothing.
        Ok(format!("{}", t as i64))
    } else {
        json_float(t)
    }
}

/// Converts a serde_json error into a byte offset in the payload.
fn json_error(payload: &[u8], e: &serde_json::Error) -> FormatError {
    let (line, column) = (e.line(), e.column());
    let mut offset = 0;
    if line > 1 {
        let mut seen = 1;
        for (i, b) in payload.iter().enumerate() {
            if *b == b'\n' {
                seen += 1;
                if seen == line {
                    offset = i + 1;
                    break;
                }
            }
        }
    }
    let offset = (offset + column.saturating_sub(1)).min(payload.len());
    // serde_json's messages may quote the payload; say what is wrong in our own words.
    let reason = match e.classify() {
        serde_json::error::Category::Eof => "truncated JSON",
        serde_json::error::Category::Syntax | serde_json::error::Category::Io => "invalid JSON",
        serde_json::error::Category::Data => "not a SenML pack (an array of objects)",
    };
    malformed(FORMAT, offset, reason)
}

type RawRecord = Vec<(String, serde_json::Value)>;

struct PackVisitor;

impl<'de> Visitor<'de> for PackVisitor {
    type Value = Vec<RawRecord>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a SenML pack (JSON array of records)")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let mut records = Vec::new();
        while let Some(RawRecordSeed(fields)) = seq.next_element()? {
            records.push(fields);
        }
        Ok(records)
    }
}

struct RawRecordSeed(RawRecord);

impl<'de> de::Deserialize<'de> for RawRecordSeed {
    fn deserialize<D: de::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_map(RecordVisitor).map(Self)
    }
}

struct RecordVisitor;

impl<'de> Visitor<'de> for RecordVisitor {
    type Value = RawRecord;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a SenML record (JSON object)")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut fields = Vec::new();
        while let Some((key, value)) = map.next_entry::<String, serde_json::Value>()? {
            fields.push((key, value));
        }
        Ok(fields)
    }
}

fn record(index: usize, fields: RawRecord) -> Result<SenmlRecord, FormatError> {
    let mut builder = RecordBuilder::default();
    for (key, value) in fields {
        let Some(field) = Field::from_key(&key) else {
            check_unknown_key(FORMAT, index, &key)?;
            continue;
        };
        builder.see(FORMAT, index, field, &key)?;
        let wrong = |what: &str| invalid(FORMAT, format!("record {index}: {key} must be {what}"));
        match field {
            Field::BaseName => {
                builder.record().base_name = Some(value.as_str().ok_or_else(|| wrong("a string"))?.into())
            }
            Field::Name => builder.record().name = Some(value.as_str().ok_or_else(|| wrong("a string"))?.into()),
            Field::BaseTime => builder.record().base_time = Some(value.as_f64().ok_or_else(|| wrong("a number"))?),
            Field::Time => builder.record().time = Some(value.as_f64().ok_or_else(|| wrong("a number"))?),
            Field::Value => {
                let serde_json::Value::Number(n) = &value else { return Err(wrong("a number")) };
                builder.set_value(FORMAT, index, SenmlValue::Number(number(n).ok_or_else(|| wrong("a number"))?))?;
            }
            Field::StringValue => {
                let s = value.as_str().ok_or_else(|| wrong("a string"))?;
                builder.set_value(FORMAT, index, SenmlValue::String(s.into()))?;
            }
            Field::BoolValue => {
                let b = value.as_bool().ok_or_else(|| wrong("a boolean"))?;
                builder.set_value(FORMAT, index, SenmlValue::Boolean(b))?;
            }
            Field::DataValue => {
                let s = value.as_str().ok_or_else(|| wrong("a base64 string"))?;
                let data = senml::decode_base64(s).ok_or_else(|| wrong("valid base64 or base64url"))?;
                builder.set_value(FORMAT, index, SenmlValue::Data(data))?;
            }
            Field::ObjLnkValue => {
                let s = value.as_str().ok_or_else(|| wrong("a string"))?;
                builder.set_value(FORMAT, index, SenmlValue::ObjLnk(s.into()))?;
            }
            Field::Ignored | Field::Refused => {}
        }
    }
    Ok(builder.finish())
}

/// The kind of a JSON number as its literal says: no fraction or exponent means integer.
fn number(n: &serde_json::Number) -> Option<Number> {
    if n.is_f64() {
        n.as_f64().map(Number::Float)
    } else if let Some(i) = n.as_i64() {
        Some(Number::Integer(i))
    } else {
        n.as_u64().map(Number::from_u64)
    }
}
