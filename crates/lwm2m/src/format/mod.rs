//! Every LwM2M content format (Core TS §7.5), dispatched on [`ContentFormat`].
//!
//! All formats decode to and encode from a flat list of [`Record`]s, one per resource or
//! resource instance. Formats that carry no names (text, opaque, CBOR, TLV) take the target
//! path from the caller; formats that carry no types (TLV, text, opaque) take them from the
//! [`Registry`]. Link-format is not a node format; see [`link`].

use coap::ContentFormat;

use crate::model::Registry;
use crate::path::PrefixedPath;
use crate::value::Value;

pub mod cbor;
pub mod link;
pub mod lwm2m_cbor;
pub mod oma_json;
pub mod opaque;
pub mod senml;
pub mod senml_cbor;
pub mod senml_json;
pub mod text;
pub mod tlv;

/// One leaf: a resource or resource-instance value, with its full path.
#[derive(Debug, Clone, PartialEq)]
pub struct Record {
    /// `/o/i/r` or `/o/i/r/ri`, with the gateway prefix when the name carried one.
    pub path: PrefixedPath,
    /// The value.
    pub value: Value,
    /// Absolute time in seconds when the format carried a timestamp.
    pub time: Option<f64>,
}

impl Record {
    /// A record without timestamp.
    pub fn new(path: PrefixedPath, value: Value) -> Self {
        Self { path, value, time: None }
    }
}

/// Why a payload cannot be decoded or encoded. Messages say what is wrong and where.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum FormatError {
    /// The bytes do not follow the format; `offset` is where decoding stopped.
    #[error("{format}: {reason} at byte {offset}")]
    Malformed {
        /// Format name.
        format: &'static str,
        /// Byte offset in the payload.
        offset: usize,
        /// What is wrong.
        reason: String,
    },
    /// Well-formed, but not valid LwM2M content (bad name, wrong type for the model …).
    #[error("{format}: {reason}")]
    Invalid {
        /// Format name.
        format: &'static str,
        /// What is wrong, naming the record or path.
        reason: String,
    },
    /// The format cannot carry what was asked (several records in text/plain …).
    #[error("{format} cannot carry {what}")]
    Unrepresentable {
        /// Format name.
        format: &'static str,
        /// What was asked.
        what: String,
    },
    /// Not a node content format this crate handles.
    #[error("content format {0} is not supported")]
    UnsupportedFormat(u16),
}

/// Decodes a payload of format `cf` addressed to `target`.
pub fn decode(
    cf: ContentFormat,
    payload: &[u8],
    target: &PrefixedPath,
    registry: &Registry,
) -> Result<Vec<Record>, FormatError> {
    match cf {
        ContentFormat::TEXT | ContentFormat::LEGACY_TEXT => text::decode(payload, target, registry),
        ContentFormat::OPAQUE => opaque::decode(payload, target, registry),
        ContentFormat::CBOR => cbor::decode(payload, target, registry),
        ContentFormat::SENML_JSON => senml_json::decode(payload, target, registry),
        ContentFormat::SENML_CBOR => senml_cbor::decode(payload, target, registry),
        ContentFormat::TLV | ContentFormat::LEGACY_TLV => tlv::decode(payload, target, registry),
        ContentFormat::OMA_JSON | ContentFormat::LEGACY_JSON => oma_json::decode(payload, target, registry),
        ContentFormat::LWM2M_CBOR => lwm2m_cbor::decode(payload, target, registry),
        other => Err(FormatError::UnsupportedFormat(other.0)),
    }
}

/// Encodes `records` in format `cf` as the answer for `target`. Legacy codes are never emitted.
pub fn encode(
    cf: ContentFormat,
    records: &[Record],
    target: &PrefixedPath,
    registry: &Registry,
) -> Result<Vec<u8>, FormatError> {
    match cf {
        ContentFormat::TEXT => text::encode(records, target, registry),
        ContentFormat::OPAQUE => opaque::encode(records, target, registry),
        ContentFormat::CBOR => cbor::encode(records, target, registry),
        ContentFormat::SENML_JSON => senml_json::encode(records, target, registry),
        ContentFormat::SENML_CBOR => senml_cbor::encode(records, target, registry),
        ContentFormat::TLV => tlv::encode(records, target, registry),
        ContentFormat::OMA_JSON => oma_json::encode(records, target, registry),
        ContentFormat::LWM2M_CBOR => lwm2m_cbor::encode(records, target, registry),
        other => Err(FormatError::UnsupportedFormat(other.0)),
    }
}
