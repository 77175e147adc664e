//! Hand-built object models for the format tests (until the DDF loader and bundled models land):
//! Device (3), Access Control (2), Temperature (3303), Server (1) with their real types, and a
//! test object [`ALL_TYPES`] with one resource per data type.

#![allow(dead_code, unreachable_pub)]

use std::collections::BTreeMap;

use lwm2m::{DataType, ObjectModel, Operations, Registry, ResourceModel};

/// Object with one resource per type: 0 String, 1 Integer, 2 Unsigned, 3 Float, 4 Boolean,
/// 5 Opaque, 6 Time, 7 Objlnk, 8 Corelnk, 9 none (executable), 10 Integer multiple,
/// 11 Opaque multiple, 12 String multiple.
pub const ALL_TYPES: u16 = 32769;

/// One resource per type in [`ALL_TYPES`], by resource ID.
pub const TYPES: [(u16, DataType); 9] = [
    (0, DataType::String),
    (1, DataType::Integer),
    (2, DataType::Unsigned),
    (3, DataType::Float),
    (4, DataType::Boolean),
    (5, DataType::Opaque),
    (6, DataType::Time),
    (7, DataType::ObjLnk),
    (8, DataType::CoreLnk),
];

fn resource(id: u16, name: &str, data_type: DataType, multiple: bool) -> ResourceModel {
    let execute = data_type == DataType::None;
    ResourceModel {
        id,
        name: name.to_owned(),
        operations: Operations { read: !execute, write: !execute, execute },
        multiple,
        mandatory: false,
        data_type,
        range: String::new(),
        units: String::new(),
        description: String::new(),
    }
}

fn object(id: u16, name: &str, multiple: bool, resources: Vec<ResourceModel>) -> ObjectModel {
    ObjectModel {
        id,
        name: name.to_owned(),
        description: String::new(),
        version: "1.0".to_owned(),
        lwm2m_version: "1.1".to_owned(),
        urn: format!("urn:oma:lwm2m:oma:{id}"),
        multiple,
        mandatory: false,
        resources: resources.into_iter().map(|r| (r.id, r)).collect::<BTreeMap<_, _>>(),
    }
}

/// A registry holding objects 1, 2, 3, 3303 and [`ALL_TYPES`].
pub fn registry() -> Registry {
    use DataType::*;
    let mut registry = Registry::empty();
    registry.insert(object(
        1,
        "LwM2M Server",
        true,
        vec![
            resource(0, "Short Server ID", Integer, false),
            resource(1, "Lifetime", Integer, false),
            resource(6, "Notification Storing", Boolean, false),
            resource(7, "Binding", String, false),
            resource(8, "Registration Update Trigger", None, false),
        ],
    ));
    registry.insert(object(
        2,
        "LwM2M Access Control",
        true,
        vec![
            resource(0, "Object ID", Integer, false),
            resource(1, "Object Instance ID", Integer, false),
            resource(2, "ACL", Integer, true),
            resource(3, "Access Control Owner", Integer, false),
        ],
    ));
    registry.insert(object(
        3,
        "Device",
        false,
        vec![
            resource(0, "Manufacturer", String, false),
            resource(1, "Model Number", String, false),
            resource(2, "Serial Number", String, false),
            resource(3, "Firmware Version", String, false),
            resource(4, "Reboot", None, false),
            resource(6, "Available Power Sources", Integer, true),
            resource(7, "Power Source Voltage", Integer, true),
            resource(9, "Battery Level", Integer, false),
            resource(11, "Error Code", Integer, true),
            resource(13, "Current Time", Time, false),
            resource(14, "UTC Offset", String, false),
            resource(16, "Supported Binding and Modes", String, false),
        ],
    ));
    registry.insert(object(
        3303,
        "Temperature",
        true,
        vec![
            resource(5601, "Min Measured Value", Float, false),
            resource(5700, "Sensor Value", Float, false),
            resource(5701, "Sensor Units", String, false),
        ],
    ));
    let mut all = TYPES.iter().map(|&(id, t)| resource(id, t.name(), t, false)).collect::<Vec<_>>();
    all.push(resource(9, "execute", None, false));
    all.push(resource(10, "integers", Integer, true));
    all.push(resource(11, "blobs", Opaque, true));
    all.push(resource(12, "strings", String, true));
    registry.insert(object(ALL_TYPES, "All Types", true, all));
    registry
}

/// A sample value of each type in [`TYPES`], including awkward ones.
pub fn samples(data_type: DataType) -> Vec<lwm2m::Value> {
    use lwm2m::Value as V;
    match data_type {
        DataType::String => {
            vec![V::String(String::new()), V::String("Open Mobile Alliance".into()), V::String("é ✓ 😀".into())]
        }
        DataType::Integer => vec![
            V::Integer(0),
            V::Integer(-1),
            V::Integer(127),
            V::Integer(-129),
            V::Integer(i64::MIN),
            V::Integer(i64::MAX),
        ],
        DataType::Unsigned => vec![V::Unsigned(0), V::Unsigned(200), V::Unsigned(u64::MAX), V::Unsigned((1 << 53) + 1)],
        DataType::Float => vec![
            V::Float(22.5),
            V::Float(-0.1),
            V::Float(0.0),
            V::Float(1e300),
            V::Float(f64::MIN_POSITIVE),
            V::Float(22.0),
        ],
        DataType::Boolean => vec![V::Boolean(false), V::Boolean(true)],
        DataType::Opaque => {
            vec![V::Opaque(vec![]), V::Opaque(vec![0xDE, 0xAD, 0xBE, 0xEF, 0x00]), V::Opaque((0..=255).collect())]
        }
        DataType::Time => vec![V::Time(0), V::Time(1_700_000_000), V::Time(-5), V::Time(i64::MAX)],
        DataType::ObjLnk => vec![V::ObjLnk(66, 0), V::ObjLnk(65535, 65535), V::ObjLnk(0, 0)],
        DataType::CoreLnk => vec![V::CoreLnk("</3/0>;ct=11543,</1/0>".into())],
        DataType::None => vec![V::None],
    }
}
