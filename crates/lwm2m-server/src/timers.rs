//! The engine's own deadlines, in one ordered set keyed `(Instant, Timer)`.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Instant;

use coap::Token;

use crate::registration::RegistrationId;
use crate::request::RequestId;

/// A deadline of the server engine; each key has at most one.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Timer {
    /// The registration's lifetime ends.
    Expiry(RegistrationId),
    /// The request sent with this token has waited long enough.
    RequestTimeout(Token),
    /// The queue-mode client goes to sleep.
    Sleep(RegistrationId),
    /// A request queued for a sleeping client gives up.
    QueueWait(RequestId),
}

/// Deadlines by time, with a reverse index for removal.
#[derive(Debug, Default)]
pub(crate) struct Deadlines {
    by_time: BTreeSet<(Instant, Timer)>,
    by_timer: BTreeMap<Timer, Instant>,
}

impl Deadlines {
    /// Sets (or moves) `timer` to `at`.
    pub(crate) fn set(&mut self, timer: Timer, at: Instant) {
        self.remove(&timer);
        self.by_time.insert((at, timer.clone()));
        self.by_timer.insert(timer, at);
    }

    /// Removes `timer` if set.
    pub(crate) fn remove(&mut self, timer: &Timer) {
        if let Some(at) = self.by_timer.remove(timer) {
            self.by_time.remove(&(at, timer.clone()));
        }
    }

    /// The earliest deadline.
    pub(crate) fn next(&self) -> Option<Instant> {
        self.by_time.first().map(|(at, _)| *at)
    }

    /// Takes the earliest timer due at `now`.
    pub(crate) fn pop_due(&mut self, now: Instant) -> Option<Timer> {
        let (at, _) = self.by_time.first()?;
        if *at > now {
            return None;
        }
        let (_, timer) = self.by_time.pop_first()?;
        self.by_timer.remove(&timer);
        Some(timer)
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn due_timers_come_out_in_time_order_and_moved_ones_once() {
        let t0 = Instant::now();
        let mut d = Deadlines::default();
        d.set(Timer::QueueWait(RequestId(2)), t0 + Duration::from_secs(5));
        d.set(Timer::QueueWait(RequestId(1)), t0 + Duration::from_secs(9));
        d.set(Timer::QueueWait(RequestId(1)), t0 + Duration::from_secs(1));
        assert_eq!(d.next(), Some(t0 + Duration::from_secs(1)));
        assert_eq!(d.pop_due(t0), None);
        let later = t0 + Duration::from_secs(10);
        assert_eq!(d.pop_due(later), Some(Timer::QueueWait(RequestId(1))));
        assert_eq!(d.pop_due(later), Some(Timer::QueueWait(RequestId(2))));
        assert_eq!(d.pop_due(later), None);
    }
}
