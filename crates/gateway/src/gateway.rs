//! The [`Gateway`]: a south-face [`Server`] for End-Devices, a north-face [`Client`] for the
//! distant servers, and the logic between them (Gateway TS 1.1.1 §6–§9; spec notes §7).
//!
//! # Call order
//!
//! Like every engine here the gateway performs no I/O and never reads the clock:
//!
//! 1. Build the north [`Client`] with an [`ObjectTree`](lwm2m_client::ObjectTree) made over
//!    [`objects::registry`] (its Security/Server accounts, Device …), then [`Gateway::new`] adds
//!    Object 25 and the private objects to it; call [`Gateway::start`].
//! 2. Feed every datagram with [`Gateway::handle_datagram`], naming the [`Face`] it arrived on
//!    (the north socket talks to the distant servers, the south socket to End-Devices), and call
//!    [`Gateway::handle_timeout`] once [`Gateway::poll_timeout`] has passed.
//! 3. After every input: drain [`Gateway::poll_transmit`] (each datagram says its face), read
//!    [`Gateway::poll_timeout`], then drain [`Gateway::poll_event`]; on
//!    [`GatewayEvent::StateChanged`] persist [`Gateway::take_state_changes`].
//!
//! Internally each input is given to its engine, then both engines' events are drained in turn
//! until neither has any: South registrations maintain `/25` and the inventory (and make the
//! north client send Updates), northbound requests for a prefix become southbound requests, and
//! southbound answers, notifications and Sends go north.
//!
//! The north face is one CoAP endpoint for every distant server (the north client tells them
//! apart by address), so [`Face::North`] carries no server index; the south face is the
//! End-Devices' server endpoint.
//!
//! # Proxy behaviour (Gateway TS §8.3)
//!
//! - A northbound request whose first Uri-Path segment is a connected device's prefix (or a
//!   composite whose names carry one) is handed over by the north client (see
//!   [`lwm2m_client::proxy`]) and sent to the device as a typed [`DmRequest`]; the answer is
//!   re-encoded in the format the distant server asked for (names prefixed, Discover links
//!   not). Unknown prefix: 4.04. Meanwhile the north endpoint sends an empty ACK, so a device
//!   in queue mode is served when it wakes, or answered 5.03 after
//!   [`GatewayConfig::queue_wait`].
//! - Observations are relayed: the north observation keeps its token and its own Observe
//!   sequence; the south one is the gateway's. A north cancel (Observe: 1, RST) cancels south
//!   actively; a south end (error notification, RST, De-register, expiry) ends the north one
//!   with 4.04; when the device registers again the south observation is re-established.
//! - Composite requests are split per device (one Read/Observe per path, one partial Write per
//!   instance) and the answers merged; the gateway's own paths are read or written locally
//!   (model and Access Control checked; Security, Server and Access Control objects refused).
//! - An End-Device's Send goes to every registered distant server with prefixed names.

use std::collections::{BTreeMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use coap::Engine;
use coap::{Code, ContentFormat, Peer, Reliability, Request, Response, Transmit};
use lwm2m::format::{senml, Record};
use lwm2m::{EndpointName, Path, Prefix, PrefixedPath, Registry, Value, Version};
use lwm2m_client::acl;
use lwm2m_client::objects::acl::{AclInstance, OBJECT_ID as ACL_OBJECT};
use lwm2m_client::objects::server::{ServerInstance, OBJECT_ID as SERVER_OBJECT};
use lwm2m_client::{Client, ClientEvent, ProxyHandle, ResourceValue, ServerId};
use lwm2m_server::{
    Content, DmRequest, DmResponse, ObservationId, Registration, RequestFailure, RequestId, RequestOptions, Server,
    ServerConfig, ServerEvent, WriteMode,
};

use crate::config::GatewayConfig;
use crate::end_devices::{lock, EndDevice, EndDeviceObjects, EndDevices, ExposedPrefixes, SharedEndDevices};
use crate::objects::{
    self, GatewayObject, InventoryEntry, InventoryObject, SummaryObject, GATEWAY_OBJECT, INVENTORY_OBJECT,
    REPORTING_OBJECT, SUMMARY_OBJECT,
};
use crate::proxy::{self, ProxyError};
use crate::state::{Assignment, GatewayState, StateChange};

/// Most events kept for the runtime; older ones are dropped beyond this.
const MAX_EVENTS: usize = 1024;
/// State changes kept for the runtime; beyond, they collapse into [`StateChange::Everything`].
const MAX_STATE_CHANGES: usize = 1024;
/// Most northbound composite requests in progress.
const MAX_COMPOSITES: usize = 256;
/// Most End-Devices (bounded by the `/25` instance space and the prefix counter).
const MAX_DEVICES: usize = 4096;
/// Most End-Devices remembered (prefix assignments, inventory entries), connected or not; the
/// oldest disconnected ones are forgotten beyond this.
const MAX_KNOWN: usize = 4 * MAX_DEVICES;
/// Rounds of event draining per input (each round drains both engines).
const MAX_ROUNDS: usize = 64;

/// The side of the gateway a datagram belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Face {
    /// Toward the distant LwM2M servers (the gateway is their client).
    North,
    /// Toward the End-Devices (the gateway is their server).
    South,
}

/// What the gateway reports to its runtime.
#[derive(Debug, Clone, PartialEq)]
pub enum GatewayEvent {
    /// [`Gateway::state`] changed: persist it.
    StateChanged,
    /// An End-Device registered and is reachable under its prefix.
    EndDeviceAdded {
        /// Its endpoint name.
        endpoint: EndpointName,
        /// Its prefix.
        prefix: Prefix,
    },
    /// An End-Device de-registered or expired.
    EndDeviceRemoved {
        /// Its endpoint name.
        endpoint: EndpointName,
        /// Its prefix.
        prefix: Prefix,
    },
    /// Something in the inventory changed (registration, update, sleep, wake-up).
    InventoryChanged,
    /// A north client event the gateway does not consume (registration progress …).
    North(ClientEvent),
}

/// Where the answer to a southbound request goes.
#[derive(Debug, Clone)]
enum Reply {
    /// Straight back to one northbound request.
    Single { handle: ProxyHandle, prefix: Prefix, target: Path, format: ContentFormat, device: EndpointName },
    /// One part of a northbound composite request.
    Part { composite: u64, prefix: Prefix, device: EndpointName },
    /// A northbound observation being re-established after the device registered again.
    Reobserve { handle: ProxyHandle, prefix: Prefix, target: Path, format: ContentFormat, device: EndpointName },
}

/// A northbound composite request waiting for its parts.
#[derive(Debug)]
struct Composite {
    handle: ProxyHandle,
    format: ContentFormat,
    outstanding: usize,
    records: Vec<Record>,
    failure: Option<Code>,
    write: bool,
    observe: bool,
    /// The gateway's own paths (re-read for each composite notification).
    own: Vec<Path>,
    /// Southbound observations of this composite and their latest records.
    parts: BTreeMap<ObservationId, Vec<Record>>,
}

/// A northbound observation carried out on an End-Device.
#[derive(Debug, Clone)]
enum Relay {
    /// One observation north, one south.
    Single { handle: ProxyHandle, prefix: Prefix, target: Path, format: ContentFormat, device: EndpointName },
    /// One southbound part of a composite observation.
    Part { composite: u64, device: EndpointName },
}

/// The LwM2M gateway core. See the module docs for the call order.
#[derive(Debug)]
pub struct Gateway {
    config: GatewayConfig,
    state: GatewayState,
    client: Client,
    server: Server,
    /// Every End-Device known (the inventory), those exposed under a prefix with their `/25`
    /// instance; shared with Objects 25, 33001, 33002 and the north client's proxy routing.
    end_devices: SharedEndDevices,
    pending: BTreeMap<RequestId, Reply>,
    composites: BTreeMap<u64, Composite>,
    next_composite: u64,
    relays: BTreeMap<ObservationId, Relay>,
    events: VecDeque<GatewayEvent>,
    /// `/25` changes waiting for [`GatewayConfig::report_delay`].
    unreported: Unreported,
    /// Changes of `state` not taken by the runtime yet.
    state_changes: Vec<StateChange>,
}

/// End-Device changes collected for one report north.
#[derive(Debug, Default)]
struct Unreported {
    /// When the report goes out; `None` when nothing waits.
    due: Option<Instant>,
    /// What changed: one path, or `/25` when several did.
    changed: Option<Path>,
    /// The set of `/25` instances changed: an Update follows the notification.
    instances_changed: bool,
}

impl Gateway {
    /// A gateway over `client` (the north face, not started yet), a south server built from
    /// `server_config` (its `max_queue_wait` is set to [`GatewayConfig::queue_wait`]), and the
    /// persisted `state`. Adds Object 25 and the objects 33000–33002 to the client's tree.
    pub fn new(
        now: Instant,
        config: GatewayConfig,
        mut client: Client,
        mut server_config: ServerConfig,
        state: GatewayState,
        rng_seed: [u8; 32],
    ) -> Self {
        server_config.max_queue_wait = config.queue_wait;
        // One copy of the models, shared by the north client's tree (made over
        // `objects::registry`), the south server and the proxy translation between them.
        let shared = client.tree().shared_registry();
        let registry = if shared.object(INVENTORY_OBJECT).is_some() { shared } else { Arc::new(objects::registry()) };
        let server = Server::new(server_config, registry, rng_seed);
        let end_devices = Arc::new(Mutex::new(EndDevices::new(config.idle_after, &config.device_id_pattern)));
        let tree = client.tree_mut();
        tree.insert(Box::new(GatewayObject(end_devices.clone())));
        tree.insert(Box::new(objects::reporting_object()));
        tree.insert(Box::new(InventoryObject(end_devices.clone())));
        tree.insert(Box::new(SummaryObject(end_devices.clone())));
        client.share_proxy_prefixes(Box::new(ExposedPrefixes(end_devices.clone())));
        let mut gateway = Self {
            config,
            state,
            client,
            server,
            end_devices,
            pending: BTreeMap::new(),
            composites: BTreeMap::new(),
            next_composite: 0,
            relays: BTreeMap::new(),
            events: VecDeque::new(),
            unreported: Unreported::default(),
            state_changes: Vec::new(),
        };
        gateway.grant(now, SUMMARY_OBJECT, 0, None);
        for ssid in gateway.server_ids(now) {
            let on = gateway.state.reports_to(ssid.0);
            let created = gateway
                .client
                .tree_mut()
                .object_mut(REPORTING_OBJECT)
                .map(|o| o.create(now, ssid.0, objects::reporting_instance(ssid.0, on)));
            if let Some(Err(error)) = created {
                tracing::warn!(%error, ssid = ssid.0, "reporting instance not created");
            }
            gateway.grant(now, REPORTING_OBJECT, ssid.0, Some(ssid));
        }
        gateway
    }

    /// Starts the north client (Register to every distant server).
    pub fn start(&mut self, now: Instant) {
        self.client.start(now);
        self.process(now);
    }

    /// De-registers the north client from every distant server (shutdown); relayed
    /// observations end and their southbound counterparts are cancelled.
    pub fn deregister_north(&mut self, now: Instant) {
        self.client.deregister_all(now);
        self.process(now);
    }

    /// Registers the north client again with every distant server it is not registered with.
    pub fn register_north(&mut self, now: Instant) {
        self.client.register_all(now);
        self.process(now);
    }

    /// The persistent state (prefix assignments, reporting settings).
    pub fn state(&self) -> &GatewayState {
        &self.state
    }

    /// The changes of [`Gateway::state`] since the last call, oldest first: what the runtime
    /// persists after [`GatewayEvent::StateChanged`]. When it lets more than a thousand pile up,
    /// they come back as one [`StateChange::Everything`].
    pub fn take_state_changes(&mut self) -> Vec<StateChange> {
        std::mem::take(&mut self.state_changes)
    }

    /// The north client engine (registration state, object tree).
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// The south server engine (End-Device registrations).
    pub fn server(&self) -> &Server {
        &self.server
    }

    /// The south server engine, to configure it before [`Gateway::start`] (End-Device
    /// security information binding endpoints to their credentials).
    pub fn server_mut(&mut self) -> &mut Server {
        &mut self.server
    }

    /// The prefix of a connected End-Device exposed under it.
    pub fn prefix_of(&self, endpoint: &EndpointName) -> Option<Prefix> {
        self.exposed_prefix(endpoint)
    }

    /// A copy of the inventory entry of an End-Device the gateway knows.
    pub fn inventory_entry(&self, endpoint: &EndpointName) -> Option<InventoryEntry> {
        lock(&self.end_devices).find(endpoint.as_str()).map(EndDevice::inventory_entry)
    }

    /// A datagram arrived on `face` from `peer`.
    pub fn handle_datagram(&mut self, now: Instant, face: Face, peer: Peer, datagram: &[u8]) {
        match face {
            Face::North => self.client.handle_datagram(now, peer, datagram),
            Face::South => {
                self.touch_peer(now, &peer);
                self.server.handle_datagram(now, peer, datagram);
            }
        }
        self.process(now);
    }

    /// The deadline from [`Gateway::poll_timeout`] passed.
    pub fn handle_timeout(&mut self, now: Instant) {
        self.client.handle_timeout(now);
        self.server.handle_timeout(now);
        self.process(now);
        if self.unreported.due.is_some_and(|at| at <= now) {
            self.flush_report(now);
            self.process(now);
        }
    }

    /// The next datagram to send, with the face to send it on.
    pub fn poll_transmit(&mut self, now: Instant, buf: &mut Vec<u8>) -> Option<(Face, Transmit)> {
        if let Some(t) = self.client.poll_transmit(now, buf) {
            return Some((Face::North, t));
        }
        self.server.poll_transmit(now, buf).map(|t| (Face::South, t))
    }

    /// When [`Gateway::handle_timeout`] is due.
    pub fn poll_timeout(&self) -> Option<Instant> {
        [self.client.poll_timeout(), self.server.poll_timeout(), self.unreported.due].into_iter().flatten().min()
    }

    /// The next event for the runtime.
    pub fn poll_event(&mut self) -> Option<GatewayEvent> {
        self.events.pop_front()
    }

    // ----- internals -----

    fn state_changed(&mut self, change: StateChange) {
        StateChange::append(&mut self.state_changes, [change], MAX_STATE_CHANGES);
        self.emit(GatewayEvent::StateChanged);
    }

    fn emit(&mut self, event: GatewayEvent) {
        if self.events.len() >= MAX_EVENTS {
            self.events.pop_front();
        }
        self.events.push_back(event);
    }

    /// Drains both engines' events until neither has any.
    fn process(&mut self, now: Instant) {
        for _ in 0..MAX_ROUNDS {
            let mut progressed = false;
            while let Some(event) = self.server.poll_event() {
                progressed = true;
                self.on_server_event(now, event);
            }
            while let Some(event) = self.client.poll_event() {
                progressed = true;
                self.on_client_event(now, event);
            }
            if !progressed {
                break;
            }
        }
    }

    /// The Short Server IDs of the north client's Server instances.
    fn server_ids(&self, now: Instant) -> Vec<ServerId> {
        let Some(object) = self.client.tree().object(SERVER_OBJECT) else { return Vec::new() };
        object
            .instances()
            .into_iter()
            .filter_map(|i| ServerInstance::from_values(&object.read(now, i)?))
            .map(|s| s.server_id)
            .collect()
    }

    /// With several servers the north client enforces Access Control: every server may read the
    /// gateway's dynamic instances; `owner` also writes them.
    fn grant(&mut self, now: Instant, object: u16, instance: u16, owner: Option<ServerId>) {
        let tree = self.client.tree_mut();
        let Some(id) = tree.free_instance(ACL_OBJECT) else { return };
        let mut acl = BTreeMap::from([(0u16, 1u8)]);
        if let Some(owner) = owner {
            acl.insert(owner.0, 3);
        }
        let entry = AclInstance { object, instance, acl, owner: owner.map_or(u16::MAX, |o| o.0) };
        if let Some(acl_object) = tree.object_mut(ACL_OBJECT) {
            if let Err(error) = acl_object.create(now, id, entry.to_values()) {
                tracing::debug!(%error, object, instance, "access control instance not created");
            }
        }
    }

    fn revoke(&mut self, now: Instant, object: u16, instance: u16) {
        let tree = self.client.tree_mut();
        let Some(acl_object) = tree.object_mut(ACL_OBJECT) else { return };
        let doomed: Vec<u16> = acl_object
            .instances()
            .into_iter()
            .filter(|i| {
                acl_object
                    .read(now, *i)
                    .and_then(|v| AclInstance::from_values(&v))
                    .is_some_and(|a| a.object == object && a.instance == instance)
            })
            .collect();
        for id in doomed {
            let _ = acl_object.delete(id);
        }
    }

    fn touch_peer(&mut self, now: Instant, peer: &Peer) {
        let Some(registration) = self.server.registration_of_peer(peer) else { return };
        if let Some(device) = lock(&self.end_devices).find_mut(registration.endpoint.as_str()) {
            device.last_seen = now;
        }
    }

    /// The prefix of `endpoint` while it is exposed.
    fn exposed_prefix(&self, endpoint: &EndpointName) -> Option<Prefix> {
        let end_devices = lock(&self.end_devices);
        end_devices.find(endpoint.as_str()).filter(|d| d.gateway_instance.is_some()).and_then(|d| d.prefix.clone())
    }

    // ----- south: End-Device registrations -----

    fn on_server_event(&mut self, now: Instant, event: ServerEvent) {
        match event {
            ServerEvent::Registered { registration, replaced } => {
                self.device_registered(now, &registration);
                if replaced.is_some() {
                    // A new Register voids the device's observations (Core TS §6.2.1): observe
                    // again so the northbound observations carry on.
                    self.reobserve_relays_of(now, &registration.endpoint);
                }
            }
            ServerEvent::Updated { registration, .. } => self.device_registered(now, &registration),
            ServerEvent::Deregistered { registration } | ServerEvent::Expired { registration } => {
                self.device_removed(now, &registration.endpoint);
            }
            ServerEvent::Response { id, result, .. } => self.on_answer(now, id, result),
            ServerEvent::Notification { observation, records, .. } => self.on_notification(now, observation, records),
            ServerEvent::ObservationEnded { observation, .. } => self.end_relay(now, observation, Code::NOT_FOUND),
            ServerEvent::Send { endpoint, records } => self.forward_send(now, &endpoint, records),
            ServerEvent::Awake { endpoint } => self.set_sleeping(&endpoint, false, now),
            ServerEvent::Sleeping { endpoint } => self.set_sleeping(&endpoint, true, now),
            ServerEvent::EndDeviceRegistered { .. }
            | ServerEvent::EndDeviceUpdated { .. }
            | ServerEvent::EndDeviceRemoved { .. } => {}
        }
    }

    fn set_sleeping(&mut self, endpoint: &EndpointName, sleeping: bool, now: Instant) {
        let known = match lock(&self.end_devices).find_mut(endpoint.as_str()) {
            Some(device) => {
                device.sleeping = sleeping;
                if !sleeping {
                    device.last_seen = now;
                }
                true
            }
            None => false,
        };
        if known {
            self.emit(GatewayEvent::InventoryChanged);
        }
    }

    /// The prefix of `endpoint`: the one it had, or a new one from the pattern.
    fn assign_prefix(&mut self, endpoint: &EndpointName) -> Option<Prefix> {
        let assigned = {
            let end_devices = lock(&self.end_devices);
            let is_exposed = |ep: &str| end_devices.find(ep).is_some_and(|d| d.gateway_instance.is_some());
            self.state.assign(endpoint, &self.config, MAX_KNOWN, is_exposed)
        };
        match assigned {
            Ok(Assignment::Known(prefix)) => Some(prefix),
            Ok(Assignment::New { prefix, forgotten }) => {
                if let Some(endpoint) = forgotten {
                    self.state_changed(StateChange::PrefixForgotten { endpoint });
                }
                let counter = self.state.prefix_counter;
                let change = StateChange::PrefixAssigned {
                    endpoint: endpoint.as_str().to_owned(),
                    prefix: prefix.as_str().to_owned(),
                    counter,
                };
                self.state_changed(change);
                Some(prefix)
            }
            Err(error) => {
                tracing::warn!(%endpoint, %error, "no prefix for the end device; not exposed");
                None
            }
        }
    }

    fn device_registered(&mut self, now: Instant, registration: &Registration) {
        let Some(id) = self.upsert_inventory(now, registration) else { return };
        let objects = EndDeviceObjects::of(&registration.objects);
        let exposed = lock(&self.end_devices).get(id).is_some_and(|d| d.gateway_instance.is_some());
        if exposed {
            let changed = lock(&self.end_devices).set_objects(id, objects);
            if let Some(instance) = changed {
                self.report(now, Path::Resource(GATEWAY_OBJECT, instance, 3), false);
            }
            return;
        }
        let endpoint = registration.endpoint.clone();
        if lock(&self.end_devices).exposed() >= MAX_DEVICES {
            tracing::warn!(%endpoint, "too many end devices; not exposed");
            return;
        }
        let Some(prefix) = self.assign_prefix(&endpoint) else { return };
        let exposed = lock(&self.end_devices).expose(id, prefix.clone(), objects);
        let Some(instance) = exposed else {
            tracing::warn!(%endpoint, %prefix, "/25 instance not created (none free, or the prefix is exposed already)");
            return;
        };
        self.grant(now, GATEWAY_OBJECT, instance, None);
        self.emit(GatewayEvent::EndDeviceAdded { endpoint, prefix });
        self.report(now, Path::Instance(GATEWAY_OBJECT, instance), true);
    }

    /// Records `registration` in the inventory (a new End-Device gets the lowest free `/33001`
    /// instance); returns the End-Device's ID there.
    fn upsert_inventory(&mut self, now: Instant, registration: &Registration) -> Option<u16> {
        let endpoint = registration.endpoint.as_str();
        let known = lock(&self.end_devices).id_of(endpoint);
        let id = match known {
            Some(id) => id,
            None => {
                if lock(&self.end_devices).len() >= MAX_KNOWN {
                    self.forget_oldest_disconnected(now);
                }
                let device = EndDevice {
                    endpoint: registration.endpoint.clone(),
                    prefix: None,
                    last_seen: now,
                    address: registration.addr,
                    objects: EndDeviceObjects::default(),
                    lifetime: registration.lifetime,
                    gateway_instance: None,
                    binding: registration.binding.clone(),
                    version: registration.version,
                    connected: true,
                    sleeping: false,
                    queue_mode: registration.queue_mode,
                };
                let inserted = lock(&self.end_devices).insert(device);
                let Some(id) = inserted else {
                    tracing::warn!(%endpoint, "no free inventory instance; end device not recorded");
                    return None;
                };
                self.grant(now, INVENTORY_OBJECT, id, None);
                id
            }
        };
        {
            let mut end_devices = lock(&self.end_devices);
            if let Some(device) = end_devices.find_mut(endpoint) {
                device.connected = true;
                device.sleeping = false;
                device.last_seen = now;
                device.lifetime = registration.lifetime;
                device.binding = registration.binding.clone();
                device.queue_mode = registration.queue_mode;
                device.version = registration.version;
                device.address = registration.addr;
            }
            // An End-Device not exposed shows the prefix it keeps from an earlier registration.
            end_devices.set_prefix(endpoint, self.state.prefix(endpoint).cloned());
        }
        self.emit(GatewayEvent::InventoryChanged);
        Some(id)
    }

    /// Drops the inventory entry of the disconnected End-Device seen longest ago.
    fn forget_oldest_disconnected(&mut self, now: Instant) {
        let oldest = {
            let end_devices = lock(&self.end_devices);
            end_devices.iter().filter(|(_, d)| !d.connected).min_by_key(|(_, d)| d.last_seen).map(|(id, _)| id)
        };
        let Some(id) = oldest else { return };
        lock(&self.end_devices).remove(id);
        self.revoke(now, INVENTORY_OBJECT, id);
    }

    fn device_removed(&mut self, now: Instant, endpoint: &EndpointName) {
        let (known, concealed) = {
            let mut end_devices = lock(&self.end_devices);
            match end_devices.id_of(endpoint.as_str()) {
                Some(id) => {
                    let concealed = end_devices.conceal(id);
                    if let Some(device) = end_devices.find_mut(endpoint.as_str()) {
                        device.connected = false;
                        device.sleeping = false;
                    }
                    (true, concealed)
                }
                None => (false, None),
            }
        };
        if known {
            self.emit(GatewayEvent::InventoryChanged);
        }
        let Some((instance, prefix)) = concealed else { return };
        self.end_relays_of(now, endpoint);
        self.revoke(now, GATEWAY_OBJECT, instance);
        self.emit(GatewayEvent::EndDeviceRemoved { endpoint: endpoint.clone(), prefix });
        self.report(now, Path::Instance(GATEWAY_OBJECT, instance), true);
    }

    /// Ends every northbound observation carried out on `endpoint` with 4.04.
    fn end_relays_of(&mut self, now: Instant, endpoint: &EndpointName) {
        let ended: Vec<ObservationId> = self
            .relays
            .iter()
            .filter(|(_, r)| match r {
                Relay::Single { device, .. } | Relay::Part { device, .. } => device == endpoint,
            })
            .map(|(id, _)| *id)
            .collect();
        for observation in ended {
            self.end_relay(now, observation, Code::NOT_FOUND);
        }
    }

    /// Re-establishes on `endpoint` every single northbound observation carried out on it;
    /// composite ones end with 4.04.
    fn reobserve_relays_of(&mut self, now: Instant, endpoint: &EndpointName) {
        let relays: Vec<(ObservationId, Relay)> = self
            .relays
            .iter()
            .filter(|(_, r)| match r {
                Relay::Single { device, .. } | Relay::Part { device, .. } => device == endpoint,
            })
            .map(|(id, r)| (*id, r.clone()))
            .collect();
        for (observation, relay) in relays {
            let Relay::Single { handle, prefix, target, format, device } = relay else {
                self.end_relay(now, observation, Code::NOT_FOUND);
                continue;
            };
            self.relays.remove(&observation);
            self.server.forget_observation(observation);
            let request = DmRequest::Observe { path: PrefixedPath::plain(target), format: None };
            match self.server.send(now, endpoint, request, self.options()) {
                Ok(id) => {
                    self.pending.insert(id, Reply::Reobserve { handle, prefix, target, format, device });
                }
                Err(error) => {
                    tracing::debug!(%error, "observation not re-established");
                    self.notify_end(now, &handle, Code::NOT_FOUND);
                }
            }
        }
    }

    /// Ends a northbound observation with `code`.
    fn notify_end(&mut self, now: Instant, handle: &ProxyHandle, code: Code) {
        if let Err(error) = self.client.notify_proxied(now, handle, Response::new(code), Reliability::Confirmable) {
            tracing::debug!(%error, "end of observation not relayed");
        }
    }

    /// Reports an End-Device change to every distant server that has reporting on, once
    /// [`GatewayConfig::report_delay`] is over (changes within it are reported together): `/25`
    /// observers are notified and, when the instance set changed, an Update follows.
    fn report(&mut self, now: Instant, changed: Path, instances_changed: bool) {
        let pending = &mut self.unreported;
        pending.changed = match pending.changed {
            Some(earlier) if earlier != changed => Some(Path::Object(GATEWAY_OBJECT)),
            _ => Some(changed),
        };
        pending.instances_changed |= instances_changed;
        let due = *pending.due.get_or_insert(now + self.config.report_delay);
        if due <= now {
            self.flush_report(now);
        }
    }

    /// Sends the report collected by [`Gateway::report`].
    fn flush_report(&mut self, now: Instant) {
        let Unreported { changed, instances_changed, .. } = std::mem::take(&mut self.unreported);
        let Some(changed) = changed else { return };
        let servers: Vec<ServerId> = self.server_ids(now).into_iter().filter(|s| self.state.reports_to(s.0)).collect();
        self.client.value_changed_for(now, changed, &servers);
        if instances_changed {
            for server in servers {
                self.client.update(now, server);
            }
        }
    }

    // ----- north: requests for End-Devices -----

    fn on_client_event(&mut self, now: Instant, event: ClientEvent) {
        match event {
            ClientEvent::ProxyRequest { handle, request, observe } => {
                self.on_proxy_request(now, handle, &request, observe)
            }
            ClientEvent::ProxyObservationCancelled { handle } => self.north_cancelled(now, &handle),
            ClientEvent::WriteApplied { path: Path::Resource(REPORTING_OBJECT, instance, 1), .. } => {
                self.reporting_written(now, instance);
            }
            event @ (ClientEvent::Registered { .. } | ClientEvent::Deregistered { .. }) => {
                if let ClientEvent::Registered { server, .. } | ClientEvent::Deregistered { server } = event {
                    // The distant server forgot its observations of the previous registration.
                    self.drop_north_observations(now, server);
                }
                self.emit(GatewayEvent::North(event));
            }
            other => self.emit(GatewayEvent::North(other)),
        }
    }

    /// Ends, without a word north, every relayed observation of `server`.
    fn drop_north_observations(&mut self, now: Instant, server: ServerId) {
        let mut handles: Vec<ProxyHandle> = self
            .relays
            .values()
            .filter_map(|r| match r {
                Relay::Single { handle, .. } => Some(handle.clone()),
                Relay::Part { .. } => None,
            })
            .chain(self.composites.values().filter(|c| c.observe).map(|c| c.handle.clone()))
            .filter(|h| h.server == server)
            .collect();
        handles.sort();
        handles.dedup();
        for handle in handles {
            self.north_cancelled(now, &handle);
            self.client.forget_proxied(&handle);
        }
    }

    fn reporting_written(&mut self, now: Instant, ssid: u16) {
        let Some(ResourceValue::Single(Value::Boolean(on))) =
            self.client.tree().resource(now, REPORTING_OBJECT, ssid, 1)
        else {
            return;
        };
        if self.state.reporting.insert(ssid, on) != Some(on) {
            self.state_changed(StateChange::Reporting { ssid, enabled: on });
        }
    }

    /// The format of a northbound answer: what the server asked, else SenML CBOR (TLV for a
    /// 1.0 registration).
    fn north_format(&self, handle: &ProxyHandle, accept: Option<ContentFormat>) -> ContentFormat {
        accept.unwrap_or_else(|| match self.client.session(handle.server).map(|s| s.version) {
            Some(Version::V1_0) => ContentFormat::TLV,
            _ => ContentFormat::SENML_CBOR,
        })
    }

    fn answer(&mut self, now: Instant, handle: &ProxyHandle, response: Response) {
        if let Err(error) = self.client.respond_proxied(now, handle, response) {
            tracing::debug!(%error, "northbound answer not sent");
        }
    }

    fn refuse(&mut self, now: Instant, handle: &ProxyHandle, error: &ProxyError) {
        tracing::debug!(%error, "northbound request refused");
        self.answer(now, handle, Response::new(Code::from(error)));
    }

    fn refuse_code(&mut self, now: Instant, handle: &ProxyHandle, code: Code) {
        self.answer(now, handle, Response::new(code));
    }

    fn device_by_prefix(&self, prefix: &Prefix) -> Option<EndpointName> {
        lock(&self.end_devices).by_prefix(prefix.as_str()).map(|d| d.endpoint.clone())
    }

    /// The object models the proxy translates payloads with (the south server's).
    fn registry(&self) -> &Registry {
        self.server.registry()
    }

    fn options(&self) -> RequestOptions {
        RequestOptions { format: None, timeout: Some(self.config.request_timeout) }
    }

    fn on_proxy_request(&mut self, now: Instant, handle: ProxyHandle, request: &Request, observe: bool) {
        if request.options.uri_path().is_empty() {
            self.on_composite(now, handle, request, observe);
            return;
        }
        let routed = proxy::split_path(request).and_then(|(prefix, path)| {
            let endpoint = self.device_by_prefix(&prefix).ok_or_else(|| ProxyError::NotFound(format!("/{prefix}")))?;
            let dm = proxy::to_dm_request(request, observe, &prefix, path, self.registry())?;
            Ok((prefix, path, endpoint, dm))
        });
        let (prefix, path, endpoint, dm) = match routed {
            Ok(routed) => routed,
            Err(error) => return self.refuse(now, &handle, &error),
        };
        let format = self.north_format(&handle, request.options.accept());
        match self.server.send(now, &endpoint, dm, self.options()) {
            Ok(id) => {
                self.pending.insert(id, Reply::Single { handle, prefix, target: path, format, device: endpoint });
            }
            Err(error) => self.refuse(now, &handle, &ProxyError::from(&error)),
        }
    }

    fn on_answer(&mut self, now: Instant, id: RequestId, result: Result<DmResponse, RequestFailure>) {
        let Some(reply) = self.pending.remove(&id) else { return };
        match reply {
            Reply::Single { handle, prefix, target, format, device } => {
                let response = match &result {
                    Ok(response) => {
                        if let Some(observation) = response.observation {
                            let relay = Relay::Single {
                                handle: handle.clone(),
                                prefix: prefix.clone(),
                                target,
                                format,
                                device,
                            };
                            self.relays.insert(observation, relay);
                        }
                        proxy::to_north_response(response, &prefix, target, format, self.registry())
                    }
                    Err(failure) => Response::new(Code::from(&ProxyError::from(failure))),
                };
                let ok = response.code.is_success();
                self.answer(now, &handle, response);
                if !ok {
                    if let Ok(DmResponse { observation: Some(observation), .. }) = result {
                        self.relays.remove(&observation);
                        self.server.forget_observation(observation);
                    }
                }
            }
            Reply::Part { composite, prefix, device } => self.on_part(now, composite, &prefix, device, result),
            Reply::Reobserve { handle, prefix, target, format, device } => match result {
                Ok(DmResponse { observation: Some(observation), content: Content::Records(records), .. }) => {
                    let relay = Relay::Single { handle, prefix, target, format, device };
                    self.relays.insert(observation, relay);
                    self.on_notification(now, observation, records);
                }
                other => {
                    if let Ok(DmResponse { observation: Some(observation), .. }) = other {
                        self.cancel_south(now, observation);
                    }
                    self.notify_end(now, &handle, Code::NOT_FOUND);
                }
            },
        }
    }

    fn on_notification(&mut self, now: Instant, observation: ObservationId, records: Vec<Record>) {
        match self.relays.get(&observation).cloned() {
            Some(Relay::Single { handle, prefix, target, format, .. }) => {
                let records = proxy::with_prefix(records, &prefix);
                let path = PrefixedPath { prefix: Some(prefix), path: target };
                let response = proxy::encode_records(&records, &path, format, self.registry())
                    .unwrap_or_else(|e| Response::new(Code::from(&e)));
                if let Err(error) = self.client.notify_proxied(now, &handle, response, Reliability::NonConfirmable) {
                    tracing::debug!(%error, "notification not relayed; observation ends");
                    self.relays.remove(&observation);
                    self.cancel_south(now, observation);
                }
            }
            Some(Relay::Part { composite, device }) => {
                let Some(prefix) = self.exposed_prefix(&device) else { return };
                if let Some(c) = self.composites.get_mut(&composite) {
                    c.parts.insert(observation, proxy::with_prefix(records, &prefix));
                }
                self.notify_composite(now, composite);
            }
            None => {
                self.server.forget_observation(observation);
            }
        }
    }

    /// Ends a relayed observation: the northbound observer gets `code` (4.04 when the
    /// End-Device went away).
    fn end_relay(&mut self, now: Instant, observation: ObservationId, code: Code) {
        let Some(relay) = self.relays.remove(&observation) else { return };
        self.server.forget_observation(observation);
        let handle = match relay {
            Relay::Single { handle, .. } => handle,
            Relay::Part { composite, .. } => {
                let Some(c) = self.composites.remove(&composite) else { return };
                for part in c.parts.keys() {
                    if *part != observation && self.relays.remove(part).is_some() {
                        self.cancel_south(now, *part);
                    }
                }
                c.handle
            }
        };
        self.notify_end(now, &handle, code);
    }

    /// Cancels a southbound observation actively (GET Observe: 1).
    fn cancel_south(&mut self, now: Instant, observation: ObservationId) {
        let endpoint =
            self.server.observations().find(|o| o.id == observation).map(|o| (o.endpoint.clone(), o.composite));
        let Some((endpoint, composite)) = endpoint else { return };
        let request = if composite {
            DmRequest::CancelCompositeObservation { observation }
        } else {
            DmRequest::CancelObservation { observation }
        };
        match self.server.send(now, &endpoint, request, self.options()) {
            Ok(id) => {
                // The answer to a cancel is of no interest north.
                let _ = id;
            }
            Err(error) => {
                tracing::debug!(%error, "southbound cancel not sent; forgetting the observation");
                self.server.forget_observation(observation);
            }
        }
    }

    /// The distant server cancelled a proxied observation (RST, Observe: 1, silence).
    fn north_cancelled(&mut self, now: Instant, handle: &ProxyHandle) {
        let doomed: Vec<ObservationId> = self
            .relays
            .iter()
            .filter(|(_, r)| match r {
                Relay::Single { handle: h, .. } => h == handle,
                Relay::Part { composite, .. } => self.composites.get(composite).is_some_and(|c| &c.handle == handle),
            })
            .map(|(id, _)| *id)
            .collect();
        self.composites.retain(|_, c| &c.handle != handle);
        for observation in doomed {
            self.relays.remove(&observation);
            self.cancel_south(now, observation);
        }
    }

    // ----- composite -----

    fn on_composite(&mut self, now: Instant, handle: ProxyHandle, request: &Request, observe: bool) {
        if self.composites.len() >= MAX_COMPOSITES {
            return self.refuse(now, &handle, &ProxyError::Unavailable("too many composite requests".to_owned()));
        }
        let Some(cf) = request.options.content_format() else {
            return self.refuse(now, &handle, &ProxyError::BadRequest("composite without content format".to_owned()));
        };
        let format = request.options.accept().unwrap_or(cf);
        let write = request.method == Code::IPATCH;
        let id = self.next_composite;
        self.next_composite += 1;
        let mut composite = Composite {
            handle: handle.clone(),
            format,
            outstanding: 0,
            records: Vec::new(),
            failure: None,
            write,
            observe,
            own: Vec::new(),
            parts: BTreeMap::new(),
        };
        let mut requests: Vec<(EndpointName, Prefix, DmRequest)> = Vec::new();
        if write {
            let root = PrefixedPath::plain(Path::Root);
            let records = match lwm2m::format::decode(cf, &request.payload, &root, self.registry()) {
                Ok(records) => records,
                Err(error) => return self.refuse(now, &handle, &ProxyError::BadRequest(error.to_string())),
            };
            let mut own = Vec::new();
            let mut per_instance: BTreeMap<(Prefix, u16, u16), Vec<Record>> = BTreeMap::new();
            for mut record in records {
                let Some(prefix) = record.path.prefix.take() else {
                    own.push(record);
                    continue;
                };
                let (Path::Resource(o, i, _) | Path::ResourceInstance(o, i, _, _)) = record.path.path else {
                    return self.refuse(now, &handle, &ProxyError::BadRequest(format!("{}", record.path)));
                };
                per_instance.entry((prefix, o, i)).or_default().push(record);
            }
            for ((prefix, o, i), records) in per_instance {
                let Some(endpoint) = self.device_by_prefix(&prefix) else {
                    return self.refuse(now, &handle, &ProxyError::NotFound(format!("/{prefix}")));
                };
                let path = PrefixedPath::plain(Path::Instance(o, i));
                requests.push((
                    endpoint,
                    prefix,
                    DmRequest::Write { path, mode: WriteMode::PartialUpdate, records, format: None },
                ));
            }
            if let Some(code) = own.iter().find_map(|r| self.own_write_refused(now, handle.server, r.path.path)) {
                return self.refuse_code(now, &handle, code);
            }
            for record in own {
                if let Err(error) = self.client.set_value(now, record.path.path, record.value) {
                    tracing::debug!(%error, "composite write on the gateway refused");
                    composite.failure.get_or_insert(Code::BAD_REQUEST);
                } else if let Path::Resource(REPORTING_OBJECT, ssid, 1) = record.path.path {
                    self.reporting_written(now, ssid);
                }
            }
        } else {
            let paths = match senml::decode_paths(cf, &request.payload) {
                Ok(paths) => paths,
                Err(error) => return self.refuse(now, &handle, &ProxyError::BadRequest(error.to_string())),
            };
            for path in paths {
                let Some(prefix) = path.prefix else {
                    composite.own.push(path.path);
                    continue;
                };
                let Some(endpoint) = self.device_by_prefix(&prefix) else {
                    return self.refuse(now, &handle, &ProxyError::NotFound(format!("/{prefix}")));
                };
                let target = PrefixedPath::plain(path.path);
                let dm = if observe {
                    DmRequest::Observe { path: target, format: None }
                } else {
                    DmRequest::Read { path: target, format: None }
                };
                requests.push((endpoint, prefix, dm));
            }
        }
        for (endpoint, prefix, dm) in requests {
            match self.server.send(now, &endpoint, dm, self.options()) {
                Ok(request) => {
                    composite.outstanding += 1;
                    self.pending.insert(request, Reply::Part { composite: id, prefix, device: endpoint });
                }
                Err(error) => {
                    composite.failure.get_or_insert(Code::from(&ProxyError::from(&error)));
                }
            }
        }
        self.composites.insert(id, composite);
        self.finish_composite(now, id);
    }

    fn on_part(
        &mut self,
        now: Instant,
        id: u64,
        prefix: &Prefix,
        device: EndpointName,
        result: Result<DmResponse, RequestFailure>,
    ) {
        let Some(composite) = self.composites.get_mut(&id) else {
            if let Ok(DmResponse { observation: Some(observation), .. }) = result {
                self.cancel_south(now, observation);
            }
            return;
        };
        composite.outstanding = composite.outstanding.saturating_sub(1);
        match result {
            Ok(response) if response.is_success() => {
                if let lwm2m_server::Content::Records(records) = response.content {
                    let records = proxy::with_prefix(records, prefix);
                    if let Some(observation) = response.observation {
                        composite.parts.insert(observation, records);
                        self.relays.insert(observation, Relay::Part { composite: id, device });
                    } else {
                        composite.records.extend(records);
                    }
                }
            }
            Ok(response) if response.code == Code::NOT_FOUND && !composite.write => {}
            Ok(response) => {
                composite.failure.get_or_insert(response.code);
            }
            Err(failure) => {
                composite.failure.get_or_insert(Code::from(&ProxyError::from(&failure)));
            }
        }
        self.finish_composite(now, id);
    }

    /// Whether Access Control applies on the north side (more than one distant server).
    fn enforce_acl(&self, now: Instant) -> bool {
        self.server_ids(now).len() > 1
    }

    /// Why the gateway refuses a composite write of its own resource `path` by `server`: only
    /// resources the model marks writable, outside Security/Server/Access Control, and allowed
    /// by Access Control.
    fn own_write_refused(&self, now: Instant, server: ServerId, path: Path) -> Option<Code> {
        let (Path::Resource(o, i, r) | Path::ResourceInstance(o, i, r, _)) = path else {
            return Some(Code::BAD_REQUEST);
        };
        if o <= ACL_OBJECT {
            return Some(Code::METHOD_NOT_ALLOWED);
        }
        let Some(model) = self.client.tree().resource_model(o, r) else { return Some(Code::NOT_FOUND) };
        if !model.operations.write {
            return Some(Code::METHOD_NOT_ALLOWED);
        }
        if self.enforce_acl(now) && !acl::allowed(self.client.tree(), now, server, o, i, acl::Right::Write) {
            return Some(Code::UNAUTHORIZED);
        }
        None
    }

    /// The gateway's own records of a composite read by `server` (Access Control applies).
    fn own_records(&self, now: Instant, server: ServerId, paths: &[Path]) -> Vec<Record> {
        let enforce = self.enforce_acl(now);
        paths
            .iter()
            .flat_map(|p| self.client.tree().records(now, p, true).unwrap_or_default())
            .filter(|r| {
                !enforce
                    || match r.path.path {
                        Path::Resource(o, i, _) | Path::ResourceInstance(o, i, _, _) => {
                            acl::allowed(self.client.tree(), now, server, o, i, acl::Right::Read)
                        }
                        _ => false,
                    }
            })
            .collect()
    }

    /// Answers a composite request once every part is in.
    fn finish_composite(&mut self, now: Instant, id: u64) {
        let Some(composite) = self.composites.get(&id) else { return };
        if composite.outstanding > 0 {
            return;
        }
        let handle = composite.handle.clone();
        let response = if let Some(code) = composite.failure {
            Response::new(code)
        } else if composite.write {
            Response::new(Code::CHANGED)
        } else {
            let mut records = self.own_records(now, composite.handle.server, &composite.own);
            records.extend(composite.records.iter().cloned());
            records.extend(composite.parts.values().flatten().cloned());
            proxy::encode_records(&records, &PrefixedPath::plain(Path::Root), composite.format, self.registry())
                .unwrap_or_else(|e| Response::new(Code::from(&e)))
        };
        let keep = composite.observe && !composite.parts.is_empty() && response.code.is_success();
        if !keep {
            if let Some(c) = self.composites.remove(&id) {
                for observation in c.parts.keys() {
                    self.relays.remove(observation);
                    self.cancel_south(now, *observation);
                }
            }
        }
        self.answer(now, &handle, response);
    }

    fn notify_composite(&mut self, now: Instant, id: u64) {
        let Some(composite) = self.composites.get(&id) else { return };
        if composite.outstanding > 0 {
            return;
        }
        let mut records = self.own_records(now, composite.handle.server, &composite.own);
        records.extend(composite.parts.values().flatten().cloned());
        let response =
            proxy::encode_records(&records, &PrefixedPath::plain(Path::Root), composite.format, self.registry())
                .unwrap_or_else(|e| Response::new(Code::from(&e)));
        let handle = composite.handle.clone();
        if let Err(error) = self.client.notify_proxied(now, &handle, response, Reliability::NonConfirmable) {
            tracing::debug!(%error, "composite notification not relayed; observation ends");
            self.north_cancelled(now, &handle);
        }
    }

    // ----- Send -----

    /// Forwards an End-Device's Send to every distant server, names prefixed.
    fn forward_send(&mut self, now: Instant, endpoint: &EndpointName, records: Vec<Record>) {
        let Some(prefix) = self.exposed_prefix(endpoint) else { return };
        let records = proxy::with_prefix(records, &prefix);
        for server in self.server_ids(now) {
            if !self.client.is_registered(server) {
                continue;
            }
            if let Err(error) = self.client.send_records(now, server, &records) {
                tracing::debug!(%error, %server, "end device send not forwarded");
            }
        }
    }
}
