//! The engine's own deadlines, in one ordered set keyed `(Instant, Timer)`.
//!
//! There is no second index by timer: whoever arms a timer keeps its instant (a registration
//! knows its expiry, a queue its awake window, a pending request its timeout, a queued request
//! its wait limit) and gives it back to disarm it. A timer that comes due is checked against
//! its owner's instant before it acts, so a timer left behind can never fire for a newer one.

use std::collections::BTreeSet;
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

/// Deadlines by time.
#[derive(Debug, Default)]
pub(crate) struct Deadlines {
    by_time: BTreeSet<(Instant, Timer)>,
}

impl Deadlines {
    /// Arms `timer` at `at`. The caller has disarmed the timer's previous instant, if any.
    pub(crate) fn set(&mut self, timer: Timer, at: Instant) {
        self.by_time.insert((at, timer));
    }

    /// Disarms `timer` armed at `at`, if it still is.
    pub(crate) fn remove(&mut self, timer: Timer, at: Instant) {
        self.by_time.remove(&(at, timer));
    }

    /// Moves `timer` from `from` (when it may be armed) to `to` (`None`: disarms it).
    pub(crate) fn reset(&mut self, timer: Timer, from: Option<Instant>, to: Option<Instant>) {
        if let Some(from) = from {
            self.by_time.remove(&(from, timer.clone()));
        }
        if let Some(to) = to {
            self.by_time.insert((to, timer));
        }
    }

    /// The earliest deadline.
    pub(crate) fn next(&self) -> Option<Instant> {
        self.by_time.first().map(|(at, _)| *at)
    }

    /// Takes the earliest timer due at `now`, with the instant it was armed at.
    pub(crate) fn pop_due(&mut self, now: Instant) -> Option<(Instant, Timer)> {
        let (at, _) = self.by_time.first()?;
        if *at > now {
            return None;
        }
        self.by_time.pop_first()
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn due_timers_come_out_in_time_order_and_moved_ones_once() {
        let t0 = Instant::now();
        let (t1, t5, t9) = (t0 + Duration::from_secs(1), t0 + Duration::from_secs(5), t0 + Duration::from_secs(9));
        let mut d = Deadlines::default();
        d.set(Timer::QueueWait(RequestId(2)), t5);
        d.set(Timer::QueueWait(RequestId(1)), t9);
        d.reset(Timer::QueueWait(RequestId(1)), Some(t9), Some(t1));
        assert_eq!(d.next(), Some(t1));
        assert_eq!(d.pop_due(t0), None);
        let later = t0 + Duration::from_secs(10);
        assert_eq!(d.pop_due(later), Some((t1, Timer::QueueWait(RequestId(1)))));
        assert_eq!(d.pop_due(later), Some((t5, Timer::QueueWait(RequestId(2)))));
        assert_eq!(d.pop_due(later), None);
    }

    #[test]
    fn a_timer_is_disarmed_only_at_the_instant_it_was_armed() {
        let t0 = Instant::now();
        let mut d = Deadlines::default();
        d.set(Timer::QueueWait(RequestId(1)), t0);
        d.remove(Timer::QueueWait(RequestId(1)), t0 + Duration::from_secs(1));
        assert_eq!(d.next(), Some(t0));
        d.reset(Timer::QueueWait(RequestId(1)), Some(t0), None);
        assert_eq!(d.next(), None);
        d.reset(Timer::QueueWait(RequestId(1)), Some(t0), Some(t0));
        assert_eq!(d.next(), Some(t0), "a timer moved to where it was not armed is armed");
    }
}
