//! One CoAP face of the LwM2M Server: the [`Server`] engine plus what the binary hangs on it —
//! registrations written to the [`Store`] before the CoAP answer leaves, answers routed to the
//! REST requests waiting for them, and events published to the `/api/event` stream.
//!
//! An endpoint registers on one face at a time: when it registers on a face, that face reports a
//! [`Moved`] and every other face drops its older registration of the endpoint
//! ([`ServerFace::drop_superseded`]), silently (the stream already told of the new one).

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use coap::{Engine, Peer, Transmit};
use lwm2m::format::link;
use lwm2m::{Binding, EndpointName, ObjectLinks, Path, RegisterParams, Version};
use lwm2m_server::{DmResponse, Registration, RegistrationId, RequestFailure, RequestId, Server, ServerEvent};
use tokio::sync::{broadcast, mpsc, oneshot};

use crate::rest::json;
use crate::store::{Store, StoredRegistration};

/// One event of the `/api/event` stream (Leshan's event names and data shapes).
#[derive(Debug, Clone)]
pub(crate) struct StreamEvent {
    /// `REGISTRATION`, `UPDATED`, `DEREGISTRATION`, `NOTIFICATION`, `SEND`, `AWAKE`, `SLEEPING`.
    pub(crate) name: &'static str,
    /// The endpoint it concerns (for `?ep=` filtering).
    pub(crate) endpoint: String,
    /// The JSON data line.
    pub(crate) data: String,
}

/// An endpoint registered on face `face` at `at`: older registrations of it elsewhere go.
#[derive(Debug, Clone)]
pub(crate) struct Moved {
    /// The face that took the new registration.
    pub(crate) face: &'static str,
    /// The endpoint.
    pub(crate) endpoint: EndpointName,
    /// When it registered there.
    pub(crate) at: Instant,
}

/// The answer a REST request waits for.
pub(crate) type Answer = Result<DmResponse, RequestFailure>;

/// The LwM2M Server engine of one CoAP socket and its ties to the rest of the binary.
#[derive(Debug)]
pub(crate) struct ServerFace {
    /// The engine.
    pub(crate) server: Server,
    /// This face's name (`coap`, `coaps`), stored with its registrations.
    pub(crate) name: &'static str,
    store: Arc<Store>,
    events: broadcast::Sender<StreamEvent>,
    waiters: HashMap<RequestId, oneshot::Sender<Answer>>,
    /// Where new registrations are reported for the other faces.
    moves: Option<mpsc::Sender<Moved>>,
    /// Registrations being dropped because the endpoint registered on another face.
    superseded: HashSet<RegistrationId>,
}

impl ServerFace {
    /// A face around `server`.
    pub(crate) fn new(
        server: Server,
        name: &'static str,
        store: Arc<Store>,
        events: broadcast::Sender<StreamEvent>,
        moves: Option<mpsc::Sender<Moved>>,
    ) -> Self {
        Self { server, name, store, events, waiters: HashMap::new(), moves, superseded: HashSet::new() }
    }

    /// Drops this face's registration of `endpoint` if it is older than `at` (when it
    /// registered on another face): it would otherwise linger until it expires, holding
    /// observations and answering requests for a client that no longer listens here. Returns
    /// whether one was dropped.
    pub(crate) fn drop_superseded(&mut self, now: Instant, endpoint: &EndpointName, at: Instant) -> bool {
        let Some(id) = self.server.registration(endpoint).filter(|reg| reg.updated_at <= at).map(|reg| reg.id.clone())
        else {
            return false;
        };
        self.superseded.insert(id.clone());
        let dropped = self.server.remove_registration(now, endpoint).is_some();
        self.drain(now);
        self.superseded.remove(&id);
        dropped
    }

    /// Registers `answer` to receive the response to request `id`.
    pub(crate) fn wait_for(&mut self, id: RequestId, answer: oneshot::Sender<Answer>) {
        self.waiters.retain(|_, waiter| !waiter.is_closed());
        self.waiters.insert(id, answer);
    }

    /// Handles every event the engine has queued: persist, answer, publish.
    pub(crate) fn drain(&mut self, now: Instant) {
        while let Some(event) = self.server.poll_event() {
            self.handle(now, event);
        }
    }

    fn publish(&self, name: &'static str, endpoint: &EndpointName, data: serde_json::Value) {
        // No subscriber is fine: nobody listens to the stream.
        let _ = self.events.send(StreamEvent { name, endpoint: endpoint.to_string(), data: data.to_string() });
    }

    fn persist(&self, registration: &Registration) {
        let stored = to_stored(self.name, registration);
        if let Err(error) = self.store.put_registration(&stored) {
            tracing::error!(endpoint = %registration.endpoint, error = %error, "registration not persisted");
        }
    }

    fn forget(&self, registration: &Registration) {
        let endpoint = &registration.endpoint;
        if let Err(error) = self.store.delete_registration(endpoint.as_str(), registration.id.as_str()) {
            tracing::error!(%endpoint, error = %error, "registration removal not persisted");
        }
    }

    fn handle(&mut self, now: Instant, event: ServerEvent) {
        let registry = self.server.registry().clone();
        match event {
            ServerEvent::Registered { registration, replaced } => {
                if let Some(old) = replaced.filter(|old| old.endpoint != registration.endpoint) {
                    self.forget(&old);
                }
                self.persist(&registration);
                tracing::info!(endpoint = %registration.endpoint, id = %registration.id, face = self.name, "registered");
                if let Some(moves) = &self.moves {
                    let moved = Moved { face: self.name, endpoint: registration.endpoint.clone(), at: now };
                    if moves.try_send(moved).is_err() {
                        // Busy or shutting down: an older registration elsewhere expires by itself.
                        tracing::warn!(endpoint = %registration.endpoint, "other faces not told of the new registration");
                    }
                }
                let data = json::registration(&registration, self.server.is_awake(now, &registration.endpoint));
                self.publish("REGISTRATION", &registration.endpoint, data);
            }
            ServerEvent::Updated { registration, previous } => {
                self.persist(&registration);
                let reg = json::registration(&registration, self.server.is_awake(now, &registration.endpoint));
                let update = json::update(&previous, &registration);
                self.publish(
                    "UPDATED",
                    &registration.endpoint,
                    serde_json::json!({"registration": reg, "update": update}),
                );
            }
            ServerEvent::Deregistered { registration } if self.superseded.contains(&registration.id) => {
                // The store row is the new registration's already (one per endpoint); `forget`
                // only deletes this ID. The stream told of the new one: no DEREGISTRATION.
                self.forget(&registration);
                tracing::info!(endpoint = %registration.endpoint, face = self.name, "registration superseded on another face");
            }
            ServerEvent::Deregistered { registration } | ServerEvent::Expired { registration } => {
                self.forget(&registration);
                tracing::info!(endpoint = %registration.endpoint, face = self.name, "registration ended");
                let data = json::registration(&registration, false);
                self.publish("DEREGISTRATION", &registration.endpoint, data);
            }
            ServerEvent::Response { id, result, .. } => {
                if let Some(waiter) = self.waiters.remove(&id) {
                    // The REST request may have timed out and left.
                    let _ = waiter.send(result);
                }
            }
            ServerEvent::Notification { endpoint, observation, paths, records } => {
                let composite =
                    self.server.observations().any(|o| o.id == observation && o.composite) || paths.len() > 1;
                let data = if composite {
                    serde_json::json!({
                        "ep": endpoint.as_str(),
                        "kind": "composite",
                        "val": json::composite_content(&paths, &records, &registry),
                        "paths": paths.iter().map(ToString::to_string).collect::<Vec<_>>(),
                    })
                } else {
                    let path = paths.first().map_or(Path::Root, |p| p.path);
                    serde_json::json!({
                        "ep": endpoint.as_str(),
                        "kind": "single",
                        "res": path.to_string(),
                        "val": json::node(&path, &records, &registry),
                    })
                };
                self.publish("NOTIFICATION", &endpoint, data);
            }
            ServerEvent::Send { endpoint, records } => {
                let data = serde_json::json!({"ep": endpoint.as_str(), "val": json::send_content(&records, &registry)});
                self.publish("SEND", &endpoint, data);
            }
            ServerEvent::EndDeviceRegistered { gateway, end_device } => {
                if let Some(reg) = self.server.registration(&gateway) {
                    let data = json::end_device(&end_device, reg);
                    self.publish("REGISTRATION", &end_device.endpoint, data);
                }
            }
            ServerEvent::EndDeviceUpdated { gateway, end_device, .. } => {
                if let Some(reg) = self.server.registration(&gateway) {
                    let data = json::end_device(&end_device, reg);
                    self.publish(
                        "UPDATED",
                        &end_device.endpoint,
                        serde_json::json!({"registration": data, "update": {}}),
                    );
                }
            }
            ServerEvent::EndDeviceRemoved { gateway, end_device } => {
                let data = match self.server.registration(&gateway) {
                    Some(reg) => json::end_device(&end_device, reg),
                    None => serde_json::json!({"endpoint": end_device.endpoint.as_str(), "gateway": gateway.as_str()}),
                };
                self.publish("DEREGISTRATION", &end_device.endpoint, data);
            }
            ServerEvent::Awake { endpoint } => {
                self.publish("AWAKE", &endpoint, serde_json::json!({"ep": endpoint.as_str()}));
            }
            ServerEvent::Sleeping { endpoint } => {
                self.publish("SLEEPING", &endpoint, serde_json::json!({"ep": endpoint.as_str()}));
            }
            ServerEvent::ObservationEnded { endpoint, observation } => {
                tracing::debug!(%endpoint, %observation, "observation ended by the client");
            }
        }
    }
}

impl Engine for ServerFace {
    fn handle_datagram(&mut self, now: Instant, peer: Peer, datagram: &[u8]) {
        self.server.handle_datagram(now, peer, datagram);
        // Before the driver sends the answer: registrations reach the disk first.
        self.drain(now);
    }

    fn handle_timeout(&mut self, now: Instant) {
        self.server.handle_timeout(now);
        self.drain(now);
    }

    fn poll_transmit(&mut self, now: Instant, buf: &mut Vec<u8>) -> Option<Transmit> {
        self.server.poll_transmit(now, buf)
    }

    fn poll_timeout(&self) -> Option<Instant> {
        self.server.poll_timeout()
    }
}

/// The process's one pairing of the monotonic clock with the wall clock. Every conversion goes
/// through it, so the same instant always gives the same wall time (sampling both clocks per call
/// made a registration's dates move by a millisecond between two reads).
fn clock_anchor() -> (Instant, SystemTime) {
    static ANCHOR: OnceLock<(Instant, SystemTime)> = OnceLock::new();
    *ANCHOR.get_or_init(|| (Instant::now(), SystemTime::now()))
}

/// Milliseconds since the Unix epoch of the engine instant `at`.
pub(crate) fn wall_ms(at: Instant) -> u64 {
    let (anchor, anchor_wall) = clock_anchor();
    let wall = if at <= anchor {
        anchor_wall.checked_sub(anchor.duration_since(at)).unwrap_or(UNIX_EPOCH)
    } else {
        anchor_wall + at.duration_since(anchor)
    };
    wall.duration_since(UNIX_EPOCH).map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

/// The engine instant of wall-clock `ms` (never later than `now`).
fn instant_of(ms: u64, now: Instant) -> Instant {
    let now_ms = wall_ms(now);
    now.checked_sub(Duration::from_millis(now_ms.saturating_sub(ms))).unwrap_or(now)
}

fn to_stored(face: &str, registration: &Registration) -> StoredRegistration {
    StoredRegistration {
        face: face.to_owned(),
        id: registration.id.to_string(),
        endpoint: registration.endpoint.to_string(),
        address: registration.addr.to_string(),
        identity: registration.identity().map(str::to_owned),
        version: registration.version.to_string(),
        lifetime: registration.lifetime,
        binding: registration.binding.to_string(),
        queue_mode: registration.queue_mode,
        sms: registration.sms().map(str::to_owned),
        additional: registration.additional().clone(),
        objects: link::encode(&registration.objects.to_links()),
        registered_ms: wall_ms(registration.registered_at),
        updated_ms: wall_ms(registration.updated_at),
    }
}

/// Why a stored registration is not restored.
#[derive(Debug, thiserror::Error)]
pub(crate) enum RestoreError {
    /// Its lifetime passed while the server was down.
    #[error("registration of {0} expired while the server was stopped")]
    Expired(String),
    /// A field does not parse.
    #[error("stored registration of {endpoint} has an invalid {field}")]
    Invalid {
        /// The endpoint.
        endpoint: String,
        /// The field.
        field: &'static str,
    },
}

/// Rebuilds a registration kept by [`Store`], or says why it is dropped.
pub(crate) fn from_stored(stored: &StoredRegistration, now: Instant) -> Result<Registration, RestoreError> {
    let invalid = |field| RestoreError::Invalid { endpoint: stored.endpoint.clone(), field };
    let now_ms = wall_ms(now);
    if stored.lifetime > 0 && stored.updated_ms.saturating_add(u64::from(stored.lifetime) * 1000) <= now_ms {
        return Err(RestoreError::Expired(stored.endpoint.clone()));
    }
    let endpoint = EndpointName::new(&stored.endpoint).map_err(|_| invalid("endpoint"))?;
    let version: Version = stored.version.parse().map_err(|_| invalid("version"))?;
    let (binding, _) = Binding::parse(&stored.binding, Version::V1_1).map_err(|_| invalid("binding"))?;
    let objects = ObjectLinks::parse(&stored.objects).map_err(|_| invalid("objects"))?;
    let addr = stored.address.parse().map_err(|_| invalid("address"))?;
    let mut params = RegisterParams::new(endpoint);
    params.lifetime = Some(stored.lifetime);
    params.lwm2m_version = Some(version);
    params.binding = Some(binding);
    params.queue_mode = stored.queue_mode;
    params.sms = stored.sms.clone();
    params.additional = stored.additional.clone();
    let peer = Peer { addr, identity: stored.identity.clone() };
    let updated_at = instant_of(stored.updated_ms, now);
    let mut registration =
        Registration::new(RegistrationId::from_path_segment(&stored.id), peer, params, objects, updated_at);
    registration.registered_at = instant_of(stored.registered_ms, now);
    Ok(registration)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_instant_always_gives_the_same_wall_time() {
        let at = Instant::now();
        let first = wall_ms(at);
        std::thread::sleep(Duration::from_millis(5));
        assert_eq!(wall_ms(at), first, "a registration's dates must not move between two reads");
        assert!(wall_ms(at + Duration::from_secs(1)) >= first + 1000);
    }

    #[test]
    fn a_stored_registration_comes_back_with_its_id_and_lifetime() {
        let now = Instant::now();
        let stored = StoredRegistration {
            face: "coap".into(),
            id: "abcDEF2345".into(),
            endpoint: "ep1".into(),
            address: "127.0.0.1:5000".into(),
            identity: None,
            version: "1.1".into(),
            lifetime: 300,
            binding: "U".into(),
            queue_mode: false,
            sms: None,
            additional: BTreeMap::new(),
            objects: "</3/0>,</1/0>".into(),
            registered_ms: wall_ms(now) - 10_000,
            updated_ms: wall_ms(now) - 5_000,
        };
        let registration = from_stored(&stored, now).unwrap();
        assert_eq!(registration.id.as_str(), "abcDEF2345");
        assert_eq!(registration.lifetime, 300);
        assert!(registration.objects.has_object(3));
        assert_eq!(to_stored("coap", &registration).objects, link::encode(&registration.objects.to_links()));
        let expired = StoredRegistration { updated_ms: wall_ms(now) - 301_000, ..stored };
        assert!(matches!(from_stored(&expired, now), Err(RestoreError::Expired(_))));
    }

    #[test]
    fn an_older_registration_is_dropped_silently_when_its_endpoint_registers_on_another_face() {
        let dir = std::env::temp_dir().join(format!("lwm2m-gw-face-superseded-{}", std::process::id()));
        let store = Arc::new(Store::open(&dir).unwrap());
        let (events, mut stream) = broadcast::channel(16);
        let server = Server::new(lwm2m_server::ServerConfig::default(), lwm2m::Registry::bundled(), [3; 32]);
        let mut face = ServerFace::new(server, "coap", store.clone(), events, None);
        let now = Instant::now();
        let endpoint = EndpointName::new("mover").unwrap();
        let mut params = RegisterParams::new(endpoint.clone());
        params.lifetime = Some(300);
        params.lwm2m_version = Some(Version::V1_1);
        params.binding = Some(Binding::udp());
        let registration = Registration::new(
            RegistrationId::from_path_segment("abcDEF2345"),
            Peer::udp("127.0.0.1:5000".parse().unwrap()),
            params,
            ObjectLinks::parse("</3/0>").unwrap(),
            now,
        );
        face.server.restore_registration(now, registration.clone()).unwrap();
        face.persist(&registration);

        let earlier = now.checked_sub(Duration::from_secs(1)).unwrap();
        assert!(!face.drop_superseded(now, &endpoint, earlier), "a newer registration here stays");
        assert!(face.server.registration(&endpoint).is_some());

        assert!(face.drop_superseded(now, &endpoint, now + Duration::from_secs(1)));
        assert_eq!(face.server.registration(&endpoint), None);
        assert!(stream.try_recv().is_err(), "no DEREGISTRATION on the stream: the endpoint is registered elsewhere");
        assert!(store.registrations().unwrap().is_empty(), "its stored row (same ID) is gone");
        assert!(!face.drop_superseded(now, &endpoint, now + Duration::from_secs(2)), "nothing left to drop");
        let _ = std::fs::remove_dir_all(&dir);
    }

    use std::collections::BTreeMap;
}
