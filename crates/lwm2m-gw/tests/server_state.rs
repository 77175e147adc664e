//! `lwm2m-gw server` keeps its state across restarts: security entries, bootstrap
//! configurations and registrations (with their ID and lifetime) come back from the data
//! directory.

mod server_support;

use server_support::{default_values, plain_endpoint, temp_dir, Device, Gw};

const LINKS: &str = "</>;rt=\"oma.lwm2m\",</1/0>,</3/0>,</3303/0>";
const SECURITY: &str =
    r#"{"endpoint":"keep-sec","tls":{"mode":"psk","details":{"identity":"keep-id","key":"a1b2c3"}}}"#;
const BS_CONFIG: &str = r#"{"servers":{"0":{"shortId":7,"lifetime":600}},"security":{"1":{"bootstrapServer":false,"securityMode":"NO_SEC","serverId":7,"uri":"coap://127.0.0.1:5683"}},"toDelete":["/0","/1"]}"#;

#[test]
fn a_restart_keeps_security_bootstrap_and_registrations() {
    let dir = temp_dir("restart");
    let gw = Gw::start(&dir);
    assert_eq!(gw.http("PUT", "/api/security/clients", Some("application/json"), SECURITY).0, 200);
    assert_eq!(gw.http("POST", "/api/bootstrap/keep-bs", Some("application/json"), BS_CONFIG).0, 200);
    let device = Device::start(plain_endpoint(), gw.addr("coap"), default_values());
    device.register("keep-dev", LINKS, 3600);
    let location = device.registered().expect("register is accepted");
    let before = gw.get_json("/api/clients/keep-dev");
    gw.terminate();

    // The device keeps its socket; the server comes back on another port.
    let gw = Gw::start(&dir);
    let security = gw.get_json("/api/security/clients");
    assert_eq!(security, serde_json::json!([serde_json::from_str::<serde_json::Value>(SECURITY).unwrap()]));
    let bootstrap = gw.get_json("/api/bootstrap");
    assert_eq!(bootstrap["keep-bs"]["servers"]["0"]["shortId"], 7);
    let after = gw.get_json("/api/clients/keep-dev");
    assert_eq!(after["registrationId"], before["registrationId"]);
    assert_eq!(location, format!("/rd/{}", after["registrationId"].as_str().unwrap()));
    assert_eq!(after["lifetime"], 3600);
    assert_eq!(after["address"], before["address"]);
    // Dates go through the monotonic clock: equal to the millisecond or two.
    let date = |reg: &serde_json::Value| reg["registrationDate"].as_i64().unwrap();
    assert!((date(&after) - date(&before)).abs() <= 5, "{before} vs {after}");
    // The restored registration is usable: requests still reach the client.
    let read = gw.get_json("/api/clients/keep-dev/3/0/0");
    assert_eq!(read["content"]["value"], "Acme");
}

#[test]
fn an_expired_registration_is_dropped_at_restart_and_the_others_kept() {
    let dir = temp_dir("dereg");
    let gw = Gw::start(&dir);
    let device = Device::start(plain_endpoint(), gw.addr("coap"), default_values());
    device.register("gone-dev", LINKS, 3600);
    device.registered().expect("register is accepted");
    assert_eq!(gw.get_json("/api/clients").as_array().unwrap().len(), 1);
    gw.terminate();
    // Lifetime 1 s: it expires while the server is down.
    let gw = Gw::start(&dir);
    let device = Device::start(plain_endpoint(), gw.addr("coap"), default_values());
    device.register("short-dev", LINKS, 1);
    device.registered().expect("register is accepted");
    gw.terminate();
    std::thread::sleep(std::time::Duration::from_millis(1500));
    let gw = Gw::start(&dir);
    let clients = gw.get_json("/api/clients");
    let names: Vec<&str> = clients.as_array().unwrap().iter().filter_map(|c| c["endpoint"].as_str()).collect();
    assert_eq!(names, ["gone-dev"], "the expired registration is dropped, the other kept");
}
