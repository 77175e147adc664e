//! Send (`POST /dp`), muted unless `/1/x/23` is false (Core TS §6.4.6, pitfall 18).

mod support;

use coap::{Code, ContentFormat, Request, Response};
use lwm2m::{Path, PrefixedPath, Registry, Value};
use lwm2m_client::send::SendError;
use lwm2m_client::{ClientEvent, ServerId};
use support::{answer, ask, next_request, registered, wait_event};

#[test]
fn send_is_muted_until_mute_send_is_false() {
    let (mut sim, client, server) = registered(30, 86_400, "U");
    let now = sim.now();
    let paths = [Path::Resource(3303, 0, 5700), Path::Resource(3, 0, 0)];
    assert!(matches!(sim[client].send(now, ServerId(1), &paths), Err(SendError::Muted(ServerId(1)))));
    assert!(matches!(sim[client].send(now, ServerId(9), &paths), Err(SendError::UnknownServer(ServerId(9)))));

    let unmute = Request::put("/1/0/23").with_payload(ContentFormat::TEXT, b"0".to_vec());
    assert_eq!(ask(&mut sim, server, client, unmute).code, Code::CHANGED);
    let now = sim.now();
    let token = sim[client].send(now, ServerId(1), &paths).expect("unmuted");
    let (peer, t, request) = next_request(&mut sim, server);
    assert_eq!((request.method, request.path()), (Code::POST, "/dp".to_owned()));
    assert_eq!(request.options.content_format(), Some(ContentFormat::SENML_CBOR));
    let records = lwm2m::format::decode(
        ContentFormat::SENML_CBOR,
        &request.payload,
        &PrefixedPath::plain(Path::Root),
        &Registry::bundled(),
    )
    .expect("senml cbor");
    let values: Vec<(Path, Value)> = records.into_iter().map(|r| (r.path.path, r.value)).collect();
    assert_eq!(
        values,
        [(Path::Resource(3303, 0, 5700), Value::Float(20.0)), (Path::Resource(3, 0, 0), Value::String("Acme".into()))]
    );
    answer(&mut sim, server, &peer, t, Response::new(Code::CHANGED));
    let event = wait_event(&mut sim, client, |e| matches!(e, ClientEvent::SendAcknowledged { .. }));
    assert_eq!(event, ClientEvent::SendAcknowledged { server: ServerId(1), token });
}
