//! Observations the server holds on its clients (Core TS §6.4, spec notes §2.4, pitfalls 10,
//! 11): one per accepted Observe / Observe-Composite, tied to the registration it was made on
//! and void when that registration ends.

use std::fmt;
use std::time::Instant;

use coap::Token;
use lwm2m::{EndpointName, PrefixedPath};

use crate::registration::RegistrationId;

/// The handle of an observation, carried by every notification.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ObservationId(pub u64);

impl fmt::Display for ObservationId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// An established observation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Observation {
    /// Its handle.
    pub id: ObservationId,
    /// The endpoint it was made for (an End-Device's name when made through a gateway).
    pub endpoint: EndpointName,
    /// The registration it lives on (the gateway's for an End-Device).
    pub registration: RegistrationId,
    /// The observed paths (with the End-Device prefix); one unless composite.
    pub paths: Vec<PrefixedPath>,
    /// Whether made with Observe-Composite.
    pub composite: bool,
    /// The CoAP token it runs on.
    pub token: Token,
    /// When it was established.
    pub established_at: Instant,
}
