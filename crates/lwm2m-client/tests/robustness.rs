//! Hostile input: every combination of method, path, content format, Accept and payload from a
//! registered server gets an answer, and raw garbage datagrams are dropped without harm.

mod support;

use coap::{Code, ContentFormat, Engine, OptionNumber, Request};
use support::{ask, registered};

#[test]
fn every_request_shape_is_answered_without_panicking() {
    let (mut sim, client, server) = registered(70, 86_400, "U");
    let methods = [Code::GET, Code::POST, Code::PUT, Code::DELETE, Code::FETCH, Code::IPATCH, Code::PATCH];
    let paths =
        ["/", "/0", "/1/0/9", "/3/0/11/0", "/3303/0/5700", "/2/9", "/65535/65535/65535/65535", "/x/1", "/1/2/3/4/5"];
    let formats = [
        None,
        Some(ContentFormat::TEXT),
        Some(ContentFormat::TLV),
        Some(ContentFormat::SENML_CBOR),
        Some(ContentFormat::LWM2M_CBOR),
    ];
    let payloads: [&[u8]; 4] = [b"", &[0xff, 0x00], &[0xc8, 0x00, 0x14, 0xff], &[0x9f, 0xff]];
    let mut answered = 0;
    for method in methods {
        for path in paths {
            for (n, format) in formats.iter().enumerate() {
                let payload = payloads[n % payloads.len()];
                let mut request = Request::new(method, path).with_body(payload.to_vec());
                if let Some(cf) = format {
                    request = request.with_payload(*cf, payload.to_vec());
                    request = request.with_option(OptionNumber::ACCEPT, coap::msg::encode_uint(u32::from(cf.0)));
                }
                let response = ask(&mut sim, server, client, request);
                assert!(response.code.is_response(), "{method} {path}: {}", response.code);
                answered += 1;
            }
        }
    }
    assert_eq!(answered, methods.len() * paths.len() * formats.len());
    // The object list must be intact afterwards: /3/0 cannot go away.
    assert_eq!(ask(&mut sim, server, client, Request::get("/3/0/0")).code, Code::CONTENT);
}

#[test]
fn garbage_datagrams_are_dropped() {
    let (mut sim, client, server) = registered(71, 86_400, "U");
    let from = sim.addr(server);
    let now = sim.now();
    let mut seed = 0x2545_f491_u32;
    for len in 0..200 {
        let bytes: Vec<u8> = (0..len)
            .map(|_| {
                seed ^= seed << 13;
                seed ^= seed >> 17;
                seed ^= seed << 5;
                seed as u8
            })
            .collect();
        sim[client].handle_datagram(now, coap::Peer::udp(from), &bytes);
    }
    assert_eq!(ask(&mut sim, server, client, Request::get("/3/0/0")).code, Code::CONTENT);
}
