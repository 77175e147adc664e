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

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::{Duration, Instant};

use coap::{Code, Endpoint, EndpointConfig, Engine, Event, Peer, Reliability, Request, Token, Transmit};
use lwm2m::{Path, Value, Version};
use lwm2m_client::{Client, ClientEvent, ServerId};
use transport::Secured;

use super::firmware::{PackageSource, State, UpdateResult};
use super::objects::{lock, Shared};

/// Most milestones kept between drains.
const MAX_MILESTONES: usize = 256;

/// Something the runtime prints or counts.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Milestone {
    Registered { server: ServerId, location: String, version: Version },
    RegistrationFailed { server: ServerId, code: Option<Code> },
    Updated { server: ServerId },
    Deregistered { server: ServerId },
    Sleeping { server: ServerId },
    BootstrapFinished,
    BootstrapFailed { reason: String },
    Written { path: Path },
    FirmwareDownloaded { version: String },
    FirmwareFailed { result: i64 },
    FirmwareUpdated { version: String },
    Rebooting,
}

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
    pub(crate) fn new(lwm2m: Secured<Client>, state: Shared, factory: ClientFactory, seed: [u8; 32]) -> Self {
        let downloader = Endpoint::new(Arc::new(EndpointConfig::default()), seed);
        Self { lwm2m, state, downloader, download: None, reboot_at: None, factory, milestones: VecDeque::new() }
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
            ClientEvent::RebootRequested => {
                self.reboot_at = Some(now + REBOOT_DELAY);
                Milestone::Rebooting
            }
            ClientEvent::ConnectionNeeded(connection) => {
                if let Secured::Client(dtls) = &self.lwm2m {
                    if dtls.server() != connection.addr {
                        tracing::warn!(uri = %connection.uri, "only the --server address is reachable over dtls");
                    }
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
        self.lwm2m.poll_transmit(now, buf).or_else(|| self.downloader.poll_transmit(now, buf))
    }

    fn poll_timeout(&self) -> Option<Instant> {
        earliest(earliest(self.lwm2m.poll_timeout(), self.downloader.poll_timeout()), self.own_timeout())
    }
}
