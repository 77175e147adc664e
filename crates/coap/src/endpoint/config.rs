//! Endpoint parameters: RFC 7252 §4.8 transmission parameters, their derived times (§4.8.2),
//! block-wise preferences (RFC 7959) and the caps that bound every table the endpoint keeps.
//!
//! Defaults are the RFC's; [`EndpointConfig::validate`] rejects combinations that would make the
//! endpoint misbehave (zero caps, a random factor below 1, a token shorter than 4 bytes).

use std::time::Duration;

use crate::block::BlockSize;

/// Transmission and state-bound parameters of one [`Endpoint`](super::Endpoint).
#[derive(Debug, Clone, PartialEq)]
pub struct EndpointConfig {
    /// ACK_TIMEOUT: initial retransmission timeout of a confirmable message (RFC 7252: 2 s).
    pub ack_timeout: Duration,
    /// ACK_RANDOM_FACTOR: the initial timeout is drawn from `[ack_timeout, ack_timeout × factor]` (1.5).
    pub ack_random_factor: f64,
    /// MAX_RETRANSMIT: retransmissions before a confirmable message is given up (4).
    pub max_retransmit: u32,
    /// NSTART: outstanding interactions per peer; further requests wait in a queue (1).
    pub nstart: usize,
    /// MAX_LATENCY: the longest a datagram is assumed to travel (100 s).
    pub max_latency: Duration,
    /// PROCESSING_DELAY: how long a peer may take to acknowledge (RFC: ACK_TIMEOUT, 2 s).
    pub processing_delay: Duration,
    /// How long an incoming confirmable request may wait for the application's answer before
    /// the endpoint sends an empty ACK and the answer becomes a separate response.
    /// Keep it below `ack_timeout` so the peer does not retransmit.
    pub separate_response_delay: Duration,
    /// How long a request waits for its response once nothing more will be retransmitted:
    /// after an empty ACK, or after a non-confirmable request was sent.
    pub response_timeout: Duration,
    /// How long the application may take to answer a request before the endpoint forgets it.
    pub server_exchange_lifetime: Duration,
    /// Token length in bytes for requests we send (4..=8, random from the seeded generator).
    pub token_len: usize,
    /// Most deduplication entries kept; the oldest is evicted beyond.
    pub max_dedup_entries: usize,
    /// Most client exchanges (in flight, queued or observing) at once; beyond, `SendError::TooManyExchanges`.
    pub max_client_exchanges: usize,
    /// Most requests waiting for NSTART across all peers; beyond, `SendError::QueueFull`.
    pub max_queued_requests: usize,
    /// Most incoming requests awaiting the application's answer; beyond, new ones get 5.03.
    pub max_server_exchanges: usize,
    /// Most peers whose message-ID counter is remembered (an evicted peer restarts at random).
    pub max_peers: usize,
    /// Block size we prefer, for slicing our bodies and for reassembling the peer's (RFC 7959).
    pub block_size: BlockSize,
    /// Largest body reassembled or served block-wise, in bytes (4.13 / `BodyTooLarge` beyond).
    pub max_body_size: usize,
    /// Largest request payload accepted without Block1; larger ones get 4.13 with our block size.
    pub max_unfragmented_payload: usize,
    /// Most block-wise transfers (incoming Block1 bodies and cached Block2 bodies) at once.
    pub max_block_transfers: usize,
    /// Total bytes held by block-wise transfers at once.
    pub max_block_bytes: usize,
    /// How long a block-wise transfer may pause between two blocks before it is dropped.
    pub block_lifetime: Duration,
    /// Most observations we serve at once; beyond, a registration is answered as a plain GET.
    pub max_observations: usize,
    /// A notification goes confirmable at least this often (RFC 7641 §4.5: 24 h).
    pub notification_con_interval: Duration,
    /// Send every notification confirmable.
    pub confirmable_notifications: bool,
}

impl Default for EndpointConfig {
    fn default() -> Self {
        Self {
            ack_timeout: Duration::from_secs(2),
            ack_random_factor: 1.5,
            max_retransmit: 4,
            nstart: 1,
            max_latency: Duration::from_secs(100),
            processing_delay: Duration::from_secs(2),
            separate_response_delay: Duration::from_secs(1),
            response_timeout: Duration::from_secs(93),
            server_exchange_lifetime: Duration::from_secs(93),
            token_len: 8,
            max_dedup_entries: 4096,
            max_client_exchanges: 1024,
            max_queued_requests: 256,
            max_server_exchanges: 1024,
            max_peers: 4096,
            block_size: BlockSize::S1024,
            max_body_size: 1 << 20,
            max_unfragmented_payload: 1024,
            max_block_transfers: 64,
            max_block_bytes: 8 << 20,
            block_lifetime: Duration::from_secs(93),
            max_observations: 1024,
            notification_con_interval: Duration::from_secs(24 * 3600),
            confirmable_notifications: false,
        }
    }
}

/// Why an [`EndpointConfig`] cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    /// A field is out of its allowed range.
    #[error("endpoint config field {field} is out of range: {why}")]
    OutOfRange {
        /// Field name.
        field: &'static str,
        /// What the allowed range is.
        why: &'static str,
    },
}

/// Longest duration any timing field may hold, so that `now + duration` can never overflow.
const MAX_DURATION: Duration = Duration::from_secs(30 * 24 * 3600);

impl EndpointConfig {
    /// Checks every field against its allowed range: durations up to 30 days (ACK_TIMEOUT
    /// positive), ACK_RANDOM_FACTOR in 1..=16, MAX_RETRANSMIT up to 20, tokens of 4..=8 bytes,
    /// caps of at least 1, and `max_block_bytes` at least `max_body_size`.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let bad = |field, why| Err(ConfigError::OutOfRange { field, why });
        if !(self.ack_random_factor >= 1.0 && self.ack_random_factor <= 16.0) {
            return bad("ack_random_factor", "must be in 1.0..=16.0");
        }
        if self.ack_timeout.is_zero() {
            return bad("ack_timeout", "must be positive");
        }
        for (field, value) in [
            ("ack_timeout", self.ack_timeout),
            ("max_latency", self.max_latency),
            ("processing_delay", self.processing_delay),
            ("separate_response_delay", self.separate_response_delay),
            ("response_timeout", self.response_timeout),
            ("server_exchange_lifetime", self.server_exchange_lifetime),
            ("block_lifetime", self.block_lifetime),
            ("notification_con_interval", self.notification_con_interval),
        ] {
            if value > MAX_DURATION {
                return bad(field, "must be at most 30 days");
            }
        }
        if self.max_retransmit > 20 {
            return bad("max_retransmit", "must be at most 20");
        }
        if !(4..=8).contains(&self.token_len) {
            return bad("token_len", "must be 4..=8 bytes");
        }
        for (field, value) in [
            ("nstart", self.nstart),
            ("max_dedup_entries", self.max_dedup_entries),
            ("max_client_exchanges", self.max_client_exchanges),
            ("max_server_exchanges", self.max_server_exchanges),
            ("max_peers", self.max_peers),
            ("max_block_transfers", self.max_block_transfers),
            ("max_unfragmented_payload", self.max_unfragmented_payload),
        ] {
            if value == 0 {
                return bad(field, "must be at least 1");
            }
        }
        if self.max_block_bytes < self.max_body_size {
            return bad("max_block_bytes", "must be at least max_body_size");
        }
        Ok(())
    }

    /// A copy with every field forced into the range [`validate`](Self::validate) accepts
    /// (a NaN random factor becomes the default 1.5).
    pub fn sanitized(&self) -> Self {
        let clamp = |d: Duration| d.min(MAX_DURATION);
        Self {
            ack_timeout: clamp(self.ack_timeout).max(Duration::from_millis(1)),
            ack_random_factor: if self.ack_random_factor.is_nan() {
                1.5
            } else {
                self.ack_random_factor.clamp(1.0, 16.0)
            },
            max_retransmit: self.max_retransmit.min(20),
            nstart: self.nstart.max(1),
            max_latency: clamp(self.max_latency),
            processing_delay: clamp(self.processing_delay),
            separate_response_delay: clamp(self.separate_response_delay),
            response_timeout: clamp(self.response_timeout),
            server_exchange_lifetime: clamp(self.server_exchange_lifetime),
            token_len: self.token_len.clamp(4, 8),
            max_dedup_entries: self.max_dedup_entries.max(1),
            max_client_exchanges: self.max_client_exchanges.max(1),
            max_queued_requests: self.max_queued_requests,
            max_server_exchanges: self.max_server_exchanges.max(1),
            max_peers: self.max_peers.max(1),
            block_size: self.block_size,
            max_body_size: self.max_body_size,
            max_unfragmented_payload: self.max_unfragmented_payload.max(1),
            max_block_transfers: self.max_block_transfers.max(1),
            max_block_bytes: self.max_block_bytes.max(self.max_body_size),
            block_lifetime: clamp(self.block_lifetime),
            max_observations: self.max_observations,
            notification_con_interval: clamp(self.notification_con_interval),
            confirmable_notifications: self.confirmable_notifications,
        }
    }

    /// MAX_TRANSMIT_SPAN = ACK_TIMEOUT × (2^MAX_RETRANSMIT − 1) × ACK_RANDOM_FACTOR (§4.8.2).
    pub fn max_transmit_span(&self) -> Duration {
        let factor = ((1u64 << self.max_retransmit) - 1) as f64 * self.ack_random_factor;
        self.ack_timeout.mul_f64(factor)
    }

    /// MAX_TRANSMIT_WAIT = ACK_TIMEOUT × (2^(MAX_RETRANSMIT + 1) − 1) × ACK_RANDOM_FACTOR (§4.8.2).
    pub fn max_transmit_wait(&self) -> Duration {
        let factor = ((1u64 << (self.max_retransmit + 1)) - 1) as f64 * self.ack_random_factor;
        self.ack_timeout.mul_f64(factor)
    }

    /// EXCHANGE_LIFETIME = MAX_TRANSMIT_SPAN + 2 × MAX_LATENCY + PROCESSING_DELAY (§4.8.2):
    /// how long a confirmable message ID is remembered for deduplication.
    pub fn exchange_lifetime(&self) -> Duration {
        self.max_transmit_span() + 2 * self.max_latency + self.processing_delay
    }

    /// NON_LIFETIME = MAX_TRANSMIT_SPAN + MAX_LATENCY (§4.8.2): how long a non-confirmable
    /// message ID is remembered.
    pub fn non_lifetime(&self) -> Duration {
        self.max_transmit_span() + self.max_latency
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn derived_times_match_rfc_7252_section_4_8_2() {
        let config = EndpointConfig::default();
        assert_eq!(config.max_transmit_span(), Duration::from_secs(45));
        assert_eq!(config.max_transmit_wait(), Duration::from_secs(93));
        assert_eq!(config.exchange_lifetime(), Duration::from_secs(247));
        assert_eq!(config.non_lifetime(), Duration::from_secs(145));
        assert_eq!(config.validate(), Ok(()));
    }

    #[test]
    fn sanitized_config_is_valid() {
        let wild = EndpointConfig {
            ack_timeout: Duration::ZERO,
            ack_random_factor: f64::NAN,
            max_retransmit: 99,
            nstart: 0,
            response_timeout: Duration::MAX,
            token_len: 0,
            max_dedup_entries: 0,
            max_block_bytes: 0,
            ..EndpointConfig::default()
        };
        assert!(wild.validate().is_err());
        let tame = wild.sanitized();
        assert_eq!(tame.validate(), Ok(()));
        assert!(tame.exchange_lifetime() > Duration::ZERO);
    }

    #[test]
    fn short_tokens_are_refused() {
        let config = EndpointConfig { token_len: 2, ..EndpointConfig::default() };
        assert!(config.validate().is_err());
    }
}
