//! `lwm2m-gw server` over DTLS (PSK): keys come from the security store, and an identity may
//! only register its own endpoint.

mod server_support;

use coap::Code;
use server_support::{default_values, psk_endpoint, temp_dir, Device, Gw};

const LINKS: &str = "</>;rt=\"oma.lwm2m\",</3/0>";

#[test]
fn a_psk_client_registers_its_own_endpoint_only() {
    let dir = temp_dir("dtls");
    let gw = Gw::start(&dir);
    let entry = r#"{"endpoint":"psk-dev","tls":{"mode":"psk","details":{"identity":"psk-id","key":"73656372657431"}}}"#;
    assert_eq!(gw.http("PUT", "/api/security/clients", Some("application/json"), entry).0, 200);
    let key = hex::decode("73656372657431").unwrap();

    let thief = Device::start(psk_endpoint(gw.addr("coaps"), "psk-id", &key), gw.addr("coaps"), default_values());
    thief.register("other-dev", LINKS, 300);
    assert_eq!(thief.registered(), Err(Code::FORBIDDEN), "another endpoint's identity is refused");
    drop(thief);

    let device = Device::start(psk_endpoint(gw.addr("coaps"), "psk-id", &key), gw.addr("coaps"), default_values());
    device.register("psk-dev", LINKS, 300);
    device.registered().expect("the endpoint's own identity registers");
    let client = gw.get_json("/api/clients/psk-dev");
    assert_eq!(client["secure"], true);
    let read = gw.get_json("/api/clients/psk-dev/3/0/0");
    assert_eq!(read["content"]["value"], "Acme");
    assert!(gw.http("GET", "/api/clients/other-dev", None, "").0 == 400);
}

#[test]
fn a_wrong_key_never_gets_a_session() {
    let dir = temp_dir("dtls-key");
    let gw = Gw::start(&dir);
    let entry = r#"{"endpoint":"key-dev","tls":{"mode":"psk","details":{"identity":"key-id","key":"0102030405"}}}"#;
    assert_eq!(gw.http("PUT", "/api/security/clients", Some("application/json"), entry).0, 200);
    let device = Device::start(psk_endpoint(gw.addr("coaps"), "key-id", b"wrong"), gw.addr("coaps"), default_values());
    device.register("key-dev", LINKS, 300);
    assert!(device.events.recv_timeout(std::time::Duration::from_secs(3)).is_err(), "no answer without a dtls session");
    assert_eq!(gw.get_json("/api/clients"), serde_json::json!([]));
}
