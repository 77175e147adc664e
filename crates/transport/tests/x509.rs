//! DTLS with X.509 certificates (ECDHE-ECDSA-AES128-CCM8 on P-256) between our client and our
//! server over real sockets; the CA and certificates are made at test time.

mod common;

use std::sync::Arc;
use std::time::Duration;

use coap::Peer;
use common::{start, wait_for, Echo, TestCa};
use transport::dtls::{
    CertificateCredentials, ClientCredentials, DtlsClient, DtlsConfig, DtlsServer, ServerCredentials, SessionEvent,
};
use transport::CloseReason;

const LIMIT: Duration = Duration::from_secs(10);

fn server(creds: CertificateCredentials) -> DtlsServer<Echo> {
    let config = DtlsConfig { handshake_timeout: Duration::from_secs(8), ..DtlsConfig::default() };
    DtlsServer::new(Arc::new(config), ServerCredentials { psk: None, certificate: Some(creds) }, Echo::echoing())
        .expect("server")
}

fn client(creds: CertificateCredentials, server: std::net::SocketAddr) -> DtlsClient<Echo> {
    let config = DtlsConfig { handshake_timeout: Duration::from_secs(8), ..DtlsConfig::default() };
    DtlsClient::new(Arc::new(config), ClientCredentials::Certificate(creds), server, Echo::default()).expect("client")
}

#[tokio::test]
async fn certificate_handshake_authenticates_both_sides_by_common_name() {
    let ca = TestCa::new("test ca");
    let (server, _st) = start(server(ca.credentials("gateway.example", &ca))).await;
    let addr = server.local_addr();
    let (client, _ct) = start(client(ca.credentials("urn:dev:os:0001", &ca), addr)).await;

    client.call(move |c, _| c.inner_mut().send(Peer::udp(addr), b"ping")).await.expect("driver");
    let echo = wait_for(&client, LIMIT, |c: &mut DtlsClient<Echo>| c.inner().received.first().cloned()).await;
    let (from, payload) = echo.expect("echo over x.509 dtls");
    assert_eq!(payload, b"echo:ping");
    assert_eq!(from, Peer::udp(addr), "the client's inner engine sees the server as it addresses it");
    let identity = client.call(|c, _| c.identity().map(str::to_owned)).await.expect("driver");
    assert_eq!(identity.as_deref(), Some("gateway.example"), "the client knows the server's CN");
    let seen = server.call(|s, _| s.inner().received.clone()).await.expect("driver");
    assert_eq!(seen[0].0.identity.as_deref(), Some("urn:dev:os:0001"), "the server knows the client's CN");
}

#[tokio::test]
async fn a_certificate_from_an_unknown_ca_is_refused() {
    let ca = TestCa::new("test ca");
    let rogue = TestCa::new("rogue ca");
    let (server, _st) = start(server(ca.credentials("gateway.example", &ca))).await;
    let addr = server.local_addr();
    // The rogue-issued client trusts the real CA, so only the server can object.
    let (client, _ct) = start(client(rogue.credentials("intruder", &ca), addr)).await;
    client.call(move |c, _| c.inner_mut().send(Peer::udp(addr), b"ping")).await.expect("driver");

    let ended = wait_for(&client, LIMIT, |c: &mut DtlsClient<Echo>| {
        std::iter::from_fn(|| c.poll_event()).find(|e| matches!(e, SessionEvent::Closed { .. }))
    })
    .await;
    assert!(
        matches!(ended, Some(SessionEvent::Closed { reason: CloseReason::HandshakeFailed { .. }, .. })),
        "{ended:?}"
    );
    let stats = server.call(|s, _| s.stats().clone()).await.expect("driver");
    assert_eq!((stats.handshakes_failed, stats.handshakes_completed), (1, 0));
    assert!(server.call(|s, _| s.inner().received.is_empty()).await.expect("driver"));
}

#[tokio::test]
async fn the_authorizer_can_refuse_a_valid_certificate_and_names_the_identity() {
    let ca = TestCa::new("test ca");
    let mut server_creds = ca.credentials("gateway.example", &ca);
    server_creds.authorize = Some(Arc::new(|cert: &openssl::x509::X509Ref| {
        transport::dtls::subject_common_name(cert).filter(|cn| cn.starts_with("dev-")).map(|cn| format!("ep:{cn}"))
    }));
    let (server, _st) = start(server(server_creds)).await;
    let addr = server.local_addr();

    let (refused, _rt) = start(client(ca.credentials("not-a-device", &ca), addr)).await;
    refused.call(move |c, _| c.inner_mut().send(Peer::udp(addr), b"ping")).await.expect("driver");
    let failed =
        wait_for(&refused, LIMIT, |c: &mut DtlsClient<Echo>| (c.stats().handshakes_failed > 0).then_some(())).await;
    assert!(failed.is_some(), "the authorizer's refusal failed the handshake");

    let (accepted, _at) = start(client(ca.credentials("dev-7", &ca), addr)).await;
    accepted.call(move |c, _| c.inner_mut().send(Peer::udp(addr), b"ping")).await.expect("driver");
    wait_for(&accepted, LIMIT, |c: &mut DtlsClient<Echo>| c.inner().received.first().cloned()).await.expect("echo");
    let seen = server.call(|s, _| s.inner().received.clone()).await.expect("driver");
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].0.identity.as_deref(), Some("ep:dev-7"));
}
