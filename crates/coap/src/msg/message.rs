//! Constructors for [`Message`]: requests and responses built by the endpoint, and the Empty
//! messages of RFC 7252 §4 (empty ACK, Reset, CoAP ping).

use super::{Code, Message, MessageId, MessageType, Options, Token};

impl Message {
    /// A message without options or payload.
    pub fn new(mtype: MessageType, code: Code, message_id: MessageId, token: Token) -> Self {
        Self { mtype, code, message_id, token, options: Options::new(), payload: Vec::new() }
    }

    /// An Empty ACK (RFC 7252 §4.2): acknowledges a Confirmable message whose response is
    /// sent separately.
    pub fn empty_ack(message_id: MessageId) -> Self {
        Self::new(MessageType::Acknowledgement, Code::EMPTY, message_id, Token::EMPTY)
    }

    /// A Reset (RFC 7252 §4.2, §4.3): rejects the message with this ID.
    pub fn reset(message_id: MessageId) -> Self {
        Self::new(MessageType::Reset, Code::EMPTY, message_id, Token::EMPTY)
    }

    /// A CoAP ping (RFC 7252 §4.3): an Empty Confirmable message, answered with a Reset.
    pub fn ping(message_id: MessageId) -> Self {
        Self::new(MessageType::Confirmable, Code::EMPTY, message_id, Token::EMPTY)
    }

    /// Whether this is an Empty message (code 0.00, RFC 7252 §4.1).
    pub fn is_empty(&self) -> bool {
        self.code.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_messages_encode_to_their_four_byte_header() {
        let mut buf = Vec::new();
        Message::empty_ack(MessageId(0x1234)).encode(&mut buf);
        Message::reset(MessageId(0xbeef)).encode(&mut buf);
        Message::ping(MessageId(1)).encode(&mut buf);
        assert_eq!(buf, [0x60, 0, 0x12, 0x34, 0x70, 0, 0xbe, 0xef, 0x40, 0, 0, 1]);
    }

    #[test]
    fn new_message_has_no_options_and_no_payload() {
        let m = Message::new(MessageType::NonConfirmable, Code::CONTENT, MessageId(9), Token::new(&[1]).unwrap());
        assert!(m.options.is_empty());
        assert!(m.payload.is_empty());
        assert!(!m.is_empty());
        assert!(Message::reset(MessageId(9)).is_empty());
    }
}
