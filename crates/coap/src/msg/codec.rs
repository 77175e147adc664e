//! Wire encoding and decoding of [`Message`] over UDP (RFC 7252 §3, §3.1, §4.1).
//!
//! Decoding is strict: every "message format error" of §3 (and the reserved code classes of
//! §12.1) is a [`DecodeError`] naming what is wrong and the byte offset where it was found.
//! Option semantics (unknown critical options, repeated options, value formats) are left to
//! the caller; [`Options::first_unrecognized_critical`](super::Options::first_unrecognized_critical)
//! helps with §5.4.1. Encoding writes options in ascending order with the shortest delta and
//! length form, and no payload marker for an empty payload.
//!
//! Invariant: decoding never panics and allocates only for bytes that are present in the
//! datagram (option values and payload are copied, never pre-sized from a length field), so the
//! memory a datagram costs is bounded by its own length. Because the option header encoding is
//! unique (nibble 13 means 13..=268, nibble 14 means 269..=65804), every datagram that decodes
//! re-encodes to exactly the same bytes.

use super::{Code, Message, MessageId, MessageType, OptionNumber, Token};

/// Length of the fixed header: Ver/T/TKL, Code, Message ID.
const HEADER_LEN: usize = 4;
/// The only protocol version (RFC 7252 §3).
const VERSION: u8 = 1;
/// The byte that separates options from a non-empty payload.
const PAYLOAD_MARKER: u8 = 0xff;
/// Nibble value announcing one extended byte holding `value - 13`.
const EXT8: u8 = 13;
/// Nibble value announcing two extended bytes holding `value - 269`.
const EXT16: u8 = 14;
/// Reserved nibble value (the payload marker when both nibbles hold it).
const RESERVED_NIBBLE: u8 = 15;
/// Smallest value encoded with the one-byte extension.
const EXT8_BASE: u32 = 13;
/// Smallest value encoded with the two-byte extension.
const EXT16_BASE: u32 = 269;

/// The longest option value the wire format can express (two extended bytes: 65535 + 269).
pub const MAX_OPTION_VALUE_LEN: usize = 0xffff + EXT16_BASE as usize;

/// Why a datagram is not a well-formed CoAP message (RFC 7252 §3 "message format error").
///
/// Every variant after [`DecodeError::TooShort`] and [`DecodeError::UnknownVersion`] was found
/// after a readable header; [`Message::peek_header`] returns it so an endpoint can reject a
/// malformed Confirmable message with a Reset (RFC 7252 §4.2).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    /// Fewer than 4 bytes.
    #[error("datagram of {len} bytes is shorter than the 4-byte header")]
    TooShort {
        /// Datagram length.
        len: usize,
    },
    /// The version field is not 1 (RFC 7252 §3: such messages are silently ignored).
    #[error("version {version} at byte 0 is not CoAP version 1")]
    UnknownVersion {
        /// The 2-bit version field.
        version: u8,
    },
    /// Token length 9 to 15, reserved by RFC 7252 §3.
    #[error("token length {tkl} at byte 0 is reserved (at most 8)")]
    ReservedTokenLength {
        /// The TKL field.
        tkl: u8,
    },
    /// A code in class 1, 6 or 7, reserved by RFC 7252 §12.1.
    #[error("code {code} at byte 1 is in a reserved class")]
    ReservedCodeClass {
        /// The code byte.
        code: Code,
    },
    /// An Empty message (0.00) with bytes after the message ID (RFC 7252 §4.1).
    #[error("empty message (code 0.00) has {extra} bytes after the header at byte 4")]
    NonEmptyEmptyMessage {
        /// Bytes after the 4-byte header.
        extra: usize,
    },
    /// The datagram ends inside the token.
    #[error("token of {tkl} bytes at byte 4 is truncated: {available} bytes left")]
    TruncatedToken {
        /// The TKL field.
        tkl: u8,
        /// Bytes present after the header.
        available: usize,
    },
    /// Option delta nibble 15 in a byte that is not the payload marker.
    #[error("option delta 15 at byte {offset} is reserved")]
    ReservedOptionDelta {
        /// Offset of the option header byte.
        offset: usize,
    },
    /// Option length nibble 15.
    #[error("option length 15 at byte {offset} is reserved")]
    ReservedOptionLength {
        /// Offset of the option header byte.
        offset: usize,
    },
    /// The datagram ends inside the extended delta or length bytes of an option.
    #[error("option header at byte {offset} is truncated: {missing} extended bytes missing")]
    TruncatedOptionHeader {
        /// Offset of the option header byte.
        offset: usize,
        /// How many extended bytes are missing.
        missing: usize,
    },
    /// The datagram ends inside an option value.
    #[error("option {number} value of {len} bytes at byte {offset} is truncated: {available} bytes left")]
    TruncatedOptionValue {
        /// Offset of the first value byte.
        offset: usize,
        /// The option number.
        number: u16,
        /// Announced value length.
        len: usize,
        /// Bytes present.
        available: usize,
    },
    /// The running option number passes 65535.
    #[error("option number {number} at byte {offset} is above 65535")]
    OptionNumberOverflow {
        /// Offset of the option header byte.
        offset: usize,
        /// The number the delta leads to.
        number: u32,
    },
    /// A payload marker with no payload after it (RFC 7252 §3).
    #[error("payload marker at byte {offset} is followed by no payload")]
    EmptyPayload {
        /// Offset of the payload marker.
        offset: usize,
    },
}

impl DecodeError {
    /// The byte offset in the datagram where the error was found.
    pub fn offset(&self) -> usize {
        match *self {
            Self::TooShort { .. } | Self::UnknownVersion { .. } | Self::ReservedTokenLength { .. } => 0,
            Self::ReservedCodeClass { .. } => 1,
            Self::NonEmptyEmptyMessage { .. } | Self::TruncatedToken { .. } => HEADER_LEN,
            Self::ReservedOptionDelta { offset }
            | Self::ReservedOptionLength { offset }
            | Self::TruncatedOptionHeader { offset, .. }
            | Self::TruncatedOptionValue { offset, .. }
            | Self::OptionNumberOverflow { offset, .. }
            | Self::EmptyPayload { offset } => offset,
        }
    }

    /// Whether the 4-byte header was readable, so a Confirmable message can be answered with
    /// a Reset (RFC 7252 §4.2). False for short datagrams and unknown versions, which RFC 7252
    /// §3 says to ignore silently.
    pub fn has_header(&self) -> bool {
        !matches!(self, Self::TooShort { .. } | Self::UnknownVersion { .. })
    }
}

/// Why a [`Message`] cannot be written to the wire.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EncodeError {
    /// An option value longer than [`MAX_OPTION_VALUE_LEN`].
    #[error("option {number} value of {len} bytes is longer than {max}", max = MAX_OPTION_VALUE_LEN)]
    OptionTooLong {
        /// The option number.
        number: u16,
        /// The value length.
        len: usize,
    },
}

impl MessageType {
    /// The 2-bit T field.
    pub const fn to_bits(self) -> u8 {
        match self {
            Self::Confirmable => 0,
            Self::NonConfirmable => 1,
            Self::Acknowledgement => 2,
            Self::Reset => 3,
        }
    }

    /// The type from the low two bits of `bits` (higher bits are ignored).
    pub const fn from_bits(bits: u8) -> Self {
        match bits & 0b11 {
            0 => Self::Confirmable,
            1 => Self::NonConfirmable,
            2 => Self::Acknowledgement,
            _ => Self::Reset,
        }
    }
}

impl Message {
    /// Reads the fixed header of a datagram without validating the rest: type, code and
    /// message ID. `None` when the datagram is shorter than 4 bytes or not version 1.
    ///
    /// Lets an endpoint answer a datagram that [`Message::decode`] rejected: a malformed
    /// Confirmable message is rejected with a Reset carrying its message ID (RFC 7252 §4.2).
    pub fn peek_header(datagram: &[u8]) -> Option<(MessageType, Code, MessageId)> {
        let [first, code, mid_hi, mid_lo, ..] = *datagram else {
            return None;
        };
        if first >> 6 != VERSION {
            return None;
        }
        Some((MessageType::from_bits(first >> 4), Code(code), MessageId(u16::from_be_bytes([mid_hi, mid_lo]))))
    }

    /// Decodes one datagram (RFC 7252 §3), rejecting every message format error.
    pub fn decode(datagram: &[u8]) -> Result<Self, DecodeError> {
        let [first, code, mid_hi, mid_lo, ref rest @ ..] = *datagram else {
            return Err(DecodeError::TooShort { len: datagram.len() });
        };
        let version = first >> 6;
        if version != VERSION {
            return Err(DecodeError::UnknownVersion { version });
        }
        let mtype = MessageType::from_bits(first >> 4);
        let tkl = first & 0x0f;
        if tkl > 8 {
            return Err(DecodeError::ReservedTokenLength { tkl });
        }
        let code = Code(code);
        if matches!(code.class(), 1 | 6 | 7) {
            return Err(DecodeError::ReservedCodeClass { code });
        }
        if code.is_empty() && !rest.is_empty() {
            return Err(DecodeError::NonEmptyEmptyMessage { extra: rest.len() });
        }
        let message_id = MessageId(u16::from_be_bytes([mid_hi, mid_lo]));

        let tkl_len = usize::from(tkl);
        let (Some(token_bytes), Some(mut rest)) = (rest.get(..tkl_len), rest.get(tkl_len..)) else {
            return Err(DecodeError::TruncatedToken { tkl, available: rest.len() });
        };
        let token = Token::new(token_bytes).ok_or(DecodeError::ReservedTokenLength { tkl })?;

        let mut message = Self::new(mtype, code, message_id, token);
        let mut number: u32 = 0;
        while let Some((&byte, after)) = rest.split_first() {
            let offset = datagram.len() - rest.len();
            if byte == PAYLOAD_MARKER {
                if after.is_empty() {
                    return Err(DecodeError::EmptyPayload { offset });
                }
                message.payload = after.to_vec();
                break;
            }
            let (delta_nibble, len_nibble) = (byte >> 4, byte & 0x0f);
            if delta_nibble == RESERVED_NIBBLE {
                return Err(DecodeError::ReservedOptionDelta { offset });
            }
            if len_nibble == RESERVED_NIBBLE {
                return Err(DecodeError::ReservedOptionLength { offset });
            }
            let mut cursor = after;
            let delta = read_extended(delta_nibble, &mut cursor)
                .map_err(|missing| DecodeError::TruncatedOptionHeader { offset, missing })?;
            let len = read_extended(len_nibble, &mut cursor)
                .map_err(|missing| DecodeError::TruncatedOptionHeader { offset, missing })?;
            number += delta;
            let Ok(option) = u16::try_from(number) else {
                return Err(DecodeError::OptionNumberOverflow { offset, number });
            };
            let value_offset = datagram.len() - cursor.len();
            // `len` is at most 65804, so the conversion cannot fail on any real target.
            let len = usize::try_from(len).unwrap_or(usize::MAX);
            let (Some(value), Some(next)) = (cursor.get(..len), cursor.get(len..)) else {
                return Err(DecodeError::TruncatedOptionValue {
                    offset: value_offset,
                    number: option,
                    len,
                    available: cursor.len(),
                });
            };
            message.options.push(OptionNumber(option), value);
            rest = next;
        }
        Ok(message)
    }

    /// Appends the wire form to `buf`: header, token, options in ascending order with the
    /// shortest delta/length encoding, then the payload marker and payload if the payload is
    /// not empty.
    ///
    /// An option value longer than [`MAX_OPTION_VALUE_LEN`] cannot be expressed on the wire;
    /// that is a caller bug (checked in debug builds) and the value is cut to that length.
    /// Use [`Message::try_encode`] to refuse such a message instead.
    pub fn encode(&self, buf: &mut Vec<u8>) {
        debug_assert!(self.check_encodable().is_ok(), "{:?}", self.check_encodable());
        self.write(buf);
    }

    /// Like [`Message::encode`], but refuses a message that the wire format cannot express and
    /// then leaves `buf` untouched.
    pub fn try_encode(&self, buf: &mut Vec<u8>) -> Result<(), EncodeError> {
        self.check_encodable()?;
        self.write(buf);
        Ok(())
    }

    /// The exact number of bytes [`Message::encode`] appends.
    pub fn encoded_len(&self) -> usize {
        let mut len = HEADER_LEN + self.token.len();
        let mut previous = 0u16;
        for (number, value) in self.options.iter() {
            let value_len = value.len().min(MAX_OPTION_VALUE_LEN);
            let delta = u32::from(number.0.saturating_sub(previous));
            len += 1 + extension_len(delta) + extension_len(value_len as u32) + value_len;
            previous = number.0;
        }
        if !self.payload.is_empty() {
            len += 1 + self.payload.len();
        }
        len
    }

    fn check_encodable(&self) -> Result<(), EncodeError> {
        match self.options.iter().find(|(_, value)| value.len() > MAX_OPTION_VALUE_LEN) {
            Some((number, value)) => Err(EncodeError::OptionTooLong { number: number.0, len: value.len() }),
            None => Ok(()),
        }
    }

    fn write(&self, buf: &mut Vec<u8>) {
        buf.reserve(self.encoded_len());
        // Token::len() is at most 8, so it fits the TKL nibble.
        let tkl = (self.token.len() & 0x0f) as u8;
        buf.push((VERSION << 6) | (self.mtype.to_bits() << 4) | tkl);
        buf.push(self.code.0);
        buf.extend_from_slice(&self.message_id.0.to_be_bytes());
        buf.extend_from_slice(self.token.as_bytes());

        // Options iterate in ascending number order (an invariant of `Options`), so the
        // subtraction never underflows; `saturating_sub` keeps that true even if it did not.
        let mut previous = 0u16;
        for (number, value) in self.options.iter() {
            let value = value.get(..MAX_OPTION_VALUE_LEN).unwrap_or(value);
            let delta = u32::from(number.0.saturating_sub(previous));
            // Bounded by MAX_OPTION_VALUE_LEN above, so it fits in u32.
            let len = value.len() as u32;
            let header_at = buf.len();
            buf.push(0);
            let delta_nibble = write_extended(delta, buf);
            let len_nibble = write_extended(len, buf);
            if let Some(header) = buf.get_mut(header_at) {
                *header = (delta_nibble << 4) | len_nibble;
            }
            buf.extend_from_slice(value);
            previous = number.0;
        }

        if !self.payload.is_empty() {
            buf.push(PAYLOAD_MARKER);
            buf.extend_from_slice(&self.payload);
        }
    }
}

/// Reads the value of a delta or length nibble, consuming its extended bytes from `cursor`.
/// `Err` carries how many extended bytes are missing.
fn read_extended(nibble: u8, cursor: &mut &[u8]) -> Result<u32, usize> {
    match nibble {
        EXT8 => match **cursor {
            [b, ref rest @ ..] => {
                *cursor = rest;
                Ok(EXT8_BASE + u32::from(b))
            }
            [] => Err(1),
        },
        EXT16 => match **cursor {
            [hi, lo, ref rest @ ..] => {
                *cursor = rest;
                Ok(EXT16_BASE + u32::from(u16::from_be_bytes([hi, lo])))
            }
            ref partial => Err(2 - partial.len()),
        },
        small => Ok(u32::from(small)),
    }
}

/// Appends the extended bytes for `value` (at most [`MAX_OPTION_VALUE_LEN`]) and returns the
/// nibble announcing them.
fn write_extended(value: u32, buf: &mut Vec<u8>) -> u8 {
    if value < EXT8_BASE {
        // Below 13, so it fits a nibble.
        value as u8
    } else if value < EXT16_BASE {
        // Below 269, so `value - 13` fits one byte.
        buf.push((value - EXT8_BASE) as u8);
        EXT8
    } else {
        // Callers bound `value` by 65804, so `value - 269` fits two bytes.
        let ext = u16::try_from(value - EXT16_BASE).unwrap_or(u16::MAX);
        buf.extend_from_slice(&ext.to_be_bytes());
        EXT16
    }
}

/// How many extended bytes `value` needs.
fn extension_len(value: u32) -> usize {
    if value < EXT8_BASE {
        0
    } else if value < EXT16_BASE {
        1
    } else {
        2
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn encoded(message: &Message) -> Vec<u8> {
        let mut buf = Vec::new();
        message.encode(&mut buf);
        buf
    }

    #[test]
    fn extended_forms_switch_at_13_and_269() {
        for (value, nibble, ext) in [
            (0u32, 0u8, &[][..]),
            (12, 12, &[]),
            (13, 13, &[0]),
            (268, 13, &[255]),
            (269, 14, &[0, 0]),
            (65804, 14, &[0xff, 0xff]),
        ] {
            let mut buf = Vec::new();
            assert_eq!(write_extended(value, &mut buf), nibble, "value {value}");
            assert_eq!(buf, ext, "value {value}");
            assert_eq!(extension_len(value), ext.len());
            let mut cursor = buf.as_slice();
            assert_eq!(read_extended(nibble, &mut cursor), Ok(value));
            assert!(cursor.is_empty());
        }
    }

    #[test]
    fn read_extended_reports_missing_bytes() {
        assert_eq!(read_extended(EXT8, &mut &[][..]), Err(1));
        assert_eq!(read_extended(EXT16, &mut &[][..]), Err(2));
        assert_eq!(read_extended(EXT16, &mut &[1][..]), Err(1));
    }

    #[test]
    fn encoded_len_matches_encode() {
        let mut m = Message::new(MessageType::Confirmable, Code::PUT, MessageId(7), Token::new(&[1, 2, 3]).unwrap());
        m.options.push(OptionNumber::URI_PATH, vec![b'a'; 20]);
        m.options.push(OptionNumber(300), vec![b'b'; 300]);
        m.options.push(OptionNumber(65535), Vec::new());
        m.payload = vec![9; 1000];
        assert_eq!(m.encoded_len(), encoded(&m).len());
    }

    #[test]
    fn try_encode_refuses_an_option_value_the_wire_cannot_express() {
        let mut m = Message::new(MessageType::NonConfirmable, Code::GET, MessageId(1), Token::EMPTY);
        m.options.push(OptionNumber::URI_QUERY, vec![0; MAX_OPTION_VALUE_LEN + 1]);
        let mut buf = vec![0xaa];
        assert_eq!(
            m.try_encode(&mut buf),
            Err(EncodeError::OptionTooLong { number: 15, len: MAX_OPTION_VALUE_LEN + 1 })
        );
        assert_eq!(buf, [0xaa]);
    }

    #[test]
    fn try_encode_accepts_the_longest_option_value() {
        let mut m = Message::new(MessageType::NonConfirmable, Code::GET, MessageId(1), Token::EMPTY);
        m.options.push(OptionNumber::URI_QUERY, vec![7; MAX_OPTION_VALUE_LEN]);
        let mut buf = Vec::new();
        m.try_encode(&mut buf).expect("encodable");
        assert_eq!(Message::decode(&buf), Ok(m));
    }

    #[test]
    fn message_type_bits_round_trip() {
        for bits in 0..4 {
            assert_eq!(MessageType::from_bits(bits).to_bits(), bits);
        }
    }

    #[test]
    fn error_offsets_point_at_the_fault() {
        assert_eq!(DecodeError::ReservedCodeClass { code: Code(0x20) }.offset(), 1);
        assert_eq!(DecodeError::EmptyPayload { offset: 9 }.offset(), 9);
        assert!(!DecodeError::TooShort { len: 2 }.has_header());
        assert!(DecodeError::EmptyPayload { offset: 9 }.has_header());
    }
}
