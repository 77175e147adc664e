//! Builders for small hand-made object models and records, shared by the SenML and LwM2M CBOR
//! tests: each test file lists just the objects and resources its cases need.

#![allow(dead_code, unreachable_pub)]

use std::collections::BTreeMap;

use lwm2m::format::Record;
use lwm2m::{DataType, ObjectModel, Operations, PrefixedPath, ResourceModel, Value};

/// A readable and writable resource (executable when its type is none).
pub fn res(id: u16, data_type: DataType, multiple: bool) -> (u16, ResourceModel) {
    let operations = Operations { read: true, write: true, execute: data_type == DataType::None };
    let model = ResourceModel {
        id,
        name: format!("r{id}"),
        operations,
        multiple,
        mandatory: false,
        data_type,
        range: String::new(),
        units: String::new(),
        description: String::new(),
    };
    (id, model)
}

/// A multiple-instance object holding `resources`.
pub fn obj(id: u16, resources: Vec<(u16, ResourceModel)>) -> ObjectModel {
    ObjectModel {
        id,
        name: format!("o{id}"),
        description: String::new(),
        version: "1.0".into(),
        lwm2m_version: "1.1".into(),
        urn: format!("urn:oma:lwm2m:x:{id}"),
        multiple: true,
        mandatory: false,
        resources: resources.into_iter().collect::<BTreeMap<_, _>>(),
    }
}

/// The resources of test object 33000: one single-instance resource per data type (0–8) and a
/// multiple-instance Integer (10).
pub fn every_type() -> Vec<(u16, ResourceModel)> {
    vec![
        res(0, DataType::String, false),
        res(1, DataType::Integer, false),
        res(2, DataType::Unsigned, false),
        res(3, DataType::Float, false),
        res(4, DataType::Boolean, false),
        res(5, DataType::Opaque, false),
        res(6, DataType::Time, false),
        res(7, DataType::ObjLnk, false),
        res(8, DataType::CoreLnk, false),
        res(10, DataType::Integer, true),
    ]
}

/// A path from its text form.
pub fn p(s: &str) -> PrefixedPath {
    s.parse().unwrap()
}

/// A record without timestamp.
pub fn rec(path: &str, value: Value) -> Record {
    Record::new(p(path), value)
}

/// Bytes from hex, spaces and newlines ignored.
pub fn h(s: &str) -> Vec<u8> {
    hex::decode(s.replace([' ', '\n'], "")).unwrap()
}
