//! Shared scaffolding: a client in the simulator and raw `coap::Endpoint`s as lock-step LwM2M
//! servers, driven one request at a time.
#![allow(dead_code, unreachable_pub)]

use std::sync::Arc;
use std::time::Duration;

use coap::{Code, ContentFormat, Endpoint, EndpointConfig, Event, Peer, Reliability, Request, Response, Token};
use lwm2m::{EndpointName, Registry, Value};
use lwm2m_client::objects::acl::{self as acl_object, AclInstance};
use lwm2m_client::objects::connectivity::{self, ConnectivityInfo};
use lwm2m_client::objects::device::{DeviceInfo, DeviceObject};
use lwm2m_client::objects::security::{self, SecurityInstance};
use lwm2m_client::objects::server::{ServerInstance, ServerObject};
use lwm2m_client::{Client, ClientConfig, ClientEvent, InstanceStore, ObjectTree, ResourceValue, ServerId};
use sim::{Node, Sim};

/// Upper bound of virtual time for one lock-step wait.
pub const WAIT: Duration = Duration::from_secs(600);

/// A raw endpoint playing an LwM2M server.
pub fn server_node(sim: &mut Sim) -> Node<Endpoint> {
    sim.add_with(|seed| Endpoint::new(Arc::new(EndpointConfig::default()), seed))
}

/// The `coap://` URI of a node.
pub fn uri(sim: &Sim, node: Node<Endpoint>) -> String {
    format!("coap://{}", sim.addr(node))
}

/// A temperature sensor object (3303) with instance 0 at 20.0 °C.
pub fn temperature() -> InstanceStore {
    InstanceStore::new(3303).with_instance(
        0,
        [(5700, ResourceValue::Single(Value::Float(20.0))), (5701, ResourceValue::Single(Value::String("Cel".into())))],
    )
}

/// A tree with Security/Server accounts for `servers` (ssid, uri, lifetime, binding), optional
/// bootstrap account, Device, Connectivity, Access Control (given) and a temperature sensor.
pub fn tree(servers: &[(ServerId, String, u32, &str)], bootstrap: Option<String>, acls: &[AclInstance]) -> ObjectTree {
    let mut tree = ObjectTree::new(Arc::new(Registry::bundled()));
    let mut accounts: Vec<SecurityInstance> =
        servers.iter().map(|(id, uri, _, _)| SecurityInstance::nosec(uri, *id)).collect();
    if let Some(bs) = bootstrap {
        accounts.push(SecurityInstance::bootstrap_nosec(&bs));
    }
    tree.insert(Box::new(security::object(&accounts)));
    let instances: Vec<ServerInstance> = servers
        .iter()
        .map(|(id, _, lt, b)| {
            let mut s = ServerInstance::new(*id, *lt);
            s.binding = (*b).to_owned();
            s
        })
        .collect();
    tree.insert(Box::new(ServerObject::new(&instances)));
    if !acls.is_empty() {
        tree.insert(Box::new(acl_object::object(acls)));
    }
    let info = DeviceInfo {
        manufacturer: "Acme".into(),
        model: "M1".into(),
        serial: "0001".into(),
        firmware_version: "1.0".into(),
        binding_modes: "UQ".into(),
    };
    tree.insert(Box::new(DeviceObject::new(&info)));
    tree.insert(Box::new(connectivity::object(&ConnectivityInfo::default())));
    tree.insert(Box::new(temperature()));
    tree
}

/// Adds a client with `tree` and starts it.
pub fn client_node(sim: &mut Sim, tree: ObjectTree) -> Node<Client> {
    let now = sim.now();
    let config = ClientConfig::new(EndpointName::new("dev1").expect("valid name"));
    let node = sim.add_with(|seed| Client::new(now, config, tree, seed));
    sim[node].start(now);
    node
}

/// Waits for the next request at `server`.
pub fn next_request(sim: &mut Sim, server: Node<Endpoint>) -> (Peer, Token, Request) {
    sim.run_until(|s| s[server].has_event(), WAIT);
    match sim[server].poll_event() {
        Some(Event::Request { peer, token, request, .. }) => (peer, token, request),
        other => panic!("expected a request, got {other:?}"),
    }
}

/// Answers a request at `server`.
pub fn answer(sim: &mut Sim, server: Node<Endpoint>, peer: &Peer, token: Token, response: Response) {
    let now = sim.now();
    sim[server].send_response(now, peer, token, response).expect("request awaits an answer");
}

/// Waits for the Register at `server`, answers 2.01 `/rd/<id>`; returns the request.
pub fn accept_register(sim: &mut Sim, server: Node<Endpoint>, id: &str) -> (Peer, Request) {
    let (peer, token, request) = next_request(sim, server);
    assert_eq!(request.path(), "/rd", "expected a Register");
    let created = Response::new(Code::CREATED)
        .with_option(coap::OptionNumber::LOCATION_PATH, b"rd".to_vec())
        .with_option(coap::OptionNumber::LOCATION_PATH, id.as_bytes().to_vec());
    answer(sim, server, &peer, token, created);
    (peer, request)
}

/// Sends `request` from `server` to `client` and waits for the answer. Registration Updates
/// arriving meanwhile (the object list changed) are answered 2.04.
pub fn ask(sim: &mut Sim, server: Node<Endpoint>, client: Node<Client>, request: Request) -> Response {
    let (now, to) = (sim.now(), sim.peer(client));
    let token = sim[server].send_request(now, to, request, Reliability::Confirmable).expect("request accepted");
    loop {
        sim.run_until(|s| s[server].has_event(), WAIT);
        match sim[server].poll_event() {
            Some(Event::Response { token: t, response }) if t == token => return response,
            Some(Event::Request { peer, token, request, .. }) if request.path().starts_with("/rd/") => {
                answer(sim, server, &peer, token, Response::new(Code::CHANGED));
            }
            other => panic!("expected the response, got {other:?}"),
        }
    }
}

/// Every event the client has now.
pub fn events(sim: &mut Sim, client: Node<Client>) -> Vec<ClientEvent> {
    std::iter::from_fn(|| sim[client].poll_event()).collect()
}

/// Runs until the client reports an event matching `pred`; returns it.
pub fn wait_event(sim: &mut Sim, client: Node<Client>, pred: impl Fn(&ClientEvent) -> bool) -> ClientEvent {
    let mut found = None;
    sim.run_until(
        |s| {
            while let Some(event) = s[client].poll_event() {
                if pred(&event) {
                    found = Some(event);
                    return true;
                }
            }
            false
        },
        WAIT,
    );
    found.expect("run_until returned")
}

/// A single-server setup, registered: (sim, client, server).
pub fn registered(seed: u64, lifetime: u32, binding: &str) -> (Sim, Node<Client>, Node<Endpoint>) {
    let mut sim = Sim::new(seed);
    let server = server_node(&mut sim);
    let tree = tree(&[(ServerId(1), uri(&sim, server), lifetime, binding)], None, &[]);
    let client = client_node(&mut sim, tree);
    accept_register(&mut sim, server, "c1");
    wait_event(&mut sim, client, |e| matches!(e, ClientEvent::Registered { .. }));
    (sim, client, server)
}

/// A text payload.
pub fn text(payload: &str) -> (ContentFormat, Vec<u8>) {
    (ContentFormat::TEXT, payload.as_bytes().to_vec())
}
