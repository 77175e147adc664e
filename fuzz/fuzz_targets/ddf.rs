//! OMA DDF XML through `lwm2m::model::ddf::parse`: never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(xml) = std::str::from_utf8(data) {
        let _ = lwm2m::model::ddf::parse(xml);
    }
});
