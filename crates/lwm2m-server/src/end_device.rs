//! The Object 25 view of End-Devices behind an LwM2M Gateway (Gateway TS 1.1.1 §6, §8; spec
//! notes §7, pitfall 17): one [`EndDevice`] per `/25` instance, built from Device ID (`/25/x/0`),
//! Prefix (`/25/x/1`) and IoT Device Objects (`/25/x/3`). The server reads `/25` after each
//! Register and Update and observes it; requests to an End-Device's endpoint name travel over
//! the gateway's registration with its prefix in front of the path.

use std::collections::BTreeMap;

use lwm2m::format::Record;
use lwm2m::{EndpointName, ObjectLinks, Path, Prefix, Value};

/// Object 25, LwM2M Gateway.
pub const GATEWAY_OBJECT: u16 = 25;

/// An End-Device as its gateway reports it in `/25/x`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EndDevice {
    /// Device ID (`/25/x/0`), used as the End-Device's endpoint name.
    pub endpoint: EndpointName,
    /// Prefix (`/25/x/1`) in front of its paths.
    pub prefix: Prefix,
    /// The `/25` instance describing it.
    pub instance: u16,
    /// Its objects and instances (`/25/x/3`, links without prefix).
    pub objects: ObjectLinks,
    /// The gateway's endpoint name.
    pub gateway: EndpointName,
}

/// Builds the End-Devices from the records of a `/25` read or notification. Instances that lack
/// a field or hold an invalid one are skipped with a warning; a duplicate prefix or Device ID
/// keeps the first instance.
pub(crate) fn from_records(records: &[Record], gateway: &EndpointName) -> BTreeMap<EndpointName, EndDevice> {
    #[derive(Default)]
    struct Fields<'a> {
        id: Option<&'a Value>,
        prefix: Option<&'a Value>,
        objects: Option<&'a Value>,
    }
    let mut instances: BTreeMap<u16, Fields<'_>> = BTreeMap::new();
    for record in records.iter().filter(|r| r.path.prefix.is_none()) {
        if let Path::Resource(GATEWAY_OBJECT, instance, resource) = record.path.path {
            let fields = instances.entry(instance).or_default();
            match resource {
                0 => fields.id = Some(&record.value),
                1 => fields.prefix = Some(&record.value),
                3 => fields.objects = Some(&record.value),
                _ => {}
            }
        }
    }
    let mut devices = BTreeMap::new();
    let mut prefixes = Vec::new();
    for (instance, fields) in instances {
        match end_device(instance, fields.id, fields.prefix, fields.objects, gateway) {
            Ok(device) if devices.contains_key(&device.endpoint) || prefixes.contains(&device.prefix) => {
                tracing::warn!(%gateway, instance, "gateway lists a device id or prefix twice; instance ignored");
            }
            Ok(device) => {
                prefixes.push(device.prefix.clone());
                devices.insert(device.endpoint.clone(), device);
            }
            Err(reason) => tracing::warn!(%gateway, instance, reason, "gateway object instance ignored"),
        }
    }
    devices
}

fn text(value: Option<&Value>) -> Option<&str> {
    match value {
        Some(Value::String(s) | Value::CoreLnk(s)) => Some(s),
        _ => None,
    }
}

fn end_device(
    instance: u16,
    id: Option<&Value>,
    prefix: Option<&Value>,
    objects: Option<&Value>,
    gateway: &EndpointName,
) -> Result<EndDevice, &'static str> {
    let id = text(id).ok_or("no device id string")?;
    let endpoint = EndpointName::new(id).map_err(|_| "device id is not a valid endpoint name")?;
    let prefix = text(prefix).ok_or("no prefix string")?;
    let prefix = Prefix::new(prefix).map_err(|_| "prefix is not a valid path prefix")?;
    let objects = match text(objects) {
        Some(links) => ObjectLinks::parse(links).map_err(|_| "iot device objects are not valid link-format")?,
        None => ObjectLinks::new(),
    };
    Ok(EndDevice { endpoint, prefix, instance, objects, gateway: gateway.clone() })
}

#[cfg(test)]
mod tests {
    use lwm2m::PrefixedPath;

    use super::*;

    fn record(path: &str, value: &str) -> Record {
        Record::new(path.parse::<PrefixedPath>().unwrap(), Value::String(value.into()))
    }

    #[test]
    fn each_complete_instance_becomes_an_end_device() {
        let gw = EndpointName::new("gw").unwrap();
        let records = vec![
            record("/25/0/0", "urn:dev:001234"),
            record("/25/0/1", "d01"),
            record("/25/0/3", "</3/0>;ver=1.2,</3303/0>"),
            record("/25/1/0", "urn:dev:556789"),
            record("/25/1/1", "9bad"),
            record("/25/2/0", "urn:dev:001234"),
            record("/25/2/1", "d03"),
        ];
        let devices = from_records(&records, &gw);
        assert_eq!(devices.len(), 1, "bad prefix and duplicate id are skipped");
        let device = devices.values().next().unwrap();
        assert_eq!(device.endpoint.as_str(), "urn:dev:001234");
        assert_eq!(device.prefix.as_str(), "d01");
        assert!(device.objects.has_object(3303));
        assert_eq!(device.instance, 0);
    }
}
