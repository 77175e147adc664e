//! `lwm2m-gw run` end to end: the real binary as the gateway between a real `lwm2m-gw server`
//! (north) and real `lwm2m-gw device` End-Devices (south), all on 127.0.0.1 with free ports.

mod daemon_support;
mod gateway_support;
mod server_support;

use std::process::Command;
use std::time::Duration;

use daemon_support::{
    end_device_on_server, get, gone_from_server, prefixes, start_device, start_gateway, start_gateway_to,
};
use gateway_support::{eventually, TempDir};
use server_support::{http, Gw};

#[test]
fn a_device_behind_the_gateway_is_listed_and_read_by_the_distant_server() {
    let dir = TempDir::new("gw-run");
    std::fs::create_dir_all(dir.join("server")).unwrap();
    let server = Gw::start(&dir.join("server"));
    let mut gateway = start_gateway(&dir, &server, "127.0.0.1:0");
    let mut sensor = start_device(&dir, &gateway, "sensor-1");

    let listed = end_device_on_server(&server, "sensor-1");
    assert_eq!(listed["prefix"], "d1", "{listed}");
    let clients = get(server.addr("http"), "/api/clients");
    assert!(clients.as_array().unwrap().iter().any(|c| c["endpoint"] == "gw1"), "the gateway is listed: {clients}");

    let read = get(server.addr("http"), "/api/clients/sensor-1/3/0/0");
    assert_eq!(read["success"], true, "{read}");
    assert_eq!(read["content"]["value"], "lwm2m-gw", "the device's manufacturer, read through the gateway: {read}");
    let temperature = get(server.addr("http"), "/api/clients/sensor-1/3303/0/5701");
    assert_eq!(temperature["content"]["value"], "Cel", "{temperature}");

    let devices = get(gateway.http, "/api/end-devices");
    let list = devices.as_array().unwrap();
    assert_eq!(list.len(), 1, "{devices}");
    let device = &list[0];
    assert_eq!(device["endpoint"], "sensor-1");
    assert_eq!(device["prefix"], "d1");
    assert_eq!(device["mode"], "proxy");
    assert_eq!(device["status"], "connected");
    assert_eq!(device["state"], "Active");
    assert_eq!(device["lifetime"], 300);
    assert_eq!(device["binding"], "U");
    assert_eq!(device["version"], "1.1");
    assert!(device["address"].as_str().unwrap().starts_with("127.0.0.1:"), "{device}");
    assert!(device["objects"].as_str().unwrap().contains("</3303/0>"), "{device}");
    assert!(device["lastSeen"].as_u64().unwrap() > 0, "{device}");
    assert_eq!(get(gateway.http, "/api/end-devices/sensor-1")["prefix"], "d1");
    assert_eq!(get(gateway.http, "/api/end-devices/d1")["endpoint"], "sensor-1");
    let (status, _) = http(gateway.http, "GET", "/api/end-devices/nobody", None, b"");
    assert_eq!(status, 404);

    let summary = get(gateway.http, "/api/summary");
    assert_eq!(summary["total"], 1, "{summary}");
    assert_eq!(summary["status"]["connected"], 1, "{summary}");
    assert_eq!(summary["status"]["disconnected"], 0, "{summary}");
    assert_eq!(summary["state"]["Active"], 1, "{summary}");
    assert_eq!(summary["mode"]["proxy"], 1, "{summary}");

    let info = get(gateway.http, "/api/gateway");
    assert_eq!(info["endpoint"], "gw1");
    assert_eq!(info["servers"][0]["registered"], true, "{info}");

    // The End-Device leaves: the gateway keeps it as disconnected, the server stops listing it.
    sensor.terminate();
    eventually(Duration::from_secs(10), "the gateway sees sensor-1 disconnected", || {
        let device = get(gateway.http, "/api/end-devices/sensor-1");
        (device["status"] == "disconnected" && device["prefix"] == "d1").then_some(())
    });
    let summary = get(gateway.http, "/api/summary");
    assert_eq!(summary["status"]["disconnected"], 1, "{summary}");
    assert_eq!(summary["state"]["Active"], 0, "{summary}");
    gone_from_server(&server, "sensor-1");

    // A clean stop de-registers from the distant server.
    gateway.proc.terminate();
    eventually(Duration::from_secs(10), "the gateway is gone from the server", || {
        let clients = get(server.addr("http"), "/api/clients");
        (!clients.as_array()?.iter().any(|c| c["endpoint"] == "gw1")).then_some(())
    });
}

#[test]
fn a_restarted_gateway_keeps_each_device_prefix_and_the_reporting_opt_out() {
    let dir = TempDir::new("gw-restart");
    std::fs::create_dir_all(dir.join("server")).unwrap();
    let server = Gw::start(&dir.join("server"));
    let mut gateway = start_gateway(&dir, &server, "127.0.0.1:0");
    let south = gateway.south.to_string();
    {
        let _alpha = start_device(&dir, &gateway, "alpha");
        let _bravo = start_device(&dir, &gateway, "bravo");
        assert_eq!(end_device_on_server(&server, "bravo")["prefix"], "d2");
        assert_eq!(
            prefixes(&gateway),
            [("alpha".into(), "d1".into(), "connected".into()), ("bravo".into(), "d2".into(), "connected".into())]
        );
    }
    // The distant server turns End-Device reporting off for itself (Gateway Reporting, 33000).
    let body = r#"{"id":1,"kind":"singleResource","value":false,"type":"boolean"}"#;
    let (status, answer) =
        http(server.addr("http"), "PUT", "/api/clients/gw1/33000/1/1", Some("application/json"), body.as_bytes());
    assert_eq!(status, 200, "{answer}");
    gateway.proc.terminate();

    let gateway = start_gateway(&dir, &server, &south);
    let reporting = get(server.addr("http"), "/api/clients/gw1/33000/1/1");
    assert_eq!(reporting["content"]["value"], false, "the opt-out survives the restart: {reporting}");
    // Reporting back on, so that the server hears of the End-Devices below.
    let body = r#"{"id":1,"kind":"singleResource","value":true,"type":"boolean"}"#;
    let (status, answer) =
        http(server.addr("http"), "PUT", "/api/clients/gw1/33000/1/1", Some("application/json"), body.as_bytes());
    assert_eq!(status, 200, "{answer}");
    let remembered = prefixes(&gateway);
    assert_eq!(
        remembered,
        [("alpha".into(), "d1".into(), "disconnected".into()), ("bravo".into(), "d2".into(), "disconnected".into())],
        "the restarted gateway remembers its End-Devices"
    );
    let alpha = get(gateway.http, "/api/end-devices/alpha");
    assert!(alpha["lastSeen"].as_u64().is_some_and(|ms| ms > 0), "stored last seen: {alpha}");
    // bravo comes back first: were the prefixes forgotten, it would get d1.
    let _bravo = start_device(&dir, &gateway, "bravo");
    let _alpha = start_device(&dir, &gateway, "alpha");
    let _charlie = start_device(&dir, &gateway, "charlie");
    assert_eq!(end_device_on_server(&server, "bravo")["prefix"], "d2");
    assert_eq!(end_device_on_server(&server, "alpha")["prefix"], "d1");
    assert_eq!(end_device_on_server(&server, "charlie")["prefix"], "d3");
    let read = get(server.addr("http"), "/api/clients/bravo/3/0/0");
    assert_eq!(read["content"]["value"], "lwm2m-gw", "{read}");
    assert_eq!(get(gateway.http, "/api/summary")["status"]["connected"], 3);
}

fn run_with_config(dir: &TempDir, name: &str, text: &str) -> (bool, String) {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_lwm2m-gw"))
        .args(["run", "-c", path.to_str().unwrap(), "--data-dir", dir.join("data").to_str().unwrap()])
        .output()
        .unwrap();
    (output.status.success(), String::from_utf8_lossy(&output.stderr).into_owned())
}

#[test]
fn a_bad_gateway_toml_is_refused_with_the_key_named() {
    let dir = TempDir::new("gw-config");
    let base = "[gateway]\nendpoint = \"gw1\"\nhttp = \"off\"\n[south]\ncoap = \"127.0.0.1:0\"\n[[north]]\nuri = \"coap://127.0.0.1:5683\"\n";
    let cases = [
        ("typo.toml", format!("{base}lifetme = 60\n"), "north[0].lifetme: unknown field `lifetme`"),
        ("range.toml", format!("{base}lifetime = 1\n"), "north[0].lifetime: must be 30 to 604800 seconds"),
        ("type.toml", base.replace("coap = \"127.0.0.1:0\"", "coap = 5683"), "south.coap: invalid type"),
        ("scheme.toml", base.replace("coap://127", "http://127"), "north[0].uri: scheme \"http\" is not coap or coaps"),
        ("psk.toml", format!("{base}psk_identity = \"gw1\"\n"), "north[0].psk_key: missing"),
    ];
    for (name, text, expected) in cases {
        let (ok, stderr) = run_with_config(&dir, name, &text);
        assert!(!ok, "{name} is refused");
        assert!(stderr.contains(expected), "{name}: expected {expected:?} in {stderr:?}");
    }
    let output = Command::new(env!("CARGO_BIN_EXE_lwm2m-gw")).args(["run", "--south", "127.0.0.1:0"]).output().unwrap();
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("gateway.endpoint: missing"));
}

#[test]
fn two_distant_servers_each_see_and_read_the_device() {
    let dir = TempDir::new("gw-two");
    std::fs::create_dir_all(dir.join("one")).unwrap();
    std::fs::create_dir_all(dir.join("two")).unwrap();
    let one = Gw::start(&dir.join("one"));
    let two = Gw::start(&dir.join("two"));
    let gateway = start_gateway_to(&dir, &[&one, &two], "127.0.0.1:0");
    let _device = start_device(&dir, &gateway, "shared-1");
    for server in [&one, &two] {
        assert_eq!(end_device_on_server(server, "shared-1")["prefix"], "d1");
        let read = get(server.addr("http"), "/api/clients/shared-1/3/0/0");
        assert_eq!(read["content"]["value"], "lwm2m-gw", "{read}");
    }
    let info = get(gateway.http, "/api/gateway");
    let registered: Vec<bool> =
        info["servers"].as_array().unwrap().iter().map(|s| s["registered"].as_bool().unwrap()).collect();
    assert_eq!(registered, [true, true], "{info}");
}
