//! The Registration interface over a simulated network (spec notes §2.2, pitfalls 5, 10, 11):
//! codes, Location-Path, lifetime expiry with its observations, re-Register.

mod support;

use std::time::Duration;

use coap::{Code, ContentFormat, Event, OptionNumber, Request, Response};
use lwm2m::{Binding, Version};
use lwm2m_server::{DmRequest, RequestOptions, ServerEvent};
use support::{ep, World};

#[test]
fn register_answers_2_01_with_location_path_rd_id_and_records_the_parameters() {
    let mut w = World::new(1);
    let c = w.client();
    let id = w.registered(c, &["ep=dev1", "lt=300", "lwm2m=1.1", "b=U", "Q", "sms=123"], "</>;ct=110,</1/0>,</3/0>");
    let reg = w.server().registration(&ep("dev1")).expect("registered").clone();
    assert_eq!(reg.id.as_str(), id);
    assert_eq!(reg.lifetime, 300);
    assert_eq!(reg.version, Version::V1_1);
    assert_eq!(reg.binding, Binding::udp());
    assert!(reg.queue_mode);
    assert_eq!(reg.sms(), Some("123"));
    assert_eq!(reg.content_formats(), vec![ContentFormat::SENML_JSON]);
    assert!(reg.objects.has_object(3));
    assert_eq!(reg.addr, w.sim.addr(c));
    assert!(
        matches!(&w.events()[..], [ServerEvent::Registered { registration, replaced: None }] if registration == &reg)
    );
}

#[test]
fn update_answers_2_04_and_deregister_2_02_then_the_id_is_unknown() {
    let mut w = World::new(2);
    let c = w.client();
    let id = w.registered(c, &["ep=dev1", "lt=300", "lwm2m=1.1"], "</3/0>");
    w.events();
    let response = w.request(c, Request::post(&format!("/rd/{id}")).with_query("lt=600"));
    assert_eq!(response.code, Code::CHANGED);
    match &w.events()[..] {
        [ServerEvent::Updated { previous, registration }] => {
            assert_eq!((previous.lifetime, registration.lifetime), (300, 600));
        }
        other => panic!("{other:?}"),
    }
    let update = Request::post(&format!("/rd/{id}")).with_payload(ContentFormat::LINK_FORMAT, "</3/0>,</5/0>");
    assert_eq!(w.request(c, update).code, Code::CHANGED);
    assert!(w.server().registration(&ep("dev1")).unwrap().objects.has_object(5));
    assert_eq!(w.request(c, Request::delete(&format!("/rd/{id}"))).code, Code::DELETED);
    assert!(w.server().registration(&ep("dev1")).is_none());
    assert!(w.events().iter().any(|e| matches!(e, ServerEvent::Deregistered { .. })));
    assert_eq!(w.request(c, Request::post(&format!("/rd/{id}"))).code, Code::NOT_FOUND);
    assert_eq!(w.request(c, Request::delete(&format!("/rd/{id}"))).code, Code::NOT_FOUND);
}

#[test]
fn malformed_register_queries_and_payloads_get_4_00_and_unknown_versions_4_12() {
    let mut w = World::new(3);
    let c = w.client();
    assert_eq!(w.register(c, &["lt=300"], "</3/0>").0, Code::BAD_REQUEST, "ep missing");
    assert_eq!(w.register(c, &["ep=a", "lt=x"], "</3/0>").0, Code::BAD_REQUEST, "lt not a number");
    assert_eq!(w.register(c, &["ep=a", "ep=b"], "</3/0>").0, Code::BAD_REQUEST, "ep twice");
    assert_eq!(w.register(c, &["ep=a", "lwm2m=1.1", "b=UQ"], "</3/0>").0, Code::BAD_REQUEST, "1.0 binding in 1.1");
    assert_eq!(w.register(c, &["ep=a"], "</3/0").0, Code::BAD_REQUEST, "broken link-format");
    assert_eq!(w.register(c, &["ep=a"], "</d01/3/0>").0, Code::BAD_REQUEST, "prefixed link");
    let not_links = Request::post("/rd").with_query("ep=a").with_payload(ContentFormat::TEXT, "</3/0>");
    assert_eq!(w.request(c, not_links).code, Code::BAD_REQUEST, "payload not link-format");
    assert_eq!(w.register(c, &["ep=a", "lwm2m=2.0"], "</3/0>").0, Code::PRECONDITION_FAILED);
    assert_eq!(w.register(c, &["ep=a", "lwm2m=1.2"], "</3/0>").0, Code::PRECONDITION_FAILED, "newer than 1.1");
    assert_eq!(w.server().registrations().count(), 0);
    assert!(w.events().is_empty());
    assert_eq!(w.request(c, Request::get("/rd")).code, Code::METHOD_NOT_ALLOWED);
    assert_eq!(w.request(c, Request::post("/xyz")).code, Code::NOT_FOUND);
}

#[test]
fn lifetime_expiry_removes_the_registration_and_its_observations() {
    let mut w = World::new(4);
    let c = w.client();
    let id = w.registered(c, &["ep=dev1", "lt=60", "lwm2m=1.1"], "</3/0>");
    w.events();
    let now = w.now();
    let observe = DmRequest::Observe { path: "/3/0/9".parse().unwrap(), format: Some(ContentFormat::TEXT) };
    w.server().send(now, &ep("dev1"), observe, RequestOptions::default()).unwrap();
    let (peer, token, request, is_observe) = w.next_request(c, Duration::from_secs(5));
    assert!(is_observe);
    assert_eq!(request.options.observe(), Some(0));
    w.answer(c, &peer, token, Response::content(ContentFormat::TEXT, "90"));
    let ServerEvent::Response { result: Ok(response), .. } = w.next_event(Duration::from_secs(5)) else { panic!() };
    let observation = response.observation.expect("observation established");
    assert_eq!(w.server().observations().count(), 1);

    let registered_at = w.server().registration(&ep("dev1")).unwrap().registered_at;
    let event = w.next_event(Duration::from_secs(120));
    assert!(matches!(event, ServerEvent::Expired { ref registration } if registration.id.as_str() == id));
    assert_eq!(w.now() - registered_at, Duration::from_secs(60), "expires exactly at the end of its lifetime");
    assert!(w.server().registration(&ep("dev1")).is_none());
    assert_eq!(w.server().observations().count(), 0);

    // The client's next notification is refused with RST, and the client learns it.
    let now = w.now();
    w.sim[c].send_response(now, &peer, token, Response::content(ContentFormat::TEXT, "80")).unwrap();
    w.sim.run_until(|s| s[c].has_event(), Duration::from_secs(300));
    assert!(matches!(w.sim[c].poll_event(), Some(Event::ObservationCancelled { .. })));
    assert!(w.events().iter().all(|e| !matches!(e, ServerEvent::Notification { .. })));
    let _ = observation;
    assert_eq!(w.request(c, Request::post(&format!("/rd/{id}"))).code, Code::NOT_FOUND);
}

#[test]
fn an_update_before_expiry_keeps_the_registration() {
    let mut w = World::new(5);
    let c = w.client();
    let id = w.registered(c, &["ep=dev1", "lt=60", "lwm2m=1.1"], "</3/0>");
    for _ in 0..3 {
        w.sim.run_for(Duration::from_secs(45), |_| {});
        assert_eq!(w.request(c, Request::post(&format!("/rd/{id}"))).code, Code::CHANGED);
    }
    w.sim.run_for(Duration::from_secs(45), |_| {});
    assert!(w.server().registration(&ep("dev1")).is_some(), "alive 180 s after register with lt=60");
    assert!(w.events().iter().all(|e| !matches!(e, ServerEvent::Expired { .. })));
    w.sim.run_for(Duration::from_secs(20), |_| {});
    assert!(w.server().registration(&ep("dev1")).is_none());
}

#[test]
fn re_register_replaces_the_old_registration_and_voids_its_observations() {
    let mut w = World::new(6);
    let c = w.client();
    let first = w.registered(c, &["ep=dev1", "lt=300", "lwm2m=1.1"], "</3/0>");
    let now = w.now();
    let observe = DmRequest::Observe { path: "/3/0/9".parse().unwrap(), format: Some(ContentFormat::TEXT) };
    w.server().send(now, &ep("dev1"), observe, RequestOptions::default()).unwrap();
    let (peer, token, _, _) = w.next_request(c, Duration::from_secs(5));
    w.answer(c, &peer, token, Response::content(ContentFormat::TEXT, "90"));
    w.settle();
    assert_eq!(w.server().observations().count(), 1);
    w.events();

    let second = w.registered(c, &["ep=dev1", "lt=300", "lwm2m=1.1"], "</3/0>,</5/0>");
    assert_ne!(first, second);
    match &w.events()[..] {
        [ServerEvent::Registered { registration, replaced: Some(old) }] => {
            assert_eq!(old.id.as_str(), first);
            assert_eq!(registration.id.as_str(), second);
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(w.server().observations().count(), 0);
    assert_eq!(w.server().registrations().count(), 1);
    assert_eq!(w.request(c, Request::post(&format!("/rd/{first}"))).code, Code::NOT_FOUND);
    assert_eq!(w.request(c, Request::post(&format!("/rd/{second}"))).code, Code::CHANGED);
}

#[test]
fn lifetime_zero_never_expires() {
    let mut w = World::new(7);
    let c = w.client();
    w.registered(c, &["ep=dev1", "lt=0", "lwm2m=1.1"], "</3/0>");
    assert_eq!(w.server().registration(&ep("dev1")).unwrap().lifetime, 0);
    w.sim.run_for(Duration::from_secs(100_000), |_| {});
    assert!(w.server().registration(&ep("dev1")).is_some());
    let _ = OptionNumber::OBSERVE;
}
