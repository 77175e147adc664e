//! Records shared by SenML JSON and SenML CBOR (RFC 8428 with LwM2M conventions). To be implemented.
