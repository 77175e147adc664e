//! The sans-IO [`Gateway`] shared by several sockets.
//!
//! [`transport::spawn`] runs one engine per socket, while the gateway is one engine with two
//! faces and several sockets: the south socket(s) and one socket per distant server (each may be
//! wrapped in its own DTLS client). [`Hub`] owns the gateway behind a mutex; each socket's driver
//! runs a [`FaceEngine`], a thin [`Engine`] that feeds the gateway with the datagrams of its
//! socket (naming the [`Face`]) and hands out the datagrams meant for that socket.
//!
//! After every input the hub drains the gateway: events first (state persisted to the
//! [`GatewayStore`] before any datagram of the step can leave), then transmits, sorted into
//! one bounded queue per [`Outlet`]. When the state cannot be written, the datagrams of the
//! step are dropped instead of queued, and so are those of every later step until a write
//! succeeds (see [`Hub::step`]). Drivers whose queue got datagrams are woken with an empty
//! command, and the one driver that keeps the gateway's timer (the first south socket) is woken
//! when the deadline moved earlier than the one it sleeps on.

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Instant;

use coap::{Engine, Peer, Transmit};
use gateway::{Face, Gateway, GatewayEvent, StateChange};
use lwm2m::EndpointName;
use lwm2m_client::ClientEvent;
use lwm2m_server::SecurityInfo;

use super::store::{GatewayStore, KnownEndDevice};
use crate::server::face::wall_ms;

/// Datagrams waiting per outlet before the oldest is dropped.
const MAX_QUEUE: usize = 1024;
/// State changes waiting for a failed write at most; beyond, the whole state is written.
const MAX_UNSAVED: usize = 4096;
/// Certificate common names bound to their endpoint at most (one per End-Device certificate).
const MAX_BOUND_NAMES: usize = 65_536;

/// Where a datagram leaves the gateway.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum Outlet {
    /// The south socket without security.
    SouthPlain,
    /// The south socket over DTLS.
    SouthSecure,
    /// The socket of the distant server at this address.
    North(SocketAddr),
}

/// Wakes one driver (queues an empty command on it).
pub(crate) type Waker = Arc<dyn Fn() + Send + Sync>;

/// The gateway and what the sockets share about it.
pub(crate) struct Hub {
    gateway: Gateway,
    store: Arc<GatewayStore>,
    endpoint: String,
    queues: HashMap<Outlet, VecDeque<(Peer, Vec<u8>)>>,
    wakers: HashMap<Outlet, Waker>,
    timer: Outlet,
    timer_seen: Option<Instant>,
    /// Distant servers by Short Server ID: their URIs.
    north_uris: BTreeMap<u16, String>,
    /// Distant servers the gateway is registered with.
    registered: BTreeMap<u16, String>,
    /// Datagrams dropped: queue full, meant for a socket that does not exist, or from a
    /// certificate that names no endpoint.
    dropped: u64,
    /// The south PSK identities (any other authenticated identity is a certificate CN).
    psk_identities: HashSet<String>,
    /// Certificate CNs already bound to the endpoint of the same name.
    bound_names: HashSet<String>,
    /// End-Devices known from earlier runs, as stored at start.
    remembered: BTreeMap<String, KnownEndDevice>,
    /// Changes of the gateway state not on disk yet: while there are any, nothing may leave.
    unsaved: Vec<StateChange>,
    /// Failed writes of the gateway state.
    state_write_failures: u64,
    buf: Vec<u8>,
}

impl std::fmt::Debug for Hub {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Hub")
            .field("endpoint", &self.endpoint)
            .field("outlets", &self.queues.keys().collect::<Vec<_>>())
            .field("dropped", &self.dropped)
            .finish_non_exhaustive()
    }
}

/// The hub as the drivers and the REST API share it.
pub(crate) type SharedHub = Arc<Mutex<Hub>>;

/// Locks the hub (a panic inside a step leaves the engines as they were between two calls).
pub(crate) fn lock(hub: &SharedHub) -> MutexGuard<'_, Hub> {
    hub.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Hub {
    /// A hub for `gateway` (not started) with one queue per outlet; `timer` keeps the deadline.
    pub(crate) fn new(
        gateway: Gateway,
        store: Arc<GatewayStore>,
        endpoint: String,
        outlets: &[Outlet],
        timer: Outlet,
        north_uris: BTreeMap<u16, String>,
        psk_identities: HashSet<String>,
    ) -> Self {
        Self {
            gateway,
            store,
            endpoint,
            queues: outlets.iter().map(|o| (*o, VecDeque::new())).collect(),
            wakers: HashMap::new(),
            timer,
            timer_seen: None,
            north_uris,
            registered: BTreeMap::new(),
            dropped: 0,
            psk_identities,
            bound_names: HashSet::new(),
            remembered: BTreeMap::new(),
            unsaved: Vec::new(),
            state_write_failures: 0,
            buf: Vec::with_capacity(2048),
        }
    }

    /// Sets the End-Devices known from earlier runs (for the REST API).
    pub(crate) fn set_remembered(&mut self, devices: Vec<KnownEndDevice>) {
        self.remembered = devices.into_iter().map(|d| (d.endpoint.clone(), d)).collect();
    }

    /// An End-Device known from an earlier run.
    pub(crate) fn remembered(&self, endpoint: &str) -> Option<&KnownEndDevice> {
        self.remembered.get(endpoint)
    }

    /// The gateway.
    pub(crate) fn gateway(&self) -> &Gateway {
        &self.gateway
    }

    /// The distant servers the gateway is registered with: Short Server ID → URI.
    pub(crate) fn registered(&self) -> &BTreeMap<u16, String> {
        &self.registered
    }

    /// The distant servers: Short Server ID → URI.
    pub(crate) fn north_uris(&self) -> &BTreeMap<u16, String> {
        &self.north_uris
    }

    /// Datagrams dropped so far.
    pub(crate) fn dropped(&self) -> u64 {
        self.dropped
    }

    /// Failed writes of the gateway state so far.
    pub(crate) fn state_write_failures(&self) -> u64 {
        self.state_write_failures
    }

    /// Sets the waker of `outlet`'s driver.
    pub(crate) fn set_waker(&mut self, outlet: Outlet, waker: Waker) {
        self.wakers.insert(outlet, waker);
    }

    /// Starts the gateway (Register north); returns the drivers to wake.
    pub(crate) fn start(&mut self, now: Instant) -> Vec<Waker> {
        self.gateway.start(now);
        self.step(now, None)
    }

    /// De-registers from every distant server; returns the drivers to wake.
    pub(crate) fn deregister(&mut self, now: Instant) -> Vec<Waker> {
        self.gateway.deregister_north(now);
        self.step(now, None)
    }

    /// Drains the gateway after an input that arrived through `from`.
    fn step(&mut self, now: Instant, from: Option<Outlet>) -> Vec<Waker> {
        while let Some(event) = self.gateway.poll_event() {
            self.on_event(now, event);
        }
        StateChange::append(&mut self.unsaved, self.gateway.take_state_changes(), MAX_UNSAVED);
        if !self.unsaved.is_empty() {
            self.save_state();
        }
        // A datagram of this step may acknowledge what changed the state (a prefix handed to
        // a new End-Device, a reporting setting written by a server): it must not leave before
        // the state is on disk, or a restart would forget what the peer was told. So while the
        // state is unsaved every datagram is dropped. Peers retransmit their CON requests; the
        // CoAP layer answers a retransmission from its cache without changing the state again,
        // which is why the write is retried at every step (above) rather than only on
        // `StateChanged`, and why steps that changed nothing are held back too. The gateway's
        // own CON requests are retransmitted by its endpoint.
        let hold_back = !self.unsaved.is_empty();
        while let Some((face, transmit)) = self.gateway.poll_transmit(now, &mut self.buf) {
            if hold_back {
                self.dropped += 1;
                continue;
            }
            let outlet = self.route(face, &transmit.peer);
            let datagram = self.buf.get(..transmit.len).unwrap_or_default().to_vec();
            match self.queues.get_mut(&outlet) {
                Some(queue) => {
                    if queue.len() >= MAX_QUEUE {
                        queue.pop_front();
                        self.dropped += 1;
                    }
                    queue.push_back((transmit.peer, datagram));
                }
                None => {
                    self.dropped += 1;
                    tracing::debug!(?outlet, to = %transmit.peer.addr, "no socket for this datagram; dropped");
                }
            }
        }
        let mut wake: Vec<Waker> = self
            .queues
            .iter()
            .filter(|(outlet, queue)| Some(**outlet) != from && !queue.is_empty())
            .filter_map(|(outlet, _)| self.wakers.get(outlet).cloned())
            .collect();
        if from != Some(self.timer) {
            let deadline = self.gateway.poll_timeout();
            let earlier = match (deadline, self.timer_seen) {
                (Some(new), Some(seen)) => new < seen,
                (Some(_), None) => true,
                (None, _) => false,
            };
            if earlier {
                if let Some(waker) = self.wakers.get(&self.timer) {
                    wake.push(waker.clone());
                }
            }
        }
        wake
    }

    /// Binds the End-Device certificate name `cn` to the endpoint of the same name, so that the
    /// south server refuses that certificate for any other endpoint (PSK identities are bound
    /// from the configuration). False when the name can be no endpoint: such a peer is refused.
    fn bind_certificate(&mut self, cn: &str) -> bool {
        if self.psk_identities.contains(cn) || self.bound_names.contains(cn) {
            return true;
        }
        let Ok(endpoint) = EndpointName::new(cn) else { return false };
        if self.bound_names.len() >= MAX_BOUND_NAMES {
            return false;
        }
        if self.gateway.server().security().get(&endpoint).is_none() {
            let info = SecurityInfo { endpoint, psk_identity: None, x509_cn: Some(cn.to_owned()) };
            if let Err(error) = self.gateway.server_mut().add_security(info) {
                tracing::warn!(%cn, error = %error, "certificate name not bound to its endpoint");
                return false;
            }
        }
        self.bound_names.insert(cn.to_owned());
        true
    }

    fn route(&self, face: Face, peer: &Peer) -> Outlet {
        match face {
            Face::North => Outlet::North(peer.addr),
            Face::South => {
                let secure = self.queues.contains_key(&Outlet::SouthSecure);
                let plain = self.queues.contains_key(&Outlet::SouthPlain);
                match (peer.identity.is_some(), secure, plain) {
                    (true, true, _) | (false, true, false) => Outlet::SouthSecure,
                    _ => Outlet::SouthPlain,
                }
            }
        }
    }

    /// Writes the gateway state; on failure it stays unsaved and the failure is counted.
    fn save_state(&mut self) {
        match self.store.save_changes(self.gateway.state(), &self.unsaved) {
            Ok(()) => self.unsaved.clear(),
            Err(error) => {
                self.state_write_failures += 1;
                tracing::error!(
                    error = %format!("{:#}", anyhow::Error::from(error)),
                    failures = self.state_write_failures,
                    "gateway state not persisted; this step's datagrams are dropped"
                );
            }
        }
    }

    fn remember(&self, endpoint: &str, prefix: &str, connected: bool, now: Instant) {
        let device = KnownEndDevice {
            endpoint: endpoint.to_owned(),
            prefix: prefix.to_owned(),
            connected,
            changed_ms: wall_ms(now),
        };
        if let Err(error) = self.store.put_end_device(&device) {
            tracing::error!(%endpoint, error = %error, "end device not persisted");
        }
    }

    fn on_event(&mut self, now: Instant, event: GatewayEvent) {
        match event {
            // Its changes are written once per step, after every event (see `step`).
            GatewayEvent::StateChanged => {}
            GatewayEvent::EndDeviceAdded { endpoint, prefix } => {
                tracing::info!(%endpoint, %prefix, "end device registered");
                self.remember(endpoint.as_str(), prefix.as_str(), true, now);
            }
            GatewayEvent::EndDeviceRemoved { endpoint, prefix } => {
                tracing::info!(%endpoint, %prefix, "end device gone");
                self.remember(endpoint.as_str(), prefix.as_str(), false, now);
            }
            GatewayEvent::InventoryChanged => {}
            GatewayEvent::North(event) => self.on_north(event),
        }
    }

    fn on_north(&mut self, event: ClientEvent) {
        match event {
            ClientEvent::Registered { server, location, version } => {
                let uri = self.north_uris.get(&server.0).cloned().unwrap_or_else(|| format!("server {}", server.0));
                tracing::info!(%uri, %location, %version, "registered north");
                println!("registered to {uri} as {}", self.endpoint);
                self.registered.insert(server.0, uri);
            }
            ClientEvent::RegistrationFailed { server, code } => {
                let uri = self.north_uris.get(&server.0).map_or("?", String::as_str);
                let code = code.map_or_else(|| "no answer".to_owned(), |c| c.to_string());
                tracing::warn!(%uri, %code, "registration failed; retrying later");
                self.registered.remove(&server.0);
            }
            ClientEvent::Deregistered { server } => {
                let uri = self.north_uris.get(&server.0).map_or("?", String::as_str);
                tracing::info!(%uri, "de-registered north");
                self.registered.remove(&server.0);
            }
            other => tracing::debug!(event = ?other, "north client"),
        }
    }
}

/// The engine each socket's driver runs: one outlet of the shared hub.
pub(crate) struct FaceEngine {
    hub: SharedHub,
    outlet: Outlet,
}

impl std::fmt::Debug for FaceEngine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FaceEngine").field("outlet", &self.outlet).finish_non_exhaustive()
    }
}

impl FaceEngine {
    /// The engine of `outlet`.
    pub(crate) fn new(hub: SharedHub, outlet: Outlet) -> Self {
        Self { hub, outlet }
    }
}

fn wake_all(wakers: Vec<Waker>) {
    for waker in wakers {
        waker();
    }
}

impl Engine for FaceEngine {
    fn handle_datagram(&mut self, now: Instant, peer: Peer, datagram: &[u8]) {
        let wakers = {
            let mut hub = lock(&self.hub);
            let face = match self.outlet {
                Outlet::North(server) if peer.addr != server => {
                    hub.dropped += 1;
                    tracing::debug!(from = %peer.addr, "datagram from a stranger on a north socket; dropped");
                    return;
                }
                Outlet::North(_) => Face::North,
                Outlet::SouthSecure => {
                    if let Some(cn) = peer.identity.as_deref() {
                        if !hub.bind_certificate(cn) {
                            hub.dropped += 1;
                            tracing::debug!(from = %peer.addr, "certificate names no endpoint; dropped");
                            return;
                        }
                    }
                    Face::South
                }
                Outlet::SouthPlain => Face::South,
            };
            hub.gateway.handle_datagram(now, face, peer, datagram);
            hub.step(now, Some(self.outlet))
        };
        wake_all(wakers);
    }

    fn handle_timeout(&mut self, now: Instant) {
        let wakers = {
            let mut hub = lock(&self.hub);
            if hub.gateway.poll_timeout().is_some_and(|at| at <= now) {
                hub.gateway.handle_timeout(now);
            }
            hub.step(now, Some(self.outlet))
        };
        wake_all(wakers);
    }

    fn poll_transmit(&mut self, _now: Instant, buf: &mut Vec<u8>) -> Option<Transmit> {
        let mut hub = lock(&self.hub);
        let (peer, datagram) = hub.queues.get_mut(&self.outlet)?.pop_front()?;
        buf.clear();
        buf.extend_from_slice(&datagram);
        Some(Transmit { peer, len: datagram.len() })
    }

    fn poll_timeout(&self) -> Option<Instant> {
        let mut hub = lock(&self.hub);
        if hub.timer != self.outlet {
            return None;
        }
        let deadline = hub.gateway.poll_timeout();
        hub.timer_seen = deadline;
        deadline
    }
}
