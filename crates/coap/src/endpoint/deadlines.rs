//! Every deadline of the endpoint in one ordered set, keyed `(Instant, key)`, plus the reverse
//! map so a deadline can be moved or removed by key.
//!
//! Invariant: a key has at most one deadline; the set and the map always hold the same pairs.

use std::collections::{BTreeSet, HashMap};
use std::hash::Hash;
use std::time::Instant;

/// An ordered set of deadlines, one per key.
#[derive(Debug)]
pub(crate) struct Deadlines<K> {
    ordered: BTreeSet<(Instant, K)>,
    by_key: HashMap<K, Instant>,
}

impl<K: Ord + Hash + Clone> Deadlines<K> {
    pub(crate) fn new() -> Self {
        Self { ordered: BTreeSet::new(), by_key: HashMap::new() }
    }

    /// Sets (or moves) the deadline of `key`.
    pub(crate) fn set(&mut self, key: K, at: Instant) {
        if let Some(old) = self.by_key.insert(key.clone(), at) {
            self.ordered.remove(&(old, key.clone()));
        }
        self.ordered.insert((at, key));
    }

    /// Removes the deadline of `key`, if any.
    pub(crate) fn remove(&mut self, key: &K) {
        if let Some(old) = self.by_key.remove(key) {
            self.ordered.remove(&(old, key.clone()));
        }
    }

    /// The deadline of `key`.
    pub(crate) fn get(&self, key: &K) -> Option<Instant> {
        self.by_key.get(key).copied()
    }

    /// The earliest deadline.
    pub(crate) fn next(&self) -> Option<Instant> {
        self.ordered.first().map(|(at, _)| *at)
    }

    /// Removes and returns the earliest key whose deadline is at or before `now`.
    pub(crate) fn pop_due(&mut self, now: Instant) -> Option<K> {
        let (at, _) = self.ordered.first()?;
        if *at > now {
            return None;
        }
        let (_, key) = self.ordered.pop_first()?;
        self.by_key.remove(&key);
        Some(key)
    }

    pub(crate) fn len(&self) -> usize {
        self.by_key.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn due_keys_pop_in_time_order_and_moved_keys_fire_once() {
        let t0 = Instant::now();
        let mut d = Deadlines::new();
        d.set("b", t0 + Duration::from_secs(2));
        d.set("a", t0 + Duration::from_secs(1));
        d.set("c", t0 + Duration::from_secs(3));
        d.set("c", t0 + Duration::from_millis(1500));
        d.remove(&"b");
        assert_eq!(d.next(), Some(t0 + Duration::from_secs(1)));
        assert_eq!(d.pop_due(t0), None);
        let now = t0 + Duration::from_secs(5);
        assert_eq!(d.pop_due(now), Some("a"));
        assert_eq!(d.pop_due(now), Some("c"));
        assert_eq!(d.pop_due(now), None);
        assert_eq!(d.len(), 0);
    }
}
