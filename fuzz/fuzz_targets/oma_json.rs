//! OMA JSON payloads through `lwm2m::format::decode`: never a panic. Whatever decodes is
//! encoded again in the same format, which must not panic either.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| lwm2m_gw_fuzz::decode_then_encode(coap::ContentFormat::OMA_JSON, data));
