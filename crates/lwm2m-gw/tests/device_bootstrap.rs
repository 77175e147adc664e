//! `lwm2m-gw device --bootstrap`: the device starts with only a bootstrap account, a scripted
//! bootstrap server provisions a management server (Security + Server instances, SenML JSON),
//! finishes, and the device registers there with the provisioned Short Server ID — over plain
//! CoAP, or over a DTLS PSK session built from the provisioned Security instance.

mod device_common;

use std::sync::Arc;

use coap::{Code, ContentFormat, Peer, Request, Response};
use device_common::{read_text, Device, RawServer};
use lwm2m::format::Record;
use lwm2m::{Path, PrefixedPath, Registry, Value};
use transport::ServerCredentials;

fn record(path: Path, value: Value) -> Record {
    Record { path: PrefixedPath::plain(path), value, time: None }
}

fn senml(records: &[Record], target: Path) -> Vec<u8> {
    lwm2m::format::encode(ContentFormat::SENML_JSON, records, &PrefixedPath::plain(target), &Registry::bundled())
        .expect("encodable")
}

/// Answers the Bootstrap-Request of `ep` and writes one Security instance (`uri`, `mode`,
/// `identity`, `key`, Short Server ID 123) and one Server instance (lifetime 77), then finishes.
fn provision(bootstrap: &mut RawServer, ep: &str, uri: &str, mode: i64, identity: &[u8], key: &[u8]) -> Peer {
    let (bs_peer, token, request) = bootstrap.wait_request("/bs");
    assert_eq!(request.method, Code::POST);
    assert!(request.options.uri_query().contains(&format!("ep={ep}")), "{:?}", request.options.uri_query());
    bootstrap.answer(&bs_peer, token, Response::new(Code::CHANGED));

    let security = [
        record(Path::Resource(0, 1, 0), Value::String(uri.to_owned())),
        record(Path::Resource(0, 1, 1), Value::Boolean(false)),
        record(Path::Resource(0, 1, 2), Value::Integer(mode)),
        record(Path::Resource(0, 1, 3), Value::Opaque(identity.to_vec())),
        record(Path::Resource(0, 1, 4), Value::Opaque(Vec::new())),
        record(Path::Resource(0, 1, 5), Value::Opaque(key.to_vec())),
        record(Path::Resource(0, 1, 10), Value::Integer(123)),
    ];
    let write = Request::put("/0/1").with_payload(ContentFormat::SENML_JSON, senml(&security, Path::Instance(0, 1)));
    assert_eq!(bootstrap.ask(&bs_peer, write).code, Code::CHANGED);
    let server = [
        record(Path::Resource(1, 0, 0), Value::Integer(123)),
        record(Path::Resource(1, 0, 1), Value::Integer(77)),
        record(Path::Resource(1, 0, 6), Value::Boolean(false)),
        record(Path::Resource(1, 0, 7), Value::String("U".to_owned())),
    ];
    let write = Request::put("/1/0").with_payload(ContentFormat::SENML_JSON, senml(&server, Path::Instance(1, 0)));
    assert_eq!(bootstrap.ask(&bs_peer, write).code, Code::CHANGED);
    assert_eq!(bootstrap.ask(&bs_peer, Request::post("/bs")).code, Code::CHANGED);
    bs_peer
}

#[test]
fn bootstrap_provisions_a_server_and_the_device_registers_there() {
    let mut bootstrap = RawServer::bind();
    let mut management = RawServer::bind();
    let mut device =
        Device::start(&["--server", &bootstrap.uri(), "--endpoint", "sim-bs", "--bootstrap", "--lifetime", "77"]);
    provision(&mut bootstrap, "sim-bs", &management.uri(), 3, b"", b"");
    device.wait_line(|l| l == "bootstrap-finished ep=sim-bs");

    let (peer, request) = management.accept_register("b1");
    let query = request.options.uri_query();
    assert!(query.contains(&"ep=sim-bs".to_owned()) && query.contains(&"lt=77".to_owned()), "{query:?}");
    device.wait_line(|l| l == "registered ep=sim-bs server=123 location=/rd/b1 lwm2m=1.1");
    assert_eq!(read_text(&mut management, &peer, "/1/0/0"), "123");
    assert_eq!(read_text(&mut management, &peer, "/3311/0/5850"), "0");
}

#[test]
fn a_provisioned_psk_server_is_reached_over_dtls() {
    let key = b"provisioned-key".to_vec();
    let lookup_key = key.clone();
    let credentials = ServerCredentials {
        psk: Some(Arc::new(move |identity: &str| (identity == "sim-bs-psk").then(|| lookup_key.clone()))),
        certificate: None,
    };
    let mut bootstrap = RawServer::bind();
    let mut management = RawServer::bind_dtls(credentials);
    let mut device = Device::start(&["--server", &bootstrap.uri(), "--endpoint", "sim-bs-dtls", "--bootstrap"]);
    provision(&mut bootstrap, "sim-bs-dtls", &management.secure_uri(), 0, b"sim-bs-psk", &key);
    device.wait_line(|l| l == "bootstrap-finished ep=sim-bs-dtls");
    device.wait_line(|l| l.starts_with("transport ep=sim-bs-dtls uri=coaps://") && l.ends_with(" dtls=true"));
    let (peer, _) = management.accept_register("p1");
    assert_eq!(peer.identity.as_deref(), Some("sim-bs-psk"), "registered over the provisioned psk");
    device.wait_line(|l| l == "registered ep=sim-bs-dtls server=123 location=/rd/p1 lwm2m=1.1");
    assert_eq!(read_text(&mut management, &peer, "/3/0/0"), "lwm2m-gw");
}
