//! `lwm2m-gw server` as Bootstrap Server: configurations from the REST API are written into a
//! client that sends Bootstrap-Request, and the bootstrap demo's own API (`--bs-http`) keeps a
//! security store apart from the LwM2M Server's.

mod server_support;

use std::collections::BTreeMap;
use std::time::Duration;

use lwm2m::Value;
use server_support::{plain_endpoint, temp_dir, Device, DeviceEvent, Gw};

const CONFIG: &str = r#"{"servers":{"0":{"binding":"U","defaultMinPeriod":1,"lifetime":600,"notifIfDisabled":false,"shortId":7}},"security":{"1":{"bootstrapServer":false,"clientOldOffTime":1,"publicKeyOrId":[],"secretKey":[],"securityMode":"NO_SEC","serverId":7,"uri":"coap://127.0.0.1:5683"}},"oscore":{},"toDelete":["/0","/1"]}"#;

#[test]
fn a_bootstrap_request_gets_the_stored_configuration() {
    let dir = temp_dir("bs-session");
    let gw = Gw::start(&dir);
    let (status, body) = gw.bs_http("POST", "/api/bootstrap/bs-dev", Some("application/json"), CONFIG);
    assert_eq!(status, 200, "{body}");
    assert_eq!(gw.get_json("/api/bootstrap")["bs-dev"]["servers"]["0"]["shortId"], 7, "one set of configs");

    let device = Device::start(plain_endpoint(), gw.addr("bs-coap"), BTreeMap::new());
    device.bootstrap_request("bs-dev");
    let finished = loop {
        match device.events.recv_timeout(Duration::from_secs(20)) {
            Ok(DeviceEvent::BootstrapFinished) => break true,
            Ok(_) => continue,
            Err(_) => break false,
        }
    };
    assert!(finished, "the session ends with Bootstrap-Finish");
    let values = device.values.lock().unwrap();
    assert_eq!(values.get(&"/1/0/0".parse().unwrap()), Some(&Value::Integer(7)), "{values:?}");
    assert_eq!(values.get(&"/0/1/0".parse().unwrap()), Some(&Value::String("coap://127.0.0.1:5683".into())));
}

#[test]
fn the_bootstrap_api_has_its_own_security_store() {
    let dir = temp_dir("bs-security");
    let gw = Gw::start(&dir);
    let entry = r#"{"endpoint":"bs-sec","tls":{"mode":"psk","details":{"identity":"bs-sec","key":"6273"}}}"#;
    let (status, body) = gw.bs_http("PUT", "/api/security/clients/", Some("application/json"), entry);
    assert_eq!(status, 200, "{body}");
    let (_, listed) = gw.bs_http("GET", "/api/security/clients", None, "");
    assert_eq!(serde_json::from_str::<serde_json::Value>(&listed).unwrap().as_array().unwrap().len(), 1);
    assert_eq!(gw.get_json("/api/security/clients"), serde_json::json!([]), "the server's store is apart");
    // The same identity may carry the server credentials on the LwM2M Server side.
    let server_entry = r#"{"endpoint":"bs-sec","tls":{"mode":"psk","details":{"identity":"bs-sec","key":"7372"}}}"#;
    assert_eq!(gw.http("PUT", "/api/security/clients/", Some("application/json"), server_entry).0, 200);
    assert_eq!(gw.bs_http("DELETE", "/api/security/clients/bs-sec", None, "").0, 200);
    assert_eq!(gw.get_json("/api/security/clients").as_array().unwrap().len(), 1);
    assert_eq!(gw.bs_http("GET", "/api/clients", None, "").0, 404, "the bootstrap api has no clients");
}
