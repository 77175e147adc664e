//! Gateway awareness (spec notes §7.3, §7.5): the server observes `/25` of a gateway, keeps
//! an End-Device view from it, and routes requests to End-Devices with their prefix.

mod support;

use std::time::Duration;

use coap::{Code, ContentFormat, Endpoint, Peer, Request, Response, Token};
use lwm2m::format::{self, Record};
use lwm2m::{PrefixedPath, Registry, Value};
use lwm2m_server::{Content, DmRequest, RequestOptions, Server, ServerConfig, ServerEvent};
use sim::Node;
use support::{ep, options, uri_path, World};

fn path(p: &str) -> PrefixedPath {
    p.parse().unwrap()
}

fn gateway_object(devices: &[(u16, &str, &str, &str)]) -> Vec<u8> {
    let mut records = Vec::new();
    for (instance, id, prefix, links) in devices {
        records.push(Record::new(path(&format!("/25/{instance}/0")), Value::String((*id).into())));
        records.push(Record::new(path(&format!("/25/{instance}/1")), Value::String((*prefix).into())));
        records.push(Record::new(path(&format!("/25/{instance}/3")), Value::CoreLnk((*links).into())));
    }
    format::encode(ContentFormat::SENML_CBOR, &records, &path("/25"), Registry::bundled_ref()).unwrap()
}

/// A registered gateway whose `/25` observation the server has made; returns the observe
/// request's peer and token for later notifications.
fn gateway(seed: u64) -> (World, Node<Endpoint>, String, Peer, Token) {
    let mut w = World::new(seed);
    let c = w.client();
    let id = w.registered(c, &["ep=gw", "lt=3000", "lwm2m=1.1"], "</1/0>,</3/0>,</25>;ver=2.0,</25/0>");
    let (peer, token, got, observe) = w.next_request(c, Duration::from_secs(5));
    assert!(observe, "the server observes /25 right after the gateway registers");
    let mut want = vec![(6, vec![])];
    want.extend(uri_path("/25"));
    want.push((17, vec![112]));
    assert_eq!(options(&got), want);
    let object = gateway_object(&[(0, "urn:dev:001234", "d01", "</3/0>;ver=1.2,</3303/0>")]);
    w.answer(c, &peer, token, Response::content(ContentFormat::SENML_CBOR, object));
    w.settle();
    (w, c, id, peer, token)
}

#[test]
fn a_gateway_registration_yields_end_device_events() {
    let (mut w, _, _, _, _) = gateway(51);
    let events = w.events();
    assert!(matches!(events[0], ServerEvent::Registered { .. }));
    match &events[1] {
        ServerEvent::EndDeviceRegistered { gateway, end_device } => {
            assert_eq!(gateway, &ep("gw"));
            assert_eq!(end_device.endpoint, ep("urn:dev:001234"));
            assert_eq!(end_device.prefix.as_str(), "d01");
            assert!(end_device.objects.has_object(3303));
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(events.len(), 2, "the server's own /25 traffic raises no response events: {events:?}");
    assert_eq!(w.server().end_device(&ep("urn:dev:001234")).unwrap().gateway, ep("gw"));
}

#[test]
fn a_read_to_an_end_device_goes_through_the_gateway_with_its_prefix() {
    let (mut w, c, _, _, _) = gateway(52);
    w.events();
    let now = w.now();
    let read = DmRequest::Read { path: path("/3/0"), format: None };
    let id = w.server().send(now, &ep("urn:dev:001234"), read, RequestOptions::default()).unwrap();
    let (peer, token, got, _) = w.next_request(c, Duration::from_secs(5));
    assert_eq!(got.method, Code::GET);
    let mut want = uri_path("/d01/3/0");
    want.push((17, vec![112]));
    assert_eq!(options(&got), want, "GET /d01/3/0 Accept 112");
    let records = vec![
        Record::new(path("/d01/3/0/0"), Value::String("Acme".into())),
        Record::new(path("/d01/3/0/9"), Value::Integer(77)),
    ];
    let body = format::encode(ContentFormat::SENML_CBOR, &records, &path("/d01/3/0"), Registry::bundled_ref()).unwrap();
    w.answer(c, &peer, token, Response::content(ContentFormat::SENML_CBOR, body));
    match w.next_event(Duration::from_secs(5)) {
        ServerEvent::Response { id: got, endpoint, result: Ok(response) } => {
            assert_eq!((got, endpoint), (id, ep("urn:dev:001234")));
            assert_eq!(response.content, Content::Records(records));
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn gateway_object_notifications_add_update_and_remove_end_devices() {
    let (mut w, c, _, peer, token) = gateway(53);
    w.events();
    let object = gateway_object(&[
        (0, "urn:dev:001234", "d01", "</3/0>;ver=1.2"),
        (1, "urn:dev:556789", "d02", "</3/0>,</3306/0>"),
    ]);
    w.answer(c, &peer, token, Response::content(ContentFormat::SENML_CBOR, object));
    w.settle();
    let events = w.events();
    assert!(
        matches!(&events[..], [
        ServerEvent::EndDeviceUpdated { previous, end_device, .. },
        ServerEvent::EndDeviceRegistered { end_device: added, .. },
    ] if previous.objects.has_object(3303) && !end_device.objects.has_object(3303) && added.prefix.as_str() == "d02"),
        "{events:?}"
    );

    let object = gateway_object(&[(1, "urn:dev:556789", "d02", "</3/0>,</3306/0>")]);
    w.answer(c, &peer, token, Response::content(ContentFormat::SENML_CBOR, object));
    w.settle();
    let events = w.events();
    assert!(
        matches!(&events[..], [ServerEvent::EndDeviceRemoved { end_device, .. }]
        if end_device.endpoint == ep("urn:dev:001234")),
        "{events:?}"
    );
    let now = w.now();
    let read = DmRequest::Read { path: path("/3/0"), format: None };
    assert!(w.server().send(now, &ep("urn:dev:001234"), read, RequestOptions::default()).is_err());
}

#[test]
fn an_update_of_the_gateway_rereads_25_and_de_register_removes_its_end_devices() {
    let (mut w, c, id, _, _) = gateway(54);
    w.events();
    assert_eq!(w.request(c, Request::post(&format!("/rd/{id}"))).code, Code::CHANGED);
    let (peer, token, got, observe) = w.next_request(c, Duration::from_secs(5));
    assert!(!observe, "already observed: a plain read");
    assert_eq!(got.path(), "/25");
    let object = gateway_object(&[(0, "urn:dev:001234", "d01", "</3/0>;ver=1.2,</3303/0>")]);
    w.answer(c, &peer, token, Response::content(ContentFormat::SENML_CBOR, object));
    w.settle();
    assert!(matches!(&w.events()[..], [ServerEvent::Updated { .. }]), "unchanged devices raise nothing");

    assert_eq!(w.request(c, Request::delete(&format!("/rd/{id}"))).code, Code::DELETED);
    let events = w.events();
    assert!(
        matches!(&events[..], [ServerEvent::EndDeviceRemoved { .. }, ServerEvent::Deregistered { .. }]),
        "{events:?}"
    );
    assert_eq!(w.server().end_devices().count(), 0);
}

#[test]
fn removing_a_gateway_registration_ends_it_like_a_de_register() {
    let (mut w, c, id, _, _) = gateway(55);
    w.events();
    let now = w.now();
    assert_eq!(w.server().remove_registration(now, &ep("urn:dev:001234")), None, "an End-Device is no registration");
    let removed = w.server().remove_registration(now, &ep("gw")).expect("gw is registered");
    assert_eq!(removed.id.as_str(), id);
    let events = w.events();
    assert!(
        matches!(&events[..], [ServerEvent::EndDeviceRemoved { .. }, ServerEvent::Deregistered { registration }]
        if registration.id.as_str() == id),
        "{events:?}"
    );
    assert_eq!(w.server().registration(&ep("gw")), None);
    assert_eq!(w.server().end_devices().count(), 0);
    assert_eq!(w.server().remove_registration(now, &ep("gw")), None, "already gone");
    assert!(w.events().is_empty());
    assert_eq!(w.request(c, Request::post(&format!("/rd/{id}"))).code, Code::NOT_FOUND, "nothing to update");
}

#[test]
fn a_restored_gateway_registration_observes_25_again_so_its_end_devices_come_back() {
    let (mut w, c, id, _, _) = gateway(56);
    w.events();
    let kept = w.server().registration(&ep("gw")).cloned().expect("registered");
    // The server restarts: a fresh engine at the same address, the registration put back.
    let server = w.server;
    w.sim[server].server = Server::new(ServerConfig::default(), Registry::bundled(), [9; 32]);
    let now = w.now();
    w.server().restore_registration(now, kept).expect("restored");
    assert_eq!(w.server().end_devices().count(), 0, "unknown until /25 is read");

    let (peer, token, got, observe) = w.next_request(c, Duration::from_secs(5));
    assert!(observe, "the restored gateway's /25 is observed again without waiting for an Update");
    assert_eq!(got.path(), "/25");
    let object = gateway_object(&[(0, "urn:dev:001234", "d01", "</3/0>;ver=1.2,</3303/0>")]);
    w.answer(c, &peer, token, Response::content(ContentFormat::SENML_CBOR, object));
    w.settle();
    let events = w.events();
    assert!(
        matches!(&events[..], [ServerEvent::EndDeviceRegistered { gateway, end_device }]
        if gateway == &ep("gw") && end_device.prefix.as_str() == "d01"),
        "{events:?}"
    );
    assert_eq!(w.server().end_device(&ep("urn:dev:001234")).map(|d| d.gateway.clone()), Some(ep("gw")));
    assert_eq!(w.server().registration(&ep("gw")).map(|r| r.id.as_str().to_owned()), Some(id));
}
