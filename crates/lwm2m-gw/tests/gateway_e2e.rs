//! The gateway in proxy mode end to end, with the real binaries on 127.0.0.1: a distant
//! `lwm2m-gw server` ← `lwm2m-gw run` ← End-Devices (`lwm2m-gw device`, and lwm2m-node-lib's
//! 1.0 client). Every operation goes through the server's Leshan-compatible REST API, the
//! gateway's north face, its proxy and a device's south registration.

mod daemon_support;
mod device_common;
mod gateway_support;
mod node_support;
mod server_support;

use std::net::{SocketAddr, UdpSocket};
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use coap::{ContentFormat, Message};
use daemon_support::{
    end_device_on_server, get, gone_from_server, start_device, start_device_with, start_gateway, start_gateway_north,
    start_gateway_to,
};
use device_common::firmware_package;
use gateway_support::{eventually, Proc, TempDir};
use serde_json::Value as Json;
use server_support::{default_values, http, plain_endpoint, Device, Events, Gw};

/// A server with its state in `dir/name`.
fn server_in(dir: &TempDir, name: &str) -> Gw {
    std::fs::create_dir_all(dir.join(name)).unwrap();
    Gw::start(&dir.join(name))
}

/// A REST request on `server` answered 200 with JSON.
fn rest(server: &Gw, method: &str, path: &str, body: &str) -> Json {
    let content_type = (!body.is_empty()).then_some("application/json");
    let (status, text) = http(server.addr("http"), method, path, content_type, body.as_bytes());
    assert_eq!(status, 200, "{method} {path}: {text}");
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{method} {path} is not json ({e}): {text}"))
}

/// The `/25` instances the server reads on the gateway: (instance, End-Device endpoint, prefix).
fn end_device_objects(server: &Gw) -> Vec<(u64, String, String)> {
    let object = rest(server, "GET", "/api/clients/gw1/25", "");
    assert_eq!(object["success"], true, "{object}");
    let mut out: Vec<(u64, String, String)> = object["content"]["instances"]
        .as_array()
        .unwrap_or_else(|| panic!("instances in {object}"))
        .iter()
        .map(|instance| {
            let value = |id: u64| {
                instance["resources"]
                    .as_array()
                    .and_then(|all| all.iter().find(|r| r["id"] == id))
                    .and_then(|r| r["value"].as_str())
                    .unwrap_or_default()
                    .to_owned()
            };
            (instance["id"].as_u64().unwrap(), value(0), value(1))
        })
        .collect();
    out.sort();
    out
}

/// Reads `path` as text through the server's REST API.
fn value(server: &Gw, endpoint: &str, path: &str) -> Json {
    let read = rest(server, "GET", &format!("/api/clients/{endpoint}{path}"), "");
    assert_eq!(read["success"], true, "{read}");
    read["content"]["value"].clone()
}

#[test]
fn three_devices_are_managed_through_the_gateway_with_prefixes() {
    let dir = TempDir::new("e2e-dm");
    let server = server_in(&dir, "server");
    let gateway = start_gateway(&dir, &server, "127.0.0.1:0");
    let _alpha = start_device_with(&dir, &gateway, "alpha", &["--tick-ms", "200"]);
    let mut bravo = start_device(&dir, &gateway, "bravo");
    let _charlie = start_device_with(&dir, &gateway, "charlie", &["--update-delay-ms", "200"]);
    for (endpoint, prefix) in [("alpha", "d1"), ("bravo", "d2"), ("charlie", "d3")] {
        let listed = end_device_on_server(&server, endpoint);
        assert_eq!(listed["prefix"], prefix, "{listed}");
    }
    let names: Vec<(String, String)> = end_device_objects(&server).into_iter().map(|(_, e, p)| (e, p)).collect();
    assert_eq!(names, [("alpha".into(), "d1".into()), ("bravo".into(), "d2".into()), ("charlie".into(), "d3".into())]);

    // Read, write, execute on one device each.
    assert_eq!(value(&server, "alpha", "/3/0/0"), "lwm2m-gw");
    let write = rest(
        &server,
        "PUT",
        "/api/clients/bravo/3311/0/5851",
        r#"{"id":5851,"kind":"singleResource","value":40,"type":"integer"}"#,
    );
    assert_eq!(write["status"], "CHANGED(204)", "{write}");
    bravo.wait_line(|l| l == "written ep=bravo path=/3311/0/5851");
    assert_eq!(value(&server, "bravo", "/3311/0/5851"), "40");
    let execute = rest(&server, "POST", "/api/clients/charlie/3303/0/5605", "");
    assert_eq!(execute["status"], "CHANGED(204)", "{execute}");
    let refused = rest(&server, "POST", "/api/clients/charlie/3303/0/5700", "");
    assert_eq!(refused["status"], "METHOD_NOT_ALLOWED(405)", "the device's own refusal comes back: {refused}");

    // Discover answers the device's links without the prefix.
    let discover = rest(&server, "GET", "/api/clients/alpha/3303/discover", "");
    assert_eq!(discover["success"], true, "{discover}");
    let links: Vec<&str> =
        discover["objectLinks"].as_array().unwrap().iter().filter_map(|l| l["url"].as_str()).collect();
    assert!(links.contains(&"/3303") && links.contains(&"/3303/0/5700"), "{discover}");
    assert!(links.iter().all(|l| !l.starts_with("/d")), "no prefix in {discover}");

    // Observe: the device's notifications arrive on the server's event stream.
    let mut events = Events::open(server.addr("http"), "ep=alpha");
    let observe = rest(&server, "POST", "/api/clients/alpha/3303/0/5700/observe", "");
    assert_eq!(observe["success"], true, "{observe}");
    for _ in 0..2 {
        let notification = events.next("NOTIFICATION", Duration::from_secs(10)).expect("a notification of alpha");
        assert_eq!(notification["ep"], "alpha");
        assert_eq!(notification["res"], "/3303/0/5700");
        let text = notification["val"]["value"].as_str().unwrap_or_default().to_owned();
        assert!(text.parse::<f64>().is_ok(), "a temperature: {notification}");
    }

    // Composite read and write across two devices, on the gateway with prefixed paths.
    // The same resource on two devices: two answers, each under its prefix.
    let alpha_dimmer = value(&server, "alpha", "/3311/0/5851");
    assert_ne!(alpha_dimmer, "40");
    let composite =
        rest(&server, "GET", "/api/clients/gw1/composite?paths=/d1/3/0/0,/d1/3311/0/5851,/d2/3311/0/5851", "");
    assert_eq!(composite["success"], true, "{composite}");
    assert_eq!(composite["content"]["/d1/3/0/0"]["value"], "lwm2m-gw", "{composite}");
    assert_eq!(composite["content"]["/d1/3311/0/5851"]["value"], alpha_dimmer, "{composite}");
    assert_eq!(composite["content"]["/d2/3311/0/5851"]["value"], "40", "{composite}");
    let written = rest(
        &server,
        "PUT",
        "/api/clients/gw1/composite",
        r#"{"/d2/3311/0/5851":{"id":5851,"kind":"singleResource","value":55,"type":"integer"},
            "/d3/3311/0/5851":{"id":5851,"kind":"singleResource","value":66,"type":"integer"}}"#,
    );
    assert_eq!(written["status"], "CHANGED(204)", "{written}");
    assert_eq!(value(&server, "bravo", "/3311/0/5851"), "55");
    assert_eq!(value(&server, "charlie", "/3311/0/5851"), "66");

    // Create and Delete reach the device: a further temperature sensor comes and goes; its
    // fixed instances refuse (4.05), an unknown object stays 4.04.
    let create = rest(
        &server,
        "POST",
        "/api/clients/alpha/3303",
        r#"{"id":1,"resources":[{"id":5750,"kind":"singleResource","value":"Far","type":"string"}]}"#,
    );
    assert_eq!(create["status"], "CREATED(201)", "{create}");
    assert_eq!(value(&server, "alpha", "/3303/1/5750"), "Far");
    let delete = rest(&server, "DELETE", "/api/clients/alpha/3303/1", "");
    assert_eq!(delete["status"], "DELETED(202)", "{delete}");
    let create = rest(
        &server,
        "POST",
        "/api/clients/alpha/3311",
        r#"{"id":1,"resources":[{"id":5850,"kind":"singleResource","value":true,"type":"boolean"}]}"#,
    );
    assert_eq!(create["status"], "METHOD_NOT_ALLOWED(405)", "{create}");
    let delete = rest(&server, "DELETE", "/api/clients/alpha/3303/0", "");
    assert_eq!(delete["status"], "METHOD_NOT_ALLOWED(405)", "{delete}");
    let missing = rest(&server, "DELETE", "/api/clients/alpha/3304/0", "");
    assert_eq!(missing["status"], "NOT_FOUND(404)", "{missing}");
    assert_eq!(value(&server, "alpha", "/3303/0/5701"), "Cel", "the instance is still there");

    // A 100 kB firmware package pushed block-wise through the gateway.
    let package = firmware_package("9.1.0", 100 * 1024);
    let hex: String = package.iter().map(|b| format!("{b:02x}")).collect();
    let body = format!(r#"{{"id":0,"kind":"singleResource","value":"{hex}","type":"opaque"}}"#);
    let push = rest(&server, "PUT", "/api/clients/charlie/5/0/0?timeout=60", &body);
    assert_eq!(push["status"], "CHANGED(204)", "{push}");
    assert_eq!(value(&server, "charlie", "/5/0/3"), "2", "Downloaded");
    assert_eq!(value(&server, "charlie", "/5/0/7"), "9.1.0");
    let digest: String = openssl::sha::sha256(&package).iter().map(|b| format!("{b:02x}")).collect();
    assert_eq!(value(&server, "charlie", "/5/0/6"), format!("lwm2m-gw-sim@{digest}"));
}

#[test]
fn create_and_delete_reach_an_end_device_that_allows_them() {
    // `lwm2m-gw device` has fixed instances only; this End-Device is the scripted LwM2M 1.1
    // client of the server tests, which creates and deletes whatever it is asked to.
    let dir = TempDir::new("e2e-create");
    let server = server_in(&dir, "server");
    let gateway = start_gateway(&dir, &server, "127.0.0.1:0");
    let device = Device::start(plain_endpoint(), gateway.south, default_values());
    device.register("scripted", "</1/0>,</3/0>,</3303/0>", 300);
    device.registered().expect("the gateway accepts the End-Device");
    assert_eq!(end_device_on_server(&server, "scripted")["prefix"], "d1");

    let create = rest(
        &server,
        "POST",
        "/api/clients/scripted/3303",
        r#"{"id":1,"resources":[{"id":5701,"kind":"singleResource","value":"Far","type":"string"}]}"#,
    );
    assert_eq!(create["status"], "CREATED(201)", "{create}");
    let created = device.values.lock().unwrap().get(&"/3303/1/5701".parse().unwrap()).cloned();
    assert_eq!(created, Some(lwm2m::Value::String("Far".into())), "created on the device, without the prefix");
    assert_eq!(value(&server, "scripted", "/3303/1/5701"), "Far");

    let delete = rest(&server, "DELETE", "/api/clients/scripted/3303/1", "");
    assert_eq!(delete["status"], "DELETED(202)", "{delete}");
    let left: Vec<String> = device.values.lock().unwrap().keys().map(ToString::to_string).collect();
    assert!(!left.iter().any(|p| p.starts_with("/3303/1")), "{left:?}");
    let gone = rest(&server, "GET", "/api/clients/scripted/3303/1/5701", "");
    assert_eq!(gone["status"], "NOT_FOUND(404)", "{gone}");
}

/// Opens the server's event stream for `endpoint` and observes `path` on it through the REST
/// API, waiting for a first notification.
fn observe(server: &Gw, endpoint: &str, path: &str) -> Events {
    let mut events = Events::open(server.addr("http"), &format!("ep={endpoint}"));
    let observe = rest(server, "POST", &format!("/api/clients/{endpoint}{path}/observe"), "");
    assert_eq!(observe["success"], true, "{observe}");
    let notification = events.next("NOTIFICATION", Duration::from_secs(10)).expect("a first notification");
    assert_eq!(notification["res"], path, "{notification}");
    events
}

/// Waits (bounded) for the server's log to say that an observation of `endpoint` ended by the
/// client's error notification (4.04 relayed by the gateway).
fn observation_ended_at(dir: &TempDir, server: &str, endpoint: &str) {
    let log = dir.join(server).join("stderr.log");
    let needle = format!("endpoint={endpoint}");
    eventually(Duration::from_secs(10), &format!("the observation of {endpoint} ends at the server"), || {
        let text = std::fs::read_to_string(&log).ok()?;
        text.lines().any(|l| l.contains("observation ended by the client") && l.contains(&needle)).then_some(())
    });
}

#[test]
fn devices_that_leave_or_expire_disappear_and_come_back_with_their_prefix() {
    let dir = TempDir::new("e2e-leave");
    let server = server_in(&dir, "server");
    let gateway = start_gateway(&dir, &server, "127.0.0.1:0");
    let mut leaver = start_device_with(&dir, &gateway, "leaver", &["--tick-ms", "200"]);
    let mut sleeper = start_device_with(&dir, &gateway, "sleeper", &["--tick-ms", "200", "--lifetime", "5"]);
    assert_eq!(end_device_on_server(&server, "leaver")["prefix"], "d1");
    assert_eq!(end_device_on_server(&server, "sleeper")["prefix"], "d2");
    let mut leaver_events = observe(&server, "leaver", "/3303/0/5700");
    let mut sleeper_events = observe(&server, "sleeper", "/3303/0/5700");

    // De-registration (SIGTERM): gone from the list and from /25, its observation ends.
    leaver.terminate();
    let gone = leaver_events.next("DEREGISTRATION", Duration::from_secs(10)).expect("leaver's de-registration");
    assert_eq!(gone["endpoint"], "leaver", "{gone}");
    gone_from_server(&server, "leaver");
    let left: Vec<String> = end_device_objects(&server).into_iter().map(|(_, e, _)| e).collect();
    assert_eq!(left, ["sleeper"]);
    observation_ended_at(&dir, "server", "leaver");

    // Expiry (SIGKILL, lifetime 5 s, no De-register): the same, once the lifetime has run out.
    let killed = std::time::Instant::now();
    sleeper.kill();
    let gone = sleeper_events.next("DEREGISTRATION", Duration::from_secs(20)).expect("sleeper's expiry");
    assert_eq!(gone["endpoint"], "sleeper", "{gone}");
    assert!(killed.elapsed() > Duration::from_millis(1500), "expired by its lifetime, not at once");
    gone_from_server(&server, "sleeper");
    assert_eq!(end_device_objects(&server), []);
    observation_ended_at(&dir, "server", "sleeper");

    // Back again: each keeps its prefix, even in the other order.
    let _sleeper = start_device(&dir, &gateway, "sleeper");
    let _leaver = start_device(&dir, &gateway, "leaver");
    assert_eq!(end_device_on_server(&server, "sleeper")["prefix"], "d2");
    assert_eq!(end_device_on_server(&server, "leaver")["prefix"], "d1");
    assert_eq!(value(&server, "leaver", "/3/0/0"), "lwm2m-gw");
}

/// The `/25/x` links of the gateway's registration as `server` sees it.
fn end_device_links(server: &Gw) -> Vec<String> {
    let gateway = rest(server, "GET", "/api/clients/gw1", "");
    let mut links: Vec<String> = gateway["objectLinks"]
        .as_array()
        .unwrap_or_else(|| panic!("objectLinks in {gateway}"))
        .iter()
        .filter_map(|l| l["url"].as_str())
        .filter(|url| url.starts_with("/25/"))
        .map(str::to_owned)
        .collect();
    links.sort();
    links
}

#[test]
fn the_reporting_opt_out_silences_only_the_server_that_wrote_it() {
    let dir = TempDir::new("e2e-optout");
    let (a, b) = (server_in(&dir, "a"), server_in(&dir, "b"));
    let gateway = start_gateway_to(&dir, &[&a, &b], "127.0.0.1:0");
    let _first = start_device(&dir, &gateway, "first");
    for server in [&a, &b] {
        assert_eq!(end_device_on_server(server, "first")["prefix"], "d1");
        assert_eq!(end_device_links(server), ["/25/0"]);
    }
    // Server A (Short Server ID 1) turns End-Device reporting off for itself.
    let body = r#"{"id":1,"kind":"singleResource","value":false,"type":"boolean"}"#;
    let write = rest(&a, "PUT", "/api/clients/gw1/33000/1/1", body);
    assert_eq!(write["status"], "CHANGED(204)", "{write}");
    assert_eq!(value(&b, "gw1", "/33000/2/1"), true, "B's own setting is untouched");

    let _second = start_device(&dir, &gateway, "second");
    assert_eq!(end_device_on_server(&b, "second")["prefix"], "d2");
    eventually(Duration::from_secs(10), "B sees /25/1", || (end_device_links(&b) == ["/25/0", "/25/1"]).then_some(()));
    // Give A every chance to hear of it, then check it did not.
    std::thread::sleep(Duration::from_secs(1));
    let clients = get(a.addr("http"), "/api/clients");
    assert!(
        !clients.as_array().unwrap().iter().any(|c| c["endpoint"] == "second"),
        "A must not list second: {clients}"
    );
    assert_eq!(end_device_links(&a), ["/25/0"], "A's view is unchanged");
    assert_eq!(end_device_on_server(&a, "first")["prefix"], "d1", "A still reaches the device it knew");
    assert_eq!(value(&b, "second", "/3/0/0"), "lwm2m-gw");
}

/// A UDP relay between the gateway's north face and a server that keeps every datagram the
/// gateway sends, to check what the server received.
struct Relay {
    /// Where the gateway sends (its north URI's address).
    addr: SocketAddr,
    /// Every datagram from the gateway, in order.
    toward_server: Arc<Mutex<Vec<Vec<u8>>>>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Relay {
    fn start(server: SocketAddr) -> Self {
        let outer = UdpSocket::bind("127.0.0.1:0").unwrap();
        let inner = UdpSocket::bind("127.0.0.1:0").unwrap();
        for socket in [&outer, &inner] {
            socket.set_read_timeout(Some(Duration::from_millis(5))).unwrap();
        }
        let addr = outer.local_addr().unwrap();
        let toward_server = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let (kept, flag) = (toward_server.clone(), stop.clone());
        let thread = std::thread::spawn(move || {
            let mut buf = vec![0u8; 65536];
            let mut gateway = None;
            while !flag.load(Ordering::Relaxed) {
                if let Ok((len, from)) = outer.recv_from(&mut buf) {
                    gateway = Some(from);
                    kept.lock().unwrap().push(buf[..len].to_vec());
                    let _ = inner.send_to(&buf[..len], server);
                }
                if let (Ok((len, _)), Some(gateway)) = (inner.recv_from(&mut buf), gateway) {
                    let _ = outer.send_to(&buf[..len], gateway);
                }
            }
        });
        Self { addr, toward_server, stop, thread: Some(thread) }
    }

    /// The payloads of the gateway's messages in `format`, in order.
    fn payloads(&self, format: ContentFormat) -> Vec<Vec<u8>> {
        let kept = self.toward_server.lock().unwrap();
        kept.iter()
            .filter_map(|datagram| Message::decode(datagram).ok())
            .filter(|message| message.options.content_format() == Some(format))
            .map(|message| message.payload)
            .collect()
    }
}

impl Drop for Relay {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// `lwm2m-gw decode` of `payload` in `format`: its JSON output.
fn decode(format: ContentFormat, payload: &[u8]) -> Json {
    let hex: String = payload.iter().map(|b| format!("{b:02x}")).collect();
    let output = Command::new(env!("CARGO_BIN_EXE_lwm2m-gw"))
        .args(["decode", "-f", &format.0.to_string(), "--hex", &hex])
        .output()
        .unwrap();
    assert!(output.status.success(), "decode: {}", String::from_utf8_lossy(&output.stderr));
    serde_json::from_slice(&output.stdout).unwrap_or_else(|e| panic!("decode prints json: {e}"))
}

#[test]
fn a_node_lib_1_0_device_is_served_in_senml_with_prefixed_names() {
    let dir = TempDir::new("e2e-node");
    let server = server_in(&dir, "server");
    let relay = Relay::start(server.addr("coap"));
    let gateway = start_gateway_north(&dir, &[format!("coap://{}", relay.addr)], "127.0.0.1:0");
    let mut client = node_support::node("client.js");
    client.args(["--host", "127.0.0.1", "--port", &gateway.south.port().to_string(), "--endpoint", "node-ed"]);
    let mut node = Proc::spawn("lwm2m-node-lib client", client, &dir.join("node.log"));
    node.wait_line(|l| l.starts_with("registered /"));
    let listed = end_device_on_server(&server, "node-ed");
    assert_eq!(listed["prefix"], "d1", "{listed}");
    assert_eq!(get(gateway.http, "/api/end-devices/node-ed")["version"], "1.0");

    let read = rest(&server, "GET", "/api/clients/node-ed/3/0/0?format=SENML_JSON", "");
    assert_eq!(read["content"]["value"], "lwm2m-node-lib", "{read}");
    node.wait_line(|l| l == "read /3/0/0");
    let read = rest(&server, "GET", "/api/clients/node-ed/3303/0/5700?format=SENML_CBOR", "");
    assert_eq!(read["content"]["value"], "21.5", "{read}");

    // What the server received: SenML with the End-Device's prefix in the names (the server
    // also reads the gateway's own /25 in SenML; those records have no prefix).
    let answers = |format: ContentFormat| -> Vec<Json> {
        let decoded = relay.payloads(format).iter().map(|p| decode(format, p)).collect::<Vec<_>>();
        decoded.into_iter().filter(|d| d.to_string().contains("\"prefix\"")).collect()
    };
    assert_eq!(
        answers(ContentFormat::SENML_JSON),
        [serde_json::json!([{"prefix": "d1", "path": "/3/0/0", "type": "string", "value": "lwm2m-node-lib"}])]
    );
    assert_eq!(
        answers(ContentFormat::SENML_CBOR),
        [serde_json::json!([{"prefix": "d1", "path": "/3303/0/5700", "type": "float", "value": 21.5}])]
    );
}
