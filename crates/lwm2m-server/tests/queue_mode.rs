//! Queue mode (spec notes §2.5, pitfall 9): requests for a sleeping client wait until it sends
//! something, then go out one at a time; they fail if it never wakes.

mod support;

use std::time::Duration;

use coap::{Code, ContentFormat, Request, Response};
use lwm2m::PrefixedPath;
use lwm2m_server::{DmRequest, RequestFailure, RequestOptions, SendError, ServerConfig, ServerEvent};
use support::{ep, World};

fn read(path: &str) -> DmRequest {
    DmRequest::Read { path: path.parse::<PrefixedPath>().unwrap(), format: Some(ContentFormat::TEXT) }
}

fn asleep(seed: u64, config: ServerConfig) -> (World, sim::Node<coap::Endpoint>, String) {
    let mut w = World::with_config(seed, config);
    let c = w.client();
    let id = w.registered(c, &["ep=q1", "lt=3000", "lwm2m=1.1", "Q"], "</3/0>");
    w.events();
    let registered_at = w.server().registration(&ep("q1")).unwrap().registered_at;
    assert_eq!(w.next_event(Duration::from_secs(200)), ServerEvent::Sleeping { endpoint: ep("q1") });
    assert_eq!(w.now() - registered_at, Duration::from_secs(93), "awake for MAX_TRANSMIT_WAIT");
    (w, c, id)
}

#[test]
fn a_sleeping_client_gets_its_pending_request_when_it_wakes_with_an_update() {
    let (mut w, c, id) = asleep(41, ServerConfig::default());
    let now = w.now();
    assert!(!w.server().is_awake(now, &ep("q1")));
    let request_id = w.server().send(now, &ep("q1"), read("/3/0/9"), RequestOptions::default()).unwrap();
    w.sim.run_for(Duration::from_secs(60), |_| {});
    assert!(!w.sim[c].has_event(), "nothing is sent while the client sleeps");

    assert_eq!(w.request(c, Request::post(&format!("/rd/{id}"))).code, Code::CHANGED);
    let (peer, token, got, _) = w.next_request(c, Duration::from_secs(5));
    assert_eq!(got.path(), "/3/0/9");
    w.answer(c, &peer, token, Response::content(ContentFormat::TEXT, "42"));
    w.settle();
    let events = w.events();
    assert!(matches!(events[0], ServerEvent::Updated { .. }), "{events:?}");
    assert_eq!(events[1], ServerEvent::Awake { endpoint: ep("q1") });
    assert!(
        matches!(&events[2], ServerEvent::Response { id, result: Ok(r), .. } if *id == request_id && r.code == Code::CONTENT)
    );
}

#[test]
fn queued_requests_go_out_one_at_a_time() {
    let (mut w, c, id) = asleep(42, ServerConfig::default());
    let now = w.now();
    let first = w.server().send(now, &ep("q1"), read("/3/0/0"), RequestOptions::default()).unwrap();
    let second = w.server().send(now, &ep("q1"), read("/3/0/1"), RequestOptions::default()).unwrap();
    assert_eq!(w.request(c, Request::post(&format!("/rd/{id}"))).code, Code::CHANGED);
    let (peer, token, got, _) = w.next_request(c, Duration::from_secs(5));
    assert_eq!(got.path(), "/3/0/0");
    w.sim.run_for(Duration::from_secs(2), |_| {});
    assert!(!w.sim[c].has_event(), "the second waits for the first answer");
    w.answer(c, &peer, token, Response::content(ContentFormat::TEXT, "Acme"));
    let (peer, token, got, _) = w.next_request(c, Duration::from_secs(5));
    assert_eq!(got.path(), "/3/0/1");
    w.answer(c, &peer, token, Response::content(ContentFormat::TEXT, "M1"));
    w.settle();
    let ids: Vec<_> = w
        .events()
        .into_iter()
        .filter_map(|e| match e {
            ServerEvent::Response { id, result: Ok(_), .. } => Some(id),
            _ => None,
        })
        .collect();
    assert_eq!(ids, vec![first, second]);
}

#[test]
fn a_request_for_a_client_that_never_wakes_fails_after_the_queue_bound() {
    let config = ServerConfig { max_queue_wait: Duration::from_secs(600), ..ServerConfig::default() };
    let (mut w, c, _) = asleep(43, config);
    let now = w.now();
    let id = w.server().send(now, &ep("q1"), read("/3/0/9"), RequestOptions::default()).unwrap();
    let event = w.next_event(Duration::from_secs(700));
    assert_eq!(event, ServerEvent::Response { id, endpoint: ep("q1"), result: Err(RequestFailure::ClientAsleep) });
    assert_eq!(w.now() - now, Duration::from_secs(600));
    assert!(!w.sim[c].has_event());
}

#[test]
fn the_queue_of_a_sleeping_client_is_bounded() {
    let config = ServerConfig { max_queued_per_registration: 2, ..ServerConfig::default() };
    let (mut w, _, _) = asleep(44, config);
    let now = w.now();
    for _ in 0..2 {
        w.server().send(now, &ep("q1"), read("/3/0/9"), RequestOptions::default()).unwrap();
    }
    let third = w.server().send(now, &ep("q1"), read("/3/0/9"), RequestOptions::default());
    assert_eq!(third, Err(SendError::QueueFull { limit: 2 }));
}

#[test]
fn a_send_wakes_the_client_too_and_requests_in_the_window_go_out_at_once() {
    let (mut w, c, _) = asleep(45, ServerConfig::default());
    let send = Request::post("/dp").with_payload(ContentFormat::SENML_JSON, "[{\"n\":\"/3/0/9\",\"v\":5}]");
    assert_eq!(w.request(c, send).code, Code::CHANGED);
    let events = w.events();
    assert!(events.contains(&ServerEvent::Awake { endpoint: ep("q1") }), "{events:?}");
    let now = w.now();
    assert!(w.server().is_awake(now, &ep("q1")));
    w.server().send(now, &ep("q1"), read("/3/0/9"), RequestOptions::default()).unwrap();
    let (_, _, got, _) = w.next_request(c, Duration::from_secs(5));
    assert_eq!(got.path(), "/3/0/9");
}

#[test]
fn de_register_fails_the_requests_still_queued() {
    let (mut w, c, id) = asleep(46, ServerConfig::default());
    let now = w.now();
    let queued = w.server().send(now, &ep("q1"), read("/3/0/9"), RequestOptions::default()).unwrap();
    assert_eq!(w.request(c, Request::delete(&format!("/rd/{id}"))).code, Code::DELETED);
    let events = w.events();
    assert!(events.contains(&ServerEvent::Response {
        id: queued,
        endpoint: ep("q1"),
        result: Err(RequestFailure::RegistrationEnded)
    }));
}
