//! The DTLS server engine: one local socket, many peers demultiplexed by address.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use coap::{Engine, Peer, Transmit};
use openssl::ex_data::Index;
use openssl::ssl::{Ssl, SslContext};
use tracing::{debug, trace};

use super::cookie::{CookieSecrets, COOKIE_LEN};
use super::credentials::{self, ServerCredentials};
use super::record::{self, ClientHello};
use super::session::{Received, Session, Step};
use super::sessions::Sessions;
use super::{CloseReason, DtlsConfig, DtlsError, DtlsStats, Events, SessionEvent};

/// Largest ClientHello `message_seq` handled: a client answering its n-th HelloVerifyRequest
/// uses n; beyond a few, something is wrong.
const MAX_HELLO_MESSAGE_SEQ: u16 = 4;
/// Plaintext buffer: the largest DTLS record payload (2^14).
const MAX_PLAINTEXT: usize = 1 << 14;

/// A DTLS 1.2 server wrapping an inner [`Engine`].
///
/// Cookie exchange is stateless: a ClientHello without a valid cookie is answered with a
/// HelloVerifyRequest built here, and nothing is stored. Only a ClientHello with a valid cookie
/// creates a session; it is first fed the same ClientHello without the cookie (its
/// HelloVerifyRequest answer is discarded) so that OpenSSL's `SSL_OP_COOKIE_EXCHANGE` state
/// machine sits exactly where it would after its own exchange and checks the cookie again
/// through its verify callback.
///
/// Call order, as for every engine: after each input or command, `poll_transmit` until `None`,
/// then `poll_timeout`, then [`DtlsServer::poll_event`].
pub struct DtlsServer<E> {
    config: Arc<DtlsConfig>,
    credentials: ServerCredentials,
    context: SslContext,
    cookie_index: Index<Ssl, [u8; COOKIE_LEN]>,
    cookies: CookieSecrets,
    sessions: Sessions,
    inner: E,
    outgoing: VecDeque<(SocketAddr, Vec<u8>)>,
    events: Events,
    stats: DtlsStats,
    plaintext: Vec<u8>,
    scratch: Vec<u8>,
}

impl<E: std::fmt::Debug> std::fmt::Debug for DtlsServer<E> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DtlsServer")
            .field("sessions", &self.sessions.len())
            .field("stats", &self.stats)
            .field("inner", &self.inner)
            .finish_non_exhaustive()
    }
}

impl<E: Engine> DtlsServer<E> {
    /// A server accepting `credentials`, delivering plaintext to `inner`.
    pub fn new(config: Arc<DtlsConfig>, credentials: ServerCredentials, inner: E) -> Result<Self, DtlsError> {
        config.validate()?;
        let cookie_index = Ssl::new_ex_index::<[u8; COOKIE_LEN]>().map_err(DtlsError::Setup)?;
        let context = credentials::server_context(&credentials, cookie_index)?;
        let cookies = CookieSecrets::new(config.cookie_lifetime).map_err(DtlsError::Setup)?;
        Ok(Self {
            events: Events::new(config.max_events),
            config,
            credentials,
            context,
            cookie_index,
            cookies,
            sessions: Sessions::default(),
            inner,
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

    /// Counters.
    pub fn stats(&self) -> &DtlsStats {
        &self.stats
    }

    /// Sessions held, handshaking ones included.
    pub fn session_count(&self) -> usize {
        self.sessions.len()
    }

    /// Established sessions.
    pub fn established_count(&self) -> usize {
        self.sessions.addrs().filter(|a| self.sessions.get(a).is_some_and(|e| e.session.is_established())).count()
    }

    /// The authenticated identity of the established session with `addr`.
    pub fn identity(&self, addr: &SocketAddr) -> Option<&str> {
        self.sessions.get(addr).and_then(|e| e.identity.as_deref())
    }

    /// Next session event.
    #[must_use]
    pub fn poll_event(&mut self) -> Option<SessionEvent> {
        self.events.pop()
    }

    /// Sends close_notify to `addr` and forgets the session. Returns whether there was one.
    pub fn close(&mut self, addr: SocketAddr) -> bool {
        self.end(addr, CloseReason::Closed)
    }

    /// Closes every session (e.g. before shutting down).
    pub fn close_all(&mut self) {
        let addrs: Vec<SocketAddr> = self.sessions.addrs().copied().collect();
        for addr in addrs {
            self.end(addr, CloseReason::Closed);
        }
    }

    /// Ends `addr`'s session: queues what it has to say (close_notify, alert), counts, reports.
    fn end(&mut self, addr: SocketAddr, reason: CloseReason) -> bool {
        let Some(mut entry) = self.sessions.remove(&addr) else {
            return false;
        };
        let was_established = entry.session.is_established();
        if matches!(reason, CloseReason::Closed | CloseReason::IdleTimeout | CloseReason::Evicted) {
            entry.session.close();
        }
        entry.session.drain(|d| self.outgoing.push_back((addr, d)));
        let stats = &mut self.stats;
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
        debug!(%addr, ?reason, "dtls session ended");
        self.events.push(SessionEvent::Closed { addr, identity: entry.identity, reason }, &mut self.stats);
        true
    }

    fn handle_client_hello(&mut self, now: Instant, addr: SocketAddr, hello: &ClientHello<'_>, datagram: &[u8]) {
        if let Err(error) = self.cookies.maybe_rotate(now) {
            debug!(%error, "cookie secret rotation failed; keeping the old secret");
        }
        if !self.cookies.verify(addr, hello).unwrap_or(false) {
            if !hello.cookie.is_empty() {
                self.stats.cookies_rejected += 1;
            }
            match self.cookies.cookie(addr, hello) {
                Ok(cookie) => {
                    self.outgoing.push_back((addr, record::hello_verify_request(&cookie)));
                    self.stats.hello_verify_requests += 1;
                }
                Err(error) => debug!(%error, "cookie computation failed"),
            }
            return;
        }
        if self.sessions.get(&addr).is_some_and(|entry| entry.client_random.as_slice() == hello.random) {
            // A retransmitted ClientHello: the session answers it (or ignores it).
            self.feed(now, addr, datagram);
            return;
        }
        if hello.message_seq > MAX_HELLO_MESSAGE_SEQ {
            self.stats.unsupported_hellos += 1;
            trace!(%addr, seq = hello.message_seq, "clienthello message_seq too high");
            return;
        }
        // A completed cookie exchange shows the address is reachable: a new handshake from it
        // replaces its old session (RFC 6347 §4.2.8). No close_notify goes to the old one,
        // whose keys the new client does not have.
        self.end(addr, CloseReason::Replaced);
        while self.sessions.len() >= self.config.max_sessions {
            let Some(victim) = self.sessions.least_recently_active() else {
                break;
            };
            self.end(victim, CloseReason::Evicted);
        }
        let Some(session) = self.new_session(now, addr, hello) else {
            self.stats.handshakes_failed += 1;
            return;
        };
        let Ok(client_random) = <[u8; 32]>::try_from(hello.random) else {
            return; // the parser only yields 32-byte randoms
        };
        self.sessions.insert(addr, session, client_random, self.config.idle_timeout);
        self.stats.handshakes_started += 1;
        self.feed(now, addr, datagram);
    }

    /// A fresh OpenSSL session primed with `message_seq` cookie-less copies of `hello`.
    fn new_session(&self, now: Instant, addr: SocketAddr, hello: &ClientHello<'_>) -> Option<Session> {
        // Verified cookies have exactly COOKIE_LEN bytes.
        let cookie = <[u8; COOKIE_LEN]>::try_from(hello.cookie).ok()?;
        let setup = || -> Result<Session, openssl::error::ErrorStack> {
            let mut ssl = Ssl::new(&self.context)?;
            ssl.set_accept_state();
            ssl.set_ex_data(self.cookie_index, cookie);
            Session::new(ssl, now, self.config.mtu, self.config.handshake_timeout)
        };
        let mut session = match setup() {
            Ok(s) => s,
            Err(error) => {
                debug!(%addr, %error, "could not create a dtls session");
                return None;
            }
        };
        // Synthetic record numbers: distinct from the real one and within the replay window.
        let n = u64::from(hello.message_seq);
        let first = if hello.record_seq >= n { hello.record_seq - n } else { hello.record_seq + 1 };
        for seq in 0..hello.message_seq {
            if !session.prime(&hello.without_cookie(seq, first + u64::from(seq))) {
                debug!(%addr, "openssl did not accept the primed clienthello");
                return None;
            }
        }
        Some(session)
    }

    /// Feeds a datagram to `addr`'s session and delivers any plaintext to the inner engine.
    fn feed(&mut self, now: Instant, addr: SocketAddr, datagram: &[u8]) {
        let Some(entry) = self.sessions.get_mut(&addr) else {
            return;
        };
        let step = entry.session.handle_datagram(now, datagram);
        if self.on_step(addr, step) {
            self.read_all(now, addr);
        }
    }

    /// Acts on a handshake step of `addr`'s session; returns whether the session lives on.
    fn on_step(&mut self, addr: SocketAddr, step: Step) -> bool {
        match step {
            Step::Pending => true,
            Step::Established => {
                let Some(entry) = self.sessions.get_mut(&addr) else {
                    return false;
                };
                let identity = credentials::server_peer_identity(entry.session.ssl(), &self.credentials);
                if identity.is_none() {
                    self.end(addr, CloseReason::HandshakeFailed { reason: "peer identity unavailable".into() });
                    return false;
                }
                entry.identity = identity.clone();
                self.stats.handshakes_completed += 1;
                debug!(%addr, ?identity, "dtls session established");
                self.events.push(SessionEvent::Established { peer: Peer { addr, identity } }, &mut self.stats);
                true
            }
            Step::Failed(reason) => {
                self.end(addr, CloseReason::HandshakeFailed { reason });
                false
            }
            Step::TimedOut => {
                self.end(addr, CloseReason::HandshakeTimedOut);
                false
            }
        }
    }

    /// Reads every plaintext datagram the session has and hands it to the inner engine.
    fn read_all(&mut self, now: Instant, addr: SocketAddr) {
        let ending = loop {
            let Some(entry) = self.sessions.get_mut(&addr) else {
                return;
            };
            match entry.session.read(&mut self.plaintext) {
                Received::Data(n) => {
                    let peer = Peer { addr, identity: entry.identity.clone() };
                    self.inner.handle_datagram(now, peer, &self.plaintext[..n]);
                }
                Received::Empty => break None,
                Received::PeerClosed => break Some(CloseReason::PeerClosed),
                Received::Failed(reason) => break Some(CloseReason::Failed { reason }),
            }
        };
        match ending {
            Some(reason) => {
                self.end(addr, reason);
            }
            None => {
                if let Some(entry) = self.sessions.get_mut(&addr) {
                    entry.session.drain(|d| self.outgoing.push_back((addr, d)));
                }
                self.sessions.reindex(&addr, self.config.idle_timeout);
            }
        }
    }

    /// Encrypts one datagram the inner engine wrote into `self.scratch`.
    fn encrypt(&mut self, now: Instant, transmit: &Transmit) {
        let addr = transmit.peer.addr;
        let Some(entry) = self.sessions.get_mut(&addr).filter(|e| e.session.is_established()) else {
            self.stats.transmits_dropped += 1;
            trace!(%addr, "no established dtls session for outgoing datagram");
            return;
        };
        if transmit.peer.identity.is_some() && transmit.peer.identity != entry.identity {
            // The address now belongs to someone else: never hand them the old peer's data.
            self.stats.transmits_dropped += 1;
            trace!(%addr, "outgoing datagram was for another identity");
            return;
        }
        let Some(plaintext) = self.scratch.get(..transmit.len) else {
            self.stats.transmits_dropped += 1;
            return;
        };
        match entry.session.write(now, plaintext) {
            Ok(()) => {
                entry.session.drain(|d| self.outgoing.push_back((addr, d)));
                self.sessions.reindex(&addr, self.config.idle_timeout);
            }
            Err(reason) => {
                self.stats.transmits_dropped += 1;
                self.end(addr, CloseReason::Failed { reason });
            }
        }
    }
}

impl<E: Engine> Engine for DtlsServer<E> {
    fn handle_datagram(&mut self, now: Instant, peer: Peer, datagram: &[u8]) {
        let addr = peer.addr;
        if !record::is_well_formed(datagram) {
            self.stats.junk_datagrams += 1;
            trace!(%addr, len = datagram.len(), "not dtls records");
            return;
        }
        if let Some(hello) = ClientHello::parse(datagram) {
            self.handle_client_hello(now, addr, &hello, datagram);
            return;
        }
        if self.sessions.get(&addr).is_none() {
            // A fragmented ClientHello also lands here: it cannot be checked statelessly.
            self.stats.junk_datagrams += 1;
            trace!(%addr, "dtls records for no session");
            return;
        }
        self.feed(now, addr, datagram);
    }

    fn handle_timeout(&mut self, now: Instant) {
        if self.inner.poll_timeout().is_some_and(|at| at <= now) {
            self.inner.handle_timeout(now);
        }
        while let Some(addr) = self.sessions.due(now) {
            let Some(entry) = self.sessions.get_mut(&addr) else {
                break;
            };
            if entry.session.is_established() {
                self.end(addr, CloseReason::IdleTimeout);
                continue;
            }
            let resent = entry.session.retransmissions;
            let step = entry.session.handle_timeout(now);
            self.stats.handshake_retransmissions += entry.session.retransmissions - resent;
            if self.on_step(addr, step) {
                // Drains the retransmitted flight and re-indexes the new deadline.
                self.read_all(now, addr);
            }
        }
    }

    fn poll_transmit(&mut self, now: Instant, buf: &mut Vec<u8>) -> Option<Transmit> {
        loop {
            if let Some((addr, datagram)) = self.outgoing.pop_front() {
                buf.clear();
                buf.extend_from_slice(&datagram);
                return Some(Transmit { peer: Peer::udp(addr), len: datagram.len() });
            }
            let mut scratch = std::mem::take(&mut self.scratch);
            let transmit = self.inner.poll_transmit(now, &mut scratch);
            self.scratch = scratch;
            let transmit = transmit?;
            self.encrypt(now, &transmit);
        }
    }

    fn poll_timeout(&self) -> Option<Instant> {
        match (self.inner.poll_timeout(), self.sessions.next_deadline()) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }
}
