//! The notifier side of Observe (RFC 7641 §4): the observations this endpoint serves, the
//! Observe sequence numbers it stamps on notifications, when a notification goes confirmable
//! (§4.5: at least every `notification_con_interval`, and always while one is unacknowledged)
//! and how an observation ends (GET Observe: 1, RST, unacknowledged CON, non-2.xx notification).
//!
//! Invariant: an [`Observer`] has at most one confirmable notification in flight; a newer one
//! replaces it and keeps its back-off (§4.5.2).

use std::collections::VecDeque;
use std::time::Instant;

use super::transfers::ResourceKey;
use super::{Endpoint, Event, Purpose, Response};
use crate::msg::{Message, MessageId, MessageType, OptionNumber, Token};
use crate::observe::SequenceCounter;
use crate::Peer;

/// How many recent NON notification IDs an observer remembers, to recognise a RST to one.
const RECENT_NON: usize = 4;

/// An observation we serve.
#[derive(Debug)]
pub(super) struct Observer {
    pub(super) seq: SequenceCounter,
    last_con_at: Instant,
    /// A confirmable notification still unacknowledged.
    pending_con: Option<MessageId>,
    recent_non: VecDeque<MessageId>,
    pub(super) key: ResourceKey,
}

impl Observer {
    pub(super) fn new(now: Instant, key: ResourceKey) -> Self {
        Self {
            seq: SequenceCounter::starting_at(0),
            last_con_at: now,
            pending_con: None,
            recent_non: VecDeque::new(),
            key,
        }
    }

    /// A confirmable notification (or first answer) with `mid` went out at `now`.
    pub(super) fn sent_confirmable(&mut self, now: Instant, mid: MessageId) {
        self.pending_con = Some(mid);
        self.last_con_at = now;
    }

    /// A non-confirmable notification with `mid` went out.
    pub(super) fn sent_non(&mut self, mid: MessageId) {
        if self.recent_non.len() >= RECENT_NON {
            self.recent_non.pop_front();
        }
        self.recent_non.push_back(mid);
    }
}

impl Endpoint {
    /// One more notification of the observation `(peer, token)` (RFC 7641 §4.2–4.5).
    pub(super) fn notify(&mut self, now: Instant, peer: &Peer, token: Token, response: Response, force_con: bool) {
        let exchange_key = (peer.clone(), token);
        let Some(observer) = self.observers.get_mut(&exchange_key) else { return };
        let Response { code, mut options, payload } = response;
        for number in [OptionNumber::OBSERVE, OptionNumber::BLOCK2, OptionNumber::SIZE2, OptionNumber::BLOCK1] {
            options.remove(number);
        }
        options.set_uint(OptionNumber::OBSERVE, observer.seq.next_value());
        let key = observer.key.clone();
        let confirmable = force_con
            || self.config.confirmable_notifications
            || observer.pending_con.is_some()
            || now >= observer.last_con_at + self.config.notification_con_interval;
        let replaced = observer.pending_con.take();
        let (code, options, payload) = self.slice_response(now, peer, &key, code, options, payload, None);
        let mid = self.peers.next_mid(now, peer, &mut self.rng);
        let mtype = if confirmable { MessageType::Confirmable } else { MessageType::NonConfirmable };
        let msg = Message { mtype, code, message_id: mid, token, options, payload };
        if confirmable {
            // A newer notification replaces one still in flight and keeps its back-off (§4.5.2).
            let resume = replaced.and_then(|old| self.stop_con(peer, old));
            if let Some(observer) = self.observers.get_mut(&exchange_key) {
                observer.sent_confirmable(now, mid);
            }
            self.send_con(now, peer.clone(), &msg, Purpose::Notification(token), resume);
        } else {
            self.emit(peer, &msg);
            if let Some(observer) = self.observers.get_mut(&exchange_key) {
                observer.sent_non(mid);
            }
        }
        if !code.is_success() {
            // A non-2.xx notification ends the observation (RFC 7641 §4.2); nobody to tell.
            self.observers.remove(&exchange_key);
        }
    }

    /// A confirmable notification was acknowledged.
    pub(super) fn on_notification_acked(&mut self, peer: &Peer, token: Token, mid: MessageId) {
        if let Some(observer) = self.observers.get_mut(&(peer.clone(), token)) {
            if observer.pending_con == Some(mid) {
                observer.pending_con = None;
            }
        }
    }

    /// The observation whose recent NON notification had `mid`.
    pub(super) fn notification_with_mid(&self, peer: &Peer, mid: MessageId) -> Option<Token> {
        let start = (peer.clone(), Token::EMPTY);
        self.observers
            .range(start..)
            .take_while(|((p, _), _)| p == peer)
            .find(|(_, o)| o.recent_non.contains(&mid))
            .map(|((_, token), _)| *token)
    }

    /// Stops serving the observation `(peer, token)` without telling the observer (it learns at
    /// its next notification's absence, or from a RST to a later stray one). No event follows.
    /// Returns whether the observation existed. To end it visibly, send a non-2.xx notification.
    pub fn forget_observer(&mut self, peer: &Peer, token: Token) -> bool {
        let Some(observer) = self.observers.remove(&(peer.clone(), token)) else { return false };
        if let Some(mid) = observer.pending_con {
            self.stop_con(peer, mid);
        }
        true
    }

    /// Ends the observation `(peer, token)` and tells the application, if it existed.
    pub(super) fn end_observer(&mut self, peer: &Peer, token: Token) {
        let Some(observer) = self.observers.remove(&(peer.clone(), token)) else { return };
        if let Some(mid) = observer.pending_con {
            self.stop_con(peer, mid);
        }
        self.events.push_back(Event::ObservationCancelled { peer: peer.clone(), token });
    }
}
