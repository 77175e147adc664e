//! The client role: requests we send and what comes back (RFC 7252 §5.3; RFC 7959 §2.3–2.5 as
//! the sender of Block1 and the receiver of Block2; RFC 7641 §3 as the observer).
//!
//! A [`ClientExchange`] lives from `send_request` until its response, failure or `cancel`, and,
//! for an observation, as long as notifications keep it alive. Block-wise transfers run inside
//! the exchange with the same token; the rest of an observation's Block2 body is fetched by a
//! child exchange with its own token (RFC 7959 §2.6), so notifications and block requests never
//! share one. Invariant: the application hears of an exchange exactly once (a response or a
//! failure), then only notifications, and nothing after `cancel`.

use std::time::Instant;

use super::{check_options, Endpoint, Event, ExchangeError, Purpose, Reliability, Request, Response, SendError, Timer};
use crate::block::{self, Block, BlockSize, Reassembly, ReassemblyError};
use crate::endpoint::stats::DropReason;
use crate::msg::{Code, Message, MessageId, MessageType, OptionNumber, Token};
use crate::observe::{self, Freshness};
use crate::Peer;

/// At most this many 4.13 retries with smaller blocks (there are only seven sizes).
const MAX_BLOCK1_RETRIES: u8 = 7;

/// Where a client exchange is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Waiting for NSTART.
    Queued,
    /// A CON of ours is being retransmitted until acknowledged.
    InFlight { mid: MessageId },
    /// Nothing more is retransmitted; waiting for the response until `response_timeout`.
    /// `outstanding` counts against NSTART (a NON request; not after an empty ACK).
    AwaitingResponse { mid: MessageId, outstanding: bool },
    /// The observation is established; notifications arrive with this token.
    Observing { freshness: Freshness },
}

/// The request body being sent block-wise (Block1): the block in flight starts at `offset`.
#[derive(Debug, Clone, Copy)]
struct Block1Out {
    size: BlockSize,
    offset: usize,
}

/// The response body being fetched block-wise (Block2).
#[derive(Debug)]
struct Block2In {
    body: Reassembly,
    size: BlockSize,
    etag: Option<Vec<u8>>,
}

/// How a child Block2 fetch reports, in the name of its parent observation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ParentKind {
    /// The rest of the observation's first response.
    Response,
    /// The rest of a notification.
    Notification,
}

/// One request of ours, from `send_request` to its end.
#[derive(Debug)]
pub(super) struct ClientExchange {
    peer: Peer,
    request: Request,
    reliability: Reliability,
    state: State,
    /// The request registers an observation (GET/FETCH with Observe: 0).
    observe: bool,
    /// The request cancels an observation (Observe: 1): late notifications are ignored.
    deregister: bool,
    block1: Option<Block1Out>,
    block1_retries: u8,
    block2: Option<Block2In>,
    parent: Option<(Token, ParentKind)>,
}

impl ClientExchange {
    fn new(peer: Peer, request: Request, reliability: Reliability) -> Self {
        let observe_value = request.options.observe();
        let observable = super::is_observable_method(request.method);
        Self {
            observe: observable && observe_value == Some(observe::REGISTER),
            deregister: observable && observe_value == Some(observe::DEREGISTER),
            peer,
            request,
            reliability,
            state: State::Queued,
            block1: None,
            block1_retries: 0,
            block2: None,
            parent: None,
        }
    }

    /// Whether this counts against NSTART for its peer.
    fn is_outstanding(&self) -> bool {
        matches!(self.state, State::InFlight { .. } | State::AwaitingResponse { outstanding: true, .. })
    }

    /// Whether the observation is established.
    pub(super) fn is_observing(&self) -> bool {
        matches!(self.state, State::Observing { .. })
    }
}

impl Endpoint {
    /// Sends `request` to `peer` and returns its token, the handle every later event carries.
    ///
    /// A payload larger than the configured block size goes block-wise (Block1); a block-wise
    /// response is fetched whole before [`Event::Response`]. A GET with Observe: 0 (see
    /// [`Request::observe`]) starts an observation: the first answer is [`Event::Response`],
    /// later ones [`Event::Notification`]. Beyond NSTART outstanding requests to `peer` the
    /// request waits in a bounded queue.
    pub fn send_request(
        &mut self,
        now: Instant,
        peer: Peer,
        request: Request,
        reliability: Reliability,
    ) -> Result<Token, SendError> {
        self.pump_queues(now);
        if !request.method.is_request() {
            return Err(SendError::NotARequest { code: request.method });
        }
        if request.payload.len() > self.config.max_body_size {
            return Err(SendError::BodyTooLarge { len: request.payload.len(), limit: self.config.max_body_size });
        }
        check_options(&request.options)?;
        if self.clients.len() >= self.config.max_client_exchanges {
            return Err(SendError::TooManyExchanges { limit: self.config.max_client_exchanges });
        }
        let token = self.fresh_token();
        let mut exchange = ClientExchange::new(peer, request, reliability);
        if exchange.request.payload.len() > self.config.block_size.bytes() {
            exchange.block1 = Some(Block1Out { size: self.config.block_size, offset: 0 });
        }
        self.admit(now, token, exchange)?;
        Ok(token)
    }

    /// Starts `exchange` now if NSTART allows, else queues it.
    fn admit(&mut self, now: Instant, token: Token, exchange: ClientExchange) -> Result<(), SendError> {
        let peer = exchange.peer.clone();
        if self.outstanding(&peer) < self.nstart(&peer) {
            self.clients.insert(token, exchange);
            self.transmit_request(now, token);
            return Ok(());
        }
        if self.peers.queued() >= self.config.max_queued_requests {
            return Err(SendError::QueueFull { limit: self.config.max_queued_requests });
        }
        self.clients.insert(token, exchange);
        self.peers.enqueue(now, &peer, token, &mut self.rng);
        Ok(())
    }

    /// Cancels the observation `token` the explicit way: a GET with Observe: 1 and the same token
    /// (RFC 7641 §3.6). Its answer arrives as [`Event::Response`] with this token; notifications
    /// still in flight are dropped.
    pub fn cancel_observation(&mut self, now: Instant, token: Token) -> Result<(), SendError> {
        self.pump_queues(now);
        let Some(exchange) = self.clients.get(&token).filter(|e| e.is_observing()) else {
            return Err(SendError::NotObserving { token });
        };
        if self.outstanding(&exchange.peer) >= self.nstart(&exchange.peer)
            && self.peers.queued() >= self.config.max_queued_requests
        {
            return Err(SendError::QueueFull { limit: self.config.max_queued_requests });
        }
        let Some(old) = self.clients.remove(&token) else { return Err(SendError::NotObserving { token }) };
        self.forget_children(token);
        let mut request = old.request;
        request.options.set_uint(OptionNumber::OBSERVE, observe::DEREGISTER);
        let exchange = ClientExchange::new(old.peer, request, old.reliability);
        self.admit(now, token, exchange)
    }

    /// Outstanding interactions with `peer` (RFC 7252 §4.7).
    fn outstanding(&self, peer: &Peer) -> usize {
        self.clients.values().filter(|e| &e.peer == peer && e.is_outstanding()).count()
    }

    /// Starts queued requests wherever NSTART now allows.
    pub(super) fn pump_queues(&mut self, now: Instant) {
        while let Some(peer) = self.to_pump.pop_first() {
            while self.outstanding(&peer) < self.nstart(&peer) {
                let Some(token) = self.peers.dequeue(&peer) else { break };
                if self.clients.contains_key(&token) {
                    self.transmit_request(now, token);
                }
            }
        }
    }

    /// Sends the current message of exchange `token`: the whole request, its next Block1 block,
    /// or the request for its next Block2 block.
    fn transmit_request(&mut self, now: Instant, token: Token) {
        let mid = match self.clients.get(&token) {
            Some(exchange) => self.peers.next_mid(now, &exchange.peer.clone(), &mut self.rng),
            None => return,
        };
        let Some(exchange) = self.clients.get_mut(&token) else { return };
        let mut options = exchange.request.options.clone();
        let mut payload = exchange.request.payload.clone();
        if let Some(block1) = exchange.block1 {
            let num = (block1.offset / block1.size.bytes()) as u32;
            let (bytes, more) = block::slice(&exchange.request.payload, num, block1.size).unwrap_or((&[], false));
            let value = Block::at_offset(block1.offset, more, block1.size).map_or_else(|_| Vec::new(), Block::encode);
            options.set(OptionNumber::BLOCK1, value);
            if block1.offset == 0 {
                options.set_uint(OptionNumber::SIZE1, u32::try_from(payload.len()).unwrap_or(u32::MAX));
            }
            payload = bytes.to_vec();
        }
        if exchange.block2.is_none()
            && self.config.block_size < BlockSize::S1024
            && super::is_observable_method(exchange.request.method)
        {
            // Early negotiation (RFC 7959 §2.4): ask for our smaller block size from block 0.
            options.set(OptionNumber::BLOCK2, Block { num: 0, more: false, size: self.config.block_size }.encode());
        }
        if let Some(block2) = &exchange.block2 {
            let value =
                Block::at_offset(block2.body.len(), false, block2.size).map_or_else(|_| Vec::new(), Block::encode);
            options.set(OptionNumber::BLOCK2, value);
            options.remove(OptionNumber::BLOCK1);
            options.remove(OptionNumber::SIZE1);
            options.remove(OptionNumber::OBSERVE);
            if exchange.request.method != Code::FETCH {
                payload.clear();
            }
        }
        let mtype = match exchange.reliability {
            Reliability::Confirmable => MessageType::Confirmable,
            Reliability::NonConfirmable => MessageType::NonConfirmable,
        };
        let msg = Message { mtype, code: exchange.request.method, message_id: mid, token, options, payload };
        let peer = exchange.peer.clone();
        self.deadlines.remove(&Timer::ResponseTimeout(token));
        if mtype == MessageType::Confirmable {
            exchange.state = State::InFlight { mid };
            self.send_con(now, peer, &msg, Purpose::Request(token), None);
        } else {
            exchange.state = State::AwaitingResponse { mid, outstanding: true };
            self.emit(&peer, &msg);
            self.deadlines.set(Timer::ResponseTimeout(token), now + self.config.response_timeout);
        }
    }

    /// Our CON request `token` was acknowledged by `ack` (empty, or carrying the response).
    pub(super) fn on_request_acked(&mut self, now: Instant, peer: Peer, token: Token, ack: Message) {
        let Some(exchange) = self.clients.get_mut(&token) else { return };
        let State::InFlight { mid } = exchange.state else { return };
        let piggybacked = !ack.is_empty() && ack.token == token && ack.options.first_unrecognized_critical().is_none();
        if !piggybacked {
            if !ack.is_empty() {
                self.stats.count_drop(DropReason::Inconsistent);
            }
            // Empty ACK: the response comes separately; the interaction is no longer outstanding.
            exchange.state = State::AwaitingResponse { mid, outstanding: false };
            self.deadlines.set(Timer::ResponseTimeout(token), now + self.config.response_timeout);
            self.to_pump.insert(peer);
            return;
        }
        self.on_response(now, token, ack);
    }

    /// A CON or NON response arrived (separate response or notification; already deduplicated).
    pub(super) fn on_separate_response(&mut self, now: Instant, peer: Peer, msg: Message) {
        let known = self.clients.get(&msg.token).filter(|e| e.peer == peer && e.state != State::Queued);
        let Some(exchange) = known else {
            // RFC 7641 §3.5 / RFC 7252 §4.3: unknown token, reject.
            self.stats.count_drop(DropReason::UnknownToken);
            self.reset_if_con(&peer, &msg);
            if msg.mtype == MessageType::NonConfirmable {
                self.emit(&peer, &Message::reset(msg.message_id));
            }
            return;
        };
        if msg.options.first_unrecognized_critical().is_some() {
            // RFC 7252 §5.4.1: a CON response with an unknown critical option is rejected.
            self.stats.count_drop(DropReason::Unexpected);
            self.reset_if_con(&peer, &msg);
            return;
        }
        let deregistering_late_notification = exchange.deregister && msg.options.observe().is_some();
        let in_flight = match exchange.state {
            State::InFlight { mid } => Some(mid),
            _ => None,
        };
        let observing = exchange.is_observing();
        self.ack_if_con(&peer, &msg);
        if deregistering_late_notification {
            self.stats.count_drop(DropReason::StaleNotification);
            return;
        }
        if let Some(mid) = in_flight {
            // The response implies the ACK we have not seen (RFC 7252 §5.2.2).
            self.stop_con(&peer, mid);
        }
        if observing {
            self.on_notification(now, msg.token, msg);
        } else {
            self.on_response(now, msg.token, msg);
        }
    }

    /// A response to the message in flight of exchange `token`.
    fn on_response(&mut self, now: Instant, token: Token, msg: Message) {
        let Some(exchange) = self.clients.get_mut(&token) else { return };
        if is_late_block_answer(exchange, &msg) {
            // A separate answer to an earlier block, overtaken by the one we acted on.
            self.stats.count_drop(DropReason::Inconsistent);
            return;
        }
        // Block1 (RFC 7959 §2.5): continue, renegotiate, or retry smaller after 4.13.
        if let Some(block1) = exchange.block1 {
            let sent_last = block1.offset + block1.size.bytes() >= exchange.request.payload.len();
            let answer = Block::from_options(&msg.options, OptionNumber::BLOCK1).ok().flatten();
            if msg.code == Code::CONTINUE && !sent_last {
                let size = answer.map_or(block1.size, |a| a.size.min(block1.size));
                exchange.block1 = Some(Block1Out { size, offset: block1.offset + block1.size.bytes() });
                self.transmit_request(now, token);
                return;
            }
        }
        if msg.code == Code::REQUEST_ENTITY_TOO_LARGE && exchange.block1_retries < MAX_BLOCK1_RETRIES {
            if let Some(size) = self.retry_size(token, &msg) {
                let Some(exchange) = self.clients.get_mut(&token) else { return };
                exchange.block1_retries += 1;
                exchange.block1 = Some(Block1Out { size, offset: 0 });
                self.transmit_request(now, token);
                return;
            }
        }
        let Some(exchange) = self.clients.get_mut(&token) else { return };
        exchange.block1 = None;
        let Ok(block2) = Block::from_options(&msg.options, OptionNumber::BLOCK2) else {
            return self.fail_request(now, token, ExchangeError::BlockMismatch);
        };
        let is_first_notification = exchange.observe && msg.options.observe().is_some() && msg.code.is_success();
        if is_first_notification {
            let seq = msg.options.observe().unwrap_or(0);
            exchange.state = State::Observing { freshness: Freshness::new(seq, now) };
            self.deadlines.remove(&Timer::ResponseTimeout(token));
            let peer = exchange.peer.clone();
            self.to_pump.insert(peer);
            if block2.is_some_and(|b| b.more) {
                self.fetch_rest(now, token, ParentKind::Response, msg);
            } else {
                self.events.push_back(Event::Response { token, response: into_response(msg) });
            }
            return;
        }
        if msg.code.is_success() && (block2.is_some_and(|b| b.more) || exchange.block2.is_some()) {
            match self.receive_block2(token, block2, &msg) {
                Err(error) => return self.fail_request(now, token, error),
                Ok(true) => return self.transmit_request(now, token),
                Ok(false) => {}
            }
        }
        self.finish_request(token, msg);
    }

    /// After 4.13: the block size to retry with, or `None` to give the 4.13 to the application.
    fn retry_size(&self, token: Token, msg: &Message) -> Option<BlockSize> {
        let exchange = self.clients.get(&token)?;
        let len = exchange.request.payload.len();
        if msg.options.get_uint(OptionNumber::SIZE1).is_some_and(|limit| (limit as usize) < len) {
            return None;
        }
        let hint = Block::from_options(&msg.options, OptionNumber::BLOCK1).ok().flatten().map(|b| b.size);
        let sent_with = exchange.block1.map(|block1| block1.size);
        let candidate = match (sent_with, hint) {
            (Some(sent), Some(hint)) if hint < sent => Some(hint),
            (Some(sent), _) => sent.smaller(),
            (None, hint) => Some(hint.unwrap_or(self.config.block_size).min(self.config.block_size)),
        }?;
        // Sending block-wise only helps when the body spans more than one block.
        (sent_with.is_some() || len > candidate.bytes()).then_some(candidate)
    }

    /// Adds a Block2 block to exchange `token`; `Ok(true)` when more blocks must be fetched.
    fn receive_block2(&mut self, token: Token, block: Option<Block>, msg: &Message) -> Result<bool, ExchangeError> {
        let limit = self.config.max_body_size;
        let preferred = self.config.block_size;
        let all_limit = self.config.max_block_bytes;
        let held: usize = self.clients.values().filter_map(|e| e.block2.as_ref()).map(|b| b.body.len()).sum();
        if held.saturating_add(msg.payload.len()) > all_limit {
            return Err(ExchangeError::NoRoom { limit: all_limit });
        }
        let Some(exchange) = self.clients.get_mut(&token) else { return Ok(false) };
        let block = block.ok_or(ExchangeError::BlockMismatch)?;
        let etag = msg.options.get(OptionNumber::ETAG).map(<[u8]>::to_vec);
        let incoming = match &mut exchange.block2 {
            Some(incoming) => {
                if incoming.etag != etag {
                    return Err(ExchangeError::BlockMismatch);
                }
                incoming
            }
            None => {
                if block.num != 0 {
                    return Err(ExchangeError::BlockMismatch);
                }
                if msg.options.get_uint(OptionNumber::SIZE2).is_some_and(|size| size as usize > limit) {
                    return Err(ExchangeError::BodyTooLarge { limit });
                }
                exchange.block2.insert(Block2In { body: Reassembly::new(limit), size: block.size, etag })
            }
        };
        incoming.body.push(block, &msg.payload).map_err(|error| match error {
            ReassemblyError::TooLarge { .. } => ExchangeError::BodyTooLarge { limit },
            ReassemblyError::OutOfOrder { .. } | ReassemblyError::WrongLength { .. } => ExchangeError::BlockMismatch,
        })?;
        incoming.size = block.size.min(preferred);
        Ok(block.more)
    }

    /// The exchange got its final response: deliver it (reassembled) and forget the exchange.
    fn finish_request(&mut self, token: Token, mut msg: Message) {
        let Some(mut exchange) = self.clients.remove(&token) else { return };
        self.deadlines.remove(&Timer::ResponseTimeout(token));
        self.to_pump.insert(exchange.peer.clone());
        if let Some(incoming) = exchange.block2.take() {
            msg.payload = incoming.body.into_body();
        }
        let response = into_response(msg);
        match exchange.parent {
            None => self.events.push_back(Event::Response { token, response }),
            Some((parent, kind)) => {
                if self.clients.get(&parent).is_some_and(ClientExchange::is_observing) {
                    self.events.push_back(match kind {
                        ParentKind::Response => Event::Response { token: parent, response },
                        ParentKind::Notification => Event::Notification { token: parent, response },
                    });
                }
            }
        }
    }

    /// A notification for the established observation `token` (RFC 7641 §3.2–3.4).
    ///
    /// While the rest of the observation's first response is still being fetched, a newer
    /// notification replaces that fetch and is reported as the [`Event::Response`] instead, so
    /// the application still hears of the exchange exactly once.
    fn on_notification(&mut self, now: Instant, token: Token, msg: Message) {
        let kind = if self.awaits_first_response(token) { ParentKind::Response } else { ParentKind::Notification };
        let report = |token, response| match kind {
            ParentKind::Response => Event::Response { token, response },
            ParentKind::Notification => Event::Notification { token, response },
        };
        let Some(seq) = msg.options.observe() else {
            // A response without Observe ends the observation (§3.2).
            self.forget_request(token);
            self.events.push_back(report(token, into_response(msg)));
            return;
        };
        let Some(exchange) = self.clients.get_mut(&token) else { return };
        let State::Observing { freshness } = &mut exchange.state else { return };
        if !freshness.accept(seq, now) {
            self.stats.count_drop(DropReason::StaleNotification);
            return;
        }
        if !msg.code.is_success() {
            self.forget_request(token);
            self.events.push_back(report(token, into_response(msg)));
            return;
        }
        match Block::from_options(&msg.options, OptionNumber::BLOCK2) {
            Ok(Some(block)) if block.more => self.fetch_rest(now, token, kind, msg),
            _ => {
                self.forget_children(token);
                self.events.push_back(report(token, into_response(msg)));
            }
        }
    }

    /// Whether the observation `parent` is still fetching the rest of its first response (a
    /// child exchange that will report [`Event::Response`]).
    fn awaits_first_response(&self, parent: Token) -> bool {
        self.clients.values().any(|e| e.parent == Some((parent, ParentKind::Response)))
    }

    /// Fetches the blocks after block 0 of an observation's response or notification with a
    /// child exchange (GET without Observe, RFC 7959 §2.6). Only the newest fetch is kept.
    fn fetch_rest(&mut self, now: Instant, parent: Token, kind: ParentKind, first: Message) {
        self.forget_children(parent);
        let Some(exchange) = self.clients.get(&parent) else { return };
        let mut request = exchange.request.clone();
        request.options.remove(OptionNumber::OBSERVE);
        let mut child = ClientExchange::new(exchange.peer.clone(), request, exchange.reliability);
        child.parent = Some((parent, kind));
        let child_token = self.fresh_token();
        let block = Block::from_options(&first.options, OptionNumber::BLOCK2).ok().flatten();
        let started = self.clients.len() < self.config.max_client_exchanges
            && self.clients.insert(child_token, child).is_none()
            && self.receive_block2(child_token, block, &first) == Ok(true);
        if !started {
            self.clients.remove(&child_token);
            self.stats.count_drop(DropReason::Inconsistent);
            return;
        }
        if let Some(child) = self.clients.remove(&child_token) {
            if self.admit(now, child_token, child).is_err() {
                self.stats.count_drop(DropReason::Inconsistent);
            }
        }
    }

    /// Exchange `token` ended without an answer: tell the application (or the parent's owner).
    pub(super) fn fail_request(&mut self, _now: Instant, token: Token, error: ExchangeError) {
        let Some(exchange) = self.clients.get(&token) else { return };
        let parent = exchange.parent;
        self.forget_request(token);
        match parent {
            None => self.events.push_back(Event::Failed { token, error }),
            Some((parent, ParentKind::Response)) => {
                if self.clients.contains_key(&parent) {
                    self.forget_request(parent);
                    self.events.push_back(Event::Failed { token: parent, error });
                }
            }
            Some((_, ParentKind::Notification)) => self.stats.count_drop(DropReason::Inconsistent),
        }
    }

    /// Removes exchange `token` and everything that refers to it, silently.
    pub(super) fn forget_request(&mut self, token: Token) {
        let Some(exchange) = self.clients.remove(&token) else { return };
        self.deadlines.remove(&Timer::ResponseTimeout(token));
        match exchange.state {
            State::InFlight { mid } => {
                self.stop_con(&exchange.peer, mid);
            }
            State::Queued => self.peers.unqueue(&exchange.peer, token),
            State::AwaitingResponse { .. } | State::Observing { .. } => {}
        }
        self.forget_children(token);
        self.to_pump.insert(exchange.peer);
    }

    fn forget_children(&mut self, parent: Token) {
        let children: Vec<Token> =
            self.clients.iter().filter(|(_, e)| e.parent.is_some_and(|(p, _)| p == parent)).map(|(t, _)| *t).collect();
        for child in children {
            self.forget_request(child);
        }
    }

    /// The NON request of ours sent to `peer` with `mid`, if it still awaits a response.
    pub(super) fn non_request_with_mid(&self, peer: &Peer, mid: MessageId) -> Option<Token> {
        self.clients
            .iter()
            .find(|(_, e)| {
                &e.peer == peer && matches!(e.state, State::AwaitingResponse { mid: m, outstanding: true } if m == mid)
            })
            .map(|(t, _)| *t)
    }
}

/// The application's view of a response message.
/// Whether `msg` answers a block before the one exchange `exchange` has in flight: a Block1 echo
/// of an earlier block at the same size, or a Block2 block we already have.
fn is_late_block_answer(exchange: &ClientExchange, msg: &Message) -> bool {
    if let (Some(block1), Ok(Some(echo))) = (exchange.block1, Block::from_options(&msg.options, OptionNumber::BLOCK1)) {
        if echo.size == block1.size && echo.offset() < block1.offset {
            return true;
        }
    }
    if let (Some(incoming), Ok(Some(block))) =
        (&exchange.block2, Block::from_options(&msg.options, OptionNumber::BLOCK2))
    {
        if block.offset() < incoming.body.len() {
            return true;
        }
    }
    false
}

/// Block options are the endpoint's business and are stripped.
fn into_response(msg: Message) -> Response {
    let mut options = msg.options;
    for number in [OptionNumber::BLOCK1, OptionNumber::BLOCK2, OptionNumber::SIZE2] {
        options.remove(number);
    }
    Response { code: msg.code, options, payload: msg.payload }
}
