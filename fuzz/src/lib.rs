//! What the content-format fuzz targets share: one input drives one decode, and whatever
//! decodes is encoded again in the same format. Neither may panic.

use coap::ContentFormat;
use lwm2m::{Path, PrefixedPath, Registry};

/// Feeds `data` to the decoder of `format`: the first byte picks the target the payload is
/// addressed to, the rest is the payload.
pub fn decode_then_encode(format: ContentFormat, data: &[u8]) {
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
    if let Ok(records) = lwm2m::format::decode(format, payload, &target, registry) {
        let _ = lwm2m::format::encode(format, &records, &target, registry);
    }
}
