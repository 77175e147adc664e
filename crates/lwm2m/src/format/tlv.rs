//! OMA TLV, content format 11542, legacy 1542 (LwM2M Core TS 1.2 §7.5.5).
//!
//! A TLV is a type byte (bits 7–6 kind: `00` Object Instance, `01` Resource Instance,
//! `10` Multiple Resource, `11` Resource with value; bit 5 identifier width 8/16 bits; bits 4–3
//! width of the length field, 0–3 bytes; bits 2–0 the length itself when that width is 0), the
//! identifier, the length and the value. Object Instance TLVs hold Resource and Multiple Resource
//! TLVs, Multiple Resource TLVs hold Resource Instance TLVs, so nesting never exceeds three levels.
//!
//! **Target.** TLV carries no object ID and, below the top level, only relative IDs, so the
//! request path (`target`) decides what the top level holds:
//!
//! | target | decode accepts at top level | encode writes |
//! |---|---|---|
//! | `/o` | Object Instance TLVs; Resource TLVs only when the model says `o` is single-instance (they belong to instance 0) | one Object Instance TLV per instance |
//! | `/o/i` | Resource / Multiple Resource TLVs, or exactly one Object Instance TLV with ID `i` | Resource / Multiple Resource TLVs |
//! | `/o/i/r` | one Resource or Multiple Resource TLV with ID `r`, or bare Resource Instance TLVs | one Resource or Multiple Resource TLV |
//! | `/o/i/r/ri` | one Resource Instance TLV with ID `ri` (also wrapped in a Multiple Resource TLV `r`) | one Resource Instance TLV |
//!
//! A Create without instance ID (payload of resource TLVs for a multi-instance object) is decoded
//! by the caller with the instance it chose as target (`/o/i`). The root `/` cannot be expressed.
//! Decoded records carry the target's gateway prefix; on encode a record's own prefix is not
//! consulted, since TLV names nothing. Records come out ordered by path on encode.
//!
//! **Types.** TLV carries none, so a value is read as the [`DataType`] the [`Registry`] declares
//! for its resource: Integer and Time as 1, 2, 4 or 8 bytes of big-endian two's complement,
//! Unsigned as 1, 2, 4 or 8 big-endian bytes, Float as 4 or 8 bytes IEEE-754, Boolean as one
//! byte 0 or 1, Objlnk as two big-endian `u16`, String and Corelnk as UTF-8, Opaque raw, none
//! as zero bytes. A resource the registry does not know is decoded as [`Value::Opaque`] holding
//! the raw value bytes, so nothing is lost and re-encoding gives the same bytes back; a caller
//! that learns the type later can reinterpret them. On encode a value is first coerced to the
//! model's type ([`Value::coerce`]) when the model knows the resource; integers are written in
//! the shortest of 1/2/4/8 bytes and floats in 4 bytes when the value is exactly representable
//! as `f32` (NaN included), else in 8.
//!
//! **Shape.** A Multiple Resource TLV yields one record per resource instance (`/o/i/r/ri`), a
//! Resource TLV one record (`/o/i/r`); an empty Multiple Resource TLV yields none. When the
//! model knows the resource the shape must agree with its multiplicity (a Resource TLV for a
//! multi-instance resource is refused, and the reverse). On encode the
//! model decides whether a resource is wrapped in a Multiple Resource TLV; for a resource the
//! model does not know, records naming resource instances are wrapped, a record naming the
//! resource is not.
//!
//! **Robustness.** Every length is checked against the bytes left before anything is read; a
//! value is copied only after its bytes are known to be present. Truncated headers, lengths past
//! the end of the enclosing TLV, TLVs of the wrong kind at a level, bytes after the single TLV a
//! resource target allows and duplicate paths are errors; [`FormatError::Malformed`] carries the
//! byte offset in the payload.

use std::collections::{BTreeMap, BTreeSet};

use super::{FormatError, Record};
use crate::model::Registry;
use crate::path::{Path, Prefix, PrefixedPath};
use crate::value::{DataType, Value};

const FORMAT: &str = "tlv";

/// Largest value a 24-bit length field can announce.
const MAX_LENGTH: usize = 0xFF_FFFF;

/// The four TLV kinds (type byte bits 7–6).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    ObjectInstance,
    ResourceInstance,
    MultipleResource,
    Resource,
}

impl Kind {
    fn from_bits(bits: u8) -> Self {
        match bits & 0b11 {
            0b00 => Self::ObjectInstance,
            0b01 => Self::ResourceInstance,
            0b10 => Self::MultipleResource,
            _ => Self::Resource,
        }
    }

    fn bits(self) -> u8 {
        match self {
            Self::ObjectInstance => 0b00,
            Self::ResourceInstance => 0b01,
            Self::MultipleResource => 0b10,
            Self::Resource => 0b11,
        }
    }

    fn name(self) -> &'static str {
        match self {
            Self::ObjectInstance => "object instance",
            Self::ResourceInstance => "resource instance",
            Self::MultipleResource => "multiple resource",
            Self::Resource => "resource",
        }
    }
}

/// One parsed TLV, borrowing its value from the payload.
#[derive(Debug, Clone, Copy)]
struct Tlv<'a> {
    kind: Kind,
    id: u16,
    value: &'a [u8],
    /// Offset of the type byte in the payload.
    offset: usize,
    /// Offset of the first value byte in the payload.
    value_offset: usize,
}

fn malformed(offset: usize, reason: impl Into<String>) -> FormatError {
    FormatError::Malformed { format: FORMAT, offset, reason: reason.into() }
}

fn invalid(reason: impl Into<String>) -> FormatError {
    FormatError::Invalid { format: FORMAT, reason: reason.into() }
}

/// Reads `n` (≤ 3) big-endian bytes at `at`; the caller has checked they exist.
fn read_be(bytes: &[u8], at: usize, n: usize) -> Option<usize> {
    let field = bytes.get(at..at.checked_add(n)?)?;
    Some(field.iter().fold(0usize, |acc, &b| (acc << 8) | usize::from(b)))
}

/// Splits `bytes` (found at payload offset `base`) into consecutive TLVs.
fn parse_list(bytes: &[u8], base: usize) -> Result<Vec<Tlv<'_>>, FormatError> {
    let mut tlvs = Vec::new();
    let mut pos = 0;
    while pos < bytes.len() {
        let offset = base + pos;
        let type_byte = bytes[pos];
        let id_len = if type_byte & 0x20 != 0 { 2 } else { 1 };
        let len_len = usize::from((type_byte >> 3) & 0b11);
        let header_len = 1 + id_len + len_len;
        let left = bytes.len() - pos;
        if left < header_len {
            return Err(malformed(offset, format!("truncated tlv header: {header_len} bytes needed, {left} left")));
        }
        let id = read_be(bytes, pos + 1, id_len).ok_or_else(|| malformed(offset, "truncated tlv identifier"))?;
        let id = u16::try_from(id).map_err(|_| malformed(offset, "tlv identifier wider than 16 bits"))?;
        let length = if len_len == 0 {
            usize::from(type_byte & 0b111)
        } else {
            read_be(bytes, pos + 1 + id_len, len_len).ok_or_else(|| malformed(offset, "truncated tlv length"))?
        };
        let value_start = pos + header_len;
        let left = bytes.len() - value_start;
        if length > left {
            return Err(malformed(offset, format!("tlv length {length} exceeds the {left} bytes left")));
        }
        let value_end = value_start + length;
        tlvs.push(Tlv {
            kind: Kind::from_bits(type_byte >> 6),
            id,
            value: &bytes[value_start..value_end],
            offset,
            value_offset: base + value_start,
        });
        pos = value_end;
    }
    Ok(tlvs)
}

/// Decodes a TLV payload addressed to `target`; see the module docs for what each target allows.
pub fn decode(payload: &[u8], target: &PrefixedPath, registry: &Registry) -> Result<Vec<Record>, FormatError> {
    let top = parse_list(payload, 0)?;
    let mut decoder = Decoder { registry, prefix: &target.prefix, records: Vec::new(), seen: BTreeSet::new() };
    match target.path {
        Path::Root => {
            return Err(invalid("a tlv payload needs an object, instance, resource or resource instance target"))
        }
        Path::Object(o) => decoder.object(o, &top)?,
        Path::Instance(o, i) => match top.as_slice() {
            [single] if single.kind == Kind::ObjectInstance => {
                if single.id != i {
                    return Err(invalid(format!(
                        "object instance tlv {} does not match the target {target}",
                        single.id
                    )));
                }
                decoder.instance(o, i, single)?;
            }
            _ => decoder.resources(o, i, &top)?,
        },
        Path::Resource(o, i, r) => decoder.resource_target(o, i, r, &top)?,
        Path::ResourceInstance(o, i, r, ri) => decoder.resource_instance_target(o, i, r, ri, &top)?,
    }
    Ok(decoder.records)
}

struct Decoder<'r> {
    registry: &'r Registry,
    prefix: &'r Option<Prefix>,
    records: Vec<Record>,
    seen: BTreeSet<Path>,
}

impl Decoder<'_> {
    fn show(&self, path: Path) -> PrefixedPath {
        PrefixedPath { prefix: self.prefix.clone(), path }
    }

    fn object(&mut self, o: u16, top: &[Tlv<'_>]) -> Result<(), FormatError> {
        let all_instances = top.iter().all(|t| t.kind == Kind::ObjectInstance);
        if all_instances {
            for tlv in top {
                self.instance(o, tlv.id, tlv)?;
            }
            return Ok(());
        }
        let all_resources = top.iter().all(|t| matches!(t.kind, Kind::Resource | Kind::MultipleResource));
        let single_instance = self.registry.object(o).is_some_and(|m| !m.multiple);
        if all_resources && single_instance {
            return self.resources(o, 0, top);
        }
        if all_resources {
            return Err(invalid(format!(
                "resource tlvs for the object target {} are ambiguous: the object is not known to be \
                 single-instance, so object instance tlvs are required",
                self.show(Path::Object(o))
            )));
        }
        let odd = top.iter().find(|t| t.kind != Kind::ObjectInstance).map_or(0, |t| t.offset);
        Err(malformed(odd, "an object target needs object instance tlvs only"))
    }

    fn instance(&mut self, o: u16, i: u16, tlv: &Tlv<'_>) -> Result<(), FormatError> {
        let children = parse_list(tlv.value, tlv.value_offset)?;
        self.resources(o, i, &children)
    }

    fn resources(&mut self, o: u16, i: u16, tlvs: &[Tlv<'_>]) -> Result<(), FormatError> {
        for tlv in tlvs {
            self.resource(o, i, tlv)?;
        }
        Ok(())
    }

    /// A Resource or Multiple Resource TLV inside instance `/o/i`.
    fn resource(&mut self, o: u16, i: u16, tlv: &Tlv<'_>) -> Result<(), FormatError> {
        match tlv.kind {
            Kind::Resource => self.leaf(Path::Resource(o, i, tlv.id), tlv),
            Kind::MultipleResource => {
                for child in parse_list(tlv.value, tlv.value_offset)? {
                    if child.kind != Kind::ResourceInstance {
                        return Err(malformed(
                            child.offset,
                            format!("{} tlv inside a multiple resource tlv", child.kind.name()),
                        ));
                    }
                    self.leaf(Path::ResourceInstance(o, i, tlv.id, child.id), &child)?;
                }
                Ok(())
            }
            kind => Err(malformed(tlv.offset, format!("{} tlv where a resource tlv belongs", kind.name()))),
        }
    }

    fn resource_target(&mut self, o: u16, i: u16, r: u16, top: &[Tlv<'_>]) -> Result<(), FormatError> {
        let target = self.show(Path::Resource(o, i, r));
        match top {
            [] => Err(invalid(format!("empty payload where a resource tlv for {target} belongs"))),
            [single] if matches!(single.kind, Kind::Resource | Kind::MultipleResource) => {
                if single.id != r {
                    return Err(invalid(format!(
                        "{} tlv {} does not match the target {target}",
                        single.kind.name(),
                        single.id
                    )));
                }
                self.resource(o, i, single)
            }
            [first, second, ..] if matches!(first.kind, Kind::Resource | Kind::MultipleResource) => {
                Err(malformed(second.offset, format!("bytes after the single resource tlv for {target}")))
            }
            _ => {
                // Bare resource instances of the target resource, without the wrapper.
                for tlv in top {
                    if tlv.kind != Kind::ResourceInstance {
                        return Err(malformed(
                            tlv.offset,
                            format!("{} tlv where a resource tlv for {target} belongs", tlv.kind.name()),
                        ));
                    }
                    self.leaf(Path::ResourceInstance(o, i, r, tlv.id), tlv)?;
                }
                Ok(())
            }
        }
    }

    fn resource_instance_target(
        &mut self,
        o: u16,
        i: u16,
        r: u16,
        ri: u16,
        top: &[Tlv<'_>],
    ) -> Result<(), FormatError> {
        let path = Path::ResourceInstance(o, i, r, ri);
        let target = self.show(path);
        let single = match top {
            [] => return Err(invalid(format!("empty payload where a resource instance tlv for {target} belongs"))),
            [single] => single,
            [_, second, ..] => {
                return Err(malformed(second.offset, format!("bytes after the single tlv for {target}")));
            }
        };
        let inner;
        let leaf = match single.kind {
            Kind::ResourceInstance => single,
            Kind::MultipleResource if single.id == r => {
                inner = parse_list(single.value, single.value_offset)?;
                match inner.as_slice() {
                    [only] if only.kind == Kind::ResourceInstance => only,
                    _ => {
                        return Err(malformed(
                            single.value_offset,
                            format!("a multiple resource tlv for {target} must hold exactly one resource instance"),
                        ))
                    }
                }
            }
            kind => {
                return Err(malformed(
                    single.offset,
                    format!("{} tlv {} where a resource instance tlv for {target} belongs", kind.name(), single.id),
                ))
            }
        };
        if leaf.id != ri {
            return Err(invalid(format!("resource instance tlv {} does not match the target {target}", leaf.id)));
        }
        self.leaf(path, leaf)
    }

    fn leaf(&mut self, path: Path, tlv: &Tlv<'_>) -> Result<(), FormatError> {
        if !self.seen.insert(path) {
            return Err(invalid(format!("{} appears twice", self.show(path))));
        }
        super::text::check_shape(FORMAT, &self.show(path), self.registry)?;
        let value = match self.registry.data_type(&path) {
            Some(data_type) => decode_value(tlv.value, data_type, tlv.value_offset)?,
            None => Value::Opaque(tlv.value.to_vec()),
        };
        self.records.push(Record::new(self.show(path), value));
        Ok(())
    }
}

/// Reads a TLV value as `data_type`; `offset` is where the value starts in the payload.
fn decode_value(bytes: &[u8], data_type: DataType, offset: usize) -> Result<Value, FormatError> {
    let wrong_length = |what: &str| malformed(offset, format!("{} bytes cannot hold {what}", bytes.len()));
    Ok(match data_type {
        DataType::String => Value::String(utf8(bytes, offset)?),
        DataType::CoreLnk => Value::CoreLnk(utf8(bytes, offset)?),
        DataType::Opaque => Value::Opaque(bytes.to_vec()),
        DataType::Integer => Value::Integer(signed(bytes).ok_or_else(|| wrong_length("an integer (1, 2, 4 or 8)"))?),
        DataType::Time => Value::Time(signed(bytes).ok_or_else(|| wrong_length("a time (1, 2, 4 or 8)"))?),
        DataType::Unsigned => {
            Value::Unsigned(unsigned(bytes).ok_or_else(|| wrong_length("an unsigned integer (1, 2, 4 or 8)"))?)
        }
        DataType::Float => match *bytes {
            [a, b, c, d] => Value::Float(f64::from(f32::from_be_bytes([a, b, c, d]))),
            [a, b, c, d, e, f, g, h] => Value::Float(f64::from_be_bytes([a, b, c, d, e, f, g, h])),
            _ => return Err(wrong_length("a float (4 or 8)")),
        },
        DataType::Boolean => match *bytes {
            [0] => Value::Boolean(false),
            [1] => Value::Boolean(true),
            [other] => return Err(malformed(offset, format!("boolean byte {other} is neither 0 nor 1"))),
            _ => return Err(wrong_length("a boolean (1)")),
        },
        DataType::ObjLnk => match *bytes {
            [a, b, c, d] => Value::ObjLnk(u16::from_be_bytes([a, b]), u16::from_be_bytes([c, d])),
            _ => return Err(wrong_length("an object link (4)")),
        },
        DataType::None => {
            if !bytes.is_empty() {
                return Err(wrong_length("a value of type none (0)"));
            }
            Value::None
        }
    })
}

fn utf8(bytes: &[u8], offset: usize) -> Result<String, FormatError> {
    std::str::from_utf8(bytes)
        .map(str::to_owned)
        .map_err(|e| malformed(offset + e.valid_up_to(), "string is not valid utf-8"))
}

fn signed(bytes: &[u8]) -> Option<i64> {
    Some(match *bytes {
        [a] => i64::from(i8::from_be_bytes([a])),
        [a, b] => i64::from(i16::from_be_bytes([a, b])),
        [a, b, c, d] => i64::from(i32::from_be_bytes([a, b, c, d])),
        [a, b, c, d, e, f, g, h] => i64::from_be_bytes([a, b, c, d, e, f, g, h]),
        _ => return None,
    })
}

fn unsigned(bytes: &[u8]) -> Option<u64> {
    Some(match *bytes {
        [a] => u64::from(a),
        [a, b] => u64::from(u16::from_be_bytes([a, b])),
        [a, b, c, d] => u64::from(u32::from_be_bytes([a, b, c, d])),
        [a, b, c, d, e, f, g, h] => u64::from_be_bytes([a, b, c, d, e, f, g, h]),
        _ => return None,
    })
}

/// One resource as the encoder groups records.
enum ResourceNode<'a> {
    Single(&'a Record),
    Multiple(BTreeMap<u16, &'a Record>),
}

type Instances<'a> = BTreeMap<u16, BTreeMap<u16, ResourceNode<'a>>>;

/// Encodes `records` as the TLV answer for `target`; see the module docs for the layout.
pub fn encode(records: &[Record], target: &PrefixedPath, registry: &Registry) -> Result<Vec<u8>, FormatError> {
    if target.path == Path::Root {
        return Err(FormatError::Unrepresentable {
            format: FORMAT,
            what: "a payload for the root path (tlv names no objects)".into(),
        });
    }
    let instances = group(records, target, registry)?;
    let mut out = Vec::new();
    match target.path {
        // Refused above.
        Path::Root => {}
        Path::Object(_) => {
            for (&i, resources) in &instances {
                let body = encode_resources(resources, registry)?;
                write_tlv(&mut out, Kind::ObjectInstance, i, &body)?;
            }
        }
        Path::Instance(_, i) => {
            if let Some(resources) = instances.get(&i) {
                out = encode_resources(resources, registry)?;
            }
        }
        Path::Resource(_, i, r) => match instances.get(&i).and_then(|res| res.get(&r)) {
            Some(node) => encode_resource(&mut out, r, node, registry)?,
            None if registry.is_multiple(&target.path) == Some(true) => {
                write_tlv(&mut out, Kind::MultipleResource, r, &[])?;
            }
            None => return Err(invalid(format!("no record for the target {target}"))),
        },
        Path::ResourceInstance(_, i, r, ri) => {
            let record = match instances.get(&i).and_then(|res| res.get(&r)) {
                Some(ResourceNode::Multiple(map)) => map.get(&ri).copied(),
                _ => None,
            };
            let record = record.ok_or_else(|| invalid(format!("no record for the target {target}")))?;
            let bytes = encode_value(record, registry)?;
            write_tlv(&mut out, Kind::ResourceInstance, ri, &bytes)?;
        }
    }
    Ok(out)
}

/// Groups records by instance and resource, checking each lies under `target` and that the
/// resource shape agrees with the model.
fn group<'a>(records: &'a [Record], target: &PrefixedPath, registry: &Registry) -> Result<Instances<'a>, FormatError> {
    let mut instances: Instances<'a> = BTreeMap::new();
    for record in records {
        let path = record.path.path;
        let (i, r, ri) = match path {
            Path::Resource(_, i, r) => (i, r, None),
            Path::ResourceInstance(_, i, r, ri) => (i, r, Some(ri)),
            _ => return Err(invalid(format!("record {} is not a resource or resource instance", record.path))),
        };
        if !target.path.contains(&path) {
            return Err(invalid(format!("record {} lies outside the target {target}", record.path)));
        }
        let multiple = registry.is_multiple(&path);
        let resources = instances.entry(i).or_default();
        match (ri, multiple) {
            (None, Some(true)) => {
                return Err(invalid(format!(
                    "record {} names a multi-instance resource; records must name its instances",
                    record.path
                )))
            }
            (Some(_), Some(false)) => {
                return Err(invalid(format!("record {} names an instance of a single-instance resource", record.path)))
            }
            (None, _) => {
                if resources.insert(r, ResourceNode::Single(record)).is_some() {
                    return Err(invalid(format!("record {} appears twice or mixes shapes", record.path)));
                }
            }
            (Some(ri), _) => {
                let node = resources.entry(r).or_insert_with(|| ResourceNode::Multiple(BTreeMap::new()));
                let ResourceNode::Multiple(map) = node else {
                    return Err(invalid(format!("record {} mixes a resource with its instances", record.path)));
                };
                if map.insert(ri, record).is_some() {
                    return Err(invalid(format!("record {} appears twice", record.path)));
                }
            }
        }
    }
    Ok(instances)
}

fn encode_resources(resources: &BTreeMap<u16, ResourceNode<'_>>, registry: &Registry) -> Result<Vec<u8>, FormatError> {
    let mut out = Vec::new();
    for (&r, node) in resources {
        encode_resource(&mut out, r, node, registry)?;
    }
    Ok(out)
}

fn encode_resource(out: &mut Vec<u8>, r: u16, node: &ResourceNode<'_>, registry: &Registry) -> Result<(), FormatError> {
    match node {
        ResourceNode::Single(record) => {
            let bytes = encode_value(record, registry)?;
            write_tlv(out, Kind::Resource, r, &bytes)
        }
        ResourceNode::Multiple(map) => {
            let mut body = Vec::new();
            for (&ri, record) in map {
                let bytes = encode_value(record, registry)?;
                write_tlv(&mut body, Kind::ResourceInstance, ri, &bytes)?;
            }
            write_tlv(out, Kind::MultipleResource, r, &body)
        }
    }
}

/// The value bytes of a record, after coercion to the model's type.
fn encode_value(record: &Record, registry: &Registry) -> Result<Vec<u8>, FormatError> {
    super::text::coerce_to_model(FORMAT, record, registry).map(|value| value_bytes(&value))
}

fn value_bytes(value: &Value) -> Vec<u8> {
    match value {
        Value::String(s) | Value::CoreLnk(s) => s.as_bytes().to_vec(),
        Value::Integer(i) | Value::Time(i) => shortest_signed(*i),
        Value::Unsigned(u) => shortest_unsigned(*u),
        Value::Float(f) => {
            let narrow = *f as f32;
            if f64::from(narrow) == *f || f.is_nan() {
                narrow.to_be_bytes().to_vec()
            } else {
                f.to_be_bytes().to_vec()
            }
        }
        Value::Boolean(b) => vec![u8::from(*b)],
        Value::Opaque(bytes) => bytes.clone(),
        Value::ObjLnk(o, i) => {
            let mut bytes = o.to_be_bytes().to_vec();
            bytes.extend_from_slice(&i.to_be_bytes());
            bytes
        }
        Value::None => Vec::new(),
    }
}

fn shortest_signed(i: i64) -> Vec<u8> {
    if let Ok(v) = i8::try_from(i) {
        v.to_be_bytes().to_vec()
    } else if let Ok(v) = i16::try_from(i) {
        v.to_be_bytes().to_vec()
    } else if let Ok(v) = i32::try_from(i) {
        v.to_be_bytes().to_vec()
    } else {
        i.to_be_bytes().to_vec()
    }
}

fn shortest_unsigned(u: u64) -> Vec<u8> {
    if let Ok(v) = u8::try_from(u) {
        vec![v]
    } else if let Ok(v) = u16::try_from(u) {
        v.to_be_bytes().to_vec()
    } else if let Ok(v) = u32::try_from(u) {
        v.to_be_bytes().to_vec()
    } else {
        u.to_be_bytes().to_vec()
    }
}

/// Appends one TLV: header with the narrowest identifier and length fields, then `value`.
fn write_tlv(out: &mut Vec<u8>, kind: Kind, id: u16, value: &[u8]) -> Result<(), FormatError> {
    let len = value.len();
    if len > MAX_LENGTH {
        return Err(FormatError::Unrepresentable {
            format: FORMAT,
            what: format!("a value of {len} bytes (at most {MAX_LENGTH})"),
        });
    }
    let wide_id = id > 0xFF;
    let (len_type, len_bytes): (u8, &[u8]) = match len {
        0..=7 => (0, &[]),
        8..=0xFF => (1, &(len as u32).to_be_bytes()[3..]),
        0x100..=0xFFFF => (2, &(len as u32).to_be_bytes()[2..]),
        _ => (3, &(len as u32).to_be_bytes()[1..]),
    };
    let short_len = if len_type == 0 { len as u8 } else { 0 };
    out.push((kind.bits() << 6) | (u8::from(wide_id) << 5) | (len_type << 3) | short_len);
    if wide_id {
        out.extend_from_slice(&id.to_be_bytes());
    } else {
        out.push(id as u8);
    }
    out.extend_from_slice(len_bytes);
    out.extend_from_slice(value);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headers_use_the_narrowest_fields() {
        let mut out = Vec::new();
        write_tlv(&mut out, Kind::Resource, 5700, &[0; 4]).unwrap();
        assert_eq!(out[..3], [0xE4, 0x16, 0x44]);
        out.clear();
        write_tlv(&mut out, Kind::ResourceInstance, 1, &[0; 300]).unwrap();
        assert_eq!(out[..4], [0x50, 0x01, 0x01, 0x2C]);
        out.clear();
        write_tlv(&mut out, Kind::ObjectInstance, 2, &vec![0; 70_000]).unwrap();
        assert_eq!(out[..5], [0x18, 0x02, 0x01, 0x11, 0x70]);
    }

    #[test]
    fn a_parsed_list_reports_offsets() {
        let tlvs = parse_list(&[0xC1, 0x00, 0x05, 0x41, 0x07, 0x01], 10).unwrap();
        assert_eq!(tlvs.len(), 2);
        assert_eq!((tlvs[1].offset, tlvs[1].value_offset, tlvs[1].id), (13, 15, 7));
        assert!(matches!(parse_list(&[0xC1, 0x00], 4), Err(FormatError::Malformed { offset: 4, .. })));
    }

    #[test]
    fn integers_are_written_in_the_shortest_width() {
        assert_eq!(shortest_signed(127), [0x7F]);
        assert_eq!(shortest_signed(-129), [0xFF, 0x7F]);
        assert_eq!(shortest_signed(1 << 31), [0, 0, 0, 0, 0x80, 0, 0, 0]);
        assert_eq!(shortest_unsigned(200), [0xC8]);
        assert_eq!(shortest_unsigned(u64::MAX), [0xFF; 8]);
    }
}
