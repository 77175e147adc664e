//! Observe with notification attributes (Core TS §6.4, §7.3): pmin holds back, pmax forces,
//! gt/lt/st decide, /1/x/26 picks CON.

mod support;

use std::cell::RefCell;
use std::rc::Rc;
use std::time::{Duration, Instant};

use coap::{Code, Event, Message, MessageType, Reliability, Request, Response};
use lwm2m::{Path, Value};
use sim::{Node, Sim, Verdict};
use support::{ask, registered};

/// Starts observing `path` from `server`; returns the token after the first answer.
fn observe(sim: &mut Sim, server: Node<coap::Endpoint>, client: Node<lwm2m_client::Client>, path: &str) -> coap::Token {
    let (now, to) = (sim.now(), sim.peer(client));
    let token = sim[server].send_request(now, to, Request::observe(path), Reliability::Confirmable).expect("sent");
    sim.run_until(|s| s[server].has_event(), support::WAIT);
    match sim[server].poll_event() {
        Some(Event::Response { token: t, response }) if t == token => {
            assert_eq!(response.code, Code::CONTENT);
            assert!(response.options.observe().is_some(), "observation established");
        }
        other => panic!("expected the first answer, got {other:?}"),
    }
    token
}

/// Runs until the next notification; returns it with its arrival time.
fn next_notification(sim: &mut Sim, server: Node<coap::Endpoint>) -> (Instant, Response) {
    sim.run_until(|s| s[server].has_event(), support::WAIT);
    match sim[server].poll_event() {
        Some(Event::Notification { response, .. }) => (sim.now(), response),
        other => panic!("expected a notification, got {other:?}"),
    }
}

fn set(sim: &mut Sim, client: Node<lwm2m_client::Client>, value: f64) {
    let now = sim.now();
    sim[client].set_value(now, Path::Resource(3303, 0, 5700), Value::Float(value)).expect("resource exists");
}

#[test]
fn pmin_holds_back_a_change_and_pmax_forces_a_notification() {
    let (mut sim, client, server) = registered(20, 86_400, "U");
    let wa = Request::put("/3303/0/5700").with_query("pmin=10").with_query("pmax=30");
    assert_eq!(ask(&mut sim, server, client, wa).code, Code::CHANGED);
    observe(&mut sim, server, client, "/3303/0/5700");
    let start = sim.now();
    sim.run_for(Duration::from_secs(1), |_| {});
    set(&mut sim, client, 21.5);
    let (at, response) = next_notification(&mut sim, server);
    assert_eq!(at - start, Duration::from_secs(10), "held back until pmin");
    assert_eq!(response.payload, b"21.5");
    let (at, response) = next_notification(&mut sim, server);
    assert_eq!(at - start, Duration::from_secs(40), "pmax after the last notification");
    assert_eq!(response.payload, b"21.5");
}

#[test]
fn thresholds_decide_which_changes_are_reported() {
    let (mut sim, client, server) = registered(21, 86_400, "U");
    let wa = Request::put("/3303/0/5700").with_query("gt=25").with_query("lt=10").with_query("st=4");
    assert_eq!(ask(&mut sim, server, client, wa).code, Code::CHANGED);
    observe(&mut sim, server, client, "/3303/0/5700");
    set(&mut sim, client, 22.0);
    sim.run_for(Duration::from_secs(5), |_| {});
    assert!(!sim[server].has_event(), "20 → 22 crosses nothing and moves less than st");
    set(&mut sim, client, 26.0);
    let (_, response) = next_notification(&mut sim, server);
    assert_eq!(response.payload, b"26.0", "crossed gt");
    set(&mut sim, client, 30.0);
    let (_, response) = next_notification(&mut sim, server);
    assert_eq!(response.payload, b"30.0", "moved by st since the last notification");
    set(&mut sim, client, 31.0);
    sim.run_for(Duration::from_secs(5), |_| {});
    assert!(!sim[server].has_event());
}

#[test]
fn default_notification_mode_con_makes_notifications_confirmable() {
    let (mut sim, client, server) = registered(22, 86_400, "U");
    let types: Rc<RefCell<Vec<MessageType>>> = Rc::default();
    let sink = types.clone();
    sim.link(client, server).intercept(move |bytes| {
        let msg = Message::decode(bytes).expect("valid");
        if msg.code == Code::CONTENT && msg.options.observe().is_some() {
            sink.borrow_mut().push(msg.mtype);
        }
        Verdict::Pass
    });
    observe(&mut sim, server, client, "/3303/0/5700");
    set(&mut sim, client, 21.0);
    next_notification(&mut sim, server);
    let put = Request::put("/1/0/26").with_payload(coap::ContentFormat::TEXT, b"1".to_vec());
    assert_eq!(ask(&mut sim, server, client, put).code, Code::CHANGED);
    set(&mut sim, client, 22.0);
    next_notification(&mut sim, server);
    let types = types.borrow();
    assert_eq!(types.last(), Some(&MessageType::Confirmable));
    assert_eq!(types.get(1), Some(&MessageType::NonConfirmable), "NON before /1/0/26 was set");
}

#[test]
fn observe_composite_notifies_when_any_member_changes() {
    let (mut sim, client, server) = registered(23, 86_400, "U");
    let names = lwm2m::format::senml::encode_paths(
        coap::ContentFormat::SENML_CBOR,
        &[
            lwm2m::PrefixedPath::plain(Path::Resource(3303, 0, 5700)),
            lwm2m::PrefixedPath::plain(Path::Resource(3, 0, 0)),
        ],
    )
    .expect("encodes");
    let fetch = Request::new(Code::FETCH, "/")
        .with_option(coap::OptionNumber::OBSERVE, Vec::new())
        .with_payload(coap::ContentFormat::SENML_CBOR, names);
    let (now, to) = (sim.now(), sim.peer(client));
    let token = sim[server].send_request(now, to, fetch, Reliability::Confirmable).expect("sent");
    sim.run_until(|s| s[server].has_event(), support::WAIT);
    assert!(matches!(sim[server].poll_event(), Some(Event::Response { token: t, .. }) if t == token));
    set(&mut sim, client, 23.0);
    let (_, response) = next_notification(&mut sim, server);
    assert_eq!(response.options.content_format(), Some(coap::ContentFormat::SENML_CBOR));
    let records = lwm2m::format::decode(
        coap::ContentFormat::SENML_CBOR,
        &response.payload,
        &lwm2m::PrefixedPath::plain(Path::Root),
        &lwm2m::Registry::bundled(),
    )
    .expect("decodes");
    assert_eq!(records.len(), 2);
    assert_eq!(records[0].value, Value::Float(23.0));
}

#[test]
fn queue_mode_wakes_with_an_update_before_the_notification() {
    let (mut sim, client, server) = registered(24, 86_400, "UQ");
    observe(&mut sim, server, client, "/3303/0/5700");
    let event = support::wait_event(&mut sim, client, |e| matches!(e, lwm2m_client::ClientEvent::Sleeping { .. }));
    assert!(matches!(event, lwm2m_client::ClientEvent::Sleeping { .. }));
    set(&mut sim, client, 24.0);
    let (peer, token, update) = support::next_request(&mut sim, server);
    assert_eq!(update.path(), "/rd/c1", "Update first");
    sim.run_for(Duration::from_secs(1), |_| {});
    assert!(!sim[server].has_event(), "the notification waits for the Update's answer");
    support::answer(&mut sim, server, &peer, token, Response::new(Code::CHANGED));
    let (_, response) = next_notification(&mut sim, server);
    assert_eq!(response.payload, b"24.0");
}

#[test]
fn a_1_0_cancel_attribute_ends_the_observation() {
    let (mut sim, client, server) = registered(25, 86_400, "U");
    observe(&mut sim, server, client, "/3303/0/5700");
    assert_eq!(sim[client].observations().len(), 1);
    let cancel = Request::put("/3303/0/5700").with_query("cancel");
    assert_eq!(ask(&mut sim, server, client, cancel).code, Code::CHANGED);
    assert!(sim[client].observations().is_empty());
    set(&mut sim, client, 30.0);
    sim.run_for(Duration::from_secs(60), |_| {});
    assert!(!sim[server].has_event(), "no notification after cancel");
}
