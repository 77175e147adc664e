//! `lwm2m-gw device` against the real `lwm2m-gw server`, both binaries on 127.0.0.1, driven
//! through the server's REST API: every device-management operation over NoSec, DTLS-PSK and
//! DTLS-X.509 (one table-driven body), a firmware push + Update, and bootstrap — client-initiated
//! from the device's bootstrap account, and server-initiated through an Execute of `/1/x/9`;
//! the device's periodic Send (`--send-interval`) arriving as SEND events once Mute Send is off.

mod device_common;
mod server_support;

use std::fmt::Display;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use device_common::{firmware_package, Device, WAIT};
use serde_json::Value as Json;
use server_support::pki::Ca;
use server_support::{temp_dir, Events, Gw};

/// How the device reaches the server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// `coap://`, no security.
    NoSec,
    /// `coaps://` with a PSK registered through `/api/security/clients`.
    Psk,
    /// `coaps://` with certificates generated for this test (CN = endpoint name).
    X509,
}

/// The real server and the real device, registered to it in one [`Mode`].
struct Pair {
    mode: Mode,
    ep: String,
    gw: Gw,
    device: Device,
    _dir: PathBuf,
}

impl Pair {
    /// Starts the server, provisions the device's credentials, starts the device and waits
    /// for its registration.
    fn start(mode: Mode, ep: &str) -> Self {
        let dir = temp_dir(ep);
        let ca = Ca::new();
        let mut server_extra = Vec::new();
        let mut device_files = None;
        if mode == Mode::X509 {
            server_extra = ["--x509-cert", "--x509-key", "--x509-ca"]
                .into_iter()
                .zip(ca.write_files(&dir, "server", "lwm2m-gw"))
                .flat_map(|(flag, file)| [flag.to_owned(), file])
                .collect();
            device_files = Some(ca.write_files(&dir, "device", ep));
        }
        let server_extra: Vec<&str> = server_extra.iter().map(String::as_str).collect();
        let gw = Gw::start_with(&dir, &server_extra);
        let entry = match mode {
            Mode::NoSec => None,
            Mode::Psk => Some(format!(
                r#"{{"endpoint":"{ep}","tls":{{"mode":"psk","details":{{"identity":"{ep}-id","key":"00112233445566"}}}}}}"#
            )),
            Mode::X509 => Some(format!(r#"{{"endpoint":"{ep}","tls":{{"mode":"x509"}}}}"#)),
        };
        if let Some(entry) = entry {
            let (status, body) = gw.http("PUT", "/api/security/clients", Some("application/json"), &entry);
            assert_eq!(status, 200, "{mode:?} security entry: {body}");
        }
        let uri = match mode {
            Mode::NoSec => format!("coap://{}", gw.addr("coap")),
            Mode::Psk | Mode::X509 => format!("coaps://{}", gw.addr("coaps")),
        };
        let identity = format!("{ep}-id");
        let mut args = vec!["--server", &uri, "--endpoint", ep, "--tick-ms", "100"];
        match (mode, &device_files) {
            (Mode::Psk, _) => args.extend(["--psk-identity", &identity, "--psk-key", "00112233445566"]),
            (Mode::X509, Some([cert, key, ca])) => {
                args.extend(["--x509-cert", cert, "--x509-key", key, "--x509-ca", ca]);
            }
            _ => {}
        }
        let mut device = Device::start(&args);
        device.wait_line(|l| l.starts_with(&format!("registered ep={ep} server=1 ")));
        Self { mode, ep: ep.to_owned(), gw, device, _dir: dir }
    }

    /// `method /api/clients/<ep><path>`; the answer must be HTTP 200 with a JSON body.
    fn call(&self, op: &str, method: &str, path: &str, body: Option<&str>) -> Json {
        let mode = self.mode;
        let target = format!("/api/clients/{}{path}", self.ep);
        let (status, text) = self.gw.http(method, &target, body.map(|_| "application/json"), body.unwrap_or(""));
        assert_eq!(status, 200, "{mode:?} {op}: {method} {target} answered {status}: {text}");
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("{mode:?} {op}: the answer is not json ({e}): {text}"))
    }

    /// As [`Pair::call`], and the LwM2M answer must be `status` (e.g. `CONTENT(205)`).
    fn expect(&self, op: &str, method: &str, path: &str, body: Option<&str>, status: &str) -> Json {
        let json = self.call(op, method, path, body);
        self.check(op, json["status"] == status, format!("expected {status}, got {json}"));
        json
    }

    /// A Read of `path` that must succeed; its `content`.
    fn read(&self, op: &str, path: &str) -> Json {
        self.expect(op, "GET", path, None, "CONTENT(205)")["content"].clone()
    }

    fn check(&self, op: &str, ok: bool, detail: impl Display) {
        assert!(ok, "{:?} {op}: {detail}", self.mode);
    }

    /// The `value` of a resource node as text (the API writes numbers as strings).
    fn text(node: &Json) -> String {
        match &node["value"] {
            Json::String(s) => s.clone(),
            other => other.to_string(),
        }
    }

    /// The resource `id` of an instance node.
    fn resource(instance: &Json, id: u16) -> Option<&Json> {
        instance["resources"].as_array()?.iter().find(|r| r["id"] == id)
    }

    /// The next NOTIFICATION on `events` whose data satisfies `pred`, within `within`.
    fn notification(events: &mut Events, within: Duration, pred: impl Fn(&Json) -> bool) -> Option<Json> {
        let deadline = Instant::now() + within;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return None;
            }
            match events.next("NOTIFICATION", left) {
                Some(data) if pred(&data) => return Some(data),
                Some(_) => continue,
                None => return None,
            }
        }
    }
}

/// The shared body: every operation of the REST API against the device, in `mode`.
fn every_operation_works(mode: Mode, ep: &str) {
    let pair = Pair::start(mode, ep);
    let client = pair.gw.get_json(&format!("/api/clients/{ep}"));
    pair.check("registration", client["secure"] == (mode != Mode::NoSec), &client);

    // Read: resource, instance, object.
    let temperature = pair.read("read resource", "/3303/0/5700");
    let celsius: f64 = Pair::text(&temperature).parse().unwrap_or(f64::NAN);
    pair.check("read resource", (10.0..35.0).contains(&celsius), &temperature);
    let device = pair.read("read instance", "/3/0");
    pair.check("read instance", device["kind"] == "instance", &device);
    pair.check("read instance", Pair::resource(&device, 1).map(Pair::text).as_deref() == Some("lwm2m-gw-sim"), &device);
    let light = pair.read("read object", "/3311");
    pair.check("read object", light["kind"] == "obj" && light["instances"][0]["id"] == 0, &light);

    // Write: replace of an instance, partial update of an instance, single resource.
    let replace = r#"{"kind":"instance","id":0,"resources":[{"id":5850,"kind":"singleResource","value":true,"type":"BOOLEAN"},{"id":5851,"kind":"singleResource","value":40,"type":"INTEGER"},{"id":5706,"kind":"singleResource","value":"red","type":"STRING"}]}"#;
    pair.expect("write replace", "PUT", "/3311/0", Some(replace), "CHANGED(204)");
    let light = pair.read("write replace", "/3311/0");
    let values = [5850, 5851, 5706].map(|id| Pair::resource(&light, id).map(Pair::text));
    pair.check("write replace", values == [Some("true".into()), Some("40".into()), Some("red".into())], &light);
    let partial =
        r#"{"kind":"instance","id":0,"resources":[{"id":5851,"kind":"singleResource","value":75,"type":"INTEGER"}]}"#;
    pair.expect("write partial update", "PUT", "/3311/0?replace=false", Some(partial), "CHANGED(204)");
    let light = pair.read("write partial update", "/3311/0");
    let values = [5850, 5851, 5706].map(|id| Pair::resource(&light, id).map(Pair::text));
    pair.check("write partial update", values == [Some("true".into()), Some("75".into()), Some("red".into())], &light);
    let single = r#"{"id":5850,"kind":"singleResource","value":false,"type":"BOOLEAN"}"#;
    pair.expect("write resource", "PUT", "/3311/0/5850", Some(single), "CHANGED(204)");
    let on = pair.read("write resource", "/3311/0/5850");
    pair.check("write resource", Pair::text(&on) == "false", &on);

    // Execute: Reset Min and Max Measured Values.
    pair.expect("execute", "POST", "/3303/0/5605", None, "CHANGED(204)");
    let reset = pair.read("execute", "/3303/0");
    let (min, max) = (Pair::resource(&reset, 5601), Pair::resource(&reset, 5602));
    pair.check("execute", min.is_some() && max.is_some(), &reset);

    // Create + Delete of a Server instance (the device's only multi-instance object it lets a
    // server create; it has no Security instance, so the device never registers there).
    let instance = r#"{"kind":"instance","id":7,"resources":[{"id":0,"kind":"singleResource","value":77,"type":"INTEGER"},{"id":1,"kind":"singleResource","value":120,"type":"INTEGER"},{"id":6,"kind":"singleResource","value":false,"type":"BOOLEAN"},{"id":7,"kind":"singleResource","value":"U","type":"STRING"}]}"#;
    let created = pair.expect("create", "POST", "/1", Some(instance), "CREATED(201)");
    // The id came with the payload, so a Location-Path is optional (Core TS §6.3.6).
    let location = &created["location"];
    pair.check("create", location.is_null() || location == "/1/7", &created);
    // The Short Server ID is read-only for a server, so the Create skips it (Core TS §6.3.6).
    let lifetime = pair.read("create", "/1/7/1");
    pair.check("create", Pair::text(&lifetime) == "120", &lifetime);
    pair.expect("delete", "DELETE", "/1/7", None, "DELETED(202)");
    pair.expect("delete", "GET", "/1/7", None, "NOT_FOUND(404)");

    // Discover.
    let discover = pair.expect("discover", "GET", "/3303/0/discover", None, "CONTENT(205)");
    let urls: Vec<&str> = discover["objectLinks"]
        .as_array()
        .map_or_else(Vec::new, |links| links.iter().filter_map(|l| l["url"].as_str()).collect());
    pair.check("discover", urls.contains(&"/3303/0/5700") && urls.contains(&"/3303/0/5701"), &discover);
    pair.check("discover", urls.contains(&"/3303/0/5605"), format!("the executable Reset Min/Max: {discover}"));
    let device = pair.expect("discover", "GET", "/3/0/discover", None, "CONTENT(205)");
    let urls: Vec<&str> = device["objectLinks"]
        .as_array()
        .map_or_else(Vec::new, |links| links.iter().filter_map(|l| l["url"].as_str()).collect());
    pair.check("discover", urls.contains(&"/3/0/4") && urls.contains(&"/3/0/5"), format!("Reboot: {device}"));

    // Write-Attributes, then Observe: notifications on /api/event, then Cancel.
    pair.expect("write-attributes", "PUT", "/3303/0/5700/attributes?pmin=0&pmax=1", None, "CHANGED(204)");
    let mut events = Events::open(pair.gw.addr("http"), &format!("ep={ep}"));
    let observed = pair.expect("observe", "POST", "/3303/0/5700/observe", None, "CONTENT(205)");
    pair.check("observe", observed["content"]["id"] == 5700, &observed);
    let is_temperature = |n: &Json| n["ep"] == ep && n["res"] == "/3303/0/5700";
    for _ in 0..2 {
        let notification = Pair::notification(&mut events, WAIT, is_temperature);
        pair.check("observe notification", notification.is_some(), "no NOTIFICATION within the wait");
    }
    let (status, body) = pair.gw.http("DELETE", &format!("/api/clients/{ep}/3303/0/5700/observe"), None, "");
    pair.check("observe cancel", status == 200, format!("{status} {body}"));
    // Notifications already on their way may still come; then silence.
    while Pair::notification(&mut events, Duration::from_millis(400), is_temperature).is_some() {}
    let late = Pair::notification(&mut events, Duration::from_millis(1500), is_temperature);
    pair.check("observe cancel", late.is_none(), format!("a notification after the cancel: {late:?}"));

    // Composite Read and Composite Write.
    let composite =
        pair.expect("composite read", "GET", "/composite?paths=/3/0/0,/3303/0/5700,/3311/0/5851", None, "CONTENT(205)");
    let content = &composite["content"];
    let ok = content["/3/0/0"]["value"] == "lwm2m-gw" && content["/3311/0/5851"]["value"] == "75";
    pair.check("composite read", ok && content["/3303/0/5700"]["kind"] == "singleResource", &composite);
    let write = r#"{"/3311/0/5851":{"id":5851,"kind":"singleResource","value":12,"type":"INTEGER"},"/3311/0/5706":{"id":5706,"kind":"singleResource","value":"blue","type":"STRING"}}"#;
    pair.expect("composite write", "PUT", "/composite?nodeformat=SENML_CBOR", Some(write), "CHANGED(204)");
    let light = pair.read("composite write", "/3311/0");
    let values = [5851, 5706].map(|id| Pair::resource(&light, id).map(Pair::text));
    pair.check("composite write", values == [Some("12".into()), Some("blue".into())], &light);

    // Observe-Composite: notifications carry both paths; then Cancel.
    let paths = "paths=/3303/0/5700,/3311/0/5850";
    let observed =
        pair.expect("observe-composite", "POST", &format!("/composite/observe?{paths}"), None, "CONTENT(205)");
    pair.check("observe-composite", Pair::text(&observed["content"]["/3311/0/5850"]) == "false", &observed);
    let on = r#"{"id":5850,"kind":"singleResource","value":true,"type":"BOOLEAN"}"#;
    pair.expect("observe-composite trigger", "PUT", "/3311/0/5850", Some(on), "CHANGED(204)");
    let composite = Pair::notification(&mut events, WAIT, |n| {
        n["ep"] == ep && n["kind"] == "composite" && Pair::text(&n["val"]["/3311/0/5850"]) == "true"
    });
    pair.check("observe-composite notification", composite.is_some(), "no composite NOTIFICATION with 5850=true");
    let (status, body) = pair.gw.http("DELETE", &format!("/api/clients/{ep}/composite/observe?{paths}"), None, "");
    pair.check("observe-composite cancel", status == 200, format!("{status} {body}"));
    drop(pair.device);
}

#[test]
fn every_operation_works_over_nosec() {
    every_operation_works(Mode::NoSec, "ops-nosec");
}

#[test]
fn every_operation_works_over_psk() {
    every_operation_works(Mode::Psk, "ops-psk");
}

#[test]
fn every_operation_works_over_x509() {
    every_operation_works(Mode::X509, "ops-x509");
}

fn wait_until(what: &str, mut check: impl FnMut() -> bool) {
    let deadline = Instant::now() + WAIT;
    while !check() {
        assert!(Instant::now() < deadline, "{what} did not happen within {WAIT:?}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The `content.value` of a Read through `gw`, as text.
fn read_value(gw: &Gw, ep: &str, path: &str) -> String {
    let json = gw.get_json(&format!("/api/clients/{ep}{path}"));
    assert_eq!(json["success"], true, "{path}: {json}");
    Pair::text(&json["content"])
}

#[test]
fn the_real_server_pushes_a_firmware_that_the_device_installs() {
    let dir = temp_dir("device-fw");
    let gw = Gw::start(&dir);
    let coap = format!("coap://{}", gw.addr("coap"));
    let mut device = Device::start(&["--server", &coap, "--endpoint", "sim-fw", "--update-delay-ms", "200"]);
    device.wait_line(|l| l.starts_with("registered ep=sim-fw server=1 "));
    let package = firmware_package("9.9.9", 2500);
    let hex: String = package.iter().map(|b| format!("{b:02x}")).collect();
    let push = format!(r#"{{"id":0,"kind":"singleResource","value":"{hex}","type":"opaque"}}"#);
    let pushed = gw.json("PUT", "/api/clients/sim-fw/5/0/0", Some("application/json"), &push);
    assert_eq!(pushed["success"], true, "{pushed}");
    assert_eq!(read_value(&gw, "sim-fw", "/5/0/3"), "2");
    let executed = gw.json("POST", "/api/clients/sim-fw/5/0/2", None, "");
    assert_eq!(executed["success"], true, "{executed}");
    device.wait_line(|l| l == "firmware-updated ep=sim-fw version=9.9.9");
    wait_until("the version change", || read_value(&gw, "sim-fw", "/3/0/3") == "9.9.9");
    assert_eq!(read_value(&gw, "sim-fw", "/5/0/5"), "1");
}

/// A bootstrap configuration for `ep`: one NoSec server at `uri` with `short_id` and `lifetime`.
fn bootstrap_config(uri: &str, short_id: u16, lifetime: u32) -> String {
    format!(
        r#"{{"toDelete":["/0","/1"],"servers":{{"0":{{"shortId":{short_id},"lifetime":{lifetime},"binding":"U"}}}},"security":{{"1":{{"uri":"{uri}","bootstrapServer":false,"securityMode":"NO_SEC","serverId":{short_id}}}}}}}"#
    )
}

#[test]
fn the_real_bootstrap_server_provisions_the_device_which_then_registers() {
    let dir = temp_dir("device-bs");
    let gw = Gw::start(&dir);
    let config = bootstrap_config(&format!("coap://{}", gw.addr("coap")), 321, 90);
    let (status, body) = gw.http("POST", "/api/bootstrap/sim-bs-rest", Some("application/json"), &config);
    assert_eq!(status, 200, "{body}");
    let bs = format!("coap://{}", gw.addr("bs-coap"));
    let mut device = Device::start(&["--server", &bs, "--endpoint", "sim-bs-rest", "--bootstrap"]);
    device.wait_line(|l| l == "bootstrap-finished ep=sim-bs-rest");
    device.wait_line(|l| l.starts_with("registered ep=sim-bs-rest server=321 "));
    let client = gw.get_json("/api/clients/sim-bs-rest");
    assert_eq!(client["lifetime"], 90, "{client}");
    assert_eq!(read_value(&gw, "sim-bs-rest", "/1/0/0"), "321");
}

#[test]
fn executing_bootstrap_request_trigger_makes_the_device_bootstrap_again_and_reregister() {
    let dir = temp_dir("device-bs-trigger");
    let gw = Gw::start(&dir);
    let coap = format!("coap://{}", gw.addr("coap"));
    let config = bootstrap_config(&coap, 55, 90);
    let (status, body) = gw.http("POST", "/api/bootstrap/sim-bs-again", Some("application/json"), &config);
    assert_eq!(status, 200, "{body}");
    let bs = format!("coap://{}", gw.addr("bs-coap"));
    let mut device = Device::start(&["--server", &bs, "--endpoint", "sim-bs-again", "--bootstrap"]);
    device.wait_line(|l| l == "bootstrap-finished ep=sim-bs-again");
    device.wait_line(|l| l.starts_with("registered ep=sim-bs-again server=55 "));
    let first = gw.get_json("/api/clients/sim-bs-again");
    assert_eq!(first["lifetime"], 90, "{first}");

    // A new configuration, then the server triggers the bootstrap (Core TS §6.1.2, /1/x/9).
    let config = bootstrap_config(&coap, 56, 150);
    let (status, body) = gw.http("POST", "/api/bootstrap/sim-bs-again", Some("application/json"), &config);
    assert_eq!(status, 200, "{body}");
    let executed = gw.json("POST", "/api/clients/sim-bs-again/1/0/9", None, "");
    assert_eq!(executed["status"], "CHANGED(204)", "{executed}");
    device.wait_line(|l| l == "bootstrap-finished ep=sim-bs-again");
    device.wait_line(|l| l.starts_with("registered ep=sim-bs-again server=56 "));
    wait_until("the new registration", || {
        let client = gw.get_json("/api/clients");
        client.as_array().is_some_and(|all| all.iter().any(|c| c["endpoint"] == "sim-bs-again" && c["lifetime"] == 150))
    });
    assert_eq!(read_value(&gw, "sim-bs-again", "/1/0/0"), "56");
}

/// The `value` of resource `id` of instance `instance` (`/3303/0`) in a SEND event's `val`.
fn sent_value(sent: &Json, instance: &str, id: u16) -> Option<String> {
    let node = &sent["val"][instance];
    node["resources"].as_array()?.iter().find(|r| r["id"] == id).map(Pair::text)
}

#[test]
fn the_device_sends_its_readings_once_the_server_unmutes_send() {
    let dir = temp_dir("device-send");
    let gw = Gw::start(&dir);
    let coap = format!("coap://{}", gw.addr("coap"));
    let mut events = Events::open(gw.addr("http"), "ep=sim-send");
    let mut device = Device::start(&["--server", &coap, "--endpoint", "sim-send", "--send-interval", "1"]);
    device.wait_line(|l| l.starts_with("registered ep=sim-send server=1 "));
    // Mute Send starts true: nothing goes out until the server unmutes it.
    device.wait_line(|l| l == "send-muted ep=sim-send server=1");
    assert_eq!(read_value(&gw, "sim-send", "/1/0/23"), "true");
    assert!(events.next("SEND", Duration::from_millis(1500)).is_none(), "a SEND while muted");

    let unmute = r#"{"id":23,"kind":"singleResource","value":false,"type":"BOOLEAN"}"#;
    let written = gw.json("PUT", "/api/clients/sim-send/1/0/23", Some("application/json"), unmute);
    assert_eq!(written["status"], "CHANGED(204)", "{written}");
    let sent = events.next("SEND", WAIT).expect("a SEND event after the unmute");
    assert_eq!(sent["ep"], "sim-send", "{sent}");
    let celsius: f64 = sent_value(&sent, "/3303/0", 5700).and_then(|t| t.parse().ok()).unwrap_or(f64::NAN);
    assert!((10.0..35.0).contains(&celsius), "temperature in {sent}");
    let battery: i64 = sent_value(&sent, "/3/0", 9).and_then(|b| b.parse().ok()).unwrap_or(-1);
    assert!((0..=100).contains(&battery), "battery level in {sent}");
    device.wait_line(|l| l == "sent ep=sim-send server=1");
    // And again at the next interval.
    let again = events.next("SEND", WAIT).expect("a second SEND event");
    assert!(sent_value(&again, "/3303/0", 5700).is_some(), "{again}");
}

#[test]
fn unmute_send_lets_the_device_send_from_the_start() {
    let dir = temp_dir("device-send-unmuted");
    let gw = Gw::start(&dir);
    let coap = format!("coap://{}", gw.addr("coap"));
    let mut events = Events::open(gw.addr("http"), "ep=sim-unmuted");
    let args = ["--server", &coap, "--endpoint", "sim-unmuted", "--send-interval", "1", "--unmute-send"];
    let mut device = Device::start(&args);
    device.wait_line(|l| l.starts_with("registered ep=sim-unmuted server=1 "));
    let sent = events.next("SEND", WAIT).expect("a SEND event without any write");
    assert!(sent_value(&sent, "/3303/0", 5700).is_some() && sent_value(&sent, "/3/0", 9).is_some(), "{sent}");
    assert_eq!(read_value(&gw, "sim-unmuted", "/1/0/23"), "false");
}

/// The object links of `ep`'s registration as the server holds it (`/3303/1` …).
fn registered_links(gw: &Gw, ep: &str) -> Vec<String> {
    let client = gw.get_json(&format!("/api/clients/{ep}"));
    client["objectLinks"]
        .as_array()
        .map_or_else(Vec::new, |links| links.iter().filter_map(|l| l["url"].as_str().map(str::to_owned)).collect())
}

#[test]
fn the_server_creates_and_deletes_temperature_sensors_and_the_registration_follows() {
    let mut pair = Pair::start(Mode::NoSec, "sim-sensors");
    let ep = "sim-sensors";
    let has = |link: &str| registered_links(&pair.gw, ep).iter().any(|l| l == link);
    assert!(has("/3303/0") && !has("/3303/1"));

    // A Create naming instance 1: 2.01, then an Update carries the new object list.
    let sensor = r#"{"kind":"instance","id":1,"resources":[{"id":5750,"kind":"singleResource","value":"fridge","type":"STRING"}]}"#;
    let created = pair.call("create", "POST", "/3303", Some(sensor));
    assert_eq!(created["status"], "CREATED(201)", "{created}");
    pair.device.wait_line(|l| l == format!("updated ep={ep} server=1"));
    wait_until("/3303/1 in the registration", || has("/3303/1"));
    let kind = pair.read("read the new sensor", "/3303/1/5750");
    assert_eq!(Pair::text(&kind), "fridge");
    let celsius: f64 = Pair::text(&pair.read("read the new sensor", "/3303/1/5700")).parse().unwrap_or(f64::NAN);
    assert!((10.0..35.0).contains(&celsius), "a simulated reading: {celsius}");

    // The same ID again: 4.00, nothing changes.
    let again = pair.call("create again", "POST", "/3303", Some(sensor));
    assert_eq!(again["status"], "BAD_REQUEST(400)", "{again}");

    // A Create without ID (TLV: the resources go unwrapped): the device picks the lowest free
    // one and says where (Location-Path).
    let unnamed =
        r#"{"kind":"instance","resources":[{"id":5750,"kind":"singleResource","value":"oven","type":"STRING"}]}"#;
    let picked = pair.call("create without id", "POST", "/3303?format=TLV", Some(unnamed));
    assert_eq!(picked["status"], "CREATED(201)", "{picked}");
    assert_eq!(picked["location"], "/3303/2", "{picked}");
    wait_until("/3303/2 in the registration", || has("/3303/2"));
    assert_eq!(Pair::text(&pair.read("read the picked sensor", "/3303/2/5750")), "oven");
    // The same in the negotiated format (SenML CBOR, instance 65535 as the placeholder).
    let picked = pair.call("create without id", "POST", "/3303", Some(unnamed));
    assert_eq!(picked["status"], "CREATED(201)", "{picked}");
    assert_eq!(picked["location"], "/3303/3", "{picked}");
    wait_until("/3303/3 in the registration", || has("/3303/3"));
    assert!(!has("/3303/65535"));

    // Delete: 2.02, then 4.04; sensor 0 is protected (4.05).
    pair.expect("delete", "DELETE", "/3303/1", None, "DELETED(202)");
    wait_until("/3303/1 gone from the registration", || !has("/3303/1") && has("/3303/2"));
    pair.expect("delete", "GET", "/3303/1", None, "NOT_FOUND(404)");
    pair.expect("delete unknown", "DELETE", "/3303/1", None, "NOT_FOUND(404)");
    pair.expect("delete sensor 0", "DELETE", "/3303/0", None, "METHOD_NOT_ALLOWED(405)");
    assert!(has("/3303/0"));
}
