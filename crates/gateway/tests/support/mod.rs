//! Shared scaffolding: distant `lwm2m_server::Server`s ← one `Gateway` ← `lwm2m_client::Client`
//! End-Devices, all real engines in the simulator. The gateway sits at one simulated address;
//! [`SimGateway`] tells its faces apart by the peer (distant servers are north).
#![allow(dead_code, unreachable_pub)]

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use coap::{Engine, Peer, Transmit};
use gateway::{Face, Gateway, GatewayConfig, GatewayEvent, GatewayState};
use lwm2m::{EndpointName, Registry, Value, Version};
use lwm2m_client::objects::acl::{self as acl_object, AclInstance};
use lwm2m_client::objects::device::{DeviceInfo, DeviceObject};
use lwm2m_client::objects::security::{self, SecurityInstance};
use lwm2m_client::objects::server::{ServerInstance, ServerObject};
use lwm2m_client::{Client, ClientConfig, InstanceStore, ObjectTree, ResourceValue, ServerId};
use lwm2m_server::{
    DmRequest, DmResponse, RequestFailure, RequestId, RequestOptions, Server, ServerConfig, ServerEvent,
};
use sim::{Node, Sim};

/// Upper bound of virtual time for one wait.
pub const WAIT: Duration = Duration::from_secs(600);

/// A gateway in the simulator: one address, faces told apart by the peer.
#[derive(Debug)]
pub struct SimGateway {
    /// The gateway.
    pub gateway: Gateway,
    /// The distant servers' addresses (the north face).
    pub north: Vec<SocketAddr>,
    /// Every gateway event so far.
    pub events: Vec<GatewayEvent>,
}

impl Engine for SimGateway {
    fn handle_datagram(&mut self, now: Instant, peer: Peer, datagram: &[u8]) {
        let face = if self.north.contains(&peer.addr) { Face::North } else { Face::South };
        self.gateway.handle_datagram(now, face, peer, datagram);
        self.events.extend(std::iter::from_fn(|| self.gateway.poll_event()));
    }

    fn handle_timeout(&mut self, now: Instant) {
        self.gateway.handle_timeout(now);
        self.events.extend(std::iter::from_fn(|| self.gateway.poll_event()));
    }

    fn poll_transmit(&mut self, now: Instant, buf: &mut Vec<u8>) -> Option<Transmit> {
        self.gateway.poll_transmit(now, buf).map(|(_, t)| t)
    }

    fn poll_timeout(&self) -> Option<Instant> {
        self.gateway.poll_timeout()
    }
}

/// A distant server in the simulator, with the events it reported and not yet consumed.
#[derive(Debug)]
pub struct North {
    /// The node.
    pub node: Node<Server>,
    /// Events seen while waiting for others.
    pub backlog: Vec<ServerEvent>,
}

/// The whole setup.
pub struct World {
    /// The simulator.
    pub sim: Sim,
    /// The distant servers.
    pub norths: Vec<North>,
    /// The gateway.
    pub gw: Node<SimGateway>,
    /// The End-Devices by endpoint name.
    pub devices: Vec<(String, Node<Client>)>,
}

/// A temperature sensor object (3303) with instance 0 at `celsius`.
pub fn temperature(celsius: f64) -> InstanceStore {
    InstanceStore::new(3303).with_instance(
        0,
        [
            (5700, ResourceValue::Single(Value::Float(celsius))),
            (5701, ResourceValue::Single(Value::String("Cel".into()))),
        ],
    )
}

fn device_object(serial: &str) -> DeviceObject {
    DeviceObject::new(&DeviceInfo {
        manufacturer: "Acme".into(),
        model: "M1".into(),
        serial: serial.into(),
        firmware_version: "1.0".into(),
        binding_modes: "UQ".into(),
    })
}

/// The gateway's north client: accounts for every distant server (ssid 1, 2 …), Device, and
/// Access Control for `/1/x` and `/3/0` when there are several servers.
fn gateway_client(sim: &Sim, uris: &[String]) -> Client {
    let registry = gateway::objects::registry();
    let mut tree = ObjectTree::new(Arc::new(registry));
    let ids: Vec<ServerId> = (1..=uris.len()).map(|i| ServerId(i as u16)).collect();
    let accounts: Vec<SecurityInstance> =
        uris.iter().zip(&ids).map(|(uri, id)| SecurityInstance::nosec(uri, *id)).collect();
    tree.insert(Box::new(security::object(&accounts)));
    let servers: Vec<ServerInstance> = ids
        .iter()
        .map(|id| {
            let mut s = ServerInstance::new(*id, 300);
            s.mute_send = Some(false);
            s
        })
        .collect();
    tree.insert(Box::new(ServerObject::new(&servers)));
    if ids.len() > 1 {
        let mut acls: Vec<AclInstance> = ids.iter().zip(0u16..).map(|(id, i)| AclInstance::owned(1, i, *id)).collect();
        let mut device = AclInstance::owned(3, 0, ids[0]);
        device.acl.insert(0, 1);
        acls.push(device);
        tree.insert(Box::new(acl_object::object(&acls)));
    }
    tree.insert(Box::new(device_object("GW-1")));
    let config = ClientConfig::new(EndpointName::new("gw").expect("valid name"));
    Client::new(sim.now(), config, tree, [42; 32])
}

/// `n_servers` distant servers and a started gateway (not registered yet).
pub fn world(seed: u64, n_servers: usize, config: GatewayConfig) -> World {
    world_with_state(seed, n_servers, config, GatewayState::default())
}

/// Like [`world`], the gateway starting from a persisted `state`.
pub fn world_with_state(seed: u64, n_servers: usize, config: GatewayConfig, state: GatewayState) -> World {
    let mut sim = Sim::new(seed);
    let mut norths = Vec::new();
    for _ in 0..n_servers {
        let node = sim.add_with(|seed| Server::new(ServerConfig::default(), gateway::objects::registry(), seed));
        norths.push(North { node, backlog: Vec::new() });
    }
    let uris: Vec<String> = norths.iter().map(|n| format!("coap://{}", sim.addr(n.node))).collect();
    let north_addrs: Vec<SocketAddr> = norths.iter().map(|n| sim.addr(n.node)).collect();
    let client = gateway_client(&sim, &uris);
    let now = sim.now();
    let gw = sim.add_with(|seed| SimGateway {
        gateway: Gateway::new(now, config, client, ServerConfig::default(), state, seed),
        north: north_addrs,
        events: Vec::new(),
    });
    sim[gw].gateway.start(now);
    World { sim, norths, gw, devices: Vec::new() }
}

/// One distant server and a gateway registered to it.
pub fn registered_world(seed: u64) -> World {
    let mut w = world(seed, 1, GatewayConfig::default());
    w.wait_north(0, |e| matches!(e, ServerEvent::Registered { .. }));
    w
}

impl World {
    /// Adds and starts an End-Device `ep` (LwM2M `version`, `lifetime` s, `binding`) with a
    /// temperature sensor at `celsius`, and extra objects.
    pub fn add_device_with(
        &mut self,
        ep: &str,
        version: Version,
        lifetime: u32,
        binding: &str,
        celsius: f64,
        extra: Vec<InstanceStore>,
    ) -> Node<Client> {
        let uri = format!("coap://{}", self.sim.addr(self.gw));
        let mut tree = ObjectTree::new(Arc::new(Registry::bundled()));
        tree.insert(Box::new(security::object(&[SecurityInstance::nosec(&uri, ServerId(1))])));
        let mut server = ServerInstance::new(ServerId(1), lifetime);
        server.binding = binding.to_owned();
        server.mute_send = Some(false);
        tree.insert(Box::new(ServerObject::new(&[server])));
        tree.insert(Box::new(device_object(ep)));
        tree.insert(Box::new(temperature(celsius)));
        for object in extra {
            tree.insert(Box::new(object));
        }
        let mut config = ClientConfig::new(EndpointName::new(ep).expect("valid name"));
        config.version = version;
        let now = self.sim.now();
        let node = self.sim.add_with(|seed| Client::new(now, config, tree, seed));
        self.sim[node].start(now);
        self.devices.push((ep.to_owned(), node));
        node
    }

    /// Adds a 1.1 End-Device (lifetime 300 s, binding U) and waits until the distant servers
    /// see it as an End-Device of the gateway.
    pub fn add_device(&mut self, ep: &str, celsius: f64) -> Node<Client> {
        let node = self.add_device_with(ep, Version::V1_1, 300, "U", celsius, Vec::new());
        for i in 0..self.norths.len() {
            self.wait_north(i, |e| matches!(e, ServerEvent::EndDeviceRegistered { end_device, .. } if end_device.endpoint.as_str() == ep));
        }
        node
    }

    /// The distant server `i`'s engine.
    pub fn server(&mut self, i: usize) -> &mut Server {
        let node = self.norths[i].node;
        &mut self.sim[node]
    }

    /// Waits for an event of distant server `i` matching `pred` (earlier unmatched events are
    /// kept for later waits).
    pub fn wait_north(&mut self, i: usize, pred: impl Fn(&ServerEvent) -> bool) -> ServerEvent {
        if let Some(pos) = self.norths[i].backlog.iter().position(&pred) {
            return self.norths[i].backlog.remove(pos);
        }
        let node = self.norths[i].node;
        let mut found = None;
        let mut seen = Vec::new();
        self.sim.run_until(
            |s| {
                while let Some(event) = s[node].poll_event() {
                    if found.is_none() && pred(&event) {
                        found = Some(event);
                    } else {
                        seen.push(event);
                    }
                }
                found.is_some()
            },
            WAIT,
        );
        self.norths[i].backlog.extend(seen);
        found.expect("run_until returned")
    }

    /// Whether distant server `i` has (or gets within `within`) an event matching `pred`.
    pub fn north_sees(&mut self, i: usize, within: Duration, pred: impl Fn(&ServerEvent) -> bool) -> bool {
        let node = self.norths[i].node;
        let mut seen = Vec::new();
        self.sim.run_for(within, |s| seen.extend(std::iter::from_fn(|| s[node].poll_event())));
        seen.extend(std::iter::from_fn(|| self.sim[node].poll_event()));
        self.norths[i].backlog.extend(seen);
        self.norths[i].backlog.iter().any(pred)
    }

    /// Sends `request` from distant server `i` to `endpoint` (an End-Device name or `gw`) and
    /// waits for the answer.
    pub fn ask(&mut self, i: usize, endpoint: &str, request: DmRequest) -> Result<DmResponse, RequestFailure> {
        let now = self.sim.now();
        let ep = EndpointName::new(endpoint).expect("valid name");
        let id = self.server(i).send(now, &ep, request, RequestOptions::default()).expect("request accepted");
        self.answer_of(i, id)
    }

    /// Waits for the answer to request `id` of server `i`.
    pub fn answer_of(&mut self, i: usize, id: RequestId) -> Result<DmResponse, RequestFailure> {
        match self.wait_north(i, |e| matches!(e, ServerEvent::Response { id: got, .. } if *got == id)) {
            ServerEvent::Response { result, .. } => result,
            other => panic!("expected a response, got {other:?}"),
        }
    }

    /// The gateway.
    pub fn gateway(&self) -> &Gateway {
        &self.sim[self.gw].gateway
    }

    /// The gateway, to call its runtime-facing methods.
    pub fn gateway_mut(&mut self) -> &mut Gateway {
        &mut self.sim[self.gw].gateway
    }
}

/// The value of `records` at `path` (text form of the path, e.g. "/d1/3303/0/5700").
pub fn value_at(records: &[lwm2m::Record], path: &str) -> Option<Value> {
    records.iter().find(|r| r.path.to_string() == path).map(|r| r.value.clone())
}
