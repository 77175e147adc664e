//! The DTLS engines without sockets: datagrams are carried by hand and time is an argument.

mod common;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use coap::{Engine, Peer};
use common::{client_hello, hello_verify_cookie, psk_table, Echo, TestCa};
use transport::dtls::{ClientCredentials, DtlsClient, DtlsConfig, DtlsServer, ServerCredentials, SessionEvent};
use transport::CloseReason;

const SERVER: SocketAddr = SocketAddr::new(std::net::IpAddr::V4(std::net::Ipv4Addr::new(10, 0, 0, 1)), 5684);
const CLIENT: SocketAddr = SocketAddr::new(std::net::IpAddr::V4(std::net::Ipv4Addr::new(10, 0, 0, 2)), 40000);

/// Moves datagrams both ways until both engines are quiet; returns every datagram's size.
fn pump(now: Instant, client: &mut DtlsClient<Echo>, from: SocketAddr, server: &mut DtlsServer<Echo>) -> Vec<usize> {
    let mut sizes = Vec::new();
    let mut buf = Vec::new();
    for _ in 0..1000 {
        let mut moved = false;
        while let Some(t) = client.poll_transmit(now, &mut buf) {
            assert_eq!(t.peer.addr, SERVER);
            sizes.push(t.len);
            server.handle_datagram(now, Peer::udp(from), &buf[..t.len]);
            moved = true;
        }
        while let Some(t) = server.poll_transmit(now, &mut buf) {
            if t.peer.addr == from {
                sizes.push(t.len);
                client.handle_datagram(now, Peer::udp(SERVER), &buf[..t.len]);
                moved = true;
            }
        }
        if !moved {
            return sizes;
        }
    }
    panic!("engines kept talking");
}

fn psk_server(config: DtlsConfig) -> DtlsServer<Echo> {
    let psk = psk_table(&[("a", b"key-a"), ("b", b"key-b")]);
    DtlsServer::new(Arc::new(config), ServerCredentials { psk: Some(psk), certificate: None }, Echo::echoing())
        .expect("server")
}

fn psk_client(config: DtlsConfig, identity: &str, key: &[u8]) -> DtlsClient<Echo> {
    let creds = ClientCredentials::Psk { identity: identity.into(), key: key.to_vec() };
    DtlsClient::new(Arc::new(config), creds, SERVER, Echo::default()).expect("client")
}

#[test]
fn every_datagram_of_a_certificate_handshake_fits_the_mtu() {
    let ca = TestCa::new("ca");
    let config = DtlsConfig { mtu: 400, ..DtlsConfig::default() };
    let server_creds = ServerCredentials { psk: None, certificate: Some(ca.credentials("server", &ca)) };
    let mut server = DtlsServer::new(Arc::new(config.clone()), server_creds, Echo::echoing()).expect("server");
    let client_creds = ClientCredentials::Certificate(ca.credentials("client", &ca));
    let mut client = DtlsClient::new(Arc::new(config), client_creds, SERVER, Echo::default()).expect("client");

    let now = Instant::now();
    client.inner_mut().send(Peer::udp(SERVER), &[7; 200]);
    let sizes = pump(now, &mut client, CLIENT, &mut server);
    assert!(client.is_established());
    assert_eq!(client.inner().received.len(), 1, "the echo came back");
    assert!(sizes.iter().all(|&n| n <= 400), "{sizes:?}");
    assert!(sizes.iter().filter(|&&n| n > 300).count() >= 2, "certificates were fragmented to fit: {sizes:?}");
}

#[test]
fn a_silent_client_loses_its_handshake_at_the_deadline_in_virtual_time() {
    let config = DtlsConfig { handshake_timeout: Duration::from_secs(30), ..DtlsConfig::default() };
    let mut server = psk_server(config);
    let start = Instant::now();
    let mut buf = Vec::new();

    server.handle_datagram(start, Peer::udp(CLIENT), &client_hello([3; 32], &[], 0, 0));
    let t = server.poll_transmit(start, &mut buf).expect("a HelloVerifyRequest");
    let cookie = hello_verify_cookie(&buf[..t.len]).expect("cookie");
    assert_eq!(server.poll_timeout(), None, "a cookie-less hello leaves no state and no timer");

    server.handle_datagram(start, Peer::udp(CLIENT), &client_hello([3; 32], &cookie, 1, 1));
    assert!(server.poll_transmit(start, &mut buf).is_some(), "the ServerHello flight");
    while server.poll_transmit(start, &mut buf).is_some() {}
    assert_eq!(server.session_count(), 1);
    let first = server.poll_timeout().expect("retransmission timer");
    assert!(first > start && first <= start + Duration::from_secs(2), "RFC 6347 starts at 1 s: {first:?}");

    // Step through virtual time; OpenSSL's own wall clock has not moved, so the session only
    // looks again briefly each time, and the deadline ends it exactly once.
    let mut now = start;
    let mut steps = 0;
    while let Some(at) = server.poll_timeout() {
        assert!(at >= now, "deadlines never go backwards");
        now = at;
        server.handle_timeout(now);
        while server.poll_transmit(now, &mut buf).is_some() {}
        steps += 1;
        assert!(steps < 1000, "the deadline comes");
    }
    assert!(now >= start + Duration::from_secs(30) && now < start + Duration::from_secs(31), "{:?}", now - start);
    assert_eq!(server.session_count(), 0);
    assert_eq!(server.stats().handshakes_timed_out, 1);
    assert!(matches!(
        server.poll_event(),
        Some(SessionEvent::Closed { reason: CloseReason::HandshakeTimedOut, addr: CLIENT, identity: None })
    ));
}

#[test]
fn a_lost_flight_is_retransmitted_when_the_timer_fires() {
    let mut server = psk_server(DtlsConfig::default());
    let mut client = psk_client(DtlsConfig::default(), "a", b"key-a");
    let start = Instant::now();
    let mut buf = Vec::new();
    client.connect(start);
    // ClientHello → HelloVerifyRequest → ClientHello with cookie, all delivered.
    for _ in 0..2 {
        let t = client.poll_transmit(start, &mut buf).expect("client hello");
        server.handle_datagram(start, Peer::udp(CLIENT), &buf[..t.len]);
        let t = server.poll_transmit(start, &mut buf).expect("server answer");
        if server.session_count() == 0 {
            client.handle_datagram(start, Peer::udp(SERVER), &buf[..t.len]);
        }
    }
    // The ServerHello flight is lost.
    while server.poll_transmit(start, &mut buf).is_some() {}
    assert!(client.is_handshaking());
    let at = client.poll_timeout().expect("client retransmission timer");
    assert!(at >= start + Duration::from_secs(1));
    // OpenSSL's timer runs on the wall clock: follow the session's deadlines in real time
    // until OpenSSL's has expired too.
    let mut resent = Vec::new();
    while resent.is_empty() {
        let at = client.poll_timeout().expect("timer");
        assert!(at - start < Duration::from_secs(3), "the ClientHello went out again within 3 s");
        std::thread::sleep(at.saturating_duration_since(Instant::now()));
        let now = Instant::now();
        client.handle_timeout(now);
        resent = pump(now, &mut client, CLIENT, &mut server);
    }
    assert!(!resent.is_empty(), "the ClientHello went out again");
    assert_eq!(client.stats().handshake_retransmissions, 1);
    assert!(client.is_established(), "the handshake finished after the retransmission");
    assert_eq!(server.stats().handshakes_completed, 1);
    assert_eq!(server.stats().sessions_replaced, 0, "the retransmitted hello reached the same session");
}

#[test]
fn datagrams_for_a_replaced_peer_never_reach_the_new_identity() {
    let mut server = psk_server(DtlsConfig::default());
    let now = Instant::now();
    let mut a = psk_client(DtlsConfig::default(), "a", b"key-a");
    a.inner_mut().send(Peer::udp(SERVER), b"from a");
    pump(now, &mut a, CLIENT, &mut server);
    assert!(a.is_established());
    assert_eq!(server.identity(&CLIENT), Some("a"));

    // The address now belongs to "b" (a NAT rebinding, a restarted device …).
    let mut b = psk_client(DtlsConfig::default(), "b", b"key-b");
    b.connect(now);
    pump(now, &mut b, CLIENT, &mut server);
    assert!(b.is_established());
    assert_eq!(server.identity(&CLIENT), Some("b"));
    assert_eq!(server.stats().sessions_replaced, 1);

    let dropped_before = server.stats().transmits_dropped;
    server.inner_mut().send(Peer { addr: CLIENT, identity: Some("a".into()) }, b"secret for a");
    pump(now, &mut b, CLIENT, &mut server);
    assert_eq!(server.stats().transmits_dropped, dropped_before + 1);
    assert!(b.inner().received.is_empty(), "b never sees a's data");

    server.inner_mut().send(Peer { addr: CLIENT, identity: Some("b".into()) }, b"for b");
    pump(now, &mut b, CLIENT, &mut server);
    assert_eq!(b.inner().received.len(), 1);
}

#[test]
fn a_server_with_both_credential_kinds_accepts_psk_and_certificate_clients() {
    let ca = TestCa::new("ca");
    let creds = ServerCredentials {
        psk: Some(psk_table(&[("a", b"key-a")])),
        certificate: Some(ca.credentials("server", &ca)),
    };
    let mut server = DtlsServer::new(Arc::new(DtlsConfig::default()), creds, Echo::echoing()).expect("server");
    let now = Instant::now();

    let mut psk = psk_client(DtlsConfig::default(), "a", b"key-a");
    psk.inner_mut().send(Peer::udp(SERVER), b"psk");
    pump(now, &mut psk, CLIENT, &mut server);
    assert_eq!(psk.inner().received.len(), 1);

    let other = SocketAddr::from(([10, 0, 0, 3], 40001));
    let cert_creds = ClientCredentials::Certificate(ca.credentials("device-x", &ca));
    let mut cert = DtlsClient::new(Arc::new(DtlsConfig::default()), cert_creds, SERVER, Echo::default()).expect("c");
    cert.inner_mut().send(Peer::udp(SERVER), b"x509");
    pump(now, &mut cert, other, &mut server);
    assert_eq!(cert.inner().received.len(), 1);
    assert_eq!(server.identity(&CLIENT), Some("a"));
    assert_eq!(server.identity(&other), Some("device-x"));
}

#[test]
fn an_idle_session_is_closed_after_the_idle_timeout() {
    let config = DtlsConfig { idle_timeout: Some(Duration::from_secs(60)), ..DtlsConfig::default() };
    let mut server = psk_server(config.clone());
    let mut client = psk_client(config, "a", b"key-a");
    let now = Instant::now();
    client.inner_mut().send(Peer::udp(SERVER), b"hi");
    pump(now, &mut client, CLIENT, &mut server);
    assert_eq!(server.session_count(), 1);
    let idle_at = server.poll_timeout().expect("idle deadline");
    assert_eq!(idle_at, now + Duration::from_secs(60));
    server.handle_timeout(idle_at);
    assert_eq!(server.session_count(), 0);
    assert_eq!(server.stats().sessions_idle_closed, 1);
    // The close_notify reaches the client.
    pump(idle_at, &mut client, CLIENT, &mut server);
    assert!(!client.is_established());
    assert_eq!(client.stats().sessions_closed_by_peer, 1);
}

#[test]
fn the_client_drops_what_is_not_from_its_server_and_what_is_not_for_it() {
    let mut client = psk_client(DtlsConfig::default(), "a", b"key-a");
    let now = Instant::now();
    client.handle_datagram(now, Peer::udp(CLIENT), &client_hello([0; 32], &[], 0, 0));
    client.handle_datagram(now, Peer::udp(SERVER), b"junk");
    assert_eq!(client.stats().junk_datagrams, 2);
    client.inner_mut().send(Peer::udp(CLIENT), b"elsewhere");
    let mut buf = Vec::new();
    assert!(client.poll_transmit(now, &mut buf).is_none());
    assert_eq!(client.stats().transmits_dropped, 1);
}

#[test]
fn the_server_hello_continues_the_clients_message_sequence() {
    // RFC 6347 §4.2.2: after n HelloVerifyRequests the client's ClientHello has message_seq n
    // and the ServerHello must carry the same; its record number must exceed the one of our
    // stateless HelloVerifyRequest (0).
    for message_seq in 0..=3u16 {
        let mut server = psk_server(DtlsConfig::default());
        let now = Instant::now();
        let mut buf = Vec::new();
        server.handle_datagram(now, Peer::udp(CLIENT), &client_hello([9; 32], &[], 0, 0));
        let t = server.poll_transmit(now, &mut buf).expect("HelloVerifyRequest");
        let cookie = hello_verify_cookie(&buf[..t.len]).expect("cookie");
        assert_eq!(&buf[5..11], &[0; 6], "HelloVerifyRequest record number");

        server.handle_datagram(now, Peer::udp(CLIENT), &client_hello([9; 32], &cookie, message_seq, 5));
        let t = server.poll_transmit(now, &mut buf).expect("ServerHello");
        let d = &buf[..t.len];
        assert_eq!((d[0], d[13]), (22, 2), "a handshake record holding a ServerHello");
        assert_eq!(u16::from_be_bytes([d[17], d[18]]), message_seq, "ServerHello message_seq");
        let record_seq = d[5..11].iter().fold(0u64, |a, &b| a << 8 | u64::from(b));
        assert_eq!(record_seq, u64::from(message_seq), "record numbers continue after the primed exchanges");
        assert_eq!(server.stats().handshakes_started, 1);
    }
}

#[test]
fn a_client_hello_with_a_stale_or_foreign_cookie_gets_a_fresh_hello_verify_request() {
    let mut server = psk_server(DtlsConfig::default());
    let now = Instant::now();
    let mut buf = Vec::new();
    server.handle_datagram(now, Peer::udp(CLIENT), &client_hello([1; 32], &[], 0, 0));
    let t = server.poll_transmit(now, &mut buf).expect("HelloVerifyRequest");
    let cookie = hello_verify_cookie(&buf[..t.len]).expect("cookie");

    // The same cookie from another address, or with another random, is worthless.
    let elsewhere = SocketAddr::from(([10, 0, 0, 9], 40000));
    server.handle_datagram(now, Peer::udp(elsewhere), &client_hello([1; 32], &cookie, 1, 1));
    server.handle_datagram(now, Peer::udp(CLIENT), &client_hello([2; 32], &cookie, 1, 1));
    assert_eq!(server.session_count(), 0);
    assert_eq!(server.stats().cookies_rejected, 2);
    let mut answers = 0;
    while let Some(t) = server.poll_transmit(now, &mut buf) {
        assert!(hello_verify_cookie(&buf[..t.len]).is_some(), "each got a HelloVerifyRequest");
        answers += 1;
    }
    assert_eq!(answers, 2);
}

#[test]
fn mutated_handshake_datagrams_never_break_either_side() {
    use rand::{Rng, SeedableRng};
    let mut rng = rand::rngs::StdRng::seed_from_u64(7);
    let now = Instant::now();
    // Record one clean handshake's datagrams in both directions.
    let mut server = psk_server(DtlsConfig::default());
    let mut client = psk_client(DtlsConfig::default(), "a", b"key-a");
    client.inner_mut().send(Peer::udp(SERVER), b"x");
    let mut to_server = Vec::new();
    let mut to_client = Vec::new();
    let mut buf = Vec::new();
    for _ in 0..20 {
        while let Some(t) = client.poll_transmit(now, &mut buf) {
            to_server.push(buf[..t.len].to_vec());
            server.handle_datagram(now, Peer::udp(CLIENT), &buf[..t.len]);
        }
        while let Some(t) = server.poll_transmit(now, &mut buf) {
            to_client.push(buf[..t.len].to_vec());
            client.handle_datagram(now, Peer::udp(SERVER), &buf[..t.len]);
        }
    }
    assert!(client.is_established());

    // Replay mutated copies at fresh engines, in order, many times.
    for round in 0..300u32 {
        let mut server = psk_server(DtlsConfig::default());
        let mut client = psk_client(DtlsConfig::default(), "a", b"key-a");
        client.connect(now);
        while client.poll_transmit(now, &mut buf).is_some() {}
        let from = SocketAddr::from(([10, 9, (round >> 8) as u8, round as u8], 40000));
        for (i, original) in to_server.iter().chain(&to_client).enumerate() {
            let mut d = original.clone();
            match rng.random_range(0..4) {
                0 => {
                    let at = rng.random_range(0..d.len());
                    d[at] ^= 1 << rng.random_range(0..8);
                }
                1 => d.truncate(rng.random_range(0..d.len())),
                2 => d.extend((0..rng.random_range(1..40)).map(|_| rng.random::<u8>())),
                _ => {
                    let at = rng.random_range(0..d.len());
                    d[at] = rng.random();
                }
            }
            if i < to_server.len() {
                server.handle_datagram(now, Peer::udp(from), &d);
            } else {
                client.handle_datagram(now, Peer::udp(SERVER), &d);
            }
            while server.poll_transmit(now, &mut buf).is_some() {}
            while client.poll_transmit(now, &mut buf).is_some() {}
        }
        server.handle_timeout(now + Duration::from_secs(60));
        client.handle_timeout(now + Duration::from_secs(60));
        assert_eq!(
            server.session_count(),
            server.established_count(),
            "round {round}: no handshake outlives its deadline"
        );
    }
}

#[test]
fn retransmission_intervals_start_at_one_second_and_double() {
    let mut server = psk_server(DtlsConfig::default());
    let mut buf = Vec::new();
    let start = Instant::now();
    server.handle_datagram(start, Peer::udp(CLIENT), &client_hello([4; 32], &[], 0, 0));
    let t = server.poll_transmit(start, &mut buf).expect("HelloVerifyRequest");
    let cookie = hello_verify_cookie(&buf[..t.len]).expect("cookie");
    server.handle_datagram(start, Peer::udp(CLIENT), &client_hello([4; 32], &cookie, 1, 1));
    let mut flight = Vec::new();
    while let Some(t) = server.poll_transmit(start, &mut buf) {
        flight.push(buf[..t.len].to_vec());
    }
    let first = server.poll_timeout().expect("timer");
    assert!(first - start >= Duration::from_secs(1) && first - start < Duration::from_millis(1100));

    // Real time, because OpenSSL's own timer reads the wall clock. Under load OpenSSL's timer
    // may lag ours a little; the session then looks again shortly, so follow its deadlines.
    let mut resent = Vec::new();
    let mut now = start;
    while resent.is_empty() {
        let at = server.poll_timeout().expect("timer");
        assert!(at - start < Duration::from_secs(3), "the flight went out again within 3 s");
        std::thread::sleep(at.saturating_duration_since(Instant::now()));
        now = Instant::now();
        server.handle_timeout(now);
        while let Some(t) = server.poll_transmit(now, &mut buf) {
            resent.push(buf[..t.len].to_vec());
        }
    }
    assert_eq!(resent.len(), flight.len(), "the whole flight again");
    assert_eq!(server.stats().handshake_retransmissions, 1);
    let second = server.poll_timeout().expect("timer");
    assert!(second - now >= Duration::from_secs(2) && second - now < Duration::from_millis(2100), "{:?}", second - now);
}
