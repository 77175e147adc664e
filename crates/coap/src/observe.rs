//! Observe bookkeeping (RFC 7641).
