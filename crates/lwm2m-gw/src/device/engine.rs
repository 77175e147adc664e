//! One simulated device as a sans-IO [`coap::Engine`]: the LwM2M client engine (behind DTLS
//! when configured) plus a plain CoAP endpoint that pulls firmware packages, and the device's
//! own deadlines (firmware Update completion, reboot).
//!
//! Datagrams from the firmware server's address go to the download endpoint while a pull
//! runs; everything else goes to the LwM2M client (so a Package URI must not point at the
//! LwM2M server's own address and port). Downloads always travel as plain CoAP next to any
//! DTLS session. No I/O, no clock: the driver hands in `now`; temperature readings come as
//! [`DeviceEngine::tick`] commands.
//!
//! What the application should know is queued as [`Milestone`]s, drained by the runtime.

use std::collections::{BTreeSet, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant};

use coap::{Code, Endpoint, EndpointConfig, Engine, Event, Peer, Reliability, Request, Token, Transmit};
use lwm2m::{Path, Value, Version};
use lwm2m_client::objects::security::SecurityMode;
use lwm2m_client::objects::server::{self as server_object, ServerInstance};
use lwm2m_client::send::SendError;
use lwm2m_client::{Client, ClientEvent, Connection, ServerId};
use openssl::pkey::PKey;
use openssl::x509::X509;
use transport::{CertificateCredentials, ClientCredentials, DtlsClient, DtlsConfig, Secured};

use super::firmware::{PackageSource, State, UpdateResult};
use super::objects::{lock, Shared};

/// Most milestones kept between drains.
const MAX_MILESTONES: usize = 256;

/// Something the runtime prints or counts.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Milestone {
    Registered {
        server: ServerId,
        location: String,
        version: Version,
    },
    RegistrationFailed {
        server: ServerId,
        code: Option<Code>,
    },
    Updated {
        server: ServerId,
    },
    Deregistered {
        server: ServerId,
    },
    Sleeping {
        server: ServerId,
    },
    BootstrapFinished,
    BootstrapFailed {
        reason: String,
    },
    Written {
        path: Path,
    },
    FirmwareDownloaded {
        version: String,
    },
    FirmwareFailed {
        result: i64,
    },
    FirmwareUpdated {
        version: String,
    },
    Rebooting,
    /// The client now talks to `uri` (plain or over a new DTLS session).
    Transport {
        uri: String,
        secure: bool,
    },
    /// The client cannot reach `uri`.
    TransportFailed {
        uri: String,
        reason: String,
    },
    /// A Send (`POST /dp`) was acknowledged.
    Sent {
        server: ServerId,
    },
    /// A Send was refused or timed out (`code` `None`).
    SendFailed {
        server: ServerId,
        code: Option<Code>,
    },
    /// Send to `server` is muted by `/1/x/23` (reported once until Send works again).
    SendMuted {
        server: ServerId,
    },
}

/// What a periodic Send carries: the temperature of sensor 0 and the battery level.
pub(crate) const SEND_PATHS: [Path; 2] = [Path::Resource(3303, 0, 5700), Path::Resource(3, 0, 9)];

/// A pull in progress.
#[derive(Debug)]
struct Download {
    peer: Peer,
    token: Token,
}

/// How long a reboot takes before the client registers again.
const REBOOT_DELAY: Duration = Duration::from_secs(1);

/// Builds a fresh client (a reboot), given `now`.
pub(crate) type ClientFactory = Box<dyn Fn(Instant) -> Client + Send>;

/// One simulated device.
pub(crate) struct DeviceEngine {
    lwm2m: Secured<Client>,
    state: Shared,
    downloader: Endpoint,
    download: Option<Download>,
    reboot_at: Option<Instant>,
    factory: ClientFactory,
    dtls_config: Arc<DtlsConfig>,
    /// A transport change waiting for the old transport to drain.
    retarget: Option<Connection>,
    /// Servers whose muted Send was already reported.
    send_muted: BTreeSet<ServerId>,
    milestones: VecDeque<Milestone>,
}

impl std::fmt::Debug for DeviceEngine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DeviceEngine")
            .field("download", &self.download)
            .field("reboot_at", &self.reboot_at)
            .finish_non_exhaustive()
    }
}

impl DeviceEngine {
    /// A device over `lwm2m` (not started yet), sharing `state` with the client's objects.
    pub(crate) fn new(
        lwm2m: Secured<Client>,
        state: Shared,
        factory: ClientFactory,
        dtls_config: Arc<DtlsConfig>,
        seed: [u8; 32],
    ) -> Self {
        let downloader = Endpoint::new(Arc::new(EndpointConfig::default()), seed);
        Self {
            lwm2m,
            state,
            downloader,
            download: None,
            reboot_at: None,
            factory,
            dtls_config,
            retarget: None,
            send_muted: BTreeSet::new(),
            milestones: VecDeque::new(),
        }
    }

    /// Starts the client (register, or bootstrap).
    pub(crate) fn start(&mut self, now: Instant) {
        self.lwm2m.inner_mut().start(now);
        self.process(now);
    }

    /// A new temperature reading.
    pub(crate) fn tick(&mut self, now: Instant) {
        lock(&self.state).tick(now);
        self.process(now);
    }

    /// Sends the current readings ([`SEND_PATHS`], those present) to every server the client
    /// is registered with (`POST /dp`, SenML CBOR). A server whose Mute Send (`/1/x/23`) is
    /// true or absent gets nothing; that is reported once as [`Milestone::SendMuted`].
    pub(crate) fn send_readings(&mut self, now: Instant) {
        for server in self.registered_servers(now) {
            let result = self.lwm2m.inner_mut().send(now, server, &SEND_PATHS);
            match result {
                Ok(_) => {
                    self.send_muted.remove(&server);
                }
                Err(SendError::Muted(_)) => {
                    if self.send_muted.insert(server) {
                        self.emit(Milestone::SendMuted { server });
                    }
                }
                Err(error) => tracing::debug!(%error, %server, "send not started"),
            }
        }
        self.process(now);
    }

    /// The Short Server IDs of the Server instances the client is registered with.
    fn registered_servers(&self, now: Instant) -> Vec<ServerId> {
        let client = self.lwm2m.inner();
        let Some(servers) = client.tree().object(server_object::OBJECT_ID) else { return Vec::new() };
        servers
            .instances()
            .into_iter()
            .filter_map(|i| servers.read(now, i))
            .filter_map(|values| ServerInstance::from_values(&values))
            .map(|instance| instance.server_id)
            .filter(|id| client.is_registered(*id))
            .collect()
    }

    /// De-registers from every server (before exit).
    pub(crate) fn deregister(&mut self, now: Instant) {
        self.lwm2m.inner_mut().deregister_all(now);
        self.process(now);
    }

    /// The next milestone.
    pub(crate) fn poll_milestone(&mut self) -> Option<Milestone> {
        self.milestones.pop_front()
    }

    fn emit(&mut self, milestone: Milestone) {
        if self.milestones.len() >= MAX_MILESTONES {
            self.milestones.pop_front();
        }
        self.milestones.push_back(milestone);
    }

    /// Hands state changes to the client, runs due device deadlines, reacts to client and
    /// download events.
    fn process(&mut self, now: Instant) {
        if self.reboot_at.is_some_and(|at| at <= now) {
            self.reboot_at = None;
            let client = (self.factory)(now);
            *self.lwm2m.inner_mut() = client;
            self.lwm2m.inner_mut().start(now);
        }
        let finished = lock(&self.state).firmware.finish_update(now);
        if let Some(version) = finished {
            let client = self.lwm2m.inner_mut();
            if let Err(error) = client.set_value(now, Path::Resource(3, 0, 3), Value::String(version.clone())) {
                tracing::warn!(%error, "firmware version not updated in /3/0/3");
            }
            self.emit(Milestone::FirmwareUpdated { version });
        }
        let pending = lock(&self.state).firmware.take_pending_download();
        if let Some(source) = pending {
            self.start_download(now, source);
        }
        if self.download.is_some() && lock(&self.state).firmware.state() != State::Downloading {
            // Cancelled by an empty Package URI (or replaced by a push).
            if let Some(download) = self.download.take() {
                self.downloader.cancel(download.token);
            }
        }
        while let Some(event) = self.downloader.poll_event() {
            self.on_download_event(event);
        }
        loop {
            let changed = lock(&self.state).poll_changed();
            let Some(path) = changed else { break };
            self.lwm2m.inner_mut().value_changed(now, path);
        }
        while let Some(event) = self.lwm2m.inner_mut().poll_event() {
            self.on_client_event(now, event);
        }
        // A client event may have asked for a download (a Write of /5/0/1) or changed state.
        let pending = lock(&self.state).firmware.take_pending_download();
        if let Some(source) = pending {
            self.start_download(now, source);
        }
        loop {
            let changed = lock(&self.state).poll_changed();
            let Some(path) = changed else { break };
            self.lwm2m.inner_mut().value_changed(now, path);
        }
    }

    fn on_client_event(&mut self, now: Instant, event: ClientEvent) {
        let milestone = match event {
            ClientEvent::Registered { server, version, location } => {
                Milestone::Registered { server, location, version }
            }
            ClientEvent::RegistrationFailed { server, code } => Milestone::RegistrationFailed { server, code },
            ClientEvent::Updated { server } => Milestone::Updated { server },
            ClientEvent::Deregistered { server } => Milestone::Deregistered { server },
            ClientEvent::Sleeping { server } => Milestone::Sleeping { server },
            ClientEvent::BootstrapFinished => Milestone::BootstrapFinished,
            ClientEvent::BootstrapFailed { reason } => Milestone::BootstrapFailed { reason },
            ClientEvent::WriteApplied { path, .. } => Milestone::Written { path },
            ClientEvent::SendAcknowledged { server, .. } => Milestone::Sent { server },
            ClientEvent::SendFailed { server, code, .. } => Milestone::SendFailed { server, code },
            ClientEvent::RebootRequested => {
                self.reboot_at = Some(now + REBOOT_DELAY);
                Milestone::Rebooting
            }
            ClientEvent::ConnectionNeeded(connection) => {
                if self.needs_retarget(&connection) {
                    // Applied once the old transport has sent what is queued for it (the
                    // Bootstrap-Finish answer, a De-register …).
                    self.retarget = Some(connection);
                }
                return;
            }
            other => {
                tracing::debug!(?other, "client event");
                return;
            }
        };
        self.emit(milestone);
    }

    /// Puts the client behind the transport `connection` needs (plain UDP, or a DTLS session
    /// with the server at its address and the credentials of its Security instance), keeping
    /// the client and its state. One server at a time: the last connection asked for wins.
    fn needs_retarget(&self, connection: &Connection) -> bool {
        let current = match &self.lwm2m {
            Secured::Client(dtls) => Some(dtls.server()),
            _ => None,
        };
        match (connection.secure, current) {
            (false, None) => false,
            (true, Some(addr)) => addr != connection.addr,
            _ => true,
        }
    }

    fn retarget(&mut self, now: Instant, connection: &Connection) {
        let credentials = if connection.secure {
            match credentials_of(connection) {
                Ok(credentials) => Some(credentials),
                Err(reason) => {
                    tracing::warn!(uri = %connection.uri, reason, "server unreachable: unusable credentials");
                    self.emit(Milestone::TransportFailed { uri: connection.uri.clone(), reason: reason.to_owned() });
                    return;
                }
            }
        } else {
            None
        };
        // The new wrapper is built around a throw-away client first, so a refused DTLS setup
        // leaves the real one where it was; then the two clients trade places.
        let wrapper = match credentials {
            None => Secured::Plain((self.factory)(now)),
            Some(credentials) => {
                match DtlsClient::new(self.dtls_config.clone(), credentials, connection.addr, (self.factory)(now)) {
                    Ok(dtls) => Secured::Client(dtls),
                    Err(error) => {
                        tracing::warn!(uri = %connection.uri, %error, "dtls setup failed");
                        let reason = "dtls setup failed".to_owned();
                        self.emit(Milestone::TransportFailed { uri: connection.uri.clone(), reason });
                        return;
                    }
                }
            }
        };
        let mut old = std::mem::replace(&mut self.lwm2m, wrapper);
        std::mem::swap(self.lwm2m.inner_mut(), old.inner_mut());
        self.emit(Milestone::Transport { uri: connection.uri.clone(), secure: connection.secure });
    }

    fn start_download(&mut self, now: Instant, source: PackageSource) {
        if let Some(previous) = self.download.take() {
            self.downloader.cancel(previous.token);
        }
        let (path, query) = match source.path_and_query.split_once('?') {
            Some((p, q)) => (p, Some(q)),
            None => (source.path_and_query.as_str(), None),
        };
        let mut request = Request::get(path);
        for item in query.into_iter().flat_map(|q| q.split('&')).filter(|q| !q.is_empty()) {
            request = request.with_query(item);
        }
        let peer = Peer::udp(source.addr);
        match self.downloader.send_request(now, peer.clone(), request, Reliability::Confirmable) {
            Ok(token) => self.download = Some(Download { peer, token }),
            Err(error) => {
                tracing::debug!(%error, "firmware download not started");
                lock(&self.state).firmware.download_failed(UpdateResult::ConnectionLost);
                self.emit(Milestone::FirmwareFailed { result: UpdateResult::ConnectionLost.code() });
            }
        }
    }

    fn on_download_event(&mut self, event: Event) {
        let (token, outcome) = match event {
            Event::Response { token, response } => (token, Some(response)),
            Event::Failed { token, .. } => (token, None),
            _ => return,
        };
        if self.download.as_ref().is_none_or(|d| d.token != token) {
            return;
        }
        self.download = None;
        let mut state = lock(&self.state);
        match outcome {
            Some(response) if response.code == Code::CONTENT => state.firmware.receive(&response.payload),
            Some(response) => {
                tracing::debug!(code = %response.code, "firmware server refused the download");
                state.firmware.download_failed(UpdateResult::InvalidUri);
            }
            None => state.firmware.download_failed(UpdateResult::ConnectionLost),
        }
        let milestone = match state.firmware.package() {
            Some(package) => Milestone::FirmwareDownloaded { version: package.version.clone() },
            None => Milestone::FirmwareFailed { result: state.firmware.result().code() },
        };
        drop(state);
        self.emit(milestone);
    }

    fn is_download_peer(&self, peer: &Peer) -> bool {
        self.download.as_ref().is_some_and(|d| d.peer.addr == peer.addr)
    }

    fn own_timeout(&self) -> Option<Instant> {
        earliest(lock(&self.state).firmware.update_due(), self.reboot_at)
    }
}

/// DTLS credentials from a Security instance (PSK, or X.509 with the server's certificate or
/// its CA in `/0/x/4`).
fn credentials_of(connection: &Connection) -> Result<ClientCredentials, &'static str> {
    match connection.mode {
        SecurityMode::Psk => {
            let identity = String::from_utf8(connection.identity.clone()).map_err(|_| "psk identity is not utf-8")?;
            Ok(ClientCredentials::Psk { identity, key: connection.secret_key.clone() })
        }
        SecurityMode::Certificate => {
            let certificate = X509::from_der(&connection.identity).map_err(|_| "/0/x/3 is no der certificate")?;
            let private_key =
                PKey::private_key_from_der(&connection.secret_key).map_err(|_| "/0/x/5 is no der private key")?;
            let trusted = X509::from_der(&connection.server_public_key).map_err(|_| "/0/x/4 is no der certificate")?;
            Ok(ClientCredentials::Certificate(CertificateCredentials {
                certificate,
                chain: Vec::new(),
                private_key,
                trusted: vec![trusted],
                authorize: None,
            }))
        }
        SecurityMode::NoSec => Err("a coaps:// server with security mode nosec"),
        SecurityMode::RawPublicKey | SecurityMode::CertificateEst => Err("security mode not supported"),
    }
}

fn earliest(a: Option<Instant>, b: Option<Instant>) -> Option<Instant> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

impl Engine for DeviceEngine {
    fn handle_datagram(&mut self, now: Instant, peer: Peer, datagram: &[u8]) {
        if self.is_download_peer(&peer) {
            self.downloader.handle_datagram(now, peer, datagram);
        } else {
            self.lwm2m.handle_datagram(now, peer, datagram);
        }
        self.process(now);
    }

    fn handle_timeout(&mut self, now: Instant) {
        if self.lwm2m.poll_timeout().is_some_and(|at| at <= now) {
            self.lwm2m.handle_timeout(now);
        }
        if self.downloader.poll_timeout().is_some_and(|at| at <= now) {
            self.downloader.handle_timeout(now);
        }
        self.process(now);
    }

    fn poll_transmit(&mut self, now: Instant, buf: &mut Vec<u8>) -> Option<Transmit> {
        while let Some(transmit) = self.lwm2m.poll_transmit(now, buf) {
            let plain = matches!(self.lwm2m, Secured::Plain(_));
            match &self.retarget {
                // Plaintext for the coming DTLS server: dropped; CoAP retransmits it through
                // the new session.
                Some(next) if plain && next.secure && next.addr == transmit.peer.addr => continue,
                _ => return Some(transmit),
            }
        }
        if let Some(connection) = self.retarget.take() {
            self.retarget(now, &connection);
            if let Some(transmit) = self.lwm2m.poll_transmit(now, buf) {
                return Some(transmit);
            }
        }
        self.downloader.poll_transmit(now, buf)
    }

    fn poll_timeout(&self) -> Option<Instant> {
        earliest(earliest(self.lwm2m.poll_timeout(), self.downloader.poll_timeout()), self.own_timeout())
    }
}
