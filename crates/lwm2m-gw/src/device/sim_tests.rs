//! The device engine in virtual time (`sim`): a raw `coap::Endpoint` plays the LwM2M server,
//! temperature ticks are commands as the runtime sends them, and every wait is bounded.

use std::sync::Arc;
use std::time::Duration;

use clap::Parser;
use coap::{Code, ContentFormat, Endpoint, EndpointConfig, Event, OptionNumber, Peer, Reliability, Request, Response};
use sim::{Node, Sim};

use super::engine::{DeviceEngine, Milestone};
use super::{build_device, prepare, DeviceArgs};

const WAIT: Duration = Duration::from_secs(300);

#[derive(Debug, Parser)]
struct Flags {
    #[command(flatten)]
    device: DeviceArgs,
}

/// A registered device and its server: (sim, device, server, the device as the server's peer).
fn registered(seed: u64, extra: &[&str]) -> (Sim, Node<DeviceEngine>, Node<Endpoint>, Peer) {
    let mut sim = Sim::new(seed);
    let server = sim.add_with(|seed| Endpoint::new(Arc::new(EndpointConfig::default()), seed));
    let uri = format!("coap://{}", sim.addr(server));
    let mut argv = vec!["device", "--server", &uri, "--endpoint", "sim-ep"];
    argv.extend_from_slice(extra);
    let setup = Arc::new(prepare(&Flags::parse_from(argv).device).expect("valid flags"));
    let now = sim.now();
    let device = sim.add(build_device(&setup, "sim-ep", 0, seed, now).expect("device"));
    sim[device].start(now);
    sim.run_until(|s| s[server].has_event(), WAIT);
    let Some(Event::Request { peer, token, request, .. }) = sim[server].poll_event() else {
        panic!("expected the Register");
    };
    assert_eq!(request.path(), "/rd");
    let created = Response::new(Code::CREATED)
        .with_option(OptionNumber::LOCATION_PATH, b"rd".to_vec())
        .with_option(OptionNumber::LOCATION_PATH, b"1".to_vec());
    let now = sim.now();
    sim[server].send_response(now, &peer, token, created).expect("answer");
    sim.run_until(|s| matches!(s[device].poll_milestone(), Some(Milestone::Registered { .. })), WAIT);
    (sim, device, server, peer)
}

fn ask(sim: &mut Sim, server: Node<Endpoint>, peer: &Peer, request: Request) -> Response {
    let now = sim.now();
    let token = sim[server].send_request(now, peer.clone(), request, Reliability::Confirmable).expect("sent");
    sim.run_until(|s| s[server].has_event(), WAIT);
    match sim[server].poll_event() {
        Some(Event::Response { token: t, response }) if t == token => response,
        other => panic!("expected the response, got {other:?}"),
    }
}

fn text(sim: &mut Sim, server: Node<Endpoint>, peer: &Peer, path: &str) -> String {
    let accept = vec![0u8; 0]; // text/plain is content format 0, the empty uint
    let response = ask(sim, server, peer, Request::get(path).with_option(OptionNumber::ACCEPT, accept));
    assert_eq!(response.code, Code::CONTENT, "{path}");
    String::from_utf8(response.payload).expect("text")
}

#[test]
fn temperature_ticks_reach_an_observer_as_notifications() {
    let (mut sim, device, server, peer) = registered(3, &[]);
    let observe = Request::observe("/3303/0/5700").with_option(OptionNumber::ACCEPT, Vec::new());
    let first = ask(&mut sim, server, &peer, observe);
    assert_eq!(first.code, Code::CONTENT);
    let mut values = vec![String::from_utf8(first.payload).expect("text")];
    for _ in 0..4 {
        // What the ticker does: one command per period.
        sim.advance(Duration::from_secs(30));
        let now = sim.now();
        sim[device].tick(now);
        sim.run_until(|s| s[server].has_event(), WAIT);
        match sim[server].poll_event() {
            Some(Event::Notification { response, .. }) => {
                values.push(String::from_utf8(response.payload).expect("text"))
            }
            other => panic!("expected a notification, got {other:?}"),
        }
    }
    let distinct: std::collections::BTreeSet<&String> = values.iter().collect();
    assert!(distinct.len() >= 4, "each tick moves the reading: {values:?}");
    assert!(values.iter().all(|v| v.parse::<f64>().is_ok_and(|c| (10.0..35.0).contains(&c))), "{values:?}");
}

#[test]
fn firmware_update_finishes_after_the_update_delay_in_virtual_time() {
    let (mut sim, _device, server, peer) = registered(4, &["--update-delay-ms", "5000", "--firmware-version", "1.2"]);
    let package = super::firmware::Package::build("1.3", &[0x5a; 4000]);
    let push = Request::put("/5/0/0").with_payload(ContentFormat::OPAQUE, package);
    assert_eq!(ask(&mut sim, server, &peer, push).code, Code::CHANGED);
    assert_eq!(ask(&mut sim, server, &peer, Request::post("/5/0/2")).code, Code::CHANGED);
    let started = sim.now();
    sim.run_for(Duration::from_secs(4), |_| {});
    assert_eq!(text(&mut sim, server, &peer, "/5/0/3"), "3", "still updating after 4 s");
    assert_eq!(text(&mut sim, server, &peer, "/3/0/3"), "1.2");
    sim.run_for(Duration::from_secs(2), |_| {});
    assert!(sim.now() >= started + Duration::from_secs(5));
    assert_eq!(text(&mut sim, server, &peer, "/5/0/3"), "0");
    assert_eq!(text(&mut sim, server, &peer, "/5/0/5"), "1");
    assert_eq!(text(&mut sim, server, &peer, "/3/0/3"), "1.3");
}
