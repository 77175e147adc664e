//! Access Control object (2): one instance per protected object instance (Core TS §E.3, §8;
//! spec notes §6.2). The rules that use it live in `crate::acl`.

use std::collections::BTreeMap;

use lwm2m::Value;

use super::{put, uint};
use crate::object::{InstanceStore, InstanceValues, ResourceValue, ServerId};

/// Object ID.
pub const OBJECT_ID: u16 = 2;

/// One Access Control instance in typed form.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AclInstance {
    /// `/2/x/0` protected object.
    pub object: u16,
    /// `/2/x/1` protected instance (65535: the object's "create" instance).
    pub instance: u16,
    /// `/2/x/2` rights by Short Server ID (0: default for servers without an entry).
    pub acl: BTreeMap<u16, u8>,
    /// `/2/x/3` owner (65535: managed by bootstrap only).
    pub owner: u16,
}

impl AclInstance {
    /// The resources of this instance.
    pub fn to_values(&self) -> BTreeMap<u16, ResourceValue> {
        let mut values = BTreeMap::new();
        put(&mut values, 0, Value::Integer(i64::from(self.object)));
        put(&mut values, 1, Value::Integer(i64::from(self.instance)));
        let acl = self.acl.iter().map(|(ssid, rights)| (*ssid, Value::Integer(i64::from(*rights)))).collect();
        values.insert(2, ResourceValue::Multiple(acl));
        put(&mut values, 3, Value::Integer(i64::from(self.owner)));
        values
    }

    /// Reads an instance back; `None` if object or instance is missing.
    pub fn from_values(values: &(impl InstanceValues + ?Sized)) -> Option<Self> {
        let object = u16::try_from(uint(values, 0)?).ok()?;
        let instance = u16::try_from(uint(values, 1)?).ok()?;
        let acl = match values.resource(2) {
            Some(ResourceValue::Multiple(map)) => map
                .iter()
                .filter_map(|(ssid, v)| match v {
                    Value::Integer(i) => u8::try_from(*i).ok().map(|r| (*ssid, r)),
                    Value::Unsigned(u) => u8::try_from(*u).ok().map(|r| (*ssid, r)),
                    _ => None,
                })
                .collect(),
            _ => BTreeMap::new(),
        };
        let owner = uint(values, 3).and_then(|v| u16::try_from(v).ok()).unwrap_or(65535);
        Some(Self { object, instance, acl, owner })
    }

    /// An instance owned by `owner` with full rights for it only.
    pub fn owned(object: u16, instance: u16, owner: ServerId) -> Self {
        Self { object, instance, acl: BTreeMap::new(), owner: owner.0 }
    }
}

/// An Access Control object holding `instances` (instance IDs 0, 1, … in order).
pub fn object(instances: &[AclInstance]) -> InstanceStore {
    let mut store = InstanceStore::new(OBJECT_ID);
    for (id, instance) in (0u16..).zip(instances) {
        store.insert_instance(id, instance.to_values());
    }
    store
}
