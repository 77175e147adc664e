//! Option numbers and the sorted option list of a message (RFC 7252 §5.4, §5.10).

/// An option number, kept as the wire integer so unknown options round-trip.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct OptionNumber(pub u16);

impl OptionNumber {
    /// If-Match (1)
    pub const IF_MATCH: Self = Self(1);
    /// Uri-Host (3)
    pub const URI_HOST: Self = Self(3);
    /// ETag (4)
    pub const ETAG: Self = Self(4);
    /// If-None-Match (5)
    pub const IF_NONE_MATCH: Self = Self(5);
    /// Observe (6, RFC 7641)
    pub const OBSERVE: Self = Self(6);
    /// Uri-Port (7)
    pub const URI_PORT: Self = Self(7);
    /// Location-Path (8)
    pub const LOCATION_PATH: Self = Self(8);
    /// OSCORE (9, RFC 8613)
    pub const OSCORE: Self = Self(9);
    /// Uri-Path (11)
    pub const URI_PATH: Self = Self(11);
    /// Content-Format (12)
    pub const CONTENT_FORMAT: Self = Self(12);
    /// Max-Age (14)
    pub const MAX_AGE: Self = Self(14);
    /// Uri-Query (15)
    pub const URI_QUERY: Self = Self(15);
    /// Accept (17)
    pub const ACCEPT: Self = Self(17);
    /// Location-Query (20)
    pub const LOCATION_QUERY: Self = Self(20);
    /// Block2 (23, RFC 7959)
    pub const BLOCK2: Self = Self(23);
    /// Block1 (27, RFC 7959)
    pub const BLOCK1: Self = Self(27);
    /// Size2 (28, RFC 7959)
    pub const SIZE2: Self = Self(28);
    /// Proxy-Uri (35)
    pub const PROXY_URI: Self = Self(35);
    /// Proxy-Scheme (39)
    pub const PROXY_SCHEME: Self = Self(39);
    /// Size1 (60)
    pub const SIZE1: Self = Self(60);
    /// Echo (252, RFC 9175)
    pub const ECHO: Self = Self(252);
    /// No-Response (258, RFC 7967)
    pub const NO_RESPONSE: Self = Self(258);
    /// Request-Tag (292, RFC 9175)
    pub const REQUEST_TAG: Self = Self(292);

    /// Odd numbers are critical (RFC 7252 §5.4.1).
    pub const fn is_critical(self) -> bool {
        self.0 & 1 == 1
    }

    /// Whether this crate knows how to process the option (the rest are "unrecognized").
    pub fn is_known(self) -> bool {
        matches!(
            self.0,
            1 | 3 | 4 | 5 | 6 | 7 | 8 | 9 | 11 | 12 | 14 | 15 | 17 | 20 | 23 | 27 | 28 | 35 | 39 | 60 | 252 | 258 | 292
        )
    }
}

/// The options of a message, sorted by number; repeated options keep their relative order.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Options {
    entries: Vec<(OptionNumber, Vec<u8>)>,
}

impl Options {
    /// No options.
    pub fn new() -> Self {
        Self::default()
    }

    /// All options in wire order.
    pub fn iter(&self) -> impl Iterator<Item = (OptionNumber, &[u8])> + '_ {
        self.entries.iter().map(|(n, v)| (*n, v.as_slice()))
    }

    /// Number of option instances.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether there are no options.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Adds one instance after any existing instances of the same number.
    pub fn push(&mut self, number: OptionNumber, value: impl Into<Vec<u8>>) {
        let at = self.entries.partition_point(|(n, _)| *n <= number);
        self.entries.insert(at, (number, value.into()));
    }

    /// Replaces all instances of `number` with one value.
    pub fn set(&mut self, number: OptionNumber, value: impl Into<Vec<u8>>) {
        self.remove(number);
        self.push(number, value);
    }

    /// Removes all instances of `number`.
    pub fn remove(&mut self, number: OptionNumber) {
        self.entries.retain(|(n, _)| *n != number);
    }

    /// The first instance of `number`.
    pub fn get(&self, number: OptionNumber) -> Option<&[u8]> {
        self.entries.iter().find(|(n, _)| *n == number).map(|(_, v)| v.as_slice())
    }

    /// All instances of `number`, in order.
    pub fn get_all(&self, number: OptionNumber) -> impl Iterator<Item = &[u8]> + '_ {
        self.entries.iter().filter(move |(n, _)| *n == number).map(|(_, v)| v.as_slice())
    }

    /// Sets a uint option with the shortest encoding (RFC 7252 §3.2: 0 is zero bytes).
    pub fn set_uint(&mut self, number: OptionNumber, value: u32) {
        self.set(number, encode_uint(value));
    }

    /// Reads a uint option; `None` if absent or longer than 4 bytes.
    pub fn get_uint(&self, number: OptionNumber) -> Option<u32> {
        self.get(number).and_then(decode_uint)
    }

    /// Uri-Path segments as strings (lossy on invalid UTF-8).
    pub fn uri_path(&self) -> Vec<String> {
        self.get_all(OptionNumber::URI_PATH).map(|s| String::from_utf8_lossy(s).into_owned()).collect()
    }

    /// Uri-Query items as strings (lossy on invalid UTF-8).
    pub fn uri_query(&self) -> Vec<String> {
        self.get_all(OptionNumber::URI_QUERY).map(|s| String::from_utf8_lossy(s).into_owned()).collect()
    }

    /// Replaces the Uri-Path with the segments of `path` (`"/rd/5a"` → `rd`, `5a`).
    pub fn set_uri_path(&mut self, path: &str) {
        self.remove(OptionNumber::URI_PATH);
        for seg in path.split('/').filter(|s| !s.is_empty()) {
            self.push(OptionNumber::URI_PATH, seg.as_bytes());
        }
    }

    /// The Content-Format option.
    pub fn content_format(&self) -> Option<super::ContentFormat> {
        self.get_uint(OptionNumber::CONTENT_FORMAT).and_then(|v| u16::try_from(v).ok()).map(super::ContentFormat)
    }

    /// The Accept option.
    pub fn accept(&self) -> Option<super::ContentFormat> {
        self.get_uint(OptionNumber::ACCEPT).and_then(|v| u16::try_from(v).ok()).map(super::ContentFormat)
    }

    /// The Observe option.
    pub fn observe(&self) -> Option<u32> {
        self.get_uint(OptionNumber::OBSERVE)
    }

    /// The lowest-numbered critical option this crate does not recognize (RFC 7252 §5.4.1):
    /// a request carrying one is answered 4.02 Bad Option, a Confirmable response is rejected
    /// with a Reset, and a non-confirmable response is ignored.
    pub fn first_unrecognized_critical(&self) -> Option<OptionNumber> {
        self.iter().map(|(number, _)| number).find(|number| number.is_critical() && !number.is_known())
    }
}

/// Shortest big-endian encoding of a uint option value.
pub fn encode_uint(value: u32) -> Vec<u8> {
    let bytes = value.to_be_bytes();
    let skip = bytes.iter().take_while(|b| **b == 0).count();
    bytes[skip..].to_vec()
}

/// Decodes a uint option value of at most 4 bytes (leading zeros tolerated).
pub fn decode_uint(bytes: &[u8]) -> Option<u32> {
    if bytes.len() > 4 {
        return None;
    }
    Some(bytes.iter().fold(0u32, |acc, b| (acc << 8) | u32::from(*b)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_unrecognized_critical_skips_known_and_elective_options() {
        let mut options = Options::new();
        options.push(OptionNumber::URI_PATH, b"rd".as_slice());
        options.push(OptionNumber(2), b"elective".as_slice());
        options.push(OptionNumber(65000), b"elective too".as_slice());
        assert_eq!(options.first_unrecognized_critical(), None);
        options.push(OptionNumber(2049), Vec::new());
        options.push(OptionNumber(13), Vec::new());
        assert_eq!(options.first_unrecognized_critical(), Some(OptionNumber(13)));
    }
}
