//! CoAP message exchange over one local socket (RFC 7252 §4, §5.3). Skeleton: the endpoint
//! work replaces this file.

pub use crate::engine::Transmit;

/// Transmission and state-bound parameters (RFC 7252 §4.8).
#[derive(Debug, Clone, Default)]
pub struct EndpointConfig {}

/// CoAP state for one local socket. Performs no I/O and never reads the clock.
#[derive(Debug, Default)]
pub struct Endpoint {}

/// What the endpoint reports to its owner.
#[derive(Debug)]
pub enum Event {}
