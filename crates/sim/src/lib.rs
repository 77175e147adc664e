//! Deterministic simulated network and virtual clock for sans-IO engines (tests only).
//!
//! [`Sim::new`] takes one seed: it drives the network's randomness (loss, duplication,
//! reordering) and the `rng_seed` of every engine added with [`Sim::add_with`], so a failing run
//! replays exactly. One `Instant::now()` at construction is the epoch; after that, time is only
//! `epoch + Duration` and moves when [`Sim::step`] jumps to the next event. Nothing here reads
//! the clock again or touches a socket.
//!
//! Engines sit at fake addresses (`10.0.0.n:5683`) and are reached through typed handles:
//! `sim[node]` is the concrete engine. Links are directional, with latency, loss, duplication,
//! reordering, an MTU and scripted faults ([`Link::drop_next`], [`Link::partition`],
//! [`Link::intercept`]).
//!
//! ```
//! use std::sync::Arc;
//! use std::time::Duration;
//! use coap::{Endpoint, EndpointConfig, Event, Reliability, Request};
//! use sim::Sim;
//!
//! let mut sim = Sim::new(7);
//! let config = Arc::new(EndpointConfig::default());
//! let a = sim.add_with(|seed| Endpoint::new(config.clone(), seed));
//! let b = sim.add_with(|seed| Endpoint::new(config.clone(), seed));
//! let (now, to) = (sim.now(), sim.peer(b));
//! let token = sim[a].ping(now, to).expect("ping accepted");
//! sim.run_until(|s| s[a].has_event(), Duration::from_secs(10));
//! assert_eq!(sim[a].poll_event(), Some(Event::Pong { token }));
//! ```

mod link;

use std::any::Any;
use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap, VecDeque};
use std::marker::PhantomData;
use std::net::{Ipv4Addr, SocketAddr};
use std::ops::{Index, IndexMut};
use std::time::{Duration, Instant};

use coap::{Engine, Message, Peer};

pub use link::{Link, Verdict};
use rand::{Rng, RngCore, SeedableRng};
use rand_chacha::ChaCha20Rng;

/// How many recent datagrams are kept for the panic message of an overrun.
const TRACE_LEN: usize = 24;

/// An engine the simulator can hold and hand back by type.
trait SimEngine: Engine {
    fn as_any(&self) -> &dyn Any;
    fn as_any_mut(&mut self) -> &mut dyn Any;
}

impl<E: Engine + Any> SimEngine for E {
    fn as_any(&self) -> &dyn Any {
        self
    }
    fn as_any_mut(&mut self) -> &mut dyn Any {
        self
    }
}

/// Index of a node, whatever its engine type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct NodeId(usize);

/// Typed handle of a node: `sim[node]` is its engine `E`.
#[derive(Debug)]
pub struct Node<E> {
    id: NodeId,
    _engine: PhantomData<fn() -> E>,
}

impl<E> Clone for Node<E> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<E> Copy for Node<E> {}

impl<E> From<Node<E>> for NodeId {
    fn from(node: Node<E>) -> Self {
        node.id
    }
}

impl<E> Node<E> {
    /// The untyped id.
    pub fn id(self) -> NodeId {
        self.id
    }
}

/// A datagram travelling between nodes.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct InFlight {
    from: SocketAddr,
    to: NodeId,
    bytes: Vec<u8>,
}

/// What the network did, in total.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct NetStats {
    /// Datagrams sent by engines.
    pub sent: u64,
    /// Datagrams handed to engines.
    pub delivered: u64,
    /// Datagrams lost to random loss, MTU or partitions.
    pub lost: u64,
    /// Extra copies created.
    pub duplicated: u64,
    /// Datagrams lost to `drop_next` or an interceptor.
    pub dropped_by_script: u64,
    /// Datagrams to an address no node has.
    pub unroutable: u64,
}

/// The simulator: nodes, links, datagrams in flight and the virtual clock.
pub struct Sim {
    seed: u64,
    rng: ChaCha20Rng,
    epoch: Instant,
    elapsed: Duration,
    nodes: Vec<(SocketAddr, Box<dyn SimEngine>)>,
    links: BTreeMap<(NodeId, NodeId), Link>,
    default_link: fn() -> Link,
    in_flight: BinaryHeap<Reverse<(Instant, u64, InFlight)>>,
    sequence: u64,
    trace: VecDeque<String>,
    buf: Vec<u8>,
    stats: NetStats,
}

impl std::fmt::Debug for Sim {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sim")
            .field("seed", &self.seed)
            .field("elapsed", &self.elapsed)
            .field("nodes", &self.nodes.len())
            .field("in_flight", &self.in_flight.len())
            .field("stats", &self.stats)
            .finish()
    }
}

impl Sim {
    /// A simulator whose every random choice derives from `seed`.
    pub fn new(seed: u64) -> Self {
        Self {
            seed,
            rng: ChaCha20Rng::seed_from_u64(seed),
            epoch: Instant::now(),
            elapsed: Duration::ZERO,
            nodes: Vec::new(),
            links: BTreeMap::new(),
            default_link: Link::default,
            in_flight: BinaryHeap::new(),
            sequence: 0,
            trace: VecDeque::new(),
            buf: Vec::with_capacity(2048),
            stats: NetStats::default(),
        }
    }

    /// The seed this run replays from.
    pub fn seed(&self) -> u64 {
        self.seed
    }

    /// Virtual now.
    pub fn now(&self) -> Instant {
        self.epoch + self.elapsed
    }

    /// Virtual time since the start.
    pub fn elapsed(&self) -> Duration {
        self.elapsed
    }

    /// What the network did so far.
    pub fn net_stats(&self) -> NetStats {
        self.stats
    }

    /// A fresh engine seed drawn from the simulator's generator.
    pub fn engine_seed(&mut self) -> [u8; 32] {
        let mut seed = [0u8; 32];
        self.rng.fill_bytes(&mut seed);
        seed
    }

    /// Adds a node holding `engine`.
    pub fn add<E: Engine + Any>(&mut self, engine: E) -> Node<E> {
        let index = self.nodes.len();
        let host = u32::try_from(index + 1).expect("fewer than 2^32 nodes");
        let addr = SocketAddr::from((Ipv4Addr::from(0x0a00_0000 | host), 5683));
        self.nodes.push((addr, Box::new(engine)));
        Node { id: NodeId(index), _engine: PhantomData }
    }

    /// Adds a node whose engine is built from a seed drawn from the simulator's generator.
    pub fn add_with<E: Engine + Any>(&mut self, build: impl FnOnce([u8; 32]) -> E) -> Node<E> {
        let seed = self.engine_seed();
        self.add(build(seed))
    }

    /// The node's fake address.
    pub fn addr(&self, node: impl Into<NodeId>) -> SocketAddr {
        self.nodes[node.into().0].0
    }

    /// The node as a [`Peer`] (plain UDP) for its neighbours.
    pub fn peer(&self, node: impl Into<NodeId>) -> Peer {
        Peer::udp(self.addr(node))
    }

    /// The node's engine, by type; `None` if it holds another type.
    pub fn engine<E: Any>(&self, node: impl Into<NodeId>) -> Option<&E> {
        self.nodes.get(node.into().0)?.1.as_any().downcast_ref()
    }

    /// The node's engine, by type, mutably.
    pub fn engine_mut<E: Any>(&mut self, node: impl Into<NodeId>) -> Option<&mut E> {
        self.nodes.get_mut(node.into().0)?.1.as_any_mut().downcast_mut()
    }

    /// The link from `from` to `to` (created with the defaults on first use).
    pub fn link(&mut self, from: impl Into<NodeId>, to: impl Into<NodeId>) -> &mut Link {
        let default = self.default_link;
        self.links.entry((from.into(), to.into())).or_insert_with(default)
    }

    /// Applies `configure` to both directions between `a` and `b`.
    pub fn link_both(&mut self, a: impl Into<NodeId>, b: impl Into<NodeId>, configure: impl Fn(&mut Link)) {
        let (a, b) = (a.into(), b.into());
        configure(self.link(a, b));
        configure(self.link(b, a));
    }

    /// Sends raw bytes to `to` as if they came from `from` (any address, a node's or not),
    /// delivered after the default latency.
    pub fn inject(&mut self, from: SocketAddr, to: impl Into<NodeId>, bytes: Vec<u8>) {
        let at = self.now() + (self.default_link)().latency;
        self.schedule(at, InFlight { from, to: to.into(), bytes });
    }

    fn schedule(&mut self, at: Instant, datagram: InFlight) {
        self.sequence += 1;
        self.in_flight.push(Reverse((at, self.sequence, datagram)));
    }

    fn node_at(&self, addr: SocketAddr) -> Option<NodeId> {
        self.nodes.iter().position(|(a, _)| *a == addr).map(NodeId)
    }

    fn record(&mut self, what: &str, from: SocketAddr, to: SocketAddr, bytes: &[u8]) {
        if self.trace.len() >= TRACE_LEN {
            self.trace.pop_front();
        }
        let decoded = match Message::decode(bytes) {
            Ok(m) => format!(
                "{:?} {:?} mid={} token={:?} options={:?} payload={}B",
                m.mtype,
                m.code,
                m.message_id.0,
                m.token,
                m.options.iter().map(|(n, v)| (n.0, v.len())).collect::<Vec<_>>(),
                m.payload.len()
            ),
            Err(e) => format!("undecodable ({e})"),
        };
        self.trace.push_back(format!("{:>10.3?} {what} {from} -> {to}: {decoded}", self.elapsed));
    }

    /// Takes every datagram the engines want to send and puts it on its link.
    fn drain_transmits(&mut self) {
        let now = self.now();
        for index in 0..self.nodes.len() {
            loop {
                let mut buf = std::mem::take(&mut self.buf);
                let transmit = self.nodes[index].1.poll_transmit(now, &mut buf);
                let Some(transmit) = transmit else {
                    self.buf = buf;
                    break;
                };
                let bytes = buf.get(..transmit.len).unwrap_or(&buf).to_vec();
                self.buf = buf;
                self.stats.sent += 1;
                self.send(NodeId(index), transmit.peer.addr, bytes);
            }
        }
    }

    fn send(&mut self, from: NodeId, to_addr: SocketAddr, bytes: Vec<u8>) {
        let from_addr = self.addr(from);
        let Some(to) = self.node_at(to_addr) else {
            self.stats.unroutable += 1;
            self.record("unroutable", from_addr, to_addr, &bytes);
            return;
        };
        let now = self.now();
        let default = self.default_link;
        let link = self.links.entry((from, to)).or_insert_with(default);
        let mut bytes = bytes;
        if link.partitioned {
            self.stats.lost += 1;
            return self.record("partitioned", from_addr, to_addr, &bytes);
        }
        if link.drop_next > 0 {
            link.drop_next -= 1;
            self.stats.dropped_by_script += 1;
            return self.record("dropped (script)", from_addr, to_addr, &bytes);
        }
        if let Some(intercept) = link.intercept.as_mut() {
            match intercept(&bytes) {
                Verdict::Pass => {}
                Verdict::Drop => {
                    self.stats.dropped_by_script += 1;
                    return self.record("dropped (intercept)", from_addr, to_addr, &bytes);
                }
                Verdict::Replace(replacement) => bytes = replacement,
            }
        }
        let (latency, loss, duplicate, reorder, window, mtu) =
            (link.latency, link.loss, link.duplicate, link.reorder, link.reorder_window, link.mtu);
        if bytes.len() > mtu || (loss > 0.0 && self.rng.random_bool(loss.min(1.0))) {
            self.stats.lost += 1;
            return self.record("lost", from_addr, to_addr, &bytes);
        }
        let copies = if duplicate > 0.0 && self.rng.random_bool(duplicate.min(1.0)) { 2 } else { 1 };
        self.stats.duplicated += copies - 1;
        for _ in 0..copies {
            let mut at = now + latency;
            if reorder > 0.0 && self.rng.random_bool(reorder.min(1.0)) {
                at += window.mul_f64(self.rng.random::<f64>());
            }
            self.record("sent", from_addr, to_addr, &bytes);
            self.schedule(at, InFlight { from: from_addr, to, bytes: bytes.clone() });
        }
    }

    /// The next moment something happens: a delivery or an engine deadline.
    fn next_event(&self) -> Option<Instant> {
        let delivery = self.in_flight.peek().map(|Reverse((at, _, _))| *at);
        let timer = self.nodes.iter().filter_map(|(_, e)| e.poll_timeout()).min();
        match (delivery, timer) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// One round: send what engines queued, jump the clock to the next event (a delivery or an
    /// engine deadline) unless something is due now, deliver the due datagrams, fire the due
    /// deadlines and send again. Returns `false` when nothing is left to happen.
    pub fn step(&mut self) -> bool {
        self.drain_transmits();
        let Some(at) = self.next_event() else { return false };
        if at > self.now() {
            self.elapsed = at - self.epoch;
        }
        let now = self.now();
        while let Some(Reverse((at, _, _))) = self.in_flight.peek() {
            if *at > now {
                break;
            }
            let Some(Reverse((_, _, datagram))) = self.in_flight.pop() else { break };
            let to_addr = self.addr(datagram.to);
            self.record("delivered", datagram.from, to_addr, &datagram.bytes);
            self.stats.delivered += 1;
            self.nodes[datagram.to.0].1.handle_datagram(now, Peer::udp(datagram.from), &datagram.bytes);
            self.drain_transmits();
        }
        for index in 0..self.nodes.len() {
            if self.nodes[index].1.poll_timeout().is_some_and(|at| at <= now) {
                self.nodes[index].1.handle_timeout(now);
            }
        }
        self.drain_transmits();
        true
    }

    /// Runs [`step`](Self::step) until `cond` holds (checked before the first step and after
    /// each). Panics, naming the seed and the last datagrams, if the next event lies more than
    /// `max_virtual` ahead of the start, or the network goes idle with `cond` still false.
    pub fn run_until(&mut self, mut cond: impl FnMut(&mut Self) -> bool, max_virtual: Duration) {
        let deadline = self.now() + max_virtual;
        loop {
            if cond(self) {
                return;
            }
            self.drain_transmits();
            match self.next_event() {
                None => self.fail("network idle and condition not reached"),
                Some(at) if at > deadline => {
                    self.fail(&format!("condition not reached within {max_virtual:?} of virtual time"))
                }
                Some(_) => {
                    self.step();
                }
            }
        }
    }

    /// Runs for `duration` of virtual time, calling `each` after every step (to answer requests,
    /// collect events…). The clock ends exactly `duration` later.
    pub fn run_for(&mut self, duration: Duration, mut each: impl FnMut(&mut Self)) {
        let until = self.now() + duration;
        loop {
            self.drain_transmits();
            match self.next_event() {
                Some(at) if at <= until => {
                    self.step();
                    each(self);
                }
                _ => break,
            }
        }
        self.elapsed = until - self.epoch;
    }

    /// Jumps the clock forward by `duration` without processing anything (the next `step`
    /// catches up on everything due).
    pub fn advance(&mut self, duration: Duration) {
        self.elapsed += duration;
    }

    /// The recent datagrams, one line each, oldest first.
    pub fn trace(&self) -> Vec<String> {
        self.trace.iter().cloned().collect()
    }

    fn fail(&self, why: &str) -> ! {
        panic!(
            "sim seed {} at {:?}: {why}\nlast datagrams:\n{}",
            self.seed,
            self.elapsed,
            self.trace.iter().map(String::as_str).collect::<Vec<_>>().join("\n")
        );
    }
}

impl<E: Any> Index<Node<E>> for Sim {
    type Output = E;

    fn index(&self, node: Node<E>) -> &E {
        self.engine(node).expect("a Node<E> handle always points at an E")
    }
}

impl<E: Any> IndexMut<Node<E>> for Sim {
    fn index_mut(&mut self, node: Node<E>) -> &mut E {
        self.engine_mut(node).expect("a Node<E> handle always points at an E")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An engine that echoes every datagram back and records when it got them.
    #[derive(Default)]
    struct Echo {
        out: VecDeque<(Peer, Vec<u8>)>,
        received: Vec<(Instant, Vec<u8>)>,
    }

    impl Engine for Echo {
        fn handle_datagram(&mut self, now: Instant, peer: Peer, datagram: &[u8]) {
            self.received.push((now, datagram.to_vec()));
            self.out.push_back((peer, datagram.to_vec()));
        }
        fn handle_timeout(&mut self, _now: Instant) {}
        fn poll_transmit(&mut self, _now: Instant, buf: &mut Vec<u8>) -> Option<coap::Transmit> {
            let (peer, bytes) = self.out.pop_front()?;
            buf.clear();
            buf.extend_from_slice(&bytes);
            Some(coap::Transmit { peer, len: bytes.len() })
        }
        fn poll_timeout(&self) -> Option<Instant> {
            None
        }
    }

    #[test]
    fn datagrams_arrive_after_the_link_latency_in_virtual_time() {
        let mut sim = Sim::new(1);
        let a = sim.add(Echo::default());
        let b = sim.add(Echo::default());
        sim.link(a, b).latency(Duration::from_millis(30));
        sim.link(b, a).latency(Duration::from_millis(70));
        let from = sim.addr(a);
        let to = sim.peer(b);
        sim[a].out.push_back((to, b"hi".to_vec()));
        sim.run_until(|s| !s[a].received.is_empty(), Duration::from_secs(1));
        assert_eq!(sim[b].received[0].0 - sim.epoch, Duration::from_millis(30));
        assert_eq!(sim[a].received[0].0 - sim.epoch, Duration::from_millis(100));
        assert_eq!(sim.addr(a), from);
    }

    #[test]
    fn drop_next_loses_exactly_that_many() {
        let mut sim = Sim::new(1);
        let a = sim.add(Echo::default());
        let b = sim.add(Echo::default());
        sim.link(a, b).drop_next(2);
        sim.link(b, a).partition();
        for i in 0..3u8 {
            let to = sim.peer(b);
            sim[a].out.push_back((to, vec![i]));
        }
        sim.run_for(Duration::from_secs(1), |_| {});
        assert_eq!(sim[b].received.iter().map(|(_, d)| d.clone()).collect::<Vec<_>>(), vec![vec![2u8]]);
        assert_eq!(sim.net_stats().dropped_by_script, 2);
        assert_eq!(sim.net_stats().lost, 1);
    }

    #[test]
    fn same_seed_same_run() {
        let run = |seed| {
            let mut sim = Sim::new(seed);
            let a = sim.add(Echo::default());
            let b = sim.add(Echo::default());
            sim.link_both(a, b, |l| {
                l.loss(0.3).duplicate(0.3).reorder(0.5, Duration::from_millis(200));
            });
            for i in 0..50u8 {
                let to = sim.peer(b);
                sim[a].out.push_back((to, vec![i]));
            }
            sim.run_for(Duration::from_secs(5), |_| {});
            let epoch = sim.epoch;
            sim[a].received.iter().map(|(at, d)| (*at - epoch, d.clone())).collect::<Vec<_>>()
        };
        assert_eq!(run(9), run(9));
        assert_ne!(run(9), run(10));
    }

    #[test]
    #[should_panic(expected = "sim seed 5")]
    fn overrun_panics_with_the_seed() {
        let mut sim = Sim::new(5);
        let a = sim.add(Echo::default());
        sim.run_until(|s| !s[a].received.is_empty(), Duration::from_secs(1));
    }
}
