//! Builders for small hand-made object models, shared by the SenML and LwM2M CBOR tests: each
//! test file lists just the objects and resources its cases need.

#![allow(dead_code, unreachable_pub)]

use std::collections::BTreeMap;

use lwm2m::{DataType, ObjectModel, Operations, ResourceModel};

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
