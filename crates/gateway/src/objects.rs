//! The objects the gateway adds to its north client's tree (spec notes §7.2; docs/objects.md):
//!
//! - Object 25 (LwM2M Gateway 2.0): one instance per exposed End-Device.
//! - 33000 Gateway Reporting: one instance per distant server (instance ID = Short Server ID),
//!   resource 1 switches End-Device reporting to that server off and on (DR-006).
//! - 33001 End-Device Inventory: one instance per known End-Device (DI-001).
//! - 33002 End-Device Summary: counts across End-Devices (DI-002).
//!
//! Objects 25, 33001 and 33002 are computed when read (device state and "last seen" depend on
//! `now`) from the [`EndDevices`] the gateway shares with them; the gateway alone changes them.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use lwm2m::{Binding, EndpointName, ExecuteArguments, Path, Prefix, Registry, Value, Version};
use lwm2m_client::{InstanceStore, Object, ObjectError, ResourceChange, ResourceValue};

use crate::end_devices::{lock, EndDevice, EndDevices, SharedEndDevices};

/// Object 25, LwM2M Gateway.
pub const GATEWAY_OBJECT: u16 = 25;
/// Private object: Gateway Reporting.
pub const REPORTING_OBJECT: u16 = 33000;
/// Private object: End-Device Inventory.
pub const INVENTORY_OBJECT: u16 = 33001;
/// Private object: End-Device Summary.
pub const SUMMARY_OBJECT: u16 = 33002;

/// The DDF XML of the private objects, bundled.
pub const MODELS: [(&str, &str); 3] = [
    ("33000-1_0.xml", include_str!("../models/33000-1_0.xml")),
    ("33001-1_0.xml", include_str!("../models/33001-1_0.xml")),
    ("33002-1_0.xml", include_str!("../models/33002-1_0.xml")),
];

/// The bundled registry plus the gateway's private objects.
pub fn registry() -> Registry {
    let mut registry = Registry::bundled();
    register_models(&mut registry);
    registry
}

/// Adds the gateway's private object models to `registry`.
pub fn register_models(registry: &mut Registry) {
    for (file, xml) in MODELS {
        match lwm2m::model::ddf::parse(xml) {
            Ok(models) => models.into_iter().for_each(|m| registry.insert(m)),
            Err(error) => tracing::error!(file, %error, "bundled gateway model does not parse"),
        }
    }
}

/// How the gateway serves an End-Device.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Two LwM2M sessions; the distant server reaches the device through its prefix.
    Proxy,
}

impl Mode {
    /// The inventory's spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Proxy => "proxy",
        }
    }
}

/// Device state as the inventory reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeviceState {
    /// Heard from within the idle window.
    Active,
    /// Registered but quiet for longer than the idle window.
    Idle,
    /// Queue mode, asleep.
    Sleep,
}

impl DeviceState {
    /// The state at `now` of a device that is `sleeping` or was last heard at `last_seen`.
    pub fn at(now: Instant, sleeping: bool, last_seen: Instant, idle_after: Duration) -> Self {
        if sleeping {
            Self::Sleep
        } else if now.saturating_duration_since(last_seen) >= idle_after {
            Self::Idle
        } else {
            Self::Active
        }
    }

    /// The inventory's spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Active => "Active",
            Self::Idle => "Idle",
            Self::Sleep => "Sleep",
        }
    }
}

/// What the inventory shows of one End-Device (a copy of its [`EndDevice`] record).
#[derive(Debug, Clone, PartialEq)]
pub struct InventoryEntry {
    /// Endpoint name (shared with the registration's).
    pub endpoint: EndpointName,
    /// Prefix, once assigned.
    pub prefix: Option<Prefix>,
    /// Mode.
    pub mode: Mode,
    /// Registered now.
    pub connected: bool,
    /// Queue mode and asleep.
    pub sleeping: bool,
    /// Last message from the device.
    pub last_seen: Instant,
    /// Registration lifetime (s).
    pub lifetime: u32,
    /// Binding, without queue mode.
    pub binding: Binding,
    /// Queue mode.
    pub queue_mode: bool,
    /// LwM2M version.
    pub version: Version,
    /// Transport address.
    pub address: SocketAddr,
    /// Its `/25` instance while connected.
    pub gateway_instance: Option<u16>,
}

impl InventoryEntry {
    /// The prefix as the inventory spells it: empty until one is assigned.
    pub fn prefix_text(&self) -> &str {
        self.prefix.as_ref().map_or("", Prefix::as_str)
    }

    /// The binding as the inventory spells it: the 1.1 letters, then `Q` in queue mode (`UQ`).
    pub fn binding_text(&self) -> String {
        let mut text = self.binding.query_value(Version::V1_1, false);
        if self.queue_mode {
            text.push('Q');
        }
        text
    }

    /// The device state at `now`.
    pub fn state(&self, now: Instant, idle_after: Duration) -> DeviceState {
        DeviceState::at(now, self.sleeping, self.last_seen, idle_after)
    }
}

fn single(value: Value) -> ResourceValue {
    ResourceValue::Single(value)
}

fn int(n: usize) -> ResourceValue {
    single(Value::Integer(i64::try_from(n).unwrap_or(i64::MAX)))
}

/// Object 25, computed from the shared End-Devices: one instance per exposed End-Device;
/// read-only (the gateway alone adds and removes instances).
#[derive(Debug)]
pub struct GatewayObject(pub SharedEndDevices);

/// Object 33001, computed from the shared End-Devices; read-only.
#[derive(Debug)]
pub struct InventoryObject(pub SharedEndDevices);

/// Object 33002, computed from the shared End-Devices; read-only.
#[derive(Debug)]
pub struct SummaryObject(pub SharedEndDevices);

fn read_only(object: u16, instance: u16) -> ObjectError {
    ObjectError::NotAllowed(Path::Instance(object, instance))
}

/// The `/25/x` resources of an exposed End-Device.
fn gateway_instance(end_devices: &EndDevices, device: &EndDevice) -> Option<BTreeMap<u16, ResourceValue>> {
    let prefix = device.prefix.as_ref()?;
    Some(BTreeMap::from([
        (0, single(Value::String(end_devices.device_id(&device.endpoint)))),
        (1, single(Value::String(prefix.as_str().to_owned()))),
        (3, single(Value::CoreLnk(device.objects.encode()))),
    ]))
}

impl Object for GatewayObject {
    fn id(&self) -> u16 {
        GATEWAY_OBJECT
    }

    fn instances(&self) -> Vec<u16> {
        lock(&self.0).gateway_instances()
    }

    fn read(&self, _now: Instant, instance: u16) -> Option<BTreeMap<u16, ResourceValue>> {
        let end_devices = lock(&self.0);
        gateway_instance(&end_devices, end_devices.by_gateway_instance(instance)?)
    }

    fn write(&mut self, _now: Instant, instance: u16, _changes: Vec<ResourceChange>) -> Result<(), ObjectError> {
        Err(read_only(GATEWAY_OBJECT, instance))
    }

    fn execute(&mut self, _: Instant, instance: u16, resource: u16, _: &ExecuteArguments) -> Result<(), ObjectError> {
        if lock(&self.0).by_gateway_instance(instance).is_none() {
            return Err(ObjectError::NotFound(Path::Instance(GATEWAY_OBJECT, instance)));
        }
        Err(ObjectError::NotFound(Path::Resource(GATEWAY_OBJECT, instance, resource)))
    }

    fn create(&mut self, _: Instant, instance: u16, _: BTreeMap<u16, ResourceValue>) -> Result<(), ObjectError> {
        Err(read_only(GATEWAY_OBJECT, instance))
    }

    fn delete(&mut self, instance: u16) -> Result<(), ObjectError> {
        Err(read_only(GATEWAY_OBJECT, instance))
    }
}

impl Object for InventoryObject {
    fn id(&self) -> u16 {
        INVENTORY_OBJECT
    }

    fn instances(&self) -> Vec<u16> {
        lock(&self.0).iter().map(|(id, _)| id).collect()
    }

    fn read(&self, now: Instant, instance: u16) -> Option<BTreeMap<u16, ResourceValue>> {
        let end_devices = lock(&self.0);
        let e = end_devices.get(instance)?.inventory_entry();
        let since = now.saturating_duration_since(e.last_seen).as_secs();
        let link = e.gateway_instance.map_or(Value::ObjLnk(65535, 65535), |i| Value::ObjLnk(GATEWAY_OBJECT, i));
        Some(BTreeMap::from([
            (0, single(Value::String(e.endpoint.as_str().to_owned()))),
            (1, single(Value::String(e.mode.as_str().to_owned()))),
            (2, single(Value::String(if e.connected { "connected" } else { "disconnected" }.to_owned()))),
            (3, single(Value::String(e.state(now, end_devices.idle_after).as_str().to_owned()))),
            (4, single(Value::Integer(i64::try_from(since).unwrap_or(i64::MAX)))),
            (5, single(Value::Integer(i64::from(e.lifetime)))),
            (6, single(Value::String(e.binding_text()))),
            (7, single(Value::String(e.version.as_str().to_owned()))),
            (8, single(Value::String(e.address.to_string()))),
            (9, single(link)),
            (10, single(Value::String(e.prefix_text().to_owned()))),
        ]))
    }

    fn write(&mut self, _now: Instant, instance: u16, _changes: Vec<ResourceChange>) -> Result<(), ObjectError> {
        Err(read_only(INVENTORY_OBJECT, instance))
    }

    fn execute(&mut self, _: Instant, instance: u16, _: u16, _: &ExecuteArguments) -> Result<(), ObjectError> {
        Err(read_only(INVENTORY_OBJECT, instance))
    }

    fn create(&mut self, _: Instant, instance: u16, _: BTreeMap<u16, ResourceValue>) -> Result<(), ObjectError> {
        Err(read_only(INVENTORY_OBJECT, instance))
    }

    fn delete(&mut self, instance: u16) -> Result<(), ObjectError> {
        Err(read_only(INVENTORY_OBJECT, instance))
    }
}

impl Object for SummaryObject {
    fn id(&self) -> u16 {
        SUMMARY_OBJECT
    }

    fn instances(&self) -> Vec<u16> {
        vec![0]
    }

    fn read(&self, now: Instant, instance: u16) -> Option<BTreeMap<u16, ResourceValue>> {
        if instance != 0 {
            return None;
        }
        let end_devices = lock(&self.0);
        let known = end_devices.len();
        let connected: Vec<&EndDevice> = end_devices.iter().map(|(_, d)| d).filter(|d| d.connected).collect();
        let idle_after = end_devices.idle_after;
        let in_state = |s: DeviceState| {
            connected.iter().filter(|d| DeviceState::at(now, d.sleeping, d.last_seen, idle_after) == s).count()
        };
        Some(BTreeMap::from([
            (0, int(known)),
            (1, int(connected.len())),
            (2, int(known - connected.len())),
            (3, int(in_state(DeviceState::Active))),
            (4, int(in_state(DeviceState::Idle))),
            (5, int(in_state(DeviceState::Sleep))),
            // Every End-Device is served in proxy mode.
            (6, int(known)),
            (7, int(0)),
        ]))
    }

    fn write(&mut self, _now: Instant, instance: u16, _changes: Vec<ResourceChange>) -> Result<(), ObjectError> {
        Err(read_only(SUMMARY_OBJECT, instance))
    }

    fn execute(&mut self, _: Instant, instance: u16, _: u16, _: &ExecuteArguments) -> Result<(), ObjectError> {
        Err(read_only(SUMMARY_OBJECT, instance))
    }

    fn create(&mut self, _: Instant, instance: u16, _: BTreeMap<u16, ResourceValue>) -> Result<(), ObjectError> {
        Err(read_only(SUMMARY_OBJECT, instance))
    }

    fn delete(&mut self, instance: u16) -> Result<(), ObjectError> {
        Err(read_only(SUMMARY_OBJECT, instance))
    }
}

/// The `/33000/ssid` resources.
pub fn reporting_instance(ssid: u16, on: bool) -> BTreeMap<u16, ResourceValue> {
    BTreeMap::from([(0, single(Value::Integer(i64::from(ssid)))), (1, single(Value::Boolean(on)))])
}

/// An empty Object 33000.
pub fn reporting_object() -> InstanceStore {
    InstanceStore::new(REPORTING_OBJECT)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_gateway_model_parses_and_lands_in_the_registry() {
        let registry = registry();
        for id in [REPORTING_OBJECT, INVENTORY_OBJECT, SUMMARY_OBJECT] {
            assert!(registry.object(id).is_some(), "object {id} missing");
        }
        assert!(registry.resource(REPORTING_OBJECT, 1).is_some());
    }

    #[test]
    fn a_quiet_device_becomes_idle_and_a_sleeping_one_reports_sleep() {
        let t0 = Instant::now();
        let mut entry = InventoryEntry {
            endpoint: EndpointName::new("e").expect("valid"),
            prefix: Some(Prefix::new("d1").expect("valid")),
            mode: Mode::Proxy,
            connected: true,
            sleeping: false,
            last_seen: t0,
            lifetime: 60,
            binding: Binding::udp(),
            queue_mode: false,
            version: Version::V1_1,
            address: "192.0.2.1:5683".parse().expect("literal address"),
            gateway_instance: Some(0),
        };
        let idle = Duration::from_secs(10);
        assert_eq!(entry.state(t0 + Duration::from_secs(9), idle), DeviceState::Active);
        assert_eq!(entry.state(t0 + Duration::from_secs(10), idle), DeviceState::Idle);
        entry.sleeping = true;
        assert_eq!(entry.state(t0, idle), DeviceState::Sleep);
    }
}
