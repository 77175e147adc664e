//! The registration directory: every [`Registration`] by [`RegistrationId`], by
//! [`EndpointName`] and by peer (identity for DTLS peers, address for NoSec ones; pitfall 6).
//!
//! Kept for every client, so laid out for size: the registrations sit side by side in one
//! vector, and each index is a hash table holding only their 4-byte position in it, hashed and
//! compared through the registration it points at. Listing by ID sorts on demand.

use std::hash::{BuildHasher, Hash, RandomState};
use std::net::SocketAddr;

use coap::Peer;
use hashbrown::HashTable;
use lwm2m::EndpointName;

use crate::registration::{Registration, RegistrationId};

/// Registrations with their indexes. Capacity is enforced by the server.
#[derive(Debug, Default)]
pub struct Directory {
    /// Every registration; removal moves the last one into the hole.
    slots: Vec<Registration>,
    /// Positions, hashed by ID.
    by_id: HashTable<u32>,
    /// Positions, hashed by endpoint name.
    by_endpoint: HashTable<u32>,
    /// Positions of registrations with a DTLS identity, hashed by identity.
    by_identity: HashTable<u32>,
    /// Positions of NoSec registrations, hashed by address.
    by_addr: HashTable<u32>,
    /// Keyed per process, so peers cannot aim at one bucket.
    hasher: RandomState,
}

/// One of the hashed indexes: how its key is read from a registration.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Index {
    Id,
    Endpoint,
    Identity,
    Addr,
}

/// A key of a hashed index, borrowed from a registration or a query.
#[derive(Debug, PartialEq, Eq, Hash)]
enum Key<'a> {
    Text(&'a str),
    Addr(SocketAddr),
}

impl Index {
    /// The key of `registration` in this index, or `None` when it is not indexed here.
    fn key(self, registration: &Registration) -> Option<Key<'_>> {
        match (self, registration.identity()) {
            (Self::Id, _) => Some(Key::Text(registration.id.as_str())),
            (Self::Endpoint, _) => Some(Key::Text(registration.endpoint.as_str())),
            (Self::Identity, Some(identity)) => Some(Key::Text(identity)),
            (Self::Addr, None) => Some(Key::Addr(registration.addr)),
            _ => None,
        }
    }
}

/// The peer index of `peer`, with its key.
fn peer_key(peer: &Peer) -> (Index, Key<'_>) {
    match &peer.identity {
        Some(identity) => (Index::Identity, Key::Text(identity)),
        None => (Index::Addr, Key::Addr(peer.addr)),
    }
}

/// Every index.
const INDEXES: [Index; 4] = [Index::Id, Index::Endpoint, Index::Identity, Index::Addr];

/// Below this many slots the directory does not bother shrinking.
const MIN_SHRINK_CAPACITY: usize = 64;

/// The hash of the entry `slot` in `index` when its table grows or shrinks.
fn rehash(index: Index, slots: &[Registration], hasher: &RandomState, slot: u32) -> u64 {
    slots.get(slot as usize).and_then(|reg| index.key(reg)).map_or(0, |key| hasher.hash_one(key))
}

/// A position as stored in the indexes (the server caps the directory far below `u32::MAX`).
fn position(index: usize) -> u32 {
    u32::try_from(index).unwrap_or(u32::MAX)
}

impl Directory {
    /// An empty directory.
    pub fn new() -> Self {
        Self::default()
    }

    /// Number of registrations.
    pub fn len(&self) -> usize {
        self.slots.len()
    }

    /// Whether there is none.
    pub fn is_empty(&self) -> bool {
        self.slots.is_empty()
    }

    /// The registration with `id`.
    pub fn get(&self, id: &RegistrationId) -> Option<&Registration> {
        self.find(Index::Id, &Key::Text(id.as_str())).and_then(|slot| self.slot(slot))
    }

    /// The registration of `endpoint`.
    pub fn by_endpoint(&self, endpoint: &EndpointName) -> Option<&Registration> {
        self.find(Index::Endpoint, &Key::Text(endpoint.as_str())).and_then(|slot| self.slot(slot))
    }

    /// The registration `peer` holds: by identity when it has one, else by address.
    pub fn by_peer(&self, peer: &Peer) -> Option<&Registration> {
        let (index, key) = peer_key(peer);
        let slot = self.find(index, &key)?;
        self.slot(slot).filter(|reg| reg.identity() == peer.identity.as_deref())
    }

    /// Every registration, by ID (sorted for each call).
    pub fn iter(&self) -> impl Iterator<Item = &Registration> + '_ {
        let mut sorted: Vec<&Registration> = self.slots.iter().collect();
        sorted.sort_unstable_by(|a, b| a.id.cmp(&b.id));
        sorted.into_iter()
    }

    /// Inserts `registration`, replacing the one with the same ID if any (an Update). The caller
    /// removes an older registration of the same endpoint first.
    pub fn insert(&mut self, registration: Registration) {
        let slot = match self.find(Index::Id, &Key::Text(registration.id.as_str())) {
            Some(slot) => {
                for index in INDEXES {
                    self.unindex(index, slot);
                }
                match self.slots.get_mut(slot as usize) {
                    Some(old) => *old = registration,
                    None => return,
                }
                slot
            }
            None => {
                let slot = position(self.slots.len());
                self.slots.push(registration);
                slot
            }
        };
        for index in INDEXES {
            self.index(index, slot);
        }
    }

    /// Removes the registration with `id`.
    pub fn remove(&mut self, id: &RegistrationId) -> Option<Registration> {
        let slot = self.find(Index::Id, &Key::Text(id.as_str()))?;
        for index in INDEXES {
            self.unindex(index, slot);
        }
        let last = position(self.slots.len().checked_sub(1)?);
        if last != slot {
            // The last registration moves into the hole: its entries follow it.
            for index in INDEXES {
                self.repoint(index, last, slot);
            }
        }
        let removed = ((slot as usize) < self.slots.len()).then(|| self.slots.swap_remove(slot as usize));
        self.shrink_if_sparse();
        removed
    }

    /// Gives memory back once at most a quarter of the room is used (after a crowd has left).
    fn shrink_if_sparse(&mut self) {
        let (len, capacity) = (self.slots.len(), self.slots.capacity());
        if capacity < MIN_SHRINK_CAPACITY || len.saturating_mul(4) > capacity {
            return;
        }
        let keep = len.saturating_mul(2);
        self.slots.shrink_to(keep);
        for index in INDEXES {
            let (table, slots, hasher) = self.parts(index);
            table.shrink_to(keep, |&slot| rehash(index, slots, hasher, slot));
        }
    }

    fn slot(&self, slot: u32) -> Option<&Registration> {
        self.slots.get(slot as usize)
    }

    fn table(&self, index: Index) -> &HashTable<u32> {
        match index {
            Index::Id => &self.by_id,
            Index::Endpoint => &self.by_endpoint,
            Index::Identity => &self.by_identity,
            Index::Addr => &self.by_addr,
        }
    }

    /// The table of `index` with what hashing its entries needs.
    fn parts(&mut self, index: Index) -> (&mut HashTable<u32>, &[Registration], &RandomState) {
        let table = match index {
            Index::Id => &mut self.by_id,
            Index::Endpoint => &mut self.by_endpoint,
            Index::Identity => &mut self.by_identity,
            Index::Addr => &mut self.by_addr,
        };
        (table, &self.slots, &self.hasher)
    }

    /// The position `index` holds for `key`.
    fn find(&self, index: Index, key: &Key<'_>) -> Option<u32> {
        let hash = self.hasher.hash_one(key);
        self.table(index)
            .find(hash, |&slot| self.slot(slot).and_then(|reg| index.key(reg)).as_ref() == Some(key))
            .copied()
    }

    /// Points the entry for the key of `slots[slot]` at it (replacing another registration's).
    fn index(&mut self, index: Index, slot: u32) {
        let (table, slots, hasher) = self.parts(index);
        let Some(key) = slots.get(slot as usize).and_then(|reg| index.key(reg)) else { return };
        let hash = hasher.hash_one(&key);
        let same_key = |&other: &u32| slots.get(other as usize).and_then(|reg| index.key(reg)).as_ref() == Some(&key);
        match table.find_mut(hash, same_key) {
            Some(entry) => *entry = slot,
            None => {
                table.insert_unique(hash, slot, |&other| rehash(index, slots, hasher, other));
            }
        }
    }

    /// Removes the entry for the key of `slots[slot]` if it points at `slot`.
    fn unindex(&mut self, index: Index, slot: u32) {
        let (table, slots, hasher) = self.parts(index);
        let Some(key) = slots.get(slot as usize).and_then(|reg| index.key(reg)) else { return };
        if let Ok(entry) = table.find_entry(hasher.hash_one(&key), |&other| other == slot) {
            entry.remove();
        }
    }

    /// Points the entry for the key of `slots[from]` at `to` if it points at `from`.
    fn repoint(&mut self, index: Index, from: u32, to: u32) {
        let (table, slots, hasher) = self.parts(index);
        let Some(key) = slots.get(from as usize).and_then(|reg| index.key(reg)) else { return };
        if let Some(entry) = table.find_mut(hasher.hash_one(&key), |&other| other == from) {
            *entry = to;
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Instant;

    use lwm2m::{ObjectLinks, RegisterParams};

    use super::*;

    fn registration(id: &str, ep: &str, addr: &str, identity: Option<&str>) -> Registration {
        let params = RegisterParams::new(EndpointName::new(ep).unwrap());
        let peer = Peer { addr: addr.parse().unwrap(), identity: identity.map(str::to_owned) };
        Registration::new(RegistrationId::from_path_segment(id), peer, params, ObjectLinks::new(), Instant::now())
    }

    fn ep(name: &str) -> EndpointName {
        EndpointName::new(name).unwrap()
    }

    fn udp(addr: &str) -> Peer {
        Peer::udp(addr.parse().unwrap())
    }

    #[test]
    fn registrations_are_found_by_id_endpoint_and_peer() {
        let mut dir = Directory::new();
        dir.insert(registration("r1", "a", "192.0.2.1:1", None));
        dir.insert(registration("r2", "b", "192.0.2.2:1", Some("psk-b")));
        assert_eq!(dir.by_endpoint(&ep("a")).unwrap().id.as_str(), "r1");
        assert_eq!(dir.by_peer(&udp("192.0.2.1:1")).unwrap().id.as_str(), "r1");
        let moved = Peer { addr: "192.0.2.9:7".parse().unwrap(), identity: Some("psk-b".into()) };
        assert_eq!(dir.by_peer(&moved).unwrap().id.as_str(), "r2", "dtls peers are matched by identity");
        assert!(dir.by_peer(&udp("192.0.2.2:1")).is_none(), "a dtls peer is not found by address");
        assert!(dir.remove(&RegistrationId::from_path_segment("r1")).is_some());
        assert!(dir.by_peer(&udp("192.0.2.1:1")).is_none());
        assert_eq!(dir.len(), 1);
    }

    #[test]
    fn every_index_follows_the_registration_moved_into_a_removed_ones_place() {
        let mut dir = Directory::new();
        for n in 0..40 {
            let identity = (n % 3 == 0).then(|| format!("id{n}"));
            dir.insert(registration(
                &format!("r{n}"),
                &format!("e{n}"),
                &format!("192.0.2.1:{n}"),
                identity.as_deref(),
            ));
        }
        for n in (0..40).step_by(4) {
            assert_eq!(
                dir.remove(&RegistrationId::from_path_segment(&format!("r{n}"))).unwrap().endpoint,
                ep(&format!("e{n}"))
            );
        }
        assert!(dir.remove(&RegistrationId::from_path_segment("r0")).is_none());
        assert_eq!(dir.len(), 30);
        for n in (0..40).filter(|n| n % 4 != 0) {
            let id = format!("r{n}");
            assert_eq!(dir.get(&RegistrationId::from_path_segment(&id)).unwrap().id.as_str(), id);
            assert_eq!(dir.by_endpoint(&ep(&format!("e{n}"))).unwrap().id.as_str(), id);
            let peer = Peer {
                addr: format!("192.0.2.1:{n}").parse().unwrap(),
                identity: (n % 3 == 0).then(|| format!("id{n}")),
            };
            assert_eq!(dir.by_peer(&peer).unwrap().id.as_str(), id);
        }
        let listed: Vec<&str> = dir.iter().map(|reg| reg.id.as_str()).collect();
        assert_eq!(listed.len(), 30);
        let mut sorted = listed.clone();
        sorted.sort_unstable();
        assert_eq!(listed, sorted, "listed by id");
    }

    #[test]
    fn an_update_moves_the_peer_index_and_a_shared_address_belongs_to_the_latest() {
        let mut dir = Directory::new();
        dir.insert(registration("r1", "a", "192.0.2.1:1", None));
        dir.insert(registration("r1", "a", "192.0.2.1:2", None));
        assert!(dir.by_peer(&udp("192.0.2.1:1")).is_none());
        assert_eq!(dir.by_peer(&udp("192.0.2.1:2")).unwrap().id.as_str(), "r1");
        dir.insert(registration("r2", "b", "192.0.2.1:2", None));
        assert_eq!(dir.by_peer(&udp("192.0.2.1:2")).unwrap().id.as_str(), "r2");
        dir.remove(&RegistrationId::from_path_segment("r2"));
        assert!(dir.by_peer(&udp("192.0.2.1:2")).is_none(), "as before: the address was r2's");
        assert_eq!(dir.by_endpoint(&ep("a")).unwrap().id.as_str(), "r1");
        assert_eq!(dir.len(), 1);
    }

    #[test]
    fn a_directory_a_crowd_has_left_gives_its_room_back_and_still_finds_the_rest() {
        let mut dir = Directory::new();
        for n in 0..1000 {
            dir.insert(registration(&format!("r{n}"), &format!("e{n}"), &format!("192.0.2.1:{n}"), None));
        }
        for n in 10..1000 {
            dir.remove(&RegistrationId::from_path_segment(&format!("r{n}")));
        }
        assert!(dir.slots.capacity() < 100 && dir.by_addr.capacity() < 100, "{}", dir.slots.capacity());
        for n in 0..10 {
            assert_eq!(dir.by_endpoint(&ep(&format!("e{n}"))).unwrap().id.as_str(), format!("r{n}"));
            assert_eq!(dir.by_peer(&udp(&format!("192.0.2.1:{n}"))).unwrap().id.as_str(), format!("r{n}"));
        }
    }

    #[test]
    fn an_unknown_id_or_a_long_path_segment_finds_nothing() {
        let mut dir = Directory::new();
        dir.insert(registration("abcdefgh23", "a", "192.0.2.1:1", None));
        assert!(dir.get(&RegistrationId::from_path_segment(&"x".repeat(300))).is_none());
        assert!(dir.remove(&RegistrationId::from_path_segment("")).is_none());
        assert!(dir.get(&RegistrationId::from_path_segment("abcdefgh23")).is_some());
    }
}
