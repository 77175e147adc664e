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

    use rand::{Rng, SeedableRng};
    use rand_chacha::ChaCha8Rng;

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

    /// Two timers of every kind; one of the two registration IDs is longer than kept inline.
    fn timer_pool() -> Vec<Timer> {
        let ids = ["r1", "r1-longer-than-inline"].map(RegistrationId::from_path_segment);
        let mut timers: Vec<Timer> =
            ids.iter().flat_map(|id| [Timer::Expiry(id.clone()), Timer::Sleep(id.clone())]).collect();
        timers.extend([[1u8].as_slice(), &[1, 2, 3, 4]].into_iter().filter_map(Token::new).map(Timer::RequestTimeout));
        timers.extend((1..=2).map(|n| Timer::QueueWait(RequestId(n))));
        timers
    }

    /// Arms, disarms (also at the wrong instant), moves and pops at random, against a plain list
    /// of `(instant, timer)` pairs searched for its minimum.
    #[test]
    fn random_arming_and_popping_answers_like_a_list_of_pairs() {
        let timers = timer_pool();
        assert_eq!(timers.len(), 8);
        for seed in [7, 8, 0xc0ffee] {
            let mut rng = ChaCha8Rng::seed_from_u64(seed);
            let t0 = Instant::now();
            let mut now = t0;
            let mut d = Deadlines::default();
            let mut model: Vec<(Instant, Timer)> = Vec::new();
            let mut popped = 0;
            for _ in 0..3000 {
                let timer = timers[rng.random_range(0..timers.len())].clone();
                // Instants a little behind or ahead of `now`, often the same for several timers.
                let mut at =
                    || now + Duration::from_secs(rng.random_range(0..12)) - Duration::from_secs(2).min(now - t0);
                let (a, b) = (at(), at());
                match rng.random_range(0..10) {
                    0..=2 => {
                        d.set(timer.clone(), a);
                        if !model.contains(&(a, timer.clone())) {
                            model.push((a, timer));
                        }
                    }
                    3 => {
                        d.remove(timer.clone(), a);
                        model.retain(|pair| *pair != (a, timer.clone()));
                    }
                    4..=5 => {
                        // Moved from an instant it may or may not be armed at, to one or nowhere.
                        let from =
                            model.iter().find(|(_, t)| *t == timer).map(|(at, _)| *at).filter(|_| rng.random_bool(0.8));
                        let from = from.or_else(|| rng.random_bool(0.5).then_some(a));
                        let to = rng.random_bool(0.8).then_some(b);
                        d.reset(timer.clone(), from, to);
                        if let Some(from) = from {
                            model.retain(|pair| *pair != (from, timer.clone()));
                        }
                        if let Some(to) = to.filter(|to| !model.contains(&(*to, timer.clone()))) {
                            model.push((to, timer));
                        }
                    }
                    6 => now += Duration::from_secs(rng.random_range(0..4)),
                    _ => {
                        let due = model
                            .iter()
                            .enumerate()
                            .filter(|(_, (at, _))| *at <= now)
                            .min_by(|x, y| x.1.cmp(y.1))
                            .map(|(i, _)| i);
                        let expected = due.map(|i| model.swap_remove(i));
                        popped += usize::from(expected.is_some());
                        assert_eq!(d.pop_due(now), expected, "seed {seed}: pop_due");
                    }
                }
                assert_eq!(d.next(), model.iter().map(|(at, _)| *at).min(), "seed {seed}: next");
                assert_eq!(d.by_time.len(), model.len(), "seed {seed}: armed");
            }
            assert!(popped > 100, "seed {seed}: only {popped} timers came due");
            // Everything left comes out in time order, ties by timer, once.
            model.sort();
            let far = now + Duration::from_secs(3600);
            let drained: Vec<(Instant, Timer)> = std::iter::from_fn(|| d.pop_due(far)).collect();
            assert_eq!(drained, model, "seed {seed}: drained");
            assert_eq!(d.next(), None);
        }
    }
}
