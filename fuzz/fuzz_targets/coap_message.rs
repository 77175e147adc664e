//! Any datagram: decoding never panics, and whatever decodes re-encodes to the same bytes and
//! decodes again to the same message (the RFC 7252 option header encoding is unique).
#![no_main]

use coap::Message;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|datagram: &[u8]| {
    let header = Message::peek_header(datagram);
    match Message::decode(datagram) {
        Ok(message) => {
            assert!(header.is_some(), "a decoded message has a readable header");
            let mut bytes = Vec::new();
            message.try_encode(&mut bytes).expect("a decoded message is encodable");
            assert_eq!(bytes.len(), message.encoded_len());
            assert_eq!(bytes, datagram, "re-encoding is byte-exact");
            assert_eq!(Message::decode(&bytes).as_ref(), Ok(&message));
        }
        Err(error) => {
            assert!(error.offset() <= datagram.len(), "{error} points past the datagram");
            assert_eq!(error.has_header(), header.is_some(), "{error}");
        }
    }
});
