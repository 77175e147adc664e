//! DTLS 1.2 over OpenSSL as sans-IO engines (RFC 6347, profiled by RFC 7925 and LwM2M Core TS
//! 1.2 §7.1).
//!
//! [`DtlsServer`] and [`DtlsClient`] implement [`coap::Engine`] by wrapping an inner engine:
//! encrypted datagrams go in, handshakes run, and plaintext reaches the inner engine. Behind
//! the server it comes from a [`Peer`](coap::Peer) whose `identity` is the client's PSK
//! identity or certificate identity; behind the client it comes from `Peer::udp(server)`, the
//! peer the inner engine addresses (the server's identity is [`DtlsClient::identity`]). What
//! the inner engine transmits is encrypted on the way out. Neither does I/O nor reads the
//! clock: handshake retransmission, handshake deadlines and idle expiry are deadlines reported
//! by `poll_timeout`.
//!
//! - `record`: the few wire structures read before any per-peer state exists.
//! - `cookie`: stateless HelloVerifyRequest cookies.
//! - [`credentials`]: PSK and X.509 credentials and the OpenSSL contexts built from them.
//! - `session`: one OpenSSL session over an in-memory datagram pipe.
//! - `sessions`: the server's table (per-address, capped, least recently active evicted).
//!
//! Known limits, all from OpenSSL or DTLS itself:
//! - OpenSSL's DTLS timer runs on the wall clock and the `openssl` crate exposes neither
//!   `DTLSv1_handle_timeout` nor `DTLS_set_timer_cb`: a flight is resent when our deadline fires
//!   *and* OpenSSL's wall-clock timer has expired. Under `tokio::time::pause()` handshake
//!   deadlines follow virtual time but retransmissions wait for real time.
//! - A wrong PSK makes the Finished message undecryptable, which DTLS drops silently (RFC 6347
//!   §4.1.2.7): such a handshake ends at the deadline and counts as `handshakes_timed_out`.
//! - A ClientHello fragmented over several records cannot be checked statelessly and is
//!   dropped (counted as junk).
//! - A client cannot tell that its server lost the session (rebooted, evicted it without the
//!   close_notify arriving): the owner calls [`DtlsClient::close`] when exchanges keep failing,
//!   and the next datagram starts a new handshake.

mod client;
pub(crate) mod cookie;
pub mod credentials;
pub(crate) mod record;
mod server;
pub(crate) mod session;
mod sessions;

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::time::Duration;

pub use client::DtlsClient;
pub use credentials::{
    subject_common_name, CertificateAuthorizer, CertificateCredentials, ClientCredentials, PskLookup, ServerCredentials,
};
pub use server::DtlsServer;

/// Tunables shared by both roles.
#[derive(Debug, Clone)]
pub struct DtlsConfig {
    /// Largest datagram sent (records are packed and handshake messages fragmented to fit).
    /// The default, 1152, leaves room for IPv6 and UDP headers in a 1280-byte path MTU.
    pub mtu: usize,
    /// A handshake not finished this long after it started is dropped.
    pub handshake_timeout: Duration,
    /// Most sessions a server keeps (handshaking ones included); the least recently active
    /// one is evicted to make room. Each OpenSSL session holds about 42 KiB (measured with
    /// OpenSSL 3.0 PSK sessions), so the default cap bounds session memory near 420 MiB.
    pub max_sessions: usize,
    /// An established session with no traffic for this long is closed; `None` keeps it.
    pub idle_timeout: Option<Duration>,
    /// How long a cookie secret is used before it rotates (the previous one stays valid for
    /// one more period). This bounds how long a captured ClientHello with its cookie can be
    /// replayed to replace that address's session (RFC 6347 §4.2.8 lets a completed cookie
    /// exchange replace an association).
    pub cookie_lifetime: Duration,
    /// Client: plaintext datagrams held while the handshake runs; older ones are dropped.
    pub max_pending_datagrams: usize,
    /// Session events kept until [`DtlsServer::poll_event`] / [`DtlsClient::poll_event`];
    /// older ones are dropped (and counted).
    pub max_events: usize,
}

impl Default for DtlsConfig {
    fn default() -> Self {
        Self {
            mtu: 1152,
            handshake_timeout: Duration::from_secs(30),
            max_sessions: 10_000,
            idle_timeout: None,
            cookie_lifetime: Duration::from_secs(60),
            max_pending_datagrams: 16,
            max_events: 1024,
        }
    }
}

/// Smallest MTU accepted: OpenSSL cannot fragment a handshake below this.
pub const MIN_MTU: usize = 256;
/// Largest MTU accepted (one UDP datagram).
pub const MAX_MTU: usize = 65_507;

impl DtlsConfig {
    fn validate(&self) -> Result<(), DtlsError> {
        if !(MIN_MTU..=MAX_MTU).contains(&self.mtu) {
            return Err(DtlsError::Config { what: "mtu must be between 256 and 65507 bytes" });
        }
        if self.max_sessions == 0 {
            return Err(DtlsError::Config { what: "max_sessions must be at least 1" });
        }
        if self.handshake_timeout.is_zero() {
            return Err(DtlsError::Config { what: "handshake_timeout must be positive" });
        }
        Ok(())
    }
}

/// Why a DTLS engine could not be set up (all of these are the caller's to fix).
#[derive(Debug, thiserror::Error)]
pub enum DtlsError {
    /// A configuration value is out of range.
    #[error("invalid dtls configuration: {what}")]
    Config {
        /// Which value and why.
        what: &'static str,
    },
    /// Server credentials without any PSK look-up or certificate.
    #[error("dtls server credentials hold neither a psk look-up nor a certificate")]
    NoCredentials,
    /// PSK identity empty, longer than 128 bytes or containing NUL.
    #[error("psk identity must be 1 to 128 bytes without nul")]
    BadPskIdentity,
    /// PSK key empty or longer than 64 bytes.
    #[error("psk key must be 1 to 64 bytes")]
    BadPskKey,
    /// OpenSSL refused the context (bad certificate/key pair, unknown cipher …).
    #[error("openssl refused the dtls context")]
    Setup(#[source] openssl::error::ErrorStack),
}

/// Why a session ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CloseReason {
    /// The handshake failed (wrong key, unknown identity, refused certificate, alert …);
    /// `reason` is OpenSSL's description.
    HandshakeFailed {
        /// OpenSSL's reason text.
        reason: String,
    },
    /// The handshake did not finish within `handshake_timeout`.
    HandshakeTimedOut,
    /// The peer sent close_notify (answered with ours).
    PeerClosed,
    /// A fatal alert or protocol error on an established session.
    Failed {
        /// OpenSSL's reason text.
        reason: String,
    },
    /// Evicted to make room under `max_sessions`.
    Evicted,
    /// The same address started a new handshake.
    Replaced,
    /// No traffic for `idle_timeout`.
    IdleTimeout,
    /// Closed by the owner ([`DtlsServer::close`], [`DtlsClient::close`]).
    Closed,
}

/// What happened to a session, for the owner to observe.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SessionEvent {
    /// A handshake finished; `peer.identity` is who authenticated.
    Established {
        /// The peer and its identity.
        peer: coap::Peer,
    },
    /// A session (established or not) ended.
    Closed {
        /// Remote address.
        addr: SocketAddr,
        /// Identity, if the handshake had finished.
        identity: Option<String>,
        /// Why.
        reason: CloseReason,
    },
}

/// Counters; every dropped input is counted in one of them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DtlsStats {
    /// Datagrams that were not DTLS records, or records for no session that were not a
    /// ClientHello, or from an address other than the client's server.
    pub junk_datagrams: u64,
    /// ClientHellos with a valid cookie but a message_seq beyond 4 (more HelloVerifyRequests
    /// than any client needs). Fragmented ClientHellos count as junk.
    pub unsupported_hellos: u64,
    /// HelloVerifyRequests sent.
    pub hello_verify_requests: u64,
    /// ClientHellos carrying a cookie that did not verify.
    pub cookies_rejected: u64,
    /// Handshakes started (server: after a valid cookie).
    pub handshakes_started: u64,
    /// Handshakes finished.
    pub handshakes_completed: u64,
    /// Handshakes that failed (alerts, wrong key, unknown identity, refused certificate).
    pub handshakes_failed: u64,
    /// Handshake flights resent because our retransmission timer fired (RFC 6347 §4.2.4).
    pub handshake_retransmissions: u64,
    /// Handshakes dropped at the handshake deadline.
    pub handshakes_timed_out: u64,
    /// Sessions evicted for room.
    pub sessions_evicted: u64,
    /// Sessions closed by the peer's close_notify.
    pub sessions_closed_by_peer: u64,
    /// Established sessions ended by a fatal alert or error.
    pub sessions_failed: u64,
    /// Sessions ended by idle timeout.
    pub sessions_idle_closed: u64,
    /// Sessions replaced by a new handshake from the same address.
    pub sessions_replaced: u64,
    /// Datagrams from the inner engine that could not be sent (no established session for
    /// that address or identity, pending queue overflow, encryption failure).
    pub transmits_dropped: u64,
    /// Events dropped because nobody polled them.
    pub events_dropped: u64,
}

/// Bounded event queue shared by both roles.
#[derive(Debug)]
struct Events {
    queue: VecDeque<SessionEvent>,
    cap: usize,
}

impl Events {
    fn new(cap: usize) -> Self {
        Self { queue: VecDeque::new(), cap }
    }

    fn push(&mut self, event: SessionEvent, stats: &mut DtlsStats) {
        if self.cap == 0 {
            stats.events_dropped += 1;
            return;
        }
        while self.queue.len() >= self.cap {
            self.queue.pop_front();
            stats.events_dropped += 1;
        }
        self.queue.push_back(event);
    }

    fn pop(&mut self) -> Option<SessionEvent> {
        self.queue.pop_front()
    }
}
