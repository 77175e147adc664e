//! Block-wise transfers (RFC 7959).
