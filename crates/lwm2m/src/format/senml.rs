//! What SenML JSON (110) and SenML CBOR (112) share: the record model, name and time
//! resolution, gateway prefixes in names, and the mapping to and from [`Record`]s
//! (RFC 8428 with the LwM2M conventions of Core TS 1.2 §7.5.6–7.5.7, Gateway TS 1.1.1 §9).
//!
//! The two encodings only differ in how a [`SenmlRecord`] is written: JSON keys (`bn`, `n`, `v` …)
//! or CBOR labels (−2, 0, 2 …). Everything else lives here.
//!
//! # Decoding
//!
//! - **Names**: a record's name is the current base name (`bn`, which stays in force until the
//!   next record that carries one) followed by its own `n`. The result must be a canonical
//!   `/o/i/r` or `/o/i/r/ri` path, optionally behind a gateway prefix (`/d01/3/0/0`: a first
//!   segment that starts with a letter is the prefix, see [`PrefixedPath`]). Anything else — no
//!   name at all, `/3/0`, `/3/0/0/`, `/03/0/0`, `/3/0//0` — is an error.
//! - **Target**: unless the target is the bare root `/` (Send, composite operations), every name
//!   must lie at or below the target, with the same prefix.
//! - **Times**: `bt` stays in force until the next `bt`; a record's time is `bt + t` when either is
//!   present and `None` when both are absent. Times below 2^28 are relative to "now" (RFC 8428
//!   §4.5.3); they are returned as they are and the caller, who owns the clock, resolves them.
//! - **Values**: exactly one of `v`, `vs`, `vb`, `vd`, `vlo` per record; a record without value is
//!   an error for node payloads. `v` keeps the kind its literal (JSON) or major type (CBOR) says:
//!   a number without fraction or exponent is an integer ([`Value::Integer`], or
//!   [`Value::Unsigned`] above `i64::MAX`), anything else a [`Value::Float`]; integers never pass
//!   through `f64`. `vs` is a [`Value::String`], `vb` a [`Value::Boolean`], `vd` a
//!   [`Value::Opaque`] (base64url or standard base64, with or without padding, in JSON; a byte
//!   string in CBOR), `vlo` a [`Value::ObjLnk`] written `"66:0"`. When the [`Registry`] knows the
//!   resource, the value is then converted to the declared type with [`Value::coerce`] (a string
//!   becomes a CoRE link or an object link, an integer a time …); an impossible conversion
//!   (`1.5` for an Integer, a string for an Opaque) is an error. Unknown resources keep the
//!   decoded kind.
//! - **Unknown fields** are ignored, except those ending in `_`, which RFC 8428 §4.4 makes
//!   must-understand: they are an error. The sum and base-value fields (`s`, `bs`, `bv`), which
//!   LwM2M never uses and which would change the value, are refused rather than ignored.
//!   `bver`, `u`, `bu`, `ut` are accepted and ignored. A field given twice in one record is an error.
//!
//! # Encoding (canonical, as Leshan writes it)
//!
//! - One record whose path is the target itself (a single resource or resource instance):
//!   `[{"bn":"/3/0/0","vs":"…"}]`, full path as base name, no `n`.
//! - All records strictly below a target other than `/`: the first record carries
//!   `bn` = target + `/` (`"/3/0/"`, `"/d01/3/0/"`), names are relative (`"0"`, `"6/0"`).
//! - Otherwise (target `/`, or records outside the target): every record carries its full name
//!   in `n` (`[{"n":"/6/0/0","v":43.61092},{"n":"/4/0/2","v":-49}]`).
//! - A timestamp is written as an absolute `t` on its record; `bt` is never emitted.
//! - Integer, Unsigned and Time as `v` integers; Float as `v` float; String and CoreLnk as `vs`;
//!   Boolean as `vb`; Opaque as `vd`; ObjLnk as `vlo` `"o:i"`. Fields in the order
//!   `bn`, `n`, value, `t`.
//!
//! Composite request bodies (Read-/Observe-Composite, names only: `[{"n":"/3/0/0"}]`,
//! `[{"n":"/"}]`) are read with [`decode_paths`] and written with [`encode_paths`].

use base64::alphabet;
use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig};
use base64::engine::DecodePaddingMode;
use base64::Engine as _;
use coap::ContentFormat;

use super::{FormatError, Record};
use crate::model::Registry;
use crate::path::{Path, PrefixedPath};
use crate::value::{DataType, Value};

/// One SenML record as written on the wire, before base name and base time are resolved.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct SenmlRecord {
    /// `bn` / −2: base name, in force until the next record that sets one.
    pub base_name: Option<String>,
    /// `bt` / −3: base time in seconds, in force until the next record that sets one.
    pub base_time: Option<f64>,
    /// `n` / 0: name, appended to the base name.
    pub name: Option<String>,
    /// `v`, `vs`, `vb`, `vd` or `vlo`.
    pub value: Option<SenmlValue>,
    /// `t` / 6: time in seconds, relative to the base time.
    pub time: Option<f64>,
}

/// The value fields of a SenML record.
#[derive(Debug, Clone, PartialEq)]
pub enum SenmlValue {
    /// `v` / 2: a number.
    Number(Number),
    /// `vs` / 3: a string.
    String(String),
    /// `vb` / 4: a boolean.
    Boolean(bool),
    /// `vd` / 8: data (base64 in JSON, a byte string in CBOR).
    Data(Vec<u8>),
    /// `vlo` (LwM2M extension): an object link `"oid:iid"`, kept as written.
    ObjLnk(String),
}

/// A SenML number, of the kind its JSON literal or CBOR major type says.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Number {
    /// An integer in the `i64` range.
    Integer(i64),
    /// An integer above `i64::MAX`.
    Unsigned(u64),
    /// A number with a fraction or exponent (JSON), or a CBOR float.
    Float(f64),
}

impl Number {
    /// A non-negative integer: [`Number::Integer`] when it fits, else [`Number::Unsigned`].
    pub fn from_u64(u: u64) -> Self {
        i64::try_from(u).map_or(Self::Unsigned(u), Self::Integer)
    }

    fn into_value(self) -> Value {
        match self {
            Self::Integer(i) => Value::Integer(i),
            Self::Unsigned(u) => Value::Unsigned(u),
            Self::Float(f) => Value::Float(f),
        }
    }
}

/// A record after name and time resolution.
#[derive(Debug, Clone, PartialEq)]
pub struct ResolvedRecord {
    /// `bn` + `n`.
    pub name: String,
    /// The value, if the record carried one.
    pub value: Option<SenmlValue>,
    /// `bt` + `t`, if either was present.
    pub time: Option<f64>,
}

/// Resolves base names and base times (RFC 8428 §4.5). `format` names the encoding in errors.
pub fn resolve(format: &'static str, pack: Vec<SenmlRecord>) -> Result<Vec<ResolvedRecord>, FormatError> {
    let mut base_name = String::new();
    let mut base_time: Option<f64> = None;
    let mut out = Vec::with_capacity(pack.len());
    for (index, record) in pack.into_iter().enumerate() {
        if let Some(bn) = record.base_name {
            base_name = bn;
        }
        if let Some(bt) = record.base_time {
            base_time = Some(bt);
        }
        let name = format!("{base_name}{}", record.name.as_deref().unwrap_or(""));
        if name.is_empty() {
            return Err(invalid(format, format!("record {index} has no name")));
        }
        let time = match (base_time, record.time) {
            (None, None) => None,
            (bt, t) => Some(bt.unwrap_or(0.0) + t.unwrap_or(0.0)),
        };
        if time.is_some_and(|t| !t.is_finite()) {
            return Err(invalid(format, format!("record {index} ({}) has a time that is not finite", clip(&name))));
        }
        out.push(ResolvedRecord { name, value: record.value, time });
    }
    Ok(out)
}

/// Turns a parsed pack into node records: resolves names and times, checks every name is a
/// resource or resource-instance path at or below `target`, and types values with `registry`.
pub fn to_records(
    format: &'static str,
    pack: Vec<SenmlRecord>,
    target: &PrefixedPath,
    registry: &Registry,
) -> Result<Vec<Record>, FormatError> {
    let resolved = resolve(format, pack)?;
    let mut records = Vec::with_capacity(resolved.len());
    for record in resolved {
        let path = leaf_path(format, &record.name)?;
        check_under_target(format, &path, target)?;
        let value =
            record.value.ok_or_else(|| invalid(format, format!("record {} has no value", clip(&record.name))))?;
        let value = match value {
            SenmlValue::Number(n) => n.into_value(),
            SenmlValue::String(s) => Value::String(s),
            SenmlValue::Boolean(b) => Value::Boolean(b),
            SenmlValue::Data(d) => Value::Opaque(d),
            SenmlValue::ObjLnk(s) => {
                let (o, i) = parse_objlnk(&s).ok_or_else(|| {
                    invalid(format, format!("record {}: vlo {} is not an object link", clip(&record.name), clip(&s)))
                })?;
                Value::ObjLnk(o, i)
            }
        };
        let value = apply_model(format, &path, value, registry)?;
        records.push(Record { path, value, time: record.time });
    }
    Ok(records)
}

/// Reads the names of a composite request body (Read-/Observe-Composite, Core TS §6.3.2, §6.4):
/// `[{"n":"/3/0/0"},{"n":"/1/0/1"}]`, `[{"n":"/"}]`, `[{"n":"/d01/3/0"}]`. Any depth is allowed,
/// one trailing `/` is tolerated; a record carrying a value is an error.
pub fn decode_paths(cf: ContentFormat, payload: &[u8]) -> Result<Vec<PrefixedPath>, FormatError> {
    let (format, pack) = match cf {
        ContentFormat::SENML_JSON => (super::senml_json::FORMAT, super::senml_json::parse(payload)?),
        ContentFormat::SENML_CBOR => (super::senml_cbor::FORMAT, super::senml_cbor::parse(payload)?),
        other => return Err(FormatError::UnsupportedFormat(other.0)),
    };
    let resolved = resolve(format, pack)?;
    let mut paths = Vec::with_capacity(resolved.len());
    for record in resolved {
        if record.value.is_some() {
            return Err(invalid(format, format!("composite request record {} carries a value", clip(&record.name))));
        }
        let path: PrefixedPath = record
            .name
            .parse()
            .map_err(|_| invalid(format, format!("record name {} is not a path", clip(&record.name))))?;
        let canonical = path.to_string();
        let trimmed = record.name.strip_suffix('/').filter(|t| !t.is_empty()).unwrap_or(&record.name);
        if canonical != trimmed {
            return Err(invalid(format, format!("record name {} is not a canonical path", clip(&record.name))));
        }
        paths.push(path);
    }
    Ok(paths)
}

/// Writes the body of a composite request (Read-/Observe-Composite) naming `paths`, one record
/// per path with its full name and nothing else, as Leshan does: `[{"n":"/3/0/0"},{"n":"/1/0/1"}]`.
pub fn encode_paths(cf: ContentFormat, paths: &[PrefixedPath]) -> Result<Vec<u8>, FormatError> {
    let pack: Vec<SenmlRecord> =
        paths.iter().map(|path| SenmlRecord { name: Some(path.to_string()), ..SenmlRecord::default() }).collect();
    match cf {
        ContentFormat::SENML_JSON => super::senml_json::write(&pack),
        ContentFormat::SENML_CBOR => super::senml_cbor::write(&pack),
        other => Err(FormatError::UnsupportedFormat(other.0)),
    }
}

/// Turns node records into a pack as described in the module docs.
pub fn from_records(
    format: &'static str,
    records: &[Record],
    target: &PrefixedPath,
) -> Result<Vec<SenmlRecord>, FormatError> {
    let packer = Packer::new(format, records, target)?;
    Ok(records.iter().enumerate().map(|(index, record)| packer.record(index, record)).collect())
}

/// Turns checked node records into SenML records one at a time (so an encoder can write each
/// as it comes instead of holding the whole pack).
#[derive(Debug, Clone)]
pub(crate) struct Packer {
    format: &'static str,
    single_target: bool,
    below: bool,
    target_depth: usize,
    base_name: String,
}

impl Packer {
    /// Checks `records` (resources or resource instances, each with a value) for `target`.
    pub(crate) fn new(format: &'static str, records: &[Record], target: &PrefixedPath) -> Result<Self, FormatError> {
        for record in records {
            if !matches!(record.path.path, Path::Resource(..) | Path::ResourceInstance(..)) {
                return Err(invalid(
                    format,
                    format!("record path {} is not a resource or resource instance", record.path),
                ));
            }
        }
        for record in records {
            senml_value(format, record)?;
        }
        let single_target = matches!(records, [only] if only.path == *target);
        let target_is_root = target.prefix.is_none() && target.path == Path::Root;
        let below = !target_is_root && records.iter().all(|r| r.path != *target && is_under(&r.path, target));
        Ok(Self { format, single_target, below, target_depth: target.path.depth(), base_name: base_name_of(target) })
    }

    /// The SenML record for `records[index]`.
    pub(crate) fn record(&self, index: usize, record: &Record) -> SenmlRecord {
        let mut out = SenmlRecord { time: record.time, ..SenmlRecord::default() };
        if self.single_target {
            out.base_name = Some(record.path.to_string());
        } else if self.below {
            if index == 0 {
                out.base_name = Some(self.base_name.clone());
            }
            let mut name = String::new();
            for id in record.path.path.ids().iter().skip(self.target_depth) {
                if !name.is_empty() {
                    name.push('/');
                }
                name.push_str(&id.to_string());
            }
            out.name = Some(name);
        } else {
            out.name = Some(record.path.to_string());
        }
        // Checked in `new`: every record has a value.
        out.value = senml_value(self.format, record).ok();
        out
    }
}

fn base_name_of(target: &PrefixedPath) -> String {
    match (&target.prefix, target.path) {
        (Some(prefix), Path::Root) => format!("/{prefix}/"),
        (_, Path::Root) => "/".to_owned(),
        _ => format!("{target}/"),
    }
}

fn senml_value(format: &'static str, record: &Record) -> Result<SenmlValue, FormatError> {
    Ok(match &record.value {
        Value::String(s) | Value::CoreLnk(s) => SenmlValue::String(s.clone()),
        Value::Integer(i) | Value::Time(i) => SenmlValue::Number(Number::Integer(*i)),
        Value::Unsigned(u) => SenmlValue::Number(Number::from_u64(*u)),
        Value::Float(f) => SenmlValue::Number(Number::Float(*f)),
        Value::Boolean(b) => SenmlValue::Boolean(*b),
        Value::Opaque(d) => SenmlValue::Data(d.clone()),
        Value::ObjLnk(o, i) => SenmlValue::ObjLnk(format!("{o}:{i}")),
        Value::None => {
            return Err(FormatError::Unrepresentable {
                format,
                what: format!("a record without value ({})", record.path),
            })
        }
    })
}

/// Whether `path` equals `target` or lies below it (same prefix).
pub(crate) fn is_under(path: &PrefixedPath, target: &PrefixedPath) -> bool {
    path.prefix == target.prefix && target.path.contains(&path.path)
}

/// Refuses a record outside the target, unless the target is the bare root.
pub(crate) fn check_under_target(
    format: &'static str,
    path: &PrefixedPath,
    target: &PrefixedPath,
) -> Result<(), FormatError> {
    let target_is_root = target.prefix.is_none() && target.path == Path::Root;
    if target_is_root || is_under(path, target) {
        Ok(())
    } else {
        Err(invalid(format, format!("record {path} lies outside the target {target}")))
    }
}

/// Parses a resolved name that must be a canonical resource or resource-instance path.
fn leaf_path(format: &'static str, name: &str) -> Result<PrefixedPath, FormatError> {
    let path: PrefixedPath =
        name.parse().map_err(|_| invalid(format, format!("record name {} is not a path", clip(name))))?;
    if !matches!(path.path, Path::Resource(..) | Path::ResourceInstance(..)) {
        return Err(invalid(format, format!("record name {} is not a resource or resource-instance path", clip(name))));
    }
    if path.to_string() != name {
        return Err(invalid(format, format!("record name {} is not a canonical path", clip(name))));
    }
    Ok(path)
}

/// Gives `value` the type the registry declares for `path`, if it knows the resource.
/// Besides [`Value::coerce`], a string becomes an object link when the model says ObjLnk.
pub(crate) fn apply_model(
    format: &'static str,
    path: &PrefixedPath,
    value: Value,
    registry: &Registry,
) -> Result<Value, FormatError> {
    let Some(declared) = registry.data_type(&path.path) else {
        return Ok(value);
    };
    match (value, declared) {
        (Value::String(s), DataType::ObjLnk) => match parse_objlnk(&s) {
            Some((o, i)) => Ok(Value::ObjLnk(o, i)),
            None => Err(invalid(format, format!("record {path}: {} is not an object link", clip(&s)))),
        },
        (value, declared) => value.coerce(declared).map_err(|e| invalid(format, format!("record {path}: {e}"))),
    }
}

/// Parses an object link `"oid:iid"` (two decimal IDs in 0..=65535).
pub(crate) fn parse_objlnk(s: &str) -> Option<(u16, u16)> {
    let (o, i) = s.split_once(':')?;
    let id = |t: &str| -> Option<u16> {
        if t.is_empty() || t.len() > 5 || !t.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        t.parse().ok()
    };
    Some((id(o)?, id(i)?))
}

const LENIENT: GeneralPurposeConfig =
    GeneralPurposeConfig::new().with_encode_padding(false).with_decode_padding_mode(DecodePaddingMode::Indifferent);
const BASE64URL_LENIENT: GeneralPurpose = GeneralPurpose::new(&alphabet::URL_SAFE, LENIENT);
const BASE64_LENIENT: GeneralPurpose = GeneralPurpose::new(&alphabet::STANDARD, LENIENT);

/// Decodes `vd` text: base64url or standard base64, padded or not (pitfall §8 #15).
pub(crate) fn decode_base64(text: &str) -> Option<Vec<u8>> {
    if text.contains(['+', '/']) {
        BASE64_LENIENT.decode(text).ok()
    } else {
        BASE64URL_LENIENT.decode(text).ok()
    }
}

/// Encodes `vd` text: base64url without padding.
pub(crate) fn encode_base64(data: &[u8]) -> String {
    BASE64URL_LENIENT.encode(data)
}

/// Quotes text from a payload for an error message, cut to at most 40 characters so that an
/// error never grows with the payload.
pub(crate) fn clip(text: &str) -> String {
    const MAX: usize = 40;
    match text.char_indices().nth(MAX) {
        Some((cut, _)) => format!("{:?}…", &text[..cut]),
        None => format!("{text:?}"),
    }
}

/// Shorthand for [`FormatError::Invalid`].
pub(crate) fn invalid(format: &'static str, reason: String) -> FormatError {
    FormatError::Invalid { format, reason }
}

/// Shorthand for [`FormatError::Malformed`].
pub(crate) fn malformed(format: &'static str, offset: usize, reason: impl Into<String>) -> FormatError {
    FormatError::Malformed { format, offset, reason: reason.into() }
}

/// What a field name or label means, shared by both encodings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Field {
    BaseName,
    BaseTime,
    Name,
    Value,
    StringValue,
    BoolValue,
    DataValue,
    ObjLnkValue,
    Time,
    /// Known and harmless here (`bver`, `u`, `bu`, `ut`): ignored.
    Ignored,
    /// Known but changes the value in ways LwM2M never uses (`s`, `bs`, `bv`): refused.
    Refused,
}

impl Field {
    /// The field of a JSON key (also used for CBOR text keys); `None` for unknown keys.
    pub(crate) fn from_key(key: &str) -> Option<Self> {
        Some(match key {
            "bn" => Self::BaseName,
            "bt" => Self::BaseTime,
            "n" => Self::Name,
            "v" => Self::Value,
            "vs" => Self::StringValue,
            "vb" => Self::BoolValue,
            "vd" => Self::DataValue,
            "vlo" => Self::ObjLnkValue,
            "t" => Self::Time,
            "bver" | "u" | "bu" | "ut" => Self::Ignored,
            "s" | "bs" | "bv" => Self::Refused,
            _ => return None,
        })
    }

    /// The field of a CBOR integer label (RFC 8428 §6); `None` for unknown labels.
    pub(crate) fn from_label(label: i128) -> Option<Self> {
        Some(match label {
            -2 => Self::BaseName,
            -3 => Self::BaseTime,
            0 => Self::Name,
            2 => Self::Value,
            3 => Self::StringValue,
            4 => Self::BoolValue,
            8 => Self::DataValue,
            6 => Self::Time,
            -1 | 1 | -4 | 7 => Self::Ignored,
            5 | -5 | -6 => Self::Refused,
            _ => return None,
        })
    }
}

/// Collects the fields of one record, refusing duplicates and second values.
#[derive(Debug, Default)]
pub(crate) struct RecordBuilder {
    record: SenmlRecord,
    seen: Vec<Field>,
}

impl RecordBuilder {
    /// Notes that `field` (written `key`) is present; errors if it was already.
    pub(crate) fn see(
        &mut self,
        format: &'static str,
        index: usize,
        field: Field,
        key: &str,
    ) -> Result<(), FormatError> {
        if field == Field::Refused {
            return Err(invalid(format, format!("record {index}: field {key} is not supported by LwM2M")));
        }
        if field != Field::Ignored && self.seen.contains(&field) {
            return Err(invalid(format, format!("record {index}: field {key} appears twice")));
        }
        self.seen.push(field);
        Ok(())
    }

    /// Sets the value, refusing a second value field.
    pub(crate) fn set_value(
        &mut self,
        format: &'static str,
        index: usize,
        value: SenmlValue,
    ) -> Result<(), FormatError> {
        if self.record.value.is_some() {
            return Err(invalid(format, format!("record {index} has more than one value field")));
        }
        self.record.value = Some(value);
        Ok(())
    }

    /// Mutable access to the record under construction.
    pub(crate) fn record(&mut self) -> &mut SenmlRecord {
        &mut self.record
    }

    /// The finished record.
    pub(crate) fn finish(self) -> SenmlRecord {
        self.record
    }
}

/// Refuses an unknown key that RFC 8428 §4.4 makes must-understand (ends in `_`).
pub(crate) fn check_unknown_key(format: &'static str, index: usize, key: &str) -> Result<(), FormatError> {
    if key.ends_with('_') {
        Err(invalid(format, format!("record {index}: must-understand field {} is not understood", clip(key))))
    } else {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base_name_and_base_time_carry_over_until_replaced() {
        let pack = vec![
            SenmlRecord {
                base_name: Some("/72/".into()),
                base_time: Some(100.0),
                name: Some("1/2".into()),
                time: Some(-5.0),
                ..SenmlRecord::default()
            },
            SenmlRecord { name: Some("1/3".into()), ..SenmlRecord::default() },
            SenmlRecord { base_name: Some("/d01/3/0/".into()), name: Some("0".into()), ..SenmlRecord::default() },
        ];
        let resolved = resolve("test", pack).unwrap();
        assert_eq!(resolved[0].name, "/72/1/2");
        assert_eq!(resolved[0].time, Some(95.0));
        assert_eq!(resolved[1].name, "/72/1/3");
        assert_eq!(resolved[1].time, Some(100.0));
        assert_eq!(resolved[2].name, "/d01/3/0/0");
    }

    #[test]
    fn record_without_any_name_is_refused() {
        assert!(resolve("test", vec![SenmlRecord::default()]).is_err());
    }

    #[test]
    fn time_is_absent_when_neither_bt_nor_t_is_given() {
        let pack = vec![SenmlRecord { name: Some("/3/0/0".into()), ..SenmlRecord::default() }];
        assert_eq!(resolve("test", pack).unwrap()[0].time, None);
    }

    #[test]
    fn objlnk_text_parses_only_two_ids() {
        assert_eq!(parse_objlnk("66:0"), Some((66, 0)));
        assert_eq!(parse_objlnk("65535:65535"), Some((65535, 65535)));
        for bad in ["66", "66:", ":0", "66:0:1", "65536:0", "+1:0", "a:b", ""] {
            assert_eq!(parse_objlnk(bad), None, "{bad}");
        }
    }

    #[test]
    fn base64_accepts_both_alphabets_with_and_without_padding() {
        for text in ["-_8", "+/8=", "+/8", "-_8="] {
            assert_eq!(decode_base64(text), Some(vec![0xfb, 0xff]), "{text}");
        }
        assert_eq!(decode_base64("q83v"), Some(vec![0xab, 0xcd, 0xef]));
        assert_eq!(decode_base64("-/8"), None);
        assert_eq!(decode_base64("a"), None);
        assert_eq!(encode_base64(&[0xfb, 0xff]), "-_8");
    }
}
