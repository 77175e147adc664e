//! Per-peer state of the endpoint: the message-ID counter (RFC 7252 §4.4, starting at a random
//! value) and the queue of requests waiting for NSTART (§4.7).
//!
//! Invariant: at most `max_peers` entries. A peer with queued requests is never evicted; an idle
//! one may be, and then simply restarts at a fresh random message ID.

use std::collections::{BTreeMap, VecDeque};
use std::time::Instant;

use rand::Rng;

use crate::msg::{MessageId, Token};
use crate::Peer;

#[derive(Debug)]
struct PeerState {
    next_mid: u16,
    last_used: Instant,
    queue: VecDeque<Token>,
}

/// Message-ID counters and NSTART queues, by peer.
#[derive(Debug)]
pub(crate) struct Peers {
    peers: BTreeMap<Peer, PeerState>,
    queued: usize,
    max_peers: usize,
    /// No peer was last used before this (a lower bound, `None` when there is no peer): the
    /// purge runs after every input, and with this it only walks the peers when one may be due.
    oldest_use: Option<Instant>,
}

impl Peers {
    pub(crate) fn new(max_peers: usize) -> Self {
        Self { peers: BTreeMap::new(), queued: 0, max_peers, oldest_use: None }
    }

    fn entry(&mut self, now: Instant, peer: &Peer, rng: &mut impl Rng) -> &mut PeerState {
        if !self.peers.contains_key(peer) {
            if self.peers.len() >= self.max_peers {
                self.evict_idle();
            }
            self.peers
                .insert(peer.clone(), PeerState { next_mid: rng.random(), last_used: now, queue: VecDeque::new() });
            self.oldest_use = Some(self.oldest_use.map_or(now, |oldest| oldest.min(now)));
        }
        let state = self.peers.get_mut(peer).expect("inserted above");
        state.last_used = now;
        state
    }

    fn evict_idle(&mut self) {
        let oldest = self
            .peers
            .iter()
            .filter(|(_, s)| s.queue.is_empty())
            .min_by_key(|(_, s)| s.last_used)
            .map(|(p, _)| p.clone());
        if let Some(peer) = oldest {
            self.peers.remove(&peer);
        }
    }

    /// A fresh message ID for a message to `peer`.
    pub(crate) fn next_mid(&mut self, now: Instant, peer: &Peer, rng: &mut impl Rng) -> MessageId {
        let state = self.entry(now, peer, rng);
        let mid = MessageId(state.next_mid);
        state.next_mid = state.next_mid.wrapping_add(1);
        mid
    }

    /// Requests waiting for NSTART, all peers together.
    pub(crate) fn queued(&self) -> usize {
        self.queued
    }

    /// Puts a request at the back of `peer`'s queue.
    pub(crate) fn enqueue(&mut self, now: Instant, peer: &Peer, token: Token, rng: &mut impl Rng) {
        self.entry(now, peer, rng).queue.push_back(token);
        self.queued += 1;
    }

    /// Takes the next queued request of `peer`.
    pub(crate) fn dequeue(&mut self, peer: &Peer) -> Option<Token> {
        let token = self.peers.get_mut(peer)?.queue.pop_front()?;
        self.queued -= 1;
        Some(token)
    }

    /// Removes `token` from `peer`'s queue, if it is there.
    pub(crate) fn unqueue(&mut self, peer: &Peer, token: Token) {
        if let Some(state) = self.peers.get_mut(peer) {
            let before = state.queue.len();
            state.queue.retain(|t| *t != token);
            self.queued -= before - state.queue.len();
        }
    }

    /// Forgets peers idle since before `cutoff` with nothing queued.
    pub(crate) fn purge_idle(&mut self, cutoff: Instant) {
        if self.oldest_use.is_none_or(|oldest| oldest >= cutoff) {
            return;
        }
        self.peers.retain(|_, s| !s.queue.is_empty() || s.last_used >= cutoff);
        self.oldest_use = self.peers.values().map(|s| s.last_used).min();
    }

    pub(crate) fn len(&self) -> usize {
        self.peers.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    fn peer(port: u16) -> Peer {
        Peer::udp(std::net::SocketAddr::from(([192, 0, 2, 1], port)))
    }

    #[test]
    fn message_ids_increase_per_peer_from_a_random_start() {
        let mut rng = rand_chacha::ChaCha20Rng::from_seed([3; 32]);
        let now = Instant::now();
        let mut peers = Peers::new(2);
        let a0 = peers.next_mid(now, &peer(1), &mut rng);
        let b0 = peers.next_mid(now, &peer(2), &mut rng);
        assert_eq!(peers.next_mid(now, &peer(1), &mut rng), MessageId(a0.0.wrapping_add(1)));
        assert_ne!(a0, b0);
        peers.next_mid(now, &peer(3), &mut rng);
        assert_eq!(peers.len(), 2);
    }

    #[test]
    fn idle_peers_are_purged_once_their_cutoff_passes_and_queued_ones_after_their_queue_empties() {
        let mut rng = rand_chacha::ChaCha20Rng::from_seed([3; 32]);
        let t0 = Instant::now();
        let s = std::time::Duration::from_secs;
        let mut peers = Peers::new(8);
        let token = Token::new(&[1, 2, 3, 4]).expect("short token");
        peers.enqueue(t0, &peer(1), token, &mut rng);
        peers.next_mid(t0, &peer(2), &mut rng);
        peers.next_mid(t0 + s(10), &peer(3), &mut rng);
        peers.purge_idle(t0 + s(5));
        assert_eq!(peers.len(), 2, "the idle peer 2 is gone, the queued peer 1 and the recent peer 3 stay");
        assert_eq!(peers.dequeue(&peer(1)), Some(token));
        peers.purge_idle(t0 + s(6));
        assert_eq!(peers.len(), 1, "peer 1 is idle now that its queue is empty");
        peers.purge_idle(t0 + s(10));
        assert_eq!(peers.len(), 1, "peer 3 was used at the cutoff");
        peers.next_mid(t0 + s(20), &peer(3), &mut rng);
        peers.purge_idle(t0 + s(15));
        assert_eq!(peers.len(), 1, "peer 3 was used again");
        peers.purge_idle(t0 + s(21));
        assert_eq!(peers.len(), 0);
    }

    #[test]
    fn queued_peers_are_not_evicted() {
        let mut rng = rand_chacha::ChaCha20Rng::from_seed([3; 32]);
        let t0 = Instant::now();
        let mut peers = Peers::new(1);
        let token = Token::new(&[1, 2, 3, 4]).expect("short token");
        peers.enqueue(t0, &peer(1), token, &mut rng);
        peers.next_mid(t0, &peer(2), &mut rng);
        assert_eq!(peers.queued(), 1);
        assert_eq!(peers.dequeue(&peer(1)), Some(token));
        assert_eq!(peers.queued(), 0);
    }
}
