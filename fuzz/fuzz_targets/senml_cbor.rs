//! SenML CBOR payloads through `lwm2m::format::decode`: never a panic. Whatever decodes is
//! encoded again in the same format, which must not panic either.
#![no_main]

use coap::ContentFormat;
use libfuzzer_sys::fuzz_target;
use lwm2m::{Path, PrefixedPath, Registry};

// The first byte picks the target the payload is addressed to; the rest is the payload.
fuzz_target!(|data: &[u8]| {
    let Some((&selector, payload)) = data.split_first() else {
        return;
    };
    let target = PrefixedPath::plain(match selector % 6 {
        0 => Path::Root,
        1 => Path::Instance(3, 0),
        2 => Path::Resource(3, 0, 0),
        3 => Path::Resource(3303, 0, 5700),
        4 => Path::Object(2),
        // No model: the decoder must cope with untyped data.
        _ => Path::Resource(32768, 0, 0),
    });
    let registry = Registry::bundled_ref();
    if let Ok(records) = lwm2m::format::decode(ContentFormat::SENML_CBOR, payload, &target, registry) {
        let _ = lwm2m::format::encode(ContentFormat::SENML_CBOR, &records, &target, registry);
    }
});
