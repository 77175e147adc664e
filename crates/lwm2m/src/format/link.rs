//! CoRE Link Format (RFC 6690) for registration payloads and Discover answers. To be implemented.
