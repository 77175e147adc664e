//! `lwm2m-gw server` end to end: the real binary, its REST API over HTTP and a scripted LwM2M
//! client over a real UDP socket.

mod server_support;

use std::time::Duration;

use lwm2m::Value;
use server_support::{default_values, plain_endpoint, temp_dir, Device, DeviceEvent, Events, Gw};

const LINKS: &str = "</>;rt=\"oma.lwm2m\",</1/0>,</3/0>,</3303/0>";

fn registered_device(gw: &Gw, endpoint: &str) -> Device {
    let device = Device::start(plain_endpoint(), gw.addr("coap"), default_values());
    device.register(endpoint, LINKS, 300);
    let location = device.registered().expect("register is accepted");
    assert!(location.starts_with("/rd/"), "{location}");
    device
}

#[test]
fn clients_are_listed_in_leshans_registration_shape() {
    let dir = temp_dir("list");
    let gw = Gw::start(&dir);
    assert_eq!(gw.get_json("/api/clients"), serde_json::json!([]));
    let mut events = Events::open(gw.addr("http"), "ep=dev-list");
    let _device = registered_device(&gw, "dev-list");
    let event = events.next("REGISTRATION", Duration::from_secs(10)).expect("a REGISTRATION event");
    assert_eq!(event["endpoint"], "dev-list");

    let clients = gw.get_json("/api/clients");
    let client = &clients.as_array().unwrap()[0];
    assert_eq!(client["endpoint"], "dev-list");
    assert_eq!(client["lwM2mVersion"], "1.1");
    assert_eq!(client["lifetime"], 300);
    assert_eq!(client["bindingMode"], "U");
    assert_eq!(client["secure"], false);
    assert_eq!(client["queuemode"], false);
    assert_eq!(client["availableInstances"]["3303"], serde_json::json!([0]));
    assert!(client["registrationId"].as_str().is_some_and(|id| !id.is_empty()));
    assert!(client["objectLinks"].as_array().unwrap().iter().any(|l| l["url"] == "/3/0"));
    assert_eq!(gw.get_json("/api/clients/dev-list")["endpoint"], "dev-list");

    let (status, body) = gw.http("GET", "/api/clients/nobody/3/0", None, "");
    assert_eq!((status, body.as_str()), (400, "no registered client with id 'nobody'"));
}

#[test]
fn read_write_execute_and_discover_reach_the_client() {
    let dir = temp_dir("dm");
    let gw = Gw::start(&dir);
    let device = registered_device(&gw, "dev-dm");

    let read = gw.get_json("/api/clients/dev-dm/3/0/0?format=SENML_JSON&timeout=5");
    assert_eq!(read["status"], "CONTENT(205)");
    assert_eq!(read["success"], true);
    assert_eq!(read["failure"], false);
    assert_eq!(
        read["content"],
        serde_json::json!({"kind": "singleResource", "id": 0, "type": "STRING", "value": "Acme"})
    );

    let instance = gw.get_json("/api/clients/dev-dm/3303/0?format=SENML_CBOR");
    assert_eq!(instance["content"]["kind"], "instance");
    let resources = instance["content"]["resources"].as_array().unwrap();
    assert!(resources.iter().any(|r| r["id"] == 5700 && r["type"] == "FLOAT"), "{instance}");

    let missing = gw.get_json("/api/clients/dev-dm/3/0/3");
    assert_eq!(missing["status"], "NOT_FOUND(404)");
    assert_eq!(missing["failure"], true);

    let write = gw.json(
        "PUT",
        "/api/clients/dev-dm/3/0/14?format=SENML_JSON&timeout=5",
        Some("application/json"),
        r#"{"id":"14","kind":"singleResource","value":"+02","type":"string"}"#,
    );
    assert_eq!(write["status"], "CHANGED(204)");
    let stored = device.values.lock().unwrap().get(&"/3/0/14".parse().unwrap()).cloned();
    assert_eq!(stored, Some(Value::String("+02".into())));

    let execute = gw.json("POST", "/api/clients/dev-dm/3/0/4", Some("text/plain"), "0='now'");
    assert_eq!(execute["status"], "CHANGED(204)");
    let executed = loop {
        match device.events.recv_timeout(Duration::from_secs(5)).expect("the execute arrives") {
            DeviceEvent::Executed(path, args) => break (path, args),
            _ => continue,
        }
    };
    assert_eq!(executed, ("/3/0/4".to_owned(), "0='now'".to_owned()));

    let discover = gw.get_json("/api/clients/dev-dm/3303/0/discover");
    assert_eq!(discover["status"], "CONTENT(205)");
    let urls: Vec<&str> =
        discover["objectLinks"].as_array().unwrap().iter().filter_map(|l| l["url"].as_str()).collect();
    assert!(urls.contains(&"/3303/0/5700"), "{discover}");

    let deleted = gw.json("DELETE", "/api/clients/dev-dm/3303/0", None, "");
    assert_eq!(deleted["status"], "DELETED(202)");
    assert!(device.values.lock().unwrap().keys().all(|p| p.to_string().starts_with("/3/")));
}

#[test]
fn create_and_write_attributes_reach_the_client() {
    let dir = temp_dir("create");
    let gw = Gw::start(&dir);
    let device = registered_device(&gw, "dev-create");
    let body = r#"{"kind":"instance","id":1,"resources":[{"id":5700,"kind":"singleResource","value":"12.5","type":"FLOAT"},{"id":5701,"kind":"singleResource","value":"Cel","type":"STRING"}]}"#;
    let created = gw.json("POST", "/api/clients/dev-create/3303?format=SENML_JSON", Some("application/json"), body);
    assert_eq!(created["status"], "CREATED(201)");
    assert_eq!(created["location"], "/3303/1");
    let stored = device.values.lock().unwrap().get(&"/3303/1/5700".parse().unwrap()).cloned();
    assert_eq!(stored, Some(Value::Float(12.5)));

    let attributes = gw.json("PUT", "/api/clients/dev-create/3303/1/5700/attributes?pmin=5&pmax=60", None, "");
    assert_eq!(attributes["status"], "CHANGED(204)");
    let query = loop {
        match device.events.recv_timeout(Duration::from_secs(5)).expect("write-attributes arrives") {
            DeviceEvent::Attributes(path, query) => break (path, query),
            _ => continue,
        }
    };
    assert_eq!(query, ("/3303/1/5700".to_owned(), vec!["pmin=5".to_owned(), "pmax=60".to_owned()]));
    let (status, _) = gw.http("PUT", "/api/clients/dev-create/3303/1/5700/attributes?pmin=x", None, "");
    assert_eq!(status, 400, "an invalid attribute is refused before anything is sent");
}

#[test]
fn composite_read_answers_each_path() {
    let dir = temp_dir("composite");
    let gw = Gw::start(&dir);
    let _device = registered_device(&gw, "dev-comp");
    let read = gw.get_json(
        "/api/clients/dev-comp/composite?paths=/3/0/0,/3303/0/5700&pathformat=SENML_CBOR&nodeformat=SENML_CBOR&timeout=5",
    );
    assert_eq!(read["status"], "CONTENT(205)");
    assert_eq!(read["content"]["/3/0/0"]["value"], "Acme");
    assert_eq!(read["content"]["/3303/0/5700"]["kind"], "singleResource");
    assert_eq!(read["content"]["/3303/0/5700"]["value"], "21.5");

    let write = gw.json(
        "PUT",
        "/api/clients/dev-comp/composite?nodeformat=SENML_JSON",
        Some("application/json"),
        r#"{"/3/0/14":{"id":14,"kind":"singleResource","value":"+05","type":"STRING"}}"#,
    );
    assert_eq!(write["status"], "CHANGED(204)");
    let again = gw.get_json("/api/clients/dev-comp/composite?paths=/3/0/14");
    assert_eq!(again["content"]["/3/0/14"]["value"], "+05");
}

#[test]
fn observe_notifications_arrive_on_the_event_stream() {
    let dir = temp_dir("observe");
    let gw = Gw::start(&dir);
    let device = registered_device(&gw, "dev-obs");
    let mut events = Events::open(gw.addr("http"), "ep=dev-obs");

    let observe =
        gw.json("POST", "/api/clients/dev-obs/3303/0/5700/observe?format=SENML_JSON", Some("application/json"), "");
    assert_eq!(observe["status"], "CONTENT(205)");
    assert_eq!(observe["content"]["value"], "21.5");

    device.set_and_notify("/3303/0/5700", Value::Float(23.25));
    let notification = events.next("NOTIFICATION", Duration::from_secs(10)).expect("a NOTIFICATION event");
    assert_eq!(notification["ep"], "dev-obs");
    assert_eq!(notification["kind"], "single");
    assert_eq!(notification["res"], "/3303/0/5700");
    assert_eq!(notification["val"]["value"], "23.25");

    let (status, _) = gw.http("DELETE", "/api/clients/dev-obs/3303/0/5700/observe", None, "");
    assert_eq!(status, 200);
    device.set_and_notify("/3303/0/5700", Value::Float(30.0));
    assert!(events.next("NOTIFICATION", Duration::from_millis(1500)).is_none(), "a cancelled observation is silent");

    let composite = gw.json("POST", "/api/clients/dev-obs/composite/observe?paths=/3/0/9,/3303/0/5700", None, "");
    assert_eq!(composite["content"]["/3/0/9"]["value"], "87");
    device.set_and_notify("/3/0/9", Value::Integer(55));
    let notification = events.next("NOTIFICATION", Duration::from_secs(10)).expect("a composite NOTIFICATION");
    assert_eq!(notification["kind"], "composite");
    assert_eq!(notification["val"]["/3/0/9"]["value"], "55");
    let (status, _) = gw.http("DELETE", "/api/clients/dev-obs/composite/observe?paths=/3/0/9,/3303/0/5700", None, "");
    assert_eq!(status, 200);
}

#[test]
fn send_data_arrives_on_the_event_stream() {
    let dir = temp_dir("send");
    let gw = Gw::start(&dir);
    let device = registered_device(&gw, "dev-send");
    let mut events = Events::open(gw.addr("http"), "dev-send");
    device.send_data(r#"[{"bn":"/3303/0/","n":"5700","v":19.5},{"n":"5701","vs":"Cel"}]"#);
    let sent = events.next("SEND", Duration::from_secs(10)).expect("a SEND event");
    assert_eq!(sent["ep"], "dev-send");
    let instance = &sent["val"]["/3303/0"];
    assert_eq!(instance["kind"], "instance", "{sent}");
    let resources = instance["resources"].as_array().unwrap();
    assert!(resources.iter().any(|r| r["id"] == 5700 && r["value"] == "19.5"), "{sent}");
}

#[test]
fn a_silent_client_times_out_with_504() {
    let dir = temp_dir("timeout");
    let gw = Gw::start(&dir);
    let device = registered_device(&gw, "dev-gone");
    drop(device);
    let (status, body) = gw.http("GET", "/api/clients/dev-gone/3/0/0?timeout=1", None, "");
    assert_eq!((status, body.as_str()), (504, "Request timeout"));
}

#[test]
fn security_entries_are_added_listed_and_deleted() {
    let dir = temp_dir("security");
    let gw = Gw::start(&dir);
    assert_eq!(gw.get_json("/api/security/clients"), serde_json::json!([]));
    let entry = r#"{"endpoint":"sec1","tls":{"mode":"psk","details":{"identity":"sec1-id","key":"00112233"}}}"#;
    let (status, body) = gw.http("PUT", "/api/security/clients/", Some("application/json"), entry);
    assert_eq!(status, 200, "{body}");
    let listed = gw.get_json("/api/security/clients");
    assert_eq!(listed, serde_json::json!([serde_json::from_str::<serde_json::Value>(entry).unwrap()]));

    let taken = r#"{"endpoint":"sec2","tls":{"mode":"psk","details":{"identity":"sec1-id","key":"00"}}}"#;
    let (status, _) = gw.http("PUT", "/api/security/clients", Some("application/json"), taken);
    assert_eq!(status, 400, "an identity belongs to one endpoint");
    let (status, _) = gw.http("PUT", "/api/security/clients", Some("application/json"), r#"{"endpoint":"x"}"#);
    assert_eq!(status, 400);

    assert_eq!(gw.http("DELETE", "/api/security/clients/sec1", None, "").0, 200);
    assert_eq!(gw.http("DELETE", "/api/security/clients/sec1", None, "").0, 404);
    assert_eq!(gw.get_json("/api/security/clients"), serde_json::json!([]));
}

const BS_CONFIG: &str = r#"{"servers":{"0":{"binding":"U","defaultMinPeriod":1,"lifetime":86400,"notifIfDisabled":false,"shortId":1}},"security":{"1":{"bootstrapServer":false,"clientOldOffTime":1,"publicKeyOrId":[98,115],"secretKey":[1,2,3],"securityMode":"PSK","serverId":1,"serverSmsNumber":"","smsBindingKeyParam":[],"smsBindingKeySecret":[],"smsSecurityMode":"NO_SEC","uri":"coaps://127.0.0.1:5684"}},"oscore":{},"toDelete":["/0","/1"]}"#;

#[test]
fn bootstrap_configs_are_created_read_and_deleted() {
    let dir = temp_dir("bootstrap");
    let gw = Gw::start(&dir);
    assert_eq!(gw.get_json("/api/bootstrap"), serde_json::json!({}));
    let (status, body) = gw.http("POST", "/api/bootstrap/bs1", Some("application/json"), BS_CONFIG);
    assert_eq!(status, 200, "{body}");
    let all = gw.get_json("/api/bootstrap");
    assert_eq!(all["bs1"]["servers"]["0"]["shortId"], 1);
    assert_eq!(all["bs1"]["security"]["1"]["uri"], "coaps://127.0.0.1:5684");
    assert_eq!(gw.get_json("/api/bootstrap/bs1")["toDelete"], serde_json::json!(["/0", "/1"]));

    let (status, _) = gw.http("POST", "/api/bootstrap/bs2", Some("application/json"), r#"{"servers":{"0":{}}}"#);
    assert_eq!(status, 400, "a server without shortId is refused");

    assert_eq!(gw.http("DELETE", "/api/bootstrap/bs1", None, "").0, 200);
    assert_eq!(gw.http("GET", "/api/bootstrap/bs1", None, "").0, 404);
}

#[test]
fn sigterm_stops_the_server_cleanly() {
    let dir = temp_dir("sigterm");
    let gw = Gw::start(&dir);
    let _events = Events::open(gw.addr("http"), "");
    gw.terminate();
}
