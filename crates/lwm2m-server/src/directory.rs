//! The registration directory: every [`Registration`] by [`RegistrationId`], by
//! [`EndpointName`] and by peer (identity for DTLS peers, address for NoSec ones; pitfall 6).

use std::collections::BTreeMap;
use std::net::SocketAddr;

use coap::Peer;
use lwm2m::EndpointName;

use crate::registration::{Registration, RegistrationId};

/// Registrations with their indexes. Capacity is enforced by the server.
#[derive(Debug, Default)]
pub struct Directory {
    /// Boxed: a registration is a few hundred bytes and B-tree nodes hold 11 slots each, so
    /// inline values would leave most of that unused (measured, docs/benchmarks.md).
    by_id: BTreeMap<RegistrationId, Box<Registration>>,
    by_endpoint: BTreeMap<EndpointName, RegistrationId>,
    by_identity: BTreeMap<String, RegistrationId>,
    by_addr: BTreeMap<SocketAddr, RegistrationId>,
}

impl Directory {
    /// An empty directory.
    pub fn new() -> Self {
        Self::default()
    }

    /// Number of registrations.
    pub fn len(&self) -> usize {
        self.by_id.len()
    }

    /// Whether there is none.
    pub fn is_empty(&self) -> bool {
        self.by_id.is_empty()
    }

    /// The registration with `id`.
    pub fn get(&self, id: &RegistrationId) -> Option<&Registration> {
        self.by_id.get(id).map(|reg| &**reg)
    }

    /// The registration of `endpoint`.
    pub fn by_endpoint(&self, endpoint: &EndpointName) -> Option<&Registration> {
        self.by_endpoint.get(endpoint).and_then(|id| self.by_id.get(id)).map(|reg| &**reg)
    }

    /// The registration `peer` holds: by identity when it has one, else by address.
    pub fn by_peer(&self, peer: &Peer) -> Option<&Registration> {
        let id = match &peer.identity {
            Some(identity) => self.by_identity.get(identity),
            None => self.by_addr.get(&peer.addr),
        }?;
        self.by_id.get(id).map(|reg| &**reg).filter(|reg| reg.peer.identity == peer.identity)
    }

    /// Every registration, by ID.
    pub fn iter(&self) -> impl Iterator<Item = &Registration> + '_ {
        self.by_id.values().map(|reg| &**reg)
    }

    /// Inserts `registration`, replacing the one with the same ID if any (an Update). The caller
    /// removes an older registration of the same endpoint first.
    pub fn insert(&mut self, registration: Registration) {
        if let Some(old) = self.by_id.get(&registration.id) {
            let peer = old.peer.clone();
            self.unindex_peer(&peer, &registration.id);
        }
        self.by_endpoint.insert(registration.endpoint.clone(), registration.id.clone());
        match &registration.peer.identity {
            Some(identity) => self.by_identity.insert(identity.clone(), registration.id.clone()),
            None => self.by_addr.insert(registration.peer.addr, registration.id.clone()),
        };
        self.by_id.insert(registration.id.clone(), Box::new(registration));
    }

    /// Removes the registration with `id`.
    pub fn remove(&mut self, id: &RegistrationId) -> Option<Registration> {
        let registration = *self.by_id.remove(id)?;
        if self.by_endpoint.get(&registration.endpoint) == Some(id) {
            self.by_endpoint.remove(&registration.endpoint);
        }
        self.unindex_peer(&registration.peer, id);
        Some(registration)
    }

    fn unindex_peer(&mut self, peer: &Peer, id: &RegistrationId) {
        match &peer.identity {
            Some(identity) if self.by_identity.get(identity) == Some(id) => {
                self.by_identity.remove(identity);
            }
            None if self.by_addr.get(&peer.addr) == Some(id) => {
                self.by_addr.remove(&peer.addr);
            }
            _ => {}
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

    #[test]
    fn registrations_are_found_by_id_endpoint_and_peer() {
        let mut dir = Directory::new();
        dir.insert(registration("r1", "a", "192.0.2.1:1", None));
        dir.insert(registration("r2", "b", "192.0.2.2:1", Some("psk-b")));
        assert_eq!(dir.by_endpoint(&EndpointName::new("a").unwrap()).unwrap().id.as_str(), "r1");
        assert_eq!(dir.by_peer(&Peer::udp("192.0.2.1:1".parse().unwrap())).unwrap().id.as_str(), "r1");
        let moved = Peer { addr: "192.0.2.9:7".parse().unwrap(), identity: Some("psk-b".into()) };
        assert_eq!(dir.by_peer(&moved).unwrap().id.as_str(), "r2", "dtls peers are matched by identity");
        assert!(dir.remove(&RegistrationId::from_path_segment("r1")).is_some());
        assert!(dir.by_peer(&Peer::udp("192.0.2.1:1".parse().unwrap())).is_none());
        assert_eq!(dir.len(), 1);
    }
}
