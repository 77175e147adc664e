//! CoRE link-format through `lwm2m::format::link::decode`: never a panic, and what parses
//! survives encode → parse unchanged.
#![no_main]

use libfuzzer_sys::fuzz_target;
use lwm2m::format::link;

fuzz_target!(|data: &[u8]| {
    if let Ok(links) = link::decode(data) {
        let text = link::encode(&links);
        let again = link::parse(&text).expect("encoded link-format parses");
        assert_eq!(links, again);
    }
});
