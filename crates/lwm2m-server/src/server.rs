//! The LwM2M Server engine (spec notes §2.2–2.5, §3.2, §6, §7.5): one [`coap::Endpoint`], the
//! registration [`Directory`], the [`SecurityStore`], pending requests, observations, queue-mode
//! delivery and the End-Device view of gateways. Sans-IO: no sockets, no clock.

use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant};

use coap::{Code, ContentFormat, Endpoint, Engine, Event, OptionNumber, Peer, Reliability, Request, Response, Token};
use lwm2m::format::{self, Record};
use lwm2m::{EndpointName, Path, Prefix, PrefixedPath, RegisterParams, Registry, UpdateParams};
use rand::SeedableRng;
use rand_chacha::ChaCha20Rng;

use crate::config::ServerConfig;
use crate::directory::Directory;
use crate::end_device::{self, EndDevice, GATEWAY_OBJECT};
use crate::event::ServerEvent;
use crate::observation::{Observation, ObservationId};
use crate::queue::QueueState;
use crate::registration::{parse_objects, Registration, RegistrationError, RegistrationId};
use crate::request::{self, DmRequest, Expect, RequestId, RequestOptions, SendError};
use crate::response::{self, Content, DmResponse, RequestFailure};
use crate::security::{SecurityError, SecurityInfo, SecurityStore};
use crate::timers::{Deadlines, Timer};

/// Who waits for the answer of a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Purpose {
    /// The application, through [`ServerEvent::Response`].
    User,
    /// The server itself: reading or observing `/25` of a gateway.
    Gateway,
    /// The application, for an active cancel of this observation.
    Cancel(ObservationId),
}

/// A request sent or about to be sent.
#[derive(Debug, Clone)]
struct Pending {
    id: RequestId,
    endpoint: EndpointName,
    registration: RegistrationId,
    expect: Expect,
    observe: Option<(Vec<PrefixedPath>, bool)>,
    purpose: Purpose,
    /// When its [`Timer::RequestTimeout`] fires, once on the wire.
    timeout_at: Option<Instant>,
}

/// What goes on the wire.
#[derive(Debug, Clone)]
enum Form {
    /// A new request.
    Request(Request),
    /// An active cancel of the observation with this token.
    Cancel(Token),
}

/// A request waiting for a queue-mode client.
#[derive(Debug)]
struct Outgoing {
    pending: Pending,
    form: Form,
    timeout: Duration,
}

/// Gateway object reads retried in a row after a block-wise transfer saw `/25` change.
const MAX_GATEWAY_RETRIES: u8 = 8;

/// The LwM2M Server engine. Implements [`coap::Engine`]: after every input or command drain
/// `poll_transmit`, read `poll_timeout`, then take [`ServerEvent`]s with
/// [`poll_event`](Self::poll_event).
#[derive(Debug)]
pub struct Server {
    config: ServerConfig,
    endpoint: Endpoint,
    rng: ChaCha20Rng,
    /// Shared with whoever handed it over (a gateway's north client); copied on first change.
    registry: Arc<Registry>,
    security: SecurityStore,
    directory: Directory,
    queues: BTreeMap<RegistrationId, QueueState<Outgoing>>,
    queued_total: usize,
    /// The registration of each queued request, and when its [`Timer::QueueWait`] fires.
    queued_owner: BTreeMap<RequestId, (RegistrationId, Instant)>,
    pending: BTreeMap<Token, Pending>,
    observations: BTreeMap<ObservationId, Observation>,
    observation_tokens: BTreeMap<Token, ObservationId>,
    gateway_observations: BTreeMap<ObservationId, RegistrationId>,
    /// Gateway object reads retried in a row because `/25` changed during a block-wise transfer.
    gateway_retries: BTreeMap<RegistrationId, u8>,
    end_devices: BTreeMap<RegistrationId, BTreeMap<EndpointName, EndDevice>>,
    end_device_index: BTreeMap<EndpointName, RegistrationId>,
    deadlines: Deadlines,
    next_request: u64,
    next_observation: u64,
    events: VecDeque<ServerEvent>,
}

impl Server {
    /// A server with `config`, the object models of `registry` (a `Registry`, or an
    /// `Arc<Registry>` to share one), and `rng_seed` for tokens and registration IDs (same seed
    /// and inputs, same outputs).
    pub fn new(config: ServerConfig, registry: impl Into<Arc<Registry>>, rng_seed: [u8; 32]) -> Self {
        let mut endpoint_seed = rng_seed;
        endpoint_seed[0] ^= 0x5a;
        Self {
            endpoint: Endpoint::new(config.endpoint.clone(), endpoint_seed),
            rng: ChaCha20Rng::from_seed(rng_seed),
            registry: registry.into(),
            security: SecurityStore::new(),
            directory: Directory::new(),
            queues: BTreeMap::new(),
            queued_total: 0,
            queued_owner: BTreeMap::new(),
            pending: BTreeMap::new(),
            observations: BTreeMap::new(),
            observation_tokens: BTreeMap::new(),
            gateway_observations: BTreeMap::new(),
            gateway_retries: BTreeMap::new(),
            end_devices: BTreeMap::new(),
            end_device_index: BTreeMap::new(),
            deadlines: Deadlines::default(),
            next_request: 0,
            next_observation: 0,
            events: VecDeque::new(),
            config,
        }
    }

    /// The configuration.
    pub fn config(&self) -> &ServerConfig {
        &self.config
    }

    /// The CoAP endpoint underneath (statistics, table sizes).
    pub fn endpoint(&self) -> &Endpoint {
        &self.endpoint
    }

    /// The object models used to decode and encode payloads.
    pub fn registry(&self) -> &Registry {
        &self.registry
    }

    /// The object models, to add user models (a shared registry is copied first).
    pub fn registry_mut(&mut self) -> &mut Registry {
        Arc::make_mut(&mut self.registry)
    }

    /// The security store.
    pub fn security(&self) -> &SecurityStore {
        &self.security
    }

    /// Adds or replaces the security info of an endpoint; later Registers are checked with it.
    pub fn add_security(&mut self, info: SecurityInfo) -> Result<Option<SecurityInfo>, SecurityError> {
        self.security.add(info)
    }

    /// Removes the security info of an endpoint. A registration it secured ends with it
    /// ([`ServerEvent::Deregistered`]), as its credentials no longer vouch for it.
    pub fn remove_security(&mut self, endpoint: &EndpointName) -> Option<SecurityInfo> {
        let info = self.security.remove(endpoint)?;
        let secured = self
            .directory
            .by_endpoint(endpoint)
            .filter(|reg| reg.identity().is_some_and(|identity| info.matches(identity)))
            .map(|reg| reg.id.clone());
        if let Some(registration) = secured.and_then(|id| self.discard_registration(&id)) {
            self.events.push_back(ServerEvent::Deregistered { registration });
        }
        Some(info)
    }

    /// Every registration.
    pub fn registrations(&self) -> impl Iterator<Item = &Registration> + '_ {
        self.directory.iter()
    }

    /// The registration of `endpoint`.
    pub fn registration(&self, endpoint: &EndpointName) -> Option<&Registration> {
        self.directory.by_endpoint(endpoint)
    }

    /// The registration `peer` holds (by DTLS identity, or by address for NoSec peers).
    pub fn registration_of_peer(&self, peer: &Peer) -> Option<&Registration> {
        self.directory.by_peer(peer)
    }

    /// Every End-Device known from the gateways' `/25`.
    pub fn end_devices(&self) -> impl Iterator<Item = &EndDevice> + '_ {
        self.end_devices.values().flat_map(BTreeMap::values)
    }

    /// The End-Device named `endpoint`.
    pub fn end_device(&self, endpoint: &EndpointName) -> Option<&EndDevice> {
        let gateway = self.end_device_index.get(endpoint)?;
        self.end_devices.get(gateway)?.get(endpoint)
    }

    /// The End-Device behind `gateway` with `prefix` (to attribute prefixed Send records).
    pub fn end_device_by_prefix(&self, gateway: &EndpointName, prefix: &Prefix) -> Option<&EndDevice> {
        let registration = self.directory.by_endpoint(gateway)?;
        self.end_devices.get(&registration.id)?.values().find(|device| &device.prefix == prefix)
    }

    /// Every established observation (the server's own `/25` observations excluded).
    pub fn observations(&self) -> impl Iterator<Item = &Observation> + '_ {
        self.observations.values().filter(|o| !self.gateway_observations.contains_key(&o.id))
    }

    /// Whether the queue-mode client of `endpoint` listens now (non-queue clients always do).
    pub fn is_awake(&self, now: Instant, endpoint: &EndpointName) -> bool {
        self.directory
            .by_endpoint(endpoint)
            .is_some_and(|reg| !reg.queue_mode || self.queues.get(&reg.id).is_some_and(|q| q.is_awake(now)))
    }

    /// The next event for the application.
    #[must_use]
    pub fn poll_event(&mut self) -> Option<ServerEvent> {
        self.events.pop_front()
    }

    /// Whether an event is waiting.
    pub fn has_event(&self) -> bool {
        !self.events.is_empty()
    }

    /// Sends `request` to `endpoint` (a registration's endpoint name, or an End-Device's, in
    /// which case it goes over its gateway with the prefix in front). The answer comes as
    /// [`ServerEvent::Response`] with the returned ID. For a sleeping queue-mode client the
    /// request waits until the client wakes up.
    pub fn send(
        &mut self,
        now: Instant,
        endpoint: &EndpointName,
        request: DmRequest,
        options: RequestOptions,
    ) -> Result<RequestId, SendError> {
        let (registration_id, prefix) =
            self.route(endpoint).ok_or_else(|| SendError::UnknownEndpoint(endpoint.to_string()))?;
        let (form, expect, observe, purpose) = match &request {
            DmRequest::CancelObservation { observation } | DmRequest::CancelCompositeObservation { observation } => {
                let composite = matches!(request, DmRequest::CancelCompositeObservation { .. });
                let obs = self
                    .observations
                    .get(observation)
                    .filter(|o| &o.endpoint == endpoint && o.composite == composite)
                    .ok_or(SendError::UnknownObservation(*observation))?;
                let target = if composite {
                    PrefixedPath::plain(Path::Root)
                } else {
                    obs.paths.first().cloned().unwrap_or_else(|| PrefixedPath::plain(Path::Root))
                };
                (Form::Cancel(obs.token), Expect::Records(target), None, Purpose::Cancel(*observation))
            }
            _ => {
                let registration = self
                    .directory
                    .get(&registration_id)
                    .ok_or_else(|| SendError::UnknownEndpoint(endpoint.to_string()))?;
                let built = request::build(&request, registration, prefix.as_ref(), &options, &self.registry)?;
                (Form::Request(built.request), built.expect, built.observe, Purpose::User)
            }
        };
        if observe.is_some() && self.observations.len() >= self.config.max_observations {
            return Err(SendError::TooManyObservations { limit: self.config.max_observations });
        }
        let id = self.next_request_id();
        let pending = Pending {
            id,
            endpoint: endpoint.clone(),
            registration: registration_id,
            expect,
            observe,
            purpose,
            timeout_at: None,
        };
        let timeout = options.timeout.unwrap_or(self.config.request_timeout);
        self.dispatch(now, Outgoing { pending, form, timeout })?;
        if let Purpose::Cancel(observation) = purpose {
            self.drop_observation(observation);
        }
        self.process_endpoint_events(now);
        Ok(id)
    }

    /// Ends the registration of `endpoint` as a De-register from the client would: its
    /// observations are passively cancelled, its requests fail, its End-Devices are removed,
    /// and [`ServerEvent::Deregistered`] is emitted. Nothing is sent to the client. Returns the
    /// registration, or `None` when `endpoint` has none here (End-Device names included).
    pub fn remove_registration(&mut self, now: Instant, endpoint: &EndpointName) -> Option<Registration> {
        let id = self.directory.by_endpoint(endpoint)?.id.clone();
        let registration = self.discard_registration(&id)?;
        tracing::debug!(%endpoint, %id, "registration removed");
        self.events.push_back(ServerEvent::Deregistered { registration: registration.clone() });
        self.process_endpoint_events(now);
        Some(registration)
    }

    /// Puts back a registration kept by the application across a restart (same ID, lifetime
    /// and object list), with its expiry timer armed from `registration.updated_at`. Refused
    /// when the directory is full or the endpoint or ID is already registered. No event is
    /// emitted for the registration itself. A gateway's `/25` is observed again right away
    /// (queued until it wakes up in queue mode), so its End-Devices come back with
    /// [`ServerEvent::EndDeviceRegistered`] events without waiting for its next Update.
    pub fn restore_registration(&mut self, now: Instant, registration: Registration) -> Result<(), RegistrationError> {
        if self.directory.get(&registration.id).is_some()
            || self.directory.by_endpoint(&registration.endpoint).is_some()
        {
            return Err(RegistrationError::AlreadyRegistered(registration.endpoint));
        }
        if self.directory.len() >= self.config.max_registrations {
            return Err(RegistrationError::DirectoryFull { limit: self.config.max_registrations });
        }
        let id = registration.id.clone();
        self.install(now, registration);
        self.read_gateway_object(now, &id);
        self.process_endpoint_events(now);
        Ok(())
    }

    /// Forgets an observation without telling the client (passive cancel): its next
    /// notification is answered with RST. Returns whether it existed.
    pub fn forget_observation(&mut self, observation: ObservationId) -> bool {
        match self.drop_observation(observation) {
            Some(obs) => {
                self.endpoint.cancel(obs.token);
                true
            }
            None => false,
        }
    }

    fn next_request_id(&mut self) -> RequestId {
        self.next_request += 1;
        RequestId(self.next_request)
    }

    /// The registration a request for `endpoint` travels over, and the End-Device prefix.
    fn route(&self, endpoint: &EndpointName) -> Option<(RegistrationId, Option<Prefix>)> {
        if let Some(reg) = self.directory.by_endpoint(endpoint) {
            return Some((reg.id.clone(), None));
        }
        let gateway = self.end_device_index.get(endpoint)?;
        let device = self.end_devices.get(gateway)?.get(endpoint)?;
        Some((gateway.clone(), Some(device.prefix.clone())))
    }

    /// Sends now, or queues for a queue-mode client that is asleep or busy.
    fn dispatch(&mut self, now: Instant, outgoing: Outgoing) -> Result<(), SendError> {
        if self.pending.len() + self.queued_total >= self.config.max_pending_requests {
            return Err(SendError::TooManyRequests { limit: self.config.max_pending_requests });
        }
        let registration = outgoing.pending.registration.clone();
        let Some(queue) = self.queues.get_mut(&registration) else {
            self.transmit(now, outgoing)?;
            return Ok(());
        };
        if queue.in_flight.is_none() && queue.len() == 0 && queue.is_awake(now) {
            let token = self.transmit(now, outgoing)?;
            if let Some(queue) = self.queues.get_mut(&registration) {
                queue.in_flight = Some(token);
            }
            return Ok(());
        }
        if queue.len() >= self.config.max_queued_per_registration {
            return Err(SendError::QueueFull { limit: self.config.max_queued_per_registration });
        }
        let id = outgoing.pending.id;
        queue.push(outgoing);
        self.queued_total += 1;
        let wait_until = deadline_after(now, self.config.max_queue_wait);
        self.queued_owner.insert(id, (registration, wait_until));
        self.deadlines.set(Timer::QueueWait(id), wait_until);
        Ok(())
    }

    /// Puts a request on the wire and remembers it by token.
    fn transmit(&mut self, now: Instant, outgoing: Outgoing) -> Result<Token, SendError> {
        let peer = self
            .directory
            .get(&outgoing.pending.registration)
            .map(Registration::peer)
            .ok_or_else(|| SendError::UnknownEndpoint(outgoing.pending.endpoint.to_string()))?;
        let token = match outgoing.form {
            Form::Request(request) => self.endpoint.send_request(now, peer, request, Reliability::Confirmable)?,
            Form::Cancel(token) => {
                self.endpoint.cancel_observation(now, token)?;
                token
            }
        };
        let timeout_at = deadline_after(now, outgoing.timeout);
        self.deadlines.set(Timer::RequestTimeout(token), timeout_at);
        self.pending.insert(token, Pending { timeout_at: Some(timeout_at), ..outgoing.pending });
        Ok(token)
    }

    /// Sends queued requests of a queue-mode client while it is awake, one at a time.
    fn pump(&mut self, now: Instant, registration: &RegistrationId) {
        loop {
            let Some(queue) = self.queues.get_mut(registration) else { return };
            let Some(outgoing) = queue.next_ready(now) else { return };
            self.queued_total = self.queued_total.saturating_sub(1);
            self.unqueue(outgoing.pending.id);
            let pending = outgoing.pending.clone();
            let cancel_token = match &outgoing.form {
                Form::Cancel(token) => Some(*token),
                Form::Request(_) => None,
            };
            match self.transmit(now, outgoing) {
                Ok(token) => {
                    if let Some(queue) = self.queues.get_mut(registration) {
                        queue.in_flight = Some(token);
                    }
                    return;
                }
                Err(error) => {
                    if let Some(token) = cancel_token {
                        self.endpoint.cancel(token);
                    }
                    self.fail(&pending, RequestFailure::NotSent(error.to_string()));
                }
            }
        }
    }

    /// Forgets that request `id` waits in a queue, with its [`Timer::QueueWait`].
    fn unqueue(&mut self, id: RequestId) {
        if let Some((_, wait_until)) = self.queued_owner.remove(&id) {
            self.deadlines.remove(Timer::QueueWait(id), wait_until);
        }
    }

    /// Takes the pending request of `token`, with its [`Timer::RequestTimeout`].
    fn take_pending(&mut self, token: Token) -> Option<Pending> {
        let pending = self.pending.remove(&token)?;
        if let Some(at) = pending.timeout_at {
            self.deadlines.remove(Timer::RequestTimeout(token), at);
        }
        Some(pending)
    }

    /// Reports a failed request to whoever waits for it.
    fn fail(&mut self, pending: &Pending, failure: RequestFailure) {
        match pending.purpose {
            Purpose::User | Purpose::Cancel(_) => self.events.push_back(ServerEvent::Response {
                id: pending.id,
                endpoint: pending.endpoint.clone(),
                result: Err(failure),
            }),
            Purpose::Gateway => {
                tracing::warn!(endpoint = %pending.endpoint, %failure, "reading the gateway object failed");
            }
        }
    }

    /// A message from the client of `registration` arrived: a queue-mode client is awake.
    fn wake(&mut self, now: Instant, registration: &RegistrationId) {
        let until = deadline_after(now, self.config.awake_time);
        let Some(queue) = self.queues.get_mut(registration) else { return };
        let armed = queue.awake_until();
        let was_asleep = queue.wake(now, until);
        self.deadlines.reset(Timer::Sleep(registration.clone()), armed, Some(until));
        if was_asleep {
            if let Some(reg) = self.directory.get(registration) {
                self.events.push_back(ServerEvent::Awake { endpoint: reg.endpoint.clone() });
            }
        }
        self.pump(now, registration);
    }

    fn drop_observation(&mut self, observation: ObservationId) -> Option<Observation> {
        let obs = self.observations.remove(&observation)?;
        self.observation_tokens.remove(&obs.token);
        self.gateway_observations.remove(&observation);
        Some(obs)
    }

    /// Drains the endpoint's events into the server's.
    fn process_endpoint_events(&mut self, now: Instant) {
        while let Some(event) = self.endpoint.poll_event() {
            match event {
                Event::Request { peer, token, request, .. } => self.on_request(now, peer, token, request),
                Event::Response { token, response } => self.on_response(now, token, response),
                Event::Notification { token, response } => self.on_notification(now, token, &response),
                Event::Failed { token, error } => self.on_failed(now, token, error),
                Event::Pong { .. } | Event::ObservationCancelled { .. } => {}
            }
        }
    }

    fn on_request(&mut self, now: Instant, peer: Peer, token: Token, request: Request) {
        let segments = request.options.uri_path();
        let segments: Vec<&str> = segments.iter().map(String::as_str).collect();
        let method = request.method;
        let (response, after) = match (segments.as_slice(), method) {
            (["rd"], Code::POST) => self.handle_register(now, &peer, &request),
            (["rd", id], Code::POST) => self.handle_update(now, &peer, id, &request),
            (["rd", id], Code::DELETE) => self.handle_deregister(now, &peer, id),
            (["dp"], Code::POST) => self.handle_send(&peer, &request),
            (["rd"] | ["rd", _] | ["dp"], _) => (Response::new(Code::METHOD_NOT_ALLOWED), None),
            _ => (Response::new(Code::NOT_FOUND), None),
        };
        if let Err(error) = self.endpoint.send_response(now, &peer, token, response) {
            tracing::warn!(%error, "cannot answer the client");
        }
        if let Some(registration) = after {
            self.after_client_message(now, &registration, method == Code::POST && segments.first() == Some(&"rd"));
        }
    }

    /// After answering Register/Update/Send: wake a queue-mode client and (re)read `/25`.
    fn after_client_message(&mut self, now: Instant, registration: &RegistrationId, registration_changed: bool) {
        self.wake(now, registration);
        if registration_changed {
            self.read_gateway_object(now, registration);
        }
    }

    fn refuse(error: &RegistrationError, operation: &str, peer: &Peer) -> Response {
        tracing::info!(%error, operation, addr = %peer.addr, "registration request refused");
        Response::new(Code::from(error))
    }

    fn handle_register(&mut self, now: Instant, peer: &Peer, request: &Request) -> (Response, Option<RegistrationId>) {
        match self.register(now, peer, request) {
            Ok(id) => {
                let response = Response::new(Code::CREATED)
                    .with_option(OptionNumber::LOCATION_PATH, "rd")
                    .with_option(OptionNumber::LOCATION_PATH, id.as_str());
                (response, Some(id))
            }
            Err(error) => (Self::refuse(&error, "register", peer), None),
        }
    }

    fn register(&mut self, now: Instant, peer: &Peer, request: &Request) -> Result<RegistrationId, RegistrationError> {
        let items = request.options.uri_query();
        let derived = peer.identity.as_deref().and_then(|identity| {
            self.security.iter().find(|info| info.matches(identity)).map(|info| info.endpoint.clone())
        });
        let params = RegisterParams::from_query_with_endpoint(&items, derived.as_ref())?;
        let version = params.effective_version();
        if version > self.config.max_version {
            return Err(RegistrationError::VersionNotSupported(version));
        }
        let objects = parse_objects(request.options.content_format(), &request.payload)?;
        for ignored in objects.ignored() {
            tracing::info!(endpoint = %params.endpoint, path = %ignored, "registration lists an object it must not");
        }
        self.security.check(&params.endpoint, peer.identity.as_deref(), self.config.allow_unknown_nosec)?;
        let old = self.directory.by_endpoint(&params.endpoint).map(|reg| reg.id.clone());
        if old.is_none() && self.directory.len() >= self.config.max_registrations {
            return Err(RegistrationError::DirectoryFull { limit: self.config.max_registrations });
        }
        let id = loop {
            let id = RegistrationId::random(&mut self.rng);
            if self.directory.get(&id).is_none() {
                break id;
            }
        };
        let replaced = old.and_then(|old| self.discard_registration(&old));
        let registration = Registration::new(id.clone(), peer.clone(), params, objects, now);
        self.install(now, registration.clone());
        tracing::debug!(endpoint = %registration.endpoint, %id, "registered");
        self.events.push_back(ServerEvent::Registered { registration, replaced });
        Ok(id)
    }

    /// Puts a registration into the directory and arms its timers.
    fn install(&mut self, now: Instant, registration: Registration) {
        let id = registration.id.clone();
        let grace = self.config.lifetime_grace;
        let armed = self.directory.get(&id).and_then(|previous| previous.expires_at(grace));
        self.deadlines.reset(Timer::Expiry(id.clone()), armed, registration.expires_at(grace));
        if registration.queue_mode {
            self.queues
                .entry(id.clone())
                .or_insert_with(|| QueueState::awake(deadline_after(now, self.config.awake_time)));
        } else if let Some(mut queue) = self.queues.remove(&id) {
            // Queue mode turned off: everything waiting goes out now.
            self.deadlines.reset(Timer::Sleep(id.clone()), queue.awake_until(), None);
            let waiting = queue.drain();
            self.queued_total = self.queued_total.saturating_sub(waiting.len());
            self.directory.insert(registration);
            for outgoing in waiting {
                self.unqueue(outgoing.pending.id);
                let pending = outgoing.pending.clone();
                if let Err(error) = self.transmit(now, outgoing) {
                    self.fail(&pending, RequestFailure::NotSent(error.to_string()));
                }
            }
            return;
        }
        self.directory.insert(registration);
    }

    fn handle_update(
        &mut self,
        now: Instant,
        peer: &Peer,
        id: &str,
        request: &Request,
    ) -> (Response, Option<RegistrationId>) {
        match self.update(now, peer, id, request) {
            Ok(id) => (Response::new(Code::CHANGED), Some(id)),
            Err(error) => (Self::refuse(&error, "update", peer), None),
        }
    }

    fn update(
        &mut self,
        now: Instant,
        peer: &Peer,
        id: &str,
        request: &Request,
    ) -> Result<RegistrationId, RegistrationError> {
        let id = RegistrationId::from_path_segment(id);
        let previous =
            self.directory.get(&id).cloned().ok_or_else(|| RegistrationError::UnknownRegistration(id.to_string()))?;
        if previous.identity() != peer.identity.as_deref() {
            return Err(RegistrationError::IdentityMismatch { id });
        }
        let params = UpdateParams::from_query(&request.options.uri_query(), previous.version)?;
        let objects = if request.payload.is_empty() {
            None
        } else {
            Some(parse_objects(request.options.content_format(), &request.payload)?)
        };
        let registration = previous.updated(peer.clone(), params, objects, now);
        self.install(now, registration.clone());
        if !previous.is_peer(peer) {
            self.endpoint.set_nstart(&previous.peer(), None);
            self.sync_gateway_nstart(&id);
        }
        self.events.push_back(ServerEvent::Updated { previous, registration });
        Ok(id)
    }

    fn handle_deregister(&mut self, _now: Instant, peer: &Peer, id: &str) -> (Response, Option<RegistrationId>) {
        let id = RegistrationId::from_path_segment(id);
        let error = match self.directory.get(&id) {
            None => RegistrationError::UnknownRegistration(id.to_string()),
            Some(reg) if reg.identity() != peer.identity.as_deref() => RegistrationError::IdentityMismatch { id },
            Some(_) => {
                if let Some(registration) = self.discard_registration(&id) {
                    self.events.push_back(ServerEvent::Deregistered { registration });
                }
                return (Response::new(Code::DELETED), None);
            }
        };
        (Self::refuse(&error, "de-register", peer), None)
    }

    fn handle_send(&mut self, peer: &Peer, request: &Request) -> (Response, Option<RegistrationId>) {
        let Some(registration) = self.directory.by_peer(peer) else {
            tracing::info!(addr = %peer.addr, "send from a peer without registration");
            return (Response::new(Code::NOT_FOUND), None);
        };
        let (id, endpoint) = (registration.id.clone(), registration.endpoint.clone());
        let cf = request.options.content_format();
        let records = match cf {
            Some(cf @ (ContentFormat::SENML_JSON | ContentFormat::SENML_CBOR | ContentFormat::LWM2M_CBOR)) => {
                format::decode(cf, &request.payload, &PrefixedPath::plain(Path::Root), &self.registry)
                    .map_err(|e| e.to_string())
            }
            other => Err(format!("content format {:?} is not a send format", other.map(|cf| cf.0))),
        };
        match records {
            Ok(records) => {
                self.events.push_back(ServerEvent::Send { endpoint, records });
                (Response::new(Code::CHANGED), Some(id))
            }
            Err(reason) => {
                tracing::info!(%endpoint, reason, "send refused");
                (Response::new(Code::BAD_REQUEST), Some(id))
            }
        }
    }

    /// Removes a registration with everything tied to it: observations (passively cancelled,
    /// so the client's next notification gets RST), requests (failed), End-Devices (removed).
    fn discard_registration(&mut self, id: &RegistrationId) -> Option<Registration> {
        let registration = self.directory.remove(id)?;
        self.endpoint.set_nstart(&registration.peer(), None);
        self.deadlines.reset(Timer::Expiry(id.clone()), registration.expires_at(self.config.lifetime_grace), None);
        let sleep_at = self.queues.get(id).and_then(QueueState::awake_until);
        self.deadlines.reset(Timer::Sleep(id.clone()), sleep_at, None);
        let observations: Vec<ObservationId> =
            self.observations.values().filter(|o| &o.registration == id).map(|o| o.id).collect();
        for observation in observations {
            self.forget_observation(observation);
        }
        let tokens: Vec<Token> =
            self.pending.iter().filter(|(_, p)| &p.registration == id).map(|(token, _)| *token).collect();
        for token in tokens {
            if let Some(pending) = self.take_pending(token) {
                self.endpoint.cancel(token);
                self.fail(&pending, RequestFailure::RegistrationEnded);
            }
        }
        if let Some(mut queue) = self.queues.remove(id) {
            for outgoing in queue.drain() {
                self.queued_total = self.queued_total.saturating_sub(1);
                self.unqueue(outgoing.pending.id);
                if let Form::Cancel(token) = outgoing.form {
                    self.endpoint.cancel(token);
                }
                self.fail(&outgoing.pending, RequestFailure::RegistrationEnded);
            }
        }
        self.set_end_devices(id, &registration.endpoint, BTreeMap::new());
        self.end_devices.remove(id);
        self.gateway_retries.remove(id);
        Some(registration)
    }

    /// After Register or Update of a gateway: observe `/25` once, else read it again.
    fn read_gateway_object(&mut self, now: Instant, registration: &RegistrationId) {
        let Some(reg) = self.directory.get(registration) else { return };
        if !reg.is_gateway() {
            return;
        }
        let observed = self.gateway_observations.values().any(|r| r == registration);
        let pending = self
            .pending
            .values()
            .chain(self.queued_pendings(registration))
            .any(|p| p.purpose == Purpose::Gateway && &p.registration == registration);
        if pending {
            return;
        }
        let path = PrefixedPath::plain(Path::Object(GATEWAY_OBJECT));
        let request =
            if observed { DmRequest::Read { path, format: None } } else { DmRequest::Observe { path, format: None } };
        let endpoint = reg.endpoint.clone();
        let built = match request::build(&request, reg, None, &RequestOptions::default(), &self.registry) {
            Ok(built) => built,
            Err(error) => {
                tracing::warn!(%endpoint, %error, "cannot build the gateway object read");
                return;
            }
        };
        let pending = Pending {
            id: self.next_request_id(),
            endpoint,
            registration: registration.clone(),
            expect: built.expect,
            observe: built.observe,
            purpose: Purpose::Gateway,
            timeout_at: None,
        };
        let outgoing = Outgoing { pending, form: Form::Request(built.request), timeout: self.config.request_timeout };
        if let Err(error) = self.dispatch(now, outgoing) {
            tracing::warn!(%error, "cannot send the gateway object read");
        }
    }

    /// A gateway object transfer failed because `/25` changed between two blocks (a gateway
    /// whose End-Devices are registering): read it again, at most [`MAX_GATEWAY_RETRIES`]
    /// times in a row, so the view does not wait for the gateway's next Update.
    fn retry_gateway_object(&mut self, now: Instant, registration: &RegistrationId) {
        let retries = self.gateway_retries.entry(registration.clone()).or_insert(0);
        if *retries >= MAX_GATEWAY_RETRIES {
            tracing::warn!(%registration, "gateway object kept changing during its transfer; next read at the next update");
            return;
        }
        *retries += 1;
        self.read_gateway_object(now, registration);
    }

    /// The requests waiting for the queue-mode client of `registration`.
    fn queued_pendings<'a>(&'a self, registration: &RegistrationId) -> impl Iterator<Item = &'a Pending> + 'a {
        self.queues.get(registration).into_iter().flat_map(|q| q.iter().map(|o| &o.pending))
    }

    /// Replaces the End-Devices of a gateway registration, emitting the differences.
    fn set_end_devices(
        &mut self,
        registration: &RegistrationId,
        gateway: &EndpointName,
        devices: BTreeMap<EndpointName, EndDevice>,
    ) {
        let old = self.end_devices.remove(registration).unwrap_or_default();
        for (name, device) in &old {
            if devices.contains_key(name) {
                continue;
            }
            if self.end_device_index.get(name) == Some(registration) {
                self.end_device_index.remove(name);
            }
            let observations: Vec<ObservationId> =
                self.observations.values().filter(|o| &o.endpoint == name).map(|o| o.id).collect();
            for observation in observations {
                self.forget_observation(observation);
            }
            self.events
                .push_back(ServerEvent::EndDeviceRemoved { gateway: gateway.clone(), end_device: device.clone() });
        }
        let mut kept = BTreeMap::new();
        for (name, device) in devices {
            if self.directory.by_endpoint(&name).is_some()
                || self.end_device_index.get(&name).is_some_and(|owner| owner != registration)
            {
                tracing::warn!(%gateway, end_device = %name, "end device name already in use; ignored");
                continue;
            }
            match old.get(&name) {
                Some(previous) if previous == &device => {}
                Some(previous) => self.events.push_back(ServerEvent::EndDeviceUpdated {
                    gateway: gateway.clone(),
                    previous: previous.clone(),
                    end_device: device.clone(),
                }),
                None => self.events.push_back(ServerEvent::EndDeviceRegistered {
                    gateway: gateway.clone(),
                    end_device: device.clone(),
                }),
            }
            self.end_device_index.insert(name.clone(), registration.clone());
            kept.insert(name, device);
        }
        if !kept.is_empty() {
            self.end_devices.insert(registration.clone(), kept);
        }
        self.sync_gateway_nstart(registration);
    }

    /// Lets as many requests be in flight toward a gateway as it has End-Devices, up to
    /// [`ServerConfig::gateway_nstart`] (never fewer than toward any peer).
    fn sync_gateway_nstart(&mut self, registration: &RegistrationId) {
        let Some(peer) = self.directory.get(registration).map(Registration::peer) else { return };
        let devices = self.end_devices.get(registration).map_or(0, BTreeMap::len);
        let nstart = devices.min(self.config.gateway_nstart).max(self.endpoint.config().nstart);
        if !self.endpoint.set_nstart(&peer, Some(nstart)) {
            tracing::warn!(addr = %peer.addr, nstart, "too many peers with their own nstart; this gateway keeps the default");
        }
    }

    fn on_gateway_records(&mut self, registration: &RegistrationId, records: &[Record]) {
        let Some(gateway) = self.directory.get(registration).map(|reg| reg.endpoint.clone()) else { return };
        let devices = end_device::from_records(records, &gateway);
        self.set_end_devices(registration, &gateway, devices);
    }

    fn on_response(&mut self, now: Instant, token: Token, response: Response) {
        let Some(pending) = self.take_pending(token) else { return };
        self.clear_in_flight(&pending.registration, token);
        let content = response::decode(&pending.expect, &response, &self.registry);
        let mut observation = None;
        if let Some((paths, composite)) = pending.observe.clone() {
            if response.code.is_success() && self.endpoint.is_observing(token) {
                observation = Some(self.establish(now, &pending, token, paths, composite));
            }
        }
        match pending.purpose {
            Purpose::User | Purpose::Cancel(_) => {
                let result = content.map(|content| DmResponse { code: response.code, content, observation });
                self.events.push_back(ServerEvent::Response { id: pending.id, endpoint: pending.endpoint, result });
            }
            Purpose::Gateway => {
                if let Some(observation) = observation {
                    self.gateway_observations.insert(observation, pending.registration.clone());
                }
                match content {
                    Ok(Content::Records(records)) => {
                        self.gateway_retries.remove(&pending.registration);
                        self.on_gateway_records(&pending.registration, &records);
                    }
                    Ok(_) => {
                        tracing::warn!(endpoint = %pending.endpoint, code = %response.code, "gateway object read refused")
                    }
                    Err(error) => tracing::warn!(endpoint = %pending.endpoint, %error, "gateway object unreadable"),
                }
            }
        }
        // An answer is a message from the client.
        self.wake(now, &pending.registration);
    }

    fn establish(
        &mut self,
        now: Instant,
        pending: &Pending,
        token: Token,
        paths: Vec<PrefixedPath>,
        composite: bool,
    ) -> ObservationId {
        self.next_observation += 1;
        let id = ObservationId(self.next_observation);
        let observation = Observation {
            id,
            endpoint: pending.endpoint.clone(),
            registration: pending.registration.clone(),
            paths,
            composite,
            token,
            established_at: now,
        };
        self.observation_tokens.insert(token, id);
        self.observations.insert(id, observation);
        id
    }

    fn clear_in_flight(&mut self, registration: &RegistrationId, token: Token) {
        if let Some(queue) = self.queues.get_mut(registration) {
            if queue.in_flight == Some(token) {
                queue.in_flight = None;
            }
        }
    }

    fn on_notification(&mut self, now: Instant, token: Token, response: &Response) {
        let Some(id) = self.observation_tokens.get(&token).copied() else { return };
        let Some(observation) = self.observations.get(&id).cloned() else { return };
        let internal = self.gateway_observations.contains_key(&id);
        if response.code.is_success() {
            let target = match (observation.paths.as_slice(), observation.composite) {
                ([path], false) => path.clone(),
                _ => PrefixedPath::plain(Path::Root),
            };
            match response::decode(&Expect::Records(target), response, &self.registry) {
                Ok(Content::Records(records)) if internal => {
                    self.on_gateway_records(&observation.registration, &records);
                }
                Ok(Content::Records(records)) => self.events.push_back(ServerEvent::Notification {
                    endpoint: observation.endpoint.clone(),
                    observation: id,
                    paths: observation.paths.clone(),
                    records,
                }),
                Ok(_) => {}
                Err(error) => tracing::warn!(endpoint = %observation.endpoint, %error, "undecodable notification"),
            }
        }
        // A non-2.xx notification, or one without Observe, ends the observation (RFC 7641 §3.2).
        if !response.code.is_success() || response.options.observe().is_none() {
            self.drop_observation(id);
            if !internal {
                self.events.push_back(ServerEvent::ObservationEnded {
                    endpoint: observation.endpoint.clone(),
                    observation: id,
                });
            }
        }
        self.wake(now, &observation.registration);
    }

    fn on_failed(&mut self, now: Instant, token: Token, error: coap::ExchangeError) {
        if let Some(pending) = self.take_pending(token) {
            self.clear_in_flight(&pending.registration, token);
            let changed = pending.purpose == Purpose::Gateway && error == coap::ExchangeError::BlockMismatch;
            self.fail(&pending, RequestFailure::Exchange(error));
            self.pump(now, &pending.registration);
            if changed {
                self.retry_gateway_object(now, &pending.registration);
            }
        } else if let Some(id) = self.observation_tokens.get(&token).copied() {
            let gateway = self.gateway_observations.contains_key(&id);
            if let Some(observation) = self.drop_observation(id) {
                if !gateway {
                    self.events
                        .push_back(ServerEvent::ObservationEnded { endpoint: observation.endpoint, observation: id });
                }
            }
        }
    }

    /// Whether `timer`, due at `at`, is still armed by its owner (a timer left behind by a
    /// disarm that missed is dropped rather than acted on).
    fn is_armed(&self, at: Instant, timer: &Timer) -> bool {
        let armed = match timer {
            Timer::Expiry(id) => self.directory.get(id).and_then(|reg| reg.expires_at(self.config.lifetime_grace)),
            Timer::RequestTimeout(token) => self.pending.get(token).and_then(|pending| pending.timeout_at),
            Timer::Sleep(id) => self.queues.get(id).and_then(QueueState::awake_until),
            Timer::QueueWait(request) => self.queued_owner.get(request).map(|(_, wait_until)| *wait_until),
        };
        armed == Some(at)
    }

    fn on_timer(&mut self, now: Instant, at: Instant, timer: Timer) {
        if !self.is_armed(at, &timer) {
            tracing::debug!(?timer, "stale timer dropped");
            return;
        }
        match timer {
            Timer::Expiry(id) => {
                if let Some(registration) = self.discard_registration(&id) {
                    tracing::info!(endpoint = %registration.endpoint, %id, "registration expired");
                    self.events.push_back(ServerEvent::Expired { registration });
                }
            }
            Timer::RequestTimeout(token) => {
                if let Some(pending) = self.pending.remove(&token) {
                    self.endpoint.cancel(token);
                    self.clear_in_flight(&pending.registration, token);
                    self.fail(&pending, RequestFailure::Timeout);
                    self.pump(now, &pending.registration);
                }
            }
            Timer::Sleep(id) => {
                let asleep = self.queues.get_mut(&id).is_some_and(QueueState::sleep);
                if let (true, Some(reg)) = (asleep, self.directory.get(&id)) {
                    self.events.push_back(ServerEvent::Sleeping { endpoint: reg.endpoint.clone() });
                }
            }
            Timer::QueueWait(request) => {
                let Some((registration, _)) = self.queued_owner.remove(&request) else { return };
                let taken = self.queues.get_mut(&registration).and_then(|q| q.take(|o| o.pending.id == request));
                if let Some(outgoing) = taken {
                    self.queued_total = self.queued_total.saturating_sub(1);
                    if let Form::Cancel(token) = outgoing.form {
                        self.endpoint.cancel(token);
                    }
                    self.fail(&outgoing.pending, RequestFailure::ClientAsleep);
                }
            }
        }
    }
}

/// `now + duration`, saturating at a year when the clock cannot represent it.
fn deadline_after(now: Instant, duration: Duration) -> Instant {
    const YEAR: Duration = Duration::from_secs(365 * 86_400);
    now.checked_add(duration).unwrap_or(now + YEAR)
}

impl Engine for Server {
    fn handle_datagram(&mut self, now: Instant, peer: Peer, datagram: &[u8]) {
        self.endpoint.handle_datagram(now, peer, datagram);
        self.process_endpoint_events(now);
    }

    fn handle_timeout(&mut self, now: Instant) {
        self.endpoint.handle_timeout(now);
        self.process_endpoint_events(now);
        while let Some((at, timer)) = self.deadlines.pop_due(now) {
            self.on_timer(now, at, timer);
            self.process_endpoint_events(now);
        }
    }

    fn poll_transmit(&mut self, now: Instant, buf: &mut Vec<u8>) -> Option<coap::Transmit> {
        self.endpoint.poll_transmit(now, buf)
    }

    fn poll_timeout(&self) -> Option<Instant> {
        match (self.endpoint.poll_timeout(), self.deadlines.next()) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }
}
