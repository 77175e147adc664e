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
    // Each SenML record is made and written in turn: a gateway's `/25` has thousands.
    let packer = senml::Packer::new(FORMAT, records, target)?;
    let estimate: usize = records
        .iter()
        .map(|r| {
            let value = match &r.value {
                crate::Value::String(s) | crate::Value::CoreLnk(s) => s.len(),
                crate::Value::Opaque(d) => d.len(),
                _ => 0,
            };
            24 + value
        })
        .sum();
    let mut out = Vec::with_capacity(estimate);
    ciborium::ser::into_writer(&Stream { packer: &packer, records }, &mut out)
        .map_err(|e| FormatError::Unrepresentable { format: FORMAT, what: format!("this value ({e})") })?;
    Ok(out)
}

/// Node records written as a SenML pack, record by record.
struct Stream<'a> {
    packer: &'a senml::Packer,
    records: &'a [Record],
}

impl serde::Serialize for Stream<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeSeq;
        let mut seq = serializer.serialize_seq(Some(self.records.len()))?;
        for (index, record) in self.records.iter().enumerate() {
            seq.serialize_element(&Entry(&self.packer.record(index, record)))?;
        }
        seq.end()
    }
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
///
/// Serialised straight from the records (no intermediate CBOR value tree: a gateway's `/25`
/// has thousands of records), with the same serializer and so the same bytes as
/// [`write_item`] of the equivalent value.
pub fn write(pack: &[SenmlRecord]) -> Result<Vec<u8>, FormatError> {
    // Names and strings plus about a dozen bytes of heads and values per record.
    let estimate: usize = pack
        .iter()
        .map(|r| {
            let text = |t: &Option<String>| t.as_ref().map_or(0, String::len);
            let value = match &r.value {
                Some(SenmlValue::String(s) | SenmlValue::ObjLnk(s)) => s.len(),
                Some(SenmlValue::Data(d)) => d.len(),
                _ => 0,
            };
            16 + text(&r.base_name) + text(&r.name) + value
        })
        .sum();
    let mut out = Vec::with_capacity(estimate + 8);
    ciborium::ser::into_writer(&Pack(pack), &mut out)
        .map_err(|e| FormatError::Unrepresentable { format: FORMAT, what: format!("this value ({e})") })?;
    Ok(out)
}

/// A SenML pack as a CBOR array of maps.
struct Pack<'a>(&'a [SenmlRecord]);

/// One SenML record as a CBOR map: `bn`, `bt`, `n`, value, `t`.
struct Entry<'a>(&'a SenmlRecord);

/// A time: an integer when exact, else a float.
struct Time(f64);

impl serde::Serialize for Pack<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeSeq;
        let mut seq = serializer.serialize_seq(Some(self.0.len()))?;
        for record in self.0 {
            seq.serialize_element(&Entry(record))?;
        }
        seq.end()
    }
}

impl serde::Serialize for Entry<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let r = self.0;
        let fields = usize::from(r.base_name.is_some())
            + usize::from(r.base_time.is_some())
            + usize::from(r.name.is_some())
            + usize::from(r.value.is_some())
            + usize::from(r.time.is_some());
        let mut map = serializer.serialize_map(Some(fields))?;
        if let Some(bn) = &r.base_name {
            map.serialize_entry(&-2i64, bn.as_str())?;
        }
        if let Some(bt) = r.base_time {
            map.serialize_entry(&-3i64, &Time(bt))?;
        }
        if let Some(n) = &r.name {
            map.serialize_entry(&0i64, n.as_str())?;
        }
        match &r.value {
            None => {}
            Some(SenmlValue::Number(Number::Integer(i))) => map.serialize_entry(&2i64, i)?,
            Some(SenmlValue::Number(Number::Unsigned(u))) => map.serialize_entry(&2i64, u)?,
            Some(SenmlValue::Number(Number::Float(f))) => map.serialize_entry(&2i64, f)?,
            Some(SenmlValue::String(s)) => map.serialize_entry(&3i64, s.as_str())?,
            Some(SenmlValue::Boolean(b)) => map.serialize_entry(&4i64, b)?,
            Some(SenmlValue::Data(d)) => map.serialize_entry(&8i64, &Bytes(d))?,
            Some(SenmlValue::ObjLnk(s)) => map.serialize_entry("vlo", s.as_str())?,
        }
        if let Some(t) = r.time {
            map.serialize_entry(&6i64, &Time(t))?;
        }
        map.end()
    }
}

impl serde::Serialize for Time {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match cbor_time(self.0) {
            Cbor::Integer(i) => serializer.serialize_i128(i128::from(i)),
            _ => serializer.serialize_f64(self.0),
        }
    }
}

/// A byte string for serde (which would write a `&[u8]` as an array).
struct Bytes<'a>(&'a [u8]);

impl serde::Serialize for Bytes<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_bytes(self.0)
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    fn cbor_number(n: Number) -> Cbor {
        match n {
            Number::Integer(i) => Cbor::Integer(Integer::from(i)),
            Number::Unsigned(u) => Cbor::Integer(Integer::from(u)),
            Number::Float(f) => Cbor::Float(f),
        }
    }

    /// The writer as it was: through a CBOR value tree.
    fn through_a_value_tree(pack: &[SenmlRecord]) -> Vec<u8> {
        let label = |l: i64| Cbor::Integer(Integer::from(l));
        let items = pack
            .iter()
            .map(|record| {
                let mut map: Vec<(Cbor, Cbor)> = Vec::new();
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
                Cbor::Map(map)
            })
            .collect();
        write_item(FORMAT, &Cbor::Array(items)).expect("serialisable")
    }

    #[test]
    fn streamed_packs_are_byte_for_byte_what_a_value_tree_gives() {
        let numbers = [
            Number::Integer(0),
            Number::Integer(23),
            Number::Integer(24),
            Number::Integer(-1),
            Number::Integer(-25),
            Number::Integer(i64::MIN),
            Number::Integer(i64::MAX),
            Number::Unsigned(u64::MAX),
            Number::Float(1.5),
            Number::Float(-0.0),
            Number::Float(0.1),
            Number::Float(65_504.0),
            Number::Float(1e300),
            Number::Float(f64::INFINITY),
            Number::Float(f64::NAN),
        ];
        let mut pack: Vec<SenmlRecord> = numbers
            .iter()
            .enumerate()
            .map(|(i, n)| SenmlRecord {
                base_name: (i == 0).then(|| "/3303/0/".to_owned()),
                base_time: (i == 1).then_some(1_700_000_000.0),
                name: Some(format!("{i}")),
                value: Some(SenmlValue::Number(*n)),
                time: match i % 3 {
                    0 => None,
                    1 => Some(-5.0),
                    _ => Some(0.25),
                },
            })
            .collect();
        let text = |s: &str| Some(s.to_owned());
        let values = [
            SenmlValue::String("é €".into()),
            SenmlValue::String("x".repeat(300)),
            SenmlValue::Boolean(true),
            SenmlValue::Boolean(false),
            SenmlValue::Data(vec![0, 1, 255]),
            SenmlValue::Data(Vec::new()),
            SenmlValue::ObjLnk("3:0".into()),
        ];
        for value in values {
            pack.push(SenmlRecord {
                base_name: None,
                base_time: Some(1.5e9 + 0.5),
                name: text("/25/0/3"),
                value: Some(value),
                time: None,
            });
        }
        pack.push(SenmlRecord { base_name: text("/"), base_time: None, name: None, value: None, time: None });
        assert_eq!(write(&pack).expect("writes"), through_a_value_tree(&pack));
        assert_eq!(write(&[]).expect("writes"), through_a_value_tree(&[]));
    }

    #[test]
    fn records_are_encoded_as_their_pack_is_written() {
        use crate::path::{Path, Prefix};
        let registry = Registry::bundled();
        let record = |o, i, r, value| Record::new(PrefixedPath::plain(Path::Resource(o, i, r)), value);
        let mut records = vec![
            record(25, 0, 0, crate::Value::String("ed-0000".into())),
            record(25, 0, 1, crate::Value::String("d1".into())),
            record(25, 0, 3, crate::Value::CoreLnk("</3/0>,</3303/0>".into())),
            record(25, 1, 0, crate::Value::ObjLnk(3, 0)),
            record(25, 1, 1, crate::Value::Opaque(vec![1, 2])),
        ];
        records[1].time = Some(12.5);
        let prefixed = PrefixedPath { prefix: Some(Prefix::new("d1").expect("valid")), path: Path::Object(3303) };
        let targets = [
            PrefixedPath::plain(Path::Object(25)),
            PrefixedPath::plain(Path::Instance(25, 0)),
            PrefixedPath::plain(Path::Root),
            prefixed,
        ];
        for target in &targets {
            let pack = senml::from_records(FORMAT, &records, target).expect("pack");
            assert_eq!(
                encode(&records, target, &registry).expect("encodes"),
                write(&pack).expect("writes"),
                "{target}"
            );
        }
        let single = &records[..1];
        let target = single[0].path.clone();
        let pack = senml::from_records(FORMAT, single, &target).expect("pack");
        assert_eq!(encode(single, &target, &registry).expect("encodes"), write(&pack).expect("writes"));
        let none = [record(3, 0, 0, crate::Value::None)];
        assert!(encode(&none, &PrefixedPath::plain(Path::Object(3)), &registry).is_err());
    }
}
