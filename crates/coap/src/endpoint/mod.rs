//! CoAP message exchange over one local socket (RFC 7252 §4, §5.3), with block-wise transfers
//! (RFC 7959) and Observe (RFC 7641) handled transparently.
//!
//! [`Endpoint`] matches responses by [`Token`], retransmits confirmable messages with randomised
//! back-off, answers duplicates from a cache for EXCHANGE_LIFETIME and keeps NSTART per peer.
//! No I/O, no clock, no LwM2M: `handle_*` in, `poll_*` out, in the order documented on
//! [`Endpoint`]. Every table is capped by [`EndpointConfig`], and every deadline lives in one
//! ordered set, so `poll_timeout` is a lookup.

mod client;
mod config;
mod deadlines;
mod dedup;
mod error;
mod event;
mod notifier;
mod peers;
mod request;
mod retransmit;
mod server;
mod stats;
mod transfers;

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::sync::Arc;
use std::time::Instant;

use rand::{RngCore, SeedableRng};
use rand_chacha::ChaCha20Rng;

pub use self::config::{ConfigError, EndpointConfig};
pub use self::error::{ExchangeError, SendError};
pub use self::event::Event;
pub use self::request::{Reliability, Request, Response};
pub use self::stats::{DropReason, EndpointStats};
pub use crate::engine::Transmit;

use self::deadlines::Deadlines;
use self::dedup::{DedupCache, Seen};
use self::peers::Peers;
use self::retransmit::Backoff;
use self::transfers::{TransferKey, Transfers};
use crate::msg::{Code, Message, MessageId, MessageType, Options, Token, MAX_OPTION_VALUE_LEN};
use crate::{Engine, Peer};

/// How many entries each table of an [`Endpoint`] holds (see [`Endpoint::table_sizes`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct TableSizes {
    /// Deduplication entries (≤ `max_dedup_entries`).
    pub dedup_entries: usize,
    /// Client exchanges: queued, in flight or observing (≤ `max_client_exchanges`).
    pub client_exchanges: usize,
    /// Requests waiting for NSTART (≤ `max_queued_requests`).
    pub queued_requests: usize,
    /// Incoming requests awaiting the application (≤ `max_server_exchanges`).
    pub server_exchanges: usize,
    /// Observations served (≤ `max_observations`).
    pub observers: usize,
    /// Block-wise transfers (≤ `max_block_transfers`).
    pub block_transfers: usize,
    /// Bytes held by block-wise transfers (≤ `max_block_bytes`).
    pub block_bytes: usize,
    /// Peers with a message-ID counter (≤ `max_peers` unless requests are queued).
    pub peers: usize,
    /// Our confirmable messages awaiting ACK.
    pub unacknowledged: usize,
    /// Deadlines set.
    pub deadlines: usize,
}

/// A deadline of the endpoint; each key has at most one.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
enum Timer {
    /// Retransmit (or give up) our confirmable message with this ID.
    Retransmit(Peer, MessageId),
    /// A request of ours that is no longer retransmitted has waited long enough for its response.
    ResponseTimeout(Token),
    /// An incoming CON request is still unanswered: send the empty ACK.
    SeparateAck(Peer, Token),
    /// An incoming request was never answered: forget it.
    ServerExpiry(Peer, Token),
    /// A block-wise transfer paused too long.
    Transfer(TransferKey),
    /// Purge the deduplication cache and idle peers.
    Housekeeping,
}

/// Why one of our confirmable messages is in flight.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Purpose {
    /// A request (or one block of it) of the client exchange with this token.
    Request(Token),
    /// A CoAP ping with this handle.
    Ping(Token),
    /// A separate response to the peer's request with this token.
    Response(Token),
    /// A notification of the observation with this token.
    Notification(Token),
}

/// A confirmable message of ours awaiting its ACK or RST.
#[derive(Debug)]
struct PendingCon {
    bytes: Vec<u8>,
    backoff: Backoff,
    purpose: Purpose,
}

/// CoAP state for one local socket. Performs no I/O and never reads the clock.
///
/// # Call order
///
/// - Getters take `&self`: [`stats`](Self::stats), [`poll_timeout`](Self::poll_timeout).
/// - Inputs carry `now`: [`handle_datagram`](Self::handle_datagram) for every datagram received,
///   [`handle_timeout`](Self::handle_timeout) when the deadline from `poll_timeout` has passed
///   (spurious calls are harmless).
/// - Commands: [`send_request`](Self::send_request), [`send_response`](Self::send_response) (also
///   for each notification of an observation), [`ping`](Self::ping),
///   [`cancel_observation`](Self::cancel_observation), [`cancel`](Self::cancel),
///   [`forget_observer`](Self::forget_observer).
/// - After every input or command, drain the outputs in this order: call
///   [`poll_transmit`](Self::poll_transmit) until it returns `None`, then read
///   [`poll_timeout`](Self::poll_timeout), then call [`poll_event`](Self::poll_event) until `None`.
///
/// Requests are identified by their [`Token`] from start to end: `send_request` returns it and
/// every event about the exchange carries it; an incoming request's token is the handle for its
/// answer and, for an observation, for every notification.
///
/// Events and datagrams wait in queues until polled; they grow only with the inputs given since
/// the last poll, so drain them after every call.
///
/// # Example
///
/// Two endpoints wired back to back (a real driver moves the datagrams over a socket):
///
/// ```
/// use std::sync::Arc;
/// use std::time::Instant;
/// use coap::{Code, Endpoint, EndpointConfig, Event, Peer, Reliability, Request, Response};
///
/// let config = Arc::new(EndpointConfig::default());
/// let (mut client, mut server) = (Endpoint::new(config.clone(), [1; 32]), Endpoint::new(config, [2; 32]));
/// let (client_addr, server_addr) = (Peer::udp("192.0.2.1:5683".parse()?), Peer::udp("192.0.2.2:5683".parse()?));
/// let now = Instant::now();
/// let mut buf = Vec::new();
///
/// let token = client.send_request(now, server_addr.clone(), Request::get("/3/0/0"), Reliability::Confirmable)?;
/// while let Some(t) = client.poll_transmit(now, &mut buf) {
///     server.handle_datagram(now, client_addr.clone(), &buf[..t.len]);
/// }
/// let Some(Event::Request { peer, token: handle, request, .. }) = server.poll_event() else { panic!() };
/// assert_eq!(request.path(), "/3/0/0");
/// server.send_response(now, &peer, handle, Response::new(Code::CONTENT))?;
/// while let Some(t) = server.poll_transmit(now, &mut buf) {
///     client.handle_datagram(now, server_addr.clone(), &buf[..t.len]);
/// }
/// assert!(matches!(client.poll_event(), Some(Event::Response { token: t, .. }) if t == token));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct Endpoint {
    config: Arc<EndpointConfig>,
    rng: ChaCha20Rng,
    stats: EndpointStats,
    deadlines: Deadlines<Timer>,
    dedup: DedupCache,
    peers: Peers,
    transfers: Transfers,
    pending: BTreeMap<(Peer, MessageId), PendingCon>,
    clients: BTreeMap<Token, client::ClientExchange>,
    pings: BTreeMap<Token, (Peer, MessageId)>,
    servers: BTreeMap<(Peer, Token), server::ServerExchange>,
    observers: BTreeMap<(Peer, Token), notifier::Observer>,
    /// Peers whose NSTART queue may move; served at the next call that knows `now`.
    to_pump: BTreeSet<Peer>,
    /// NSTART of particular peers, instead of the configured one (see [`Endpoint::set_nstart`]).
    nstart_of: BTreeMap<Peer, usize>,
    outbox: VecDeque<(Peer, Vec<u8>)>,
    events: VecDeque<Event>,
}

impl Endpoint {
    /// An endpoint with `config`; `rng_seed` feeds tokens, message IDs and back-off jitter, so the
    /// same seed and the same inputs give the same outputs.
    ///
    /// An invalid config (see [`EndpointConfig::validate`]) is a caller bug: it fails a debug
    /// assertion; in release the endpoint runs with [`EndpointConfig::sanitized`] values.
    pub fn new(config: Arc<EndpointConfig>, rng_seed: [u8; 32]) -> Self {
        debug_assert_eq!(config.validate(), Ok(()), "invalid endpoint config");
        let config = if config.validate().is_ok() { config } else { Arc::new(config.sanitized()) };
        Self {
            rng: ChaCha20Rng::from_seed(rng_seed),
            stats: EndpointStats::default(),
            deadlines: Deadlines::new(),
            dedup: DedupCache::new(config.max_dedup_entries.max(1)),
            peers: Peers::new(config.max_peers.max(1)),
            transfers: Transfers::new(config.max_block_transfers.max(1), config.max_block_bytes),
            pending: BTreeMap::new(),
            clients: BTreeMap::new(),
            pings: BTreeMap::new(),
            servers: BTreeMap::new(),
            observers: BTreeMap::new(),
            to_pump: BTreeSet::new(),
            nstart_of: BTreeMap::new(),
            outbox: VecDeque::new(),
            events: VecDeque::new(),
            config,
        }
    }

    /// The configuration.
    pub fn config(&self) -> &EndpointConfig {
        &self.config
    }

    /// Sets how many interactions may be outstanding with `peer` (RFC 7252 §4.7 lets an
    /// endpoint that knows more about a peer use another NSTART than the default): e.g. a
    /// gateway proxying many End-Devices behind one address. `None` (or the configured value)
    /// goes back to [`EndpointConfig::nstart`]. At most [`EndpointConfig::max_peers`] peers
    /// have their own value; beyond, the call is ignored and returns false.
    pub fn set_nstart(&mut self, peer: &Peer, nstart: Option<usize>) -> bool {
        match nstart.map(|n| n.max(1)).filter(|n| *n != self.config.nstart) {
            None => {
                self.nstart_of.remove(peer);
            }
            Some(n) => {
                if !self.nstart_of.contains_key(peer) && self.nstart_of.len() >= self.config.max_peers {
                    return false;
                }
                self.nstart_of.insert(peer.clone(), n);
                // A larger NSTART may let queued requests go: at the next call that knows `now`.
                self.to_pump.insert(peer.clone());
            }
        }
        true
    }

    /// NSTART toward `peer`.
    fn nstart(&self, peer: &Peer) -> usize {
        self.nstart_of.get(peer).copied().unwrap_or(self.config.nstart)
    }

    /// Traffic counters; every dropped datagram is counted here by reason.
    pub fn stats(&self) -> &EndpointStats {
        &self.stats
    }

    /// How full each table is; every one is capped by [`EndpointConfig`].
    pub fn table_sizes(&self) -> TableSizes {
        TableSizes {
            dedup_entries: self.dedup.len(),
            client_exchanges: self.clients.len(),
            queued_requests: self.peers.queued(),
            server_exchanges: self.servers.len(),
            observers: self.observers.len(),
            block_transfers: self.transfers.len(),
            block_bytes: self.transfers.bytes(),
            peers: self.peers.len(),
            unacknowledged: self.pending.len(),
            deadlines: self.deadlines.len(),
        }
    }

    /// Whether `token` is one of our observations that is established.
    pub fn is_observing(&self, token: Token) -> bool {
        self.clients.get(&token).is_some_and(client::ClientExchange::is_observing)
    }

    /// A datagram arrived from `peer`.
    pub fn handle_datagram(&mut self, now: Instant, peer: Peer, datagram: &[u8]) {
        self.stats.datagrams_received += 1;
        self.pump_queues(now);
        let msg = match Message::decode(datagram) {
            Ok(msg) => msg,
            Err(error) => {
                tracing::trace!(%error, "malformed datagram");
                self.stats.count_drop(DropReason::Malformed);
                if let Some((MessageType::Confirmable, _, mid)) = Message::peek_header(datagram) {
                    if error.has_header() {
                        self.emit(&peer, &Message::reset(mid));
                    }
                }
                return;
            }
        };
        match msg.mtype {
            MessageType::Acknowledgement if msg.code.is_request() => self.stats.count_drop(DropReason::Unexpected),
            MessageType::Acknowledgement => self.on_ack(now, peer, msg),
            MessageType::Reset if msg.is_empty() => self.on_reset(now, peer, msg.message_id),
            MessageType::Reset => self.stats.count_drop(DropReason::Unexpected),
            MessageType::Confirmable if msg.is_empty() => {
                // CoAP ping (RFC 7252 §4.3): answered with RST, nothing to remember.
                self.emit(&peer, &Message::reset(msg.message_id));
            }
            MessageType::NonConfirmable if msg.is_empty() => self.stats.count_drop(DropReason::Unexpected),
            MessageType::Confirmable | MessageType::NonConfirmable => self.on_con_or_non(now, peer, msg),
        }
        self.pump_queues(now);
        self.housekeep(now);
    }

    fn on_con_or_non(&mut self, now: Instant, peer: Peer, msg: Message) {
        match self.dedup.lookup(now, &peer, msg.message_id) {
            Seen::New => {}
            Seen::Duplicate(reply) => {
                let reply = reply.map(<[u8]>::to_vec);
                self.stats.count_drop(DropReason::Duplicate);
                if let Some(bytes) = reply {
                    self.outbox.push_back((peer, bytes));
                }
                return;
            }
            Seen::Reprocess => {
                // Counted as a duplicate: it is one, answered again (never re-delivered while
                // the body is cached).
                self.stats.count_drop(DropReason::Duplicate);
                return self.on_request(now, peer, msg);
            }
        }
        let lifetime = if msg.mtype == MessageType::Confirmable {
            self.config.exchange_lifetime()
        } else {
            self.config.non_lifetime()
        };
        self.stats.dedup_evictions += self.dedup.insert(now, &peer, msg.message_id, lifetime);
        if msg.code.is_request() {
            self.on_request(now, peer, msg);
        } else if msg.code.is_response() {
            self.on_separate_response(now, peer, msg);
        } else {
            self.stats.count_drop(DropReason::Unexpected);
            self.reset_if_con(&peer, &msg);
        }
    }

    fn on_ack(&mut self, now: Instant, peer: Peer, msg: Message) {
        let key = (peer, msg.message_id);
        let Some(pending) = self.pending.remove(&key) else {
            self.stats.count_drop(DropReason::UnmatchedAcknowledgement);
            return;
        };
        let (peer, mid) = key;
        self.deadlines.remove(&Timer::Retransmit(peer.clone(), mid));
        match pending.purpose {
            Purpose::Request(token) => self.on_request_acked(now, peer, token, msg),
            Purpose::Ping(token) => {
                self.pings.remove(&token);
                self.events.push_back(Event::Pong { token });
            }
            Purpose::Response(_) => {}
            Purpose::Notification(token) => self.on_notification_acked(&peer, token, mid),
        }
    }

    fn on_reset(&mut self, now: Instant, peer: Peer, mid: MessageId) {
        let key = (peer, mid);
        if let Some(pending) = self.pending.remove(&key) {
            let (peer, mid) = key;
            self.deadlines.remove(&Timer::Retransmit(peer.clone(), mid));
            self.on_con_ended(now, peer, pending.purpose, ExchangeError::Reset);
            return;
        }
        let (peer, mid) = key;
        if let Some(token) = self.non_request_with_mid(&peer, mid) {
            self.fail_request(now, token, ExchangeError::Reset);
        } else if let Some(token) = self.notification_with_mid(&peer, mid) {
            self.end_observer(&peer, token);
        } else {
            self.stats.count_drop(DropReason::UnmatchedReset);
        }
    }

    /// One of our CONs got RST or was given up.
    fn on_con_ended(&mut self, now: Instant, peer: Peer, purpose: Purpose, error: ExchangeError) {
        match purpose {
            Purpose::Request(token) => self.fail_request(now, token, error),
            Purpose::Ping(token) => {
                self.pings.remove(&token);
                // A RST is the expected answer to a ping (RFC 7252 §4.3).
                let event = match error {
                    ExchangeError::Reset => Event::Pong { token },
                    error => Event::Failed { token, error },
                };
                self.events.push_back(event);
            }
            Purpose::Response(_) => self.stats.responses_unacknowledged += 1,
            Purpose::Notification(token) => {
                if error != ExchangeError::Reset {
                    self.stats.responses_unacknowledged += 1;
                }
                self.end_observer(&peer, token);
            }
        }
    }

    /// Time advanced to `now`: fire every deadline that is due. Spurious calls are harmless.
    pub fn handle_timeout(&mut self, now: Instant) {
        self.pump_queues(now);
        while let Some(timer) = self.deadlines.pop_due(now) {
            match timer {
                Timer::Retransmit(peer, mid) => self.on_retransmit_timer(now, peer, mid),
                Timer::ResponseTimeout(token) => self.fail_request(now, token, ExchangeError::Timeout),
                Timer::SeparateAck(peer, token) => self.on_separate_ack_timer(peer, token),
                Timer::ServerExpiry(peer, token) => self.on_server_expiry(peer, token),
                Timer::Transfer(key) => self.transfers.remove(&key),
                Timer::Housekeeping => {}
            }
            self.pump_queues(now);
        }
        self.housekeep(now);
    }

    fn on_retransmit_timer(&mut self, now: Instant, peer: Peer, mid: MessageId) {
        let key = (peer, mid);
        let Some(pending) = self.pending.get_mut(&key) else { return };
        match pending.backoff.next(&self.config) {
            Some(next) => {
                pending.backoff = next;
                let bytes = pending.bytes.clone();
                self.stats.retransmissions += 1;
                let (peer, mid) = key;
                self.deadlines.set(Timer::Retransmit(peer.clone(), mid), now + next.timeout);
                self.outbox.push_back((peer, bytes));
            }
            None => {
                let Some(pending) = self.pending.remove(&key) else { return };
                self.stats.transmissions_failed += 1;
                let (peer, _) = key;
                self.on_con_ended(now, peer, pending.purpose, ExchangeError::Timeout);
            }
        }
    }

    /// The next datagram to send, written into `buf` (cleared first).
    #[must_use]
    pub fn poll_transmit(&mut self, now: Instant, buf: &mut Vec<u8>) -> Option<Transmit> {
        self.pump_queues(now);
        let (peer, bytes) = self.outbox.pop_front()?;
        buf.clear();
        buf.extend_from_slice(&bytes);
        self.stats.datagrams_sent += 1;
        Some(Transmit { peer, len: bytes.len() })
    }

    /// The earliest deadline at which [`handle_timeout`](Self::handle_timeout) must be called.
    #[must_use]
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.deadlines.next()
    }

    /// The next event for the application.
    #[must_use]
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    /// Whether an event is waiting (without taking it).
    pub fn has_event(&self) -> bool {
        !self.events.is_empty()
    }

    /// Sends a CoAP ping (an empty CON, RFC 7252 §4.3) to `peer`. The returned handle comes back
    /// in [`Event::Pong`] when the peer answers (RST or ACK), or [`Event::Failed`] with
    /// [`ExchangeError::Timeout`].
    pub fn ping(&mut self, now: Instant, peer: Peer) -> Result<Token, SendError> {
        self.pump_queues(now);
        if self.pings.len() >= self.config.max_client_exchanges {
            return Err(SendError::TooManyExchanges { limit: self.config.max_client_exchanges });
        }
        let token = self.fresh_token();
        let mid = self.peers.next_mid(now, &peer, &mut self.rng);
        self.pings.insert(token, (peer.clone(), mid));
        self.send_con(now, peer, &Message::ping(mid), Purpose::Ping(token), None);
        Ok(token)
    }

    /// Forgets the request, ping or observation `token`: no more retransmissions, no event for it
    /// ever after; a later notification with this token is answered with RST (RFC 7641 §3.6).
    pub fn cancel(&mut self, token: Token) {
        if let Some((peer, mid)) = self.pings.remove(&token) {
            self.pending.remove(&(peer.clone(), mid));
            self.deadlines.remove(&Timer::Retransmit(peer, mid));
        }
        self.forget_request(token);
    }

    /// Wraps the whole housekeeping: dedup purge, idle peers, and the deadline for the next purge.
    fn housekeep(&mut self, now: Instant) {
        self.dedup.purge(now);
        if let Some(cutoff) = now.checked_sub(self.config.exchange_lifetime()) {
            self.peers.purge_idle(cutoff);
        }
        match self.dedup.next_expiry() {
            Some(at) => self.deadlines.set(Timer::Housekeeping, at),
            None => self.deadlines.remove(&Timer::Housekeeping),
        }
    }

    /// A random token of `token_len` bytes used by no open exchange or ping.
    fn fresh_token(&mut self) -> Token {
        let len = self.config.token_len.clamp(4, 8);
        loop {
            let mut bytes = [0u8; 8];
            self.rng.fill_bytes(&mut bytes[..len]);
            let token = Token::new(&bytes[..len]).expect("at most 8 bytes");
            if !self.clients.contains_key(&token) && !self.pings.contains_key(&token) {
                return token;
            }
        }
    }

    /// Encodes `msg` and queues it for `peer`; returns the bytes.
    fn emit(&mut self, peer: &Peer, msg: &Message) -> Vec<u8> {
        let mut bytes = Vec::with_capacity(msg.encoded_len());
        msg.encode(&mut bytes);
        self.outbox.push_back((peer.clone(), bytes.clone()));
        bytes
    }

    /// Sends a CON and tracks it until ACK, RST or MAX_RETRANSMIT. `resume` continues an earlier
    /// message's back-off (a notification replacing one still in flight, RFC 7641 §4.5.2).
    fn send_con(
        &mut self,
        now: Instant,
        peer: Peer,
        msg: &Message,
        purpose: Purpose,
        resume: Option<(Backoff, Instant)>,
    ) {
        let bytes = self.emit(&peer, msg);
        let (backoff, deadline) = match resume {
            Some((backoff, deadline)) => (backoff, deadline.max(now)),
            None => {
                let backoff = Backoff::start(&self.config, &mut self.rng);
                (backoff, now + backoff.timeout)
            }
        };
        self.deadlines.set(Timer::Retransmit(peer.clone(), msg.message_id), deadline);
        self.pending.insert((peer, msg.message_id), PendingCon { bytes, backoff, purpose });
    }

    /// Stops tracking our CON `(peer, mid)`; returns its back-off and next deadline.
    fn stop_con(&mut self, peer: &Peer, mid: MessageId) -> Option<(Backoff, Instant)> {
        let timer = Timer::Retransmit(peer.clone(), mid);
        let deadline = self.deadlines.get(&timer);
        self.deadlines.remove(&timer);
        let pending = self.pending.remove(&(peer.clone(), mid))?;
        Some((pending.backoff, deadline?))
    }

    /// Answers a CON with RST, remembering the RST for duplicates.
    fn reset_if_con(&mut self, peer: &Peer, msg: &Message) {
        if msg.mtype == MessageType::Confirmable {
            let bytes = self.emit(peer, &Message::reset(msg.message_id));
            self.dedup.set_reply(peer, msg.message_id, &bytes);
        }
    }

    /// Acknowledges a CON with an empty ACK, remembering it for duplicates.
    fn ack_if_con(&mut self, peer: &Peer, msg: &Message) {
        if msg.mtype == MessageType::Confirmable {
            let bytes = self.emit(peer, &Message::empty_ack(msg.message_id));
            self.dedup.set_reply(peer, msg.message_id, &bytes);
        }
    }
}

/// Checks that the wire format can carry every option value.
fn check_options(options: &Options) -> Result<(), SendError> {
    match options.iter().find(|(_, value)| value.len() > MAX_OPTION_VALUE_LEN) {
        Some((number, value)) => Err(SendError::OptionTooLong { number: number.0, len: value.len() }),
        None => Ok(()),
    }
}

/// Whether `code` is GET or FETCH, the methods Observe applies to.
fn is_observable_method(code: Code) -> bool {
    code == Code::GET || code == Code::FETCH
}

impl Engine for Endpoint {
    fn handle_datagram(&mut self, now: Instant, peer: Peer, datagram: &[u8]) {
        Self::handle_datagram(self, now, peer, datagram);
    }

    fn handle_timeout(&mut self, now: Instant) {
        Self::handle_timeout(self, now);
    }

    fn poll_transmit(&mut self, now: Instant, buf: &mut Vec<u8>) -> Option<Transmit> {
        Self::poll_transmit(self, now, buf)
    }

    fn poll_timeout(&self) -> Option<Instant> {
        Self::poll_timeout(self)
    }
}
