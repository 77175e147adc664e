//! `lwm2m-gw device --bootstrap`: the device starts with only a bootstrap account, a scripted
//! bootstrap server provisions a management server (Security + Server instances, SenML JSON),
//! finishes, and the device registers there with the provisioned Short Server ID.

mod device_common;

use coap::{Code, ContentFormat, Request, Response};
use device_common::{read_text, Device, RawServer};
use lwm2m::format::Record;
use lwm2m::{Path, PrefixedPath, Registry, Value};

fn record(path: Path, value: Value) -> Record {
    Record { path: PrefixedPath::plain(path), value, time: None }
}

fn senml(records: &[Record], target: Path) -> Vec<u8> {
    lwm2m::format::encode(ContentFormat::SENML_JSON, records, &PrefixedPath::plain(target), &Registry::bundled())
        .expect("encodable")
}

#[test]
fn bootstrap_provisions_a_server_and_the_device_registers_there() {
    let mut bootstrap = RawServer::bind();
    let mut management = RawServer::bind();
    let mut device =
        Device::start(&["--server", &bootstrap.uri(), "--endpoint", "sim-bs", "--bootstrap", "--lifetime", "77"]);

    let (bs_peer, token, request) = bootstrap.wait_request("/bs");
    assert_eq!(request.method, Code::POST);
    assert!(request.options.uri_query().contains(&"ep=sim-bs".to_owned()), "{:?}", request.options.uri_query());
    bootstrap.answer(&bs_peer, token, Response::new(Code::CHANGED));

    let security = [
        record(Path::Resource(0, 1, 0), Value::String(management.uri())),
        record(Path::Resource(0, 1, 1), Value::Boolean(false)),
        record(Path::Resource(0, 1, 2), Value::Integer(3)),
        record(Path::Resource(0, 1, 3), Value::Opaque(Vec::new())),
        record(Path::Resource(0, 1, 4), Value::Opaque(Vec::new())),
        record(Path::Resource(0, 1, 5), Value::Opaque(Vec::new())),
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
    device.wait_line(|l| l == "bootstrap-finished ep=sim-bs");

    let (peer, request) = management.accept_register("b1");
    let query = request.options.uri_query();
    assert!(query.contains(&"ep=sim-bs".to_owned()) && query.contains(&"lt=77".to_owned()), "{query:?}");
    device.wait_line(|l| l == "registered ep=sim-bs server=123 location=/rd/b1 lwm2m=1.1");
    assert_eq!(read_text(&mut management, &peer, "/1/0/0"), "123");
    assert_eq!(read_text(&mut management, &peer, "/3311/0/5850"), "0");
}
