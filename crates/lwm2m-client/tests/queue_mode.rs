//! Queue mode (Core TS §6.5, pitfall 9): asleep MAX_TRANSMIT_WAIT after the last exchange; on
//! wake-up an Update goes first.

mod support;

use std::time::Duration;

use coap::{Code, ContentFormat, Request, Response};
use lwm2m::Path;
use lwm2m_client::{ClientEvent, ServerId};
use support::{answer, ask, next_request, registered, wait_event};

#[test]
fn client_sleeps_after_max_transmit_wait_and_updates_before_sending() {
    let (mut sim, client, server) = registered(40, 86_400, "UQ");
    let unmute = Request::put("/1/0/23").with_payload(ContentFormat::TEXT, b"0".to_vec());
    assert_eq!(ask(&mut sim, server, client, unmute).code, Code::CHANGED);
    let last = sim.now();
    let event = wait_event(&mut sim, client, |e| matches!(e, ClientEvent::Sleeping { .. }));
    assert_eq!(event, ClientEvent::Sleeping { server: ServerId(1) });
    let asleep_after = sim.now() - last;
    assert!(
        asleep_after >= Duration::from_millis(92_900) && asleep_after < Duration::from_secs(94),
        "asleep after {asleep_after:?}"
    );
    sim.run_for(Duration::from_secs(600), |_| {});
    assert!(!sim[server].has_event(), "nothing is sent while asleep");

    let now = sim.now();
    sim[client].send(now, ServerId(1), &[Path::Resource(3303, 0, 5700)]).expect("unmuted");
    let (peer, token, first) = next_request(&mut sim, server);
    assert_eq!(first.path(), "/rd/c1", "Update first on wake-up");
    answer(&mut sim, server, &peer, token, Response::new(Code::CHANGED));
    let (_, _, second) = next_request(&mut sim, server);
    assert_eq!(second.path(), "/dp");
}

#[test]
fn queue_mode_is_announced_in_register() {
    let mut sim = sim::Sim::new(41);
    let server = support::server_node(&mut sim);
    let tree = support::tree(&[(ServerId(1), support::uri(&sim, server), 300, "UQ")], None, &[]);
    support::client_node(&mut sim, tree);
    let (_, request) = support::accept_register(&mut sim, server, "c1");
    assert_eq!(request.options.uri_query(), ["ep=dev1", "lt=300", "lwm2m=1.1", "b=U", "Q"]);
}
