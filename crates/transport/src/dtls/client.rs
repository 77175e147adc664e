//! The DTLS client engine: one session with one server address (the gateway's north face).

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use coap::{Engine, Peer, Transmit};
use openssl::ssl::{Ssl, SslContext};
use tracing::{debug, trace};

use super::credentials::{self, ClientCredentials};
use super::record;
use super::session::{Received, Session, Step};
use super::{CloseReason, DtlsConfig, DtlsError, DtlsStats, Events, SessionEvent};

const MAX_PLAINTEXT: usize = 1 << 14;

/// A DTLS 1.2 client wrapping an inner [`Engine`] that talks to one server.
///
/// The handshake starts on [`DtlsClient::connect`] or when the inner engine first transmits;
/// datagrams the inner engine sends meanwhile wait (at most `max_pending_datagrams`). After a
/// session ends (failure, timeout, close_notify), the next transmit starts a new handshake, so
/// the inner engine's own retransmissions pace reconnection. Datagrams to any other address are
/// dropped and counted.
///
/// The inner engine sees its server as `Peer::udp(server)`, the peer it addresses: the session
/// authenticates the one configured server, so an identity would tell no peers apart, and a
/// CoAP endpoint keys its exchanges by the whole [`Peer`], so answers delivered under another
/// one would never match its requests. The server's authenticated identity is
/// [`DtlsClient::identity`] and travels in [`SessionEvent::Established`].
pub struct DtlsClient<E> {
    config: Arc<DtlsConfig>,
    credentials: ClientCredentials,
    context: SslContext,
    server: SocketAddr,
    session: Option<Session>,
    identity: Option<String>,
    inner: E,
    pending: VecDeque<Vec<u8>>,
    outgoing: VecDeque<Vec<u8>>,
    events: Events,
    stats: DtlsStats,
    plaintext: Vec<u8>,
    scratch: Vec<u8>,
}

impl<E: std::fmt::Debug> std::fmt::Debug for DtlsClient<E> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DtlsClient")
            .field("server", &self.server)
            .field("session", &self.session)
            .field("stats", &self.stats)
            .field("inner", &self.inner)
            .finish_non_exhaustive()
    }
}

impl<E: Engine> DtlsClient<E> {
    /// A client for `server` authenticating with `credentials`.
    pub fn new(
        config: Arc<DtlsConfig>,
        credentials: ClientCredentials,
        server: SocketAddr,
        inner: E,
    ) -> Result<Self, DtlsError> {
        config.validate()?;
        let context = credentials::client_context(&credentials)?;
        Ok(Self {
            events: Events::new(config.max_events),
            config,
            credentials,
            context,
            server,
            session: None,
            identity: None,
            inner,
            pending: VecDeque::new(),
            outgoing: VecDeque::new(),
            stats: DtlsStats::default(),
            plaintext: vec![0; MAX_PLAINTEXT],
            scratch: Vec::new(),
        })
    }

    /// The wrapped engine.
    pub fn inner(&self) -> &E {
        &self.inner
    }

    /// The wrapped engine, for commands. Drain `poll_transmit` afterwards as usual.
    pub fn inner_mut(&mut self) -> &mut E {
        &mut self.inner
    }

    /// The server address.
    pub fn server(&self) -> SocketAddr {
        self.server
    }

    /// Counters.
    pub fn stats(&self) -> &DtlsStats {
        &self.stats
    }

    /// Whether the session is established.
    pub fn is_established(&self) -> bool {
        self.session.as_ref().is_some_and(Session::is_established)
    }

    /// Whether a handshake is running.
    pub fn is_handshaking(&self) -> bool {
        self.session.as_ref().is_some_and(Session::is_handshaking)
    }

    /// The server's authenticated identity (PSK identity, or what the certificate authorizer
    /// returned) once established.
    pub fn identity(&self) -> Option<&str> {
        self.identity.as_deref()
    }

    /// Next session event.
    #[must_use]
    pub fn poll_event(&mut self) -> Option<SessionEvent> {
        self.events.pop()
    }

    /// Starts a handshake unless one is running or done.
    pub fn connect(&mut self, now: Instant) {
        if self.session.is_some() {
            return;
        }
        let setup = || -> Result<Session, openssl::error::ErrorStack> {
            let mut ssl = Ssl::new(&self.context)?;
            ssl.set_connect_state();
            Session::new(ssl, now, self.config.mtu, self.config.handshake_timeout)
        };
        let mut session = match setup() {
            Ok(s) => s,
            Err(error) => {
                debug!(%error, "could not create a dtls session");
                self.stats.handshakes_failed += 1;
                return;
            }
        };
        self.stats.handshakes_started += 1;
        let step = session.start(now);
        self.session = Some(session);
        self.after_step(now, step);
    }

    /// Sends close_notify and forgets the session. Pending datagrams are dropped.
    pub fn close(&mut self) {
        self.end(CloseReason::Closed);
    }

    fn end(&mut self, reason: CloseReason) {
        let Some(mut session) = self.session.take() else {
            return;
        };
        let was_established = session.is_established();
        if matches!(reason, CloseReason::Closed) {
            session.close();
        }
        session.drain(|d| self.outgoing.push_back(d));
        let stats = &mut self.stats;
        stats.transmits_dropped += self.pending.len() as u64;
        self.pending.clear();
        match &reason {
            CloseReason::HandshakeFailed { .. } => stats.handshakes_failed += 1,
            CloseReason::HandshakeTimedOut => stats.handshakes_timed_out += 1,
            CloseReason::PeerClosed => stats.sessions_closed_by_peer += 1,
            CloseReason::Failed { .. } if was_established => stats.sessions_failed += 1,
            CloseReason::Failed { .. } => stats.handshakes_failed += 1,
            CloseReason::Evicted => stats.sessions_evicted += 1,
            CloseReason::Replaced => stats.sessions_replaced += 1,
            CloseReason::IdleTimeout => stats.sessions_idle_closed += 1,
            CloseReason::Closed => {}
        }
        debug!(server = %self.server, ?reason, "dtls session ended");
        let identity = self.identity.take();
        self.events.push(SessionEvent::Closed { addr: self.server, identity, reason }, &mut self.stats);
    }

    /// Handles the outcome of a handshake step, then reads and sends what is ready.
    fn after_step(&mut self, now: Instant, step: Step) {
        match step {
            Step::Pending => {}
            Step::Established => {
                let identity =
                    self.session.as_ref().and_then(|s| credentials::client_peer_identity(s.ssl(), &self.credentials));
                if identity.is_none() {
                    self.end(CloseReason::HandshakeFailed { reason: "server identity unavailable".into() });
                    return;
                }
                self.identity = identity.clone();
                self.stats.handshakes_completed += 1;
                debug!(server = %self.server, ?identity, "dtls session established");
                self.events
                    .push(SessionEvent::Established { peer: Peer { addr: self.server, identity } }, &mut self.stats);
                while let Some(plaintext) = self.pending.pop_front() {
                    self.write(now, &plaintext);
                }
            }
            Step::Failed(reason) => return self.end(CloseReason::HandshakeFailed { reason }),
            Step::TimedOut => return self.end(CloseReason::HandshakeTimedOut),
        }
        self.read_all(now);
    }

    fn read_all(&mut self, now: Instant) {
        let ending = loop {
            let Some(session) = self.session.as_mut() else {
                return;
            };
            match session.read(&mut self.plaintext) {
                Received::Data(n) => {
                    // The peer the inner engine addresses (see the type's docs), so that a
                    // CoAP endpoint matches the server's answers to its requests.
                    self.inner.handle_datagram(now, Peer::udp(self.server), &self.plaintext[..n]);
                }
                Received::Empty => break None,
                Received::PeerClosed => break Some(CloseReason::PeerClosed),
                Received::Failed(reason) => break Some(CloseReason::Failed { reason }),
            }
        };
        match ending {
            Some(reason) => self.end(reason),
            None => {
                if let Some(session) = self.session.as_mut() {
                    session.drain(|d| self.outgoing.push_back(d));
                }
            }
        }
    }

    fn write(&mut self, now: Instant, plaintext: &[u8]) {
        let Some(session) = self.session.as_mut() else {
            self.stats.transmits_dropped += 1;
            return;
        };
        match session.write(now, plaintext) {
            Ok(()) => session.drain(|d| self.outgoing.push_back(d)),
            Err(reason) => {
                self.stats.transmits_dropped += 1;
                self.end(CloseReason::Failed { reason });
            }
        }
    }

    /// Routes one datagram the inner engine wrote into `self.scratch`.
    fn send_inner(&mut self, now: Instant, transmit: &Transmit) {
        if transmit.peer.addr != self.server {
            self.stats.transmits_dropped += 1;
            trace!(addr = %transmit.peer.addr, "dtls client only talks to its server");
            return;
        }
        let scratch = std::mem::take(&mut self.scratch);
        match scratch.get(..transmit.len) {
            None => self.stats.transmits_dropped += 1,
            Some(plaintext) if self.is_established() => self.write(now, plaintext),
            Some(_) if self.config.max_pending_datagrams == 0 => {
                self.stats.transmits_dropped += 1;
                self.connect(now);
            }
            Some(plaintext) => {
                while self.pending.len() >= self.config.max_pending_datagrams {
                    self.pending.pop_front();
                    self.stats.transmits_dropped += 1;
                }
                self.pending.push_back(plaintext.to_vec());
                self.connect(now);
            }
        }
        self.scratch = scratch;
    }
}

impl<E: Engine> Engine for DtlsClient<E> {
    fn handle_datagram(&mut self, now: Instant, peer: Peer, datagram: &[u8]) {
        if peer.addr != self.server || !record::is_well_formed(datagram) {
            self.stats.junk_datagrams += 1;
            trace!(addr = %peer.addr, len = datagram.len(), "not dtls records from our server");
            return;
        }
        let Some(session) = self.session.as_mut() else {
            self.stats.junk_datagrams += 1;
            trace!("dtls records while no session");
            return;
        };
        let step = session.handle_datagram(now, datagram);
        if let Some(session) = self.session.as_mut() {
            session.drain(|d| self.outgoing.push_back(d));
        }
        self.after_step(now, step);
    }

    fn handle_timeout(&mut self, now: Instant) {
        if self.inner.poll_timeout().is_some_and(|at| at <= now) {
            self.inner.handle_timeout(now);
        }
        let idle = self.config.idle_timeout;
        let Some(session) = self.session.as_mut() else {
            return;
        };
        if session.is_established() {
            if idle.is_some_and(|idle| now >= session.last_active_at + idle) {
                session.close();
                self.end(CloseReason::IdleTimeout);
            }
            return;
        }
        let resent = session.retransmissions;
        let step = session.handle_timeout(now);
        self.stats.handshake_retransmissions += session.retransmissions - resent;
        session.drain(|d| self.outgoing.push_back(d));
        self.after_step(now, step);
    }

    fn poll_transmit(&mut self, now: Instant, buf: &mut Vec<u8>) -> Option<Transmit> {
        loop {
            if let Some(datagram) = self.outgoing.pop_front() {
                buf.clear();
                buf.extend_from_slice(&datagram);
                return Some(Transmit { peer: Peer::udp(self.server), len: datagram.len() });
            }
            let mut scratch = std::mem::take(&mut self.scratch);
            let transmit = self.inner.poll_transmit(now, &mut scratch);
            self.scratch = scratch;
            let transmit = transmit?;
            self.send_inner(now, &transmit);
        }
    }

    fn poll_timeout(&self) -> Option<Instant> {
        let session = self.session.as_ref().and_then(|s| {
            if s.is_established() {
                self.config.idle_timeout.map(|idle| s.last_active_at + idle)
            } else {
                s.deadline()
            }
        });
        match (self.inner.poll_timeout(), session) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }
}
