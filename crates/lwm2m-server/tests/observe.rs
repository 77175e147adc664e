//! Observations beyond the basics (spec notes §2.4, §7.3 (5), pitfalls 10, 11): composite
//! observations, End-Device observations through the gateway, and how observations end.

mod support;

use std::time::Duration;

use coap::{Code, ContentFormat, Endpoint, Event, Response};
use lwm2m::format::{self, senml, Record};
use lwm2m::{PrefixedPath, Registry, Value};
use lwm2m_server::{Content, DmRequest, RequestOptions, ServerEvent};
use sim::Node;
use support::{ep, options, World};

fn path(p: &str) -> PrefixedPath {
    p.parse().unwrap()
}

fn registered(seed: u64, links: &str) -> (World, Node<Endpoint>, String) {
    let mut w = World::new(seed);
    let c = w.client();
    let id = w.registered(c, &["ep=dev1", "lt=3000", "lwm2m=1.1"], links);
    w.events();
    (w, c, id)
}

#[test]
fn observe_composite_is_a_fetch_with_observe_0_and_its_notifications_are_decoded_from_root() {
    let (mut w, c, _) = registered(61, "</3/0>");
    let paths = vec![path("/3/0/0"), path("/3/0/9")];
    let now = w.now();
    let observe = DmRequest::ObserveComposite { paths: paths.clone(), format: None };
    w.server().send(now, &ep("dev1"), observe, RequestOptions::default()).unwrap();
    let (peer, token, got, is_observe) = w.next_request(c, Duration::from_secs(5));
    assert!(is_observe);
    assert_eq!(got.method, Code::FETCH);
    assert_eq!(options(&got), vec![(6, vec![]), (12, vec![112]), (17, vec![112])]);
    assert_eq!(got.payload, senml::encode_paths(ContentFormat::SENML_CBOR, &paths).unwrap());
    let records = vec![
        Record::new(path("/3/0/0"), Value::String("Acme".into())),
        Record::new(path("/3/0/9"), Value::Integer(50)),
    ];
    let body = format::encode(ContentFormat::SENML_CBOR, &records, &path("/"), Registry::bundled_ref()).unwrap();
    w.answer(c, &peer, token, Response::content(ContentFormat::SENML_CBOR, body.clone()));
    let ServerEvent::Response { result: Ok(first), .. } = w.next_event(Duration::from_secs(5)) else { panic!() };
    let observation = first.observation.expect("established");
    assert_eq!(first.content, Content::Records(records.clone()));
    w.answer(c, &peer, token, Response::content(ContentFormat::SENML_CBOR, body));
    assert_eq!(
        w.next_event(Duration::from_secs(5)),
        ServerEvent::Notification { endpoint: ep("dev1"), observation, paths, records }
    );

    // Cancelling it as a plain observation is refused; as a composite one it is a FETCH Observe 1.
    let now = w.now();
    let wrong = DmRequest::CancelObservation { observation };
    assert!(w.server().send(now, &ep("dev1"), wrong, RequestOptions::default()).is_err());
    let cancel = DmRequest::CancelCompositeObservation { observation };
    w.server().send(now, &ep("dev1"), cancel, RequestOptions::default()).unwrap();
    w.sim.run_until(|s| s[c].has_event(), Duration::from_secs(5));
    let events: Vec<Event> = std::iter::from_fn(|| w.sim[c].poll_event()).collect();
    assert!(
        events.iter().any(|e| matches!(e, Event::Request { request, token: t, .. }
        if *t == token && request.method == Code::FETCH && request.options.observe() == Some(1))),
        "{events:?}"
    );
}

#[test]
fn an_error_notification_ends_the_observation() {
    let (mut w, c, _) = registered(62, "</3/0>");
    let now = w.now();
    let observe = DmRequest::Observe { path: path("/3/0/9"), format: Some(ContentFormat::TEXT) };
    w.server().send(now, &ep("dev1"), observe, RequestOptions::default()).unwrap();
    let (peer, token, _, _) = w.next_request(c, Duration::from_secs(5));
    w.answer(c, &peer, token, Response::content(ContentFormat::TEXT, "1"));
    let ServerEvent::Response { result: Ok(first), .. } = w.next_event(Duration::from_secs(5)) else { panic!() };
    let observation = first.observation.unwrap();
    w.answer(c, &peer, token, Response::new(Code::NOT_FOUND));
    assert_eq!(
        w.next_event(Duration::from_secs(5)),
        ServerEvent::ObservationEnded { endpoint: ep("dev1"), observation }
    );
    assert_eq!(w.server().observations().count(), 0);
}

#[test]
fn end_device_observations_notify_under_its_name_and_die_with_the_gateway() {
    let mut w = World::new(63);
    let c = w.client();
    let id = w.registered(c, &["ep=gw", "lt=3000", "lwm2m=1.1"], "</3/0>,</25>;ver=2.0,</25/0>");
    let (peer, token, _, _) = w.next_request(c, Duration::from_secs(5));
    let records = vec![
        Record::new(path("/25/0/0"), Value::String("urn:dev:1".into())),
        Record::new(path("/25/0/1"), Value::String("d01".into())),
        Record::new(path("/25/0/3"), Value::CoreLnk("</3303/0>".into())),
    ];
    let body = format::encode(ContentFormat::SENML_CBOR, &records, &path("/25"), Registry::bundled_ref()).unwrap();
    w.answer(c, &peer, token, Response::content(ContentFormat::SENML_CBOR, body));
    w.settle();
    w.events();

    let now = w.now();
    let observe = DmRequest::Observe { path: path("/3303/0/5700"), format: None };
    w.server().send(now, &ep("urn:dev:1"), observe, RequestOptions::default()).unwrap();
    let (peer, token, got, _) = w.next_request(c, Duration::from_secs(5));
    assert_eq!(got.path(), "/d01/3303/0/5700");
    let value = vec![Record::new(path("/d01/3303/0/5700"), Value::Float(21.5))];
    let body =
        format::encode(ContentFormat::SENML_CBOR, &value, &path("/d01/3303/0/5700"), Registry::bundled_ref()).unwrap();
    w.answer(c, &peer, token, Response::content(ContentFormat::SENML_CBOR, body.clone()));
    let ServerEvent::Response { result: Ok(first), .. } = w.next_event(Duration::from_secs(5)) else { panic!() };
    let observation = first.observation.unwrap();
    w.answer(c, &peer, token, Response::content(ContentFormat::SENML_CBOR, body));
    assert_eq!(
        w.next_event(Duration::from_secs(5)),
        ServerEvent::Notification {
            endpoint: ep("urn:dev:1"),
            observation,
            paths: vec![path("/d01/3303/0/5700")],
            records: value
        }
    );
    assert_eq!(w.request(c, coap::Request::delete(&format!("/rd/{id}"))).code, Code::DELETED);
    assert_eq!(w.server().observations().count(), 0);
    assert!(w.server().end_device(&ep("urn:dev:1")).is_none());
}

#[test]
fn a_dtls_peer_that_moved_is_reached_at_its_new_address_after_update() {
    let mut w = World::new(64);
    let old = w.secured_client("id-1");
    let id = w.registered(old, &["ep=dev1", "lt=3000", "lwm2m=1.1"], "</3/0>");
    let moved = w.secured_client("id-1");
    assert_eq!(w.request(moved, coap::Request::post(&format!("/rd/{id}"))).code, Code::CHANGED);
    let moved_addr = w.sim.addr(moved);
    assert_eq!(w.server().registration(&ep("dev1")).unwrap().addr, moved_addr);
    let now = w.now();
    let read = DmRequest::Read { path: path("/3/0/0"), format: None };
    w.server().send(now, &ep("dev1"), read, RequestOptions::default()).unwrap();
    let (_, _, got, _) = w.next_request(moved, Duration::from_secs(5));
    assert_eq!(got.path(), "/3/0/0");
    assert!(!w.sim[old].has_event());
}
