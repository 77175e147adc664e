//! Deduplication of incoming CON and NON messages (RFC 7252 §4.5): (peer, message ID) is
//! remembered for EXCHANGE_LIFETIME (CON) or NON_LIFETIME (NON) together with the datagram we
//! answered it with, so a duplicate is answered from the cache and never re-delivered.
//! A safe request whose answer the endpoint can produce again by itself (a later Block2 block
//! of a cached body) is remembered without the datagram and processed again when duplicated,
//! as RFC 7252 §4.5 allows for idempotent requests: those blocks would otherwise hold a
//! second copy of a large body for EXCHANGE_LIFETIME.
//!
//! Invariant: at most `capacity` entries; when full, the oldest eighth is evicted in one pass
//! (and counted by the caller), so a flood of junk IDs cannot grow memory and costs O(1) per
//! message amortised.
//!
//! The key is stored once (no separate expiry queue: a server holds one entry per Register of
//! every client for EXCHANGE_LIFETIME): expired entries are swept by one pass over the table
//! at most once per [`SWEEP_INTERVAL`], and a lookup never sees an expired entry, so the sweep's
//! timing only decides when memory is given back.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use crate::msg::MessageId;
use crate::Peer;

/// Key of a received message.
pub(crate) type DedupKey = (Peer, MessageId);

/// Least time between two sweeps of expired entries.
pub(crate) const SWEEP_INTERVAL: Duration = Duration::from_secs(1);

#[derive(Debug)]
struct Entry {
    expires_at: Instant,
    /// Insertion order: the smallest is evicted first.
    seq: u64,
    reply: Reply,
}

/// What a duplicate of an entry gets.
#[derive(Debug)]
enum Reply {
    /// Not answered yet: nothing.
    Pending,
    /// The datagram that answered it.
    Datagram(Vec<u8>),
    /// Processed again: a safe request answered by the endpoint itself.
    Reprocess,
}

/// What the cache knows about a received message.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Seen<'a> {
    /// First time (or its entry expired).
    New,
    /// A duplicate; the datagram we answered it with, if any yet.
    Duplicate(Option<&'a [u8]>),
    /// A duplicate of a safe request the endpoint answered by itself: process it again.
    Reprocess,
}

/// Bounded cache of recently received message IDs.
#[derive(Debug)]
pub(crate) struct DedupCache {
    entries: HashMap<DedupKey, Entry>,
    capacity: usize,
    next_seq: u64,
    /// When the next sweep is due: no entry expires before it (`None` when empty).
    sweep_at: Option<Instant>,
}

impl DedupCache {
    pub(crate) fn new(capacity: usize) -> Self {
        Self { entries: HashMap::new(), capacity, next_seq: 0, sweep_at: None }
    }

    pub(crate) fn len(&self) -> usize {
        self.entries.len()
    }

    pub(crate) fn lookup(&self, now: Instant, key: &DedupKey) -> Seen<'_> {
        match self.entries.get(key) {
            Some(entry) if entry.expires_at > now => match &entry.reply {
                Reply::Pending => Seen::Duplicate(None),
                Reply::Datagram(bytes) => Seen::Duplicate(Some(bytes)),
                Reply::Reprocess => Seen::Reprocess,
            },
            _ => Seen::New,
        }
    }

    /// Remembers `key` until `expires_at`; returns how many entries were evicted to make room.
    pub(crate) fn insert(&mut self, key: DedupKey, expires_at: Instant) -> u64 {
        let mut evicted = 0;
        if self.entries.len() >= self.capacity {
            // Sequence numbers are consecutive, so at most `keep` live entries have one at or
            // above `cutoff`: one pass leaves at most `keep`, the newest.
            let keep = self.capacity - self.capacity.div_ceil(8);
            let cutoff = self.next_seq.saturating_sub(keep as u64);
            let before = self.entries.len();
            self.entries.retain(|_, e| e.seq >= cutoff);
            evicted = (before - self.entries.len()) as u64;
        }
        let seq = self.next_seq;
        self.next_seq += 1;
        self.entries.insert(key, Entry { expires_at, seq, reply: Reply::Pending });
        self.sweep_at = Some(self.sweep_at.map_or(expires_at, |at| at.min(expires_at)));
        evicted
    }

    /// Records the datagram that answered `key`, for duplicates.
    pub(crate) fn set_reply(&mut self, key: &DedupKey, reply: Vec<u8>) {
        if let Some(entry) = self.entries.get_mut(key) {
            entry.reply = Reply::Datagram(reply);
        }
    }

    /// Records that a duplicate of `key` is to be processed again rather than answered with
    /// stored bytes (only for safe requests the endpoint answers by itself).
    pub(crate) fn set_reprocess(&mut self, key: &DedupKey) {
        if let Some(entry) = self.entries.get_mut(key) {
            entry.reply = Reply::Reprocess;
        }
    }

    /// Drops entries whose lifetime ended (once the sweep is due).
    pub(crate) fn purge(&mut self, now: Instant) {
        if self.sweep_at.is_none_or(|at| at > now) {
            return;
        }
        self.entries.retain(|_, e| e.expires_at > now);
        let earliest = self.entries.values().map(|e| e.expires_at).min();
        self.sweep_at = earliest.map(|at| at.max(now + SWEEP_INTERVAL));
        self.release_slack();
    }

    /// Gives back the tables' memory once a burst (e.g. many Registers) has expired: neither
    /// table shrinks by itself, and a burst of N entries would otherwise hold N slots for good.
    fn release_slack(&mut self) {
        const KEEP: usize = 64;
        let len = self.entries.len();
        if self.entries.capacity() > KEEP && len < self.entries.capacity() / 4 {
            self.entries.shrink_to(KEEP.max(2 * len));
        }
    }

    /// When the next sweep is due.
    pub(crate) fn next_expiry(&self) -> Option<Instant> {
        self.sweep_at
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn key(mid: u16) -> DedupKey {
        (Peer::udp("192.0.2.1:5683".parse().expect("literal address")), MessageId(mid))
    }

    #[test]
    fn duplicate_is_seen_with_its_reply_until_expiry() {
        let t0 = Instant::now();
        let mut cache = DedupCache::new(8);
        assert_eq!(cache.lookup(t0, &key(1)), Seen::New);
        cache.insert(key(1), t0 + Duration::from_secs(10));
        assert_eq!(cache.lookup(t0, &key(1)), Seen::Duplicate(None));
        cache.set_reply(&key(1), vec![0x60, 0, 0, 1]);
        assert_eq!(cache.lookup(t0, &key(1)), Seen::Duplicate(Some(&[0x60, 0, 0, 1][..])));
        let later = t0 + Duration::from_secs(10);
        assert_eq!(cache.lookup(later, &key(1)), Seen::New);
        cache.purge(later);
        assert_eq!(cache.len(), 0);
    }

    #[test]
    fn cache_never_exceeds_its_capacity() {
        let t0 = Instant::now();
        let mut cache = DedupCache::new(100);
        let mut evicted = 0;
        for mid in 0..10_000u16 {
            evicted += cache.insert(key(mid), t0 + Duration::from_secs(247));
            assert!(cache.len() <= 100);
        }
        assert_eq!(evicted, 10_000 - cache.len() as u64);
        assert!(cache.len() > 80, "at most an eighth is evicted at once: {}", cache.len());
        assert_eq!(cache.lookup(t0, &key(9_999)), Seen::Duplicate(None));
        assert_eq!(cache.lookup(t0, &key(9_920)), Seen::Duplicate(None), "the newest are kept");
        assert_eq!(cache.lookup(t0, &key(0)), Seen::New);
    }

    #[test]
    fn expired_burst_gives_its_table_memory_back() {
        let t0 = Instant::now();
        let mut cache = DedupCache::new(10_000);
        for mid in 0..5_000u16 {
            cache.insert(key(mid), t0 + Duration::from_secs(247));
        }
        cache.insert(key(9_000), t0 + Duration::from_secs(500));
        assert!(cache.entries.capacity() >= 5_000);
        cache.purge(t0 + Duration::from_secs(247));
        assert_eq!(cache.len(), 1);
        assert!(cache.entries.capacity() < 256, "capacity {}", cache.entries.capacity());
        assert_eq!(cache.lookup(t0, &key(9_000)), Seen::Duplicate(None));
    }

    #[test]
    fn expired_entries_are_never_seen_and_are_swept_at_most_once_per_interval() {
        let t0 = Instant::now();
        let mut cache = DedupCache::new(100);
        cache.insert(key(1), t0 + Duration::from_millis(100));
        cache.insert(key(2), t0 + Duration::from_millis(200));
        cache.insert(key(3), t0 + Duration::from_secs(10));
        assert_eq!(cache.next_expiry(), Some(t0 + Duration::from_millis(100)));
        let t1 = t0 + Duration::from_millis(100);
        cache.purge(t1);
        assert_eq!(cache.len(), 2, "key 1 swept");
        assert_eq!(cache.next_expiry(), Some(t1 + SWEEP_INTERVAL), "key 2 waits for the next sweep");
        let t2 = t0 + Duration::from_millis(300);
        cache.purge(t2);
        assert_eq!(cache.len(), 2, "not swept before the interval");
        assert_eq!(cache.lookup(t2, &key(2)), Seen::New, "but never seen once expired");
        cache.purge(t1 + SWEEP_INTERVAL);
        assert_eq!(cache.len(), 1);
        assert_eq!(cache.next_expiry(), Some(t0 + Duration::from_secs(10)));
        cache.purge(t0 + Duration::from_secs(10));
        assert_eq!((cache.len(), cache.next_expiry()), (0, None));
    }
}
