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
    use std::collections::BTreeMap;
    use std::time::{Duration, Instant};

    use lwm2m::{ObjectLinks, RegisterParams};
    use rand::{Rng, SeedableRng};
    use rand_chacha::ChaCha8Rng;

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

    /// What the directory must answer, kept in ordered std maps: registrations by ID, and the
    /// owner of each peer key (the registration that last took it; nobody once that one leaves
    /// or moves, even when others still share the key).
    #[derive(Default)]
    struct Model {
        registrations: BTreeMap<String, (EndpointName, Peer)>,
        by_endpoint: BTreeMap<EndpointName, String>,
        identity_owner: BTreeMap<String, String>,
        addr_owner: BTreeMap<SocketAddr, String>,
    }

    impl Model {
        fn unown(&mut self, id: &str, peer: &Peer) {
            match &peer.identity {
                Some(identity) if self.identity_owner.get(identity).is_some_and(|owner| owner == id) => {
                    self.identity_owner.remove(identity);
                }
                None if self.addr_owner.get(&peer.addr).is_some_and(|owner| owner == id) => {
                    self.addr_owner.remove(&peer.addr);
                }
                _ => {}
            }
        }

        fn put(&mut self, id: &str, endpoint: EndpointName, peer: Peer) {
            if let Some((old_endpoint, old_peer)) = self.registrations.remove(id) {
                self.by_endpoint.remove(&old_endpoint);
                self.unown(id, &old_peer);
            }
            match &peer.identity {
                Some(identity) => self.identity_owner.insert(identity.clone(), id.to_owned()),
                None => self.addr_owner.insert(peer.addr, id.to_owned()),
            };
            let previous = self.by_endpoint.insert(endpoint.clone(), id.to_owned());
            assert!(previous.is_none(), "the caller frees an endpoint before giving it to {id}");
            self.registrations.insert(id.to_owned(), (endpoint, peer));
        }

        fn remove(&mut self, id: &str) -> Option<(EndpointName, Peer)> {
            let (endpoint, peer) = self.registrations.remove(id)?;
            self.by_endpoint.remove(&endpoint);
            self.unown(id, &peer);
            Some((endpoint, peer))
        }

        fn by_peer(&self, peer: &Peer) -> Option<&str> {
            match &peer.identity {
                Some(identity) => self.identity_owner.get(identity),
                None => self.addr_owner.get(&peer.addr),
            }
            .map(String::as_str)
        }
    }

    /// The names a run draws from: the first few of each pool are fought over, the rest let the
    /// directory grow to hundreds.
    struct Pools {
        ids: Vec<String>,
        endpoints: Vec<EndpointName>,
        peers: Vec<Peer>,
    }

    /// How many names the crowded phases draw from.
    const FEW: usize = 10;

    impl Pools {
        fn new() -> Self {
            // Every third ID (`r1-longlonglonglong`, …) is longer than the 14 bytes kept inline,
            // and sorts among the short ones.
            let ids = (0..1000)
                .map(|n| if n % 3 == 1 { format!("r{n}-{}", "long".repeat(4)) } else { format!("r{n}") })
                .collect();
            let endpoints = (0..1000).map(|n| ep(&format!("urn:dev:{n}"))).collect();
            // Four addresses shared by NoSec peers and DTLS peers of three identities.
            let addrs: Vec<SocketAddr> = ["192.0.2.1:5683", "192.0.2.1:5684", "192.0.2.2:5683", "[2001:db8::1]:5683"]
                .iter()
                .map(|addr| addr.parse().unwrap())
                .collect();
            let identities = [None, Some("psk-a"), Some("psk-b"), Some("cn=device-with-a-long-subject")];
            let peers = addrs
                .iter()
                .flat_map(|&addr| {
                    identities.iter().map(move |identity| Peer { addr, identity: identity.map(str::to_owned) })
                })
                .collect();
            Self { ids, endpoints, peers }
        }
    }

    /// How often each kind of operation comes in a phase of a run.
    #[derive(Clone, Copy, Debug)]
    struct Odds {
        insert: u32,
        update: u32,
        remove: u32,
        remove_unknown: u32,
    }

    const CHURN: Odds = Odds { insert: 40, update: 25, remove: 25, remove_unknown: 10 };
    const GROW: Odds = Odds { insert: 80, update: 10, remove: 8, remove_unknown: 2 };
    const DRAIN: Odds = Odds { insert: 4, update: 6, remove: 85, remove_unknown: 5 };

    /// One of the first `width` names of `pool`.
    fn pick<'a, T>(rng: &mut ChaCha8Rng, pool: &'a [T], width: usize) -> &'a T {
        &pool[rng.random_range(0..width.min(pool.len()))]
    }

    /// A directory and its model driven by one seed.
    struct Run {
        rng: ChaCha8Rng,
        pools: Pools,
        dir: Directory,
        model: Model,
        now: Instant,
        /// Operations so far.
        ops: usize,
        /// IDs and endpoints the current operation changed.
        touched: (Vec<String>, Vec<EndpointName>),
    }

    impl Run {
        fn new(seed: u64) -> Self {
            Self {
                rng: ChaCha8Rng::seed_from_u64(seed),
                pools: Pools::new(),
                dir: Directory::new(),
                model: Model::default(),
                now: Instant::now(),
                ops: 0,
                touched: (Vec::new(), Vec::new()),
            }
        }

        fn random_existing(&mut self) -> Option<String> {
            let len = self.model.registrations.len();
            (len > 0).then(|| self.model.registrations.keys().nth(self.rng.random_range(0..len)).unwrap().clone())
        }

        /// Puts `id` in with `endpoint` and `peer` as the server does: whoever else holds the
        /// endpoint is removed first.
        fn put(&mut self, id: &str, endpoint: EndpointName, peer: Peer) {
            let holder = self.model.by_endpoint.get(&endpoint).filter(|holder| *holder != id).cloned();
            if let Some(holder) = holder {
                self.remove(&holder);
            }
            let registration = Registration::new(
                RegistrationId::from_path_segment(id),
                peer.clone(),
                RegisterParams::new(endpoint.clone()),
                ObjectLinks::new(),
                self.now,
            );
            self.dir.insert(registration);
            if let Some((previous, _)) = self.model.registrations.get(id) {
                self.touched.1.push(previous.clone());
            }
            self.touched.0.push(id.to_owned());
            self.touched.1.push(endpoint.clone());
            self.model.put(id, endpoint, peer);
        }

        fn remove(&mut self, id: &str) {
            let removed = self.dir.remove(&RegistrationId::from_path_segment(id));
            let expected = self.model.remove(id);
            self.touched.0.push(id.to_owned());
            self.touched.1.extend(expected.as_ref().map(|(endpoint, _)| endpoint.clone()));
            match (removed, expected) {
                (Some(reg), Some((endpoint, peer))) => {
                    assert_eq!((reg.id.as_str(), &reg.endpoint, reg.peer()), (id, &endpoint, peer), "removed");
                }
                (None, None) => {}
                (removed, expected) => panic!("removing {id}: got {removed:?}, expected {expected:?}"),
            }
        }

        /// One random operation, then the lookups: all of them after every operation while
        /// the directory is small, after every eighth and after every shrink or growth when it
        /// is large, and those of the names the operation touched otherwise.
        fn step(&mut self, odds: Odds, width: usize) {
            self.now += Duration::from_millis(1);
            self.ops += 1;
            self.touched.0.clear();
            self.touched.1.clear();
            let room = self.dir.slots.capacity();
            let roll = self.rng.random_range(0..odds.insert + odds.update + odds.remove + odds.remove_unknown);
            let (rng, pools) = (&mut self.rng, &self.pools);
            let id = pick(rng, &pools.ids, width).clone();
            let endpoint = pick(rng, &pools.endpoints, width).clone();
            let peer = pick(rng, &pools.peers, pools.peers.len()).clone();
            let unknown = format!("{}x", pick(rng, &pools.ids, pools.ids.len()));
            let (change_endpoint, change_peer) = (rng.random_bool(0.3), rng.random_bool(0.7));
            if roll < odds.insert {
                // A new registration when the ID is free, else an update of the one holding it.
                self.put(&id, endpoint, peer);
            } else if roll < odds.insert + odds.update {
                if let Some(id) = self.random_existing() {
                    let (old_endpoint, old_peer) = self.model.registrations[&id].clone();
                    let endpoint = if change_endpoint { endpoint } else { old_endpoint };
                    let peer = if change_peer { peer } else { old_peer };
                    self.put(&id, endpoint, peer);
                }
            } else if roll < odds.insert + odds.update + odds.remove {
                if let Some(id) = self.random_existing() {
                    self.remove(&id);
                }
            } else {
                // Unknown: a pool ID not in use, or a name no pool holds.
                let unknown = if self.model.registrations.contains_key(&id) { unknown } else { id };
                self.remove(&unknown);
            }
            let all =
                self.model.registrations.len() <= 32 || self.ops.is_multiple_of(8) || room != self.dir.slots.capacity();
            self.check(all);
        }

        /// The lookups against the model: with `all`, of every name in use and in the crowded
        /// pools and the listing; else of the names touched and the crowded pools.
        fn check(&self, all: bool) {
            let model = &self.model;
            let pool_ids = self.pools.ids[..FEW].iter().chain(&self.touched.0).map(String::as_str);
            let pool_endpoints = self.pools.endpoints[..FEW].iter().chain(&self.touched.1);
            let (ids, endpoints): (Vec<&str>, Vec<&EndpointName>) = if all {
                (
                    model.registrations.keys().map(String::as_str).chain(pool_ids).collect(),
                    model.by_endpoint.keys().chain(pool_endpoints).collect(),
                )
            } else {
                (pool_ids.collect(), pool_endpoints.collect())
            };
            assert_eq!(self.dir.len(), model.registrations.len(), "len");
            assert_eq!(self.dir.is_empty(), model.registrations.is_empty(), "is_empty");
            for id in ids {
                let found = self.dir.get(&RegistrationId::from_path_segment(id)).map(|reg| reg.id.as_str());
                assert_eq!(found, model.registrations.contains_key(id).then_some(id), "get {id}");
            }
            for endpoint in endpoints {
                let found = self.dir.by_endpoint(endpoint).map(|reg| (reg.id.as_str(), &reg.endpoint));
                let expected = model.by_endpoint.get(endpoint).map(|id| (id.as_str(), endpoint));
                assert_eq!(found, expected, "by_endpoint {endpoint}");
            }
            for peer in &self.pools.peers {
                let found = self.dir.by_peer(peer).map(|reg| reg.id.as_str());
                assert_eq!(found, model.by_peer(peer), "by_peer {peer:?}");
            }
            // No entry is left behind for a key nobody owns.
            assert_eq!(self.dir.by_id.len(), model.registrations.len(), "id index size");
            assert_eq!(self.dir.by_endpoint.len(), model.by_endpoint.len(), "endpoint index size");
            assert_eq!(self.dir.by_identity.len(), model.identity_owner.len(), "identity index size");
            assert_eq!(self.dir.by_addr.len(), model.addr_owner.len(), "address index size");
            if !all {
                return;
            }
            let listed: Vec<(&str, &EndpointName, Peer)> =
                self.dir.iter().map(|reg| (reg.id.as_str(), &reg.endpoint, reg.peer())).collect();
            let expected: Vec<(&str, &EndpointName, Peer)> = model
                .registrations
                .iter()
                .map(|(id, (endpoint, peer))| (id.as_str(), endpoint, peer.clone()))
                .collect();
            assert_eq!(listed, expected, "iter, by id");
        }
    }

    /// Registers and leaves at random, crowded on a few names, then grows to hundreds and drains
    /// (so the directory shrinks), twice, checking every lookup after every operation.
    #[test]
    fn random_registrations_updates_and_removals_answer_like_ordered_maps() {
        for seed in [1, 2, 0x5eed, 0xdead_beef] {
            let mut run = Run::new(seed);
            for _ in 0..2 {
                for _ in 0..2000 {
                    run.step(CHURN, FEW);
                }
                // Bounded: each phase reaches its size in a few hundred operations.
                for _ in 0..2000 {
                    if run.dir.len() >= 200 {
                        break;
                    }
                    run.step(GROW, run.pools.ids.len());
                }
                assert!(run.dir.len() >= 200, "seed {seed}: grew to {}", run.dir.len());
                let grown = run.dir.slots.capacity();
                assert!(grown >= 256, "seed {seed}: grew to {grown}");
                for _ in 0..2000 {
                    if run.dir.len() <= 12 {
                        break;
                    }
                    run.step(DRAIN, run.pools.ids.len());
                }
                assert!(run.dir.len() <= 12, "seed {seed}: drained to {}", run.dir.len());
                let drained = run.dir.slots.capacity();
                assert!(drained * 4 <= grown, "seed {seed}: {drained} slots kept after {grown}");
                assert!(run.dir.by_id.capacity() < 100, "seed {seed}: id index kept {}", run.dir.by_id.capacity());
            }
        }
    }
}
