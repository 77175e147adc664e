//! What the gateway keeps about each End-Device, once (Gateway TS 1.1.1 §6; spec notes §7.2).
//!
//! [`EndDevices`] holds one [`EndDevice`] record per End-Device the gateway knows, connected or
//! not. It is shared ([`SharedEndDevices`]) by the gateway, which maintains it, and the readers
//! that render it when asked: Object 25 (one instance per exposed End-Device), 33001 End-Device
//! Inventory (one instance per record), 33002 End-Device Summary, and the north client's proxy
//! routing (which prefixes are End-Devices).
//!
//! A gateway serves thousands of End-Devices, so the layout is compact: the records sit in a
//! slab indexed by their `/33001` instance ID, the lookups by endpoint name, by prefix and by
//! `/25` instance are lists of those IDs (a few bytes per End-Device), and `/25/x/3` is kept as
//! [`EndDeviceObjects`] words rather than link-format text, one copy for all the End-Devices
//! that list the same objects (End-Devices of one model do).

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use lwm2m::{Binding, EndpointName, ObjectLinks, ObjectVersion, Prefix, Version};
use lwm2m_client::ProxyPrefixes;

use crate::objects::{InventoryEntry, Mode};

/// The Security object, never listed in `/25/x/3`.
const SECURITY_OBJECT: u16 = 0;

/// The `/25/x/3` IoT Device Objects of an End-Device: its registration's objects without the
/// root link and without the Security object, kept as `u16` words and rendered to CoreLnk text
/// when read. Clones share the words.
///
/// Per object, ascending: its ID, the low 16 bits of its instance count, a flags word (bit 0: a
/// version follows; bit 1: bit 16 of the instance count), the version's major and minor when
/// flagged, then its instances, ascending.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct EndDeviceObjects(Option<Arc<[u16]>>);

impl EndDeviceObjects {
    /// The objects `links` lists, without root link and without `/0`.
    pub fn of(links: &ObjectLinks) -> Self {
        let mut words = Vec::new();
        for (id, info) in links.objects() {
            if id == SECURITY_OBJECT {
                continue;
            }
            // Distinct u16 instance IDs: at most 65 536, so 17 bits.
            let count = info.instances.len();
            let mut flags = u16::from(info.version.is_some());
            if count > usize::from(u16::MAX) {
                flags |= 2;
            }
            words.extend([id, (count & usize::from(u16::MAX)) as u16, flags]);
            if let Some(version) = info.version {
                words.extend([version.major, version.minor]);
            }
            words.extend_from_slice(info.instances);
        }
        Self((!words.is_empty()).then(|| Arc::from(words)))
    }

    /// Whether no object is listed.
    pub fn is_empty(&self) -> bool {
        self.0.is_none()
    }

    /// The objects as [`ObjectLinks`] (without root link).
    pub fn to_links(&self) -> ObjectLinks {
        let mut links = ObjectLinks::new();
        let mut words = self.0.as_deref().unwrap_or_default().iter().copied();
        while let (Some(id), Some(low), Some(flags)) = (words.next(), words.next(), words.next()) {
            let version = if flags & 1 == 0 {
                None
            } else {
                let (Some(major), Some(minor)) = (words.next(), words.next()) else { break };
                Some(ObjectVersion::new(major, minor))
            };
            links.add_object(id, version);
            let count = usize::from(low) | (usize::from(flags >> 1 & 1) << 16);
            for instance in words.by_ref().take(count) {
                links.add_instance(id, instance);
            }
        }
        links
    }

    /// The `/25/x/3` value: the link-format text a registration payload would carry.
    pub fn encode(&self) -> String {
        self.to_links().encode()
    }
}

/// What the gateway keeps about one End-Device.
#[derive(Debug, Clone, PartialEq)]
pub struct EndDevice {
    /// Endpoint name (shared with the registration's).
    pub endpoint: EndpointName,
    /// Prefix, once assigned (kept when the End-Device leaves, as the inventory shows it).
    pub prefix: Option<Prefix>,
    /// Last message from the End-Device.
    pub last_seen: Instant,
    /// Transport address.
    pub address: SocketAddr,
    /// `/25/x/3` while exposed; empty otherwise.
    pub objects: EndDeviceObjects,
    /// Registration lifetime (s).
    pub lifetime: u32,
    /// Its `/25` instance while exposed (registered, with a prefix, reachable through it).
    pub gateway_instance: Option<u16>,
    /// Binding, without queue mode.
    pub binding: Binding,
    /// LwM2M version.
    pub version: Version,
    /// Registered now.
    pub connected: bool,
    /// Queue mode and asleep.
    pub sleeping: bool,
    /// Queue mode.
    pub queue_mode: bool,
}

impl EndDevice {
    /// The record's inventory view.
    pub fn inventory_entry(&self) -> InventoryEntry {
        InventoryEntry {
            endpoint: self.endpoint.clone(),
            prefix: self.prefix.clone(),
            mode: Mode::Proxy,
            connected: self.connected,
            sleeping: self.sleeping,
            last_seen: self.last_seen,
            lifetime: self.lifetime,
            binding: self.binding.clone(),
            queue_mode: self.queue_mode,
            version: self.version,
            address: self.address,
            gateway_instance: self.gateway_instance,
        }
    }
}

/// Every End-Device the gateway knows. Invariants: each endpoint name has at most one record;
/// a record is exposed (has a `/25` instance) only with a prefix no other exposed record has.
#[derive(Debug, Default)]
pub struct EndDevices {
    /// Records by `/33001` instance ID; `None` where the ID is free.
    slots: Vec<Option<EndDevice>>,
    /// Every record's ID, sorted by endpoint name.
    by_endpoint: Vec<u16>,
    /// The exposed records' IDs, sorted by prefix.
    by_prefix: Vec<u16>,
    /// By `/25` instance ID: the exposed record's ID; `None` where the instance is free.
    by_gateway_instance: Vec<Option<u16>>,
    /// The distinct objects lists the records hold, each kept once.
    object_lists: BTreeMap<Arc<[u16]>, usize>,
    /// The Idle threshold of the inventory.
    pub idle_after: Duration,
    /// Pattern of the Device ID (`/25/x/0`), see
    /// [`GatewayConfig::device_id_pattern`](crate::GatewayConfig::device_id_pattern).
    pub device_id_pattern: String,
}

/// The End-Devices shared by the gateway and the objects that render them.
pub type SharedEndDevices = Arc<Mutex<EndDevices>>;

/// Locks the shared End-Devices (a poisoned lock still holds consistent data: every change
/// keeps the invariants before it can panic).
pub fn lock(end_devices: &SharedEndDevices) -> MutexGuard<'_, EndDevices> {
    end_devices.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// The lowest free index of `slots` (`None` marks a free one) below `u16::MAX`.
fn lowest_free<T>(slots: &[Option<T>]) -> Option<u16> {
    let index = slots.iter().position(Option::is_none).unwrap_or(slots.len());
    u16::try_from(index).ok().filter(|i| *i < u16::MAX)
}

/// Stores `value` at `index` of `slots`, growing the list by about an eighth when full (a list
/// of thousands of records would carry up to as many unused ones if it doubled).
fn put<T>(slots: &mut Vec<Option<T>>, index: u16, value: T) {
    let index = usize::from(index);
    while slots.len() <= index {
        if slots.len() == slots.capacity() {
            slots.reserve_exact((slots.len() / 8).max(16));
        }
        slots.push(None);
    }
    if let Some(slot) = slots.get_mut(index) {
        *slot = Some(value);
    }
}

/// Frees `index` of `slots` and drops the free ones at the end.
fn free<T>(slots: &mut Vec<Option<T>>, index: u16) -> Option<T> {
    let taken = slots.get_mut(usize::from(index)).and_then(Option::take);
    while slots.last().is_some_and(Option::is_none) {
        slots.pop();
    }
    taken
}

impl EndDevices {
    /// An empty table.
    pub fn new(idle_after: Duration, device_id_pattern: &str) -> Self {
        Self { idle_after, device_id_pattern: device_id_pattern.to_owned(), ..Self::default() }
    }

    /// The record with ID `id`.
    pub fn get(&self, id: u16) -> Option<&EndDevice> {
        self.slots.get(usize::from(id))?.as_ref()
    }

    fn get_mut(&mut self, id: u16) -> Option<&mut EndDevice> {
        self.slots.get_mut(usize::from(id))?.as_mut()
    }

    /// Every record with its ID, by ascending ID.
    pub fn iter(&self) -> impl Iterator<Item = (u16, &EndDevice)> + '_ {
        (0..=u16::MAX).zip(&self.slots).filter_map(|(id, slot)| Some((id, slot.as_ref()?)))
    }

    /// How many records there are.
    pub fn len(&self) -> usize {
        self.by_endpoint.len()
    }

    /// Whether there is no record.
    pub fn is_empty(&self) -> bool {
        self.by_endpoint.is_empty()
    }

    fn endpoint_at(&self, id: u16) -> &str {
        self.get(id).map_or("", |d| d.endpoint.as_str())
    }

    fn prefix_at(&self, id: u16) -> &str {
        self.get(id).and_then(|d| d.prefix.as_ref()).map_or("", Prefix::as_str)
    }

    fn endpoint_index(&self, endpoint: &str) -> Result<usize, usize> {
        self.by_endpoint.binary_search_by(|id| self.endpoint_at(*id).cmp(endpoint))
    }

    fn prefix_index(&self, prefix: &str) -> Result<usize, usize> {
        self.by_prefix.binary_search_by(|id| self.prefix_at(*id).cmp(prefix))
    }

    /// The ID of `endpoint`'s record.
    pub fn id_of(&self, endpoint: &str) -> Option<u16> {
        let index = self.endpoint_index(endpoint).ok()?;
        self.by_endpoint.get(index).copied()
    }

    /// `endpoint`'s record.
    pub fn find(&self, endpoint: &str) -> Option<&EndDevice> {
        self.get(self.id_of(endpoint)?)
    }

    /// `endpoint`'s record, to change its state fields. The endpoint name never changes (the
    /// lookup lists are sorted by it); prefix, objects and exposure change through
    /// [`EndDevices::set_prefix`], [`EndDevices::expose`], [`EndDevices::set_objects`] and
    /// [`EndDevices::conceal`] only.
    pub(crate) fn find_mut(&mut self, endpoint: &str) -> Option<&mut EndDevice> {
        let id = self.id_of(endpoint)?;
        self.get_mut(id)
    }

    /// Sets the prefix of `endpoint`'s record while it is not exposed.
    pub fn set_prefix(&mut self, endpoint: &str, prefix: Option<Prefix>) {
        if let Some(device) = self.find_mut(endpoint).filter(|d| d.gateway_instance.is_none()) {
            device.prefix = prefix;
        }
    }

    /// Adds `device` (neither exposed nor with objects: see [`EndDevices::expose`]) under the
    /// lowest free ID, which it returns; `None` if its endpoint has a record or no ID is free.
    pub fn insert(&mut self, mut device: EndDevice) -> Option<u16> {
        let Err(index) = self.endpoint_index(device.endpoint.as_str()) else { return None };
        let id = lowest_free(&self.slots)?;
        device.gateway_instance = None;
        device.objects = EndDeviceObjects::default();
        put(&mut self.slots, id, device);
        self.by_endpoint.insert(index, id);
        Some(id)
    }

    /// Removes the record with ID `id` (concealing it first).
    pub fn remove(&mut self, id: u16) -> Option<EndDevice> {
        self.conceal(id);
        let endpoint = self.get(id)?.endpoint.clone();
        if let Ok(index) = self.endpoint_index(endpoint.as_str()) {
            self.by_endpoint.remove(index);
        }
        free(&mut self.slots, id)
    }

    /// The exposed record reachable under `prefix`.
    pub fn by_prefix(&self, prefix: &str) -> Option<&EndDevice> {
        let index = self.prefix_index(prefix).ok()?;
        self.get(*self.by_prefix.get(index)?)
    }

    /// The exposed record of `/25` instance `instance`.
    pub fn by_gateway_instance(&self, instance: u16) -> Option<&EndDevice> {
        self.get((*self.by_gateway_instance.get(usize::from(instance))?)?)
    }

    /// The `/25` instance IDs, ascending.
    pub fn gateway_instances(&self) -> Vec<u16> {
        (0..=u16::MAX).zip(&self.by_gateway_instance).filter_map(|(i, id)| id.map(|_| i)).collect()
    }

    /// How many records are exposed.
    pub fn exposed(&self) -> usize {
        self.by_prefix.len()
    }

    /// The `/25` instance the next [`EndDevices::expose`] gives: the lowest free one.
    pub fn free_gateway_instance(&self) -> Option<u16> {
        lowest_free(&self.by_gateway_instance)
    }

    /// Exposes the record with ID `id` under `prefix` at the lowest free `/25` instance, which
    /// it returns; `None` if there is no such record, it is exposed already, another exposed
    /// record has `prefix`, or no instance is free.
    pub fn expose(&mut self, id: u16, prefix: Prefix, objects: EndDeviceObjects) -> Option<u16> {
        if self.get(id)?.gateway_instance.is_some() {
            return None;
        }
        let Err(index) = self.prefix_index(prefix.as_str()) else { return None };
        let instance = self.free_gateway_instance()?;
        let device = self.get_mut(id)?;
        device.prefix = Some(prefix);
        device.gateway_instance = Some(instance);
        let objects = self.share(objects);
        if let Some(device) = self.get_mut(id) {
            device.objects = objects;
        }
        put(&mut self.by_gateway_instance, instance, id);
        self.by_prefix.insert(index, id);
        Some(instance)
    }

    /// Ends the exposure of the record with ID `id` (it keeps its prefix); returns its former
    /// `/25` instance and prefix.
    pub fn conceal(&mut self, id: u16) -> Option<(u16, Prefix)> {
        let device = self.get(id)?;
        let instance = device.gateway_instance?;
        let prefix = device.prefix.clone()?;
        if let Ok(index) = self.prefix_index(prefix.as_str()) {
            self.by_prefix.remove(index);
        }
        free(&mut self.by_gateway_instance, instance);
        let device = self.get_mut(id)?;
        device.gateway_instance = None;
        let objects = std::mem::take(&mut device.objects);
        self.release(objects);
        Some((instance, prefix))
    }

    /// Replaces the objects of the exposed record with ID `id`; returns its `/25` instance if
    /// they changed.
    pub fn set_objects(&mut self, id: u16, objects: EndDeviceObjects) -> Option<u16> {
        let device = self.get_mut(id)?;
        let instance = device.gateway_instance?;
        if device.objects == objects {
            return None;
        }
        let previous = std::mem::take(&mut device.objects);
        self.release(previous);
        let objects = self.share(objects);
        if let Some(device) = self.get_mut(id) {
            device.objects = objects;
        }
        Some(instance)
    }

    /// `objects`, sharing the words of an equal list a record holds already.
    fn share(&mut self, objects: EndDeviceObjects) -> EndDeviceObjects {
        let Some(words) = objects.0 else { return EndDeviceObjects::default() };
        if let Some((kept, _)) = self.object_lists.get_key_value(&*words) {
            let kept = kept.clone();
            if let Some(holders) = self.object_lists.get_mut(&*kept) {
                *holders += 1;
            }
            return EndDeviceObjects(Some(kept));
        }
        self.object_lists.insert(words.clone(), 1);
        EndDeviceObjects(Some(words))
    }

    /// Drops `objects`, taken from a record: their list goes once no record holds it (records
    /// are counted, not handles, so a copy kept elsewhere does not pin it).
    fn release(&mut self, objects: EndDeviceObjects) {
        let Some(words) = objects.0 else { return };
        let Some(holders) = self.object_lists.get_mut(&*words) else { return };
        *holders = holders.saturating_sub(1);
        if *holders == 0 {
            self.object_lists.remove(&*words);
        }
    }

    /// The Device ID (`/25/x/0`) of `endpoint`.
    pub fn device_id(&self, endpoint: &EndpointName) -> String {
        crate::config::device_id(&self.device_id_pattern, endpoint.as_str())
    }

    /// Asserts the invariants of the lookup lists.
    #[cfg(test)]
    fn check(&self) {
        let endpoints: Vec<&str> = self.by_endpoint.iter().map(|id| self.endpoint_at(*id)).collect();
        assert!(endpoints.windows(2).all(|w| w[0] < w[1]), "{endpoints:?}");
        let prefixes: Vec<&str> = self.by_prefix.iter().map(|id| self.prefix_at(*id)).collect();
        assert!(prefixes.windows(2).all(|w| w[0] < w[1]), "{prefixes:?}");
        assert_eq!(self.by_endpoint.len(), self.iter().count());
        for (instance, id) in (0..=u16::MAX).zip(&self.by_gateway_instance) {
            if let Some(id) = id {
                assert_eq!(self.get(*id).and_then(|d| d.gateway_instance), Some(instance));
            }
        }
    }
}

/// The north client's view of the exposed prefixes ([`ProxyPrefixes`]).
#[derive(Debug)]
pub struct ExposedPrefixes(pub SharedEndDevices);

impl ProxyPrefixes for ExposedPrefixes {
    fn contains(&self, prefix: &str) -> bool {
        lock(&self.0).by_prefix(prefix).is_some()
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;

    fn device(endpoint: &str, now: Instant) -> EndDevice {
        EndDevice {
            endpoint: EndpointName::new(endpoint).expect("valid"),
            prefix: None,
            last_seen: now,
            address: "192.0.2.1:5683".parse().expect("literal address"),
            objects: EndDeviceObjects::default(),
            lifetime: 60,
            gateway_instance: None,
            binding: Binding::udp(),
            version: Version::V1_1,
            connected: true,
            sleeping: false,
            queue_mode: false,
        }
    }

    fn prefix(text: &str) -> Prefix {
        Prefix::new(text).expect("valid")
    }

    #[test]
    fn objects_render_as_the_registration_lists_them_without_root_and_security() {
        let payload = "</>;rt=\"oma.lwm2m\";ct=110,</1>;ver=1.1,</1/0>,</3/0>,</5>,</3303/0>,</3303/2>,</3311>;ver=1.2";
        let links = ObjectLinks::parse(payload).expect("valid links");
        let mut expected = links.without_root();
        expected.remove_object(0);
        let objects = EndDeviceObjects::of(&links);
        assert_eq!(objects.encode(), expected.encode());
        assert_eq!(objects.to_links(), expected);
        assert!(EndDeviceObjects::of(&ObjectLinks::parse("</0/0>").expect("valid")).is_empty());
    }

    #[test]
    fn an_object_with_more_instances_than_a_word_counts_renders_them_all() {
        let mut links = ObjectLinks::new();
        for instance in 0..=u16::MAX {
            links.add_instance(3303, instance);
        }
        links.add_instance(3311, 0);
        let objects = EndDeviceObjects::of(&links);
        let back = objects.to_links();
        assert_eq!(back.object(3303).map(|o| o.instances.len()), Some(65_536));
        assert_eq!(back.object(3311).map(|o| o.instances.to_vec()), Some(vec![0]));
    }

    #[test]
    fn records_are_found_by_endpoint_prefix_and_gateway_instance() {
        let now = Instant::now();
        let mut table = EndDevices::new(Duration::from_secs(300), "urn:{ep}");
        for name in ["m", "c", "x", "a"] {
            table.insert(device(name, now)).expect("new endpoint");
        }
        assert_eq!(table.insert(device("c", now)), None, "one record per endpoint");
        assert_eq!(table.id_of("x"), Some(2));
        assert_eq!(table.expose(2, prefix("d1"), EndDeviceObjects::default()), Some(0));
        assert_eq!(table.expose(0, prefix("d1"), EndDeviceObjects::default()), None, "prefix taken");
        assert_eq!(table.expose(0, prefix("d2"), EndDeviceObjects::default()), Some(1));
        assert_eq!(table.expose(0, prefix("d3"), EndDeviceObjects::default()), None, "exposed already");
        table.check();
        assert_eq!(table.by_prefix("d1").map(|d| d.endpoint.as_str()), Some("x"));
        assert_eq!(table.by_gateway_instance(1).map(|d| d.endpoint.as_str()), Some("m"));
        assert_eq!(table.gateway_instances(), vec![0, 1]);
        assert_eq!(table.device_id(&EndpointName::new("x").expect("valid")), "urn:x");

        assert_eq!(table.conceal(2), Some((0, prefix("d1"))));
        assert!(table.by_prefix("d1").is_none());
        assert_eq!(table.find("x").and_then(|d| d.prefix.clone()), Some(prefix("d1")), "the prefix stays");
        assert_eq!(table.gateway_instances(), vec![1]);
        assert_eq!(table.free_gateway_instance(), Some(0), "the lowest free instance is reused");
        table.check();

        assert!(table.remove(0).is_some());
        assert!(table.by_prefix("d2").is_none(), "a removed record is concealed");
        assert_eq!(table.gateway_instances(), Vec::<u16>::new());
        assert_eq!(table.insert(device("b", now)), Some(0), "the lowest free ID is reused");
        assert_eq!(table.len(), 4);
        table.check();
    }

    #[test]
    fn objects_of_an_exposed_record_report_a_change_once() {
        let now = Instant::now();
        let mut table = EndDevices::default();
        let id = table.insert(device("a", now)).expect("new endpoint");
        let first = EndDeviceObjects::of(&ObjectLinks::parse("</3/0>").expect("valid"));
        let second = EndDeviceObjects::of(&ObjectLinks::parse("</3/0>,</3303/0>").expect("valid"));
        assert_eq!(table.set_objects(id, second.clone()), None, "not exposed");
        let instance = table.expose(id, prefix("d1"), first).expect("exposed");
        assert_eq!(table.set_objects(id, second.clone()), Some(instance));
        assert_eq!(table.set_objects(id, second), None, "unchanged");
    }

    #[test]
    fn records_listing_the_same_objects_share_one_copy_until_the_last_goes() {
        let now = Instant::now();
        let mut table = EndDevices::default();
        let links = ObjectLinks::parse("</1/0>,</3/0>,</3303/0>").expect("valid");
        let a = table.insert(device("a", now)).expect("new endpoint");
        let b = table.insert(device("b", now)).expect("new endpoint");
        table.expose(a, prefix("d1"), EndDeviceObjects::of(&links));
        table.expose(b, prefix("d2"), EndDeviceObjects::of(&links));
        let words = |id: u16| table.get(id).and_then(|d| d.objects.0.clone()).expect("objects");
        assert!(Arc::ptr_eq(&words(a), &words(b)));
        assert_eq!(table.object_lists.len(), 1);
        table.conceal(a);
        assert_eq!(table.object_lists.len(), 1, "b still lists them");
        assert_eq!(table.get(b).map(|d| d.objects.encode()), Some(links.encode()));
        table.set_objects(b, EndDeviceObjects::of(&ObjectLinks::parse("</3/0>").expect("valid")));
        assert_eq!(table.object_lists.len(), 1, "only b's new list is kept");
        table.remove(b);
        assert!(table.object_lists.is_empty());
    }

    #[test]
    fn a_list_the_caller_keeps_is_released_with_the_last_record_holding_it() {
        let mut table = EndDevices::default();
        let kept = EndDeviceObjects::of(&ObjectLinks::parse("</3/0>,</3303/0>").expect("valid"));
        let a = table.insert(device("a", Instant::now())).expect("new endpoint");
        table.expose(a, prefix("d1"), kept.clone());
        assert_eq!(table.object_lists.len(), 1);
        table.conceal(a);
        assert!(table.object_lists.is_empty(), "only the caller holds the list now");
        table.expose(a, prefix("d1"), EndDeviceObjects::default());
        table.set_objects(a, kept.clone());
        table.set_objects(a, EndDeviceObjects::default());
        assert!(table.object_lists.is_empty());
    }

    #[test]
    fn the_north_client_sees_exactly_the_exposed_prefixes() {
        let shared = SharedEndDevices::default();
        let prefixes = ExposedPrefixes(shared.clone());
        let id = lock(&shared).insert(device("a", Instant::now())).expect("new endpoint");
        lock(&shared).set_prefix("a", Some(prefix("d1")));
        assert!(!prefixes.contains("d1"), "a prefix alone routes nothing");
        lock(&shared).expose(id, prefix("d1"), EndDeviceObjects::default());
        assert!(prefixes.contains("d1"));
        lock(&shared).conceal(id);
        assert!(!prefixes.contains("d1"));
    }

    // Randomized model tests: fixed seeds, so every run takes the same paths.

    use std::collections::BTreeMap;

    use lwm2m::{RootLink, Transport};
    use rand::{Rng, SeedableRng};
    use rand_chacha::ChaCha8Rng;

    /// Endpoint names the random operations draw from (few enough that inserts often collide;
    /// textual order differs from numeric order).
    const NAMES: usize = 48;
    /// Prefixes the random operations draw from (fewer than names, so exposures collide).
    const PREFIXES: usize = 24;

    fn name(n: usize) -> String {
        format!("ep{n}")
    }

    fn random_links(rng: &mut ChaCha8Rng, max_objects: usize, max_instances: usize) -> ObjectLinks {
        let mut links = ObjectLinks::new();
        if rng.random_bool(0.3) {
            links.root = Some(RootLink::root(vec![110, 112]));
        }
        for _ in 0..rng.random_range(0..=max_objects) {
            let object = match rng.random_range(0..4) {
                0 => 0,
                1 => rng.random_range(1..8),
                2 => u16::MAX - rng.random_range(0..2),
                _ => rng.random(),
            };
            let version = rng.random_bool(0.4).then(|| ObjectVersion::new(rng.random_range(0..3), rng.random()));
            if rng.random_bool(0.5) {
                links.add_object(object, version);
            }
            let instances = match rng.random_range(0..4) {
                0 => 0,
                1 => max_instances,
                _ => rng.random_range(0..=max_instances),
            };
            for _ in 0..instances {
                let instance = if rng.random_bool(0.5) { rng.random_range(0..16) } else { rng.random() };
                links.add_instance(object, instance);
            }
            if rng.random_bool(0.3) {
                // A version given after the instances.
                links.add_object(object, version);
            }
        }
        links
    }

    /// What `EndDeviceObjects::of(links)` must hold: the links without root and `/0`.
    fn expected_objects(links: &ObjectLinks) -> ObjectLinks {
        let mut expected = links.without_root();
        expected.remove_object(SECURITY_OBJECT);
        expected
    }

    fn assert_objects_round_trip(links: &ObjectLinks) {
        let expected = expected_objects(links);
        let objects = EndDeviceObjects::of(links);
        assert_eq!(objects.to_links(), expected, "{}", links.encode());
        assert_eq!(objects.encode(), expected.encode());
        assert_eq!(objects.is_empty(), expected.is_empty());
        assert_eq!(EndDeviceObjects::of(&expected), objects, "root and /0 leave no trace");
    }

    #[test]
    fn random_object_lists_render_as_their_links_without_root_and_security() {
        for seed in 0..4_u64 {
            let mut rng = ChaCha8Rng::seed_from_u64(seed);
            for _ in 0..500 {
                let links = random_links(&mut rng, 8, 40);
                assert_objects_round_trip(&links);
            }
            for _ in 0..10 {
                let links = random_links(&mut rng, 3, 3_000);
                assert_objects_round_trip(&links);
            }
        }
    }

    #[test]
    fn objects_around_one_with_every_instance_render_exactly() {
        let mut links = ObjectLinks::new();
        links.add_object(0, Some(ObjectVersion::new(1, 2)));
        links.add_instance(0, 0);
        links.add_instance(1, 0);
        links.add_object(3303, Some(ObjectVersion::new(1, 1)));
        for instance in (0..=u16::MAX).rev() {
            links.add_instance(3303, instance);
        }
        for instance in 1..=u16::MAX {
            links.add_instance(3311, instance);
        }
        links.add_object(3312, Some(ObjectVersion::new(2, 0)));
        links.add_instance(u16::MAX, u16::MAX);
        assert_eq!(links.object(3303).map(|o| o.instances.len()), Some(65_536));
        assert_eq!(links.object(3311).map(|o| o.instances.len()), Some(65_535));
        let objects = EndDeviceObjects::of(&links);
        let words = objects.0.as_deref().expect("objects");
        // 3303: ID, low count 0, flags version | bit 16, major, minor.
        assert_eq!(words.get(4..9), Some(&[3303, 0, 3, 1, 1][..]), "after 1: ID, count 1, flags 0, instance");
        assert_objects_round_trip(&links);
    }

    /// The table's behaviour, kept in plain collections.
    #[derive(Default)]
    struct Model {
        records: BTreeMap<u16, EndDevice>,
        /// `/25` instance → record ID.
        instances: BTreeMap<u16, u16>,
    }

    fn lowest_free_key<T>(map: &BTreeMap<u16, T>) -> u16 {
        (0..u16::MAX).find(|k| !map.contains_key(k)).expect("a free key")
    }

    impl Model {
        fn id_of(&self, endpoint: &str) -> Option<u16> {
            self.records.iter().find(|(_, d)| d.endpoint.as_str() == endpoint).map(|(id, _)| *id)
        }

        fn by_prefix(&self, prefix: &str) -> Option<&EndDevice> {
            self.instances
                .values()
                .filter_map(|id| self.records.get(id))
                .find(|d| d.prefix.as_ref().is_some_and(|p| p.as_str() == prefix))
        }

        fn insert(&mut self, mut device: EndDevice) -> Option<u16> {
            if self.id_of(device.endpoint.as_str()).is_some() {
                return None;
            }
            let id = lowest_free_key(&self.records);
            device.gateway_instance = None;
            device.objects = EndDeviceObjects::default();
            self.records.insert(id, device);
            Some(id)
        }

        fn conceal(&mut self, id: u16) -> Option<(u16, Prefix)> {
            let device = self.records.get_mut(&id)?;
            let instance = device.gateway_instance.take()?;
            device.objects = EndDeviceObjects::default();
            self.instances.remove(&instance);
            Some((instance, device.prefix.clone().expect("an exposed record has a prefix")))
        }

        fn remove(&mut self, id: u16) -> Option<EndDevice> {
            self.conceal(id);
            self.records.remove(&id)
        }

        fn set_prefix(&mut self, endpoint: &str, prefix: Option<Prefix>) {
            let Some(id) = self.id_of(endpoint) else { return };
            if let Some(device) = self.records.get_mut(&id).filter(|d| d.gateway_instance.is_none()) {
                device.prefix = prefix;
            }
        }

        fn expose(&mut self, id: u16, prefix: Prefix, objects: EndDeviceObjects) -> Option<u16> {
            if self.records.get(&id)?.gateway_instance.is_some() || self.by_prefix(prefix.as_str()).is_some() {
                return None;
            }
            let instance = lowest_free_key(&self.instances);
            let device = self.records.get_mut(&id)?;
            device.prefix = Some(prefix);
            device.gateway_instance = Some(instance);
            device.objects = objects;
            self.instances.insert(instance, id);
            Some(instance)
        }

        fn set_objects(&mut self, id: u16, objects: EndDeviceObjects) -> Option<u16> {
            let device = self.records.get_mut(&id)?;
            let instance = device.gateway_instance?;
            if device.objects == objects {
                return None;
            }
            device.objects = objects;
            Some(instance)
        }
    }

    /// Compares every lookup of `table` with `model`, and the shared objects lists with the
    /// records that hold them.
    fn assert_matches(table: &EndDevices, model: &Model) {
        table.check();
        assert_eq!(table.len(), model.records.len());
        assert_eq!(table.is_empty(), model.records.is_empty());
        assert_eq!(table.exposed(), model.instances.len());
        let records: Vec<(u16, &EndDevice)> = table.iter().collect();
        let expected: Vec<(u16, &EndDevice)> = model.records.iter().map(|(id, d)| (*id, d)).collect();
        assert_eq!(records, expected);
        let by_name: BTreeMap<&str, u16> = model.records.iter().map(|(id, d)| (d.endpoint.as_str(), *id)).collect();
        assert_eq!(by_name.len(), model.records.len(), "one record per endpoint");
        let by_prefix: BTreeMap<&str, &EndDevice> = model
            .instances
            .values()
            .filter_map(|id| model.records.get(id))
            .filter_map(|d| Some((d.prefix.as_ref()?.as_str(), d)))
            .collect();
        assert_eq!(by_prefix.len(), model.instances.len(), "one exposed record per prefix");
        for n in 0..NAMES {
            let endpoint = name(n);
            let id = by_name.get(endpoint.as_str()).copied();
            assert_eq!(table.id_of(&endpoint), id, "{endpoint}");
            assert_eq!(table.find(&endpoint), id.and_then(|id| model.records.get(&id)), "{endpoint}");
        }
        for n in 0..PREFIXES {
            let prefix = format!("p{n}");
            assert_eq!(table.by_prefix(&prefix), by_prefix.get(prefix.as_str()).copied(), "{prefix}");
        }
        let top = model.instances.keys().next_back().map_or(0, |i| i + 2);
        for instance in 0..=top {
            let expected = model.instances.get(&instance).and_then(|id| model.records.get(id));
            assert_eq!(table.by_gateway_instance(instance), expected, "/25/{instance}");
        }
        assert_eq!(table.gateway_instances(), model.instances.keys().copied().collect::<Vec<_>>());
        assert_eq!(table.free_gateway_instance(), Some(lowest_free_key(&model.instances)));
        // Free slots at the end are dropped.
        assert!(table.slots.last().is_none_or(Option::is_some));
        assert!(table.by_gateway_instance.last().is_none_or(Option::is_some));

        // Exactly the distinct lists the records hold, each once, and every record holds the
        // kept copy.
        let held: BTreeSet<&[u16]> = model.records.values().filter_map(|d| d.objects.0.as_deref()).collect();
        let kept: BTreeSet<&[u16]> = table.object_lists.keys().map(|w| &**w).collect();
        assert_eq!(kept, held);
        for (id, device) in table.iter() {
            if let Some(words) = &device.objects.0 {
                let (copy, _) = table.object_lists.get_key_value(&**words).expect("kept");
                assert!(Arc::ptr_eq(words, copy), "record {id} holds its own copy");
            }
            if device.gateway_instance.is_none() {
                assert!(device.objects.is_empty(), "record {id} is concealed but lists objects");
            }
        }
    }

    fn random_device(rng: &mut ChaCha8Rng, base: Instant, objects: &[EndDeviceObjects]) -> EndDevice {
        let mut device = device(&name(rng.random_range(0..NAMES)), base);
        edit(rng, base, &mut device);
        device.prefix = rng.random_bool(0.3).then(|| random_prefix(rng));
        // Insert ignores both.
        if rng.random_bool(0.2) {
            device.gateway_instance = Some(rng.random_range(0..4));
            device.objects = objects[rng.random_range(0..objects.len())].clone();
        }
        device
    }

    fn random_prefix(rng: &mut ChaCha8Rng) -> Prefix {
        prefix(&format!("p{}", rng.random_range(0..PREFIXES)))
    }

    /// Changes the fields `find_mut` callers may change.
    fn edit(rng: &mut ChaCha8Rng, base: Instant, device: &mut EndDevice) {
        match rng.random_range(0..8) {
            0 => device.last_seen = base + Duration::from_millis(rng.random_range(0..100_000)),
            1 => device.address = SocketAddr::from(([192, 0, 2, rng.random()], rng.random())),
            2 => device.lifetime = rng.random(),
            3 => {
                device.binding = if rng.random_bool(0.5) {
                    Binding::udp()
                } else {
                    Binding::new([Transport::Udp, Transport::Sms]).expect("transports")
                }
            }
            4 => device.version = [Version::V1_0, Version::V1_1, Version::V1_2][rng.random_range(0..3)],
            5 => device.connected = rng.random(),
            6 => device.sleeping = rng.random(),
            _ => device.queue_mode = rng.random(),
        }
    }

    /// A record ID: mostly one in use, sometimes a free one or one past the end.
    fn random_id(rng: &mut ChaCha8Rng, model: &Model) -> u16 {
        let top = model.records.keys().next_back().map_or(0, |id| id + 2);
        if rng.random_bool(0.8) && !model.records.is_empty() {
            let index = rng.random_range(0..model.records.len());
            model.records.keys().nth(index).copied().expect("in range")
        } else {
            rng.random_range(0..=top)
        }
    }

    fn run_model(seed: u64, ops: usize) {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let base = Instant::now();
        let mut table = EndDevices::new(Duration::from_secs(300), "urn:{ep}");
        let mut model = Model::default();
        // A few object lists (one empty); handed over as clones the test keeps, or as fresh
        // values equal to them.
        let mut pool = vec![EndDeviceObjects::default()];
        while pool.len() < 6 {
            let objects = EndDeviceObjects::of(&random_links(&mut rng, 4, 6));
            if !pool.contains(&objects) {
                pool.push(objects);
            }
        }
        let objects = |rng: &mut ChaCha8Rng| {
            let chosen = &pool[rng.random_range(0..pool.len())];
            if rng.random_bool(0.5) {
                chosen.clone()
            } else {
                EndDeviceObjects::of(&chosen.to_links())
            }
        };
        for op in 0..ops {
            match rng.random_range(0..100) {
                0..20 => {
                    let device = random_device(&mut rng, base, &pool);
                    assert_eq!(table.insert(device.clone()), model.insert(device), "op {op}: insert");
                }
                20..30 => {
                    let id = random_id(&mut rng, &model);
                    assert_eq!(table.remove(id), model.remove(id), "op {op}: remove {id}");
                }
                30..38 => {
                    let endpoint = name(rng.random_range(0..NAMES));
                    let prefix = rng.random_bool(0.8).then(|| random_prefix(&mut rng));
                    table.set_prefix(&endpoint, prefix.clone());
                    model.set_prefix(&endpoint, prefix);
                }
                38..60 => {
                    let id = random_id(&mut rng, &model);
                    // The record's own prefix half the time (possibly taken by an exposed one).
                    let own = model.records.get(&id).and_then(|d| d.prefix.clone());
                    let prefix = own.filter(|_| rng.random_bool(0.5)).unwrap_or_else(|| random_prefix(&mut rng));
                    let objects = objects(&mut rng);
                    assert_eq!(
                        table.expose(id, prefix.clone(), objects.clone()),
                        model.expose(id, prefix, objects),
                        "op {op}: expose {id}"
                    );
                }
                60..72 => {
                    let id = random_id(&mut rng, &model);
                    assert_eq!(table.conceal(id), model.conceal(id), "op {op}: conceal {id}");
                }
                72..87 => {
                    let id = random_id(&mut rng, &model);
                    // The same list again a third of the time.
                    let objects = match model.records.get(&id) {
                        Some(d) if rng.random_bool(0.3) => EndDeviceObjects::of(&d.objects.to_links()),
                        _ => objects(&mut rng),
                    };
                    assert_eq!(
                        table.set_objects(id, objects.clone()),
                        model.set_objects(id, objects),
                        "op {op}: set_objects {id}"
                    );
                }
                _ => {
                    let endpoint = name(rng.random_range(0..NAMES));
                    let found = table.find_mut(&endpoint);
                    let id = model.id_of(&endpoint);
                    assert_eq!(found.is_some(), id.is_some(), "op {op}: find_mut {endpoint}");
                    if let (Some(device), Some(id)) = (found, id) {
                        let mut edits = rng.clone();
                        edit(&mut rng, base, device);
                        edit(&mut edits, base, model.records.get_mut(&id).expect("found"));
                    }
                }
            }
            assert_matches(&table, &model);
        }
        // Everything goes: no list is kept.
        for id in model.records.keys().copied().collect::<Vec<_>>() {
            assert_eq!(table.remove(id), model.remove(id));
        }
        assert_matches(&table, &model);
        assert!(table.object_lists.is_empty());
        assert!(table.slots.is_empty() && table.by_endpoint.is_empty() && table.by_gateway_instance.is_empty());
    }

    #[test]
    fn random_operations_keep_the_table_equal_to_a_model_of_plain_collections() {
        for seed in [1, 2, 3, 0x5eed] {
            run_model(seed, 5_000);
        }
    }
}
