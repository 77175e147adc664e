//! Configuration of the [`Server`](crate::Server) engine: limits, timers and policies.

use std::sync::Arc;
use std::time::Duration;

use coap::EndpointConfig;
use lwm2m::Version;

/// Limits, timers and policies of a [`Server`](crate::Server). Every table is bounded here.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// Configuration of the CoAP endpoint underneath.
    pub endpoint: Arc<EndpointConfig>,
    /// The newest LwM2M version accepted in Register; a newer one is answered 4.12.
    pub max_version: Version,
    /// Whether an endpoint without [`SecurityInfo`](crate::SecurityInfo) may register over
    /// NoSec (plain UDP). Handy for demos; turn off in production.
    pub allow_unknown_nosec: bool,
    /// Most registrations held at once; a Register beyond is answered 5.03.
    pub max_registrations: usize,
    /// Most observations held at once.
    pub max_observations: usize,
    /// Most requests in flight or queued over all registrations.
    pub max_pending_requests: usize,
    /// Most requests waiting for one queue-mode client to wake up.
    pub max_queued_per_registration: usize,
    /// How long a queue-mode client stays reachable after its last message (MAX_TRANSMIT_WAIT).
    pub awake_time: Duration,
    /// How long a request may wait for a sleeping client before it fails.
    pub max_queue_wait: Duration,
    /// Default time a sent request may take before it fails (see `RequestOptions::timeout`).
    pub request_timeout: Duration,
    /// Extra time granted after a registration's lifetime before it expires.
    pub lifetime_grace: Duration,
    /// Requests in flight at once toward a gateway: one per End-Device behind it, at most this
    /// many. Toward every other peer it is the endpoint's NSTART (1 by default, RFC 7252
    /// §4.7), which would serialise the requests for all the End-Devices behind one gateway.
    pub gateway_nstart: usize,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            endpoint: Arc::new(EndpointConfig::default()),
            max_version: Version::V1_1,
            allow_unknown_nosec: true,
            max_registrations: 10_000,
            max_observations: 20_000,
            max_pending_requests: 10_000,
            max_queued_per_registration: 16,
            awake_time: Duration::from_secs(93),
            max_queue_wait: Duration::from_secs(24 * 3600),
            request_timeout: Duration::from_secs(120),
            lifetime_grace: Duration::ZERO,
            gateway_nstart: 8,
        }
    }
}
