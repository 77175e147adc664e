//! The server role: requests that arrive and our answers (RFC 7252 §5.2 piggybacked and separate
//! responses; RFC 7959 §2.3–2.5 as the receiver of Block1 and the sender of Block2). The first
//! answer to an Observe registration starts an [`Observer`]; later notifications are the
//! `notifier` module's.
//!
//! A [`ServerExchange`] lives from the request's arrival until the application answers it or
//! `server_exchange_lifetime` passes. Answers the endpoint
//! chooses itself (4.02, 4.08, 4.13, 5.03, 2.31, cached Block2 blocks) never reach the
//! application. Invariant: every answer to a request is remembered in the deduplication cache, so
//! a duplicate gets the same bytes; except a later Block2 block of a GET or FETCH served from the
//! cached body, whose duplicate is served again (the request is safe, RFC 7252 §4.5).

use std::time::Instant;

use super::notifier::Observer;
use super::transfers::{CachedBody, ResourceKey, TransferKey};
use super::{check_options, Endpoint, Event, Purpose, Request, Response, SendError, Timer};
use crate::block::{self, Block, ReassemblyError};
use crate::msg::{Code, Message, MessageId, MessageType, OptionNumber, Options, Token};
use crate::observe::ObserveRequest;
use crate::Peer;

/// An incoming request awaiting the application's answer.
#[derive(Debug)]
pub(super) struct ServerExchange {
    mid: MessageId,
    confirmable: bool,
    /// The empty ACK went out; the answer will be a separate response.
    acked: bool,
    /// A registration the endpoint accepted: a 2.xx answer starts an observation.
    observe: bool,
    /// The last Block1 block, echoed in the answer (RFC 7959 §2.3).
    block1_echo: Option<Block>,
    /// The Block2 block the request asked for.
    block2: Option<Block>,
    key: ResourceKey,
}

/// What the endpoint does with an incoming Block1 block.
enum Block1Outcome {
    /// The endpoint answered (2.31 or an error); nothing for the application.
    Answered,
    /// The last block arrived: the whole body.
    Complete(Vec<u8>),
}

impl Endpoint {
    /// A request arrived (already deduplicated).
    pub(super) fn on_request(&mut self, now: Instant, peer: Peer, msg: Message) {
        if let Some(number) = msg.options.first_unrecognized_critical() {
            tracing::trace!(option = number.0, "request with an unrecognized critical option");
            return self.reject(now, &peer, &msg, Code::BAD_OPTION, Options::new());
        }
        let (Ok(block1), Ok(block2)) = (
            Block::from_options(&msg.options, OptionNumber::BLOCK1),
            Block::from_options(&msg.options, OptionNumber::BLOCK2),
        ) else {
            return self.reject(now, &peer, &msg, Code::BAD_OPTION, Options::new());
        };
        let mut payload = None;
        let mut block1_echo = None;
        if let Some(block1) = block1 {
            // The blocks of one body share everything but their payload.
            let key = ResourceKey::of(msg.code, &msg.options, &[]);
            match self.receive_block1(now, &peer, &msg, block1, key) {
                Block1Outcome::Answered => return,
                Block1Outcome::Complete(body) => {
                    payload = Some(body);
                    block1_echo = Some(Block { more: false, ..block1 });
                }
            }
        } else if msg.payload.len() > self.config.max_unfragmented_payload {
            // RFC 7959 §2.9.3: too large in one piece; say which block size we would take.
            let mut options = Options::new();
            options.set(OptionNumber::BLOCK1, Block { num: 0, more: false, size: self.config.block_size }.encode());
            options.set_uint(OptionNumber::SIZE1, u32::try_from(self.config.max_body_size).unwrap_or(u32::MAX));
            return self.reject(now, &peer, &msg, Code::REQUEST_ENTITY_TOO_LARGE, options);
        }
        let key = ResourceKey::of(msg.code, &msg.options, payload.as_deref().unwrap_or(&msg.payload));
        if let Some(block2) = block2.filter(|b| b.num > 0) {
            if self.serve_cached_block(now, &peer, &msg, block2, &key) {
                return;
            }
        }
        let observe_request = if super::is_observable_method(msg.code) {
            ObserveRequest::from_value(msg.options.observe())
        } else {
            None
        };
        let exchange_key = (peer.clone(), msg.token);
        if observe_request == Some(ObserveRequest::Deregister) {
            self.end_observer(&peer, msg.token);
        }
        let observe = observe_request == Some(ObserveRequest::Register)
            && (self.observers.contains_key(&exchange_key) || self.observers.len() < self.config.max_observations);
        if !self.servers.contains_key(&exchange_key) && self.servers.len() >= self.config.max_server_exchanges {
            return self.reject(now, &peer, &msg, Code::SERVICE_UNAVAILABLE, Options::new());
        }
        let confirmable = msg.mtype == MessageType::Confirmable;
        self.servers.insert(
            exchange_key,
            ServerExchange { mid: msg.message_id, confirmable, acked: false, observe, block1_echo, block2, key },
        );
        if confirmable {
            self.deadlines.set(Timer::SeparateAck(peer.clone(), msg.token), now + self.config.separate_response_delay);
        }
        self.deadlines.set(Timer::ServerExpiry(peer.clone(), msg.token), now + self.config.server_exchange_lifetime);
        let mut options = msg.options;
        for number in [OptionNumber::BLOCK1, OptionNumber::BLOCK2, OptionNumber::SIZE1] {
            options.remove(number);
        }
        let request = Request { method: msg.code, options, payload: payload.unwrap_or(msg.payload) };
        self.events.push_back(Event::Request { peer, token: msg.token, request, observe });
    }

    /// Answers `request` with a response the endpoint chose (piggybacked on the ACK of a CON,
    /// or a NON), remembered for duplicates.
    fn answer(&mut self, now: Instant, peer: &Peer, request: &Message, code: Code, options: Options, payload: Vec<u8>) {
        let bytes = self.emit_answer(now, peer, request, code, options, payload);
        self.dedup.set_reply(peer, request.message_id, &bytes);
    }

    /// Sends an answer the endpoint chose without remembering it; returns its bytes.
    fn emit_answer(
        &mut self,
        now: Instant,
        peer: &Peer,
        request: &Message,
        code: Code,
        options: Options,
        payload: Vec<u8>,
    ) -> Vec<u8> {
        let (mtype, mid) = if request.mtype == MessageType::Confirmable {
            (MessageType::Acknowledgement, request.message_id)
        } else {
            (MessageType::NonConfirmable, self.peers.next_mid(now, peer, &mut self.rng))
        };
        let msg = Message { mtype, code, message_id: mid, token: request.token, options, payload };
        self.emit(peer, &msg)
    }

    /// Answers `request` with an error of the endpoint's choosing.
    fn reject(&mut self, now: Instant, peer: &Peer, request: &Message, code: Code, options: Options) {
        tracing::trace!(%code, "request rejected by the endpoint");
        self.stats.requests_rejected += 1;
        self.answer(now, peer, request, code, options, Vec::new());
    }

    /// Removes transfers evicted for room, with their deadlines.
    fn drop_evicted(&mut self, evicted: Vec<TransferKey>) {
        self.stats.block_transfers_evicted += evicted.len() as u64;
        for key in evicted {
            self.deadlines.remove(&Timer::Transfer(key));
        }
    }

    /// One Block1 block of a request body (RFC 7959 §2.5).
    fn receive_block1(
        &mut self,
        now: Instant,
        peer: &Peer,
        msg: &Message,
        block1: Block,
        key: ResourceKey,
    ) -> Block1Outcome {
        let limit = self.config.max_body_size;
        let expires_at = now + self.config.block_lifetime;
        let transfer = TransferKey::Incoming(peer.clone(), key);
        let too_large = |limit: usize| {
            let mut options = Options::new();
            options.set_uint(OptionNumber::SIZE1, u32::try_from(limit).unwrap_or(u32::MAX));
            options
        };
        if block1.num == 0 {
            if msg.options.get_uint(OptionNumber::SIZE1).is_some_and(|size| size as usize > limit) {
                self.reject(now, peer, msg, Code::REQUEST_ENTITY_TOO_LARGE, too_large(limit));
                return Block1Outcome::Answered;
            }
            let evicted = self.transfers.start_incoming(transfer.clone(), limit, expires_at);
            self.drop_evicted(evicted);
        } else if !self.transfers.has_incoming(&transfer) {
            self.reject(now, peer, msg, Code::REQUEST_ENTITY_INCOMPLETE, Options::new());
            return Block1Outcome::Answered;
        }
        match self.transfers.push_block(&transfer, block1, &msg.payload, expires_at) {
            Ok(evicted) => self.drop_evicted(evicted),
            Err(error) => {
                self.transfers.remove(&transfer);
                self.deadlines.remove(&Timer::Transfer(transfer));
                let (code, options) = match error {
                    ReassemblyError::OutOfOrder { .. } => (Code::REQUEST_ENTITY_INCOMPLETE, Options::new()),
                    ReassemblyError::WrongLength { .. } => (Code::BAD_REQUEST, Options::new()),
                    ReassemblyError::TooLarge { .. } => (Code::REQUEST_ENTITY_TOO_LARGE, too_large(limit)),
                };
                self.reject(now, peer, msg, code, options);
                return Block1Outcome::Answered;
            }
        }
        if !block1.more {
            self.deadlines.remove(&Timer::Transfer(transfer.clone()));
            return match self.transfers.take_incoming(&transfer) {
                Some(body) => Block1Outcome::Complete(body),
                None => {
                    self.reject(now, peer, msg, Code::REQUEST_ENTITY_INCOMPLETE, Options::new());
                    Block1Outcome::Answered
                }
            };
        }
        self.deadlines.set(Timer::Transfer(transfer), expires_at);
        // 2.31 Continue; a smaller SZX than the client's asks it to continue with our size
        // (RFC 7959 §2.3), numbering the blocks in that size.
        let size = block1.size.min(self.config.block_size);
        let mut options = Options::new();
        let ack = Block::at_offset(block1.offset(), true, size).unwrap_or(Block { more: true, ..block1 });
        options.set(OptionNumber::BLOCK1, ack.encode());
        self.answer(now, peer, msg, Code::CONTINUE, options, Vec::new());
        Block1Outcome::Answered
    }

    /// Serves a later Block2 block from the body cached for this peer and request; `false` if
    /// nothing is cached (the application answers, and the endpoint slices its answer).
    fn serve_cached_block(
        &mut self,
        now: Instant,
        peer: &Peer,
        msg: &Message,
        block2: Block,
        key: &ResourceKey,
    ) -> bool {
        let transfer = TransferKey::Outgoing(peer.clone(), key.clone());
        let expires_at = now + self.config.block_lifetime;
        let size = block2.size.min(self.config.block_size);
        let Some(cached) = self.transfers.outgoing(&transfer, expires_at) else { return false };
        let finished = cached.finished;
        let num = (block2.offset() / size.bytes()) as u32;
        let (code, mut options, payload, more) = match block::slice(&cached.body, num, size) {
            Some((bytes, more)) => (cached.code, cached.options.clone(), bytes.to_vec(), more),
            None => (Code::BAD_OPTION, Options::new(), Vec::new(), false),
        };
        if code == Code::BAD_OPTION {
            self.stats.requests_rejected += 1;
        } else {
            options.set(OptionNumber::BLOCK2, Block { num, more, size }.encode());
        }
        // Safe requests (RFC 7252 §4.5): a duplicate is served again from the cached body, so
        // neither the block datagram is remembered nor the body dropped after its last block
        // before the duplicates' EXCHANGE_LIFETIME is over.
        let safe = code != Code::BAD_OPTION && matches!(msg.code, Code::GET | Code::FETCH);
        if finished {
            // Kept for duplicates: its deadline stays.
        } else if more {
            self.deadlines.set(Timer::Transfer(transfer), expires_at);
        } else if safe {
            let until = now + self.config.exchange_lifetime();
            self.transfers.finish_outgoing(&transfer, until);
            self.deadlines.set(Timer::Transfer(transfer), until);
        } else {
            self.transfers.remove(&transfer);
            self.deadlines.remove(&Timer::Transfer(transfer));
        }
        if safe {
            self.emit_answer(now, peer, msg, code, options, payload);
            self.dedup.set_reprocess(peer, msg.message_id);
        } else {
            self.answer(now, peer, msg, code, options, payload);
        }
        true
    }

    /// Answers the request `token` from `peer`, or sends one more notification of the
    /// observation `token`.
    ///
    /// The endpoint picks the message type (piggybacked on the ACK, separate CON after an empty
    /// ACK, NON for a NON request; notifications NON but CON at least every
    /// `notification_con_interval`), adds the Observe sequence number and the Block1 echo, and
    /// slices a body larger than the block size with Block2 (only block 0 of a notification is
    /// sent; the observer fetches the rest). A non-2.xx notification ends the observation.
    pub fn send_response(
        &mut self,
        now: Instant,
        peer: &Peer,
        token: Token,
        response: Response,
    ) -> Result<(), SendError> {
        self.pump_queues(now);
        if !response.code.is_response() {
            return Err(SendError::NotAResponse { code: response.code });
        }
        if response.payload.len() > self.config.max_body_size {
            return Err(SendError::BodyTooLarge { len: response.payload.len(), limit: self.config.max_body_size });
        }
        check_options(&response.options)?;
        let exchange_key = (peer.clone(), token);
        if let Some(exchange) = self.servers.remove(&exchange_key) {
            self.deadlines.remove(&Timer::SeparateAck(peer.clone(), token));
            self.deadlines.remove(&Timer::ServerExpiry(peer.clone(), token));
            self.answer_exchange(now, peer, token, exchange, response);
            return Ok(());
        }
        if self.observers.contains_key(&exchange_key) {
            self.notify(now, peer, token, response, false);
            return Ok(());
        }
        Err(SendError::UnknownExchange { token })
    }

    /// One more notification of the observation `token` from `peer`, sent confirmable when
    /// `reliability` says so (LwM2M `/1/x/26`, `con` attribute); otherwise the endpoint's own
    /// rule applies as in [`send_response`](Self::send_response).
    pub fn send_notification(
        &mut self,
        now: Instant,
        peer: &Peer,
        token: Token,
        response: Response,
        reliability: super::Reliability,
    ) -> Result<(), SendError> {
        self.pump_queues(now);
        if !response.code.is_response() {
            return Err(SendError::NotAResponse { code: response.code });
        }
        if response.payload.len() > self.config.max_body_size {
            return Err(SendError::BodyTooLarge { len: response.payload.len(), limit: self.config.max_body_size });
        }
        check_options(&response.options)?;
        if !self.observers.contains_key(&(peer.clone(), token)) {
            return Err(SendError::NotObserving { token });
        }
        self.notify(now, peer, token, response, reliability == super::Reliability::Confirmable);
        Ok(())
    }

    fn answer_exchange(
        &mut self,
        now: Instant,
        peer: &Peer,
        token: Token,
        exchange: ServerExchange,
        response: Response,
    ) {
        let exchange_key = (peer.clone(), token);
        let Response { code, mut options, payload } = response;
        for number in [OptionNumber::OBSERVE, OptionNumber::BLOCK2, OptionNumber::SIZE2] {
            options.remove(number);
        }
        let observing = exchange.observe && code.is_success();
        if observing {
            let observer =
                self.observers.entry(exchange_key.clone()).or_insert_with(|| Observer::new(now, exchange.key.clone()));
            observer.key = exchange.key.clone();
            options.set_uint(OptionNumber::OBSERVE, observer.seq.next_value());
        } else if exchange.observe {
            self.observers.remove(&exchange_key);
        }
        if let Some(echo) = exchange.block1_echo {
            options.set(OptionNumber::BLOCK1, echo.encode());
        }
        let (code, options, payload) =
            self.slice_response(now, peer, &exchange.key, code, options, payload, exchange.block2);
        if exchange.confirmable && !exchange.acked {
            let msg = Message {
                mtype: MessageType::Acknowledgement,
                code,
                message_id: exchange.mid,
                token,
                options,
                payload,
            };
            let bytes = self.emit(peer, &msg);
            self.dedup.set_reply(peer, exchange.mid, &bytes);
            return;
        }
        let mid = self.peers.next_mid(now, peer, &mut self.rng);
        let mtype = if exchange.confirmable { MessageType::Confirmable } else { MessageType::NonConfirmable };
        let msg = Message { mtype, code, message_id: mid, token, options, payload };
        if mtype == MessageType::Confirmable {
            let purpose = if observing { Purpose::Notification(token) } else { Purpose::Response(token) };
            if let Some(observer) = self.observers.get_mut(&exchange_key).filter(|_| observing) {
                observer.sent_confirmable(now, mid);
            }
            self.send_con(now, peer.clone(), &msg, purpose, None);
        } else {
            let bytes = self.emit(peer, &msg);
            self.dedup.set_reply(peer, exchange.mid, &bytes);
            if let Some(observer) = self.observers.get_mut(&exchange_key).filter(|_| observing) {
                observer.sent_non(mid);
            }
        }
    }

    /// Slices a body larger than one block (RFC 7959 §2.4): returns the requested block (block 0
    /// unless `requested` says otherwise) and caches the whole body for the next requests.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn slice_response(
        &mut self,
        now: Instant,
        peer: &Peer,
        key: &ResourceKey,
        code: Code,
        options: Options,
        payload: Vec<u8>,
        requested: Option<Block>,
    ) -> (Code, Options, Vec<u8>) {
        let size = requested.map_or(self.config.block_size, |b| b.size.min(self.config.block_size));
        let num = requested.map_or(0, |b| (b.offset() / size.bytes()) as u32);
        if num == 0 && payload.len() <= size.bytes() {
            return (code, options, payload);
        }
        let Some((bytes, more)) = block::slice(&payload, num, size) else {
            self.stats.requests_rejected += 1;
            return (Code::BAD_OPTION, Options::new(), Vec::new());
        };
        // RFC 7959 §2.4: an ETag lets the receiver notice that the blocks it is collecting come
        // from two representations (the resource changed, e.g. a new notification replaced the
        // cached body, between two block requests).
        let mut options = options;
        if options.get(OptionNumber::ETAG).is_none() {
            options.set(OptionNumber::ETAG, body_etag(&payload).to_vec());
        }
        let mut block_options = options.clone();
        block_options.set(OptionNumber::BLOCK2, Block { num, more, size }.encode());
        if num == 0 {
            block_options.set_uint(OptionNumber::SIZE2, u32::try_from(payload.len()).unwrap_or(u32::MAX));
        }
        let bytes = bytes.to_vec();
        if more {
            let mut cached_options = options;
            cached_options.remove(OptionNumber::OBSERVE);
            cached_options.remove(OptionNumber::BLOCK1);
            let transfer = TransferKey::Outgoing(peer.clone(), key.clone());
            let expires_at = now + self.config.block_lifetime;
            let body = CachedBody { code, options: cached_options, body: payload, finished: false };
            let (stored, evicted) = self.transfers.store_outgoing(transfer.clone(), body, expires_at);
            self.drop_evicted(evicted);
            if stored {
                self.deadlines.set(Timer::Transfer(transfer), expires_at);
            }
        }
        (code, block_options, bytes)
    }

    /// The application has not answered a CON request in time: acknowledge it now so the
    /// peer stops retransmitting; the answer will be a separate response (RFC 7252 §5.2.2).
    pub(super) fn on_separate_ack_timer(&mut self, peer: Peer, token: Token) {
        let Some(exchange) = self.servers.get_mut(&(peer.clone(), token)) else { return };
        if !exchange.confirmable || exchange.acked {
            return;
        }
        exchange.acked = true;
        let mid = exchange.mid;
        let bytes = self.emit(&peer, &Message::empty_ack(mid));
        self.dedup.set_reply(&peer, mid, &bytes);
    }

    /// The application never answered: forget the request.
    pub(super) fn on_server_expiry(&mut self, peer: Peer, token: Token) {
        if self.servers.remove(&(peer.clone(), token)).is_some() {
            self.stats.server_exchanges_expired += 1;
            self.deadlines.remove(&Timer::SeparateAck(peer, token));
        }
    }
}

/// ETag of a body the endpoint slices with Block2: a hash of its bytes (8 bytes), so the same
/// representation keeps its ETag and another one gets another.
fn body_etag(body: &[u8]) -> [u8; 8] {
    use std::hash::{Hash as _, Hasher as _};
    let mut hasher = std::hash::DefaultHasher::new();
    body.hash(&mut hasher);
    hasher.finish().to_be_bytes()
}
