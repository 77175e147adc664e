//! Server-side block-wise state (RFC 7959): request bodies being reassembled from Block1 and
//! response bodies cached so later Block2 requests are served without the application.
//!
//! Both are keyed by peer and [`ResourceKey`] (what identifies "the same request" across its
//! blocks, §2.4). Invariant: at most `max_count` transfers and `max_bytes` bytes in total; making
//! room evicts the transfer closest to expiry, and the evicted keys are returned so their
//! deadlines can be removed.
//!
//! A response body whose last block went out to a safe request (GET, FETCH) stays as a
//! *finished* transfer until EXCHANGE_LIFETIME has passed: duplicates of its block requests are
//! served from it again instead of from a stored copy of every block datagram (see `dedup`).
//! Finished transfers are not counted as transfers in progress, go first when room is needed,
//! and a new body for the same peer and request replaces them.

use std::collections::BTreeMap;
use std::time::Instant;

use crate::block::{Block, Reassembly, ReassemblyError};
use crate::msg::{Code, OptionNumber, Options};
use crate::Peer;

/// The options (and, for FETCH, the payload) that make blocks belong to the same request:
/// method, Uri-Host/Port/Path/Query, Accept and Request-Tag, length-prefixed.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) struct ResourceKey(Vec<u8>);

impl ResourceKey {
    pub(crate) fn of(method: Code, options: &Options, payload: &[u8]) -> Self {
        const PART_OF_KEY: [OptionNumber; 6] = [
            OptionNumber::URI_HOST,
            OptionNumber::URI_PORT,
            OptionNumber::URI_PATH,
            OptionNumber::URI_QUERY,
            OptionNumber::ACCEPT,
            OptionNumber::REQUEST_TAG,
        ];
        let mut key = vec![method.0];
        for (number, value) in options.iter().filter(|(n, _)| PART_OF_KEY.contains(n)) {
            key.extend_from_slice(&number.0.to_be_bytes());
            key.extend_from_slice(&(value.len() as u32).to_be_bytes());
            key.extend_from_slice(value);
        }
        if method == Code::FETCH {
            key.extend_from_slice(payload);
        }
        Self(key)
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.0.len()
    }
}

/// Which table a transfer is in.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) enum TransferKey {
    /// A request body arriving with Block1.
    Incoming(Peer, ResourceKey),
    /// A response body served with Block2.
    Outgoing(Peer, ResourceKey),
}

/// A response body kept for Block2 requests.
#[derive(Debug, Clone)]
pub(crate) struct CachedBody {
    pub(crate) code: Code,
    /// The response options without Block2, Size2 and Observe.
    pub(crate) options: Options,
    pub(crate) body: Vec<u8>,
    /// Its last block went out; kept only to serve duplicates.
    pub(crate) finished: bool,
}

#[derive(Debug)]
enum Transfer {
    Incoming(Reassembly),
    Outgoing(CachedBody),
}

impl Transfer {
    fn bytes(&self) -> usize {
        match self {
            Self::Incoming(r) => r.len(),
            Self::Outgoing(c) => c.body.len(),
        }
    }

    fn is_finished(&self) -> bool {
        matches!(self, Self::Outgoing(c) if c.finished)
    }
}

/// Bounded table of block-wise transfers.
#[derive(Debug)]
pub(crate) struct Transfers {
    entries: BTreeMap<TransferKey, (Transfer, Instant)>,
    bytes: usize,
    max_count: usize,
    max_bytes: usize,
}

impl Transfers {
    pub(crate) fn new(max_count: usize, max_bytes: usize) -> Self {
        Self { entries: BTreeMap::new(), bytes: 0, max_count, max_bytes }
    }

    /// Transfers in progress (finished ones kept for duplicates are not counted).
    pub(crate) fn len(&self) -> usize {
        self.entries.values().filter(|(t, _)| !t.is_finished()).count()
    }

    pub(crate) fn bytes(&self) -> usize {
        self.bytes
    }

    /// Evicts transfers other than `keep` until one more entry of `extra` bytes fits.
    fn make_room(&mut self, keep: &TransferKey, new_entry: bool, extra: usize) -> Vec<TransferKey> {
        let mut evicted = Vec::new();
        loop {
            let count_ok = !new_entry || self.entries.len() < self.max_count;
            let bytes_ok = self.bytes.saturating_add(extra) <= self.max_bytes;
            if count_ok && bytes_ok {
                return evicted;
            }
            // Finished transfers first, then the one closest to expiry.
            let victim = self
                .entries
                .iter()
                .filter(|(k, _)| *k != keep)
                .min_by_key(|(_, (t, at))| (!t.is_finished(), *at))
                .map(|(k, _)| k.clone());
            let Some(victim) = victim else { return evicted };
            self.remove(&victim);
            evicted.push(victim);
        }
    }

    /// Removes a transfer.
    pub(crate) fn remove(&mut self, key: &TransferKey) {
        if let Some((transfer, _)) = self.entries.remove(key) {
            self.bytes -= transfer.bytes();
        }
    }

    /// Starts (or restarts) reassembling a body of at most `limit` bytes.
    pub(crate) fn start_incoming(&mut self, key: TransferKey, limit: usize, expires_at: Instant) -> Vec<TransferKey> {
        self.remove(&key);
        let evicted = self.make_room(&key, true, 0);
        self.entries.insert(key, (Transfer::Incoming(Reassembly::new(limit)), expires_at));
        evicted
    }

    /// Whether a reassembly is in progress under `key`.
    pub(crate) fn has_incoming(&self, key: &TransferKey) -> bool {
        matches!(self.entries.get(key), Some((Transfer::Incoming(_), _)))
    }

    /// Adds a block to the reassembly under `key` (which must exist), evicting other transfers
    /// when the byte cap needs it. Returns the evicted keys.
    pub(crate) fn push_block(
        &mut self,
        key: &TransferKey,
        block: Block,
        payload: &[u8],
        expires_at: Instant,
    ) -> Result<Vec<TransferKey>, ReassemblyError> {
        let evicted = self.make_room(key, false, payload.len());
        if self.bytes.saturating_add(payload.len()) > self.max_bytes {
            let have = self.entries.get(key).map_or(0, |(t, _)| t.bytes());
            return Err(ReassemblyError::TooLarge { would_be: have + payload.len(), limit: self.max_bytes });
        }
        match self.entries.get_mut(key) {
            Some((Transfer::Incoming(reassembly), at)) => {
                reassembly.push(block, payload)?;
                *at = expires_at;
                self.bytes += payload.len();
                Ok(evicted)
            }
            _ => Err(ReassemblyError::OutOfOrder { offset: block.offset(), have: 0 }),
        }
    }

    /// Takes a finished reassembly out of the table.
    pub(crate) fn take_incoming(&mut self, key: &TransferKey) -> Option<Vec<u8>> {
        match self.entries.get(key) {
            Some((Transfer::Incoming(_), _)) => {}
            _ => return None,
        }
        let (transfer, _) = self.entries.remove(key)?;
        self.bytes -= transfer.bytes();
        match transfer {
            Transfer::Incoming(reassembly) => Some(reassembly.into_body()),
            Transfer::Outgoing(_) => None,
        }
    }

    /// Caches a response body for Block2 requests; `false` (nothing kept) if it can never fit.
    pub(crate) fn store_outgoing(
        &mut self,
        key: TransferKey,
        mut body: CachedBody,
        expires_at: Instant,
    ) -> (bool, Vec<TransferKey>) {
        self.remove(&key);
        if body.body.len() > self.max_bytes {
            return (false, Vec::new());
        }
        let evicted = self.make_room(&key, true, body.body.len());
        // Kept up to EXCHANGE_LIFETIME: without the slack its encoder grew it with.
        if body.body.capacity() - body.body.len() > body.body.len() / 16 {
            body.body.shrink_to_fit();
        }
        self.bytes += body.body.len();
        self.entries.insert(key, (Transfer::Outgoing(body), expires_at));
        (true, evicted)
    }

    /// The cached body under `key`, with its expiry moved to `expires_at` (never earlier for a
    /// finished one).
    pub(crate) fn outgoing(&mut self, key: &TransferKey, expires_at: Instant) -> Option<&CachedBody> {
        match self.entries.get_mut(key) {
            Some((Transfer::Outgoing(body), at)) => {
                *at = if body.finished { (*at).max(expires_at) } else { expires_at };
                Some(body)
            }
            _ => None,
        }
    }

    /// Marks the body under `key` finished, kept until at least `until` for duplicates.
    pub(crate) fn finish_outgoing(&mut self, key: &TransferKey, until: Instant) {
        if let Some((Transfer::Outgoing(body), at)) = self.entries.get_mut(key) {
            body.finished = true;
            *at = (*at).max(until);
        }
    }

    /// Bytes of the key itself are not counted against `max_bytes`; this says how big it is.
    #[cfg(test)]
    pub(crate) fn key_len(key: &TransferKey) -> usize {
        match key {
            TransferKey::Incoming(_, k) | TransferKey::Outgoing(_, k) => k.len(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::block::BlockSize;
    use std::time::Duration;

    fn key(port: u16) -> TransferKey {
        let peer = Peer::udp(std::net::SocketAddr::from(([192, 0, 2, 1], port)));
        let mut options = Options::new();
        options.set_uri_path("/5/0/0");
        let key = ResourceKey::of(Code::PUT, &options, &[]);
        assert_eq!(Transfers::key_len(&TransferKey::Incoming(peer.clone(), key.clone())), 1 + 3 * 6 + 3);
        TransferKey::Incoming(peer, key)
    }

    #[test]
    fn transfers_stay_within_count_and_byte_caps() {
        let t0 = Instant::now();
        let mut transfers = Transfers::new(2, 64);
        let block = |num| Block { num, more: true, size: BlockSize::S16 };
        for port in 0..5u16 {
            let at = t0 + Duration::from_secs(u64::from(port));
            transfers.start_incoming(key(port), 1000, at);
            transfers.push_block(&key(port), block(0), &[0; 16], at).expect("fits");
            assert!(transfers.len() <= 2);
        }
        assert!(transfers.has_incoming(&key(4)) && transfers.has_incoming(&key(3)));
        transfers.push_block(&key(4), block(1), &[0; 16], t0).expect("fits");
        transfers.push_block(&key(4), block(2), &[0; 16], t0).expect("fits exactly");
        assert!(transfers.has_incoming(&key(3)));
        let evicted = transfers.push_block(&key(4), block(3), &[0; 16], t0).expect("evicts key 3");
        assert_eq!(evicted, vec![key(3)]);
        assert!(transfers.push_block(&key(4), block(4), &[0; 16], t0).is_err());
        assert_eq!(transfers.bytes(), 64);
        assert_eq!(transfers.take_incoming(&key(4)).map(|b| b.len()), Some(64));
        assert_eq!(transfers.bytes(), 0);
    }
}
