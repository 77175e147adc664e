//! Helpers for the `lwm2m-gw run` end-to-end tests: the real gateway daemon registered to real
//! `lwm2m-gw server`s (north) and real `lwm2m-gw device` End-Devices behind it (south), all on
//! 127.0.0.1 with free ports. Builds on `gateway_support` (processes, temp dirs) and
//! `server_support` (the distant server, HTTP).
#![allow(dead_code, unreachable_pub)]

use std::net::SocketAddr;
use std::time::Duration;

use serde_json::Value as Json;

use crate::gateway_support::{eventually, Proc, TempDir};
use crate::server_support::{http, Gw};

/// `GET path` on `addr`, 200 and JSON.
pub fn get(addr: SocketAddr, path: &str) -> Json {
    let (status, body) = http(addr, "GET", path, None, b"");
    assert_eq!(status, 200, "GET {path}: {body}");
    serde_json::from_str(&body).unwrap_or_else(|e| panic!("GET {path} is not json ({e}): {body}"))
}

/// A running gateway and its addresses.
pub struct Gateway {
    /// The daemon.
    pub proc: Proc,
    /// Its south face (where End-Devices register).
    pub south: SocketAddr,
    /// Its REST API.
    pub http: SocketAddr,
}

/// Starts `lwm2m-gw run` as `gw1` toward `server`, waiting for its registration.
pub fn start_gateway(dir: &TempDir, server: &Gw, south: &str) -> Gateway {
    start_gateway_to(dir, &[server], south)
}

/// Starts `lwm2m-gw run` as `gw1` toward every server of `servers`, waiting for each
/// registration.
pub fn start_gateway_to(dir: &TempDir, servers: &[&Gw], south: &str) -> Gateway {
    let norths: Vec<String> = servers.iter().map(|s| format!("coap://{}", s.addr("coap"))).collect();
    start_gateway_north(dir, &norths, south)
}

/// Starts `lwm2m-gw run` as `gw1` toward every `coap://` URI of `norths`, waiting for each
/// registration.
pub fn start_gateway_north(dir: &TempDir, norths: &[String], south: &str) -> Gateway {
    let data = dir.join("gateway");
    let mut args = vec!["run", "--endpoint", "gw1", "--south", south, "--http", "127.0.0.1:0"];
    for north in norths {
        args.extend(["--north", north.as_str()]);
    }
    args.extend(["--data-dir", data.to_str().unwrap()]);
    let mut proc = Proc::start("gateway", &args, &dir.join("gateway.log"));
    let south = proc.address("south");
    let http = proc.address("http");
    let mut lines: Vec<String> = norths.iter().map(|_| proc.wait_line(|l| l.starts_with("registered to "))).collect();
    lines.sort();
    let mut expected: Vec<String> = norths.iter().map(|n| format!("registered to {n} as gw1")).collect();
    expected.sort();
    assert_eq!(lines, expected);
    Gateway { proc, south, http }
}

/// Starts `lwm2m-gw device` as `endpoint` behind `gateway`, waiting for its registration.
pub fn start_device(dir: &TempDir, gateway: &Gateway, endpoint: &str) -> Proc {
    start_device_with(dir, gateway, endpoint, &[])
}

/// As [`start_device`], with extra device arguments.
pub fn start_device_with(dir: &TempDir, gateway: &Gateway, endpoint: &str, extra: &[&str]) -> Proc {
    let server = format!("coap://{}", gateway.south);
    let mut args = vec!["device", "--server", &server, "--endpoint", endpoint];
    args.extend(extra);
    let mut device = Proc::start(endpoint, &args, &dir.join(&format!("{endpoint}.log")));
    device.wait_line(|l| l.starts_with(&format!("registered ep={endpoint} ")));
    device
}

/// The distant server's client entry of `endpoint` once it is listed behind gw1.
pub fn end_device_on_server(server: &Gw, endpoint: &str) -> Json {
    eventually(Duration::from_secs(20), &format!("the server lists {endpoint} behind gw1"), || {
        let clients = get(server.addr("http"), "/api/clients");
        clients.as_array()?.iter().find(|c| c["endpoint"] == endpoint && c["gateway"] == "gw1").cloned()
    })
}

/// Waits (bounded) until the distant server no longer lists `endpoint`.
pub fn gone_from_server(server: &Gw, endpoint: &str) {
    eventually(Duration::from_secs(20), &format!("the server no longer lists {endpoint}"), || {
        let clients = get(server.addr("http"), "/api/clients");
        (!clients.as_array()?.iter().any(|c| c["endpoint"] == endpoint)).then_some(())
    });
}

/// (endpoint, prefix, status) of every End-Device the gateway knows.
pub fn prefixes(gateway: &Gateway) -> Vec<(String, String, String)> {
    let devices = get(gateway.http, "/api/end-devices");
    devices
        .as_array()
        .unwrap()
        .iter()
        .map(|d| {
            (
                d["endpoint"].as_str().unwrap().to_owned(),
                d["prefix"].as_str().unwrap().to_owned(),
                d["status"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}
