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
//! Layout (a server holds one entry per Register of every client for EXCHANGE_LIFETIME, so an
//! entry is kept small): the entries are one dense vector in insertion order (the oldest
//! first, so eviction needs no sequence number), found through an open-addressing index of
//! positions (4 bytes per slot, at most half full). An entry packs a plain UDP peer's address
//! inline (IPv4 or IPv6 without flow label or scope); any other peer (a DTLS identity) is kept
//! in a side vector the entry points into. Expiry is kept in whole milliseconds after a base instant the cache keeps, and the
//! reply datagrams live in one byte arena instead of one allocation each. Expired entries are
//! swept by one pass at most once per [`SWEEP_INTERVAL`], which also compacts the arena and
//! rebuilds the index; a lookup never sees an expired entry, so the sweep's timing only decides
//! when memory is given back.
//!
//! Times are kept to the millisecond: an entry can be forgotten up to 1 ms before its exact
//! expiry, never after. A lifetime longer than 2³¹ ms (about 24 days) may be cut to that; the
//! standard lifetimes are minutes.

use std::collections::hash_map::RandomState;
use std::hash::BuildHasher;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use crate::msg::MessageId;
use crate::Peer;

/// Least time between two sweeps of expired entries.
pub(crate) const SWEEP_INTERVAL: Duration = Duration::from_secs(1);

/// Milliseconds after the base beyond which the next insert moves the base forward, so every
/// expiry of a new entry (at most this much later again) fits a `u32`.
const REBASE_AFTER_MS: u64 = 1 << 31;

/// Fewest index buckets (a power of two).
const MIN_INDEX: usize = 16;

/// Entries kept allocated when a burst has expired.
const KEEP_SLOTS: usize = 64;

/// How a slot stores its peer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Family {
    /// Plain UDP over IPv4: the address in the first 4 bytes of `ip`.
    V4,
    /// Plain UDP over IPv6, no flow label or scope.
    V6,
    /// Any other peer: the whole [`Peer`] is in `DedupCache::others`, at the position the
    /// first 4 bytes of `ip` hold.
    Other,
}

/// What a duplicate of an entry gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Reply {
    /// Not answered yet: nothing.
    Pending,
    /// The datagram that answered it, in the arena at `reply_at`.
    Datagram,
    /// Processed again: a safe request answered by the endpoint itself.
    Reprocess,
    /// Replaced by a newer entry for the same key: not indexed, dropped at the next compaction.
    Replaced,
}

/// A peer reduced to what the index compares first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
struct Packed {
    family: Family,
    ip: [u8; 16],
    port: u16,
}

impl Packed {
    fn of(peer: &Peer) -> Self {
        let plain = peer.identity.is_none();
        match peer.addr {
            SocketAddr::V4(addr) => {
                let mut ip = [0; 16];
                ip[..4].copy_from_slice(&addr.ip().octets());
                let family = if plain { Family::V4 } else { Family::Other };
                Self { family, ip, port: addr.port() }
            }
            SocketAddr::V6(addr) => {
                let inline = plain && addr.flowinfo() == 0 && addr.scope_id() == 0;
                let family = if inline { Family::V6 } else { Family::Other };
                Self { family, ip: addr.ip().octets(), port: addr.port() }
            }
        }
    }
}

/// One remembered message (32 bytes).
#[derive(Debug)]
struct Slot {
    /// The address (or, for [`Family::Other`], the position of the peer in `others`).
    ip: [u8; 16],
    /// Milliseconds after the cache's base at which the entry expires.
    expires: u32,
    /// Where the reply (length-prefixed) starts in the arena, for [`Reply::Datagram`].
    reply_at: u32,
    port: u16,
    mid: u16,
    family: Family,
    reply: Reply,
}

impl Slot {
    fn matches(&self, packed: &Packed, peer: &Peer, mid: MessageId, others: &[Peer]) -> bool {
        self.mid == mid.0
            && self.family == packed.family
            && match self.family {
                Family::V4 | Family::V6 => self.port == packed.port && self.ip == packed.ip,
                Family::Other => others.get(self.other()) == Some(peer),
            }
    }

    /// The position in `others` of a [`Family::Other`] slot's peer.
    fn other(&self) -> usize {
        u32::from_le_bytes([self.ip[0], self.ip[1], self.ip[2], self.ip[3]]) as usize
    }
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
    /// Entries in insertion order, the oldest first.
    slots: Vec<Slot>,
    /// Open addressing with linear probing: 0 is empty, else a position in `slots` plus one.
    /// A power of two long, at least twice as long as `slots`.
    index: Vec<u32>,
    /// Reply datagrams, each a little-endian `u32` length then the bytes.
    arena: Vec<u8>,
    /// Peers of [`Family::Other`] slots (replaced ones included until the next compaction).
    others: Vec<Peer>,
    /// Arena bytes no slot refers to any more.
    garbage: usize,
    /// Slots in [`Reply::Replaced`] state.
    replaced: usize,
    hasher: RandomState,
    /// Origin of the slots' expiry times (set by the first insert into an empty cache).
    base: Option<Instant>,
    capacity: usize,
    /// When the next sweep is due (`None` when empty): the earliest expiry, but never within
    /// [`SWEEP_INTERVAL`] of the last sweep, so entries may outlive their expiry until then
    /// (lookups never see them).
    sweep_at: Option<Instant>,
    /// When expired entries were last swept (the next sweep waits [`SWEEP_INTERVAL`] after).
    swept_at: Option<Instant>,
}

impl DedupCache {
    pub(crate) fn new(capacity: usize) -> Self {
        Self {
            slots: Vec::new(),
            index: Vec::new(),
            arena: Vec::new(),
            others: Vec::new(),
            garbage: 0,
            replaced: 0,
            hasher: RandomState::new(),
            base: None,
            // Positions are u32 in the index.
            capacity: capacity.clamp(1, 1 << 30),
            sweep_at: None,
            swept_at: None,
        }
    }

    /// Entries held (expired ones included until swept).
    pub(crate) fn len(&self) -> usize {
        self.slots.len() - self.replaced
    }

    pub(crate) fn lookup(&self, now: Instant, peer: &Peer, mid: MessageId) -> Seen<'_> {
        let Some((_, pos)) = self.find(&Packed::of(peer), peer, mid) else { return Seen::New };
        let slot = &self.slots[pos];
        if u64::from(slot.expires) <= self.millis(now) {
            return Seen::New;
        }
        match slot.reply {
            Reply::Pending | Reply::Replaced => Seen::Duplicate(None),
            Reply::Datagram => Seen::Duplicate(self.datagram(slot.reply_at)),
            Reply::Reprocess => Seen::Reprocess,
        }
    }

    /// Remembers `(peer, mid)` received at `now` for `lifetime`; returns how many entries were
    /// evicted to make room.
    pub(crate) fn insert(&mut self, now: Instant, peer: &Peer, mid: MessageId, lifetime: Duration) -> u64 {
        let evicted = self.evict_if_full();
        let base = match self.base {
            Some(base) if !self.slots.is_empty() => base,
            _ => {
                self.base = Some(now);
                now
            }
        };
        let mut since_base = now.saturating_duration_since(base);
        let now_ms = millis(since_base);
        if now_ms >= REBASE_AFTER_MS {
            self.rebase(now_ms);
            since_base = since_base.saturating_sub(Duration::from_millis(now_ms));
        }
        // The exact expiry rounded down once: rounding `now` and `lifetime` apart could make an
        // entry expire up to 2 ms early.
        let expires = u32::try_from(millis(since_base.saturating_add(lifetime))).unwrap_or(u32::MAX);
        let packed = Packed::of(peer);
        let existing = self.find(&packed, peer, mid);
        if let Some((_, pos)) = existing {
            self.retire(pos);
        }
        let mut ip = packed.ip;
        if packed.family == Family::Other {
            // At most one per slot, and slots are far fewer than u32::MAX.
            ip = [0; 16];
            ip[..4].copy_from_slice(&(self.others.len() as u32).to_le_bytes());
            self.others.push(peer.clone());
        }
        let slot = Slot {
            ip,
            expires,
            reply_at: 0,
            port: packed.port,
            mid: mid.0,
            family: packed.family,
            reply: Reply::Pending,
        };
        self.slots.push(slot);
        let pos = self.slots.len() - 1;
        if self.slots.len() * 2 > self.index.len() {
            self.rebuild_index();
        } else if let Some((bucket, _)) = existing {
            self.index[bucket] = position_entry(pos);
        } else {
            self.place(self.hash(&packed, peer, mid), pos);
        }
        let expires_at = at_millis(self.base.unwrap_or(base), expires);
        let due = self.swept_at.map_or(expires_at, |swept| expires_at.max(swept + SWEEP_INTERVAL));
        self.sweep_at = Some(self.sweep_at.map_or(due, |at| at.min(due)));
        evicted
    }

    /// Records the datagram that answered `(peer, mid)`, for duplicates.
    pub(crate) fn set_reply(&mut self, peer: &Peer, mid: MessageId, reply: &[u8]) {
        let Ok(len) = u32::try_from(reply.len()) else { return };
        if self.garbage > 4096 && self.garbage > self.arena.len() / 2 {
            self.compact(|_, _| true);
        }
        let Some((_, pos)) = self.find(&Packed::of(peer), peer, mid) else { return };
        let Ok(at) = u32::try_from(self.arena.len()) else { return };
        self.release_reply(pos);
        let need = 4 + reply.len();
        if self.arena.capacity() - self.arena.len() < need {
            // Grows by half (not double): the arena can hold a burst's replies for minutes.
            self.arena.reserve_exact(need.max(self.arena.len() / 2));
        }
        self.arena.extend_from_slice(&len.to_le_bytes());
        self.arena.extend_from_slice(reply);
        let slot = &mut self.slots[pos];
        slot.reply = Reply::Datagram;
        slot.reply_at = at;
    }

    /// Records that a duplicate of `(peer, mid)` is to be processed again rather than answered
    /// with stored bytes (only for safe requests the endpoint answers by itself).
    pub(crate) fn set_reprocess(&mut self, peer: &Peer, mid: MessageId) {
        if let Some((_, pos)) = self.find(&Packed::of(peer), peer, mid) {
            self.release_reply(pos);
            self.slots[pos].reply = Reply::Reprocess;
        }
    }

    /// Drops entries whose lifetime ended (once the sweep is due).
    pub(crate) fn purge(&mut self, now: Instant) {
        if self.sweep_at.is_none_or(|at| at > now) {
            return;
        }
        let now_ms = self.millis(now);
        self.compact(|_, slot| u64::from(slot.expires) > now_ms);
        self.swept_at = Some(now);
        let earliest = self.slots.iter().map(|s| s.expires).min();
        self.sweep_at = earliest.zip(self.base).map(|(ms, base)| at_millis(base, ms).max(now + SWEEP_INTERVAL));
    }

    /// When the next sweep is due.
    pub(crate) fn next_expiry(&self) -> Option<Instant> {
        self.sweep_at
    }

    /// When full (replaced slots counted), evicts the oldest entries so that at most
    /// `capacity - capacity / 8` (the eighth rounded up) are left; returns how many.
    fn evict_if_full(&mut self) -> u64 {
        if self.slots.len() < self.capacity {
            return 0;
        }
        let keep = self.capacity - self.capacity.div_ceil(8);
        let evict = self.len().saturating_sub(keep);
        // The first position past the `evict` oldest live entries.
        let mut seen = 0;
        let cut = self
            .slots
            .iter()
            .position(|slot| {
                if slot.reply != Reply::Replaced {
                    seen += 1;
                }
                seen > evict
            })
            .unwrap_or(self.slots.len());
        self.compact(|pos, _| pos >= cut);
        evict as u64
    }

    /// Keeps the slots for which `keep(position, slot)` holds (and are not replaced), copies
    /// their replies into a fresh arena and rebuilds the index; gives back the memory a burst
    /// left (neither vector shrinks by itself).
    fn compact(&mut self, keep: impl Fn(usize, &Slot) -> bool) {
        let old = std::mem::take(&mut self.arena);
        let mut pos = 0;
        let mut kept_bytes = 0;
        self.slots.retain(|slot| {
            let kept = slot.reply != Reply::Replaced && keep(pos, slot);
            pos += 1;
            if kept && slot.reply == Reply::Datagram {
                kept_bytes += 4 + stored_len(&old, slot.reply_at);
            }
            kept
        });
        let mut arena = Vec::with_capacity(kept_bytes);
        for slot in self.slots.iter_mut().filter(|s| s.reply == Reply::Datagram) {
            let start = slot.reply_at as usize;
            let end = start + 4 + stored_len(&old, slot.reply_at);
            // The arena is below 4 GiB (offsets are u32) and only shrinks here.
            slot.reply_at = arena.len() as u32;
            arena.extend_from_slice(old.get(start..end).unwrap_or_default());
        }
        self.arena = arena;
        if !self.others.is_empty() {
            let mut old: Vec<Option<Peer>> = std::mem::take(&mut self.others).into_iter().map(Some).collect();
            for slot in self.slots.iter_mut().filter(|s| s.family == Family::Other) {
                let Some(peer) = old.get_mut(slot.other()).and_then(Option::take) else { continue };
                slot.ip[..4].copy_from_slice(&(self.others.len() as u32).to_le_bytes());
                self.others.push(peer);
            }
        }
        self.garbage = 0;
        self.replaced = 0;
        let len = self.slots.len();
        if self.slots.capacity() > KEEP_SLOTS && len < self.slots.capacity() / 4 {
            self.slots.shrink_to(KEEP_SLOTS.max(2 * len));
        }
        self.rebuild_index();
    }

    /// Moves the base `by_ms` forward (only ever by whole milliseconds, so no expiry moves).
    fn rebase(&mut self, by_ms: u64) {
        if let Some(base) = self.base {
            self.base = Some(base + Duration::from_millis(by_ms));
        }
        let by = u32::try_from(by_ms).unwrap_or(u32::MAX);
        for slot in &mut self.slots {
            // An entry expired before the new base is expired now: 0 says so.
            slot.expires = slot.expires.saturating_sub(by);
        }
    }

    /// Marks the slot at `pos` replaced by a newer entry for its key.
    fn retire(&mut self, pos: usize) {
        self.release_reply(pos);
        let slot = &mut self.slots[pos];
        slot.reply = Reply::Replaced;
        self.replaced += 1;
    }

    /// Counts the slot's reply datagram, if any, as garbage.
    fn release_reply(&mut self, pos: usize) {
        let slot = &self.slots[pos];
        if slot.reply == Reply::Datagram {
            self.garbage += 4 + stored_len(&self.arena, slot.reply_at);
        }
    }

    /// The reply stored at `at`.
    fn datagram(&self, at: u32) -> Option<&[u8]> {
        let start = at as usize + 4;
        self.arena.get(start..start + stored_len(&self.arena, at))
    }

    /// The index bucket and slot position of `(peer, mid)`.
    fn find(&self, packed: &Packed, peer: &Peer, mid: MessageId) -> Option<(usize, usize)> {
        if self.index.is_empty() {
            return None;
        }
        let mask = self.index.len() - 1;
        let mut bucket = self.hash(packed, peer, mid) as usize & mask;
        loop {
            let entry = self.index[bucket];
            if entry == 0 {
                return None;
            }
            let pos = entry as usize - 1;
            if self.slots.get(pos).is_some_and(|slot| slot.matches(packed, peer, mid, &self.others)) {
                return Some((bucket, pos));
            }
            bucket = (bucket + 1) & mask;
        }
    }

    fn hash(&self, packed: &Packed, peer: &Peer, mid: MessageId) -> u64 {
        match packed.family {
            Family::Other => self.hasher.hash_one((peer, mid.0)),
            Family::V4 | Family::V6 => self.hasher.hash_one((packed, mid.0)),
        }
    }

    /// Puts `pos` into the first free bucket from its hash on.
    fn place(&mut self, hash: u64, pos: usize) {
        let mask = self.index.len() - 1;
        let mut bucket = hash as usize & mask;
        while self.index[bucket] != 0 {
            bucket = (bucket + 1) & mask;
        }
        self.index[bucket] = position_entry(pos);
    }

    /// Sizes the index for the slots (at most half full) and indexes every live slot.
    fn rebuild_index(&mut self) {
        let size = (2 * self.slots.len()).max(MIN_INDEX).next_power_of_two();
        if self.slots.is_empty() {
            self.index = Vec::new();
            return;
        }
        if self.index.len() == size {
            self.index.fill(0);
        } else {
            self.index = vec![0; size];
        }
        for pos in 0..self.slots.len() {
            let slot = &self.slots[pos];
            if slot.reply == Reply::Replaced {
                continue;
            }
            let packed = Packed { family: slot.family, ip: slot.ip, port: slot.port };
            let hash = match self.others.get(slot.other()).filter(|_| slot.family == Family::Other) {
                Some(peer) => self.hasher.hash_one((peer, slot.mid)),
                None => self.hasher.hash_one((&packed, slot.mid)),
            };
            self.place(hash, pos);
        }
    }

    /// Milliseconds from the base to `now` (0 before any insert).
    fn millis(&self, now: Instant) -> u64 {
        self.base.map_or(0, |base| millis_between(base, now))
    }
}

/// The index entry for slot position `pos` (capacities are far below `u32::MAX`).
fn position_entry(pos: usize) -> u32 {
    u32::try_from(pos + 1).unwrap_or(u32::MAX)
}

/// The instant `ms` milliseconds after `base`.
fn at_millis(base: Instant, ms: u32) -> Instant {
    base + Duration::from_millis(u64::from(ms))
}

/// Whole milliseconds of `d`.
fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// Whole milliseconds from `base` to `t` (0 if `t` is earlier).
fn millis_between(base: Instant, t: Instant) -> u64 {
    millis(t.saturating_duration_since(base))
}

/// Length of the reply stored at `at` in `arena`.
fn stored_len(arena: &[u8], at: u32) -> usize {
    let at = at as usize;
    arena
        .get(at..at + 4)
        .and_then(|bytes| <[u8; 4]>::try_from(bytes).ok())
        .map_or(0, |bytes| u32::from_le_bytes(bytes) as usize)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn peer() -> Peer {
        Peer::udp("192.0.2.1:5683".parse().expect("literal address"))
    }

    fn key(mid: u16) -> (Peer, MessageId) {
        (peer(), MessageId(mid))
    }

    /// `lookup` for `key(mid)`.
    fn seen(cache: &DedupCache, now: Instant, mid: u16) -> Seen<'_> {
        let (peer, mid) = key(mid);
        cache.lookup(now, &peer, mid)
    }

    /// `insert` of `key(mid)` at `now` for `lifetime`.
    fn remember(cache: &mut DedupCache, now: Instant, mid: u16, lifetime: Duration) -> u64 {
        let (peer, mid) = key(mid);
        cache.insert(now, &peer, mid, lifetime)
    }

    #[test]
    fn an_entry_takes_32_bytes_plus_its_index_bucket_and_reply() {
        assert_eq!(std::mem::size_of::<Slot>(), 32);
        let t0 = Instant::now();
        let mut cache = DedupCache::new(4096);
        for mid in 0..1_000u16 {
            remember(&mut cache, t0, mid, Duration::from_secs(247));
            cache.set_reply(&peer(), MessageId(mid), &[0; 26]);
        }
        assert_eq!((cache.slots.capacity(), cache.index.len()), (1024, 2048));
        assert!(cache.arena.capacity() < 1_000 * 30 * 3 / 2, "arena {}", cache.arena.capacity());
    }

    #[test]
    fn duplicate_is_seen_with_its_reply_until_expiry() {
        let t0 = Instant::now();
        let mut cache = DedupCache::new(8);
        assert_eq!(seen(&cache, t0, 1), Seen::New);
        remember(&mut cache, t0, 1, Duration::from_secs(10));
        assert_eq!(seen(&cache, t0, 1), Seen::Duplicate(None));
        cache.set_reply(&peer(), MessageId(1), &[0x60, 0, 0, 1]);
        assert_eq!(seen(&cache, t0, 1), Seen::Duplicate(Some(&[0x60, 0, 0, 1][..])));
        let later = t0 + Duration::from_secs(10);
        assert_eq!(seen(&cache, later, 1), Seen::New);
        cache.purge(later);
        assert_eq!(cache.len(), 0);
    }

    #[test]
    fn cache_never_exceeds_its_capacity() {
        let t0 = Instant::now();
        let mut cache = DedupCache::new(100);
        let mut evicted = 0;
        for mid in 0..10_000u16 {
            evicted += remember(&mut cache, t0, mid, Duration::from_secs(247));
            cache.set_reply(&peer(), MessageId(mid), &mid.to_be_bytes());
            assert!(cache.len() <= 100);
        }
        assert_eq!(evicted, 10_000 - cache.len() as u64);
        assert!(cache.len() > 80, "at most an eighth is evicted at once: {}", cache.len());
        assert_eq!(seen(&cache, t0, 9_999), Seen::Duplicate(Some(&9_999u16.to_be_bytes()[..])));
        assert_eq!(seen(&cache, t0, 9_920), Seen::Duplicate(Some(&9_920u16.to_be_bytes()[..])), "the newest are kept");
        assert_eq!(seen(&cache, t0, 0), Seen::New);
        assert!(cache.arena.len() <= 100 * 6, "evicted replies are given back: {}", cache.arena.len());
    }

    #[test]
    fn expired_burst_gives_its_table_memory_back() {
        let t0 = Instant::now();
        let mut cache = DedupCache::new(10_000);
        for mid in 0..5_000u16 {
            remember(&mut cache, t0, mid, Duration::from_secs(247));
        }
        remember(&mut cache, t0, 9_000, Duration::from_secs(500));
        assert!(cache.slots.capacity() >= 5_000);
        cache.purge(t0 + Duration::from_secs(247));
        assert_eq!(cache.len(), 1);
        assert!(cache.slots.capacity() < 256, "capacity {}", cache.slots.capacity());
        assert!(cache.index.len() <= MIN_INDEX, "index {}", cache.index.len());
        assert_eq!(seen(&cache, t0, 9_000), Seen::Duplicate(None));
    }

    #[test]
    fn expired_entries_are_never_seen_and_are_swept_at_most_once_per_interval() {
        let t0 = Instant::now();
        let mut cache = DedupCache::new(100);
        remember(&mut cache, t0, 1, Duration::from_millis(100));
        remember(&mut cache, t0, 2, Duration::from_millis(200));
        remember(&mut cache, t0, 3, Duration::from_secs(10));
        assert_eq!(cache.next_expiry(), Some(t0 + Duration::from_millis(100)));
        let t1 = t0 + Duration::from_millis(100);
        cache.purge(t1);
        assert_eq!(cache.len(), 2, "key 1 swept");
        assert_eq!(cache.next_expiry(), Some(t1 + SWEEP_INTERVAL), "key 2 waits for the next sweep");
        let t2 = t0 + Duration::from_millis(300);
        cache.purge(t2);
        assert_eq!(cache.len(), 2, "not swept before the interval");
        assert_eq!(seen(&cache, t2, 2), Seen::New, "but never seen once expired");
        cache.purge(t1 + SWEEP_INTERVAL);
        assert_eq!(cache.len(), 1);
        assert_eq!(cache.next_expiry(), Some(t0 + Duration::from_secs(10)));
        cache.purge(t0 + Duration::from_secs(10));
        assert_eq!((cache.len(), cache.next_expiry()), (0, None));
    }

    #[test]
    fn an_expired_key_received_again_is_new_and_keeps_only_its_new_reply() {
        let t0 = Instant::now();
        let mut cache = DedupCache::new(100);
        remember(&mut cache, t0, 7, Duration::from_millis(100));
        cache.set_reply(&peer(), MessageId(7), b"old");
        let t1 = t0 + Duration::from_millis(150);
        assert_eq!(seen(&cache, t1, 7), Seen::New, "expired, not swept yet");
        remember(&mut cache, t1, 7, Duration::from_secs(10));
        assert_eq!(cache.len(), 1, "the new entry replaces the old one");
        assert_eq!(seen(&cache, t1, 7), Seen::Duplicate(None));
        cache.set_reply(&peer(), MessageId(7), b"new");
        assert_eq!(seen(&cache, t1, 7), Seen::Duplicate(Some(&b"new"[..])));
        cache.purge(t1 + SWEEP_INTERVAL);
        assert_eq!((cache.len(), cache.slots.len()), (1, 1), "the replaced slot is dropped by the sweep");
        assert_eq!(seen(&cache, t1, 7), Seen::Duplicate(Some(&b"new"[..])));
        assert_eq!(cache.arena.len(), 4 + 3, "only the new reply is kept");
    }

    #[test]
    fn peers_differing_in_family_port_identity_or_scope_are_distinct() {
        let t0 = Instant::now();
        let v4 = Peer::udp("192.0.2.1:5683".parse().expect("literal"));
        let mapped = Peer::udp("[::ffff:192.0.2.1]:5683".parse().expect("literal"));
        let other_port = Peer::udp("192.0.2.1:5684".parse().expect("literal"));
        let alice = Peer { identity: Some("alice".into()), ..v4.clone() };
        let bob = Peer { identity: Some("bob".into()), ..v4.clone() };
        let scoped =
            Peer::udp(SocketAddr::V6(std::net::SocketAddrV6::new("fe80::1".parse().expect("literal"), 5683, 0, 2)));
        let unscoped = Peer::udp("[fe80::1]:5683".parse().expect("literal"));
        let carol = Peer { identity: Some("carol".into()), ..v4.clone() };
        let peers = [v4, mapped, other_port, alice, bob, scoped, unscoped];
        let mut cache = DedupCache::new(100);
        cache.insert(t0, &carol, MessageId(1), Duration::from_millis(100));
        for (i, peer) in peers.iter().enumerate() {
            assert_eq!(cache.lookup(t0, peer, MessageId(1)), Seen::New, "{peer:?}");
            cache.insert(t0, peer, MessageId(1), Duration::from_secs(10));
            cache.set_reply(peer, MessageId(1), &[i as u8]);
        }
        for (i, peer) in peers.iter().enumerate() {
            assert_eq!(cache.lookup(t0, peer, MessageId(1)), Seen::Duplicate(Some(&[i as u8][..])), "{peer:?}");
            assert_eq!(cache.lookup(t0, peer, MessageId(2)), Seen::New);
        }
        assert_eq!(cache.len(), peers.len() + 1);
        let t1 = t0 + Duration::from_millis(100);
        cache.purge(t1);
        assert_eq!((cache.len(), cache.others.len()), (peers.len(), 3), "carol's entry swept");
        assert_eq!(cache.lookup(t1, &carol, MessageId(1)), Seen::New);
        for (i, peer) in peers.iter().enumerate() {
            assert_eq!(cache.lookup(t1, peer, MessageId(1)), Seen::Duplicate(Some(&[i as u8][..])), "{peer:?}");
        }
    }

    #[test]
    fn replies_stay_right_across_sweeps_and_replacements() {
        let t0 = Instant::now();
        let mut cache = DedupCache::new(1_000);
        for mid in 0..600u16 {
            let lifetime = Duration::from_secs(if mid % 2 == 0 { 10 } else { 20 });
            remember(&mut cache, t0, mid, lifetime);
            cache.set_reply(&peer(), MessageId(mid), &vec![mid as u8; usize::from(mid % 50)]);
            if mid % 3 == 0 {
                cache.set_reply(&peer(), MessageId(mid), &vec![!(mid as u8); usize::from(mid % 70)]);
            }
        }
        let t1 = t0 + Duration::from_secs(10);
        cache.purge(t1);
        assert_eq!(cache.len(), 300);
        for mid in 0..600u16 {
            let expected = if mid % 2 == 0 {
                None
            } else if mid % 3 == 0 {
                Some(vec![!(mid as u8); usize::from(mid % 70)])
            } else {
                Some(vec![mid as u8; usize::from(mid % 50)])
            };
            match (seen(&cache, t1, mid), expected) {
                (Seen::New, None) => {}
                (Seen::Duplicate(Some(bytes)), Some(expected)) => assert_eq!(bytes, expected, "mid {mid}"),
                (got, expected) => panic!("mid {mid}: {got:?}, expected {expected:?}"),
            }
        }
    }

    #[test]
    fn entries_outlive_a_base_move() {
        let t0 = Instant::now();
        let mut cache = DedupCache::new(100);
        let lifetime = Duration::from_millis(REBASE_AFTER_MS + 5_000);
        remember(&mut cache, t0, 1, lifetime);
        let t1 = t0 + Duration::from_millis(REBASE_AFTER_MS);
        remember(&mut cache, t1, 2, Duration::from_secs(10));
        assert_eq!(seen(&cache, t1, 1), Seen::Duplicate(None), "still within its lifetime after the move");
        assert_eq!(seen(&cache, t1 + Duration::from_secs(5), 1), Seen::New);
        assert_eq!(seen(&cache, t1 + Duration::from_secs(5), 2), Seen::Duplicate(None));
        assert_eq!(seen(&cache, t1 + Duration::from_secs(10), 2), Seen::New);
    }

    #[test]
    fn an_entry_is_forgotten_at_most_1_ms_before_its_exact_expiry() {
        let t0 = Instant::now();
        let mut cache = DedupCache::new(100);
        remember(&mut cache, t0, 1, Duration::from_secs(10));
        let t1 = t0 + Duration::from_micros(900);
        remember(&mut cache, t1, 2, Duration::from_micros(1_900));
        // Exact expiry t0 + 2.8 ms: rounding the arrival and the lifetime apart lost 1.8 ms.
        assert_eq!(seen(&cache, t0 + Duration::from_micros(1_790), 2), Seen::Duplicate(None));
        assert_eq!(seen(&cache, t0 + Duration::from_micros(2_800), 2), Seen::New);
    }

    #[test]
    fn a_short_lived_entry_does_not_bring_the_next_sweep_within_the_interval() {
        let t0 = Instant::now();
        let mut cache = DedupCache::new(100);
        remember(&mut cache, t0, 1, Duration::from_millis(100));
        let t1 = t0 + Duration::from_millis(100);
        cache.purge(t1);
        assert_eq!((cache.len(), cache.next_expiry()), (0, None));
        remember(&mut cache, t1 + Duration::from_millis(100), 2, Duration::from_millis(10));
        assert_eq!(cache.next_expiry(), Some(t1 + SWEEP_INTERVAL));
        assert_eq!(seen(&cache, t1 + Duration::from_millis(110), 2), Seen::New, "expired all the same");
    }

    /// The randomized comparison of the cache with a reference model built from std collections:
    /// the same operations on both, then every key the model holds (and a few it does not) looked
    /// up in both.
    mod model {
        use super::*;
        use rand::{Rng, SeedableRng};
        use rand_chacha::ChaCha8Rng;
        use std::collections::BTreeMap;
        use std::net::SocketAddrV6;

        /// Longest lifetime the cache keeps exactly (2³¹ ms); a longer one may be cut to it.
        const EXACT_LIFETIME: Duration = Duration::from_millis(REBASE_AFTER_MS);
        /// How much earlier than its exact expiry an entry may be forgotten.
        const ROUNDING: Duration = Duration::from_millis(1);

        type Key = (Peer, MessageId);

        /// What a duplicate of a model entry must get.
        #[derive(Debug, Clone, PartialEq, Eq)]
        enum Expected {
            Pending,
            Datagram(Vec<u8>),
            Reprocess,
        }

        impl Expected {
            fn matches(&self, seen: &Seen<'_>) -> bool {
                match (self, seen) {
                    (Self::Pending, Seen::Duplicate(None)) | (Self::Reprocess, Seen::Reprocess) => true,
                    (Self::Datagram(bytes), Seen::Duplicate(Some(got))) => bytes[..] == **got,
                    _ => false,
                }
            }
        }

        /// One remembered message of the model.
        #[derive(Debug)]
        struct Entry {
            /// Insertion order of the key's latest insert (eviction takes the smallest first).
            seq: u64,
            /// Until then a duplicate must be recognised: the exact expiry less the millisecond
            /// the cache may round away, a lifetime beyond 2³¹ ms counted as 2³¹ ms.
            sure_until: Instant,
            /// From then on the entry must be forgotten (`None`: beyond any `Instant`). Set to
            /// the time the cache first forgot it within the rounding window.
            gone_at: Option<Instant>,
            reply: Expected,
        }

        /// Where a run is, for failure messages.
        #[derive(Debug, Clone, Copy)]
        struct At {
            seed: u64,
            capacity: usize,
            step: usize,
            /// Virtual time since the start of the run.
            elapsed: Duration,
        }

        impl std::fmt::Display for At {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                let Self { seed, capacity, step, elapsed } = self;
                write!(f, "(seed {seed:#x}, capacity {capacity}, step {step}, {elapsed:?} into the run)")
            }
        }

        /// How often each interesting path was taken (asserted non-zero over all runs).
        #[derive(Debug, Default)]
        struct Coverage {
            inserts: u64,
            replacements: u64,
            evictions: u64,
            sweeps: u64,
            rebases: u64,
            cut_lifetimes: u64,
            early_forgets: u64,
            replies_seen: u64,
            empty_replies_seen: u64,
            reprocess_seen: u64,
            pending_seen: u64,
            other_peers_seen: u64,
        }

        /// The reference model: every entry the cache holds (expired ones too, until swept).
        #[derive(Debug)]
        struct Model {
            entries: BTreeMap<Key, Entry>,
            capacity: usize,
            next_seq: u64,
            /// At least as many replaced slots as the cache holds: counts replacements since
            /// the last compaction the model sees (a sweep or an eviction).
            replaced_at_most: usize,
            last_sweep: Option<Instant>,
        }

        impl Model {
            fn new(capacity: usize) -> Self {
                Self { entries: BTreeMap::new(), capacity, next_seq: 0, replaced_at_most: 0, last_sweep: None }
            }

            /// Follows `cache.insert(now, key, lifetime)`, which returned `evicted`.
            fn insert(&mut self, now: Instant, key: Key, lifetime: Duration, evicted: u64, at: At) {
                let held = self.entries.len();
                let keep = self.capacity - self.capacity.div_ceil(8);
                let evicted = usize::try_from(evicted).expect("evicted count fits usize");
                if held >= self.capacity {
                    assert_eq!(evicted, held - keep, "a full cache evicts down to {keep} entries {at}");
                }
                if evicted > 0 {
                    assert_eq!(evicted, held.saturating_sub(keep), "evicts down to {keep} entries {at}");
                    assert!(
                        held + self.replaced_at_most >= self.capacity,
                        "evicts only when full: {held} held, at most {} replaced {at}",
                        self.replaced_at_most
                    );
                    let mut order: Vec<(u64, Key)> = self.entries.iter().map(|(k, e)| (e.seq, k.clone())).collect();
                    order.sort_unstable_by_key(|(seq, _)| *seq);
                    for (_, key) in order.into_iter().take(evicted) {
                        self.entries.remove(&key);
                    }
                    self.replaced_at_most = 0;
                }
                if self.entries.contains_key(&key) {
                    self.replaced_at_most += 1;
                }
                let sure_until = (now + lifetime.min(EXACT_LIFETIME)).checked_sub(ROUNDING).unwrap_or(now);
                let entry = Entry {
                    seq: self.next_seq,
                    sure_until,
                    gone_at: now.checked_add(lifetime),
                    reply: Expected::Pending,
                };
                self.next_seq += 1;
                self.entries.insert(key, entry);
            }

            fn set_reply(&mut self, key: &Key, reply: Expected) {
                if let Some(entry) = self.entries.get_mut(key) {
                    entry.reply = reply;
                }
            }

            /// Follows a sweep at `now` (entries the cache saw expired at `now` are dropped).
            fn sweep(&mut self, now: Instant) {
                self.entries.retain(|_, entry| entry.gone_at.is_none_or(|gone_at| gone_at > now));
                self.replaced_at_most = 0;
                self.last_sweep = Some(now);
            }

            /// Looks every held key and each of `probes` up in `cache` at `now` and checks the
            /// answers, the length, the capacity cap and the sweep deadline. An entry the cache
            /// forgets within its rounding window is forgotten by the model from then on.
            fn check(&mut self, cache: &DedupCache, now: Instant, probes: &[Key], at: At, coverage: &mut Coverage) {
                for ((peer, mid), entry) in &mut self.entries {
                    let seen = cache.lookup(now, peer, *mid);
                    if entry.gone_at.is_some_and(|gone_at| now >= gone_at) {
                        assert_eq!(seen, Seen::New, "{peer:?} {mid:?} is expired {entry:?} {at}");
                        continue;
                    }
                    if now >= entry.sure_until && seen == Seen::New {
                        entry.gone_at = Some(now);
                        coverage.early_forgets += 1;
                        continue;
                    }
                    assert!(
                        entry.reply.matches(&seen),
                        "{peer:?} {mid:?}: {seen:?}, expected {entry:?} {at} now {now:?} base {:?}",
                        cache.base
                    );
                    match seen {
                        Seen::Duplicate(Some([])) => coverage.empty_replies_seen += 1,
                        Seen::Duplicate(Some(_)) => coverage.replies_seen += 1,
                        Seen::Duplicate(None) => coverage.pending_seen += 1,
                        Seen::Reprocess => coverage.reprocess_seen += 1,
                        Seen::New => {}
                    }
                    if Packed::of(peer).family == Family::Other {
                        coverage.other_peers_seen += 1;
                    }
                }
                for (peer, mid) in probes.iter().filter(|key| !self.entries.contains_key(key)) {
                    assert_eq!(cache.lookup(now, peer, *mid), Seen::New, "{peer:?} {mid:?} is unknown {at}");
                }
                assert_eq!(cache.len(), self.entries.len(), "{at}");
                assert!(cache.slots.len() <= self.capacity, "{} slots {at}", cache.slots.len());
                assert!(cache.replaced <= self.replaced_at_most, "{} replaced {at}", cache.replaced);
                assert!(cache.others.len() <= cache.slots.len(), "{} others {at}", cache.others.len());
                assert!(cache.index.len() >= 2 * cache.slots.len(), "index at most half full {at}");
                let replies: usize = self
                    .entries
                    .values()
                    .map(|entry| match &entry.reply {
                        Expected::Datagram(bytes) => 4 + bytes.len(),
                        Expected::Pending | Expected::Reprocess => 0,
                    })
                    .sum();
                assert_eq!(cache.arena.len(), replies + cache.garbage, "arena holds the replies and garbage {at}");
                let next = cache.next_expiry();
                assert_eq!(next.is_some(), !self.entries.is_empty(), "a sweep is due iff entries are held {at}");
                // The sweep may wait for the interval since the last one, not for longer.
                let earliest = self.entries.values().filter_map(|entry| entry.gone_at).min();
                let allowed = self.last_sweep.map(|swept| swept + SWEEP_INTERVAL);
                let bound = earliest.map(|earliest| allowed.map_or(earliest, |allowed| earliest.max(allowed)));
                if let (Some(next), Some(bound)) = (next, bound) {
                    assert!(next <= bound, "sweep due {next:?}, later than {bound:?} {at}");
                }
            }
        }

        /// Peers that collide often: the same address over UDP and DTLS, IPv4 and IPv4-mapped
        /// IPv6, IPv6 with and without scope or flow label.
        fn peer_pool() -> Vec<Peer> {
            let v4 = |addr: &str| Peer::udp(addr.parse().expect("literal address"));
            let v6 = |ip: &str, port, flowinfo, scope_id| {
                Peer::udp(SocketAddr::V6(SocketAddrV6::new(
                    ip.parse().expect("literal address"),
                    port,
                    flowinfo,
                    scope_id,
                )))
            };
            let with = |peer: Peer, identity: &str| Peer { identity: Some(identity.into()), ..peer };
            vec![
                v4("192.0.2.1:5683"),
                v4("192.0.2.1:5684"),
                v4("192.0.2.2:5683"),
                v6("::ffff:192.0.2.1", 5683, 0, 0),
                v6("2001:db8::1", 5683, 0, 0),
                v6("2001:db8::1", 5683, 7, 0),
                v6("fe80::1", 5683, 0, 0),
                v6("fe80::1", 5683, 0, 2),
                with(v4("192.0.2.1:5683"), "alice"),
                with(v4("192.0.2.1:5683"), "bob"),
                with(v6("2001:db8::1", 5683, 0, 0), "alice"),
                with(v6("fe80::1", 5683, 0, 2), "carol"),
            ]
        }

        /// A key from the pool: mostly one of 8 message IDs, so keys repeat.
        fn random_key(rng: &mut ChaCha8Rng, peers: &[Peer]) -> Key {
            let peer = peers[rng.random_range(0..peers.len())].clone();
            let mid = if rng.random_bool(0.9) { rng.random_range(0..8) } else { rng.random() };
            (peer, MessageId(mid))
        }

        /// Mostly a key the model holds (when it holds any), else one from the pool.
        fn some_key(rng: &mut ChaCha8Rng, peers: &[Peer], model: &Model) -> Key {
            if !model.entries.is_empty() && rng.random_bool(0.7) {
                let nth = rng.random_range(0..model.entries.len());
                if let Some(key) = model.entries.keys().nth(nth) {
                    return key.clone();
                }
            }
            random_key(rng, peers)
        }

        fn random_lifetime(rng: &mut ChaCha8Rng) -> Duration {
            match rng.random_range(0..100) {
                0..10 => Duration::ZERO,
                10..30 => Duration::from_nanos(rng.random_range(1..5_000_000)),
                30..45 => Duration::from_millis(rng.random_range(1..3_000)),
                45..60 => Duration::from_secs([93, 145, 247][rng.random_range(0..3)]),
                60..75 => Duration::from_nanos(rng.random_range(90_000_000_000..250_000_000_000)),
                75..93 => Duration::from_secs(rng.random_range(60..4 * 86_400)),
                93..96 => EXACT_LIFETIME + Duration::from_nanos(rng.random_range(0..4_000_000)) - ROUNDING * 2,
                96..99 => Duration::from_secs(rng.random_range(25 * 86_400..60 * 86_400)),
                _ => Duration::MAX,
            }
        }

        /// The next virtual time: small and large steps, jumps of days, the cache's sweep
        /// deadline, and the edges of a model entry's rounding window.
        fn advance(rng: &mut ChaCha8Rng, now: Instant, cache: &DedupCache, model: &Model) -> Instant {
            let later = match rng.random_range(0..100) {
                0..10 => Some(now),
                10..35 => now.checked_add(Duration::from_nanos(rng.random_range(1..1_000_000))),
                35..60 => now.checked_add(Duration::from_nanos(rng.random_range(1_000_000..2_000_000_000))),
                60..72 => now.checked_add(Duration::from_secs(rng.random_range(1..300))),
                72..80 => now.checked_add(Duration::from_secs(rng.random_range(300..36_000))),
                80..84 => now.checked_add(Duration::from_secs(rng.random_range(86_400..10 * 86_400))),
                84..92 => cache.next_expiry(),
                _ => {
                    let nth = rng.random_range(0..model.entries.len().max(1));
                    model.entries.values().nth(nth).and_then(|entry| match rng.random_range(0..4) {
                        0 => Some(entry.sure_until),
                        1 => entry.sure_until.checked_add(Duration::from_nanos(rng.random_range(1..1_000_000))),
                        2 => entry.gone_at.and_then(|gone_at| gone_at.checked_sub(Duration::from_nanos(1))),
                        _ => entry.gone_at,
                    })
                }
            };
            later.filter(|later| *later >= now).unwrap_or(now)
        }

        /// Runs `ops` random operations on a cache of `capacity` and on the model, checking
        /// both agree after each.
        fn run(seed: u64, capacity: usize, ops: usize, coverage: &mut Coverage) {
            let mut rng = ChaCha8Rng::seed_from_u64(seed);
            let peers = peer_pool();
            let t0 = Instant::now();
            let mut now = t0;
            let mut cache = DedupCache::new(capacity);
            let mut model = Model::new(capacity);
            for step in 0..ops {
                let at = At { seed, capacity, step, elapsed: now - t0 };
                match rng.random_range(0..100) {
                    0..35 => {
                        let key = some_key(&mut rng, &peers, &model);
                        let lifetime = random_lifetime(&mut rng);
                        let base = cache.base;
                        let rebase = base.is_some_and(|base| millis_between(base, now) >= REBASE_AFTER_MS);
                        coverage.inserts += 1;
                        coverage.replacements += u64::from(model.entries.contains_key(&key));
                        coverage.cut_lifetimes += u64::from(lifetime > EXACT_LIFETIME);
                        let evicted = cache.insert(now, &key.0, key.1, lifetime);
                        coverage.evictions += evicted;
                        if rebase && usize::try_from(evicted).is_ok_and(|evicted| evicted < model.entries.len()) {
                            // Entries were left: the base moved up to `now` by whole milliseconds.
                            let moved = cache.base.expect("a base while entries are held");
                            assert!(moved <= now && now - moved < ROUNDING, "base {moved:?} {at}");
                            coverage.rebases += 1;
                        }
                        model.insert(now, key, lifetime, evicted, at);
                    }
                    35..55 => {
                        let key = some_key(&mut rng, &peers, &model);
                        let mut reply = vec![0; rng.random_range(0..1200)];
                        rng.fill(&mut reply[..]);
                        cache.set_reply(&key.0, key.1, &reply);
                        model.set_reply(&key, Expected::Datagram(reply));
                    }
                    55..62 => {
                        let key = some_key(&mut rng, &peers, &model);
                        cache.set_reprocess(&key.0, key.1);
                        model.set_reply(&key, Expected::Reprocess);
                    }
                    62..72 => {
                        // The model learns which entries in their rounding window the cache has
                        // forgotten by now (it sweeps exactly those) from the check after the
                        // last operation, made at this same `now`.
                        let due = cache.next_expiry().is_some_and(|due| due <= now);
                        if let (true, Some(swept)) = (due, model.last_sweep) {
                            assert!(now >= swept + SWEEP_INTERVAL, "swept at most once per interval {at}");
                        }
                        cache.purge(now);
                        if due {
                            model.sweep(now);
                            coverage.sweeps += 1;
                        }
                    }
                    _ => now = advance(&mut rng, now, &cache, &model),
                }
                let probes: Vec<Key> = (0..4).map(|_| random_key(&mut rng, &peers)).collect();
                let at = At { elapsed: now - t0, ..at };
                model.check(&cache, now, &probes, at, coverage);
            }
        }

        #[test]
        fn cache_agrees_with_a_reference_model_over_random_operations() {
            let mut coverage = Coverage::default();
            for (seed, capacity) in [(0x5eed_0001, 1), (0x5eed_0002, 7), (0x5eed_0003, 64), (0x5eed_0004, 64)] {
                run(seed, capacity, 20_000, &mut coverage);
            }
            let Coverage {
                inserts,
                replacements,
                evictions,
                sweeps,
                rebases,
                cut_lifetimes,
                early_forgets,
                replies_seen,
                empty_replies_seen,
                reprocess_seen,
                pending_seen,
                other_peers_seen,
            } = coverage;
            let paths = [
                inserts,
                replacements,
                evictions,
                sweeps,
                rebases,
                cut_lifetimes,
                early_forgets,
                replies_seen,
                empty_replies_seen,
                reprocess_seen,
                pending_seen,
                other_peers_seen,
            ];
            assert!(paths.iter().all(|&count| count > 0), "every path taken: {coverage:?}");
        }
    }
}
