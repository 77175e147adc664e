//! Plain UDP: binding sockets for the driver, and the socket errors the driver survives.
//!
//! Over plain UDP an engine is driven as is: the driver hands it `Peer::udp(addr)` (no
//! identity) and sends its transmits to `peer.addr`. What this module owns is the judgement
//! of socket errors. On Linux an ICMP port/host unreachable for an earlier datagram surfaces as
//! `ECONNREFUSED`/`EHOSTUNREACH` … on the next `recv_from`/`send_to` (always on connected
//! sockets, with `IP_RECVERR` on others); it concerns one remote, never the socket, so the
//! driver counts it and carries on.
//!
//! [`bind`] opens a socket with a larger kernel receive buffer (`SO_RCVBUF`) for servers that
//! take bursts: on Linux the default (`net.core.rmem_default`, 212 992 bytes) overflows when a
//! thousand clients register at once, and every dropped Register costs its client a
//! retransmission timeout (2–3 s).

use std::io;
use std::net::SocketAddr;

use socket2::{Domain, Protocol, Socket, Type};

/// Receive buffer a server socket asks the kernel for: 4 MiB. Linux caps the request at
/// `net.core.rmem_max` (then doubles it for bookkeeping); asking for more than allowed is not
/// an error.
pub const SERVER_RECV_BUFFER: usize = 4 << 20;

/// Binds a non-blocking UDP socket on `addr` for the driver, asking the kernel for a receive
/// buffer of `recv_buffer` bytes first (`None` keeps the system default). A refused buffer size
/// is logged and the socket is used with the default. Must run inside a tokio runtime.
pub fn bind(addr: SocketAddr, recv_buffer: Option<usize>) -> io::Result<tokio::net::UdpSocket> {
    let socket = Socket::new(Domain::for_address(addr), Type::DGRAM, Some(Protocol::UDP))?;
    if let Some(size) = recv_buffer {
        if let Err(error) = socket.set_recv_buffer_size(size) {
            tracing::warn!(%addr, size, %error, "cannot enlarge the udp receive buffer; using the default");
        }
    }
    socket.set_nonblocking(true)?;
    socket.bind(&addr.into())?;
    tracing::debug!(%addr, recv_buffer = socket.recv_buffer_size().ok(), "udp socket bound");
    tokio::net::UdpSocket::from_std(socket.into())
}

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

    #[tokio::test]
    async fn bind_asks_the_kernel_for_a_larger_receive_buffer() {
        let plain = bind("127.0.0.1:0".parse().expect("addr"), None).expect("bind");
        let large = bind("127.0.0.1:0".parse().expect("addr"), Some(SERVER_RECV_BUFFER)).expect("bind");
        let size = |s: &tokio::net::UdpSocket| socket2::SockRef::from(s).recv_buffer_size().expect("SO_RCVBUF");
        assert!(size(&large) > size(&plain), "{} > {}", size(&large), size(&plain));
        assert_ne!(large.local_addr().expect("bound").port(), 0);
    }

    #[test]
    fn a_closed_socket_is_not_transient() {
        assert!(!is_transient(&io::Error::from_raw_os_error(9))); // EBADF
        assert!(!is_transient(&io::Error::from(io::ErrorKind::InvalidInput)));
    }
}
