//! Queue mode (Transport TS §6.5, spec notes §2.5, pitfall 9): a client registered with `Q`
//! (or `b=UQ` for 1.0) is reachable only for `awake_time` (MAX_TRANSMIT_WAIT, 93 s) after each
//! message from it. Requests for a sleeping client wait in a bounded queue and go out one at a
//! time once it wakes.

use std::collections::VecDeque;
use std::time::Instant;

use coap::Token;

/// The queue-mode state of one registration, over queued items of type `T`.
#[derive(Debug)]
pub(crate) struct QueueState<T> {
    /// Until when the client listens; `None` while asleep.
    awake_until: Option<Instant>,
    /// Requests waiting for the client, oldest first.
    queued: VecDeque<T>,
    /// The request on the wire, if any (one at a time).
    pub(crate) in_flight: Option<Token>,
}

impl<T> QueueState<T> {
    /// A client that just sent a message: awake until `until`.
    pub(crate) fn awake(until: Instant) -> Self {
        Self { awake_until: Some(until), queued: VecDeque::new(), in_flight: None }
    }

    /// Until when the client listens (the instant its sleep timer is armed at); `None` while
    /// asleep.
    pub(crate) fn awake_until(&self) -> Option<Instant> {
        self.awake_until
    }

    /// Whether the client listens at `now`.
    pub(crate) fn is_awake(&self, now: Instant) -> bool {
        self.awake_until.is_some_and(|until| now < until)
    }

    /// A message from the client arrived: it listens until `until`. Returns whether it was
    /// asleep before.
    pub(crate) fn wake(&mut self, now: Instant, until: Instant) -> bool {
        let was_asleep = !self.is_awake(now);
        self.awake_until = Some(until);
        was_asleep
    }

    /// The awake window ended. Returns whether the client was awake.
    pub(crate) fn sleep(&mut self) -> bool {
        self.awake_until.take().is_some()
    }

    /// Number of requests waiting.
    pub(crate) fn len(&self) -> usize {
        self.queued.len()
    }

    /// Appends a request.
    pub(crate) fn push(&mut self, item: T) {
        self.queued.push_back(item);
    }

    /// The next request to send: only when the client is awake and nothing is on the wire.
    pub(crate) fn next_ready(&mut self, now: Instant) -> Option<T> {
        if self.in_flight.is_some() || !self.is_awake(now) {
            return None;
        }
        self.queued.pop_front()
    }

    /// Removes the first request matching `pred`.
    pub(crate) fn take(&mut self, pred: impl Fn(&T) -> bool) -> Option<T> {
        let index = self.queued.iter().position(pred)?;
        self.queued.remove(index)
    }

    /// The waiting requests, oldest first.
    pub(crate) fn iter(&self) -> impl Iterator<Item = &T> + '_ {
        self.queued.iter()
    }

    /// Takes every waiting request.
    pub(crate) fn drain(&mut self) -> Vec<T> {
        self.queued.drain(..).collect()
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn requests_go_out_one_at_a_time_while_awake() {
        let t0 = Instant::now();
        let mut q = QueueState::awake(t0 + Duration::from_secs(93));
        q.push(1);
        q.push(2);
        assert_eq!(q.next_ready(t0), Some(1));
        q.in_flight = Token::new(&[1]);
        assert_eq!(q.next_ready(t0), None, "one at a time");
        q.in_flight = None;
        assert_eq!(q.next_ready(t0 + Duration::from_secs(93)), None, "asleep after the window");
        assert!(q.wake(t0 + Duration::from_secs(100), t0 + Duration::from_secs(193)));
        assert_eq!(q.next_ready(t0 + Duration::from_secs(100)), Some(2));
        assert!(q.sleep());
        assert!(!q.sleep());
    }
}
