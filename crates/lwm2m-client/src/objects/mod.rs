//! Built-in objects: Security (0), Server (1), Access Control (2), Device (3) and Connectivity
//! Monitoring (4) (Core TS §E.1–E.5; resource tables in spec notes §5).

pub mod acl;
pub mod connectivity;
pub mod device;
pub mod security;
pub mod server;

use std::collections::BTreeMap;

use lwm2m::Value;

use crate::object::{InstanceValues, ResourceValue};

/// The single value of resource `id` in `values`.
pub(crate) fn single(values: &(impl InstanceValues + ?Sized), id: u16) -> Option<&Value> {
    match values.resource(id)? {
        ResourceValue::Single(value) => Some(value),
        ResourceValue::Multiple(_) => None,
    }
}

/// An unsigned reading of resource `id` (Integer or Unsigned), if it fits `u32`.
pub(crate) fn uint(values: &(impl InstanceValues + ?Sized), id: u16) -> Option<u32> {
    match single(values, id)? {
        Value::Integer(i) => u32::try_from(*i).ok(),
        Value::Unsigned(u) => u32::try_from(*u).ok(),
        _ => None,
    }
}

/// A boolean reading of resource `id`.
pub(crate) fn boolean(values: &(impl InstanceValues + ?Sized), id: u16) -> Option<bool> {
    match single(values, id)? {
        Value::Boolean(b) => Some(*b),
        _ => None,
    }
}

/// A string reading of resource `id`.
pub(crate) fn string(values: &(impl InstanceValues + ?Sized), id: u16) -> Option<&str> {
    match single(values, id)? {
        Value::String(s) => Some(s),
        _ => None,
    }
}

/// An opaque reading of resource `id` (strings give their bytes).
pub(crate) fn bytes(values: &(impl InstanceValues + ?Sized), id: u16) -> Option<Vec<u8>> {
    match single(values, id)? {
        Value::Opaque(b) => Some(b.clone()),
        Value::String(s) => Some(s.as_bytes().to_vec()),
        _ => None,
    }
}

fn put(values: &mut BTreeMap<u16, ResourceValue>, id: u16, value: Value) {
    values.insert(id, ResourceValue::Single(value));
}
