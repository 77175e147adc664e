//! The LwM2M Client engine: one [`coap::Endpoint`], the [`ObjectTree`], a registration session
//! per management server, the bootstrap client, the observations it serves and Send.
//!
//! # Runtime interface
//!
//! The engine implements [`coap::Engine`]: feed it datagrams and timeouts, drain
//! `poll_transmit`, sleep until `poll_timeout`, then drain [`Client::poll_event`]. Each server's
//! address comes from its `/0/x/0` URI, which must hold an IP literal (no DNS here). Outgoing
//! datagrams carry `Peer { addr, identity: None }`; a runtime that runs DTLS (`coaps://`) sets
//! up one DTLS client session per address (e.g. the `transport` crate's `DtlsClient`, one socket
//! per server) with the credentials given by [`ClientEvent::ConnectionNeeded`] (also listed by
//! [`Client::connections`]), routes datagrams by address, and calls
//! [`Client::register_again`] after a full handshake when the server wants it (pitfall 7).
//!
//! No I/O, no clock: every input carries `now`.

use std::collections::{BTreeMap, VecDeque};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use coap::{Code, Endpoint, Engine, Event, Peer, Reliability, Request, Response, Token, Transmit};
use lwm2m::{NotificationAttributes, Path, Record, ServerDefaults, Value, Version};

use crate::bootstrap::{self, BootstrapState};
use crate::dispatch::{self, DmContext, DmError, ADVERTISED_FORMATS};
use crate::object::{parse_instances, Action, InstanceValues, ResourceChange, ResourceValue, ServerId};
use crate::objects::security::SecurityInstance;
use crate::objects::server::{ServerInstance, OBJECT_ID as SERVER_OBJECT};
use crate::observe::{LastSent, Observation, Observations};
use crate::proxy::{self, ProxyHandle};
use crate::queue;
use crate::registration::{self, RegState, ServerSession};
use crate::send::{self, SendError};
use crate::tree::ObjectTree;

pub use crate::config::{ClientConfig, Connection};
pub use crate::event::ClientEvent;
pub use crate::registration::ServerAddrError;

/// Most events kept for the application; older ones are dropped beyond this.
const MAX_EVENTS: usize = 1024;

/// The LwM2M client engine. See the module docs for the runtime interface.
#[derive(Debug)]
pub struct Client {
    config: ClientConfig,
    endpoint: Endpoint,
    tree: ObjectTree,
    sessions: BTreeMap<ServerId, ServerSession>,
    bootstrap: BootstrapState,
    observations: Observations,
    sends: BTreeMap<Token, ServerId>,
    events: VecDeque<ClientEvent>,
    /// The latest `now` seen, for queries that take no time argument.
    last_now: Instant,
    /// End-Device prefixes whose requests go to the application.
    proxy_prefixes: std::collections::BTreeSet<String>,
    /// The application's own record of its End-Device prefixes, asked besides `proxy_prefixes`.
    shared_prefixes: Option<Box<dyn proxy::ProxyPrefixes>>,
    /// Proxied Observe requests (answered or not) whose cancellation the application hears of.
    proxy_observations: std::collections::BTreeSet<(Peer, Token)>,
}

impl Client {
    /// A client with the factory configuration in `tree` (its `/0` and `/1` instances).
    pub fn new(now: Instant, config: ClientConfig, tree: ObjectTree, rng_seed: [u8; 32]) -> Self {
        let endpoint = Endpoint::new(config.coap.clone(), rng_seed);
        Self {
            config,
            endpoint,
            tree,
            sessions: BTreeMap::new(),
            bootstrap: BootstrapState::Idle,
            observations: Observations::default(),
            sends: BTreeMap::new(),
            events: VecDeque::new(),
            last_now: now,
            proxy_prefixes: std::collections::BTreeSet::new(),
            shared_prefixes: None,
            proxy_observations: std::collections::BTreeSet::new(),
        }
    }

    /// Starts: registers with every configured server, or bootstraps when none is configured.
    pub fn start(&mut self, now: Instant) {
        self.reload_sessions(now);
        if self.sessions.is_empty() {
            self.start_bootstrap(now);
        }
        self.drive(now);
    }

    /// The object tree.
    pub fn tree(&self) -> &ObjectTree {
        &self.tree
    }

    /// The object tree, mutable. Call [`Client::value_changed`] for values changed through it,
    /// [`Client::objects_changed`] after adding or removing instances, and [`Client::start`]
    /// again after changing server accounts (`/0`, `/1`).
    pub fn tree_mut(&mut self) -> &mut ObjectTree {
        &mut self.tree
    }

    /// The CoAP endpoint (for statistics).
    pub fn endpoint(&self) -> &Endpoint {
        &self.endpoint
    }

    /// The session with `server`.
    pub fn session(&self, server: ServerId) -> Option<&ServerSession> {
        self.sessions.get(&server)
    }

    /// Whether the client holds a registration with `server`.
    pub fn is_registered(&self, server: ServerId) -> bool {
        self.sessions.get(&server).is_some_and(ServerSession::is_registered)
    }

    /// Where the bootstrap stands.
    pub fn bootstrap_state(&self) -> &BootstrapState {
        &self.bootstrap
    }

    /// The observations being served.
    pub fn observations(&self) -> &Observations {
        &self.observations
    }

    /// What the runtime needs to reach each configured server (and the bootstrap server).
    pub fn connections(&self) -> Vec<Connection> {
        let now = self.last_now;
        let mut out: Vec<Connection> =
            self.accounts(now).into_iter().filter_map(|(id, a)| Connection::new(Some(id), &a).ok()).collect();
        if let Some((_, account)) = bootstrap::bootstrap_account(&self.tree, now) {
            out.extend(Connection::new(None, &account).ok());
        }
        out
    }

    /// The next event for the application.
    pub fn poll_event(&mut self) -> Option<ClientEvent> {
        self.events.pop_front()
    }

    /// Whether an event waits.
    pub fn has_event(&self) -> bool {
        !self.events.is_empty()
    }

    /// Sets a resource (or resource instance) locally, as the device itself would (no access
    /// checks, no model checks) and lets observations know.
    pub fn set_value(&mut self, now: Instant, path: Path, value: Value) -> Result<(), DmError> {
        let (o, i, r, ri) = match path {
            Path::Resource(o, i, r) => (o, i, r, None),
            Path::ResourceInstance(o, i, r, ri) => (o, i, r, Some(ri)),
            _ => return Err(DmError::NotAllowed(format!("set_value on {path}"))),
        };
        let new = match ri {
            None => ResourceValue::Single(value),
            Some(ri) => {
                let mut map = match self.tree.resource(now, o, i, r) {
                    Some(ResourceValue::Multiple(map)) => map,
                    _ => BTreeMap::new(),
                };
                map.insert(ri, value);
                ResourceValue::Multiple(map)
            }
        };
        let object = self.tree.object_mut(o).ok_or(DmError::NotFound(Path::Object(o)))?;
        object.write(now, i, vec![ResourceChange { resource: r, value: Some(new) }])?;
        self.value_changed(now, Path::Resource(o, i, r));
        Ok(())
    }

    /// Tells the client the value at `path` changed on its own (a sensor reading).
    pub fn value_changed(&mut self, now: Instant, path: Path) {
        self.observations.mark_changed(&path);
        self.drive(now);
    }

    /// Tells the client instances were added or removed locally: every server gets an Update
    /// with the new object list.
    pub fn objects_changed(&mut self, now: Instant) {
        let ids: Vec<ServerId> = self.sessions.keys().copied().collect();
        for id in ids {
            self.request_update(now, id);
        }
        self.drive(now);
    }

    /// Sends an Update to `server` now (or right after the exchange in flight).
    pub fn update(&mut self, now: Instant, server: ServerId) {
        self.request_update(now, server);
        self.drive(now);
    }

    /// Registers again with `server` now, even if registered (pitfall 7: a 1.0/1.1 server wants a
    /// Register after every new DTLS session; the runtime calls this after a full handshake).
    pub fn register_again(&mut self, now: Instant, server: ServerId) {
        if let Some(session) = self.sessions.get_mut(&server) {
            if !matches!(session.state, RegState::Registering { .. } | RegState::Deregistering { .. }) {
                session.state = RegState::Idle { retry_at: Some(now) };
            }
        }
        self.drive(now);
    }

    /// Registers again with every server that is not registered (after [`Client::deregister_all`]
    /// or a failure), now.
    pub fn register_all(&mut self, now: Instant) {
        for session in self.sessions.values_mut() {
            if matches!(session.state, RegState::Idle { .. }) {
                session.state = RegState::Idle { retry_at: Some(now) };
            }
        }
        self.drive(now);
    }

    /// De-registers from every server.
    pub fn deregister_all(&mut self, now: Instant) {
        let ids: Vec<ServerId> = self.sessions.keys().copied().collect();
        for id in ids {
            self.deregister(now, id, None);
        }
        self.drive(now);
    }

    /// Starts a client-initiated bootstrap.
    pub fn bootstrap(&mut self, now: Instant) {
        self.start_bootstrap(now);
        self.drive(now);
    }

    /// Sends the values at `paths` to `server` (`POST /dp`, SenML CBOR). Refused unless the
    /// server's `/1/x/23` Mute Send is present and false. In queue mode while asleep an Update
    /// goes first (the endpoint keeps the order).
    pub fn send(&mut self, now: Instant, server: ServerId, paths: &[Path]) -> Result<Token, SendError> {
        let mut records: Vec<Record> = Vec::new();
        for path in paths {
            records.extend(self.tree.records(now, path, true).unwrap_or_default());
        }
        self.send_records(now, server, &records)
    }

    /// Sets the End-Device prefixes whose requests go to the application as
    /// [`ClientEvent::ProxyRequest`] (see [`crate::proxy`]).
    pub fn set_proxy_prefixes(&mut self, prefixes: impl IntoIterator<Item = String>) {
        self.proxy_prefixes = prefixes.into_iter().collect();
    }

    /// Adds one End-Device prefix to those of [`Client::set_proxy_prefixes`].
    pub fn add_proxy_prefix(&mut self, prefix: &str) {
        if !self.proxy_prefixes.contains(prefix) {
            self.proxy_prefixes.insert(prefix.to_owned());
        }
    }

    /// Removes one End-Device prefix from those of [`Client::set_proxy_prefixes`].
    pub fn remove_proxy_prefix(&mut self, prefix: &str) {
        self.proxy_prefixes.remove(prefix);
    }

    /// Asks `prefixes` too, for every request, whether its prefix is an End-Device's (besides the
    /// prefixes of [`Client::set_proxy_prefixes`]): the client then keeps no copy of them.
    pub fn share_proxy_prefixes(&mut self, prefixes: Box<dyn proxy::ProxyPrefixes>) {
        self.shared_prefixes = Some(prefixes);
    }

    /// Whether `request` is for an End-Device behind the application (see [`crate::proxy`]).
    fn is_proxied(&self, request: &Request) -> bool {
        if self.proxy_prefixes.is_empty() && self.shared_prefixes.is_none() {
            return false;
        }
        proxy::is_proxied(request, |prefix| {
            self.proxy_prefixes.contains(prefix) || self.shared_prefixes.as_ref().is_some_and(|p| p.contains(prefix))
        })
    }

    /// Answers a [`ClientEvent::ProxyRequest`]. For an Observe, a 2.xx answer starts the
    /// observation; later notifications go with [`Client::notify_proxied`].
    pub fn respond_proxied(
        &mut self,
        now: Instant,
        handle: &ProxyHandle,
        response: Response,
    ) -> Result<(), coap::SendError> {
        let key = (handle.peer.clone(), handle.token);
        if !response.code.is_success() {
            self.proxy_observations.remove(&key);
        }
        let result = self.endpoint.send_response(now, &handle.peer, handle.token, response);
        if result.is_err() {
            self.proxy_observations.remove(&key);
        }
        self.drive(now);
        result
    }

    /// Sends one notification of a proxied observation; a non-2.xx code ends it.
    pub fn notify_proxied(
        &mut self,
        now: Instant,
        handle: &ProxyHandle,
        response: Response,
        reliability: Reliability,
    ) -> Result<(), coap::SendError> {
        let ends = !response.code.is_success();
        let result = self.endpoint.send_notification(now, &handle.peer, handle.token, response, reliability);
        if ends || result.is_err() {
            self.proxy_observations.remove(&(handle.peer.clone(), handle.token));
        }
        self.drive(now);
        result
    }

    /// Forgets a proxied observation without telling the server (after its registration ended);
    /// a later notification would be refused.
    pub fn forget_proxied(&mut self, handle: &ProxyHandle) {
        self.proxy_observations.remove(&(handle.peer.clone(), handle.token));
        self.endpoint.forget_observer(&handle.peer, handle.token);
    }

    /// Tells the client the value at `path` changed, for the observations of `servers` only
    /// (the others notice it at their next `pmax`).
    pub fn value_changed_for(&mut self, now: Instant, path: Path, servers: &[ServerId]) {
        self.observations.mark_changed_for(&path, servers);
        self.drive(now);
    }

    /// Sends `records` (paths may carry End-Device prefixes) to `server` (`POST /dp`, SenML
    /// CBOR), with the same rules as [`Client::send`].
    pub fn send_records(&mut self, now: Instant, server: ServerId, records: &[Record]) -> Result<Token, SendError> {
        let session = self.sessions.get(&server).ok_or(SendError::UnknownServer(server))?;
        if !session.is_registered() {
            return Err(SendError::NotRegistered(server));
        }
        let settings = self.server_settings(now, server).ok_or(SendError::UnknownServer(server))?;
        if !settings.send_allowed() {
            return Err(SendError::Muted(server));
        }
        let request = send::send_request(records, self.tree.registry())?;
        self.wake(now, server);
        let peer = self.sessions.get(&server).map(|s| s.peer.clone()).ok_or(SendError::UnknownServer(server))?;
        let token = self.endpoint.send_request(now, peer, request, Reliability::Confirmable)?;
        self.sends.insert(token, server);
        if let Some(session) = self.sessions.get_mut(&server) {
            queue::touch(session, now);
        }
        self.drive(now);
        Ok(token)
    }

    // ----- internals -----

    fn emit(&mut self, event: ClientEvent) {
        if self.events.len() >= MAX_EVENTS {
            self.events.pop_front();
        }
        self.events.push_back(event);
    }

    /// The non-bootstrap Security accounts by Short Server ID.
    fn accounts(&self, now: Instant) -> Vec<(ServerId, SecurityInstance)> {
        let Some(object) = self.tree.object(crate::objects::security::OBJECT_ID) else { return Vec::new() };
        parse_instances(object, now, |_, values| SecurityInstance::from_values(values))
            .into_iter()
            .filter(|a| !a.bootstrap)
            .filter_map(|a| Some((a.server_id?, a)))
            .collect()
    }

    /// The Server instance of `server`.
    fn server_settings(&self, now: Instant, server: ServerId) -> Option<ServerInstance> {
        let object = self.tree.object(SERVER_OBJECT)?;
        let matching =
            |_, values: &dyn InstanceValues| ServerInstance::from_values(values).filter(|s| s.server_id == server);
        parse_instances(object, now, matching).into_iter().next()
    }

    fn server_instances(&self, now: Instant) -> Vec<ServerInstance> {
        let Some(object) = self.tree.object(SERVER_OBJECT) else { return Vec::new() };
        parse_instances(object, now, |_, values| ServerInstance::from_values(values))
    }

    /// Builds a session for every Server instance with a Security account; keeps sessions whose
    /// URI did not change, drops the others.
    fn reload_sessions(&mut self, now: Instant) {
        let accounts = self.accounts(now);
        let servers = self.server_instances(now);
        let mut next = BTreeMap::new();
        for server in servers {
            let Some((_, account)) = accounts.iter().find(|(id, _)| *id == server.server_id) else { continue };
            if let Some(existing) = self.sessions.remove(&server.server_id).filter(|s| s.uri == account.uri) {
                next.insert(server.server_id, existing);
                continue;
            }
            match Connection::new(Some(server.server_id), account) {
                Ok(connection) => {
                    let peer = Peer::udp(connection.addr);
                    let session =
                        ServerSession::new(now, server.server_id, peer, account.uri.clone(), self.config.version);
                    next.insert(server.server_id, session);
                    self.emit(ClientEvent::ConnectionNeeded(connection));
                }
                Err(error) => {
                    tracing::warn!(%error, server = %server.server_id, "server account unusable");
                    self.emit(ClientEvent::RegistrationFailed { server: server.server_id, code: None });
                }
            }
        }
        for id in self.sessions.keys().copied().collect::<Vec<_>>() {
            self.drop_observations(id);
        }
        self.sessions = next;
    }

    fn links(&self, version: Version) -> String {
        registration::links_payload(&self.tree.object_links(), version, &ADVERTISED_FORMATS)
    }

    fn register(&mut self, now: Instant, id: ServerId) {
        let Some(settings) = self.server_settings(now, id) else {
            self.sessions.remove(&id);
            return;
        };
        let Some(session) = self.sessions.get(&id) else { return };
        let version = session.version;
        let links = self.links(version);
        let request = registration::register_request(&self.config.endpoint_name, &settings, version, &links);
        let peer = session.peer.clone();
        let result = self.endpoint.send_request(now, peer, request, Reliability::Confirmable);
        let retry_at = now + self.config.retry_delay;
        let Some(session) = self.sessions.get_mut(&id) else { return };
        match result {
            Ok(token) => {
                session.state = RegState::Registering { token };
                session.registered = Some((settings.lifetime, settings.binding.clone()));
                session.registered_links = Some(registration::links_digest(&links));
                session.update_pending = false;
                queue::touch(session, now);
            }
            Err(error) => {
                tracing::debug!(%error, server = %id, "register not sent");
                session.state = RegState::Idle { retry_at: Some(retry_at) };
                self.emit(ClientEvent::RegistrationFailed { server: id, code: None });
            }
        }
    }

    fn request_update(&mut self, now: Instant, id: ServerId) {
        let Some(session) = self.sessions.get_mut(&id) else { return };
        match session.state {
            RegState::Registered { .. } => self.send_update(now, id),
            RegState::Registering { .. } | RegState::Updating { .. } => session.update_pending = true,
            _ => {}
        }
    }

    /// Queue mode: an Update ends the sleep (once; later traffic waits for its answer).
    fn wake(&mut self, now: Instant, id: ServerId) {
        let Some(session) = self.sessions.get(&id) else { return };
        if session.sleeping && matches!(session.state, RegState::Registered { .. }) {
            self.send_update(now, id);
        }
    }

    fn send_update(&mut self, now: Instant, id: ServerId) {
        let Some(settings) = self.server_settings(now, id) else {
            // The Server instance is gone: so is the session.
            self.sessions.remove(&id);
            self.drop_observations(id);
            return;
        };
        let Some(session) = self.sessions.get(&id) else { return };
        let links = self.links(session.version);
        let request = registration::update_request(session, &settings, &links);
        let result = self.endpoint.send_request(now, session.peer.clone(), request, Reliability::Confirmable);
        let Some(session) = self.sessions.get_mut(&id) else { return };
        match result {
            Ok(token) => {
                session.state = RegState::Updating { token };
                session.registered = Some((settings.lifetime, settings.binding.clone()));
                session.registered_links = Some(registration::links_digest(&links));
                session.update_pending = false;
                queue::touch(session, now);
            }
            Err(error) => {
                tracing::debug!(%error, server = %id, "update not sent; registering again");
                session.state = RegState::Idle { retry_at: Some(now) };
            }
        }
    }

    fn deregister(&mut self, now: Instant, id: ServerId, disable_until: Option<Instant>) {
        let Some(session) = self.sessions.get_mut(&id) else { return };
        if !session.is_registered() {
            session.state = match disable_until {
                Some(until) => RegState::Disabled { until },
                None => RegState::Idle { retry_at: None },
            };
            return;
        }
        let request = Request::delete(&session.location_path());
        match self.endpoint.send_request(now, session.peer.clone(), request, Reliability::Confirmable) {
            Ok(token) => session.state = RegState::Deregistering { token, disable_until },
            Err(error) => {
                tracing::debug!(%error, server = %id, "de-register not sent");
                session.state = RegState::Idle { retry_at: None };
            }
        }
        self.drop_observations(id);
    }

    fn start_bootstrap(&mut self, now: Instant) {
        if !matches!(self.bootstrap, BootstrapState::Idle) {
            return;
        }
        let Some((_, account)) = bootstrap::bootstrap_account(&self.tree, now) else {
            self.emit(ClientEvent::BootstrapFailed { reason: "no bootstrap server account".to_owned() });
            return;
        };
        let connection = match Connection::new(None, &account) {
            Ok(connection) => connection,
            Err(error) => {
                self.emit(ClientEvent::BootstrapFailed { reason: error.to_string() });
                return;
            }
        };
        let peer = Peer::udp(connection.addr);
        self.emit(ClientEvent::ConnectionNeeded(connection));
        let request = bootstrap::bootstrap_request(&self.config.endpoint_name, self.config.version);
        match self.endpoint.send_request(now, peer.clone(), request, Reliability::Confirmable) {
            Ok(token) => {
                self.bootstrap = BootstrapState::Requesting { token, peer };
                self.emit(ClientEvent::BootstrapStarted);
            }
            Err(error) => self.emit(ClientEvent::BootstrapFailed { reason: error.to_string() }),
        }
    }

    fn bootstrap_peer(&self, now: Instant) -> Option<SocketAddr> {
        match &self.bootstrap {
            BootstrapState::Requesting { peer, .. } | BootstrapState::Waiting { peer, .. } => Some(peer.addr),
            BootstrapState::Idle => bootstrap::bootstrap_account(&self.tree, now)
                .and_then(|(_, a)| registration::parse_server_uri(&a.uri).ok())
                .map(|(addr, _)| addr),
        }
    }

    /// Processes everything due: endpoint events, object actions, timers, notifications.
    fn drive(&mut self, now: Instant) {
        self.last_now = self.last_now.max(now);
        for _ in 0..64 {
            let mut progressed = false;
            while let Some(event) = self.endpoint.poll_event() {
                progressed = true;
                self.on_endpoint_event(now, event);
            }
            progressed |= self.drain_objects(now);
            progressed |= self.run_timers(now);
            self.run_observations(now);
            if !progressed {
                break;
            }
        }
    }

    fn on_endpoint_event(&mut self, now: Instant, event: Event) {
        match event {
            Event::Request { peer, token, request, observe } => self.on_request(now, peer, token, &request, observe),
            Event::Response { token, response } => self.on_response(now, token, Some(&response)),
            Event::Failed { token, error } => {
                tracing::debug!(%error, "exchange failed");
                self.on_response(now, token, None);
            }
            Event::ObservationCancelled { peer, token } => {
                if self.proxy_observations.remove(&(peer.clone(), token)) {
                    if let Some(server) =
                        self.sessions.iter().find(|(_, s)| s.peer.addr == peer.addr).map(|(id, _)| *id)
                    {
                        self.emit(ClientEvent::ProxyObservationCancelled {
                            handle: ProxyHandle { server, peer, token },
                        });
                    }
                    return;
                }
                self.observations.remove(&peer, token);
            }
            Event::Notification { .. } | Event::Pong { .. } => {}
        }
    }

    fn on_request(&mut self, now: Instant, peer: Peer, token: Token, request: &Request, observe: bool) {
        if self.bootstrap_peer(now) == Some(peer.addr) {
            if self.is_proxied(request) {
                // Bootstrap operations never target End-Devices (Gateway TS §8.1).
                self.respond(now, &peer, token, Response::new(Code::METHOD_NOT_ALLOWED));
                return;
            }
            let reply = bootstrap::handle(&mut self.tree, now, request, self.config.version);
            self.respond(now, &peer, token, reply.response);
            if let BootstrapState::Waiting { deadline, .. } = &mut self.bootstrap {
                *deadline = now + self.config.coap.exchange_lifetime();
            }
            if reply.finished {
                self.bootstrap = BootstrapState::Idle;
                self.emit(ClientEvent::BootstrapFinished);
                for id in self.sessions.keys().copied().collect::<Vec<_>>() {
                    self.drop_observations(id);
                }
                self.sessions.clear();
                self.reload_sessions(now);
            }
            return;
        }
        let Some(id) = self.sessions.iter().find(|(_, s)| s.peer.addr == peer.addr).map(|(id, _)| *id) else {
            tracing::debug!(addr = %peer.addr, "request from an unknown peer");
            self.respond(now, &peer, token, Response::new(Code::UNAUTHORIZED));
            return;
        };
        if self.is_proxied(request) {
            if let Some(session) = self.sessions.get_mut(&id) {
                queue::touch(session, now);
                session.sleeping = false;
            }
            if observe {
                self.proxy_observations.insert((peer.clone(), token));
            }
            let handle = ProxyHandle { server: id, peer, token };
            self.emit(ClientEvent::ProxyRequest { handle, request: request.clone(), observe });
            return;
        }
        let enforce_acl = self.sessions.len() > 1;
        let Some(session) = self.sessions.get_mut(&id) else { return };
        queue::touch(session, now);
        session.sleeping = false;
        let version = session.version;
        let mut ctx = DmContext {
            now,
            tree: &mut self.tree,
            server: id,
            version,
            attributes: &mut session.attributes,
            enforce_acl,
        };
        let (response, outcome) = dispatch::handle(&mut ctx, request, observe);
        let success = response.code.is_success();
        self.respond(now, &peer, token, response);
        if let (Some(target), true) = (outcome.observe, success) {
            let observation = Observation {
                server: id,
                peer: peer.clone(),
                token,
                paths: target.paths,
                composite: target.composite,
                format: target.format,
                last_sent: LastSent::of(&target.records),
                last_sent_at: now,
                last_evaluated_at: now,
                dirty: false,
                due: false,
            };
            if !self.observations.insert(observation) {
                tracing::debug!("observation table full; not serving this one");
                self.endpoint.forget_observer(&peer, token);
            }
        }
        if let Some(path) = outcome.cancel_observations {
            for (peer, token) in self.observations.remove_path(id, &path) {
                // A 1.0 server cancelled through Write-Attributes: the observation just stops.
                self.endpoint.forget_observer(&peer, token);
            }
        }
        let mut servers_to_update = Vec::new();
        for path in &outcome.changed {
            self.observations.mark_changed(path);
            if let Path::Resource(SERVER_OBJECT, i, 1 | 7) = *path {
                if let Some(values) = self.tree.object(SERVER_OBJECT).and_then(|o| o.read(now, i)) {
                    servers_to_update.extend(ServerInstance::from_values(&values).map(|s| s.server_id));
                }
            }
            if path.object_id().is_some_and(|o| o >= 3) {
                self.emit(ClientEvent::WriteApplied { server: id, path: *path });
            }
        }
        for server in servers_to_update {
            self.request_update(now, server);
        }
        if outcome.instances_changed {
            for id in self.sessions.keys().copied().collect::<Vec<_>>() {
                self.request_update(now, id);
            }
        }
    }

    /// Ends every observation of `server`, at the endpoint too (a new registration voids them).
    fn drop_observations(&mut self, server: ServerId) {
        for (peer, token) in self.observations.remove_server(server) {
            self.endpoint.forget_observer(&peer, token);
        }
    }

    fn respond(&mut self, now: Instant, peer: &Peer, token: Token, response: Response) {
        if let Err(error) = self.endpoint.send_response(now, peer, token, response) {
            tracing::debug!(%error, "response not sent");
        }
    }

    fn on_response(&mut self, now: Instant, token: Token, response: Option<&Response>) {
        if let Some(server) = self.sends.remove(&token) {
            match response {
                Some(r) if r.code.is_success() => self.emit(ClientEvent::SendAcknowledged { server, token }),
                other => self.emit(ClientEvent::SendFailed { server, token, code: other.map(|r| r.code) }),
            }
            return;
        }
        if matches!(&self.bootstrap, BootstrapState::Requesting { token: t, .. } if *t == token) {
            let BootstrapState::Requesting { peer, .. } = std::mem::replace(&mut self.bootstrap, BootstrapState::Idle)
            else {
                return;
            };
            match response {
                Some(r) if r.code.is_success() => {
                    let deadline = now + self.config.coap.exchange_lifetime();
                    self.bootstrap = BootstrapState::Waiting { peer, deadline };
                }
                other => {
                    let reason = other.map_or("no answer".to_owned(), |r| format!("answered {}", r.code));
                    self.emit(ClientEvent::BootstrapFailed { reason });
                }
            }
            return;
        }
        let Some(id) = self.sessions.iter().find(|(_, s)| state_token(&s.state) == Some(token)).map(|(id, _)| *id)
        else {
            return;
        };
        let lifetime = self.server_settings(now, id).map_or(0, |s| s.lifetime);
        let update_at = registration::update_deadline(now, lifetime, self.config.update_margin);
        let retry_at = now + self.config.retry_delay;
        let Some(session) = self.sessions.get_mut(&id) else { return };
        if response.is_some() {
            queue::touch(session, now);
        }
        match (&session.state, response) {
            (RegState::Registering { .. }, Some(r)) if r.code == Code::CREATED => {
                session.failures = 0;
                session.location = registration::location_of(r);
                session.state = RegState::Registered { update_at };
                session.sleeping = false;
                let (version, location, pending) = (session.version, session.location_path(), session.update_pending);
                self.drop_observations(id);
                self.emit(ClientEvent::Registered { server: id, version, location });
                if pending {
                    self.send_update(now, id);
                }
            }
            (RegState::Registering { .. }, Some(r)) if registration::asks_for_fallback(r, session.version) => {
                tracing::debug!(server = %id, "server refused LwM2M 1.1; registering as 1.0");
                session.version = Version::V1_0;
                self.register(now, id);
            }
            (RegState::Registering { .. }, other) => {
                session.state = RegState::Idle { retry_at: Some(retry_at) };
                session.failures = session.failures.saturating_add(1);
                let give_up = session.failures >= self.config.register_attempts;
                self.emit(ClientEvent::RegistrationFailed { server: id, code: other.map(|r| r.code) });
                let bootstrap_allowed = self.server_settings(now, id).is_none_or(|s| s.bootstrap_on_failure);
                if give_up && bootstrap_allowed && bootstrap::bootstrap_account(&self.tree, now).is_some() {
                    tracing::info!(server = %id, "registration keeps failing; bootstrapping");
                    if let Some(session) = self.sessions.get_mut(&id) {
                        session.state = RegState::Idle { retry_at: None };
                    }
                    self.start_bootstrap(now);
                }
            }
            (RegState::Updating { .. }, Some(r)) if r.code.is_success() => {
                session.state = RegState::Registered { update_at };
                session.sleeping = false;
                let pending = session.update_pending;
                self.emit(ClientEvent::Updated { server: id });
                if pending {
                    self.send_update(now, id);
                }
            }
            (RegState::Updating { .. }, _) => {
                // 4.04 (registration gone) or any other failure: Register again.
                self.drop_observations(id);
                self.register(now, id);
            }
            (RegState::Deregistering { disable_until, .. }, _) => {
                session.state = match disable_until {
                    Some(until) => RegState::Disabled { until: *until },
                    None => RegState::Idle { retry_at: None },
                };
                self.emit(ClientEvent::Deregistered { server: id });
            }
            _ => {}
        }
    }

    /// Handles object actions and spontaneous value changes; `true` if there were any.
    fn drain_objects(&mut self, now: Instant) -> bool {
        let mut actions = Vec::new();
        let mut changed = Vec::new();
        for object in self.tree.objects_mut() {
            while let Some(action) = object.poll_action() {
                actions.push(action);
            }
            while let Some(path) = object.poll_changed() {
                changed.push(path);
            }
        }
        let progressed = !actions.is_empty() || !changed.is_empty();
        for path in changed {
            self.observations.mark_changed(&path);
        }
        for action in actions {
            match action {
                Action::RegistrationUpdate(id) => self.request_update(now, id),
                Action::BootstrapRequest(_) => self.start_bootstrap(now),
                Action::Disable(id) => {
                    let timeout = self.server_settings(now, id).map_or(86_400, |s| s.disable_timeout);
                    self.deregister(now, id, Some(now + Duration::from_secs(u64::from(timeout))));
                }
                Action::Reboot => self.emit(ClientEvent::RebootRequested),
                Action::FactoryReset => self.emit(ClientEvent::FactoryResetRequested),
                Action::Executed { path, arguments } => self.emit(ClientEvent::Executed { path, arguments }),
            }
        }
        progressed
    }

    fn queue_mode(&self, now: Instant, id: ServerId) -> bool {
        self.server_settings(now, id).is_some_and(|s| s.queue_mode())
    }

    /// Registration, queue-mode and bootstrap timers; `true` if one fired.
    fn run_timers(&mut self, now: Instant) -> bool {
        let mut fired = false;
        let awake_window = self.config.coap.max_transmit_wait();
        for id in self.sessions.keys().copied().collect::<Vec<_>>() {
            let queue_mode = self.queue_mode(now, id);
            let Some(session) = self.sessions.get_mut(&id) else { continue };
            match session.state {
                RegState::Idle { retry_at: Some(at) } | RegState::Disabled { until: at } if at <= now => {
                    fired = true;
                    self.register(now, id);
                }
                RegState::Registered { update_at: Some(at) } if at <= now => {
                    fired = true;
                    self.send_update(now, id);
                }
                _ => {
                    if queue::sleep_at(session, queue_mode, awake_window).is_some_and(|at| at <= now) {
                        session.sleeping = true;
                        fired = true;
                        self.emit(ClientEvent::Sleeping { server: id });
                    }
                }
            }
        }
        if matches!(self.bootstrap, BootstrapState::Waiting { deadline, .. } if deadline <= now) {
            self.bootstrap = BootstrapState::Idle;
            fired = true;
            self.emit(ClientEvent::BootstrapFailed { reason: "no bootstrap-finish in time".to_owned() });
        }
        fired
    }

    /// The attributes in effect for `observation`, and whether it goes confirmable.
    fn observation_attributes(&self, now: Instant, observation: &Observation) -> (NotificationAttributes, bool) {
        let settings = self.server_settings(now, observation.server);
        let defaults = ServerDefaults {
            pmin: settings.as_ref().and_then(|s| s.default_pmin),
            pmax: settings.as_ref().and_then(|s| s.default_pmax),
        };
        let attrs = match (observation.composite, observation.paths.first(), self.sessions.get(&observation.server)) {
            (false, Some(path), Some(session)) => session.attributes.effective(path, defaults),
            _ => NotificationAttributes { pmin: defaults.pmin, pmax: defaults.pmax, ..Default::default() },
        };
        let con = attrs.con.unwrap_or_else(|| settings.is_some_and(|s| s.confirmable_notifications));
        (attrs, con)
    }

    /// Whether notifications may go to `server` now (registered, not asleep).
    fn can_notify(&self, server: ServerId) -> bool {
        self.sessions.get(&server).is_some_and(|s| s.is_registered() && !s.sleeping)
    }

    fn run_observations(&mut self, now: Instant) {
        let keys: Vec<(Peer, Token)> = self.observations.iter().map(|o| (o.peer.clone(), o.token)).collect();
        for (peer, token) in keys {
            let Some(found) = self.observations.iter().find(|o| o.peer == peer && o.token == token) else {
                continue;
            };
            let (attrs, con) = self.observation_attributes(now, found);
            if found.deadline(&attrs).is_none_or(|at| at > now) {
                continue;
            }
            // Copies of the small fields only: this runs after every input.
            let (server, dirty, composite, format, paths) =
                (found.server, found.dirty, found.composite, found.format, found.paths.clone());
            if !self.can_notify(server) {
                if dirty {
                    self.wake(now, server);
                }
                continue;
            }
            let mut current = Vec::new();
            let mut gone = false;
            for path in &paths {
                match self.tree.records(now, path, true) {
                    Ok(records) => current.extend(records),
                    Err(DmError::NotFound(_)) if !composite => gone = true,
                    Err(_) => {}
                }
            }
            if gone {
                let response = Response::new(Code::NOT_FOUND);
                let _ = self.endpoint.send_response(now, &peer, token, response);
                self.observations.remove(&peer, token);
                continue;
            }
            let Some(stored) = self.observations.iter_mut().find(|o| o.peer == peer && o.token == token) else {
                continue;
            };
            if !stored.decide(now, &attrs, &current) {
                continue;
            }
            let target = if composite { Path::Root } else { paths.first().copied().unwrap_or(Path::Root) };
            let encoded =
                lwm2m::format::encode(format, &current, &lwm2m::PrefixedPath::plain(target), self.tree.registry());
            stored.sent(now, &current);
            let response = match encoded {
                Ok(payload) => Response::content(format, payload),
                Err(error) => {
                    tracing::debug!(%error, "notification cannot be encoded");
                    Response::new(Code::INTERNAL_SERVER_ERROR)
                }
            };
            let reliability = if con { Reliability::Confirmable } else { Reliability::NonConfirmable };
            if let Err(error) = self.endpoint.send_notification(now, &peer, token, response, reliability) {
                tracing::debug!(%error, "notification not sent; observation ends");
                self.observations.remove(&peer, token);
            }
            if let Some(session) = self.sessions.get_mut(&server) {
                queue::touch(session, now);
            }
        }
    }

    /// The engine's own next deadline (registration, queue mode, bootstrap, observations).
    fn own_timeout(&self) -> Option<Instant> {
        let awake_window = self.config.coap.max_transmit_wait();
        let mut next: Option<Instant> = None;
        let mut consider = |at: Option<Instant>| {
            if let Some(at) = at {
                next = Some(next.map_or(at, |n: Instant| n.min(at)));
            }
        };
        for (id, session) in &self.sessions {
            match session.state {
                RegState::Idle { retry_at } => consider(retry_at),
                RegState::Disabled { until } => consider(Some(until)),
                RegState::Registered { update_at } => consider(update_at),
                _ => {}
            }
            let queue_mode = self.queue_mode(self.last_now, *id);
            consider(queue::sleep_at(session, queue_mode, awake_window));
        }
        if let BootstrapState::Waiting { deadline, .. } = self.bootstrap {
            consider(Some(deadline));
        }
        for observation in self.observations.iter() {
            if self.can_notify(observation.server) {
                let (attrs, _) = self.observation_attributes(self.last_now, observation);
                consider(observation.deadline(&attrs));
            }
        }
        next
    }
}

fn state_token(state: &RegState) -> Option<Token> {
    match state {
        RegState::Registering { token } | RegState::Updating { token } | RegState::Deregistering { token, .. } => {
            Some(*token)
        }
        _ => None,
    }
}

impl Engine for Client {
    fn handle_datagram(&mut self, now: Instant, peer: Peer, datagram: &[u8]) {
        self.endpoint.handle_datagram(now, peer, datagram);
        self.drive(now);
    }

    fn handle_timeout(&mut self, now: Instant) {
        self.endpoint.handle_timeout(now);
        self.drive(now);
    }

    fn poll_transmit(&mut self, now: Instant, buf: &mut Vec<u8>) -> Option<Transmit> {
        self.endpoint.poll_transmit(now, buf)
    }

    fn poll_timeout(&self) -> Option<Instant> {
        match (self.endpoint.poll_timeout(), self.own_timeout()) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }
}
