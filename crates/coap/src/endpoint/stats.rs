//! Counters the endpoint keeps about its traffic: every datagram it drops is counted under the
//! reason it was dropped, so nothing disappears silently.

/// Why an incoming datagram was dropped (or answered only with RST) instead of processed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DropReason {
    /// Not a well-formed CoAP message (RFC 7252 §3); RST'd if it was a readable CON header.
    Malformed,
    /// A CON/NON whose (peer, message ID) was seen within its lifetime; answered from the cache.
    Duplicate,
    /// An ACK that matches no confirmable message we are waiting on.
    UnmatchedAcknowledgement,
    /// A RST that matches no message we sent recently.
    UnmatchedReset,
    /// A response whose token matches no request of ours (RST'd when CON or NON).
    UnknownToken,
    /// A notification older than the last one accepted (RFC 7641 §3.4).
    StaleNotification,
    /// A message of a kind that is not allowed where it arrived (empty NON, request in an ACK,
    /// reserved code class); RST'd when CON.
    Unexpected,
    /// A response or piggybacked answer that contradicts the exchange it matched (wrong block,
    /// token mismatch in an ACK).
    Inconsistent,
}

impl DropReason {
    /// All reasons, in counter order.
    pub const ALL: [Self; 8] = [
        Self::Malformed,
        Self::Duplicate,
        Self::UnmatchedAcknowledgement,
        Self::UnmatchedReset,
        Self::UnknownToken,
        Self::StaleNotification,
        Self::Unexpected,
        Self::Inconsistent,
    ];

    fn index(self) -> usize {
        self as usize
    }
}

/// Traffic counters of one endpoint; all only grow.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EndpointStats {
    /// Datagrams handed to `handle_datagram`.
    pub datagrams_received: u64,
    /// Datagrams returned by `poll_transmit`.
    pub datagrams_sent: u64,
    /// Confirmable messages sent again after a timeout.
    pub retransmissions: u64,
    /// Confirmable messages given up after MAX_RETRANSMIT.
    pub transmissions_failed: u64,
    /// Requests we answered with an error the endpoint chose itself (4.02, 4.08, 4.13, 5.03…).
    pub requests_rejected: u64,
    /// Deduplication entries evicted before their lifetime because the cache was full.
    pub dedup_evictions: u64,
    /// Block-wise transfers dropped because of the count or byte cap.
    pub block_transfers_evicted: u64,
    /// Incoming requests the application never answered within `server_exchange_lifetime`.
    pub server_exchanges_expired: u64,
    /// Separate responses or notifications the peer never acknowledged.
    pub responses_unacknowledged: u64,
    dropped: [u64; DropReason::ALL.len()],
}

impl EndpointStats {
    /// Datagrams dropped for `reason`.
    pub fn dropped(&self, reason: DropReason) -> u64 {
        self.dropped[reason.index()]
    }

    /// Datagrams dropped for any reason.
    pub fn dropped_total(&self) -> u64 {
        self.dropped.iter().sum()
    }

    pub(crate) fn count_drop(&mut self, reason: DropReason) {
        tracing::trace!(?reason, "datagram dropped");
        self.dropped[reason.index()] += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_reason_has_its_own_counter() {
        let mut stats = EndpointStats::default();
        for (i, reason) in DropReason::ALL.iter().enumerate() {
            for _ in 0..=i {
                stats.count_drop(*reason);
            }
        }
        for (i, reason) in DropReason::ALL.iter().enumerate() {
            assert_eq!(stats.dropped(*reason), i as u64 + 1);
        }
        assert_eq!(stats.dropped_total(), 36);
    }
}
