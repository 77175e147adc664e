//! Sockets for lwm2m-gw: UDP and DTLS 1.2 (OpenSSL) transport and the tokio driver that runs any
//! sans-IO [`coap::Engine`] over a socket.
//!
//! ```text
//!   UdpSocket ──recv──▶ driver ──handle_datagram──▶ DtlsServer/DtlsClient ──plaintext──▶ inner Engine
//!   UdpSocket ◀─send─── driver ◀──poll_transmit─── (encrypt) ◀────────────poll_transmit── inner Engine
//! ```
//!
//! - [`dtls`]: DTLS as engines wrapping engines; no I/O, no clock. Plain UDP needs no wrapper:
//!   the driver runs the inner engine directly with identity-less peers.
//! - [`driver`]: the one tokio task per socket, and the only place that reads the clock.
//! - [`Secured`]: one engine type for a face that runs plain UDP or DTLS in either role.
//! - [`udp`]: which socket errors are survivable (ICMP errors and friends).
#![forbid(unsafe_code, unused_must_use)]
#![warn(missing_docs)]

pub mod driver;
pub mod dtls;
mod secured;
pub mod udp;

pub use driver::{
    spawn, Command, Driver, DriverClosed, DriverConfig, DriverError, DriverHandle, DriverStats, DriverTask,
    TrySendError,
};
pub use dtls::{
    CertificateCredentials, ClientCredentials, CloseReason, DtlsClient, DtlsConfig, DtlsError, DtlsServer, DtlsStats,
    ServerCredentials, SessionEvent,
};
pub use secured::Secured;

/// Entry points for the fuzz targets in `fuzz/`; not part of the supported API.
#[doc(hidden)]
pub mod fuzzing {
    use crate::dtls::record::{hello_verify_request, is_well_formed, ClientHello};

    /// Runs the stateless DTLS record checks on `datagram` the way [`crate::DtlsServer`] does
    /// before any per-peer state exists, and checks their invariants. The parser runs on any
    /// input; for a well-formed datagram holding a ClientHello (what the server acts on): its
    /// first record alone is well-formed, rewriting it without its cookie (as the server primes
    /// a new session) gives one well-formed record that parses to the same parameters, and a
    /// HelloVerifyRequest for its cookie is well-formed and no ClientHello. Panics when an
    /// invariant breaks.
    pub fn dtls_record(datagram: &[u8]) {
        let well_formed = is_well_formed(datagram);
        let Some(hello) = ClientHello::parse(datagram) else {
            return;
        };
        if !well_formed {
            return;
        }
        let first = datagram
            .get(11..13)
            .map(|len| crate::dtls::record::RECORD_HEADER_LEN + usize::from(u16::from_be_bytes([len[0], len[1]])))
            .and_then(|end| datagram.get(..end))
            .expect("a ClientHello record has a complete header and body");
        assert!(is_well_formed(first), "first record of a well-formed datagram");
        let next_seq = hello.message_seq.wrapping_add(1);
        let rewritten = hello.without_cookie(next_seq, hello.record_seq);
        assert!(is_well_formed(&rewritten), "a rewritten ClientHello is one well-formed record");
        let again = ClientHello::parse(&rewritten).expect("a rewritten ClientHello parses");
        assert!(again.cookie.is_empty(), "the rewritten ClientHello has no cookie");
        assert_eq!(again.message_seq, next_seq);
        assert_eq!(again.record_seq, hello.record_seq);
        assert_eq!(again.record_version, hello.record_version);
        assert_eq!(again.client_version, hello.client_version);
        assert_eq!(again.random, hello.random);
        assert_eq!(again.session_id, hello.session_id);
        assert_eq!(again.cipher_suites, hello.cipher_suites);
        assert_eq!(again.compression_methods, hello.compression_methods);
        let hvr = hello_verify_request(hello.cookie);
        assert!(is_well_formed(&hvr), "a HelloVerifyRequest is one well-formed record");
        assert_eq!(ClientHello::parse(&hvr), None, "a HelloVerifyRequest is no ClientHello");
    }

    #[cfg(test)]
    mod tests {
        use super::dtls_record;
        use crate::dtls::record::tests::client_hello;

        #[test]
        fn the_fuzz_entry_point_holds_for_real_client_hellos_and_their_truncations() {
            for hello in [client_hello(&[], 0, 0), client_hello(&[0xab; 32], 1, 1), client_hello(&[1; 255], 4, 9)] {
                for len in 0..=hello.len() {
                    dtls_record(&hello[..len]);
                }
                let mut two = hello.clone();
                two.extend_from_slice(&hello);
                dtls_record(&two);
            }
        }
    }
}
