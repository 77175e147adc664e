//! [`Secured`]: one engine type for a face that may run over plain UDP or DTLS in either role,
//! chosen at run time from configuration (LwM2M Security Mode NoSec, PSK or Certificate).

use std::time::Instant;

use coap::{Engine, Peer, Transmit};

use crate::dtls::{DtlsClient, DtlsServer, DtlsStats, SessionEvent};

/// An inner engine over plain UDP, behind a DTLS server, or behind a DTLS client.
#[derive(Debug)]
pub enum Secured<E> {
    /// Plain UDP (NoSec): peers carry no identity.
    Plain(E),
    /// DTLS server: many peers, each authenticated.
    Server(DtlsServer<E>),
    /// DTLS client: one server.
    Client(DtlsClient<E>),
}

impl<E: Engine> Secured<E> {
    /// The wrapped engine.
    pub fn inner(&self) -> &E {
        match self {
            Self::Plain(e) => e,
            Self::Server(s) => s.inner(),
            Self::Client(c) => c.inner(),
        }
    }

    /// The wrapped engine, for commands. Drain `poll_transmit` afterwards as usual.
    pub fn inner_mut(&mut self) -> &mut E {
        match self {
            Self::Plain(e) => e,
            Self::Server(s) => s.inner_mut(),
            Self::Client(c) => c.inner_mut(),
        }
    }

    /// DTLS counters (`None` over plain UDP).
    pub fn dtls_stats(&self) -> Option<&DtlsStats> {
        match self {
            Self::Plain(_) => None,
            Self::Server(s) => Some(s.stats()),
            Self::Client(c) => Some(c.stats()),
        }
    }

    /// Next DTLS session event (never any over plain UDP).
    #[must_use]
    pub fn poll_event(&mut self) -> Option<SessionEvent> {
        match self {
            Self::Plain(_) => None,
            Self::Server(s) => s.poll_event(),
            Self::Client(c) => c.poll_event(),
        }
    }
}

impl<E: Engine> Engine for Secured<E> {
    fn handle_datagram(&mut self, now: Instant, peer: Peer, datagram: &[u8]) {
        match self {
            // Whatever identity the caller put there, plain UDP authenticates nobody.
            Self::Plain(e) => e.handle_datagram(now, Peer::udp(peer.addr), datagram),
            Self::Server(s) => s.handle_datagram(now, peer, datagram),
            Self::Client(c) => c.handle_datagram(now, peer, datagram),
        }
    }

    fn handle_timeout(&mut self, now: Instant) {
        match self {
            Self::Plain(e) => e.handle_timeout(now),
            Self::Server(s) => s.handle_timeout(now),
            Self::Client(c) => c.handle_timeout(now),
        }
    }

    fn poll_transmit(&mut self, now: Instant, buf: &mut Vec<u8>) -> Option<Transmit> {
        match self {
            Self::Plain(e) => e.poll_transmit(now, buf),
            Self::Server(s) => s.poll_transmit(now, buf),
            Self::Client(c) => c.poll_transmit(now, buf),
        }
    }

    fn poll_timeout(&self) -> Option<Instant> {
        match self {
            Self::Plain(e) => e.poll_timeout(),
            Self::Server(s) => s.poll_timeout(),
            Self::Client(c) => c.poll_timeout(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Default)]
    struct Last(Option<Peer>);

    impl Engine for Last {
        fn handle_datagram(&mut self, _now: Instant, peer: Peer, _d: &[u8]) {
            self.0 = Some(peer);
        }
        fn handle_timeout(&mut self, _now: Instant) {}
        fn poll_transmit(&mut self, _now: Instant, _buf: &mut Vec<u8>) -> Option<Transmit> {
            None
        }
        fn poll_timeout(&self) -> Option<Instant> {
            None
        }
    }

    #[test]
    fn plain_udp_strips_any_identity() {
        let mut plain = Secured::Plain(Last::default());
        let addr = "127.0.0.1:5683".parse().expect("addr");
        plain.handle_datagram(Instant::now(), Peer { addr, identity: Some("forged".into()) }, b"x");
        assert_eq!(plain.inner().0, Some(Peer::udp(addr)));
        assert!(plain.dtls_stats().is_none());
        assert!(plain.poll_event().is_none());
    }
}
