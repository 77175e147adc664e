//! Errors of the endpoint, split by when they happen: [`SendError`] refuses a command before
//! anything is sent; [`ExchangeError`] says why an accepted exchange ended without an answer.

/// A command was refused; nothing was sent.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SendError {
    /// Too many requests already wait for NSTART.
    #[error("request queue is full ({limit} requests wait for nstart)")]
    QueueFull {
        /// The configured `max_queued_requests`.
        limit: usize,
    },
    /// Too many client exchanges are open.
    #[error("too many open exchanges (limit {limit})")]
    TooManyExchanges {
        /// The configured `max_client_exchanges`.
        limit: usize,
    },
    /// No request from this peer with this token awaits an answer and no observation uses it.
    #[error("no request or observation with token {token:?} awaits a response")]
    UnknownExchange {
        /// The token given.
        token: crate::Token,
    },
    /// `cancel_observation` on a token that is not an established observation.
    #[error("token {token:?} is not an established observation")]
    NotObserving {
        /// The token given.
        token: crate::Token,
    },
    /// The request's code is not a method code (0.01–0.31).
    #[error("code {code} is not a request method")]
    NotARequest {
        /// The code given.
        code: crate::Code,
    },
    /// The response's code is not a response code (2.00–5.31).
    #[error("code {code} is not a response code")]
    NotAResponse {
        /// The code given.
        code: crate::Code,
    },
    /// An option value is longer than the wire format can carry.
    #[error("option {number} value of {len} bytes is too long for the wire")]
    OptionTooLong {
        /// Option number.
        number: u16,
        /// Value length.
        len: usize,
    },
    /// The body exceeds `max_body_size` (it could not be sent block-wise).
    #[error("body of {len} bytes exceeds the limit of {limit}")]
    BodyTooLarge {
        /// Body length.
        len: usize,
        /// The configured `max_body_size`.
        limit: usize,
    },
}

/// Why an accepted exchange ended without a (complete) answer. Never reported after `cancel`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ExchangeError {
    /// No acknowledgement after MAX_RETRANSMIT retransmissions, or no response in time.
    #[error("no answer from the peer in time")]
    Timeout,
    /// The peer answered with RST.
    #[error("the peer reset the exchange")]
    Reset,
    /// The peer's block-wise body exceeds `max_body_size`.
    #[error("response body exceeds the limit of {limit} bytes")]
    BodyTooLarge {
        /// The configured `max_body_size`.
        limit: usize,
    },
    /// The peer's blocks do not fit together (wrong number, changed ETag).
    #[error("the peer's blocks do not fit together")]
    BlockMismatch,
    /// All response bodies being fetched together would exceed `max_block_bytes`.
    #[error("no room for the response body: block buffers hold {limit} bytes at most")]
    NoRoom {
        /// The configured `max_block_bytes`.
        limit: usize,
    },
}
