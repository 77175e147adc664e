//! text/plain, content format 0, legacy 1541 (LwM2M Core TS 1.2 §7.5.1, Appendix C).
//!
//! One value of one resource or resource instance: the target must be `/o/i/r` of a resource
//! the model does not declare multi-instance, or `/o/i/r/ri` of one it does not declare
//! single-instance, and the one record carries the target path,
//! gateway prefix included. Text carries no type, so decoding needs the [`Registry`]: a resource
//! it does not know is refused with [`FormatError::Invalid`] saying the model is needed.
//!
//! | type | text |
//! |---|---|
//! | Integer, Time | ASCII decimal (`-5`; a leading `+` is accepted) |
//! | Unsigned | ASCII decimal |
//! | Float | ASCII decimal, exponent accepted on input (`22`, `22.5`, `1e3`); `inf` and `NaN` refused. Output is the shortest decimal that reads back to the same `f64`, never with an exponent, and integral values keep a `.0` (`22.0`, as Leshan writes them) |
//! | Boolean | `0` or `1` |
//! | String, Corelnk | the UTF-8 text |
//! | Opaque | base64 (standard alphabet) with padding; input without padding is accepted |
//! | Objlnk | `oid:iid` in decimal |
//!
//! No whitespace is trimmed. On encode the value is first coerced to the model's type
//! ([`Value::coerce`]) when the model knows the resource; a record's own prefix is not consulted.
//!
//! This module also holds the pieces the other single-value formats (opaque, CBOR) and OMA JSON
//! share with text: target checks, the `oid:iid` form and base64.

use base64::alphabet;
use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig};
use base64::engine::DecodePaddingMode;
use base64::Engine as _;

use super::{FormatError, Record};
use crate::model::Registry;
use crate::path::{Path, PrefixedPath};
use crate::value::{DataType, Value};

const FORMAT: &str = "text/plain";

/// Standard base64: writes padding, reads with or without it.
const BASE64: GeneralPurpose = GeneralPurpose::new(
    &alphabet::STANDARD,
    GeneralPurposeConfig::new().with_encode_padding(true).with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// Decodes a text/plain payload for the resource or resource instance `target`.
pub fn decode(payload: &[u8], target: &PrefixedPath, registry: &Registry) -> Result<Vec<Record>, FormatError> {
    check_single_target(FORMAT, target, registry)?;
    let data_type = registry.data_type(&target.path).ok_or_else(|| FormatError::Invalid {
        format: FORMAT,
        reason: format!("text carries no type: the object model of {target} is needed to read it"),
    })?;
    let text = std::str::from_utf8(payload).map_err(|e| FormatError::Malformed {
        format: FORMAT,
        offset: e.valid_up_to(),
        reason: "payload is not valid utf-8".into(),
    })?;
    let value =
        parse(text, data_type).map_err(|(offset, reason)| FormatError::Malformed { format: FORMAT, offset, reason })?;
    Ok(vec![Record::new(target.clone(), value)])
}

/// Encodes the one record for `target` as text.
pub fn encode(records: &[Record], target: &PrefixedPath, registry: &Registry) -> Result<Vec<u8>, FormatError> {
    let record = single_record(FORMAT, records, target, registry)?;
    let value = coerce_to_model(FORMAT, record, registry)?;
    let text = match value {
        Value::String(s) | Value::CoreLnk(s) => s,
        Value::Integer(i) | Value::Time(i) => i.to_string(),
        Value::Unsigned(u) => u.to_string(),
        Value::Float(f) => format_float(f).ok_or_else(|| FormatError::Unrepresentable {
            format: FORMAT,
            what: format!("the non-finite float of {}", record.path),
        })?,
        Value::Boolean(b) => if b { "1" } else { "0" }.to_owned(),
        Value::Opaque(bytes) => encode_base64(&bytes),
        Value::ObjLnk(o, i) => format!("{o}:{i}"),
        Value::None => {
            return Err(FormatError::Unrepresentable {
                format: FORMAT,
                what: format!("the valueless (executable) resource {}", record.path),
            })
        }
    };
    Ok(text.into_bytes())
}

/// Parses `text` as `data_type`; errors are (byte offset, reason) and never quote the input.
fn parse(text: &str, data_type: DataType) -> Result<Value, (usize, String)> {
    let not = |what: &str| (0, format!("text is not {what}"));
    Ok(match data_type {
        DataType::String => Value::String(text.to_owned()),
        DataType::CoreLnk => Value::CoreLnk(text.to_owned()),
        DataType::Integer => Value::Integer(text.parse().map_err(|_| not("a decimal integer in i64 range"))?),
        DataType::Time => Value::Time(text.parse().map_err(|_| not("a decimal unix time in i64 range"))?),
        DataType::Unsigned => {
            Value::Unsigned(text.parse().map_err(|_| not("a decimal unsigned integer in u64 range"))?)
        }
        DataType::Float => Value::Float(parse_float(text).ok_or_else(|| not("a finite decimal number"))?),
        DataType::Boolean => match text {
            "0" => Value::Boolean(false),
            "1" => Value::Boolean(true),
            _ => return Err(not("a boolean (0 or 1)")),
        },
        DataType::Opaque => Value::Opaque(decode_base64(text).map_err(|offset| (offset, "invalid base64".into()))?),
        DataType::ObjLnk => parse_objlnk(text).ok_or_else(|| not("an object link oid:iid"))?,
        DataType::None => return Err(not("a value: the resource is executable and has none")),
    })
}

/// A decimal number: digits, sign, point and exponent only (no `inf`, `NaN`), finite.
pub(crate) fn parse_float(text: &str) -> Option<f64> {
    let decimal = text.bytes().all(|b| b.is_ascii_digit() || matches!(b, b'+' | b'-' | b'.' | b'e' | b'E'));
    let has_digit = text.bytes().any(|b| b.is_ascii_digit());
    let f: f64 = (decimal && has_digit).then(|| text.parse().ok()).flatten()?;
    f.is_finite().then_some(f)
}

/// The shortest round-trip decimal without exponent, `.0` added to integral values; `None` for
/// NaN and infinities.
pub(crate) fn format_float(f: f64) -> Option<String> {
    if !f.is_finite() {
        return None;
    }
    let mut s = f.to_string();
    if !s.contains('.') {
        s.push_str(".0");
    }
    Some(s)
}

/// `oid:iid`, both decimal 16-bit IDs.
pub(crate) fn parse_objlnk(text: &str) -> Option<Value> {
    let (o, i) = text.split_once(':')?;
    let id = |s: &str| if s.bytes().all(|b| b.is_ascii_digit()) { s.parse::<u16>().ok() } else { None };
    Some(Value::ObjLnk(id(o)?, id(i)?))
}

/// Standard base64 with padding.
pub(crate) fn encode_base64(bytes: &[u8]) -> String {
    BASE64.encode(bytes)
}

/// Standard base64, padding optional; the error is the offset of the first bad character.
pub(crate) fn decode_base64(text: &str) -> Result<Vec<u8>, usize> {
    BASE64.decode(text).map_err(|e| match e {
        base64::DecodeError::InvalidByte(offset, _) | base64::DecodeError::InvalidLastSymbol(offset, _) => offset,
        base64::DecodeError::InvalidLength(len) => len,
        base64::DecodeError::InvalidPadding => text.find('=').unwrap_or(text.len()),
    })
}

/// Checks that `target` names one value: a resource instance, or a resource the model does not
/// declare multi-instance.
pub(crate) fn check_single_target(
    format: &'static str,
    target: &PrefixedPath,
    registry: &Registry,
) -> Result<(), FormatError> {
    match target.path {
        Path::Resource(..) if registry.is_multiple(&target.path) == Some(true) => Err(FormatError::Unrepresentable {
            format,
            what: format!("the multi-instance resource {target}; address one of its instances"),
        }),
        Path::Resource(..) | Path::ResourceInstance(..) => check_shape(format, target, registry),
        _ => Err(FormatError::Unrepresentable {
            format,
            what: format!("{target}: only a single resource or resource instance"),
        }),
    }
}

/// Checks a resource or resource-instance path against the model's multiplicity: a
/// multi-instance resource is named by its instances, a single-instance one by itself. Paths the
/// model does not know pass.
pub(crate) fn check_shape(format: &'static str, path: &PrefixedPath, registry: &Registry) -> Result<(), FormatError> {
    match (path.path, registry.is_multiple(&path.path)) {
        (Path::Resource(..), Some(true)) => Err(FormatError::Invalid {
            format,
            reason: format!("{path} is a multi-instance resource, whose values are named by resource instance"),
        }),
        (Path::ResourceInstance(..), Some(false)) => Err(FormatError::Invalid {
            format,
            reason: format!("{path} names an instance of a single-instance resource"),
        }),
        _ => Ok(()),
    }
}

/// The one record a single-value format can carry, which must name `target` (prefix aside).
pub(crate) fn single_record<'a>(
    format: &'static str,
    records: &'a [Record],
    target: &PrefixedPath,
    registry: &Registry,
) -> Result<&'a Record, FormatError> {
    check_single_target(format, target, registry)?;
    let [record] = records else {
        return Err(FormatError::Unrepresentable {
            format,
            what: format!("{} records for {target}; exactly one value", records.len()),
        });
    };
    if record.path.path != target.path {
        return Err(FormatError::Invalid {
            format,
            reason: format!("record {} is not the target {target}", record.path),
        });
    }
    Ok(record)
}

/// The record's value coerced to the type the model declares, or as it is if the model does not
/// know the resource.
pub(crate) fn coerce_to_model(
    format: &'static str,
    record: &Record,
    registry: &Registry,
) -> Result<Value, FormatError> {
    match registry.data_type(&record.path.path) {
        Some(data_type) => record
            .value
            .clone()
            .coerce(data_type)
            .map_err(|e| FormatError::Invalid { format, reason: format!("record {}: {e}", record.path) }),
        None => Ok(record.value.clone()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn floats_print_shortest_without_exponent() {
        assert_eq!(format_float(22.0).as_deref(), Some("22.0"));
        assert_eq!(format_float(0.1).as_deref(), Some("0.1"));
        assert_eq!(format_float(-1e-7).as_deref(), Some("-0.0000001"));
        assert_eq!(format_float(f64::NAN), None);
    }

    #[test]
    fn only_decimal_floats_parse() {
        assert_eq!(parse_float("22"), Some(22.0));
        assert_eq!(parse_float("-2.5e2"), Some(-250.0));
        for bad in ["inf", "NaN", "", ".", "1e999", " 1", "0x10"] {
            assert_eq!(parse_float(bad), None, "{bad}");
        }
    }

    #[test]
    fn object_links_need_two_plain_ids() {
        assert_eq!(parse_objlnk("66:0"), Some(Value::ObjLnk(66, 0)));
        for bad in ["66", "66:", ":0", "65536:0", "+1:0", "1:0:0", " 1:0"] {
            assert_eq!(parse_objlnk(bad), None, "{bad}");
        }
    }
}
