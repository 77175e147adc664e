//! The few DTLS 1.2 wire structures the transport reads itself (RFC 6347 §4.1, §4.2.1, §4.2.2).
//!
//! OpenSSL does all real record processing. This module only looks at datagrams *before* any
//! per-peer state exists: it checks that a datagram is a well-formed sequence of DTLS records
//! (so junk is counted and dropped without touching OpenSSL), finds an unfragmented ClientHello
//! in the first record, builds the stateless HelloVerifyRequest answer, and rewrites a
//! ClientHello without its cookie (used to bring a fresh OpenSSL session to the state it would
//! have after its own cookie exchange). Every length is checked against the bytes that remain.

/// Record content types (RFC 6347 §4.1, RFC 5246 §6.2.1).
pub(crate) const CONTENT_CHANGE_CIPHER_SPEC: u8 = 20;
pub(crate) const CONTENT_ALERT: u8 = 21;
pub(crate) const CONTENT_HANDSHAKE: u8 = 22;
pub(crate) const CONTENT_APPLICATION_DATA: u8 = 23;

/// Handshake message types (RFC 6347 §4.3.2).
const HANDSHAKE_CLIENT_HELLO: u8 = 1;
const HANDSHAKE_HELLO_VERIFY_REQUEST: u8 = 3;

/// Record header: type(1) version(2) epoch(2) sequence_number(6) length(2).
pub(crate) const RECORD_HEADER_LEN: usize = 13;
/// Handshake header: msg_type(1) length(3) message_seq(2) fragment_offset(3) fragment_length(3).
const HANDSHAKE_HEADER_LEN: usize = 12;
/// Largest record body DTLS 1.2 allows (2^14 plaintext + 2048 expansion, RFC 5246 §6.2.3).
const MAX_RECORD_BODY: usize = (1 << 14) + 2048;
/// DTLS 1.0 version on the wire; RFC 6347 §4.2.1 says HelloVerifyRequest uses it.
const DTLS_1_0: [u8; 2] = [0xfe, 0xff];

/// Whether `datagram` is one or more complete DTLS records and nothing else.
///
/// Checks the content type, the major version byte (0xfe for every DTLS version) and that the
/// record lengths tile the datagram exactly.
pub(crate) fn is_well_formed(datagram: &[u8]) -> bool {
    let mut rest = datagram;
    if rest.is_empty() {
        return false;
    }
    while !rest.is_empty() {
        let Some(header) = rest.get(..RECORD_HEADER_LEN) else {
            return false;
        };
        let content = header[0];
        if !matches!(content, CONTENT_CHANGE_CIPHER_SPEC | CONTENT_ALERT | CONTENT_HANDSHAKE | CONTENT_APPLICATION_DATA)
        {
            return false;
        }
        if header[1] != 0xfe {
            return false;
        }
        let len = usize::from(u16::from_be_bytes([header[11], header[12]]));
        if len > MAX_RECORD_BODY {
            return false;
        }
        let Some(next) = rest.get(RECORD_HEADER_LEN + len..) else {
            return false;
        };
        rest = next;
    }
    true
}

/// An unfragmented ClientHello found in the first record of a datagram (RFC 6347 §4.2.2).
///
/// Borrowed fields point into the datagram.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ClientHello<'a> {
    /// Record-layer version field.
    pub(crate) record_version: [u8; 2],
    /// Record sequence number (48 bits).
    pub(crate) record_seq: u64,
    /// Handshake message_seq.
    pub(crate) message_seq: u16,
    /// client_version, random, session_id, cipher_suites, compression_methods: the parameters the
    /// cookie is bound to (everything but the cookie and the extensions).
    pub(crate) client_version: [u8; 2],
    pub(crate) random: &'a [u8],
    pub(crate) session_id: &'a [u8],
    pub(crate) cookie: &'a [u8],
    pub(crate) cipher_suites: &'a [u8],
    pub(crate) compression_methods: &'a [u8],
    /// The whole handshake body (after the 12-byte handshake header).
    body: &'a [u8],
    /// Offset of the cookie length byte inside `body`.
    cookie_len_at: usize,
}

/// A tiny bounded reader over a byte slice.
struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl<'a> Reader<'a> {
    fn new(bytes: &'a [u8]) -> Self {
        Self { bytes, at: 0 }
    }

    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        let end = self.at.checked_add(n)?;
        let out = self.bytes.get(self.at..end)?;
        self.at = end;
        Some(out)
    }

    fn u8(&mut self) -> Option<u8> {
        self.take(1).map(|b| b[0])
    }

    fn u16(&mut self) -> Option<u16> {
        self.take(2).map(|b| u16::from_be_bytes([b[0], b[1]]))
    }

    fn u24(&mut self) -> Option<usize> {
        self.take(3).map(|b| usize::from(b[0]) << 16 | usize::from(b[1]) << 8 | usize::from(b[2]))
    }

    fn u48(&mut self) -> Option<u64> {
        self.take(6).map(|b| b.iter().fold(0u64, |acc, &x| acc << 8 | u64::from(x)))
    }

    fn vec8(&mut self) -> Option<&'a [u8]> {
        let n = self.u8()?;
        self.take(usize::from(n))
    }

    fn vec16(&mut self) -> Option<&'a [u8]> {
        let n = self.u16()?;
        self.take(usize::from(n))
    }
}

impl<'a> ClientHello<'a> {
    /// Parses the first record of `datagram` as an epoch-0 handshake record holding one complete
    /// ClientHello. Returns `None` for anything else (other record types, other epochs,
    /// fragments, truncated or malformed bodies).
    pub(crate) fn parse(datagram: &'a [u8]) -> Option<Self> {
        let mut record = Reader::new(datagram);
        if record.u8()? != CONTENT_HANDSHAKE {
            return None;
        }
        let version = record.take(2)?;
        let record_version = [version[0], version[1]];
        if record.u16()? != 0 {
            return None; // epoch
        }
        let record_seq = record.u48()?;
        let record_body = record.vec16()?;

        let mut hs = Reader::new(record_body);
        if hs.u8()? != HANDSHAKE_CLIENT_HELLO {
            return None;
        }
        let length = hs.u24()?;
        let message_seq = hs.u16()?;
        let fragment_offset = hs.u24()?;
        let fragment_length = hs.u24()?;
        if fragment_offset != 0 || fragment_length != length {
            return None;
        }
        let body = hs.take(length)?;

        let mut b = Reader::new(body);
        let client_version = b.take(2)?;
        let random = b.take(32)?;
        let session_id = b.vec8()?;
        if session_id.len() > 32 {
            return None;
        }
        let cookie_len_at = b.at;
        let cookie = b.vec8()?;
        let cipher_suites = b.vec16()?;
        if cipher_suites.len() < 2 || cipher_suites.len() % 2 != 0 {
            return None;
        }
        let compression_methods = b.vec8()?;
        if compression_methods.is_empty() {
            return None;
        }
        // Extensions are optional; when present their block must be exactly the rest.
        if b.at != body.len() {
            let ext = b.vec16()?;
            let _ = ext;
            if b.at != body.len() {
                return None;
            }
        }
        Some(Self {
            record_version,
            record_seq,
            message_seq,
            client_version: [client_version[0], client_version[1]],
            random,
            session_id,
            cookie,
            cipher_suites,
            compression_methods,
            body,
            cookie_len_at,
        })
    }

    /// This ClientHello as a single-record datagram with an empty cookie, the given handshake
    /// `message_seq` and record sequence number `record_seq`.
    pub(crate) fn without_cookie(&self, message_seq: u16, record_seq: u64) -> Vec<u8> {
        let before = &self.body[..self.cookie_len_at];
        let after = &self.body[self.cookie_len_at + 1 + self.cookie.len()..];
        let body_len = before.len() + 1 + after.len();
        let mut out = Vec::with_capacity(RECORD_HEADER_LEN + HANDSHAKE_HEADER_LEN + body_len);
        push_record_header(
            &mut out,
            CONTENT_HANDSHAKE,
            self.record_version,
            record_seq,
            HANDSHAKE_HEADER_LEN + body_len,
        );
        push_handshake_header(&mut out, HANDSHAKE_CLIENT_HELLO, message_seq, body_len);
        out.extend_from_slice(before);
        out.push(0);
        out.extend_from_slice(after);
        out
    }
}

/// A HelloVerifyRequest record carrying `cookie` (RFC 6347 §4.2.1), sent statelessly.
///
/// The record sequence number is 0: the OpenSSL session created after a successful exchange
/// writes its ServerHello with a sequence number of at least 1, so the client never sees a
/// later record with a number it has already accepted.
pub(crate) fn hello_verify_request(cookie: &[u8]) -> Vec<u8> {
    debug_assert!(cookie.len() <= 255, "cookies are at most 255 bytes");
    let cookie_len = cookie.len().min(255);
    let body_len = 2 + 1 + cookie_len;
    let mut out = Vec::with_capacity(RECORD_HEADER_LEN + HANDSHAKE_HEADER_LEN + body_len);
    push_record_header(&mut out, CONTENT_HANDSHAKE, DTLS_1_0, 0, HANDSHAKE_HEADER_LEN + body_len);
    push_handshake_header(&mut out, HANDSHAKE_HELLO_VERIFY_REQUEST, 0, body_len);
    out.extend_from_slice(&DTLS_1_0);
    out.push(cookie_len as u8);
    out.extend_from_slice(&cookie[..cookie_len]);
    out
}

fn push_record_header(out: &mut Vec<u8>, content: u8, version: [u8; 2], seq: u64, len: usize) {
    out.push(content);
    out.extend_from_slice(&version);
    out.extend_from_slice(&[0, 0]); // epoch 0
    out.extend_from_slice(&seq.to_be_bytes()[2..]);
    out.extend_from_slice(&u16::try_from(len).unwrap_or(u16::MAX).to_be_bytes());
}

fn push_handshake_header(out: &mut Vec<u8>, msg_type: u8, message_seq: u16, len: usize) {
    let len24 = &u32::try_from(len).unwrap_or(u32::MAX).to_be_bytes()[1..];
    out.push(msg_type);
    out.extend_from_slice(len24);
    out.extend_from_slice(&message_seq.to_be_bytes());
    out.extend_from_slice(&[0, 0, 0]); // fragment_offset
    out.extend_from_slice(len24); // fragment_length
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A ClientHello as a DTLS 1.2 client sends it, with the given cookie and one extension.
    pub(crate) fn client_hello(cookie: &[u8], message_seq: u16, record_seq: u64) -> Vec<u8> {
        let mut body = vec![0xfe, 0xfd];
        body.extend_from_slice(&[7; 32]);
        body.push(0); // session_id
        body.push(cookie.len() as u8);
        body.extend_from_slice(cookie);
        body.extend_from_slice(&[0, 2, 0xc0, 0xa8]); // TLS_PSK_WITH_AES_128_CCM_8
        body.extend_from_slice(&[1, 0]); // null compression
        body.extend_from_slice(&[0, 4, 0x00, 0x17, 0, 0]); // extended_master_secret
        let mut out = Vec::new();
        push_record_header(&mut out, CONTENT_HANDSHAKE, [0xfe, 0xfd], record_seq, HANDSHAKE_HEADER_LEN + body.len());
        push_handshake_header(&mut out, HANDSHAKE_CLIENT_HELLO, message_seq, body.len());
        out.extend_from_slice(&body);
        out
    }

    #[test]
    fn client_hello_fields_are_read_from_the_first_record() {
        let bytes = client_hello(&[1, 2, 3], 1, 5);
        let hello = ClientHello::parse(&bytes).expect("a valid ClientHello");
        assert_eq!(hello.cookie, &[1, 2, 3]);
        assert_eq!(hello.message_seq, 1);
        assert_eq!(hello.record_seq, 5);
        assert_eq!(hello.cipher_suites, &[0xc0, 0xa8]);
        assert_eq!(hello.random, &[7; 32]);
        assert!(is_well_formed(&bytes));
    }

    #[test]
    fn removing_the_cookie_gives_the_hello_a_client_sends_first() {
        let with = client_hello(&[9; 16], 1, 3);
        let hello = ClientHello::parse(&with).expect("valid");
        assert_eq!(hello.without_cookie(0, 2), client_hello(&[], 0, 2));
    }

    #[test]
    fn every_truncation_of_a_client_hello_is_rejected() {
        let bytes = client_hello(&[1; 8], 0, 0);
        for len in 0..bytes.len() {
            assert_eq!(ClientHello::parse(&bytes[..len]), None, "truncated at {len}");
            assert!(!is_well_formed(&bytes[..len]), "truncated record at {len}");
        }
    }

    #[test]
    fn fragments_and_other_epochs_are_not_client_hellos() {
        let mut fragment = client_hello(&[], 0, 0);
        fragment[RECORD_HEADER_LEN + 11] -= 1; // fragment_length != length
        assert_eq!(ClientHello::parse(&fragment), None);
        let mut epoch1 = client_hello(&[], 0, 0);
        epoch1[4] = 1;
        assert_eq!(ClientHello::parse(&epoch1), None);
    }

    #[test]
    fn junk_is_not_well_formed() {
        assert!(!is_well_formed(b""));
        assert!(!is_well_formed(b"GET / HTTP/1.1\r\n\r\n"));
        assert!(!is_well_formed(&[0x40, 0x01, 0x00, 0x01])); // a CoAP header
        let mut trailing = client_hello(&[], 0, 0);
        trailing.push(0);
        assert!(!is_well_formed(&trailing));
        let mut two = client_hello(&[], 0, 0);
        two.extend_from_slice(&client_hello(&[], 0, 1));
        assert!(is_well_formed(&two));
    }

    #[test]
    fn hello_verify_request_has_the_rfc_6347_layout() {
        let hvr = hello_verify_request(&[0xaa; 4]);
        assert_eq!(
            hvr,
            [
                22, 0xfe, 0xff, 0, 0, 0, 0, 0, 0, 0, 0, 0, 19, // record header
                3, 0, 0, 7, 0, 0, 0, 0, 0, 0, 0, 7, // handshake header
                0xfe, 0xff, 4, 0xaa, 0xaa, 0xaa, 0xaa
            ]
        );
        assert!(is_well_formed(&hvr));
    }
}
