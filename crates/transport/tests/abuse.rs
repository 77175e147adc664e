//! A DTLS server under abuse: half-finished handshakes, junk floods, more peers than the cap.
//! Real sockets on 127.0.0.1.

mod common;

use std::sync::Arc;
use std::time::Duration;

use coap::Peer;
use common::{client_hello, hello_verify_cookie, psk_table, start, wait_for, Echo};
use tokio::net::UdpSocket;
use transport::dtls::{ClientCredentials, DtlsClient, DtlsConfig, DtlsServer, ServerCredentials, SessionEvent};
use transport::CloseReason;

const LIMIT: Duration = Duration::from_secs(10);

fn server(config: DtlsConfig) -> DtlsServer<Echo> {
    let psk = psk_table(&[("good", b"good-key")]);
    DtlsServer::new(Arc::new(config), ServerCredentials { psk: Some(psk), certificate: None }, Echo::echoing())
        .expect("server")
}

fn good_client(server: std::net::SocketAddr) -> DtlsClient<Echo> {
    let creds = ClientCredentials::Psk { identity: "good".into(), key: b"good-key".to_vec() };
    DtlsClient::new(Arc::new(DtlsConfig::default()), creds, server, Echo::default()).expect("client")
}

async fn recv(socket: &UdpSocket) -> Vec<u8> {
    let mut buf = vec![0; 2048];
    let n = tokio::time::timeout(LIMIT, socket.recv(&mut buf)).await.expect("an answer in time").expect("recv");
    buf.truncate(n);
    buf
}

/// Runs a good client through a handshake and one echo; returns its driver handle.
async fn good_peer_is_served(
    addr: std::net::SocketAddr,
    tag: &'static [u8],
) -> transport::DriverHandle<DtlsClient<Echo>> {
    let (client, _task) = start(good_client(addr)).await;
    client.call(move |c, _| c.inner_mut().send(Peer::udp(addr), tag)).await.expect("driver");
    let echo = wait_for(&client, LIMIT, |c: &mut DtlsClient<Echo>| c.inner().received.first().cloned()).await;
    let mut expected = b"echo:".to_vec();
    expected.extend_from_slice(tag);
    assert_eq!(echo.expect("the good peer is served").1, expected);
    client
}

#[tokio::test]
async fn a_half_finished_handshake_is_dropped_at_the_deadline() {
    let config = DtlsConfig { handshake_timeout: Duration::from_millis(800), ..DtlsConfig::default() };
    let (server, _task) = start(server(config)).await;
    let addr = server.local_addr();
    let raw = UdpSocket::bind("127.0.0.1:0").await.expect("bind");
    raw.connect(addr).await.expect("connect");

    // Without a cookie: a HelloVerifyRequest and no state.
    raw.send(&client_hello([1; 32], &[], 0, 0)).await.expect("send");
    let cookie = hello_verify_cookie(&recv(&raw).await).expect("a HelloVerifyRequest");
    assert_eq!(server.call(|s, _| s.session_count()).await.expect("driver"), 0);

    // With the cookie: a session and the server's flight; then we go silent.
    raw.send(&client_hello([1; 32], &cookie, 1, 1)).await.expect("send");
    let flight = recv(&raw).await;
    assert_eq!(flight.first(), Some(&22), "the ServerHello flight");
    assert_eq!(server.call(|s, _| s.session_count()).await.expect("driver"), 1);

    let dropped = wait_for(&server, LIMIT, |s: &mut DtlsServer<Echo>| {
        (s.session_count() == 0).then(|| s.stats().handshakes_timed_out)
    })
    .await;
    assert_eq!(dropped, Some(1), "the session went at the deadline and was counted");
    let events = server.call(|s, _| std::iter::from_fn(|| s.poll_event()).collect::<Vec<_>>()).await.expect("driver");
    assert!(
        matches!(
            events.as_slice(),
            [SessionEvent::Closed { reason: CloseReason::HandshakeTimedOut, identity: None, .. }]
        ),
        "{events:?}"
    );
    good_peer_is_served(addr, b"after").await;
}

#[tokio::test]
async fn ten_thousand_junk_datagrams_leave_a_good_peer_served_and_create_no_sessions() {
    let config = DtlsConfig { max_sessions: 4, ..DtlsConfig::default() };
    let (server, _task) = start(server(config)).await;
    let addr = server.local_addr();
    let mut sockets = Vec::new();
    for _ in 0..8 {
        let s = UdpSocket::bind("127.0.0.1:0").await.expect("bind");
        s.connect(addr).await.expect("connect");
        sockets.push(s);
    }
    let mut sent = 0u32;
    for i in 0u32..10_000 {
        let mut random = [0u8; 32];
        random[..4].copy_from_slice(&i.to_be_bytes());
        let junk = match i % 5 {
            0 => b"\x40\x01\x00\x01 not dtls at all".to_vec(),
            1 => client_hello(random, &[], 0, 0), // cookie-less: answered statelessly
            2 => client_hello(random, &[0x55; 16], 1, 1), // forged cookie
            3 => client_hello(random, &[], 0, 0)[..20].to_vec(), // truncated record
            _ => {
                let mut record = vec![23, 0xfe, 0xfd, 0, 1, 0, 0, 0, 0, 0, 7, 0, 8];
                record.extend_from_slice(&i.to_be_bytes());
                record.extend_from_slice(&[0; 4]);
                record // application data for no session
            }
        };
        sockets[(i % 8) as usize].send(&junk).await.expect("send");
        sent += 1;
        if i % 100 == 99 {
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
    }
    assert_eq!(sent, 10_000);
    // Wait until the server has read everything that reached it (the count stops moving).
    let mut last = u64::MAX;
    for _ in 0..100 {
        let now = server.stats().datagrams_received;
        if now == last {
            break;
        }
        last = now;
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let (stats, sessions) = server.call(|s, _| (s.stats().clone(), s.session_count())).await.expect("driver");
    let received = server.stats().datagrams_received;
    // Loopback drops what overflows the socket buffer; most of the flood must still arrive.
    assert!(received > 2_000, "the flood reached the server ({received})");
    assert_eq!(sessions, 0, "junk created no sessions");
    assert_eq!(stats.handshakes_started, 0);
    assert_eq!(
        stats.junk_datagrams + stats.hello_verify_requests,
        received,
        "every datagram was either counted as junk or answered statelessly: {stats:?}"
    );
    assert!(stats.cookies_rejected > 0 && stats.cookies_rejected <= stats.hello_verify_requests);

    good_peer_is_served(addr, b"still here").await;
    assert!(server.call(|s, _| s.session_count()).await.expect("driver") <= 4);
}

#[tokio::test]
async fn the_least_recently_active_session_is_evicted_at_the_cap() {
    let config = DtlsConfig { max_sessions: 2, ..DtlsConfig::default() };
    let (server, _task) = start(server(config)).await;
    let addr = server.local_addr();

    let first = good_peer_is_served(addr, b"one").await;
    let second = good_peer_is_served(addr, b"two").await;
    // The first peer talks again, so the second is now the least recently active.
    first.call(move |c, _| c.inner_mut().send(Peer::udp(addr), b"one again")).await.expect("driver");
    wait_for(&first, LIMIT, |c: &mut DtlsClient<Echo>| c.inner().received.get(1).cloned()).await.expect("echo");
    let second_addr = second.local_addr();

    let _third = good_peer_is_served(addr, b"three").await;
    let (count, stats, events) = server
        .call(|s, _| (s.session_count(), s.stats().clone(), std::iter::from_fn(|| s.poll_event()).collect::<Vec<_>>()))
        .await
        .expect("driver");
    assert_eq!(count, 2);
    assert_eq!(stats.sessions_evicted, 1);
    assert!(
        events.iter().any(|e| matches!(e,
            SessionEvent::Closed { addr, reason: CloseReason::Evicted, .. } if *addr == second_addr)),
        "the second peer was evicted: {events:?}"
    );
    // The evicted peer got our close_notify and reconnects on its next datagram.
    let closed = wait_for(&second, LIMIT, |c: &mut DtlsClient<Echo>| (!c.is_established()).then_some(())).await;
    assert!(closed.is_some(), "the evicted client saw close_notify");
    second.call(move |c, _| c.inner_mut().send(Peer::udp(addr), b"two again")).await.expect("driver");
    let echo = wait_for(&second, LIMIT, |c: &mut DtlsClient<Echo>| c.inner().received.get(1).cloned()).await;
    assert_eq!(echo.expect("served after a new handshake").1, b"echo:two again");
    assert_eq!(server.call(|s, _| s.session_count()).await.expect("driver"), 2);
}
