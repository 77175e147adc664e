//! `lwm2m-gw server` refusing registrations, end to end: a PSK identity registering another
//! endpoint gets 4.03 and the victim's registration stays as it was; malformed Register queries
//! and payloads get 4.00, and the server's log (the child's stderr) says why.

mod device_common;
mod server_support;

use std::time::{Duration, Instant};

use coap::{Code, ContentFormat, Peer, Request};
use device_common::RawServer;
use server_support::{default_values, psk_endpoint, temp_dir, Device, Gw};

const LINKS: &str = "</>;rt=\"oma.lwm2m\",</3/0>";

fn psk_entry(gw: &Gw, endpoint: &str, identity: &str, key_hex: &str) {
    let entry = format!(
        r#"{{"endpoint":"{endpoint}","tls":{{"mode":"psk","details":{{"identity":"{identity}","key":"{key_hex}"}}}}}}"#
    );
    let (status, body) = gw.http("PUT", "/api/security/clients", Some("application/json"), &entry);
    assert_eq!(status, 200, "{body}");
}

#[test]
fn another_endpoints_psk_identity_is_refused_and_changes_nothing() {
    let dir = temp_dir("steal");
    let gw = Gw::start(&dir);
    psk_entry(&gw, "victim", "victim-id", "76696374696d");
    psk_entry(&gw, "thief", "thief-id", "7468696566");
    let victim_key = hex::decode("76696374696d").unwrap();
    let thief_key = hex::decode("7468696566").unwrap();

    let victim =
        Device::start(psk_endpoint(gw.addr("coaps"), "victim-id", &victim_key), gw.addr("coaps"), default_values());
    victim.register("victim", LINKS, 300);
    let location = victim.registered().expect("the victim registers with its own identity");
    let before = gw.get_json("/api/clients/victim");

    let thief =
        Device::start(psk_endpoint(gw.addr("coaps"), "thief-id", &thief_key), gw.addr("coaps"), default_values());
    thief.register("victim", LINKS, 60);
    assert_eq!(thief.registered(), Err(Code::FORBIDDEN), "the thief's identity names another endpoint");

    logged(&dir, &["registration request refused", "identity \"thief-id\" belongs to endpoint thief, not victim"]);
    let after = gw.get_json("/api/clients/victim");
    assert_eq!(after, before, "the victim's registration is unchanged");
    assert_eq!(after["lifetime"], 300);
    assert_eq!(gw.get_json("/api/clients").as_array().map(Vec::len), Some(1), "nothing else was registered");
    let read = gw.get_json("/api/clients/victim/3/0/0");
    assert_eq!(read["content"]["value"], "Acme", "the victim is still served at {location}");
}

/// Waits (bounded) until the server's stderr log has a line containing every one of `needles`.
fn logged(dir: &std::path::Path, needles: &[&str]) -> String {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let log = std::fs::read_to_string(dir.join("stderr.log")).unwrap_or_default();
        if let Some(line) = log.lines().find(|l| needles.iter().all(|n| l.contains(n))) {
            return line.to_owned();
        }
        assert!(Instant::now() < deadline, "no log line with {needles:?} in:\n{log}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn malformed_register_queries_and_payloads_get_4_00_with_the_reason_logged() {
    let dir = temp_dir("malformed");
    let gw = Gw::start(&dir);
    let server = Peer::udp(gw.addr("coap"));
    let mut raw = RawServer::bind();
    let register = |query: &[&str], cf: ContentFormat, payload: &str| {
        query.iter().fold(Request::post("/rd"), |r, q| r.with_query(q)).with_payload(cf, payload.as_bytes().to_vec())
    };
    let cases: [(&str, Request, &[&str]); 4] = [
        (
            "lt not a number",
            register(&["ep=bad-lt", "lt=x"], ContentFormat::LINK_FORMAT, "</3/0>"),
            &["parameter lt is invalid"],
        ),
        ("ep missing", register(&["lt=60"], ContentFormat::LINK_FORMAT, "</3/0>"), &["the ep parameter is missing"]),
        (
            "broken link-format",
            register(&["ep=bad-links"], ContentFormat::LINK_FORMAT, "</3/0"),
            &["registration payload: link-format"],
        ),
        ("payload not link-format", register(&["ep=bad-cf"], ContentFormat::TEXT, "</3/0>"), &["not link-format (40)"]),
    ];
    for (what, request, reason) in cases {
        let response = raw.ask(&server, request);
        assert_eq!(response.code, Code::BAD_REQUEST, "{what}");
        let mut needles = vec!["registration request refused"];
        needles.extend_from_slice(reason);
        let line = logged(&dir, &needles);
        assert!(line.contains("INFO") || line.contains("WARN"), "{what}: logged at info or above: {line}");
    }
    assert_eq!(gw.get_json("/api/clients"), serde_json::json!([]), "nothing was registered");
}
