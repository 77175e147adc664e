//! DTLS-PSK between our client and our server over real sockets on 127.0.0.1.

mod common;

use std::sync::Arc;
use std::time::Duration;

use coap::Peer;
use common::{psk_table, start, wait_for, Echo};
use transport::dtls::{ClientCredentials, DtlsClient, DtlsConfig, DtlsServer, ServerCredentials, SessionEvent};

const LIMIT: Duration = Duration::from_secs(10);

fn server(config: DtlsConfig) -> DtlsServer<Echo> {
    let psk = psk_table(&[("dev-1", b"secret-key-one"), ("dev-2", b"secret-key-two")]);
    DtlsServer::new(Arc::new(config), ServerCredentials { psk: Some(psk), certificate: None }, Echo::echoing())
        .expect("server")
}

fn client(identity: &str, key: &[u8], server: std::net::SocketAddr) -> DtlsClient<Echo> {
    client_with(DtlsConfig::default(), identity, key, server)
}

fn client_with(config: DtlsConfig, identity: &str, key: &[u8], server: std::net::SocketAddr) -> DtlsClient<Echo> {
    let creds = ClientCredentials::Psk { identity: identity.into(), key: key.to_vec() };
    DtlsClient::new(Arc::new(config), creds, server, Echo::default()).expect("client")
}

/// Handshakes that cannot finish end quickly in these tests.
fn short_handshakes() -> DtlsConfig {
    DtlsConfig { handshake_timeout: Duration::from_secs(2), ..DtlsConfig::default() }
}

#[tokio::test]
async fn psk_handshake_carries_application_data_both_ways() {
    let (server, server_task) = start(server(DtlsConfig::default())).await;
    let addr = server.local_addr();
    let (client, client_task) = start(client("dev-1", b"secret-key-one", addr)).await;

    client.call(move |c, _| c.inner_mut().send(Peer::udp(addr), b"hello")).await.expect("driver");
    let echoed = wait_for(&client, LIMIT, |c: &mut DtlsClient<Echo>| c.inner().received.first().cloned()).await;
    let (from, payload) = echoed.expect("the echo came back");
    assert_eq!(payload, b"echo:hello");
    assert_eq!(from, Peer::udp(addr), "the client's inner engine sees the server as it addresses it");
    let identity = client.call(|c, _| c.identity().map(str::to_owned)).await.expect("driver");
    assert_eq!(identity.as_deref(), Some("dev-1"));

    let seen = server.call(|s, _| s.inner().received.clone()).await.expect("driver");
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].0.identity.as_deref(), Some("dev-1"));
    assert_eq!(seen[0].1, b"hello");
    let stats = server.call(|s, _| s.stats().clone()).await.expect("driver");
    assert_eq!(stats.handshakes_completed, 1);
    assert_eq!(stats.hello_verify_requests, 1, "the first ClientHello got a stateless HelloVerifyRequest");
    assert_eq!(stats.handshakes_failed, 0);

    // A second message on the same session needs no new handshake.
    client.call(move |c, _| c.inner_mut().send(Peer::udp(addr), b"again")).await.expect("driver");
    let second = wait_for(&client, LIMIT, |c: &mut DtlsClient<Echo>| c.inner().received.get(1).cloned()).await;
    assert_eq!(second.expect("second echo").1, b"echo:again");
    assert_eq!(server.call(|s, _| s.stats().handshakes_started).await.expect("driver"), 1);

    client.shutdown();
    server.shutdown();
    client_task.await.expect("join").expect("client driver");
    server_task.await.expect("join").expect("server driver");
}

#[tokio::test]
async fn close_notify_ends_the_session_on_both_sides() {
    let (server, _server_task) = start(server(DtlsConfig::default())).await;
    let addr = server.local_addr();
    let (client, _client_task) = start(client("dev-2", b"secret-key-two", addr)).await;
    client.call(move |c, _| c.inner_mut().send(Peer::udp(addr), b"x")).await.expect("driver");
    wait_for(&client, LIMIT, |c: &mut DtlsClient<Echo>| c.inner().received.first().cloned()).await.expect("echo");
    assert_eq!(server.call(|s, _| s.session_count()).await.expect("driver"), 1);

    client.call(|c, _| c.close()).await.expect("driver");
    let closed = wait_for(&server, LIMIT, |s: &mut DtlsServer<Echo>| {
        (s.stats().sessions_closed_by_peer == 1).then_some(s.session_count())
    })
    .await;
    assert_eq!(closed, Some(0), "the server dropped the session on close_notify");
    let mut events = Vec::new();
    server
        .call(|s, _| std::iter::from_fn(|| s.poll_event()).collect::<Vec<_>>())
        .await
        .expect("driver")
        .into_iter()
        .for_each(|e| events.push(e));
    assert!(
        matches!(events.first(), Some(SessionEvent::Established { peer }) if peer.identity.as_deref() == Some("dev-2"))
    );
    assert!(matches!(events.get(1), Some(SessionEvent::Closed { identity: Some(id), .. }) if id == "dev-2"));
}

#[tokio::test]
async fn wrong_key_fails_and_the_server_keeps_serving_a_good_peer() {
    // A wrong key shows when the Finished message does not decrypt; DTLS drops such records
    // silently (RFC 6347 §4.1.2.7), so the handshake ends at the deadline on both sides.
    let (server, _server_task) = start(server(short_handshakes())).await;
    let addr = server.local_addr();
    let (bad, _bad_task) = start(client_with(short_handshakes(), "dev-1", b"not-the-right-key", addr)).await;
    bad.call(move |c, _| c.inner_mut().send(Peer::udp(addr), b"let me in")).await.expect("driver");
    let failed = wait_for(&server, LIMIT, |s: &mut DtlsServer<Echo>| {
        let st = s.stats();
        (st.handshakes_failed + st.handshakes_timed_out > 0).then_some(s.session_count())
    })
    .await;
    assert_eq!(failed, Some(0), "the server counted the failed handshake and dropped its state");
    let client_failed = wait_for(&bad, LIMIT, |c: &mut DtlsClient<Echo>| {
        (c.stats().handshakes_failed + c.stats().handshakes_timed_out > 0).then_some(())
    })
    .await;
    assert!(client_failed.is_some(), "the client saw its handshake fail");
    assert_eq!(server.call(|s, _| s.stats().handshakes_completed).await.expect("driver"), 0);
    assert!(server.call(|s, _| s.inner().received.is_empty()).await.expect("driver"));

    let (good, _good_task) = start(client("dev-2", b"secret-key-two", addr)).await;
    good.call(move |c, _| c.inner_mut().send(Peer::udp(addr), b"hi")).await.expect("driver");
    let echo = wait_for(&good, LIMIT, |c: &mut DtlsClient<Echo>| c.inner().received.first().cloned()).await;
    assert_eq!(echo.expect("good peer served").1, b"echo:hi");
}

#[tokio::test]
async fn unknown_identity_is_refused() {
    let (server, _server_task) = start(server(DtlsConfig::default())).await;
    let addr = server.local_addr();
    let (stranger, _task) = start(client("nobody", b"secret-key-one", addr)).await;
    stranger.call(move |c, _| c.inner_mut().send(Peer::udp(addr), b"hello?")).await.expect("driver");
    let failed = wait_for(&stranger, LIMIT, |c: &mut DtlsClient<Echo>| {
        std::iter::from_fn(|| c.poll_event()).find(|e| matches!(e, SessionEvent::Closed { .. }))
    })
    .await;
    assert!(
        matches!(&failed, Some(SessionEvent::Closed { reason: transport::CloseReason::HandshakeFailed { .. }, .. })),
        "{failed:?}"
    );
    let stats = server.call(|s, _| s.stats().clone()).await.expect("driver");
    assert_eq!(stats.handshakes_failed, 1);
    assert_eq!(stats.handshakes_completed, 0);
    assert_eq!(server.call(|s, _| s.session_count()).await.expect("driver"), 0);
    assert!(server.call(|s, _| s.inner().received.is_empty()).await.expect("driver"));
}

/// Regression: the client's inner CoAP endpoint addresses its server as `Peer::udp(server)`
/// (it cannot know the server's identity before the handshake) and keys its exchanges by the
/// whole peer, so the answer must come back under that same peer or it is dropped as an
/// unmatched ACK and the request times out.
#[tokio::test]
async fn a_coap_endpoint_behind_the_client_gets_the_answers_to_its_requests() {
    use coap::{Code, ContentFormat, Endpoint, EndpointConfig, Event, Reliability, Request, Response};

    let endpoint = || Endpoint::new(Arc::new(EndpointConfig::default()), [7; 32]);
    let psk = psk_table(&[("dev-1", b"secret-key-one")]);
    let credentials = ServerCredentials { psk: Some(psk), certificate: None };
    let server = DtlsServer::new(Arc::new(DtlsConfig::default()), credentials, endpoint()).expect("server");
    let (server, _server_task) = start(server).await;
    let addr = server.local_addr();
    let creds = ClientCredentials::Psk { identity: "dev-1".into(), key: b"secret-key-one".to_vec() };
    let client = DtlsClient::new(Arc::new(DtlsConfig::default()), creds, addr, endpoint()).expect("client");
    let (client, _client_task) = start(client).await;

    let token = client
        .call(move |c, now| {
            c.inner_mut().send_request(now, Peer::udp(addr), Request::get("/x"), Reliability::Confirmable)
        })
        .await
        .expect("driver")
        .expect("request accepted");
    let request = wait_for(&server, LIMIT, |s: &mut DtlsServer<Endpoint>| match s.inner_mut().poll_event() {
        Some(Event::Request { peer, token, .. }) => Some((peer, token)),
        _ => None,
    })
    .await;
    let (peer, handle) = request.expect("the request reached the server");
    assert_eq!(peer.identity.as_deref(), Some("dev-1"), "the server knows who asked");
    server
        .call(move |s, now| {
            s.inner_mut().send_response(now, &peer, handle, Response::content(ContentFormat::TEXT, "v"))
        })
        .await
        .expect("driver")
        .expect("answer accepted");

    let answer = wait_for(&client, LIMIT, |c: &mut DtlsClient<Endpoint>| c.inner_mut().poll_event()).await;
    match answer {
        Some(Event::Response { token: t, response }) => {
            assert_eq!(t, token);
            assert_eq!((response.code, response.payload.as_slice()), (Code::CONTENT, b"v".as_slice()));
        }
        other => panic!("expected the response, got {other:?}"),
    }
    let stats = client.call(|c, _| c.inner().stats().clone()).await.expect("driver");
    assert_eq!(stats.retransmissions, 0, "the piggybacked ACK matched the request: {stats:?}");
}
