//! The gateway hook: requests for a registered End-Device prefix go to the application, which
//! answers them (and notifies) later; bootstrap operations on a prefix are refused.

mod support;

use std::time::Duration;

use coap::{Code, ContentFormat, Event, Reliability, Request, Response};
use lwm2m_client::{ClientEvent, ServerId};
use support::*;

#[test]
fn a_prefixed_request_comes_out_as_an_event_and_is_answered_later() {
    let (mut sim, client, server) = registered(70, 300, "U");
    sim[client].set_proxy_prefixes(["d1".to_owned()]);
    let (now, to) = (sim.now(), sim.peer(client));
    let token = sim[server].send_request(now, to, Request::get("/d1/3/0/0"), Reliability::Confirmable).expect("sent");
    let event = wait_event(&mut sim, client, |e| matches!(e, ClientEvent::ProxyRequest { .. }));
    let ClientEvent::ProxyRequest { handle, request, observe } = event else { unreachable!() };
    assert_eq!(request.path(), "/d1/3/0/0");
    assert!(!observe);
    assert_eq!(handle.server, ServerId(1));
    sim.run_for(Duration::from_secs(3), |_| {});
    let now = sim.now();
    sim[client].respond_proxied(now, &handle, Response::content(ContentFormat::TEXT, "Acme")).expect("answered");
    sim.run_until(|s| s[server].has_event(), WAIT);
    match sim[server].poll_event() {
        Some(Event::Response { token: t, response }) => {
            assert_eq!(t, token);
            assert_eq!(response.payload, b"Acme".to_vec());
        }
        other => panic!("expected the separate response, got {other:?}"),
    }
    // A path that is not a registered prefix is the client's own business.
    let answer = ask(&mut sim, server, client, Request::get("/d2/3/0/0"));
    assert_eq!(answer.code, Code::NOT_FOUND);
}

#[test]
fn a_proxied_observation_cancelled_by_the_server_is_reported() {
    let (mut sim, client, server) = registered(71, 300, "U");
    sim[client].set_proxy_prefixes(["d1".to_owned()]);
    let (now, to) = (sim.now(), sim.peer(client));
    let token =
        sim[server].send_request(now, to, Request::observe("/d1/3303/0/5700"), Reliability::Confirmable).expect("sent");
    let event = wait_event(&mut sim, client, |e| matches!(e, ClientEvent::ProxyRequest { .. }));
    let ClientEvent::ProxyRequest { handle, observe, .. } = event else { unreachable!() };
    assert!(observe);
    let now = sim.now();
    sim[client].respond_proxied(now, &handle, Response::content(ContentFormat::TEXT, "20")).expect("answered");
    sim.run_until(|s| s[server].has_event(), WAIT);
    assert!(matches!(sim[server].poll_event(), Some(Event::Response { .. })));
    let now = sim.now();
    sim[client]
        .notify_proxied(now, &handle, Response::content(ContentFormat::TEXT, "21"), Reliability::NonConfirmable)
        .expect("sent");
    sim.run_until(|s| s[server].has_event(), WAIT);
    assert!(matches!(sim[server].poll_event(), Some(Event::Notification { token: t, .. }) if t == token));
    let now = sim.now();
    sim[server].cancel_observation(now, token).expect("cancel sent");
    let event = wait_event(&mut sim, client, |e| matches!(e, ClientEvent::ProxyObservationCancelled { .. }));
    assert_eq!(event, ClientEvent::ProxyObservationCancelled { handle });
}

#[test]
fn a_bootstrap_write_on_an_end_device_prefix_is_not_allowed() {
    let mut sim = sim::Sim::new(72);
    let server = server_node(&mut sim);
    let bs = server_node(&mut sim);
    let tree = tree(&[(ServerId(1), uri(&sim, server), 300, "U")], Some(uri(&sim, bs)), &[]);
    let client = client_node(&mut sim, tree);
    accept_register(&mut sim, server, "c1");
    wait_event(&mut sim, client, |e| matches!(e, ClientEvent::Registered { .. }));
    sim[client].set_proxy_prefixes(["d1".to_owned()]);
    let write = Request::put("/d1/1/0/1").with_payload(ContentFormat::TEXT, "60");
    let answer = ask(&mut sim, bs, client, write);
    assert_eq!(answer.code, Code::METHOD_NOT_ALLOWED);
}

#[test]
fn prefixes_added_and_removed_one_by_one_route_as_a_whole_set_does() {
    let (mut sim, client, server) = registered(73, 300, "U");
    sim[client].add_proxy_prefix("d1");
    sim[client].add_proxy_prefix("d2");
    sim[client].add_proxy_prefix("d1");
    sim[client].remove_proxy_prefix("d2");
    let (now, to) = (sim.now(), sim.peer(client));
    sim[server].send_request(now, to, Request::get("/d1/3/0/0"), Reliability::Confirmable).expect("sent");
    let event = wait_event(&mut sim, client, |e| matches!(e, ClientEvent::ProxyRequest { .. }));
    assert!(matches!(event, ClientEvent::ProxyRequest { ref request, .. } if request.path() == "/d1/3/0/0"));
    // d2 was removed: its path is the client's own business again.
    let answer = ask(&mut sim, server, client, Request::get("/d2/3/0/0"));
    assert_eq!(answer.code, Code::NOT_FOUND);
}

/// Prefixes the application decides on its own, changing after they were handed over.
#[derive(Debug)]
struct SharedPrefixes(std::sync::Arc<std::sync::Mutex<Vec<String>>>);

impl lwm2m_client::ProxyPrefixes for SharedPrefixes {
    fn contains(&self, prefix: &str) -> bool {
        self.0.lock().expect("not poisoned").iter().any(|p| p == prefix)
    }
}

#[test]
fn prefixes_the_application_keeps_are_asked_for_every_request() {
    let (mut sim, client, server) = registered(74, 300, "U");
    let prefixes = std::sync::Arc::new(std::sync::Mutex::new(vec!["d1".to_owned()]));
    sim[client].share_proxy_prefixes(Box::new(SharedPrefixes(prefixes.clone())));
    let (now, to) = (sim.now(), sim.peer(client));
    sim[server].send_request(now, to, Request::get("/d1/3/0/0"), Reliability::Confirmable).expect("sent");
    let event = wait_event(&mut sim, client, |e| matches!(e, ClientEvent::ProxyRequest { .. }));
    assert!(matches!(event, ClientEvent::ProxyRequest { ref request, .. } if request.path() == "/d1/3/0/0"));
    // d1 left: its path is the client's own business again.
    prefixes.lock().expect("not poisoned").clear();
    let answer = ask(&mut sim, server, client, Request::get("/d1/3/0/0"));
    assert_eq!(answer.code, Code::NOT_FOUND);
}
