//! The LwM2M node tree (Core TS 1.2 §6.3, object model §7.1): [`Object`] → [`ObjectInstance`] →
//! [`SingleResource`] | [`MultipleResource`], plus a lone [`ResourceInstance`] and the root, as
//! Leshan's `core/node/` shapes it. Built from the flat [`Record`]s every content format decodes
//! to, flattened back to them, and converted to and from the JSON of Leshan's demo server.
//!
//! [`Node::from_records`] checks every record lies under the target path, no path appears twice,
//! and each resource has one shape: a resource is multi-instance when its model says so or,
//! without a model, when its records are resource-instance paths. A record's gateway prefix is
//! dropped when all records share it (the tree describes one device); mixed prefixes are refused.
//! Timestamps are dropped: a tree is one point in time (historical records are grouped by the
//! caller first, so the same path at two times is a duplicate here).
//!
//! # JSON shape (Leshan demo server)
//!
//! Taken from Leshan's `leshan-demo-server/src/main/java/org/eclipse/leshan/demo/server/servlet/
//! json/JacksonLwM2mNodeSerializer.java` (commit 6d2ff69) and `JacksonLwM2mNodeDeserializer.java`
//! (commit 34caf24) of `eclipse-leshan/leshan`:
//!
//! ```text
//! {"kind":"root","objects":[<obj>…]}
//! {"kind":"obj","id":3,"instances":[<instance>…]}
//! {"kind":"instance","id":0,"resources":[<resource>…]}
//! {"kind":"singleResource","id":0,"type":"STRING","value":"Open Mobile Alliance"}
//! {"kind":"multiResource","id":7,"type":"INTEGER","values":{"0":"3800","1":"5000"}}
//! {"kind":"resourceInstance","id":1,"type":"INTEGER","value":"5000"}
//! ```
//!
//! `type` is the uppercase Leshan `ResourceModel.Type` name: `STRING`, `INTEGER`,
//! `UNSIGNED_INTEGER`, `FLOAT`, `BOOLEAN`, `OPAQUE`, `TIME`, `OBJLNK`, `CORELINK`, `NONE` (read
//! case-insensitively). Values as Leshan writes them: INTEGER, UNSIGNED_INTEGER and FLOAT as
//! decimal *strings* (JavaScript numbers lose precision past 2^53); BOOLEAN a JSON boolean;
//! OPAQUE lowercase hex; TIME a number of *milliseconds* since the epoch (Jackson's default for
//! `java.util.Date`; seconds here, so reading floors to the second); OBJLNK
//! `{"objectId":3,"objectInstanceId":0}` (Jackson's bean form of `ObjectLink`; Leshan also writes
//! a derived `nullLink` field, which is ignored on input and not written); CORELINK the link-format
//! text; NONE `null`. Reading is as lenient as Leshan's: integers and floats may also be JSON
//! numbers, `kind` may be left out when `instances`, `resources` or `values` tells it, `id` may be
//! a decimal string. An `instance` without `id` is a Create body: read it with
//! [`NewInstance::from_json`].

use std::collections::BTreeMap;

use serde_json::{json, Map, Value as Json};

use crate::format::Record;
use crate::model::Registry;
use crate::path::{Path, Prefix, PrefixedPath};
use crate::value::{DataType, Value};

/// An object and its instances.
#[derive(Debug, Clone, PartialEq)]
pub struct Object {
    /// Object ID.
    pub id: u16,
    /// Instances by ID.
    pub instances: BTreeMap<u16, ObjectInstance>,
}

/// An object instance and its resources.
#[derive(Debug, Clone, PartialEq)]
pub struct ObjectInstance {
    /// Instance ID.
    pub id: u16,
    /// Resources by ID.
    pub resources: BTreeMap<u16, Resource>,
}

/// A resource inside an instance: single or multi-instance.
#[derive(Debug, Clone, PartialEq)]
pub enum Resource {
    /// Single-instance resource.
    Single(SingleResource),
    /// Multi-instance resource.
    Multiple(MultipleResource),
}

/// A single-instance resource.
#[derive(Debug, Clone, PartialEq)]
pub struct SingleResource {
    /// Resource ID.
    pub id: u16,
    /// Its value (the type is the value's).
    pub value: Value,
}

/// A multi-instance resource; all its values have `data_type`.
#[derive(Debug, Clone, PartialEq)]
pub struct MultipleResource {
    /// Resource ID.
    pub id: u16,
    /// Type of every instance (needed when there is none).
    pub data_type: DataType,
    /// Values by resource-instance ID.
    pub instances: BTreeMap<u16, Value>,
}

/// One instance of a multi-instance resource, addressed on its own (`/3/0/7/1`).
#[derive(Debug, Clone, PartialEq)]
pub struct ResourceInstance {
    /// Resource-instance ID.
    pub id: u16,
    /// Its value.
    pub value: Value,
}

/// The body of a Create: an instance whose ID the client may choose (Leshan's demo server reads
/// an `instance` node without `id` that way).
#[derive(Debug, Clone, PartialEq)]
pub struct NewInstance {
    /// The requested instance ID, if any.
    pub id: Option<u16>,
    /// Resources by ID.
    pub resources: BTreeMap<u16, Resource>,
}

impl NewInstance {
    /// Reads an `instance` node whose `id` may be absent.
    pub fn from_json(json: &Json) -> Result<Self, NodeJsonError> {
        new_instance_from_json(json, "$")
    }

    /// The records of the new instance of `object`, at `instance` when it has no ID of its own
    /// (pass 65535 for "client picks", as LwM2M CBOR and TLV without an instance wrapper do).
    pub fn to_records(&self, object: u16, instance: u16) -> Vec<Record> {
        let mut out = Vec::new();
        let id = self.id.unwrap_or(instance);
        for resource in self.resources.values() {
            push_resource(&mut out, object, id, resource);
        }
        out
    }
}

/// A node at any level of the tree.
#[derive(Debug, Clone, PartialEq)]
pub enum Node {
    /// `/`: objects by ID.
    Root(BTreeMap<u16, Object>),
    /// `/o`.
    Object(Object),
    /// `/o/i`.
    ObjectInstance(ObjectInstance),
    /// `/o/i/r`, single-instance.
    SingleResource(SingleResource),
    /// `/o/i/r`, multi-instance.
    MultipleResource(MultipleResource),
    /// `/o/i/r/ri`.
    ResourceInstance(ResourceInstance),
}

/// Why records do not make a node, or a node does not fit a path.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NodeError {
    /// A record lies outside the target.
    #[error("record {path} is not under the target {target}")]
    OutsideTarget {
        /// The record's path.
        path: PrefixedPath,
        /// The target.
        target: Path,
    },
    /// A record is not a resource or resource-instance path.
    #[error("record {0} is not a resource or resource instance path")]
    NotALeaf(PrefixedPath),
    /// Two records for one path.
    #[error("record {0} appears twice")]
    Duplicate(Path),
    /// A resource given both as single and multi-instance, or against its model.
    #[error("resource {path} {reason}")]
    Shape {
        /// The resource.
        path: Path,
        /// What is wrong.
        reason: &'static str,
    },
    /// Values of different types in one multi-instance resource.
    #[error("resource {0} holds values of different types")]
    MixedTypes(Path),
    /// Records carry different gateway prefixes.
    #[error("records carry different gateway prefixes")]
    MixedPrefixes,
    /// No record for a target that needs one (a single resource, a resource instance).
    #[error("no value for {0}")]
    Empty(Path),
    /// The node's kind or ID does not match the path it is flattened at.
    #[error("a {kind} node cannot be placed at {path}")]
    WrongPath {
        /// The node kind (Leshan's name).
        kind: &'static str,
        /// The path.
        path: Path,
    },
}

/// Why JSON is not a node. `at` says where (`instances[0].resources[2].value`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("node json at {at}: {reason}")]
pub struct NodeJsonError {
    /// Where in the document.
    pub at: String,
    /// What is wrong.
    pub reason: String,
}

impl Node {
    /// Leshan's `kind` of this node.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Root(_) => "root",
            Self::Object(_) => "obj",
            Self::ObjectInstance(_) => "instance",
            Self::SingleResource(_) => "singleResource",
            Self::MultipleResource(_) => "multiResource",
            Self::ResourceInstance(_) => "resourceInstance",
        }
    }

    /// Builds the node at `target` from decoded records; see the module documentation.
    pub fn from_records(target: &Path, records: &[Record], registry: &Registry) -> Result<Self, NodeError> {
        let mut prefix: Option<&Option<Prefix>> = None;
        let mut root: BTreeMap<u16, Object> = BTreeMap::new();
        // (o, i, r) → whether the resource was seen single (false) or multiple (true).
        let mut shapes: BTreeMap<(u16, u16, u16), bool> = BTreeMap::new();
        for record in records {
            match prefix {
                None => prefix = Some(&record.path.prefix),
                Some(p) if *p != record.path.prefix => return Err(NodeError::MixedPrefixes),
                Some(_) => {}
            }
            let path = record.path.path;
            if !target.contains(&path) {
                return Err(NodeError::OutsideTarget { path: record.path.clone(), target: *target });
            }
            let (o, i, r, ri) = match path {
                Path::Resource(o, i, r) => (o, i, r, None),
                Path::ResourceInstance(o, i, r, ri) => (o, i, r, Some(ri)),
                _ => return Err(NodeError::NotALeaf(record.path.clone())),
            };
            let resource_path = Path::Resource(o, i, r);
            let multiple = ri.is_some();
            if let Some(model_multiple) = registry.is_multiple(&resource_path) {
                if model_multiple != multiple {
                    let reason = if model_multiple {
                        "is multi-instance in its model but was given a single value"
                    } else {
                        "is single-instance in its model but was given resource instances"
                    };
                    return Err(NodeError::Shape { path: resource_path, reason });
                }
            }
            if *shapes.entry((o, i, r)).or_insert(multiple) != multiple {
                return Err(NodeError::Shape {
                    path: resource_path,
                    reason: "is given both as a single value and as resource instances",
                });
            }
            let object = root.entry(o).or_insert_with(|| Object { id: o, instances: BTreeMap::new() });
            let instance =
                object.instances.entry(i).or_insert_with(|| ObjectInstance { id: i, resources: BTreeMap::new() });
            match ri {
                None => {
                    let single = Resource::Single(SingleResource { id: r, value: record.value.clone() });
                    if instance.resources.insert(r, single).is_some() {
                        return Err(NodeError::Duplicate(path));
                    }
                }
                Some(ri) => {
                    let data_type = registry.data_type(&resource_path).unwrap_or(record.value.data_type());
                    let entry = instance.resources.entry(r).or_insert_with(|| {
                        Resource::Multiple(MultipleResource { id: r, data_type, instances: BTreeMap::new() })
                    });
                    let Resource::Multiple(multiple) = entry else {
                        return Err(NodeError::Shape { path: resource_path, reason: "is given in two shapes" });
                    };
                    if record.value.data_type() != multiple.data_type {
                        return Err(NodeError::MixedTypes(resource_path));
                    }
                    if multiple.instances.insert(ri, record.value.clone()).is_some() {
                        return Err(NodeError::Duplicate(path));
                    }
                }
            }
        }
        Self::pick(target, root, registry)
    }

    /// Takes the node at `target` out of a tree built from records under it.
    fn pick(target: &Path, mut root: BTreeMap<u16, Object>, registry: &Registry) -> Result<Self, NodeError> {
        let empty_object = |o| Object { id: o, instances: BTreeMap::new() };
        let empty_instance = |i| ObjectInstance { id: i, resources: BTreeMap::new() };
        Ok(match *target {
            Path::Root => Self::Root(root),
            Path::Object(o) => Self::Object(root.remove(&o).unwrap_or_else(|| empty_object(o))),
            Path::Instance(o, i) => Self::ObjectInstance(
                root.remove(&o).and_then(|mut obj| obj.instances.remove(&i)).unwrap_or_else(|| empty_instance(i)),
            ),
            Path::Resource(o, i, r) => {
                let found = root.remove(&o).and_then(|mut obj| obj.instances.remove(&i)?.resources.remove(&r));
                match found {
                    Some(Resource::Single(single)) => Self::SingleResource(single),
                    Some(Resource::Multiple(multiple)) => Self::MultipleResource(multiple),
                    None => match registry.resource(o, r) {
                        Some(model) if model.multiple => Self::MultipleResource(MultipleResource {
                            id: r,
                            data_type: model.data_type,
                            instances: BTreeMap::new(),
                        }),
                        _ => return Err(NodeError::Empty(*target)),
                    },
                }
            }
            Path::ResourceInstance(o, i, r, ri) => {
                let found = root.remove(&o).and_then(|mut obj| obj.instances.remove(&i)?.resources.remove(&r));
                match found {
                    Some(Resource::Multiple(mut multiple)) => match multiple.instances.remove(&ri) {
                        Some(value) => Self::ResourceInstance(ResourceInstance { id: ri, value }),
                        None => return Err(NodeError::Empty(*target)),
                    },
                    _ => return Err(NodeError::Empty(*target)),
                }
            }
        })
    }

    /// Flattens the node placed at `path` into records (no prefix, no time), in path order.
    pub fn to_records(&self, path: &Path) -> Result<Vec<Record>, NodeError> {
        let wrong = || NodeError::WrongPath { kind: self.kind(), path: *path };
        let mut out = Vec::new();
        match (self, *path) {
            (Self::Root(objects), Path::Root) => {
                for object in objects.values() {
                    push_object(&mut out, object);
                }
            }
            (Self::Object(object), Path::Object(o)) if object.id == o => push_object(&mut out, object),
            (Self::ObjectInstance(instance), Path::Instance(o, i)) if instance.id == i => {
                push_instance(&mut out, o, instance);
            }
            (Self::SingleResource(single), Path::Resource(o, i, r)) if single.id == r => {
                push_resource(&mut out, o, i, &Resource::Single(single.clone()));
            }
            (Self::MultipleResource(multiple), Path::Resource(o, i, r)) if multiple.id == r => {
                push_resource(&mut out, o, i, &Resource::Multiple(multiple.clone()));
            }
            (Self::ResourceInstance(ri), Path::ResourceInstance(_, _, _, id)) if ri.id == id => {
                out.push(Record::new((*path).into(), ri.value.clone()));
            }
            _ => return Err(wrong()),
        }
        Ok(out)
    }

    /// As [`Node::to_records`], every record carrying the gateway `prefix`.
    pub fn to_prefixed_records(&self, path: &Path, prefix: &Prefix) -> Result<Vec<Record>, NodeError> {
        let mut records = self.to_records(path)?;
        for record in &mut records {
            record.path.prefix = Some(prefix.clone());
        }
        Ok(records)
    }

    /// The node in Leshan's JSON shape (see the module documentation).
    pub fn to_json(&self) -> Json {
        match self {
            Self::Root(objects) => {
                json!({"kind": "root", "objects": objects.values().map(object_json).collect::<Vec<_>>()})
            }
            Self::Object(object) => object_json(object),
            Self::ObjectInstance(instance) => instance_json(instance),
            Self::SingleResource(single) => resource_json(&Resource::Single(single.clone())),
            Self::MultipleResource(multiple) => resource_json(&Resource::Multiple(multiple.clone())),
            Self::ResourceInstance(ri) => json!({
                "kind": "resourceInstance",
                "id": ri.id,
                "type": type_name(ri.value.data_type()),
                "value": value_json(&ri.value),
            }),
        }
    }

    /// Reads a node in Leshan's JSON shape.
    pub fn from_json(json: &Json) -> Result<Self, NodeJsonError> {
        let at = String::from("$");
        let obj = as_object(json, &at)?;
        match kind_of(obj, &at)? {
            "root" => {
                let objects = array_field(obj, "objects", &at)?;
                let mut out = BTreeMap::new();
                for (n, item) in objects.iter().enumerate() {
                    let item_at = format!("objects[{n}]");
                    let object = object_from_json(item, &item_at)?;
                    if out.insert(object.id, object).is_some() {
                        return Err(err(&item_at, "object id given twice"));
                    }
                }
                Ok(Self::Root(out))
            }
            "obj" => Ok(Self::Object(object_from_json(json, &at)?)),
            "instance" => Ok(Self::ObjectInstance(instance_from_json(json, &at)?)),
            "singleResource" | "multiResource" => Ok(match resource_from_json(json, &at)? {
                Resource::Single(single) => Self::SingleResource(single),
                Resource::Multiple(multiple) => Self::MultipleResource(multiple),
            }),
            "resourceInstance" => {
                let id = id_field(obj, &at)?;
                let data_type = type_field(obj, &at)?;
                let value = obj.get("value").ok_or_else(|| err(&at, "missing value"))?;
                Ok(Self::ResourceInstance(ResourceInstance { id, value: value_from_json(value, data_type, &at)? }))
            }
            other => Err(err(&at, &format!("unknown kind {:?}", cut(other)))),
        }
    }
}

fn push_object(out: &mut Vec<Record>, object: &Object) {
    for instance in object.instances.values() {
        push_instance(out, object.id, instance);
    }
}

fn push_instance(out: &mut Vec<Record>, o: u16, instance: &ObjectInstance) {
    for resource in instance.resources.values() {
        push_resource(out, o, instance.id, resource);
    }
}

fn push_resource(out: &mut Vec<Record>, o: u16, i: u16, resource: &Resource) {
    match resource {
        Resource::Single(single) => {
            out.push(Record::new(Path::Resource(o, i, single.id).into(), single.value.clone()));
        }
        Resource::Multiple(multiple) => {
            for (ri, value) in &multiple.instances {
                out.push(Record::new(Path::ResourceInstance(o, i, multiple.id, *ri).into(), value.clone()));
            }
        }
    }
}

impl Resource {
    /// Resource ID.
    pub fn id(&self) -> u16 {
        match self {
            Self::Single(single) => single.id,
            Self::Multiple(multiple) => multiple.id,
        }
    }
}

/// Leshan's `ResourceModel.Type` name of a data type.
pub fn type_name(data_type: DataType) -> &'static str {
    match data_type {
        DataType::String => "STRING",
        DataType::Integer => "INTEGER",
        DataType::Unsigned => "UNSIGNED_INTEGER",
        DataType::Float => "FLOAT",
        DataType::Boolean => "BOOLEAN",
        DataType::Opaque => "OPAQUE",
        DataType::Time => "TIME",
        DataType::ObjLnk => "OBJLNK",
        DataType::CoreLnk => "CORELINK",
        DataType::None => "NONE",
    }
}

/// The data type of a Leshan type name, case-insensitively.
pub fn type_from_name(name: &str) -> Option<DataType> {
    [
        DataType::String,
        DataType::Integer,
        DataType::Unsigned,
        DataType::Float,
        DataType::Boolean,
        DataType::Opaque,
        DataType::Time,
        DataType::ObjLnk,
        DataType::CoreLnk,
        DataType::None,
    ]
    .into_iter()
    .find(|t| type_name(*t).eq_ignore_ascii_case(name))
}

fn object_json(object: &Object) -> Json {
    json!({"kind": "obj", "id": object.id, "instances": object.instances.values().map(instance_json).collect::<Vec<_>>()})
}

fn instance_json(instance: &ObjectInstance) -> Json {
    json!({
        "kind": "instance",
        "id": instance.id,
        "resources": instance.resources.values().map(resource_json).collect::<Vec<_>>(),
    })
}

fn resource_json(resource: &Resource) -> Json {
    match resource {
        Resource::Single(single) => json!({
            "kind": "singleResource",
            "id": single.id,
            "type": type_name(single.value.data_type()),
            "value": value_json(&single.value),
        }),
        Resource::Multiple(multiple) => {
            let values: Map<String, Json> =
                multiple.instances.iter().map(|(ri, value)| (ri.to_string(), value_json(value))).collect();
            json!({"kind": "multiResource", "id": multiple.id, "type": type_name(multiple.data_type), "values": values})
        }
    }
}

/// A value as Leshan's demo server writes it.
pub fn value_json(value: &Value) -> Json {
    match value {
        Value::String(s) | Value::CoreLnk(s) => Json::String(s.clone()),
        Value::Integer(i) => Json::String(i.to_string()),
        Value::Unsigned(u) => Json::String(u.to_string()),
        // `{:?}` keeps a fraction on integral floats (`42.0`), as Java's Double.toString does.
        Value::Float(f) => Json::String(format!("{f:?}")),
        Value::Boolean(b) => Json::Bool(*b),
        Value::Opaque(bytes) => Json::String(hex_encode(bytes)),
        Value::Time(t) => match t.checked_mul(1000) {
            Some(ms) => json!(ms),
            // Beyond ±2.9e8 years; keep the magnitude rather than wrap.
            None => json!((*t as f64) * 1000.0),
        },
        Value::ObjLnk(o, i) => json!({"objectId": o, "objectInstanceId": i}),
        Value::None => Json::Null,
    }
}

/// Reads a value of `data_type` as Leshan's demo server accepts it.
pub fn value_from_json(json: &Json, data_type: DataType, at: &str) -> Result<Value, NodeJsonError> {
    let mismatch = |expected: &str| err(at, &format!("a {} value must be {expected}", type_name(data_type)));
    Ok(match data_type {
        DataType::String => Value::String(json.as_str().ok_or_else(|| mismatch("a string"))?.to_owned()),
        DataType::CoreLnk => {
            let text = json.as_str().ok_or_else(|| mismatch("a string"))?;
            crate::format::link::parse(text).map_err(|e| err(at, &e.to_string()))?;
            Value::CoreLnk(text.to_owned())
        }
        DataType::Integer => Value::Integer(match json {
            Json::String(s) if is_decimal_integer(s) => s.parse().map_err(|_| mismatch("a 64-bit integer"))?,
            Json::Number(n) => n.as_i64().ok_or_else(|| mismatch("a 64-bit integer"))?,
            _ => return Err(mismatch("an integer as a decimal string or number")),
        }),
        DataType::Unsigned => Value::Unsigned(match json {
            Json::String(s) if s.bytes().all(|b| b.is_ascii_digit()) && !s.is_empty() => {
                s.parse().map_err(|_| mismatch("an unsigned 64-bit integer"))?
            }
            Json::Number(n) => n.as_u64().ok_or_else(|| mismatch("an unsigned 64-bit integer"))?,
            _ => return Err(mismatch("an unsigned integer as a decimal string or number")),
        }),
        DataType::Float => {
            let f = match json {
                Json::String(s) if is_decimal_float(s) => s.parse::<f64>().ok(),
                Json::Number(n) => n.as_f64(),
                _ => None,
            };
            Value::Float(f.filter(|f| f.is_finite()).ok_or_else(|| mismatch("a finite number as a string or number"))?)
        }
        DataType::Boolean => Value::Boolean(json.as_bool().ok_or_else(|| mismatch("true or false"))?),
        DataType::Opaque => Value::Opaque(
            hex_decode(json.as_str().ok_or_else(|| mismatch("a hex string"))?)
                .ok_or_else(|| mismatch("a hex string"))?,
        ),
        DataType::Time => {
            let ms = json.as_i64().ok_or_else(|| mismatch("milliseconds since the epoch as an integer"))?;
            Value::Time(ms.div_euclid(1000))
        }
        DataType::ObjLnk => {
            let obj = json.as_object().ok_or_else(|| mismatch("{\"objectId\":…,\"objectInstanceId\":…}"))?;
            let id = |key: &str| obj.get(key).and_then(Json::as_u64).and_then(|v| u16::try_from(v).ok());
            match (id("objectId"), id("objectInstanceId")) {
                (Some(o), Some(i)) => Value::ObjLnk(o, i),
                _ => return Err(mismatch("{\"objectId\":0..65535,\"objectInstanceId\":0..65535}")),
            }
        }
        DataType::None => match json {
            Json::Null => Value::None,
            _ => return Err(mismatch("null")),
        },
    })
}

fn is_decimal_integer(s: &str) -> bool {
    let digits = s.strip_prefix('-').unwrap_or(s);
    !digits.is_empty() && digits.len() <= 20 && digits.bytes().all(|b| b.is_ascii_digit())
}

fn is_decimal_float(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 64
        && s.bytes().all(|b| b.is_ascii_digit() || matches!(b, b'+' | b'-' | b'.' | b'e' | b'E'))
}

fn hex_encode(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        out.push(char::from(DIGITS[usize::from(b >> 4)]));
        out.push(char::from(DIGITS[usize::from(b & 0x0f)]));
    }
    out
}

fn hex_decode(text: &str) -> Option<Vec<u8>> {
    let pairs = text.as_bytes().chunks_exact(2);
    if !pairs.remainder().is_empty() {
        return None;
    }
    let nibble = |b: u8| char::from(b).to_digit(16).and_then(|d| u8::try_from(d).ok());
    pairs
        .map(|pair| match *pair {
            [hi, lo] => Some(nibble(hi)? << 4 | nibble(lo)?),
            _ => None,
        })
        .collect()
}

fn err(at: &str, reason: &str) -> NodeJsonError {
    NodeJsonError { at: at.to_owned(), reason: reason.to_owned() }
}

fn as_object<'a>(json: &'a Json, at: &str) -> Result<&'a Map<String, Json>, NodeJsonError> {
    json.as_object().ok_or_else(|| err(at, "expected a JSON object"))
}

/// The `kind`, or the one its fields imply as Leshan's deserializer does.
fn kind_of<'a>(obj: &'a Map<String, Json>, at: &str) -> Result<&'a str, NodeJsonError> {
    match obj.get("kind") {
        Some(Json::String(kind)) => Ok(kind.as_str()),
        Some(_) => Err(err(at, "kind must be a string")),
        None if obj.contains_key("objects") => Ok("root"),
        None if obj.contains_key("instances") => Ok("obj"),
        None if obj.contains_key("resources") => Ok("instance"),
        None if obj.contains_key("values") => Ok("multiResource"),
        None if obj.contains_key("value") => Ok("singleResource"),
        None => Err(err(at, "cannot tell the node kind")),
    }
}

fn id_field(obj: &Map<String, Json>, at: &str) -> Result<u16, NodeJsonError> {
    optional_id_field(obj, at)?.ok_or_else(|| err(at, "missing id"))
}

/// `id` as a number or, as Leshan's `asInt()` also reads it, a decimal string.
fn optional_id_field(obj: &Map<String, Json>, at: &str) -> Result<Option<u16>, NodeJsonError> {
    let invalid = || err(at, "id must be an integer in 0..=65535");
    match obj.get("id") {
        None | Some(Json::Null) => Ok(None),
        Some(Json::Number(n)) => n.as_u64().and_then(|v| u16::try_from(v).ok()).map(Some).ok_or_else(invalid),
        Some(Json::String(s)) if !s.is_empty() && s.len() <= 5 && s.bytes().all(|b| b.is_ascii_digit()) => {
            s.parse().map(Some).map_err(|_| invalid())
        }
        Some(_) => Err(invalid()),
    }
}

fn type_field(obj: &Map<String, Json>, at: &str) -> Result<DataType, NodeJsonError> {
    let name = obj.get("type").and_then(Json::as_str).ok_or_else(|| err(at, "missing type"))?;
    type_from_name(name).ok_or_else(|| err(at, &format!("unknown type {:?}", cut(name))))
}

fn array_field<'a>(obj: &'a Map<String, Json>, key: &str, at: &str) -> Result<&'a Vec<Json>, NodeJsonError> {
    obj.get(key).and_then(Json::as_array).ok_or_else(|| err(at, &format!("{key} must be an array")))
}

fn expect_kind(obj: &Map<String, Json>, expected: &[&str], at: &str) -> Result<(), NodeJsonError> {
    let kind = kind_of(obj, at)?;
    if expected.contains(&kind) {
        Ok(())
    } else {
        Err(err(at, &format!("expected kind {} here, found {:?}", expected.join(" or "), cut(kind))))
    }
}

fn object_from_json(json: &Json, at: &str) -> Result<Object, NodeJsonError> {
    let obj = as_object(json, at)?;
    expect_kind(obj, &["obj"], at)?;
    let id = id_field(obj, at)?;
    let mut instances = BTreeMap::new();
    for (n, item) in array_field(obj, "instances", at)?.iter().enumerate() {
        let item_at = format!("{at}.instances[{n}]");
        let instance = instance_from_json(item, &item_at)?;
        if instances.insert(instance.id, instance).is_some() {
            return Err(err(&item_at, "instance id given twice"));
        }
    }
    Ok(Object { id, instances })
}

fn instance_from_json(json: &Json, at: &str) -> Result<ObjectInstance, NodeJsonError> {
    let new = new_instance_from_json(json, at)?;
    let id = new.id.ok_or_else(|| err(at, "missing id"))?;
    Ok(ObjectInstance { id, resources: new.resources })
}

fn new_instance_from_json(json: &Json, at: &str) -> Result<NewInstance, NodeJsonError> {
    let obj = as_object(json, at)?;
    expect_kind(obj, &["instance"], at)?;
    let id = optional_id_field(obj, at)?;
    let mut resources = BTreeMap::new();
    for (n, item) in array_field(obj, "resources", at)?.iter().enumerate() {
        let item_at = format!("{at}.resources[{n}]");
        let resource = resource_from_json(item, &item_at)?;
        if resources.insert(resource.id(), resource).is_some() {
            return Err(err(&item_at, "resource id given twice"));
        }
    }
    Ok(NewInstance { id, resources })
}

fn resource_from_json(json: &Json, at: &str) -> Result<Resource, NodeJsonError> {
    let obj = as_object(json, at)?;
    expect_kind(obj, &["singleResource", "multiResource"], at)?;
    let id = id_field(obj, at)?;
    let data_type = type_field(obj, at)?;
    if kind_of(obj, at)? == "singleResource" {
        let value = obj.get("value").ok_or_else(|| err(at, "missing value"))?;
        let value = value_from_json(value, data_type, &format!("{at}.value"))?;
        return Ok(Resource::Single(SingleResource { id, value }));
    }
    let values = obj.get("values").and_then(Json::as_object).ok_or_else(|| err(at, "values must be an object"))?;
    let mut instances = BTreeMap::new();
    for (key, value) in values {
        let value_at = format!("{at}.values.{}", cut(key));
        let valid = !key.is_empty() && key.len() <= 5 && key.bytes().all(|b| b.is_ascii_digit());
        let ri = valid
            .then(|| key.parse::<u16>().ok())
            .flatten()
            .ok_or_else(|| err(&value_at, "a resource instance id must be 0..=65535"))?;
        instances.insert(ri, value_from_json(value, data_type, &value_at)?);
    }
    Ok(Resource::Multiple(MultipleResource { id, data_type, instances }))
}

/// Peer text quoted in an error, cut to 40 characters.
fn cut(text: &str) -> String {
    match text.char_indices().nth(40) {
        Some((end, _)) => format!("{}…", &text[..end]),
        None => text.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_round_trips_and_refuses_odd_or_non_hex_text() {
        assert_eq!(hex_encode(&[0x00, 0xab, 0xff]), "00abff");
        assert_eq!(hex_decode("00ABff"), Some(vec![0x00, 0xab, 0xff]));
        assert_eq!(hex_decode("abc"), None);
        assert_eq!(hex_decode("zz"), None);
        assert_eq!(hex_decode(""), Some(vec![]));
    }

    #[test]
    fn every_type_name_round_trips() {
        for t in [DataType::Unsigned, DataType::CoreLnk, DataType::None, DataType::ObjLnk] {
            assert_eq!(type_from_name(type_name(t)), Some(t));
        }
        assert_eq!(type_from_name("unsigned_integer"), Some(DataType::Unsigned));
        assert_eq!(type_from_name("UNSIGNED"), None);
    }
}
