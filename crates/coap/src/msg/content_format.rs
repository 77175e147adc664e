//! Content-Format numbers used by LwM2M (RFC 7252 §12.3, LwM2M Core §7.5).

/// A Content-Format number, kept as the wire integer so unknown formats round-trip.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ContentFormat(pub u16);

impl ContentFormat {
    /// text/plain;charset=utf-8
    pub const TEXT: Self = Self(0);
    /// application/link-format
    pub const LINK_FORMAT: Self = Self(40);
    /// application/octet-stream
    pub const OPAQUE: Self = Self(42);
    /// application/cbor
    pub const CBOR: Self = Self(60);
    /// application/senml+json
    pub const SENML_JSON: Self = Self(110);
    /// application/senml+cbor
    pub const SENML_CBOR: Self = Self(112);
    /// application/vnd.oma.lwm2m+tlv
    pub const TLV: Self = Self(11542);
    /// application/vnd.oma.lwm2m+json
    pub const OMA_JSON: Self = Self(11543);
    /// application/vnd.oma.lwm2m+cbor
    pub const LWM2M_CBOR: Self = Self(11544);
    /// Pre-IANA text/plain (legacy devices).
    pub const LEGACY_TEXT: Self = Self(1541);
    /// Pre-IANA TLV (legacy devices).
    pub const LEGACY_TLV: Self = Self(1542);
    /// Pre-IANA OMA JSON (legacy devices).
    pub const LEGACY_JSON: Self = Self(1543);
}
