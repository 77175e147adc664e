//! The server's session table: one [`Session`] per remote address.
//!
//! Indexed three ways: by address, by last activity (eviction takes the least recently active
//! session when the table is full) and by next deadline (handshake timers, handshake deadline,
//! idle expiry), so `poll_timeout` and eviction cost a B-tree lookup, not a scan. The invariant:
//! after [`Sessions::reindex`] each entry appears in both ordered sets with its current keys.

use std::collections::{BTreeSet, HashMap};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use super::session::Session;

/// A session and what the server knows about its peer.
#[derive(Debug)]
pub(crate) struct Entry {
    pub(crate) session: Session,
    /// Authenticated identity once established.
    pub(crate) identity: Option<String>,
    /// The ClientHello random that started it (a later ClientHello with the same random is a
    /// retransmission, not a new handshake).
    pub(crate) client_random: [u8; 32],
    activity_key: Instant,
    deadline_key: Option<Instant>,
}

/// All sessions of one server.
#[derive(Debug, Default)]
pub(crate) struct Sessions {
    by_addr: HashMap<SocketAddr, Entry>,
    by_activity: BTreeSet<(Instant, SocketAddr)>,
    by_deadline: BTreeSet<(Instant, SocketAddr)>,
}

fn deadline_of(entry: &Entry, idle_timeout: Option<Duration>) -> Option<Instant> {
    if entry.session.is_established() {
        idle_timeout.map(|idle| entry.session.last_active_at + idle)
    } else {
        entry.session.deadline()
    }
}

impl Sessions {
    pub(crate) fn len(&self) -> usize {
        self.by_addr.len()
    }

    pub(crate) fn get(&self, addr: &SocketAddr) -> Option<&Entry> {
        self.by_addr.get(addr)
    }

    pub(crate) fn get_mut(&mut self, addr: &SocketAddr) -> Option<&mut Entry> {
        self.by_addr.get_mut(addr)
    }

    pub(crate) fn addrs(&self) -> impl Iterator<Item = &SocketAddr> {
        self.by_addr.keys()
    }

    pub(crate) fn insert(
        &mut self,
        addr: SocketAddr,
        session: Session,
        client_random: [u8; 32],
        idle_timeout: Option<Duration>,
    ) {
        if let Some(old) = self.remove(&addr) {
            drop(old);
        }
        let activity_key = session.last_active_at;
        let mut entry = Entry { session, identity: None, client_random, activity_key, deadline_key: None };
        entry.deadline_key = deadline_of(&entry, idle_timeout);
        self.by_activity.insert((activity_key, addr));
        if let Some(d) = entry.deadline_key {
            self.by_deadline.insert((d, addr));
        }
        self.by_addr.insert(addr, entry);
    }

    pub(crate) fn remove(&mut self, addr: &SocketAddr) -> Option<Entry> {
        let entry = self.by_addr.remove(addr)?;
        self.by_activity.remove(&(entry.activity_key, *addr));
        if let Some(d) = entry.deadline_key {
            self.by_deadline.remove(&(d, *addr));
        }
        Some(entry)
    }

    /// Brings the ordered indexes up to date after `addr`'s session changed.
    pub(crate) fn reindex(&mut self, addr: &SocketAddr, idle_timeout: Option<Duration>) {
        let Some(entry) = self.by_addr.get_mut(addr) else {
            return;
        };
        let activity = entry.session.last_active_at;
        if activity != entry.activity_key {
            self.by_activity.remove(&(entry.activity_key, *addr));
            self.by_activity.insert((activity, *addr));
            entry.activity_key = activity;
        }
        let deadline = deadline_of(entry, idle_timeout);
        if deadline != entry.deadline_key {
            if let Some(d) = entry.deadline_key {
                self.by_deadline.remove(&(d, *addr));
            }
            if let Some(d) = deadline {
                self.by_deadline.insert((d, *addr));
            }
            entry.deadline_key = deadline;
        }
    }

    /// The least recently active session's address.
    pub(crate) fn least_recently_active(&self) -> Option<SocketAddr> {
        self.by_activity.first().map(|&(_, addr)| addr)
    }

    /// The earliest deadline of any session.
    pub(crate) fn next_deadline(&self) -> Option<Instant> {
        self.by_deadline.first().map(|&(at, _)| at)
    }

    /// An address whose deadline is at or before `now`, if any.
    pub(crate) fn due(&self, now: Instant) -> Option<SocketAddr> {
        self.by_deadline.first().filter(|&&(at, _)| at <= now).map(|&(_, addr)| addr)
    }
}
