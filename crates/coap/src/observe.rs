//! Observe bookkeeping (RFC 7641): the Observe option values, notification sequence numbers and
//! the client's freshness rule for reordered notifications (§3.4).
//!
//! The tables of observations (who observes what, which token) live in the endpoint; this module
//! owns the arithmetic. Invariant: sequence numbers stay within 24 bits so the option never needs
//! more than 3 bytes.

use std::time::{Duration, Instant};

/// Observe value in a GET that registers an observation (§3.1).
pub const REGISTER: u32 = 0;
/// Observe value in a GET that cancels an observation (§3.6).
pub const DEREGISTER: u32 = 1;
/// Sequence numbers are 24-bit (§4.4).
pub const SEQUENCE_MODULUS: u32 = 1 << 24;
/// A notification older than this is fresh whatever its number (§3.4).
pub const FRESHNESS_WINDOW: Duration = Duration::from_secs(128);

/// What an Observe option in a request asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ObserveRequest {
    /// Observe: 0, register (or re-register).
    Register,
    /// Observe: 1, deregister.
    Deregister,
}

impl ObserveRequest {
    /// Reads a request's Observe value; other values are ignored as RFC 7641 §2 allows.
    pub fn from_value(value: Option<u32>) -> Option<Self> {
        match value {
            Some(REGISTER) => Some(Self::Register),
            Some(DEREGISTER) => Some(Self::Deregister),
            _ => None,
        }
    }
}

/// The notifier's counter: each call to [`next_value`](Self::next_value) gives a larger 24-bit number
/// (modulo 2^24).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SequenceCounter(u32);

impl SequenceCounter {
    /// A counter whose first number is `start` (reduced to 24 bits).
    pub fn starting_at(start: u32) -> Self {
        Self(start % SEQUENCE_MODULUS)
    }

    /// The next sequence number.
    pub fn next_value(&mut self) -> u32 {
        let value = self.0;
        self.0 = (self.0 + 1) % SEQUENCE_MODULUS;
        value
    }
}

/// The last notification an observer accepted: its number and when it arrived.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Freshness {
    sequence: u32,
    received_at: Instant,
}

impl Freshness {
    /// Starts from the notification (or first response) numbered `sequence`, received at `now`.
    pub fn new(sequence: u32, now: Instant) -> Self {
        Self { sequence: sequence % SEQUENCE_MODULUS, received_at: now }
    }

    /// RFC 7641 §3.4: whether notification `sequence` received at `now` is newer than the last
    /// accepted one; if so it becomes the last accepted one.
    pub fn accept(&mut self, sequence: u32, now: Instant) -> bool {
        let (v1, v2) = (self.sequence, sequence % SEQUENCE_MODULUS);
        let half = 1 << 23;
        let newer =
            (v1 < v2 && v2 - v1 < half) || (v1 > v2 && v1 - v2 > half) || now > self.received_at + FRESHNESS_WINDOW;
        if newer {
            *self = Self::new(v2, now);
        }
        newer
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reordered_notification_within_128_seconds_is_stale() {
        let t0 = Instant::now();
        let mut f = Freshness::new(10, t0);
        assert!(f.accept(12, t0 + Duration::from_secs(1)));
        assert!(!f.accept(11, t0 + Duration::from_secs(2)));
        assert!(!f.accept(12, t0 + Duration::from_secs(2)));
        assert!(f.accept(11, t0 + Duration::from_secs(200)));
    }

    #[test]
    fn sequence_numbers_wrap_at_24_bits_and_stay_fresh() {
        let t0 = Instant::now();
        let mut counter = SequenceCounter::starting_at(SEQUENCE_MODULUS - 1);
        let a = counter.next_value();
        let b = counter.next_value();
        assert_eq!((a, b), (SEQUENCE_MODULUS - 1, 0));
        let mut f = Freshness::new(a, t0);
        assert!(f.accept(b, t0));
    }

    #[test]
    fn only_observe_zero_and_one_are_requests() {
        assert_eq!(ObserveRequest::from_value(Some(0)), Some(ObserveRequest::Register));
        assert_eq!(ObserveRequest::from_value(Some(1)), Some(ObserveRequest::Deregister));
        assert_eq!(ObserveRequest::from_value(Some(2)), None);
        assert_eq!(ObserveRequest::from_value(None), None);
    }
}
