//! Observe in simulated time (RFC 7641): registration, notifications, freshness, the three ways
//! an observation ends, confirmable notifications, and notifications carried block-wise.

mod support;

use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::sync::Arc;
use std::time::Duration;

use coap::{
    Code, ContentFormat, DropReason, Endpoint, EndpointConfig, Event, Message, MessageType, OptionNumber, Peer,
    Reliability, Request, Response, SendError, Token,
};
use sim::{Node, Sim, Verdict};
use support::{body, config, drain, next_event, pair};

const TEXT: ContentFormat = ContentFormat(0);

/// Sets up an observation of `/3303/0/5700` from `a` on `b`; returns the client's token and the
/// server's (peer, token) for notifications.
fn observe(sim: &mut Sim, a: Node<Endpoint>, b: Node<Endpoint>) -> (Token, Peer, Token) {
    let (now, to) = (sim.now(), sim.peer(b));
    let token =
        sim[a].send_request(now, to, Request::observe("/3303/0/5700"), Reliability::Confirmable).expect("accepted");
    let Event::Request { peer, token: server_token, request, observe } = next_event(sim, b, Duration::from_secs(5))
    else {
        panic!("expected the registration")
    };
    assert!(observe, "a GET with Observe: 0 is flagged as a registration");
    assert_eq!(request.options.observe(), Some(0));
    let now = sim.now();
    sim[b].send_response(now, &peer, server_token, Response::content(TEXT, "20.0")).expect("answer");
    let event = next_event(sim, a, Duration::from_secs(5));
    assert!(matches!(event, Event::Response { token: t, ref response } if t == token && response.payload == b"20.0"));
    assert!(sim[a].is_observing(token));
    assert_eq!(sim[b].table_sizes().observers, 1);
    (token, peer, server_token)
}

fn notify(sim: &mut Sim, b: Node<Endpoint>, peer: &Peer, token: Token, value: &str) {
    let now = sim.now();
    sim[b].send_response(now, peer, token, Response::content(TEXT, value.to_owned())).expect("observation exists");
}

#[test]
fn notifications_arrive_in_order_and_a_reordered_one_is_dropped() {
    let (mut sim, a, b) = pair(30, config(), config());
    let (token, peer, server_token) = observe(&mut sim, a, b);
    for value in ["21.0", "22.0"] {
        notify(&mut sim, b, &peer, server_token, value);
        let event = next_event(&mut sim, a, Duration::from_secs(5));
        assert!(
            matches!(event, Event::Notification { token: t, ref response } if t == token && response.payload == value.as_bytes())
        );
    }

    // Hold back the next notification, let a newer one pass, then deliver the old one late.
    let held: Rc<RefCell<Option<Vec<u8>>>> = Rc::default();
    let holding = Rc::new(Cell::new(true));
    let (slot, flag) = (held.clone(), holding.clone());
    sim.link(b, a).intercept(move |bytes| {
        if flag.get() {
            flag.set(false);
            *slot.borrow_mut() = Some(bytes.to_vec());
            return Verdict::Drop;
        }
        Verdict::Pass
    });
    notify(&mut sim, b, &peer, server_token, "23.0");
    notify(&mut sim, b, &peer, server_token, "24.0");
    let event = next_event(&mut sim, a, Duration::from_secs(5));
    assert!(matches!(event, Event::Notification { ref response, .. } if response.payload == b"24.0"));
    let late = held.borrow_mut().take().expect("the first notification was held");
    let from = sim.addr(b);
    sim.inject(from, a, late);
    sim.run_for(Duration::from_secs(5), |_| {});
    assert!(drain(&mut sim, a).is_empty(), "the reordered notification is stale");
    assert_eq!(sim[a].stats().dropped(DropReason::StaleNotification), 1);
}

#[test]
fn client_that_forgot_the_token_resets_the_next_notification_and_the_server_stops() {
    let (mut sim, a, b) = pair(31, config(), config());
    let (token, peer, server_token) = observe(&mut sim, a, b);
    sim[a].cancel(token);
    assert!(!sim[a].is_observing(token));
    notify(&mut sim, b, &peer, server_token, "25.0");
    let event = next_event(&mut sim, b, Duration::from_secs(5));
    assert_eq!(event, Event::ObservationCancelled { peer: peer.clone(), token: server_token });
    assert_eq!(sim[a].stats().dropped(DropReason::UnknownToken), 1);
    assert!(!sim[a].has_event(), "nothing is reported after cancel");
    let now = sim.now();
    assert_eq!(
        sim[b].send_response(now, &peer, server_token, Response::new(Code::CONTENT)),
        Err(SendError::UnknownExchange { token: server_token })
    );
    assert_eq!(sim[b].table_sizes().observers, 0);
}

#[test]
fn get_with_observe_1_cancels_and_is_answered() {
    let (mut sim, a, b) = pair(32, config(), config());
    let (token, peer, server_token) = observe(&mut sim, a, b);
    let now = sim.now();
    sim[a].cancel_observation(now, token).expect("established observation");
    let cancelled = next_event(&mut sim, b, Duration::from_secs(5));
    assert_eq!(cancelled, Event::ObservationCancelled { peer: peer.clone(), token: server_token });
    let Event::Request { token: again, request, observe, .. } = next_event(&mut sim, b, Duration::from_secs(1)) else {
        panic!("the deregistering GET is a request too")
    };
    assert_eq!((again, request.options.observe(), observe), (server_token, Some(1), false));
    let now = sim.now();
    sim[b].send_response(now, &peer, server_token, Response::content(TEXT, "26.0")).expect("answer");
    let event = next_event(&mut sim, a, Duration::from_secs(5));
    assert!(matches!(event, Event::Response { token: t, .. } if t == token));
    assert!(!sim[a].is_observing(token));
    assert_eq!(sim[a].table_sizes().client_exchanges, 0);
    assert_eq!(
        sim[b].send_response(now, &peer, server_token, Response::new(Code::CONTENT)),
        Err(SendError::UnknownExchange { token: server_token })
    );
}

#[test]
fn unacknowledged_confirmable_notification_ends_the_observation() {
    let server = Arc::new(EndpointConfig { confirmable_notifications: true, ..EndpointConfig::default() });
    let (mut sim, a, b) = pair(33, config(), server);
    let (token, peer, server_token) = observe(&mut sim, a, b);
    sim.link(a, b).partition(); // the observer's ACKs are lost
    notify(&mut sim, b, &peer, server_token, "27.0");
    let event = next_event(&mut sim, a, Duration::from_secs(5));
    assert!(matches!(event, Event::Notification { token: t, .. } if t == token));
    let event = next_event(&mut sim, b, Duration::from_secs(200));
    assert_eq!(event, Event::ObservationCancelled { peer, token: server_token });
    assert_eq!(sim[b].stats().retransmissions, 4);
    assert!(drain(&mut sim, a).is_empty(), "retransmitted copies are deduplicated");
    assert_eq!(sim[a].stats().dropped(DropReason::Duplicate), 4);
}

#[test]
fn notifications_are_non_but_confirmable_at_least_every_24_hours() {
    let (mut sim, a, b) = pair(34, config(), config());
    let (_, peer, server_token) = observe(&mut sim, a, b);
    let kinds: Rc<RefCell<Vec<MessageType>>> = Rc::default();
    let sink = kinds.clone();
    sim.link(b, a).intercept(move |bytes| {
        sink.borrow_mut().push(Message::decode(bytes).expect("valid").mtype);
        Verdict::Pass
    });
    for hour in 1..=6 {
        sim.run_for(Duration::from_secs(6 * 3600), |_| {});
        notify(&mut sim, b, &peer, server_token, &format!("{hour}"));
        sim.run_for(Duration::from_secs(5), |_| {});
    }
    use MessageType::{Confirmable as Con, NonConfirmable as Non};
    assert_eq!(*kinds.borrow(), vec![Non, Non, Non, Con, Non, Non]);
    assert_eq!(drain(&mut sim, a).len(), 6);
}

#[test]
fn error_notification_ends_the_observation_on_both_sides() {
    let (mut sim, a, b) = pair(35, config(), config());
    let (token, peer, server_token) = observe(&mut sim, a, b);
    let now = sim.now();
    sim[b].send_response(now, &peer, server_token, Response::new(Code::NOT_FOUND)).expect("observation exists");
    let event = next_event(&mut sim, a, Duration::from_secs(5));
    assert!(
        matches!(event, Event::Notification { token: t, ref response } if t == token && response.code == Code::NOT_FOUND)
    );
    assert!(!sim[a].is_observing(token));
    assert_eq!(sim[b].table_sizes().observers, 0);
}

#[test]
fn large_notification_is_fetched_whole_by_the_observer() {
    let (mut sim, a, b) = pair(36, config(), config());
    let (token, peer, server_token) = observe(&mut sim, a, b);
    let now = sim.now();
    sim[b].send_response(now, &peer, server_token, Response::content(TEXT, body(3_000))).expect("observation exists");
    let event = next_event(&mut sim, a, Duration::from_secs(10));
    assert!(
        matches!(event, Event::Notification { token: t, ref response } if t == token && response.payload == body(3_000)),
        "{event:?}"
    );
    assert!(!sim[b].has_event(), "the later blocks are served from the cache");
    assert!(sim[a].is_observing(token));
    // And the observation goes on.
    notify(&mut sim, b, &peer, server_token, "small");
    let event = next_event(&mut sim, a, Duration::from_secs(5));
    assert!(matches!(event, Event::Notification { ref response, .. } if response.payload == b"small"));
}

#[test]
fn registration_beyond_max_observations_is_answered_as_a_plain_get() {
    let server = Arc::new(EndpointConfig { max_observations: 1, ..EndpointConfig::default() });
    let (mut sim, a, b) = pair(37, config(), server);
    let _ = observe(&mut sim, a, b);
    let (now, to) = (sim.now(), sim.peer(b));
    let token = sim[a].send_request(now, to, Request::observe("/3/0/13"), Reliability::Confirmable).expect("accepted");
    let Event::Request { peer, token: server_token, observe, .. } = next_event(&mut sim, b, Duration::from_secs(5))
    else {
        panic!("expected the registration")
    };
    assert!(!observe, "no room for a second observation");
    let now = sim.now();
    sim[b].send_response(now, &peer, server_token, Response::content(TEXT, "1")).expect("answer");
    let event = next_event(&mut sim, a, Duration::from_secs(5));
    assert!(matches!(event, Event::Response { token: t, .. } if t == token));
    assert!(!sim[a].is_observing(token), "the answer had no Observe option");
    assert_eq!(sim[b].table_sizes().observers, 1);
}

#[test]
fn forgotten_observer_gets_no_more_notifications_and_no_event() {
    let (mut sim, a, b) = pair(38, config(), config());
    let (token, peer, server_token) = observe(&mut sim, a, b);
    assert!(sim[b].forget_observer(&peer, server_token));
    assert!(!sim[b].forget_observer(&peer, server_token));
    let now = sim.now();
    assert_eq!(
        sim[b].send_response(now, &peer, server_token, Response::content(TEXT, "x")),
        Err(SendError::UnknownExchange { token: server_token })
    );
    sim.run_for(Duration::from_secs(10), |_| {});
    assert!(!sim[b].has_event());
    assert!(sim[a].is_observing(token), "the observer is not told");
}

#[test]
fn blocks_of_one_body_share_an_etag_and_a_changed_body_gets_another() {
    let (mut sim, a, b) = pair(38, config(), config());
    let (token, peer, server_token) = observe(&mut sim, a, b);
    let etags: Rc<RefCell<Vec<Option<Vec<u8>>>>> = Rc::default();
    let sink = etags.clone();
    sim.link(b.id(), a.id()).intercept(move |bytes| {
        let msg = Message::decode(bytes).expect("valid");
        if msg.options.get(OptionNumber::BLOCK2).is_some() {
            sink.borrow_mut().push(msg.options.get(OptionNumber::ETAG).map(<[u8]>::to_vec));
        }
        Verdict::Pass
    });
    for fill in [b'x', b'y'] {
        let now = sim.now();
        let value = vec![fill; 3_000];
        sim[b].send_response(now, &peer, server_token, Response::content(TEXT, value.clone())).expect("observing");
        let event = next_event(&mut sim, a, Duration::from_secs(10));
        assert!(
            matches!(event, Event::Notification { token: t, ref response } if t == token && response.payload == value),
            "{event:?}"
        );
    }
    let etags = etags.borrow();
    assert_eq!(etags.len(), 6, "two bodies of three 1024-byte blocks");
    let (first, second) = etags.split_at(3);
    assert!(first[0].is_some(), "a sliced body carries an etag");
    assert!(first.iter().all(|e| e == &first[0]), "one etag for every block of a body: {first:?}");
    assert!(second.iter().all(|e| e == &second[0]), "one etag for every block of a body: {second:?}");
    assert_ne!(first[0], second[0], "another representation, another etag");
}

#[test]
fn a_notification_overtaking_the_block_wise_first_response_is_reported_as_the_response() {
    let (mut sim, a, b) = pair(39, config(), config());
    let (now, to) = (sim.now(), sim.peer(b));
    let token = sim[a].send_request(now, to, Request::observe("/25"), Reliability::Confirmable).expect("accepted");
    let Event::Request { peer, token: server_token, observe, .. } = next_event(&mut sim, b, Duration::from_secs(5))
    else {
        panic!("expected the registration")
    };
    assert!(observe);
    let now = sim.now();
    let (first, newer) = (vec![b'x'; 3_000], vec![b'y'; 3_000]);
    sim[b].send_response(now, &peer, server_token, Response::content(TEXT, first)).expect("answer");
    // The resource changes before the observer has fetched the rest of the first response.
    sim[b].send_response(now, &peer, server_token, Response::content(TEXT, newer.clone())).expect("observing");
    let event = next_event(&mut sim, a, Duration::from_secs(10));
    let Event::Response { token: answered, response } = event else {
        panic!("the first response must be reported as such, not {}", short(&event))
    };
    assert_eq!(answered, token);
    assert!(response.payload == newer, "the newest body answers the registration");
    sim.run_for(Duration::from_secs(10), |_| {});
    assert!(drain(&mut sim, a).is_empty(), "nothing more for the first response");
    assert!(sim[a].is_observing(token));
    notify(&mut sim, b, &peer, server_token, "small");
    let event = next_event(&mut sim, a, Duration::from_secs(5));
    assert!(matches!(event, Event::Notification { ref response, .. } if response.payload == b"small"), "{event:?}");
}

/// An event without its (possibly large) payload, for assertion messages.
fn short(event: &Event) -> String {
    match event {
        Event::Response { token, response } => format!("Response {token:?} {}", response.code),
        Event::Notification { token, response } => format!("Notification {token:?} {}", response.code),
        other => format!("{other:?}"),
    }
}
