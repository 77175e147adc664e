//! Wire encoding and decoding of [`Message`] (RFC 7252 §3). To be implemented.

use super::Message;

/// Why a datagram is not a well-formed CoAP message (RFC 7252 §3 "message format error").
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    /// Fewer than 4 bytes.
    #[error("datagram of {len} bytes is shorter than the 4-byte header")]
    TooShort {
        /// Datagram length.
        len: usize,
    },
}

impl Message {
    /// Decodes one datagram.
    pub fn decode(_datagram: &[u8]) -> Result<Self, DecodeError> {
        unimplemented!("codec")
    }

    /// Appends the wire form to `buf`.
    pub fn encode(&self, _buf: &mut Vec<u8>) {
        unimplemented!("codec")
    }
}
