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
