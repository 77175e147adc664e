//! Plain UDP: socket errors the driver survives.
//!
//! Over plain UDP an engine is driven as is: the driver hands it `Peer::udp(addr)` (no
//! identity) and sends its transmits to `peer.addr`. What this module owns is the judgement
//! of socket errors. On Linux an ICMP port/host unreachable for an earlier datagram surfaces as
//! `ECONNREFUSED`/`EHOSTUNREACH` … on the next `recv_from`/`send_to` (always on connected
//! sockets, with `IP_RECVERR` on others); it concerns one remote, never the socket, so the
//! driver counts it and carries on.

use std::io;

/// Whether a socket error concerns one datagram or one remote (ICMP errors, a full buffer, an
/// oversized datagram, an interrupted call) rather than the socket itself.
pub fn is_transient(error: &io::Error) -> bool {
    use io::ErrorKind as K;
    if matches!(
        error.kind(),
        K::ConnectionRefused
            | K::ConnectionReset
            | K::ConnectionAborted
            | K::HostUnreachable
            | K::NetworkUnreachable
            | K::NetworkDown
            | K::AddrNotAvailable
            | K::PermissionDenied
            | K::Interrupted
            | K::WouldBlock
            | K::TimedOut
    ) {
        return true;
    }
    // Linux errno values without a stable ErrorKind: EMSGSIZE (90), ENOBUFS (105),
    // EPROTO (71, ICMP parameter problem), ENOPROTOOPT (92, ICMP protocol unreachable),
    // EHOSTDOWN (112), ENONET (64).
    matches!(error.raw_os_error(), Some(90 | 105 | 71 | 92 | 112 | 64))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn icmp_errors_are_transient() {
        for kind in
            [io::ErrorKind::ConnectionRefused, io::ErrorKind::HostUnreachable, io::ErrorKind::NetworkUnreachable]
        {
            assert!(is_transient(&io::Error::from(kind)), "{kind:?}");
        }
        assert!(is_transient(&io::Error::from_raw_os_error(111))); // ECONNREFUSED on Linux
        assert!(is_transient(&io::Error::from_raw_os_error(90))); // EMSGSIZE
    }

    #[test]
    fn a_closed_socket_is_not_transient() {
        assert!(!is_transient(&io::Error::from_raw_os_error(9))); // EBADF
        assert!(!is_transient(&io::Error::from(io::ErrorKind::InvalidInput)));
    }
}
