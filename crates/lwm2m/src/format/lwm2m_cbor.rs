//! LwM2M CBOR, content format 11544 (LwM2M Core TS 1.2 §7.5.4; gateway extension
//! Gateway TS 1.1.1 §9).
//!
//! ```text
//! payload = map 1*(ID, VALUE)      ID    = uint / [1*uint] / PREFIX / [PREFIX, 1*uint]
//! VALUE   = leaf / map 1*(ID', VALUE)   ID' = uint / [1*uint]   (relative, no prefix)
//! ```
//!
//! Top-level IDs are absolute (they start with the Object ID, or with the End-Device prefix, a
//! text string, as their first array element); inner keys continue the path. So
//! `{[3,0,0]: "x"}`, `{3: {0: {0: "x"}}}` and `{[3,0]: {0: "x"}}` are the same record, and
//! `{["d01",3,0]: {0: "x"}}` or `{"d01": {3: {0: {0: "x"}}}}` is `/d01/3/0/0`.
//!
//! # Decoding
//!
//! Every shape above is accepted, with definite or indefinite lengths. The payload must be one
//! CBOR data item (trailing bytes are an error). A leaf must sit at a resource or
//! resource-instance path; a path given twice is an error, as is a nested map below a resource
//! instance, an empty ID array, or an ID above 65535. Leaves: text → String, unsigned/negative
//! integer → Integer (Unsigned above `i64::MAX`, never through `f64`), float of any width →
//! Float, bool → Boolean, byte string → Opaque, tag 1 (epoch seconds) → Time, tag 0 (RFC 3339
//! date/time with whole seconds) → Time; `null` and arrays are refused. Values are then given
//! the type the [`Registry`] declares, as for SenML (a text becomes an object link `"o:i"` or a
//! CoRE link, an integer a time …; see [`super::senml`]). Unless the target is the bare root `/`,
//! every path must lie at or below the target.
//!
//! # Encoding (canonical)
//!
//! One top-level key, rooted at the target, when every record lies at or below a target other
//! than `/`: the key is the target's IDs (a plain uint for an object, an array otherwise; the
//! prefix as first array element, or alone as text for a prefix-only target), and the value is
//! the leaf itself when the only record is the target (`{[3,0,0]: "x"}`) or nested maps with
//! one uint key per level otherwise (`{[3,0]: {0: "x", 9: 100}}`, `{[3,0,6]: {0: 1, 1: 5}}`).
//! Otherwise (target `/`, or records elsewhere) one top-level key per object and prefix:
//! `{3: {0: {0: "x"}}, ["d01", 3]: {0: {0: "y"}}}`, the gateway's own objects first.
//! Keys ascend at every level; lengths are definite; floats take the smallest exact width.
//! Integer and Time are written as integers (Time without tag), Unsigned as uint, Opaque as a
//! byte string, String and CoreLnk as text, ObjLnk as text `"o:i"`. Timestamped records and
//! records without value cannot be written.

use std::collections::{BTreeMap, BTreeSet};

use ciborium::value::{Integer, Value as Cbor};

use super::senml::{apply_model, check_under_target, clip, invalid, is_under, malformed};
use super::senml_cbor::{read_item, write_item};
use super::{FormatError, Record};
use crate::model::Registry;
use crate::path::{Path, Prefix, PrefixedPath};
use crate::value::Value;

/// Format name used in errors.
pub const FORMAT: &str = "lwm2m+cbor";

/// Decodes an LwM2M CBOR payload addressed to `target`.
pub fn decode(payload: &[u8], target: &PrefixedPath, registry: &Registry) -> Result<Vec<Record>, FormatError> {
    let Cbor::Map(entries) = read_item(FORMAT, payload)? else {
        return Err(malformed(FORMAT, 0, "an LwM2M CBOR payload must be a CBOR map"));
    };
    let mut walker = Walker { target, registry, records: Vec::new(), seen: BTreeSet::new() };
    for (key, value) in entries {
        let (prefix, ids) = top_key(key)?;
        walker.walk(&prefix, ids, value)?;
    }
    Ok(walker.records)
}

/// Encodes records as the LwM2M CBOR answer for `target` (shape in the module docs).
pub fn encode(records: &[Record], target: &PrefixedPath, _registry: &Registry) -> Result<Vec<u8>, FormatError> {
    for record in records {
        if !matches!(record.path.path, Path::Resource(..) | Path::ResourceInstance(..)) {
            return Err(invalid(FORMAT, format!("record path {} is not a resource or resource instance", record.path)));
        }
        if record.time.is_some() {
            return Err(FormatError::Unrepresentable {
                format: FORMAT,
                what: format!("a timestamp ({})", record.path),
            });
        }
    }
    let target_is_root = target.prefix.is_none() && target.path == Path::Root;
    let mut top: Vec<(Cbor, Cbor)> = Vec::new();
    if !target_is_root && !records.is_empty() && records.iter().all(|r| is_under(&r.path, target)) {
        let depth = target.path.depth();
        let mut node = Node::Branch(BTreeMap::new());
        for record in records {
            node.insert(record, &record.path.path.ids()[depth..])?;
        }
        top.push((key(&target.prefix, &target.path.ids()), node.into_cbor()?));
    } else {
        let mut groups: BTreeMap<(Option<&Prefix>, u16), Node> = BTreeMap::new();
        for record in records {
            let ids = record.path.path.ids();
            let (object, rest) = ids.split_first().expect("a resource path has an object ID");
            let node = groups.entry((record.path.prefix.as_ref(), *object)).or_insert(Node::Branch(BTreeMap::new()));
            node.insert(record, rest)?;
        }
        for ((prefix, object), node) in groups {
            top.push((key(&prefix.cloned(), &[object]), node.into_cbor()?));
        }
    }
    write_item(FORMAT, &Cbor::Map(top))
}

/// A top-level key for a prefix and IDs (see the module docs).
fn key(prefix: &Option<Prefix>, ids: &[u16]) -> Cbor {
    let int = |id: &u16| Cbor::Integer(Integer::from(*id));
    match (prefix, ids) {
        (None, [only]) => int(only),
        (None, ids) => Cbor::Array(ids.iter().map(int).collect()),
        (Some(prefix), []) => Cbor::Text(prefix.as_str().to_owned()),
        (Some(prefix), ids) => {
            Cbor::Array(std::iter::once(Cbor::Text(prefix.as_str().to_owned())).chain(ids.iter().map(int)).collect())
        }
    }
}

/// The tree written below one top-level key.
#[derive(Debug)]
enum Node<'a> {
    Leaf(&'a Record),
    Branch(BTreeMap<u16, Self>),
}

impl<'a> Node<'a> {
    fn insert(&mut self, record: &'a Record, ids: &[u16]) -> Result<(), FormatError> {
        let overlap = || invalid(FORMAT, format!("record {} repeats or overlaps another record", record.path));
        match ids.split_first() {
            None => match self {
                Self::Branch(children) if children.is_empty() => {
                    *self = Self::Leaf(record);
                    Ok(())
                }
                _ => Err(overlap()),
            },
            Some((first, rest)) => match self {
                Self::Branch(children) => {
                    children.entry(*first).or_insert_with(|| Self::Branch(BTreeMap::new())).insert(record, rest)
                }
                Self::Leaf(_) => Err(overlap()),
            },
        }
    }

    fn into_cbor(self) -> Result<Cbor, FormatError> {
        match self {
            Self::Leaf(record) => leaf(record),
            Self::Branch(children) => {
                let mut map = Vec::with_capacity(children.len());
                for (id, child) in children {
                    map.push((Cbor::Integer(Integer::from(id)), child.into_cbor()?));
                }
                Ok(Cbor::Map(map))
            }
        }
    }
}

fn leaf(record: &Record) -> Result<Cbor, FormatError> {
    Ok(match &record.value {
        Value::String(s) | Value::CoreLnk(s) => Cbor::Text(s.clone()),
        Value::Integer(i) | Value::Time(i) => Cbor::Integer(Integer::from(*i)),
        Value::Unsigned(u) => Cbor::Integer(Integer::from(*u)),
        Value::Float(f) => Cbor::Float(*f),
        Value::Boolean(b) => Cbor::Bool(*b),
        Value::Opaque(d) => Cbor::Bytes(d.clone()),
        Value::ObjLnk(o, i) => Cbor::Text(format!("{o}:{i}")),
        Value::None => {
            return Err(FormatError::Unrepresentable {
                format: FORMAT,
                what: format!("a record without value ({})", record.path),
            })
        }
    })
}

fn id(v: &Cbor) -> Result<u16, FormatError> {
    match v {
        Cbor::Integer(i) => u16::try_from(i128::from(*i))
            .map_err(|_| invalid(FORMAT, format!("ID {} is not in 0..=65535", i128::from(*i)))),
        _ => Err(invalid(FORMAT, "an ID must be an unsigned integer".to_owned())),
    }
}

/// A top-level key: `uint`, `[1*uint]`, `PREFIX` or `[PREFIX, 1*uint]`.
fn top_key(key: Cbor) -> Result<(Option<Prefix>, Vec<u16>), FormatError> {
    let prefix = |text: &str| {
        Prefix::new(text).map_err(|_| {
            let reason =
                format!("prefix {} must start with a letter and hold only letters, digits, '-' or '_'", clip(text));
            invalid(FORMAT, reason)
        })
    };
    match key {
        Cbor::Text(text) => Ok((Some(prefix(&text)?), Vec::new())),
        Cbor::Array(items) => {
            let (prefix, rest) = match items.split_first() {
                Some((Cbor::Text(text), rest)) => (Some(prefix(text)?), rest),
                _ => (None, items.as_slice()),
            };
            if rest.is_empty() {
                return Err(invalid(FORMAT, "an ID array must hold at least one ID".to_owned()));
            }
            Ok((prefix, rest.iter().map(id).collect::<Result<_, _>>()?))
        }
        other => Ok((None, vec![id(&other)?])),
    }
}

/// An inner key: `uint` or `[1*uint]`.
fn inner_key(key: &Cbor) -> Result<Vec<u16>, FormatError> {
    match key {
        Cbor::Array(items) if items.is_empty() => {
            Err(invalid(FORMAT, "an ID array must hold at least one ID".to_owned()))
        }
        Cbor::Array(items) => items.iter().map(id).collect(),
        Cbor::Text(_) => Err(invalid(FORMAT, "a prefix may only start a top-level ID".to_owned())),
        other => Ok(vec![id(other)?]),
    }
}

struct Walker<'a> {
    target: &'a PrefixedPath,
    registry: &'a Registry,
    records: Vec<Record>,
    seen: BTreeSet<PrefixedPath>,
}

impl Walker<'_> {
    fn walk(&mut self, prefix: &Option<Prefix>, ids: Vec<u16>, value: Cbor) -> Result<(), FormatError> {
        let shown = || {
            let ids: Vec<String> = ids.iter().map(u16::to_string).collect();
            let prefix = prefix.as_ref().map(|p| format!("/{p}")).unwrap_or_default();
            format!("{prefix}/{}", ids.join("/"))
        };
        if ids.len() > 4 {
            return Err(invalid(FORMAT, format!("path {} is deeper than /o/i/r/ri", shown())));
        }
        match value {
            Cbor::Map(entries) => {
                if ids.len() == 4 {
                    return Err(invalid(FORMAT, format!("nested map below resource instance {}", shown())));
                }
                for (key, child) in entries {
                    let mut child_ids = ids.clone();
                    child_ids.extend(inner_key(&key)?);
                    self.walk(prefix, child_ids, child)?;
                }
                Ok(())
            }
            leaf_value => {
                let Some(path @ (Path::Resource(..) | Path::ResourceInstance(..))) = Path::from_ids(&ids) else {
                    let reason = format!("value at {}, which is not a resource or resource instance", shown());
                    return Err(invalid(FORMAT, reason));
                };
                let path = PrefixedPath { prefix: prefix.clone(), path };
                check_under_target(FORMAT, &path, self.target)?;
                if !self.seen.insert(path.clone()) {
                    return Err(invalid(FORMAT, format!("path {path} appears twice")));
                }
                let value = leaf_to_value(&path, leaf_value)?;
                let value = apply_model(FORMAT, &path, value, self.registry)?;
                self.records.push(Record::new(path, value));
                Ok(())
            }
        }
    }
}

fn leaf_to_value(path: &PrefixedPath, value: Cbor) -> Result<Value, FormatError> {
    let bad = |what: &str| invalid(FORMAT, format!("record {path}: {what}"));
    Ok(match value {
        Cbor::Text(s) => Value::String(s),
        Cbor::Bool(b) => Value::Boolean(b),
        Cbor::Bytes(d) => Value::Opaque(d),
        Cbor::Float(f) => Value::Float(f),
        Cbor::Integer(i) => {
            let i = i128::from(i);
            match (i64::try_from(i), u64::try_from(i)) {
                (Ok(i), _) => Value::Integer(i),
                (_, Ok(u)) => Value::Unsigned(u),
                _ => return Err(bad("integer below the i64 range")),
            }
        }
        Cbor::Tag(1, inner) => match *inner {
            Cbor::Integer(i) => Value::Time(i64::try_from(i128::from(i)).map_err(|_| bad("time out of range"))?),
            Cbor::Float(f) => {
                Value::Float(f).coerce(crate::value::DataType::Time).map_err(|_| bad("time with a fraction"))?
            }
            _ => return Err(bad("tag 1 must hold a number")),
        },
        Cbor::Tag(0, inner) => match *inner {
            Cbor::Text(text) => {
                Value::Time(rfc3339_seconds(&text).ok_or_else(|| bad("tag 0 is not an RFC 3339 time"))?)
            }
            _ => return Err(bad("tag 0 must hold text")),
        },
        Cbor::Null => return Err(bad("null is not a value")),
        Cbor::Tag(tag, _) => return Err(bad(&format!("tag {tag} is not a LwM2M value"))),
        _ => return Err(bad("an array is not a value")),
    })
}

/// Seconds since the Unix epoch of an RFC 3339 date-time with whole seconds
/// (`2013-05-02T10:40:15Z`, `…+02:00`; a fraction of zeros is accepted).
fn rfc3339_seconds(text: &str) -> Option<i64> {
    let b = text.as_bytes();
    let num = |range: std::ops::Range<usize>| -> Option<i64> {
        let part = b.get(range)?;
        if part.is_empty() || !part.iter().all(u8::is_ascii_digit) {
            return None;
        }
        std::str::from_utf8(part).ok()?.parse().ok()
    };
    let sep = |i: usize, c: &[u8]| b.get(i).is_some_and(|x| c.contains(x));
    if !(sep(4, b"-") && sep(7, b"-") && sep(10, b"Tt") && sep(13, b":") && sep(16, b":")) {
        return None;
    }
    let (year, month, day) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (hour, minute, second) = (num(11..13)?, num(14..16)?, num(17..19)?);
    if !(1..=12).contains(&month) || !(1..=31).contains(&day) || hour > 23 || minute > 59 || second > 60 {
        return None;
    }
    let mut rest = b.get(19..)?;
    if let Some((b'.', fraction)) = rest.split_first() {
        let digits = fraction.iter().take_while(|c| c.is_ascii_digit()).count();
        if digits == 0 || fraction[..digits].iter().any(|c| *c != b'0') {
            return None;
        }
        rest = &fraction[digits..];
    }
    let offset = match rest {
        [b'Z' | b'z'] => 0,
        [sign @ (b'+' | b'-'), h1, h2, b':', m1, m2] => {
            let digits = [*h1, *h2, *m1, *m2];
            if !digits.iter().all(u8::is_ascii_digit) {
                return None;
            }
            let d = |x: u8| i64::from(x - b'0');
            let minutes = (d(*h1) * 10 + d(*h2)) * 60 + d(*m1) * 10 + d(*m2);
            if *sign == b'-' {
                -minutes * 60
            } else {
                minutes * 60
            }
        }
        _ => return None,
    };
    // Days from the civil date (proleptic Gregorian), H. Hinnant's algorithm.
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    Some(days * 86_400 + hour * 3600 + minute * 60 + second - offset)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_times_convert_to_epoch_seconds() {
        assert_eq!(rfc3339_seconds("1970-01-01T00:00:00Z"), Some(0));
        assert_eq!(rfc3339_seconds("2013-05-02T10:40:15Z"), Some(1_367_491_215));
        assert_eq!(rfc3339_seconds("2013-05-02T12:40:15+02:00"), Some(1_367_491_215));
        assert_eq!(rfc3339_seconds("2013-05-02T10:40:15.000Z"), Some(1_367_491_215));
        assert_eq!(rfc3339_seconds("2000-03-01T00:00:00Z"), Some(951_868_800));
        assert_eq!(rfc3339_seconds("1969-12-31T23:59:59Z"), Some(-1));
        for bad in ["2013-05-02T10:40:15.5Z", "2013-05-02 10:40:15", "2013-13-02T10:40:15Z", "x", ""] {
            assert_eq!(rfc3339_seconds(bad), None, "{bad}");
        }
    }
}
