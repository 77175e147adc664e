//! Placeholder: the format work replaces this file.

use super::{FormatError, Record};
use crate::model::Registry;
use crate::path::PrefixedPath;

/// Decodes a payload.
pub fn decode(_payload: &[u8], _target: &PrefixedPath, _registry: &Registry) -> Result<Vec<Record>, FormatError> {
    Err(FormatError::UnsupportedFormat(0))
}

/// Encodes records.
pub fn encode(_records: &[Record], _target: &PrefixedPath, _registry: &Registry) -> Result<Vec<u8>, FormatError> {
    Err(FormatError::UnsupportedFormat(0))
}
