//! Connectivity Monitoring object (4), single instance (Core TS §E.5): bearer, signal strength
//! and IP addresses as the application reports them through [`crate::Client::set_value`].

use std::collections::BTreeMap;

use lwm2m::Value;

use crate::object::{InstanceStore, ResourceValue};

/// Object ID.
pub const OBJECT_ID: u16 = 4;

/// The initial readings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnectivityInfo {
    /// `/4/0/0` network bearer (41: Ethernet, 21: WLAN, 6: LTE-FDD …).
    pub bearer: i64,
    /// `/4/0/1` available bearers.
    pub available_bearers: Vec<i64>,
    /// `/4/0/2` radio signal strength in dBm.
    pub signal_strength: i64,
    /// `/4/0/4` IP addresses.
    pub ip_addresses: Vec<String>,
}

impl Default for ConnectivityInfo {
    fn default() -> Self {
        Self { bearer: 41, available_bearers: vec![41], signal_strength: 0, ip_addresses: Vec::new() }
    }
}

fn multiple(values: impl IntoIterator<Item = Value>) -> ResourceValue {
    ResourceValue::Multiple((0u16..).zip(values).collect::<BTreeMap<_, _>>())
}

/// A Connectivity Monitoring object with instance 0 from `info`.
pub fn object(info: &ConnectivityInfo) -> InstanceStore {
    InstanceStore::new(OBJECT_ID).with_instance(
        0,
        [
            (0, ResourceValue::Single(Value::Integer(info.bearer))),
            (1, multiple(info.available_bearers.iter().map(|b| Value::Integer(*b)))),
            (2, ResourceValue::Single(Value::Integer(info.signal_strength))),
            (4, multiple(info.ip_addresses.iter().map(|a| Value::String(a.clone())))),
        ],
    )
}
