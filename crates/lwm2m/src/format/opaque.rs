//! application/octet-stream, content format 42 (LwM2M Core TS 1.2 §7.5.2).
//!
//! The raw bytes of one Opaque resource or resource instance (a firmware package, a
//! certificate). The target must be `/o/i/r` (of a single-instance resource) or `/o/i/r/ri`;
//! the one record carries the target path, gateway prefix included. When the model knows the
//! resource it must be declared Opaque; a resource the model does not know is taken as Opaque,
//! since the bytes need no type to be kept. Any payload, the empty one included, is valid.

use super::text::{check_single_target, coerce_to_model, single_record};
use super::{FormatError, Record};
use crate::model::Registry;
use crate::path::PrefixedPath;
use crate::value::{DataType, Value};

const FORMAT: &str = "opaque";

/// Decodes the payload as the value of the Opaque resource `target`.
pub fn decode(payload: &[u8], target: &PrefixedPath, registry: &Registry) -> Result<Vec<Record>, FormatError> {
    check_single_target(FORMAT, target, registry)?;
    match registry.data_type(&target.path) {
        Some(DataType::Opaque) | None => Ok(vec![Record::new(target.clone(), Value::Opaque(payload.to_vec()))]),
        Some(other) => Err(FormatError::Invalid {
            format: FORMAT,
            reason: format!("{target} is declared {other}, and only opaque resources take raw bytes"),
        }),
    }
}

/// Encodes the one Opaque record for `target` as its raw bytes.
pub fn encode(records: &[Record], target: &PrefixedPath, registry: &Registry) -> Result<Vec<u8>, FormatError> {
    let record = single_record(FORMAT, records, target, registry)?;
    match coerce_to_model(FORMAT, record, registry)? {
        Value::Opaque(bytes) => Ok(bytes),
        other => Err(FormatError::Unrepresentable {
            format: FORMAT,
            what: format!("the {} value of {}; only opaque values", other.data_type(), record.path),
        }),
    }
}
