//! Shared helpers: a [`Server`] in a simulator behind a fake DTLS layer that stamps identities,
//! and raw `coap::Endpoint` nodes acting as LwM2M clients in lock-step.
#![allow(dead_code, unreachable_pub)]

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use coap::{
    Code, Endpoint, EndpointConfig, Engine, Event, Message, OptionNumber, Peer, Reliability, Request, Response, Token,
    Transmit,
};
use lwm2m::{EndpointName, Registry};
use lwm2m_server::{Server, ServerConfig, ServerEvent};
use sim::{Node, NodeId, Sim, Verdict};

/// The server with a stand-in for the DTLS layer: datagrams from a known address carry the
/// identity the test gave that address.
#[derive(Debug)]
pub struct Secured {
    pub server: Server,
    pub identities: BTreeMap<SocketAddr, String>,
}

impl Engine for Secured {
    fn handle_datagram(&mut self, now: Instant, peer: Peer, datagram: &[u8]) {
        let identity = self.identities.get(&peer.addr).cloned();
        self.server.handle_datagram(now, Peer { addr: peer.addr, identity }, datagram);
    }
    fn handle_timeout(&mut self, now: Instant) {
        self.server.handle_timeout(now);
    }
    fn poll_transmit(&mut self, now: Instant, buf: &mut Vec<u8>) -> Option<Transmit> {
        self.server.poll_transmit(now, buf)
    }
    fn poll_timeout(&self) -> Option<Instant> {
        self.server.poll_timeout()
    }
}

pub struct World {
    pub sim: Sim,
    pub server: Node<Secured>,
}

pub fn ep(name: &str) -> EndpointName {
    EndpointName::new(name).unwrap()
}

impl World {
    pub fn new(seed: u64) -> Self {
        Self::with_config(seed, ServerConfig::default())
    }

    pub fn with_config(seed: u64, config: ServerConfig) -> Self {
        let mut sim = Sim::new(seed);
        let server = sim
            .add_with(|s| Secured { server: Server::new(config, Registry::bundled(), s), identities: BTreeMap::new() });
        Self { sim, server }
    }

    pub fn client(&mut self) -> Node<Endpoint> {
        self.sim.add_with(|s| Endpoint::new(Arc::new(EndpointConfig::default()), s))
    }

    /// A client whose datagrams reach the server with `identity`.
    pub fn secured_client(&mut self, identity: &str) -> Node<Endpoint> {
        let client = self.client();
        let addr = self.sim.addr(client);
        self.sim[self.server].identities.insert(addr, identity.to_owned());
        client
    }

    pub fn server(&mut self) -> &mut Server {
        &mut self.sim[self.server].server
    }

    pub fn now(&self) -> Instant {
        self.sim.now()
    }

    /// The client sends `request` to the server; runs until the answer and returns it.
    pub fn request(&mut self, client: Node<Endpoint>, request: Request) -> Response {
        let (now, to) = (self.sim.now(), self.sim.peer(self.server));
        let token = self.sim[client].send_request(now, to, request, Reliability::Confirmable).expect("accepted");
        self.sim.run_until(|s| s[client].has_event(), Duration::from_secs(300));
        match self.sim[client].poll_event() {
            Some(Event::Response { token: t, response }) if t == token => response,
            other => panic!("expected the response, got {other:?}"),
        }
    }

    /// Registers with query items and payload; returns the code and the Location-Path.
    pub fn register(&mut self, client: Node<Endpoint>, query: &[&str], links: &str) -> (Code, Vec<String>) {
        let mut request = Request::post("/rd").with_payload(coap::ContentFormat::LINK_FORMAT, links);
        for item in query {
            request = request.with_query(item);
        }
        let response = self.request(client, request);
        let location =
            response.options.get_all(OptionNumber::LOCATION_PATH).map(|s| String::from_utf8_lossy(s).into_owned());
        (response.code, location.collect())
    }

    /// Registers and expects 2.01; returns the registration ID.
    pub fn registered(&mut self, client: Node<Endpoint>, query: &[&str], links: &str) -> String {
        let (code, location) = self.register(client, query, links);
        assert_eq!(code, Code::CREATED);
        assert_eq!(location.len(), 2);
        assert_eq!(location[0], "rd");
        location[1].clone()
    }

    /// Every server event so far.
    pub fn events(&mut self) -> Vec<ServerEvent> {
        std::iter::from_fn(|| self.server().poll_event()).collect()
    }

    /// Runs until the server has an event and returns it.
    pub fn next_event(&mut self, max: Duration) -> ServerEvent {
        let server = self.server;
        self.sim.run_until(|s| s[server].server.has_event(), max);
        self.server().poll_event().expect("has_event said so")
    }

    /// Runs until the client receives a request; returns it.
    pub fn next_request(&mut self, client: Node<Endpoint>, max: Duration) -> (Peer, Token, Request, bool) {
        self.sim.run_until(|s| s[client].has_event(), max);
        match self.sim[client].poll_event() {
            Some(Event::Request { peer, token, request, observe }) => (peer, token, request, observe),
            other => panic!("expected a request, got {other:?}"),
        }
    }

    /// The client answers.
    pub fn answer(&mut self, client: Node<Endpoint>, peer: &Peer, token: Token, response: Response) {
        let now = self.sim.now();
        self.sim[client].send_response(now, peer, token, response).expect("awaits an answer");
    }

    /// Runs until the network is quiet for a moment (bounded).
    pub fn settle(&mut self) {
        self.sim.run_for(Duration::from_secs(1), |_| {});
    }
}

/// Records every datagram on the link `from` → `to`, decoded.
pub fn record(sim: &mut Sim, from: NodeId, to: NodeId) -> std::rc::Rc<std::cell::RefCell<Vec<Message>>> {
    let seen: std::rc::Rc<std::cell::RefCell<Vec<Message>>> = std::rc::Rc::default();
    let sink = seen.clone();
    sim.link(from, to).intercept(move |bytes| {
        if let Ok(msg) = Message::decode(bytes) {
            sink.borrow_mut().push(msg);
        }
        Verdict::Pass
    });
    seen
}

/// The options of a request as `(number, value)` pairs in wire order.
pub fn options(request: &Request) -> Vec<(u16, Vec<u8>)> {
    request.options.iter().map(|(n, v)| (n.0, v.to_vec())).collect()
}

/// Uri-Path option pairs for `path`.
pub fn uri_path(path: &str) -> Vec<(u16, Vec<u8>)> {
    path.split('/').filter(|s| !s.is_empty()).map(|s| (11, s.as_bytes().to_vec())).collect()
}
