//! The CoAP message codec (RFC 7252 §3).
//!
//! [`Message::decode`] is strict: everything §3 calls a message format error is rejected with a
//! [`DecodeError`] that says what and where. [`Message::encode`] writes options in ascending
//! order with the shortest delta/length encoding. There is no size cap below what the caller's
//! transport allows.

mod code;
mod codec;
mod content_format;
mod message;
mod option;
mod token;

pub use code::Code;
pub use codec::{DecodeError, EncodeError, MAX_OPTION_VALUE_LEN};
pub use content_format::ContentFormat;
pub use option::{decode_uint, encode_uint, OptionNumber, Options};
pub use token::Token;

/// The 16-bit message ID (RFC 7252 §3), used for deduplication and ACK/RST matching.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct MessageId(pub u16);

/// Message type (RFC 7252 §3, T field).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MessageType {
    /// CON: must be acknowledged.
    Confirmable,
    /// NON: no acknowledgement.
    NonConfirmable,
    /// ACK: acknowledges a CON, may carry a piggybacked response.
    Acknowledgement,
    /// RST: "I cannot process this".
    Reset,
}

/// One CoAP message, decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    /// CON, NON, ACK or RST.
    pub mtype: MessageType,
    /// Request method, response code, or 0.00 for an empty message.
    pub code: Code,
    /// Message ID.
    pub message_id: MessageId,
    /// Token, 0..=8 bytes.
    pub token: Token,
    /// Options, kept sorted by number (repeatable options keep their order).
    pub options: Options,
    /// Payload; empty when there is none.
    pub payload: Vec<u8>,
}
