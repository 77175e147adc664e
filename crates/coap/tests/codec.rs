//! The CoAP message codec against RFC 7252 §3: the LwM2M Register exchange byte for byte,
//! round trips across every option header form, and one rejection per message format error.

use coap::msg::MAX_OPTION_VALUE_LEN;
use coap::{Code, ContentFormat, DecodeError, Message, MessageId, MessageType, OptionNumber, Token};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

fn encoded(message: &Message) -> Vec<u8> {
    let mut buf = Vec::new();
    message.encode(&mut buf);
    buf
}

fn token() -> Token {
    Token::new(&[0xa1, 0xb2, 0xc3, 0xd4]).expect("4 bytes")
}

/// Asserts that `message` encodes to `bytes` and `bytes` decode to `message`.
fn assert_wire(message: &Message, bytes: &[u8]) {
    assert_eq!(hex::encode(encoded(message)), hex::encode(bytes));
    assert_eq!(Message::decode(bytes).as_ref(), Ok(message));
}

fn assert_round_trip(message: &Message) {
    let bytes = encoded(message);
    assert_eq!(bytes.len(), message.encoded_len());
    assert_eq!(Message::decode(&bytes).as_ref(), Ok(message));
}

// ---------------------------------------------------------------------------------------------
// lwm2m-notes §1.1 worked example: Register and its piggybacked answer.

const REGISTER: &str = concat!(
    "44 02 12 34 a1 b2 c3 d4",
    "b2 72 64",
    "11 28",
    "36 65 70 3d 67 77 31",
    "06 6c 74 3d 33 30 30",
    "09 6c 77 6d 32 6d 3d 31 2e 31",
    "ff 3c 2f 31 2f 30 3e 2c 3c 2f 33 2f 30 3e 2c 3c 2f 32 35 2f 30 3e",
);

const REGISTER_ANSWER: &str = "64 41 12 34 a1 b2 c3 d4 82 72 64 04 35 61 33 66";

fn unhex(spaced: &str) -> Vec<u8> {
    hex::decode(spaced.replace(' ', "")).expect("test vector is hex")
}

fn register_request() -> Message {
    let mut m = Message::new(MessageType::Confirmable, Code::POST, MessageId(0x1234), token());
    m.options.set_uri_path("/rd");
    m.options.set_uint(OptionNumber::CONTENT_FORMAT, u32::from(ContentFormat::LINK_FORMAT.0));
    for query in ["ep=gw1", "lt=300", "lwm2m=1.1"] {
        m.options.push(OptionNumber::URI_QUERY, query.as_bytes());
    }
    m.payload = b"</1/0>,</3/0>,</25/0>".to_vec();
    m
}

#[test]
fn register_request_matches_the_worked_example_byte_for_byte() {
    assert_wire(&register_request(), &unhex(REGISTER));
}

#[test]
fn register_request_decodes_to_its_lwm2m_fields() {
    let m = Message::decode(&unhex(REGISTER)).expect("valid");
    assert_eq!(m.mtype, MessageType::Confirmable);
    assert_eq!(m.code, Code::POST);
    assert_eq!(m.message_id, MessageId(0x1234));
    assert_eq!(m.token, token());
    assert_eq!(m.options.uri_path(), ["rd"]);
    assert_eq!(m.options.uri_query(), ["ep=gw1", "lt=300", "lwm2m=1.1"]);
    assert_eq!(m.options.content_format(), Some(ContentFormat::LINK_FORMAT));
    assert_eq!(m.payload, b"</1/0>,</3/0>,</25/0>");
    assert_eq!(m.options.first_unrecognized_critical(), None);
}

#[test]
fn piggybacked_created_answer_matches_the_worked_example_byte_for_byte() {
    let mut m = Message::new(MessageType::Acknowledgement, Code::CREATED, MessageId(0x1234), token());
    m.options.push(OptionNumber::LOCATION_PATH, b"rd".as_slice());
    m.options.push(OptionNumber::LOCATION_PATH, b"5a3f".as_slice());
    assert_wire(&m, &unhex(REGISTER_ANSWER));
}

#[test]
fn peek_header_reads_type_code_and_message_id() {
    assert_eq!(Message::peek_header(&unhex(REGISTER)), Some((MessageType::Confirmable, Code::POST, MessageId(0x1234))));
    assert_eq!(Message::peek_header(&[0x44, 0x02, 0x12]), None);
    assert_eq!(Message::peek_header(&[0x84, 0x02, 0x12, 0x34]), None);
}

// ---------------------------------------------------------------------------------------------
// Round trips.

#[test]
fn empty_messages_round_trip() {
    for m in [Message::empty_ack(MessageId(1)), Message::reset(MessageId(0xffff)), Message::ping(MessageId(0))] {
        assert_eq!(encoded(&m).len(), 4);
        assert_round_trip(&m);
    }
}

#[test]
fn every_message_type_round_trips() {
    for mtype in
        [MessageType::Confirmable, MessageType::NonConfirmable, MessageType::Acknowledgement, MessageType::Reset]
    {
        assert_round_trip(&Message::new(mtype, Code::CONTENT, MessageId(42), token()));
    }
}

#[test]
fn eight_byte_token_round_trips() {
    let token = Token::new(&[1, 2, 3, 4, 5, 6, 7, 8]).expect("8 bytes");
    let m = Message::new(MessageType::NonConfirmable, Code::GET, MessageId(3), token);
    let bytes = encoded(&m);
    assert_eq!(bytes[0], 0x58);
    assert_round_trip(&m);
}

#[test]
fn delta_thirteen_uses_one_extended_byte() {
    // Option 13 after nothing: nibble 13, extended 0.
    let mut m = Message::new(MessageType::Confirmable, Code::GET, MessageId(1), Token::EMPTY);
    m.options.push(OptionNumber(13), b"x".as_slice());
    assert_wire(&m, &[0x40, 0x01, 0x00, 0x01, 0xd1, 0x00, b'x']);
}

#[test]
fn delta_268_and_269_straddle_the_two_byte_form() {
    let mut m = Message::new(MessageType::Confirmable, Code::GET, MessageId(1), Token::EMPTY);
    m.options.push(OptionNumber(268), Vec::new());
    m.options.push(OptionNumber(268 + 269), Vec::new());
    assert_wire(&m, &[0x40, 0x01, 0x00, 0x01, 0xd0, 0xff, 0xe0, 0x00, 0x00]);
}

#[test]
fn highest_option_number_round_trips() {
    let mut m = Message::new(MessageType::Confirmable, Code::GET, MessageId(1), Token::EMPTY);
    m.options.push(OptionNumber(65535), b"max".as_slice());
    // 65535 - 269 = 0xfef2.
    assert_wire(&m, &[0x40, 0x01, 0x00, 0x01, 0xe3, 0xfe, 0xf2, b'm', b'a', b'x']);
}

#[test]
fn option_lengths_use_the_shortest_form() {
    for (len, header) in [
        (0usize, &[0x60][..]),
        (12, &[0x6c]),
        (13, &[0x6d, 0x00]),
        (268, &[0x6d, 0xff]),
        (269, &[0x6e, 0x00, 0x00]),
        (1000, &[0x6e, 0x02, 0xdb]),
        (MAX_OPTION_VALUE_LEN, &[0x6e, 0xff, 0xff]),
    ] {
        let mut m = Message::new(MessageType::Confirmable, Code::PUT, MessageId(1), Token::EMPTY);
        m.options.push(OptionNumber::OBSERVE, vec![0x5a; len]);
        let bytes = encoded(&m);
        assert_eq!(&bytes[4..4 + header.len()], header, "length {len}");
        assert_eq!(bytes.len(), 4 + header.len() + len);
        assert_round_trip(&m);
    }
}

#[test]
fn repeated_options_keep_their_order() {
    let mut m = Message::new(MessageType::Confirmable, Code::GET, MessageId(1), Token::EMPTY);
    for seg in ["z", "a", "m"] {
        m.options.push(OptionNumber::URI_PATH, seg.as_bytes());
    }
    let decoded = Message::decode(&encoded(&m)).expect("valid");
    assert_eq!(decoded.options.uri_path(), ["z", "a", "m"]);
}

#[test]
fn options_pushed_out_of_order_are_written_ascending() {
    let mut m = Message::new(MessageType::Confirmable, Code::GET, MessageId(1), Token::EMPTY);
    m.options.push(OptionNumber::URI_QUERY, b"q".as_slice());
    m.options.push(OptionNumber::URI_PATH, b"p".as_slice());
    m.options.push(OptionNumber::OBSERVE, Vec::new());
    // Observe 6 (delta 6), Uri-Path 11 (delta 5), Uri-Query 15 (delta 4).
    assert_wire(&m, &[0x40, 0x01, 0x00, 0x01, 0x60, 0x51, b'p', 0x41, b'q']);
}

#[test]
fn empty_payload_has_no_marker() {
    let m = Message::new(MessageType::Acknowledgement, Code::CHANGED, MessageId(5), Token::EMPTY);
    assert_eq!(encoded(&m), [0x60, 0x44, 0x00, 0x05]);
}

#[test]
fn hundred_kilobyte_payload_round_trips() {
    let mut m = Message::new(MessageType::NonConfirmable, Code::CONTENT, MessageId(9), token());
    m.options.set_uint(OptionNumber::CONTENT_FORMAT, 42);
    m.payload = (0..100_000u32).map(|i| (i % 251) as u8).collect();
    assert_round_trip(&m);
}

#[test]
fn payload_starting_with_ff_round_trips() {
    let mut m = Message::new(MessageType::NonConfirmable, Code::CONTENT, MessageId(9), Token::EMPTY);
    m.payload = vec![0xff, 0xff];
    assert_wire(&m, &[0x50, 0x45, 0x00, 0x09, 0xff, 0xff, 0xff]);
}

#[test]
fn encode_appends_to_the_buffer() {
    let mut buf = vec![0xde, 0xad];
    Message::reset(MessageId(1)).encode(&mut buf);
    assert_eq!(buf, [0xde, 0xad, 0x70, 0x00, 0x00, 0x01]);
}

#[test]
fn unknown_codes_in_allowed_classes_round_trip() {
    for code in [Code::new(0, 31), Code::new(2, 17), Code::new(3, 1), Code::new(4, 31), Code::new(5, 9)] {
        assert_round_trip(&Message::new(MessageType::Confirmable, code, MessageId(1), token()));
    }
}

fn random_message(rng: &mut ChaCha8Rng) -> Message {
    let mtype = MessageType::from_bits(rng.random_range(0..4));
    let class = [0u8, 2, 3, 4, 5][rng.random_range(0..5)];
    let code = Code::new(class, rng.random_range(if class == 0 { 1..32 } else { 0..32 }));
    let tkl = rng.random_range(0..=8);
    let token_bytes: Vec<u8> = (0..tkl).map(|_| rng.random()).collect();
    let mut m = Message::new(mtype, code, MessageId(rng.random()), Token::new(&token_bytes).expect("<= 8"));
    for _ in 0..rng.random_range(0..12) {
        let number = match rng.random_range(0..3) {
            0 => rng.random_range(0..16),
            1 => rng.random_range(0..600),
            _ => rng.random(),
        };
        let len = match rng.random_range(0..4) {
            0 => 0,
            1 => rng.random_range(0..16),
            2 => rng.random_range(0..300),
            _ => rng.random_range(0..2000),
        };
        m.options.push(OptionNumber(number), (0..len).map(|_| rng.random()).collect::<Vec<u8>>());
    }
    if rng.random_bool(0.7) {
        let len = rng.random_range(1..3000);
        m.payload = (0..len).map(|_| rng.random()).collect();
    }
    m
}

#[test]
fn seeded_random_messages_round_trip() {
    let mut rng = ChaCha8Rng::seed_from_u64(0x7252);
    for _ in 0..2_000 {
        let m = random_message(&mut rng);
        let bytes = encoded(&m);
        assert_eq!(bytes.len(), m.encoded_len());
        let decoded = Message::decode(&bytes).unwrap_or_else(|e| panic!("{e} for {m:?}"));
        assert_eq!(decoded, m);
        assert_eq!(encoded(&decoded), bytes);
    }
}

#[test]
fn seeded_random_truncations_fail_without_panicking() {
    let mut rng = ChaCha8Rng::seed_from_u64(7641);
    for _ in 0..300 {
        let m = random_message(&mut rng);
        let bytes = encoded(&m);
        for cut in 0..bytes.len().min(64) {
            // Every strict prefix is either a valid shorter message or a format error.
            if let Ok(shorter) = Message::decode(&bytes[..cut]) {
                assert_eq!(encoded(&shorter), &bytes[..cut]);
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// One rejection per RFC 7252 message format error.

fn decode_err(bytes: &[u8]) -> DecodeError {
    match Message::decode(bytes) {
        Ok(m) => panic!("{} decoded to {m:?}", hex::encode(bytes)),
        Err(e) => e,
    }
}

#[test]
fn datagram_shorter_than_four_bytes_is_rejected() {
    let header = [0x40, 0x01, 0x00];
    for len in 0..=header.len() {
        assert_eq!(decode_err(&header[..len]), DecodeError::TooShort { len });
    }
}

#[test]
fn version_other_than_one_is_rejected() {
    for (first, version) in [(0x00, 0), (0x80, 2), (0xc0, 3)] {
        let err = decode_err(&[first, 0x01, 0x00, 0x01]);
        assert_eq!(err, DecodeError::UnknownVersion { version });
        assert!(!err.has_header());
    }
}

#[test]
fn token_lengths_nine_to_fifteen_are_rejected() {
    for tkl in 9u8..=15 {
        let mut bytes = vec![0x40 | tkl, 0x01, 0x00, 0x01];
        bytes.extend_from_slice(&[0; 15]);
        let err = decode_err(&bytes);
        assert_eq!(err, DecodeError::ReservedTokenLength { tkl });
        assert!(err.has_header());
    }
}

#[test]
fn truncated_token_is_rejected() {
    assert_eq!(decode_err(&[0x48, 0x01, 0x00, 0x01, 1, 2, 3]), DecodeError::TruncatedToken { tkl: 8, available: 3 });
}

#[test]
fn option_delta_nibble_fifteen_is_rejected() {
    let err = decode_err(&[0x40, 0x01, 0x00, 0x01, 0xb1, b'a', 0xf0]);
    assert_eq!(err, DecodeError::ReservedOptionDelta { offset: 6 });
    assert_eq!(err.offset(), 6);
}

#[test]
fn option_length_nibble_fifteen_is_rejected() {
    assert_eq!(decode_err(&[0x40, 0x01, 0x00, 0x01, 0xbf]), DecodeError::ReservedOptionLength { offset: 4 });
    assert_eq!(decode_err(&[0x40, 0x01, 0x00, 0x01, 0x0f, 0x00]), DecodeError::ReservedOptionLength { offset: 4 });
}

#[test]
fn truncated_extended_delta_is_rejected() {
    assert_eq!(
        decode_err(&[0x40, 0x01, 0x00, 0x01, 0xd0]),
        DecodeError::TruncatedOptionHeader { offset: 4, missing: 1 }
    );
    assert_eq!(
        decode_err(&[0x40, 0x01, 0x00, 0x01, 0xe0, 0x01]),
        DecodeError::TruncatedOptionHeader { offset: 4, missing: 1 }
    );
}

#[test]
fn truncated_extended_length_is_rejected() {
    assert_eq!(
        decode_err(&[0x40, 0x01, 0x00, 0x01, 0xde, 0x00]),
        DecodeError::TruncatedOptionHeader { offset: 4, missing: 2 }
    );
}

#[test]
fn truncated_option_value_is_rejected() {
    assert_eq!(
        decode_err(&[0x40, 0x01, 0x00, 0x01, 0xb4, b'r', b'd']),
        DecodeError::TruncatedOptionValue { offset: 5, number: 11, len: 4, available: 2 }
    );
    // A length of 65804 announced in a tiny datagram allocates nothing and fails.
    assert_eq!(
        decode_err(&[0x40, 0x01, 0x00, 0x01, 0x1e, 0xff, 0xff, 0]),
        DecodeError::TruncatedOptionValue { offset: 7, number: 1, len: MAX_OPTION_VALUE_LEN, available: 1 }
    );
}

#[test]
fn option_number_past_65535_is_rejected() {
    // 65535 via delta 0xfef2 + 269, then one more.
    assert_eq!(
        decode_err(&[0x40, 0x01, 0x00, 0x01, 0xe0, 0xfe, 0xf2, 0x10]),
        DecodeError::OptionNumberOverflow { offset: 7, number: 65536 }
    );
    // Two maximal deltas.
    assert_eq!(
        decode_err(&[0x40, 0x01, 0x00, 0x01, 0xe0, 0xff, 0xff, 0xe0, 0xff, 0xff]),
        DecodeError::OptionNumberOverflow { offset: 4, number: 65804 }
    );
}

#[test]
fn payload_marker_without_payload_is_rejected() {
    assert_eq!(decode_err(&[0x40, 0x01, 0x00, 0x01, 0xff]), DecodeError::EmptyPayload { offset: 4 });
    assert_eq!(decode_err(&[0x41, 0x01, 0x00, 0x01, 0x77, 0x60, 0xff]), DecodeError::EmptyPayload { offset: 6 });
}

#[test]
fn empty_message_with_token_is_rejected() {
    let err = decode_err(&[0x41, 0x00, 0x00, 0x01, 0x77]);
    assert_eq!(err, DecodeError::NonEmptyEmptyMessage { extra: 1 });
    assert_eq!(err.offset(), 4);
}

#[test]
fn empty_message_with_options_is_rejected() {
    assert_eq!(decode_err(&[0x60, 0x00, 0x00, 0x01, 0x60]), DecodeError::NonEmptyEmptyMessage { extra: 1 });
}

#[test]
fn empty_message_with_payload_is_rejected() {
    assert_eq!(decode_err(&[0x70, 0x00, 0x00, 0x01, 0xff, 0x01]), DecodeError::NonEmptyEmptyMessage { extra: 2 });
}

#[test]
fn codes_in_reserved_classes_are_rejected() {
    for class in [1u8, 6, 7] {
        for detail in [0u8, 5, 31] {
            let code = Code::new(class, detail);
            let err = decode_err(&[0x40, code.0, 0x00, 0x01]);
            assert_eq!(err, DecodeError::ReservedCodeClass { code });
            assert_eq!(err.offset(), 1);
        }
    }
}

#[test]
fn malformed_confirmable_still_shows_its_header_for_a_reset() {
    let bytes = [0x40, 0x01, 0xab, 0xcd, 0xff];
    assert!(decode_err(&bytes).has_header());
    assert_eq!(Message::peek_header(&bytes), Some((MessageType::Confirmable, Code::GET, MessageId(0xabcd))));
}

#[test]
fn error_messages_say_what_and_where() {
    assert_eq!(
        DecodeError::TruncatedOptionValue { offset: 5, number: 11, len: 4, available: 2 }.to_string(),
        "option 11 value of 4 bytes at byte 5 is truncated: 2 bytes left"
    );
    assert_eq!(
        DecodeError::EmptyPayload { offset: 4 }.to_string(),
        "payload marker at byte 4 is followed by no payload"
    );
}
