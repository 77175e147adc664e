//! Retransmission back-off of confirmable messages (RFC 7252 §4.2, §4.8): the first timeout is
//! drawn at random from `[ACK_TIMEOUT, ACK_TIMEOUT × ACK_RANDOM_FACTOR]` and doubles after each
//! retransmission, at most MAX_RETRANSMIT times.

use std::time::Duration;

use rand::Rng;

use super::config::EndpointConfig;

/// Where a confirmable message is in its back-off.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Backoff {
    /// Retransmissions done so far.
    pub(crate) retransmissions: u32,
    /// The wait before the next retransmission (or before giving up).
    pub(crate) timeout: Duration,
}

impl Backoff {
    /// A fresh back-off with a randomised initial timeout.
    pub(crate) fn start(config: &EndpointConfig, rng: &mut impl Rng) -> Self {
        let max = config.ack_random_factor;
        let factor = if max > 1.0 { rng.random_range(1.0..max) } else { 1.0 };
        Self { retransmissions: 0, timeout: config.ack_timeout.mul_f64(factor) }
    }

    /// After a timeout: the back-off for the next retransmission, or `None` when
    /// MAX_RETRANSMIT is reached and the message is given up.
    pub(crate) fn next(self, config: &EndpointConfig) -> Option<Self> {
        if self.retransmissions >= config.max_retransmit {
            return None;
        }
        Some(Self { retransmissions: self.retransmissions + 1, timeout: self.timeout.saturating_mul(2) })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn timeouts_double_from_a_random_start_and_stop_after_max_retransmit() {
        let config = EndpointConfig::default();
        for seed in 0..50u8 {
            let mut rng = rand_chacha::ChaCha20Rng::from_seed([seed; 32]);
            let mut backoff = Backoff::start(&config, &mut rng);
            assert!(backoff.timeout >= Duration::from_secs(2) && backoff.timeout <= Duration::from_secs(3));
            let first = backoff.timeout;
            for k in 1..=4 {
                backoff = backoff.next(&config).expect("within max_retransmit");
                assert_eq!(backoff.timeout, first * (1 << k));
            }
            assert_eq!(backoff.next(&config), None);
        }
    }
}
