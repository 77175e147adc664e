//! Registration interface against a lock-step server (Core TS §6.2): Register bytes, Update
//! schedule, re-Register after 4.04, 1.0 fall-back on 4.12, several servers, De-register.

mod support;

use std::time::Duration;

use coap::{Code, ContentFormat, Response};
use lwm2m_client::{ClientEvent, ServerId};
use sim::Sim;
use support::{accept_register, answer, client_node, next_request, registered, server_node, tree, uri, wait_event};

#[test]
fn register_carries_query_and_object_links() {
    let mut sim = Sim::new(1);
    let server = server_node(&mut sim);
    let tree = tree(&[(ServerId(1), uri(&sim, server), 300, "U")], None, &[]);
    let client = client_node(&mut sim, tree);
    let (_, request) = accept_register(&mut sim, server, "c1");
    assert_eq!(request.options.uri_query(), ["ep=dev1", "lt=300", "lwm2m=1.1", "b=U"]);
    assert_eq!(request.options.content_format(), Some(ContentFormat::LINK_FORMAT));
    assert_eq!(
        String::from_utf8(request.payload).expect("utf-8"),
        "</>;rt=\"oma.lwm2m\";ct=\"110 112 11542 11544\",</1>;ver=1.2,</1/0>,</3>;ver=1.2,</3/0>,</4>;ver=1.3,</4/0>,</3303>;ver=1.1,</3303/0>"
    );
    let event = wait_event(&mut sim, client, |e| matches!(e, ClientEvent::Registered { .. }));
    assert_eq!(
        event,
        ClientEvent::Registered { server: ServerId(1), version: lwm2m::Version::V1_1, location: "/rd/c1".into() }
    );
}

#[test]
fn update_goes_at_lifetime_minus_margin_and_4_04_means_register_again() {
    let (mut sim, client, server) = registered(2, 300, "U");
    let registered_at = sim.now();
    let (peer, token, update) = next_request(&mut sim, server);
    assert_eq!(update.path(), "/rd/c1");
    assert!(update.options.uri_query().is_empty(), "nothing changed: empty Update");
    assert!(update.payload.is_empty());
    let after = sim.now() - registered_at;
    assert!(after >= Duration::from_secs(207) && after < Duration::from_secs(208), "update after {after:?}");
    answer(&mut sim, server, &peer, token, Response::new(Code::NOT_FOUND));
    let (_, again) = accept_register(&mut sim, server, "c2");
    assert_eq!(again.options.uri_query(), ["ep=dev1", "lt=300", "lwm2m=1.1", "b=U"]);
    wait_event(&mut sim, client, |e| matches!(e, ClientEvent::Registered { location, .. } if location == "/rd/c2"));
}

#[test]
fn a_4_12_answer_makes_the_client_register_as_1_0() {
    let mut sim = Sim::new(3);
    let server = server_node(&mut sim);
    let tree = tree(&[(ServerId(1), uri(&sim, server), 300, "U")], None, &[]);
    let client = client_node(&mut sim, tree);
    let (peer, token, first) = next_request(&mut sim, server);
    assert!(first.options.uri_query().contains(&"lwm2m=1.1".to_owned()));
    answer(&mut sim, server, &peer, token, Response::new(Code::PRECONDITION_FAILED));
    let (_, second) = accept_register(&mut sim, server, "c1");
    assert_eq!(second.options.uri_query(), ["ep=dev1", "lt=300", "lwm2m=1.0", "b=U"]);
    let payload = String::from_utf8(second.payload).expect("utf-8");
    assert!(payload.starts_with("</1>"), "no root link in 1.0: {payload}");
    let event = wait_event(&mut sim, client, |e| matches!(e, ClientEvent::Registered { .. }));
    assert!(matches!(event, ClientEvent::Registered { version: lwm2m::Version::V1_0, .. }));
}

#[test]
fn two_servers_are_registered_each_with_its_own_lifetime() {
    let mut sim = Sim::new(4);
    let (a, b) = (server_node(&mut sim), server_node(&mut sim));
    let servers = [(ServerId(1), uri(&sim, a), 60, "U"), (ServerId(2), uri(&sim, b), 300, "U")];
    let client = client_node(&mut sim, tree(&servers, None, &[]));
    let (_, reg_a) = accept_register(&mut sim, a, "a1");
    let (_, reg_b) = accept_register(&mut sim, b, "b1");
    assert!(reg_a.options.uri_query().contains(&"lt=60".to_owned()));
    assert!(reg_b.options.uri_query().contains(&"lt=300".to_owned()));
    let start = sim.now();
    let (peer, token, update_a) = next_request(&mut sim, a);
    assert_eq!(update_a.path(), "/rd/a1");
    let at = sim.now() - start;
    assert!(at >= Duration::from_secs(29) && at <= Duration::from_secs(31), "server 1 update after {at:?}");
    answer(&mut sim, a, &peer, token, Response::new(Code::CHANGED));
    // Server 1 keeps getting (and answering) Updates every 30 s until server 2's first one.
    let mut updates_a = 1;
    sim.run_until(
        |s| {
            let now = s.now();
            while let Some(coap::Event::Request { peer, token, request, .. }) = s[a].poll_event() {
                assert_eq!(request.path(), "/rd/a1");
                updates_a += 1;
                s[a].send_response(now, &peer, token, Response::new(Code::CHANGED)).expect("answer");
            }
            s[b].has_event()
        },
        Duration::from_secs(600),
    );
    let at = sim.now() - start;
    assert!(at >= Duration::from_secs(206) && at <= Duration::from_secs(208), "server 2 update after {at:?}");
    assert_eq!(updates_a, 6, "server 1 updated at 30, 60, … 180 s");
    assert!(sim[client].is_registered(ServerId(1)) && sim[client].is_registered(ServerId(2)));
}

#[test]
fn deregister_deletes_the_registration() {
    let (mut sim, client, server) = registered(5, 300, "U");
    let now = sim.now();
    sim[client].deregister_all(now);
    let (peer, token, request) = next_request(&mut sim, server);
    assert_eq!(request.method, Code::DELETE);
    assert_eq!(request.path(), "/rd/c1");
    answer(&mut sim, server, &peer, token, Response::new(Code::DELETED));
    wait_event(&mut sim, client, |e| matches!(e, ClientEvent::Deregistered { server: ServerId(1) }));
    assert!(!sim[client].is_registered(ServerId(1)));
}

#[test]
fn registration_update_trigger_sends_an_update() {
    let (mut sim, client, server) = registered(6, 300, "U");
    let response = support::ask(&mut sim, server, client, coap::Request::post("/1/0/8"));
    assert_eq!(response.code, Code::CHANGED);
    let (_, _, update) = next_request(&mut sim, server);
    assert_eq!(update.path(), "/rd/c1");
}

#[test]
fn disable_deregisters_and_registers_again_after_the_disable_timeout() {
    let (mut sim, client, server) = registered(7, 86_400, "U");
    let timeout = coap::Request::put("/1/0/5").with_payload(ContentFormat::TEXT, b"60".to_vec());
    assert_eq!(support::ask(&mut sim, server, client, timeout).code, Code::CHANGED);
    assert_eq!(support::ask(&mut sim, server, client, coap::Request::post("/1/0/4")).code, Code::CHANGED);
    let (peer, token, request) = next_request(&mut sim, server);
    assert_eq!((request.method, request.path()), (Code::DELETE, "/rd/c1".to_owned()));
    answer(&mut sim, server, &peer, token, Response::new(Code::DELETED));
    let disabled_at = sim.now();
    let (_, register) = accept_register(&mut sim, server, "c2");
    assert_eq!(register.path(), "/rd");
    let silent = sim.now() - disabled_at;
    assert!(silent >= Duration::from_secs(59) && silent <= Duration::from_secs(61), "silent for {silent:?}");
}

#[test]
fn register_all_registers_again_after_deregister() {
    let (mut sim, client, server) = registered(8, 300, "U");
    let now = sim.now();
    sim[client].deregister_all(now);
    let (peer, token, _) = next_request(&mut sim, server);
    answer(&mut sim, server, &peer, token, Response::new(Code::DELETED));
    wait_event(&mut sim, client, |e| matches!(e, ClientEvent::Deregistered { .. }));
    let now = sim.now();
    sim[client].register_all(now);
    accept_register(&mut sim, server, "c9");
    wait_event(&mut sim, client, |e| matches!(e, ClientEvent::Registered { location, .. } if location == "/rd/c9"));
}

#[test]
fn registration_and_updates_survive_a_lossy_link() {
    for seed in 0..20 {
        let mut sim = Sim::new(100 + seed);
        let server = server_node(&mut sim);
        let tree = tree(&[(ServerId(1), uri(&sim, server), 120, "U")], None, &[]);
        let client = client_node(&mut sim, tree);
        sim.link_both(client, server, |link| {
            link.loss(0.2).duplicate(0.1);
        });
        let mut registers = 0;
        let mut updates = 0;
        sim.run_for(Duration::from_secs(1_800), |s| {
            let now = s.now();
            while let Some(event) = s[server].poll_event() {
                if let coap::Event::Request { peer, token, request, .. } = event {
                    let response = if request.path() == "/rd" {
                        registers += 1;
                        Response::new(Code::CREATED)
                            .with_option(coap::OptionNumber::LOCATION_PATH, b"rd".to_vec())
                            .with_option(coap::OptionNumber::LOCATION_PATH, b"x".to_vec())
                    } else {
                        updates += 1;
                        Response::new(Code::CHANGED)
                    };
                    s[server].send_response(now, &peer, token, response).expect("answer");
                }
            }
        });
        assert!(registers >= 1, "seed {seed}: never registered");
        assert!(updates >= 10, "seed {seed}: only {updates} updates in 30 min with lt=120");
        assert!(sim[client].session(ServerId(1)).is_some());
    }
}
