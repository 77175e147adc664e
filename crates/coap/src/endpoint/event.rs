//! What the endpoint reports to its owner through `poll_event`.

use super::error::ExchangeError;
use super::request::{Request, Response};
use crate::msg::Token;
use crate::Peer;

/// An event for the application, in the order things happened.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// A request arrived (Block1 already reassembled). Answer with `send_response(peer, token, …)`.
    Request {
        /// Who sent it.
        peer: Peer,
        /// Its token: the handle for the answer (and, when `observe`, for notifications).
        token: Token,
        /// The request, whole.
        request: Request,
        /// A GET/FETCH with Observe: 0 that the endpoint accepted: a 2.xx answer starts an
        /// observation, and later `send_response` calls with this token are notifications.
        observe: bool,
    },
    /// The response to one of our requests (Block2 already fetched). For an observation this
    /// is the first answer; later ones come as [`Event::Notification`].
    Response {
        /// The handle `send_request` returned.
        token: Token,
        /// The response, whole.
        response: Response,
    },
    /// A fresh notification of an observation of ours (stale and reordered ones are dropped).
    /// A notification with a non-2.xx code, or without Observe, ends the observation.
    Notification {
        /// The handle `send_request` returned.
        token: Token,
        /// The notification, whole.
        response: Response,
    },
    /// One of our requests (or pings) ended without an answer. Never reported after `cancel`.
    Failed {
        /// The handle `send_request` or `ping` returned.
        token: Token,
        /// Why.
        error: ExchangeError,
    },
    /// The answer to a `ping`: the peer replied RST (or ACK) to our empty CON.
    Pong {
        /// The handle `ping` returned.
        token: Token,
    },
    /// An observation we served ended: the observer cancelled it (GET Observe: 1, RST to a
    /// notification) or stopped acknowledging confirmable notifications. Stop notifying.
    ObservationCancelled {
        /// The observer.
        peer: Peer,
        /// The observation's token.
        token: Token,
    },
}
