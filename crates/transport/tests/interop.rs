//! Interop with independent DTLS stacks from libcoap3-bin (OpenSSL and GnuTLS builds).
//!
//! The application layer is a hand-written CoAP responder (RFC 7252 §3 bytes) so these tests
//! need no CoAP endpoint. The libcoap binaries are required: CI installs `libcoap3-bin`, and a
//! missing binary fails the test loudly.

mod common;

use std::collections::VecDeque;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use coap::{Engine, Peer, Transmit};
use common::{free_port, localhost, psk_table, start, wait_for, TestCa};
use transport::dtls::{ClientCredentials, DtlsClient, DtlsConfig, DtlsServer, ServerCredentials};

const PAYLOAD: &[u8] = b"hello from lwm2m-gw";

/// Answers every CoAP request with 2.05 Content and [`PAYLOAD`] (piggybacked ACK for CON).
#[derive(Debug, Default)]
struct Responder {
    identities: Vec<Option<String>>,
    out: VecDeque<(Peer, Vec<u8>)>,
}

impl Engine for Responder {
    fn handle_datagram(&mut self, _now: Instant, peer: Peer, d: &[u8]) {
        let Some(&[first, code, mid_hi, mid_lo]) = d.get(..4).map(|h| <&[u8; 4]>::try_from(h).expect("4 bytes")) else {
            return;
        };
        let (version, kind, tkl) = (first >> 6, (first >> 4) & 3, usize::from(first & 0x0f));
        if version != 1 || tkl > 8 || code == 0 || code >> 5 != 0 {
            return; // not a request
        }
        let Some(token) = d.get(4..4 + tkl) else {
            return;
        };
        self.identities.push(peer.identity.clone());
        let reply_kind = if kind == 0 { 2 } else { 1 }; // CON → ACK, NON → NON
        let mut reply = vec![0x40 | reply_kind << 4 | tkl as u8, 0x45, mid_hi, mid_lo];
        if kind != 0 {
            reply[3] = mid_lo.wrapping_add(1);
        }
        reply.extend_from_slice(token);
        reply.push(0xff);
        reply.extend_from_slice(PAYLOAD);
        self.out.push_back((peer, reply));
    }

    fn handle_timeout(&mut self, _now: Instant) {}

    fn poll_transmit(&mut self, _now: Instant, buf: &mut Vec<u8>) -> Option<Transmit> {
        let (peer, d) = self.out.pop_front()?;
        buf.clear();
        buf.extend_from_slice(&d);
        Some(Transmit { peer, len: d.len() })
    }

    fn poll_timeout(&self) -> Option<Instant> {
        None
    }
}

/// Sends one CoAP GET (CON, token 0xab, MID 0x1234) once connected and keeps the answers.
#[derive(Debug, Default)]
struct Requester {
    server: Option<std::net::SocketAddr>,
    sent: bool,
    answers: Vec<Vec<u8>>,
}

impl Engine for Requester {
    fn handle_datagram(&mut self, _now: Instant, _peer: Peer, d: &[u8]) {
        self.answers.push(d.to_vec());
    }

    fn handle_timeout(&mut self, _now: Instant) {}

    fn poll_transmit(&mut self, _now: Instant, buf: &mut Vec<u8>) -> Option<Transmit> {
        let server = self.server?;
        if self.sent {
            return None;
        }
        self.sent = true;
        buf.clear();
        buf.extend_from_slice(&[0x41, 0x01, 0x12, 0x34, 0xab]); // CON GET, TKL 1, MID 0x1234, token ab
        Some(Transmit { peer: Peer::udp(server), len: buf.len() })
    }

    fn poll_timeout(&self) -> Option<Instant> {
        None
    }
}

fn binary(name: &str) -> PathBuf {
    for dir in ["/usr/bin", "/usr/local/bin"] {
        let path = Path::new(dir).join(name);
        if path.exists() {
            return path;
        }
    }
    panic!("{name} is missing: install libcoap3-bin (apt-get install -y libcoap3-bin)");
}

/// Runs a libcoap client to completion (bounded by `-B`) and returns its stdout and stderr.
async fn run_client(name: &str, args: Vec<String>) -> (bool, String, String) {
    let path = binary(name);
    tokio::task::spawn_blocking(move || {
        let out = Command::new(&path).args(&args).stdin(Stdio::null()).output().expect("run libcoap client");
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    })
    .await
    .expect("join")
}

fn psk_server() -> DtlsServer<Responder> {
    let psk = psk_table(&[("interop-id", b"interop-key")]);
    DtlsServer::new(
        Arc::new(DtlsConfig::default()),
        ServerCredentials { psk: Some(psk), certificate: None },
        Responder::default(),
    )
    .expect("server")
}

async fn psk_client_reaches_our_server(binary: &str, extra: &[&str]) {
    let (server, _task) = start(psk_server()).await;
    let port = server.local_addr().port();
    let args = ["-B", "20", "-u", "interop-id", "-k", "interop-key"].iter().chain(extra).map(|s| s.to_string());
    let args: Vec<String> = args.chain([format!("coaps://127.0.0.1:{port}/x")]).collect();
    let (ok, stdout, stderr) = run_client(binary, args).await;
    assert!(ok && stdout.contains("hello from lwm2m-gw"), "{binary} failed:\nstdout: {stdout}\nstderr: {stderr}");
    let seen = server.call(|s, _| (s.inner().identities.clone(), s.stats().clone())).await.expect("driver");
    assert_eq!(seen.0, vec![Some("interop-id".to_string())], "stats: {:?}", seen.1);
    assert_eq!(seen.1.handshakes_completed, 1);
}

#[tokio::test]
async fn coap_client_openssl_completes_a_psk_handshake_with_our_server() {
    psk_client_reaches_our_server("coap-client-openssl", &[]).await;
}

#[tokio::test]
async fn our_server_completes_the_handshake_when_the_clients_final_flight_is_lost() {
    // libcoap's -l drops the listed outgoing datagrams: 1 ClientHello, 2 ClientHello with
    // cookie, 3 the final flight (ClientKeyExchange, ChangeCipherSpec, Finished).
    psk_client_reaches_our_server("coap-client-openssl", &["-l", "3"]).await;
}

#[tokio::test]
async fn coap_client_gnutls_completes_a_psk_handshake_with_our_server() {
    psk_client_reaches_our_server("coap-client-gnutls", &[]).await;
}

/// A scratch directory for PEM files, removed on drop.
struct Scratch(PathBuf);

impl Scratch {
    fn new(tag: &str) -> Self {
        let mut nonce = [0u8; 8];
        openssl::rand::rand_bytes(&mut nonce).expect("rand");
        let dir = std::env::temp_dir().join(format!("transport-{tag}-{}", hex::encode(nonce)));
        std::fs::create_dir_all(&dir).expect("scratch dir");
        Self(dir)
    }

    fn write(&self, name: &str, bytes: &[u8]) -> String {
        let path = self.0.join(name);
        std::fs::write(&path, bytes).expect("write pem");
        path.display().to_string()
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

async fn x509_client_reaches_our_server(binary: &str) {
    let ca = TestCa::new("interop test ca");
    let server_creds = ca.credentials("127.0.0.1", &ca);
    let client_creds = ca.credentials("interop-device", &ca);
    let config = Arc::new(DtlsConfig::default());
    let engine =
        DtlsServer::new(config, ServerCredentials { psk: None, certificate: Some(server_creds) }, Responder::default())
            .expect("server");
    let (server, _task) = start(engine).await;
    let port = server.local_addr().port();

    let dir = Scratch::new("x509");
    let cert = dir.write("client.pem", &client_creds.certificate.to_pem().expect("pem"));
    let key = dir.write("client.key", &client_creds.private_key.private_key_to_pem_pkcs8().expect("pem"));
    let ca_file = dir.write("ca.pem", &ca.cert.to_pem().expect("pem"));
    let args = vec![
        "-B".into(),
        "10".into(),
        "-c".into(),
        cert,
        "-j".into(),
        key,
        "-C".into(),
        ca_file,
        format!("coaps://127.0.0.1:{port}/x"),
    ];
    let (ok, stdout, stderr) = run_client(binary, args).await;
    assert!(ok && stdout.contains("hello from lwm2m-gw"), "{binary} failed:\nstdout: {stdout}\nstderr: {stderr}");
    let identities = server.call(|s, _| s.inner().identities.clone()).await.expect("driver");
    assert_eq!(identities, vec![Some("interop-device".to_string())]);
}

#[tokio::test]
async fn coap_client_openssl_completes_an_x509_handshake_with_our_server() {
    x509_client_reaches_our_server("coap-client-openssl").await;
}

#[tokio::test]
async fn coap_client_gnutls_completes_an_x509_handshake_with_our_server() {
    x509_client_reaches_our_server("coap-client-gnutls").await;
}

/// Kills the child on drop.
struct Child(std::process::Child);

impl Drop for Child {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts coap-server-openssl with `extra` arguments; it listens for DTLS on the returned address.
fn coap_server_openssl(extra: &[&str]) -> (Child, std::net::SocketAddr) {
    coap_server("coap-server-openssl", extra)
}

/// Starts a libcoap server binary with `extra` arguments; it listens for DTLS on the returned address.
fn coap_server(name: &str, extra: &[&str]) -> (Child, std::net::SocketAddr) {
    let port = free_port();
    let mut args = vec!["-A".to_string(), "127.0.0.1".into(), "-p".into(), port.to_string()];
    args.extend(extra.iter().map(|s| s.to_string()));
    let child = Command::new(binary(name))
        .args(&args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("start {name}: {e}"));
    // libcoap listens for DTLS on port + 1.
    (Child(child), localhost(port + 1))
}

async fn our_client_gets_an_answer(server: std::net::SocketAddr, creds: ClientCredentials) -> transport::DtlsStats {
    tokio::time::sleep(Duration::from_millis(300)).await;
    let limit = Duration::from_secs(20);
    let requester = Requester { server: Some(server), ..Requester::default() };
    let client = DtlsClient::new(Arc::new(DtlsConfig::default()), creds, server, requester).expect("client");
    let (handle, _task) = start(client).await;
    handle.call(|c, now| c.connect(now)).await.expect("driver");
    let answer = wait_for(&handle, limit, |c: &mut DtlsClient<Requester>| c.inner().answers.first().cloned()).await;
    let stats = handle.call(|c, _| c.stats().clone()).await.expect("driver");
    let answer = answer.unwrap_or_else(|| panic!("no answer from coap-server-openssl; stats {stats:?}"));
    assert_eq!(&answer[..5], &[0x61, 0x45, 0x12, 0x34, 0xab], "ACK 2.05 with our MID and token");
    assert_eq!(stats.handshakes_completed, 1);
    stats
}

#[tokio::test]
async fn our_client_completes_a_psk_handshake_with_coap_server_openssl() {
    let (_child, server) = coap_server_openssl(&["-k", "interop-key"]);
    let creds = ClientCredentials::Psk { identity: "interop-id".into(), key: b"interop-key".to_vec() };
    our_client_gets_an_answer(server, creds).await;
}

#[tokio::test]
async fn our_client_completes_a_psk_handshake_with_coap_server_gnutls() {
    let (_child, server) = coap_server("coap-server-gnutls", &["-k", "interop-key"]);
    let creds = ClientCredentials::Psk { identity: "interop-id".into(), key: b"interop-key".to_vec() };
    our_client_gets_an_answer(server, creds).await;
}

#[tokio::test]
async fn our_client_retransmits_when_the_servers_flights_are_lost() {
    // The server drops its first two datagrams (the HelloVerifyRequest and the answer to our
    // first retransmission): only our own retransmission timer gets the handshake going again.
    let (_child, server) = coap_server_openssl(&["-k", "interop-key", "-l", "1,2"]);
    let creds = ClientCredentials::Psk { identity: "interop-id".into(), key: b"interop-key".to_vec() };
    let stats = our_client_gets_an_answer(server, creds).await;
    assert!(stats.handshake_retransmissions >= 2, "{stats:?}");
}

#[tokio::test]
async fn our_client_completes_an_x509_handshake_with_coap_server_openssl() {
    let ca = TestCa::new("interop test ca");
    let server_creds = ca.credentials("127.0.0.1", &ca);
    let client_creds = ca.credentials("interop-gateway", &ca);
    let dir = Scratch::new("x509-server");
    let cert = dir.write("server.pem", &server_creds.certificate.to_pem().expect("pem"));
    let key = dir.write("server.key", &server_creds.private_key.private_key_to_pem_pkcs8().expect("pem"));
    let ca_file = dir.write("ca.pem", &ca.cert.to_pem().expect("pem"));
    let (_child, server) = coap_server_openssl(&["-c", &cert, "-j", &key, "-C", &ca_file]);
    our_client_gets_an_answer(server, ClientCredentials::Certificate(client_creds)).await;
}
