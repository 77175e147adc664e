//! Queue mode (Core TS §6.5, spec notes §2.5, pitfall 9): with binding `Q` the client stays
//! reachable MAX_TRANSMIT_WAIT after its last exchange with a server, then considers itself
//! asleep towards it. Waking up, it sends an Update before any notification or Send.

use std::time::{Duration, Instant};

use crate::registration::ServerSession;

/// When a queue-mode session falls asleep, if it is awake and registered.
pub fn sleep_at(session: &ServerSession, queue_mode: bool, awake_window: Duration) -> Option<Instant> {
    (queue_mode && !session.sleeping && session.is_registered()).then(|| session.last_traffic_at + awake_window)
}

/// Notes traffic with the server at `now`: it keeps the session awake.
pub fn touch(session: &mut ServerSession, now: Instant) {
    session.last_traffic_at = now;
}
