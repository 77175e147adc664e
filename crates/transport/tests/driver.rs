//! The tokio driver with plain UDP engines on 127.0.0.1.

mod common;

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use coap::{Engine, Peer, Transmit};
use common::{start, wait_for, Echo};
use tokio::net::UdpSocket;
use tokio::sync::mpsc;
use transport::{DriverConfig, DriverHandle};

const LIMIT: Duration = Duration::from_secs(10);

async fn recv(socket: &UdpSocket) -> Vec<u8> {
    let mut buf = vec![0; 2048];
    let n = tokio::time::timeout(LIMIT, socket.recv(&mut buf)).await.expect("in time").expect("recv");
    buf.truncate(n);
    buf
}

#[tokio::test]
async fn plain_udp_runs_the_engine_with_identity_less_peers() {
    let (handle, task) = start(Echo::echoing()).await;
    let peer = UdpSocket::bind("127.0.0.1:0").await.expect("bind");
    peer.connect(handle.local_addr()).await.expect("connect");
    peer.send(b"hi").await.expect("send");
    assert_eq!(recv(&peer).await, b"echo:hi");

    handle.shutdown();
    let engine = task.await.expect("join").expect("driver");
    assert_eq!(engine.received, vec![(Peer::udp(peer.local_addr().expect("addr")), b"hi".to_vec())]);
}

#[tokio::test]
async fn the_hook_sees_the_engine_after_every_step() {
    let socket = UdpSocket::bind("127.0.0.1:0").await.expect("bind");
    let (tx, mut rx) = mpsc::unbounded_channel();
    let hook = move |e: &mut Echo| {
        for (peer, d) in e.received.drain(..) {
            let _ = tx.send((peer, d));
        }
    };
    let (handle, _task) = transport::spawn(Echo::default(), socket, hook, DriverConfig::default()).expect("spawn");
    let peer = UdpSocket::bind("127.0.0.1:0").await.expect("bind");
    for i in 0..3u8 {
        peer.send_to(&[i], handle.local_addr()).await.expect("send");
    }
    for i in 0..3u8 {
        let (from, d) = tokio::time::timeout(LIMIT, rx.recv()).await.expect("in time").expect("event");
        assert_eq!(from.addr, peer.local_addr().expect("addr"));
        assert_eq!(d, vec![i]);
    }
}

#[tokio::test]
async fn icmp_port_unreachable_does_not_stop_the_driver() {
    // A connected socket gets ECONNREFUSED from recv after sending to a closed port.
    let closed = {
        let s = std::net::UdpSocket::bind("127.0.0.1:0").expect("bind");
        s.local_addr().expect("addr")
    };
    let socket = UdpSocket::bind("127.0.0.1:0").await.expect("bind");
    socket.connect(closed).await.expect("connect");
    let (handle, _task) =
        transport::spawn(Echo::default(), socket, |_: &mut Echo| {}, DriverConfig::default()).expect("spawn");
    for _ in 0..5 {
        handle.call(move |e, _| e.send(Peer::udp(closed), b"anyone?")).await.expect("driver alive");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let stats = wait_for(&handle, LIMIT, {
        let h = handle.clone();
        move |_: &mut Echo| {
            let s = h.stats();
            (s.recv_errors_ignored > 0).then_some(s)
        }
    })
    .await
    .expect("recv_from reported ECONNREFUSED and the driver counted it");
    assert!(stats.datagrams_sent >= 1, "{stats:?}");
    assert!(!handle.is_closed(), "the driver is still running");
    assert_eq!(handle.call(|e, _| e.received.len()).await, Ok(0));
}

/// Emits `burst` datagrams to `to` when told, and records when its timer fired.
#[derive(Debug, Default)]
struct Burst {
    to: Option<std::net::SocketAddr>,
    queued: VecDeque<u32>,
    deadline: Option<Instant>,
    fired_at: Vec<Instant>,
}

impl Engine for Burst {
    fn handle_datagram(&mut self, _now: Instant, _peer: Peer, _d: &[u8]) {}

    fn handle_timeout(&mut self, now: Instant) {
        if self.deadline.is_some_and(|d| d <= now) {
            self.deadline = None;
            self.fired_at.push(now);
        }
    }

    fn poll_transmit(&mut self, _now: Instant, buf: &mut Vec<u8>) -> Option<Transmit> {
        let n = self.queued.pop_front()?;
        buf.clear();
        buf.extend_from_slice(&n.to_be_bytes());
        Some(Transmit { peer: Peer::udp(self.to?), len: 4 })
    }

    fn poll_timeout(&self) -> Option<Instant> {
        self.deadline
    }
}

#[tokio::test]
async fn a_burst_larger_than_the_budget_is_sent_in_full() {
    let sink = UdpSocket::bind("127.0.0.1:0").await.expect("bind");
    let to = sink.local_addr().expect("addr");
    let config = DriverConfig { max_transmits_per_wake: 16, ..DriverConfig::default() };
    let socket = UdpSocket::bind("127.0.0.1:0").await.expect("bind");
    let engine = Burst { to: Some(to), ..Burst::default() };
    let (handle, _task) = transport::spawn(engine, socket, |_: &mut Burst| {}, config).expect("spawn");
    let reader = tokio::spawn(async move {
        let mut seen = 0u32;
        let mut buf = [0u8; 16];
        while let Ok(Ok(_)) = tokio::time::timeout(Duration::from_millis(500), sink.recv(&mut buf)).await {
            seen += 1;
        }
        seen
    });
    handle.call(|e, _| e.queued.extend(0..500)).await.expect("driver");
    let sent = wait_for(&handle, LIMIT, {
        let h = handle.clone();
        move |e: &mut Burst| (e.queued.is_empty() && h.stats().datagrams_sent == 500).then_some(())
    })
    .await;
    assert!(sent.is_some(), "all 500 went out across several wakes: {:?}", handle.stats());
    assert!(reader.await.expect("join") > 0);
}

#[tokio::test(start_paused = true)]
async fn deadlines_follow_tokio_time_so_paused_time_drives_them() {
    let socket = UdpSocket::bind("127.0.0.1:0").await.expect("bind");
    let (handle, task): (DriverHandle<Burst>, _) =
        transport::spawn(Burst::default(), socket, |_: &mut Burst| {}, DriverConfig::default()).expect("spawn");
    let wall = std::time::Instant::now();
    let set_at = handle
        .call(|e, now| {
            e.deadline = Some(now + Duration::from_secs(3600));
            now
        })
        .await
        .expect("driver");
    // Paused time jumps to the engine's deadline as soon as everything is idle.
    tokio::time::sleep(Duration::from_secs(3601)).await;
    let fired = handle.call(|e, _| e.fired_at.clone()).await.expect("driver");
    assert_eq!(fired.len(), 1);
    assert!(fired[0] >= set_at + Duration::from_secs(3600));
    assert!(wall.elapsed() < Duration::from_secs(60), "no real hour passed");
    drop(handle);
    let engine = task.await.expect("join").expect("dropping every handle stops the driver");
    assert_eq!(engine.fired_at.len(), 1);
}

#[tokio::test]
async fn commands_return_values_and_fail_once_the_driver_stopped() {
    let (handle, task) = start(Echo::default()).await;
    assert_eq!(handle.call(|e, _| e.received.len() + 41).await, Ok(41));
    handle.shutdown();
    task.await.expect("join").expect("driver");
    assert!(handle.is_closed());
    assert_eq!(handle.call(|_, _| ()).await, Err(transport::DriverClosed));
    assert_eq!(handle.try_send(|_, _| ()), Err(transport::TrySendError::Closed));
}

#[tokio::test]
async fn a_datagram_that_fills_the_receive_buffer_is_counted_and_dropped_not_parsed_truncated() {
    let socket = UdpSocket::bind("127.0.0.1:0").await.expect("bind");
    let config = DriverConfig { recv_buffer_size: 512, ..DriverConfig::default() };
    let (handle, _task) = transport::spawn(Echo::default(), socket, |_: &mut Echo| {}, config).expect("spawn");
    let peer = UdpSocket::bind("127.0.0.1:0").await.expect("bind");
    for len in [2000, 512, 511] {
        peer.send_to(&vec![0xab; len], handle.local_addr()).await.expect("send");
    }
    let received = wait_for(&handle, LIMIT, |e: &mut Echo| {
        (!e.received.is_empty()).then(|| e.received.iter().map(|(_, d)| d.len()).collect::<Vec<_>>())
    })
    .await;
    assert_eq!(received, Some(vec![511]), "only the datagram shorter than the buffer reached the engine");
    let stats = handle.stats();
    assert_eq!((stats.datagrams_oversized, stats.datagrams_received), (2, 1), "{stats:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burst_longer_than_one_wake_reaches_the_engine_in_full() {
    let socket = UdpSocket::bind("127.0.0.1:0").await.expect("bind");
    let config = DriverConfig { max_datagrams_per_wake: 4, ..DriverConfig::default() };
    let (handle, _task) = transport::spawn(Echo::default(), socket, |_: &mut Echo| {}, config).expect("spawn");
    // Park the driver (blocking its worker thread) so the whole burst waits in the socket buffer.
    let (release, parked) = std::sync::mpsc::channel::<()>();
    handle
        .send(move |_, _| {
            let _ = parked.recv_timeout(Duration::from_secs(5));
        })
        .await
        .expect("driver");
    let peer = UdpSocket::bind("127.0.0.1:0").await.expect("bind");
    for i in 0..100u8 {
        peer.send_to(&[i], handle.local_addr()).await.expect("send");
    }
    release.send(()).expect("parked");
    let received = wait_for(&handle, LIMIT, |e: &mut Echo| (e.received.len() >= 100).then_some(e.received.len())).await;
    let got = handle.call(|e, _| e.received.iter().map(|(_, d)| d[0]).collect::<Vec<u8>>()).await.expect("driver");
    assert_eq!(received, Some(100), "every datagram of the burst was handled, in order: {got:?}");
    assert_eq!(got, (0..100).collect::<Vec<u8>>());
    assert_eq!(handle.stats().datagrams_received, 100);
}
