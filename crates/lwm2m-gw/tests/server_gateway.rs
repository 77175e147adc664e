//! `lwm2m-gw server` with an LwM2M Gateway client (Gateway TS 1.1.1): each End-Device of `/25`
//! is listed as a client of its own and every REST operation on it travels through the
//! gateway with the prefix in front of the path.

mod server_support;

use std::time::Duration;

use lwm2m::{PrefixedPath, Value};
use server_support::{default_values, plain_endpoint, temp_dir, Device, Events, Gw};

const LINKS: &str = "</>;rt=\"oma.lwm2m\",</1/0>,</3/0>,</25/0>";

fn gateway_values() -> std::collections::BTreeMap<PrefixedPath, Value> {
    let mut values = default_values();
    let mut set = |path: &str, value: Value| {
        values.insert(path.parse::<PrefixedPath>().unwrap(), value);
    };
    set("/25/0/0", Value::String("urn:dev:0001".into()));
    set("/25/0/1", Value::String("d01".into()));
    set("/25/0/3", Value::CoreLnk("</3/0>,</3303/0>".into()));
    set("/d01/3/0/0", Value::String("Sensor Co".into()));
    set("/d01/3303/0/5700", Value::Float(4.5));
    values
}

#[test]
fn end_devices_are_clients_reached_through_their_gateway() {
    let dir = temp_dir("gateway");
    let gw = Gw::start(&dir);
    let mut events = Events::open(gw.addr("http"), "ep=urn:dev:0001");
    let device = Device::start(plain_endpoint(), gw.addr("coap"), gateway_values());
    device.register("gw-1", LINKS, 300);
    device.registered().expect("register is accepted");

    let registered = events.next("REGISTRATION", Duration::from_secs(10)).expect("the end device is announced");
    assert_eq!(registered["endpoint"], "urn:dev:0001");
    assert_eq!(registered["gateway"], "gw-1");

    let clients = gw.get_json("/api/clients");
    let end_device = clients
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["endpoint"] == "urn:dev:0001")
        .unwrap_or_else(|| panic!("the end device is listed: {clients}"));
    assert_eq!(end_device["gateway"], "gw-1");
    assert_eq!(end_device["prefix"], "d01");
    assert_eq!(end_device["additionalRegistrationAttributes"]["gateway"], "gw-1");
    assert_eq!(end_device["availableInstances"]["3303"], serde_json::json!([0]));
    assert_eq!(gw.get_json("/api/clients/urn:dev:0001")["prefix"], "d01");

    let read = gw.get_json("/api/clients/urn:dev:0001/3/0/0?format=SENML_JSON");
    assert_eq!(read["content"]["value"], "Sensor Co", "the read carries the prefix: {read}");
    let gateway_read = gw.get_json("/api/clients/gw-1/3/0/0");
    assert_eq!(gateway_read["content"]["value"], "Acme");

    let write = gw.json(
        "PUT",
        "/api/clients/urn:dev:0001/3303/0/5700?format=SENML_CBOR",
        Some("application/json"),
        r#"{"id":5700,"kind":"singleResource","value":6.25,"type":"float"}"#,
    );
    assert_eq!(write["status"], "CHANGED(204)");
    let stored = device.values.lock().unwrap().get(&"/d01/3303/0/5700".parse().unwrap()).cloned();
    assert_eq!(stored, Some(Value::Float(6.25)));

    let observe = gw.json("POST", "/api/clients/urn:dev:0001/3303/0/5700/observe", None, "");
    assert_eq!(observe["content"]["value"], "6.25");
    device.set_and_notify("/d01/3303/0/5700", Value::Float(7.5));
    let notification = events.next("NOTIFICATION", Duration::from_secs(10)).expect("the end device's notification");
    assert_eq!(notification["ep"], "urn:dev:0001");
    assert_eq!(notification["res"], "/3303/0/5700");
    assert_eq!(notification["val"]["value"], "7.5");
}

#[test]
fn end_devices_come_back_after_a_server_restart_without_waiting_for_an_update() {
    let dir = temp_dir("gateway-restart");
    let gw = Gw::start(&dir);
    let device = Device::start(plain_endpoint(), gw.addr("coap"), gateway_values());
    device.register("gw-2", LINKS, 3600);
    device.registered().expect("register is accepted");
    let listed = |gw: &Gw| gw.http("GET", "/api/clients/urn:dev:0001", None, "").0 == 200;
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while !listed(&gw) {
        assert!(std::time::Instant::now() < deadline, "the end device is listed before the restart");
        std::thread::sleep(Duration::from_millis(50));
    }
    gw.terminate();

    // The gateway sends no Update (lifetime 3600 s): the server reads /25 on its own.
    let gw = Gw::start(&dir);
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while !listed(&gw) {
        assert!(std::time::Instant::now() < deadline, "the end device comes back after the restart");
        std::thread::sleep(Duration::from_millis(50));
    }
    let read = gw.get_json("/api/clients/urn:dev:0001/3/0/0?format=SENML_JSON");
    assert_eq!(read["content"]["value"], "Sensor Co", "reached through the restored gateway: {read}");
}
