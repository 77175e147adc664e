//! text/plain payloads through `lwm2m::format::decode`: never a panic. Whatever decodes is
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
    let target = PrefixedPath::plain(match selector % 3 {
        0 => Path::Root,
        1 => Path::Instance(3, 0),
        _ => Path::Resource(3, 0, 0),
    });
    let registry = Registry::empty();
    if let Ok(records) = lwm2m::format::decode(ContentFormat::TEXT, payload, &target, &registry) {
        let _ = lwm2m::format::encode(ContentFormat::TEXT, &records, &target, &registry);
    }
});
