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

#[test]
fn an_endpoint_that_moves_to_coaps_is_served_there() {
    let dir = temp_dir("dtls-move");
    let gw = Gw::start(&dir);
    let plain = Device::start(server_support::plain_endpoint(), gw.addr("coap"), default_values());
    plain.register("mover", LINKS, 300);
    plain.registered().expect("the plain registration is accepted");
    let entry = r#"{"endpoint":"mover","tls":{"mode":"psk","details":{"identity":"mover-id","key":"6d6f7665"}}}"#;
    assert_eq!(gw.http("PUT", "/api/security/clients", Some("application/json"), entry).0, 200);

    let mut values = default_values();
    values.insert("/3/0/0".parse().unwrap(), lwm2m::Value::String("Secure Corp".into()));
    let key = hex::decode("6d6f7665").unwrap();
    let secure = Device::start(psk_endpoint(gw.addr("coaps"), "mover-id", &key), gw.addr("coaps"), values);
    secure.register("mover", LINKS, 300);
    secure.registered().expect("the secured registration is accepted");

    let clients = gw.get_json("/api/clients");
    let listed: Vec<&serde_json::Value> =
        clients.as_array().unwrap().iter().filter(|c| c["endpoint"] == "mover").collect();
    assert_eq!(listed.len(), 1, "{clients}");
    assert_eq!(listed[0]["secure"], true);
    let read = gw.get_json("/api/clients/mover/3/0/0");
    assert_eq!(read["content"]["value"], "Secure Corp");
}
