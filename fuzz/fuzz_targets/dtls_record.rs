//! Any datagram a DTLS server receives before it holds state for the sender: the record
//! well-formedness check and the ClientHello parser never panic, and for a well-formed
//! ClientHello the cookie-less rewrite and the HelloVerifyRequest keep their invariants (see
//! `transport::fuzzing::dtls_record`).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|datagram: &[u8]| {
    transport::fuzzing::dtls_record(datagram);
});
