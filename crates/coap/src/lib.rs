//! CoAP for lwm2m-gw: the RFC 7252 message codec and a sans-IO endpoint.
//!
//! This crate performs no network I/O and never reads the clock. Bytes go in through
//! `handle_*` with the time as an argument; datagrams to send, the next deadline and
//! events come out through `poll_*`. Sockets, DTLS and tokio live in the `transport` crate.
//!
//! - [`msg`]: the message codec (RFC 7252 §3), strict on input, exact on output.
//! - [`endpoint`]: message exchange over one local socket (RFC 7252 §4, §5.3), block-wise
//!   transfers (RFC 7959) and Observe (RFC 7641), all behind [`Endpoint`].
//! - [`block`], [`observe`]: the arithmetic of block options and Observe sequence numbers.
//! - [`engine`]: the [`Engine`] trait every sans-IO machine implements, so one driver and the
//!   `sim` crate's simulated network run them all.
//!
//! ```text
//!   datagram, peer, now ──► handle_datagram ─┐            ┌─► poll_transmit ──► (peer, bytes)
//!                now ─────► handle_timeout ──┤  Endpoint  ├─► poll_timeout  ──► next deadline
//!   send_request / send_response / cancel ───┘            └─► poll_event    ──► Event
//! ```
#![forbid(unsafe_code, unused_must_use)]

pub mod block;
pub mod endpoint;
pub mod engine;
pub mod msg;
pub mod observe;

pub use endpoint::{
    ConfigError, DropReason, Endpoint, EndpointConfig, EndpointStats, Event, ExchangeError, Reliability, Request,
    Response, SendError, TableSizes, Transmit,
};
pub use engine::{Engine, Peer};
pub use msg::{Code, ContentFormat, DecodeError, Message, MessageId, MessageType, OptionNumber, Options, Token};
