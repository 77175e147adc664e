//! Shared helpers for the endpoint scenarios: endpoints in a simulator, event pumps, a
//! recorder node that only listens.
#![allow(dead_code, unreachable_pub)]

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::{Duration, Instant};

use coap::{Endpoint, EndpointConfig, Engine, Event, Peer, Request, Response, Token, Transmit};
use sim::{Node, Sim};

/// The default configuration, shared.
pub fn config() -> Arc<EndpointConfig> {
    Arc::new(EndpointConfig::default())
}

/// A simulator with a client and a server endpoint.
pub fn pair(
    seed: u64,
    client: Arc<EndpointConfig>,
    server: Arc<EndpointConfig>,
) -> (Sim, Node<Endpoint>, Node<Endpoint>) {
    let mut sim = Sim::new(seed);
    let a = sim.add_with(|s| Endpoint::new(client, s));
    let b = sim.add_with(|s| Endpoint::new(server, s));
    (sim, a, b)
}

/// Runs until `node` has an event and returns it.
pub fn next_event(sim: &mut Sim, node: Node<Endpoint>, max: Duration) -> Event {
    sim.run_until(|s| s[node].has_event(), max);
    sim[node].poll_event().expect("has_event said so")
}

/// Every event `node` has now.
pub fn drain(sim: &mut Sim, node: Node<Endpoint>) -> Vec<Event> {
    std::iter::from_fn(|| sim[node].poll_event()).collect()
}

/// Answers every request waiting at `server` with `answer`; returns how many.
pub fn serve(
    sim: &mut Sim,
    server: Node<Endpoint>,
    answer: impl Fn(&Request) -> Response,
) -> Vec<(Peer, Token, Request)> {
    let mut served = Vec::new();
    let now = sim.now();
    while let Some(event) = sim[server].poll_event() {
        if let Event::Request { peer, token, request, .. } = event {
            sim[server].send_response(now, &peer, token, answer(&request)).expect("request awaits an answer");
            served.push((peer, token, request));
        }
    }
    served
}

/// A client request to `server`, answered by `answer`, until the client has an event.
pub fn exchange(
    sim: &mut Sim,
    client: Node<Endpoint>,
    server: Node<Endpoint>,
    request: Request,
    answer: impl Fn(&Request) -> Response,
) -> (Token, Event) {
    let (now, to) = (sim.now(), sim.peer(server));
    let token = sim[client].send_request(now, to, request, coap::Reliability::Confirmable).expect("request accepted");
    sim.run_until(
        |s| {
            serve(s, server, &answer);
            s[client].has_event()
        },
        Duration::from_secs(600),
    );
    (token, sim[client].poll_event().expect("has_event said so"))
}

/// A node that records every datagram with its arrival time and never answers.
#[derive(Debug, Default)]
pub struct Recorder {
    pub received: Vec<(Instant, Peer, Vec<u8>)>,
    pub out: VecDeque<(Peer, Vec<u8>)>,
}

impl Engine for Recorder {
    fn handle_datagram(&mut self, now: Instant, peer: Peer, datagram: &[u8]) {
        self.received.push((now, peer, datagram.to_vec()));
    }
    fn handle_timeout(&mut self, _now: Instant) {}
    fn poll_transmit(&mut self, _now: Instant, buf: &mut Vec<u8>) -> Option<Transmit> {
        let (peer, bytes) = self.out.pop_front()?;
        buf.clear();
        buf.extend_from_slice(&bytes);
        Some(Transmit { peer, len: bytes.len() })
    }
    fn poll_timeout(&self) -> Option<Instant> {
        None
    }
}

/// A body of `len` bytes that is not periodic in small block sizes.
pub fn body(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i * 7 + i / 251) as u8).collect()
}
