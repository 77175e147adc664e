//! The datagram-level surface every sans-IO engine implements, so that one driver
//! (`transport::driver`) and one simulator (`sim`) run them all.

use std::net::SocketAddr;
use std::time::Instant;

/// A remote party: its address and, over DTLS, the identity it authenticated with.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Peer {
    /// Remote UDP address.
    pub addr: SocketAddr,
    /// Authenticated identity (PSK identity or certificate subject CN); `None` over plain UDP.
    pub identity: Option<String>,
}

impl Peer {
    /// A peer reached over plain UDP (no authenticated identity).
    pub fn udp(addr: SocketAddr) -> Self {
        Self { addr, identity: None }
    }
}

/// An outgoing datagram written into the caller's buffer.
#[must_use]
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transmit {
    /// Where the datagram goes.
    pub peer: Peer,
    /// How many bytes of the caller's buffer hold it.
    pub len: usize,
}

/// A sans-IO machine fed with datagrams. Call order after every input or command:
/// `poll_transmit` until `None`, then `poll_timeout`.
pub trait Engine {
    /// A datagram arrived from `peer`.
    fn handle_datagram(&mut self, now: Instant, peer: Peer, datagram: &[u8]);
    /// Time advanced; spurious calls are harmless.
    fn handle_timeout(&mut self, now: Instant);
    /// Next datagram to send, written into `buf` (cleared first).
    fn poll_transmit(&mut self, now: Instant, buf: &mut Vec<u8>) -> Option<Transmit>;
    /// Earliest deadline at which `handle_timeout` must be called.
    fn poll_timeout(&self) -> Option<Instant>;
}
