//! SenML CBOR, content format 112 (RFC 8428 §6; LwM2M Core TS 1.2 §7.5.7).
//!
//! The same records as SenML JSON with integer labels: `bn` −2, `bt` −3, `n` 0, `v` 2, `vs` 3,
//! `vb` 4, `vd` 8 (a byte string, not base64), `t` 6, and the LwM2M object link under the text
//! key `"vlo"`. Naming, times, prefixes and value typing are shared and documented in
//! [`super::senml`].
//!
//! Reading: the payload must be exactly one CBOR data item (trailing bytes are an error);
//! definite and indefinite lengths are accepted; integers keep their major type (never routed
//! through `f64`); `v` may be any integer in the `i64` or `u64` range or a float of any width;
//! `bt`/`t` may be integers, floats or a decimal fraction (tag 4, as Leshan writes `bt`).
//! Text keys spelled like the JSON names (`"bn"`, `"v"` …) are read as those fields, leniently.
//! A field given twice in one record (also as label and text) is an error; unknown integer
//! labels and unknown text keys are ignored unless the text key ends in `_` (must-understand).
//!
//! Writing is canonical: definite lengths, shortest integer heads, fields in the order `bn`,
//! `bt`, `n`, value, `t`, and every float in the **smallest width that holds it exactly**
//! (half, single or double precision, RFC 8949 §4.2.2 preferred serialisation). Times without
//! fraction are written as integers.

use ciborium::value::{Integer, Value as Cbor};

use super::senml::{
    self, check_unknown_key, invalid, malformed, Field, Number, RecordBuilder, SenmlRecord, SenmlValue,
};
use super::{FormatError, Record};
use crate::model::Registry;
use crate::path::PrefixedPath;

/// Format name used in errors.
pub const FORMAT: &str = "senml+cbor";

/// Decodes a SenML CBOR payload addressed to `target` (see [`super::senml`] for the rules).
pub fn decode(payload: &[u8], target: &PrefixedPath, registry: &Registry) -> Result<Vec<Record>, FormatError> {
    senml::to_records(FORMAT, parse(payload)?, target, registry)
}

/// Encodes records as the SenML CBOR answer for `target` (see [`super::senml`] for the shape).
pub fn encode(records: &[Record], target: &PrefixedPath, _registry: &Registry) -> Result<Vec<u8>, FormatError> {
    write(&senml::from_records(FORMAT, records, target)?)
}

/// Parses SenML CBOR into records, without resolving names or times.
pub fn parse(payload: &[u8]) -> Result<Vec<SenmlRecord>, FormatError> {
    let item = read_item(FORMAT, payload)?;
    let Cbor::Array(items) = item else {
        return Err(malformed(FORMAT, 0, "a SenML pack must be a CBOR array"));
    };
    items.into_iter().enumerate().map(|(index, item)| record(index, item)).collect()
}

/// Writes records as SenML CBOR.
pub fn write(pack: &[SenmlRecord]) -> Result<Vec<u8>, FormatError> {
    let mut items = Vec::with_capacity(pack.len());
    for record in pack {
        let mut map: Vec<(Cbor, Cbor)> = Vec::with_capacity(4);
        let label = |l: i64| Cbor::Integer(Integer::from(l));
        if let Some(bn) = &record.base_name {
            map.push((label(-2), Cbor::Text(bn.clone())));
        }
        if let Some(bt) = record.base_time {
            map.push((label(-3), cbor_time(bt)));
        }
        if let Some(n) = &record.name {
            map.push((label(0), Cbor::Text(n.clone())));
        }
        match &record.value {
            None => {}
            Some(SenmlValue::Number(n)) => map.push((label(2), cbor_number(*n))),
            Some(SenmlValue::String(s)) => map.push((label(3), Cbor::Text(s.clone()))),
            Some(SenmlValue::Boolean(b)) => map.push((label(4), Cbor::Bool(*b))),
            Some(SenmlValue::Data(d)) => map.push((label(8), Cbor::Bytes(d.clone()))),
            Some(SenmlValue::ObjLnk(s)) => map.push((Cbor::Text("vlo".into()), Cbor::Text(s.clone()))),
        }
        if let Some(t) = record.time {
            map.push((label(6), cbor_time(t)));
        }
        items.push(Cbor::Map(map));
    }
    write_item(FORMAT, &Cbor::Array(items))
}

/// Reads exactly one CBOR data item; trailing bytes are an error.
pub(crate) fn read_item(format: &'static str, payload: &[u8]) -> Result<Cbor, FormatError> {
    let mut rest = payload;
    let item: Cbor = ciborium::de::from_reader(&mut rest).map_err(|e| {
        let consumed = payload.len() - rest.len();
        match e {
            ciborium::de::Error::Io(_) => malformed(format, payload.len(), "truncated CBOR"),
            ciborium::de::Error::Syntax(offset) => malformed(format, offset, "invalid CBOR"),
            ciborium::de::Error::Semantic(offset, _) => malformed(format, offset.unwrap_or(consumed), "invalid CBOR"),
            ciborium::de::Error::RecursionLimitExceeded => malformed(format, consumed, "CBOR nested too deeply"),
        }
    })?;
    if !rest.is_empty() {
        let offset = payload.len() - rest.len();
        return Err(malformed(format, offset, format!("{} trailing bytes after the CBOR data item", rest.len())));
    }
    Ok(item)
}

/// Serialises one CBOR data item.
pub(crate) fn write_item(format: &'static str, item: &Cbor) -> Result<Vec<u8>, FormatError> {
    let mut out = Vec::new();
    ciborium::ser::into_writer(item, &mut out)
        .map_err(|e| FormatError::Unrepresentable { format, what: format!("this value ({e})") })?;
    Ok(out)
}

fn cbor_number(n: Number) -> Cbor {
    match n {
        Number::Integer(i) => Cbor::Integer(Integer::from(i)),
        Number::Unsigned(u) => Cbor::Integer(Integer::from(u)),
        Number::Float(f) => Cbor::Float(f),
    }
}

fn cbor_time(t: f64) -> Cbor {
    const EXACT: f64 = 9_007_199_254_740_992.0; // 2^53
    if t.is_finite() && t.fract() == 0.0 && t.abs() <= EXACT {
        // Exact: integral and within ±2^53.
        Cbor::Integer(Integer::from(t as i64))
    } else {
        Cbor::Float(t)
    }
}

fn record(index: usize, item: Cbor) -> Result<SenmlRecord, FormatError> {
    let Cbor::Map(entries) = item else {
        return Err(invalid(FORMAT, format!("record {index} is not a CBOR map")));
    };
    let mut builder = RecordBuilder::default();
    for (key, value) in entries {
        let (field, key_text) = match &key {
            Cbor::Integer(label) => (Field::from_label(i128::from(*label)), i128::from(*label).to_string()),
            Cbor::Text(text) => match Field::from_key(text) {
                Some(field) => (Some(field), text.clone()),
                None => {
                    check_unknown_key(FORMAT, index, text)?;
                    continue;
                }
            },
            _ => return Err(invalid(FORMAT, format!("record {index} has a key that is neither integer nor text"))),
        };
        let Some(field) = field else { continue };
        builder.see(FORMAT, index, field, &key_text)?;
        let wrong = |what: &str| invalid(FORMAT, format!("record {index}: label {key_text} must be {what}"));
        match (field, value) {
            (Field::BaseName, Cbor::Text(s)) => builder.record().base_name = Some(s),
            (Field::Name, Cbor::Text(s)) => builder.record().name = Some(s),
            (Field::BaseTime, v) => builder.record().base_time = Some(time(&v).ok_or_else(|| wrong("a number"))?),
            (Field::Time, v) => builder.record().time = Some(time(&v).ok_or_else(|| wrong("a number"))?),
            (Field::Value, v) => {
                let n = number(&v).ok_or_else(|| wrong("an integer in the i64 or u64 range or a float"))?;
                builder.set_value(FORMAT, index, SenmlValue::Number(n))?;
            }
            (Field::StringValue, Cbor::Text(s)) => builder.set_value(FORMAT, index, SenmlValue::String(s))?,
            (Field::BoolValue, Cbor::Bool(b)) => builder.set_value(FORMAT, index, SenmlValue::Boolean(b))?,
            (Field::DataValue, Cbor::Bytes(d)) => builder.set_value(FORMAT, index, SenmlValue::Data(d))?,
            (Field::ObjLnkValue, Cbor::Text(s)) => builder.set_value(FORMAT, index, SenmlValue::ObjLnk(s))?,
            (Field::Ignored | Field::Refused, _) => {}
            (Field::BaseName | Field::Name | Field::StringValue | Field::ObjLnkValue, _) => return Err(wrong("text")),
            (Field::BoolValue, _) => return Err(wrong("a boolean")),
            (Field::DataValue, _) => return Err(wrong("a byte string")),
        }
    }
    Ok(builder.finish())
}

/// A number as its major type says.
pub(crate) fn number(v: &Cbor) -> Option<Number> {
    match v {
        Cbor::Integer(i) => {
            let i = i128::from(*i);
            if let Ok(i) = i64::try_from(i) {
                Some(Number::Integer(i))
            } else {
                u64::try_from(i).ok().map(Number::Unsigned)
            }
        }
        Cbor::Float(f) => Some(Number::Float(*f)),
        _ => None,
    }
}

/// A time: integer, float or decimal fraction (tag 4: `[exponent, mantissa]`).
fn time(v: &Cbor) -> Option<f64> {
    match v {
        Cbor::Integer(i) => Some(i128::from(*i) as f64),
        Cbor::Float(f) => Some(*f),
        Cbor::Tag(4, inner) => {
            let Cbor::Array(parts) = inner.as_ref() else { return None };
            let [Cbor::Integer(exponent), Cbor::Integer(mantissa)] = parts.as_slice() else { return None };
            let exponent = i32::try_from(i128::from(*exponent)).ok().filter(|e| e.abs() <= 308)?;
            Some(i128::from(*mantissa) as f64 * 10f64.powi(exponent))
        }
        _ => None,
    }
}
