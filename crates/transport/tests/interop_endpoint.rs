//! Interop of the whole stack — the real [`coap::Endpoint`] (block-wise inside), wrapped in
//! [`Secured`] for DTLS, run by the real [`transport::spawn`] driver on 127.0.0.1 — with
//! independent CoAP stacks from Debian `libcoap3-bin`:
//!
//! - `coap-client-openssl` and `coap-client-gnutls` against our resource server, over plain UDP,
//!   DTLS PSK and DTLS X.509: GET of a small resource, GET of a 5000-byte resource in 64-byte
//!   Block2 blocks (RFC 7959 §2.4, early negotiation by the client), PUT of a large body in
//!   64-byte Block1 blocks (§2.5) and GET of it back; every body is compared byte for byte.
//! - Our endpoint as the client (plain, and through [`DtlsClient`] with PSK and X.509) against
//!   `coap-server-openssl`: GET of `/.well-known/core`, PUT of a large body (Block1) creating a
//!   dynamic resource (`-d`), and GET of it back (Block2).
//!
//! Every wait is bounded and every child process is killed on drop, panics included. A missing
//! binary fails the test: an interop test that skips proves nothing.

mod common;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use coap::block::BlockSize;
use coap::{Code, ContentFormat, Endpoint, EndpointConfig, Event, Peer, Reliability, Request, Response, Token};
use common::{free_port, localhost, psk_table, TestCa};
use tokio::net::UdpSocket;
use tokio::sync::mpsc;
use transport::dtls::{ClientCredentials, DtlsClient, DtlsConfig, DtlsServer, ServerCredentials};
use transport::{DriverConfig, DriverHandle, DriverTask, Secured, SessionEvent};

/// The engine under test: the CoAP endpoint, over plain UDP or behind DTLS.
type Face = Secured<Endpoint>;

const PSK_IDENTITY: &str = "interop-id";
const PSK_KEY: &str = "interop-key";
/// Subject CN of the libcoap client's certificate, the identity our server must report.
const DEVICE_CN: &str = "interop-device";
/// The small resource's body.
const SMALL: &[u8] = b"hello from lwm2m-gw";
/// Upper bound for one libcoap client run (its own `-B` is shorter).
const CLIENT_LIMIT: Duration = Duration::from_secs(20);
/// Upper bound for one request of ours.
const REQUEST_LIMIT: Duration = Duration::from_secs(20);

/// The large resource: 5000 bytes covering every byte value, so Block2 is needed at any size.
fn large() -> Vec<u8> {
    (0..5000u32).map(|i| (i.wrapping_mul(31) ^ (i >> 8)) as u8).collect()
}

/// A body for the PUTs: 4500 bytes, not a multiple of any block size, different from `large()`.
fn upload() -> Vec<u8> {
    (0..4500u32).map(|i| (i.wrapping_mul(7) + 13) as u8).rev().collect()
}

fn seed() -> [u8; 32] {
    let mut seed = [0u8; 32];
    openssl::rand::rand_bytes(&mut seed).expect("rand");
    seed
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

/// What the driver hook passes on: endpoint events and DTLS session events.
#[derive(Debug)]
enum Note {
    Coap(Event),
    Session(SessionEvent),
}

/// A driver running a [`Face`]; shut down and aborted on drop.
struct Running {
    handle: DriverHandle<Face>,
    task: DriverTask<Face>,
}

impl Drop for Running {
    fn drop(&mut self) {
        self.handle.shutdown();
        self.task.abort();
    }
}

/// Binds 127.0.0.1:0 and runs `face` on the real driver; the hook drains both event queues
/// into the returned channel after every step.
async fn run(face: Face) -> (Running, mpsc::UnboundedReceiver<Note>) {
    let socket = UdpSocket::bind("127.0.0.1:0").await.expect("bind 127.0.0.1:0");
    let (tx, rx) = mpsc::unbounded_channel();
    let hook = move |face: &mut Face| {
        while let Some(event) = face.poll_event() {
            let _ = tx.send(Note::Session(event));
        }
        while let Some(event) = face.inner_mut().poll_event() {
            let _ = tx.send(Note::Coap(event));
        }
    };
    let (handle, task) = transport::spawn(face, socket, hook, DriverConfig::default()).expect("spawn driver");
    (Running { handle, task }, rx)
}

// ---------------------------------------------------------------------------------------------
// Our endpoint as the server.

/// What our resource server has seen.
#[derive(Debug, Default)]
struct Seen {
    /// Bodies stored by PUT, by path.
    resources: HashMap<String, Vec<u8>>,
    /// Identity of every request's peer.
    identities: Vec<Option<String>>,
    /// DTLS session events.
    sessions: Vec<SessionEvent>,
}

/// GET `/small`, GET `/large`, and PUT/GET of any other path (stored in memory).
fn answer(seen: &mut Seen, peer: &Peer, request: &Request) -> Response {
    seen.identities.push(peer.identity.clone());
    let path = request.path();
    match (request.method, path.as_str()) {
        (Code::GET, "/small") => Response::content(ContentFormat::TEXT, SMALL),
        (Code::GET, "/large") => Response::content(ContentFormat::OPAQUE, large()),
        (_, "/small" | "/large") => Response::new(Code::METHOD_NOT_ALLOWED),
        (Code::PUT, _) => {
            let code = if seen.resources.contains_key(&path) { Code::CHANGED } else { Code::CREATED };
            seen.resources.insert(path, request.payload.clone());
            Response::new(code)
        }
        (Code::GET, _) => match seen.resources.get(&path) {
            Some(body) => Response::content(ContentFormat::OPAQUE, body.clone()),
            None => Response::new(Code::NOT_FOUND),
        },
        _ => Response::new(Code::METHOD_NOT_ALLOWED),
    }
}

/// Our server and what a libcoap client needs to reach it.
struct OurServer {
    running: Running,
    seen: Arc<Mutex<Seen>>,
    /// `coap://…` or `coaps://…` without a path.
    base: String,
    /// Security arguments for the libcoap client.
    client_args: Vec<String>,
    /// The identity every request must carry.
    identity: Option<String>,
    _scratch: Option<Scratch>,
}

#[derive(Debug, Clone, Copy)]
enum Security {
    Plain,
    Psk,
    X509,
}

async fn our_server(security: Security) -> OurServer {
    let endpoint = Endpoint::new(Arc::new(EndpointConfig::default()), seed());
    let config = Arc::new(DtlsConfig::default());
    let mut scratch = None;
    let (face, client_args, identity) = match security {
        Security::Plain => (Secured::Plain(endpoint), Vec::new(), None),
        Security::Psk => {
            let credentials =
                ServerCredentials { psk: Some(psk_table(&[(PSK_IDENTITY, PSK_KEY.as_bytes())])), certificate: None };
            let server = DtlsServer::new(config, credentials, endpoint).expect("dtls server");
            let args = vec!["-u".into(), PSK_IDENTITY.into(), "-k".into(), PSK_KEY.into()];
            (Secured::Server(server), args, Some(PSK_IDENTITY.to_owned()))
        }
        Security::X509 => {
            let ca = TestCa::new("interop endpoint ca");
            let server_creds = ca.credentials("127.0.0.1", &ca);
            let client_creds = ca.credentials(DEVICE_CN, &ca);
            let dir = Scratch::new("endpoint-x509-client");
            let cert = dir.write("client.pem", &client_creds.certificate.to_pem().expect("pem"));
            let key = dir.write("client.key", &client_creds.private_key.private_key_to_pem_pkcs8().expect("pem"));
            let ca_file = dir.write("ca.pem", &ca.cert.to_pem().expect("pem"));
            scratch = Some(dir);
            let credentials = ServerCredentials { psk: None, certificate: Some(server_creds) };
            let server = DtlsServer::new(config, credentials, endpoint).expect("dtls server");
            let args = vec!["-c".into(), cert, "-j".into(), key, "-C".into(), ca_file];
            (Secured::Server(server), args, Some(DEVICE_CN.to_owned()))
        }
    };
    let (running, mut notes) = run(face).await;
    let seen = Arc::new(Mutex::new(Seen::default()));
    let (handle, store) = (running.handle.clone(), seen.clone());
    // The application: answers every request through a driver command, as a real owner does.
    tokio::spawn(async move {
        while let Some(note) = notes.recv().await {
            match note {
                Note::Coap(Event::Request { peer, token, request, .. }) => {
                    let response = answer(&mut store.lock().expect("lock"), &peer, &request);
                    let sent =
                        handle.call(move |face, now| face.inner_mut().send_response(now, &peer, token, response));
                    match sent.await {
                        Ok(result) => result.expect("the endpoint takes our answer"),
                        Err(_closed) => return,
                    }
                }
                Note::Coap(_) => {}
                Note::Session(event) => store.lock().expect("lock").sessions.push(event),
            }
        }
    });
    let port = running.handle.local_addr().port();
    let scheme = if matches!(security, Security::Plain) { "coap" } else { "coaps" };
    OurServer { running, seen, base: format!("{scheme}://127.0.0.1:{port}"), client_args, identity, _scratch: scratch }
}

/// A scratch directory, removed on drop.
struct Scratch(PathBuf);

impl Scratch {
    fn new(tag: &str) -> Self {
        let mut nonce = [0u8; 8];
        openssl::rand::rand_bytes(&mut nonce).expect("rand");
        let dir = std::env::temp_dir().join(format!("transport-{tag}-{}", hex::encode(nonce)));
        std::fs::create_dir_all(&dir).expect("scratch dir");
        Self(dir)
    }

    fn path(&self, name: &str) -> String {
        self.0.join(name).display().to_string()
    }

    fn write(&self, name: &str, bytes: &[u8]) -> String {
        let path = self.path(name);
        std::fs::write(&path, bytes).expect("write scratch file");
        path
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A child process, killed and reaped on drop.
struct Child(std::process::Child);

impl Drop for Child {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// How a libcoap client run ended.
#[derive(Debug)]
struct Outcome {
    success: bool,
    stdout: String,
    stderr: String,
}

/// Runs a libcoap client with `args`, polling for its exit for at most [`CLIENT_LIMIT`].
async fn run_client(name: &str, args: &[String]) -> Outcome {
    let child = Command::new(binary(name))
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("start {name}: {e}"));
    let mut child = Child(child);
    let give_up = tokio::time::Instant::now() + CLIENT_LIMIT;
    let status = loop {
        if let Some(status) = child.0.try_wait().expect("poll child") {
            break status;
        }
        assert!(tokio::time::Instant::now() < give_up, "{name} {args:?} still running after {CLIENT_LIMIT:?}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    };
    let read = |pipe: Option<&mut dyn std::io::Read>| {
        let mut out = Vec::new();
        if let Some(pipe) = pipe {
            let _ = pipe.read_to_end(&mut out);
        }
        String::from_utf8_lossy(&out).into_owned()
    };
    let stdout = read(child.0.stdout.as_mut().map(|p| p as &mut dyn std::io::Read));
    let stderr = read(child.0.stderr.as_mut().map(|p| p as &mut dyn std::io::Read));
    Outcome { success: status.success(), stdout, stderr }
}

/// A libcoap client GETs `/small`, `/large` (64-byte Block2), PUTs [`upload`] (64-byte Block1)
/// and GETs it back; all bodies must come out exact, and every request must carry the
/// authenticated identity.
async fn libcoap_client_talks_to_our_endpoint(client: &str, security: Security) {
    let server = our_server(security).await;
    let dir = Scratch::new("endpoint-bodies");
    let run = |extra: Vec<String>, path: &str| {
        let mut args: Vec<String> = vec!["-B".into(), "10".into()];
        args.extend(server.client_args.iter().cloned());
        args.extend(extra);
        args.push(format!("{}{path}", server.base));
        async move {
            let outcome = run_client(client, &args).await;
            assert!(
                outcome.success,
                "{client} {args:?} failed\nstdout: {}\nstderr: {}",
                outcome.stdout, outcome.stderr
            );
        }
    };
    let fetched =
        |name: &str| std::fs::read(dir.path(name)).unwrap_or_else(|e| panic!("{client} wrote no {name}: {e}"));

    run(vec!["-o".into(), dir.path("small")], "/small").await;
    assert_eq!(fetched("small"), SMALL, "{client} GET /small");

    run(vec!["-b".into(), "64".into(), "-o".into(), dir.path("large")], "/large").await;
    let body = fetched("large");
    assert!(body == large(), "{client} GET /large in 64-byte blocks gave {} bytes", body.len());

    let file = dir.write("upload", &upload());
    run(vec!["-m".into(), "put".into(), "-b".into(), "64".into(), "-f".into(), file], "/store").await;
    let stored = server.seen.lock().expect("lock").resources.get("/store").cloned();
    assert!(
        stored.as_deref() == Some(upload().as_slice()),
        "{client} PUT /store in 64-byte blocks stored {:?} bytes",
        stored.map(|s| s.len())
    );

    run(vec!["-b".into(), "64".into(), "-o".into(), dir.path("back")], "/store").await;
    let back = fetched("back");
    assert!(back == upload(), "{client} GET /store back gave {} bytes", back.len());

    let seen = server.seen.lock().expect("lock");
    // Block-wise transfers are reassembled: exactly one request per client run reached us.
    assert_eq!(seen.identities.len(), 4, "{seen:?}");
    assert!(seen.identities.iter().all(|i| *i == server.identity), "identities {:?}", seen.identities);
    // 64-byte blocks: at least one datagram per block of the GET, the PUT and the GET back.
    let blocks = large().len().div_ceil(64) + 2 * upload().len().div_ceil(64);
    let stats = server.running.handle.stats();
    assert!(stats.datagrams_received as usize >= blocks, "{blocks} blocks in {stats:?}");
    assert_eq!(stats.send_errors, 0, "{stats:?}");
}

#[tokio::test]
async fn coap_client_openssl_gets_and_puts_block_wise_over_udp() {
    libcoap_client_talks_to_our_endpoint("coap-client-openssl", Security::Plain).await;
}

#[tokio::test]
async fn coap_client_openssl_gets_and_puts_block_wise_over_dtls_psk() {
    libcoap_client_talks_to_our_endpoint("coap-client-openssl", Security::Psk).await;
}

#[tokio::test]
async fn coap_client_openssl_gets_and_puts_block_wise_over_dtls_x509() {
    libcoap_client_talks_to_our_endpoint("coap-client-openssl", Security::X509).await;
}

#[tokio::test]
async fn coap_client_gnutls_gets_and_puts_block_wise_over_udp() {
    libcoap_client_talks_to_our_endpoint("coap-client-gnutls", Security::Plain).await;
}

#[tokio::test]
async fn coap_client_gnutls_gets_and_puts_block_wise_over_dtls_psk() {
    libcoap_client_talks_to_our_endpoint("coap-client-gnutls", Security::Psk).await;
}

#[tokio::test]
async fn coap_client_gnutls_gets_and_puts_block_wise_over_dtls_x509() {
    libcoap_client_talks_to_our_endpoint("coap-client-gnutls", Security::X509).await;
}

// ---------------------------------------------------------------------------------------------
// Our endpoint as the client.

/// Whether a UDP socket is bound to 127.0.0.1:`port` (read from /proc, so probing cannot take
/// the port away from the server that is starting).
fn is_bound(port: u16) -> bool {
    let wanted = format!("0100007F:{port:04X}");
    std::fs::read_to_string("/proc/net/udp")
        .expect("read /proc/net/udp")
        .lines()
        .skip(1)
        .any(|line| line.split_whitespace().nth(1) == Some(wanted.as_str()))
}

/// Starts `coap-server-openssl` on 127.0.0.1 with dynamic resources and `extra` arguments, and
/// waits (bounded) until it listens on its UDP port and, with credentials in `extra`, on its
/// DTLS port (the UDP port + 1).
async fn coap_server_openssl(extra: &[String]) -> (Child, u16) {
    let name = "coap-server-openssl";
    let port = free_port();
    let mut args = vec!["-A".to_string(), "127.0.0.1".into(), "-p".into(), port.to_string(), "-d".into(), "10".into()];
    args.extend(extra.iter().cloned());
    args.extend(["-v".into(), "0".into()]);
    let child = Command::new(binary(name))
        .args(&args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("start {name}: {e}"));
    let mut child = Child(child);
    let give_up = tokio::time::Instant::now() + Duration::from_secs(10);
    let dtls = !extra.is_empty();
    while !(is_bound(port) && (!dtls || is_bound(port + 1))) {
        if let Some(status) = child.0.try_wait().expect("poll child") {
            panic!("{name} {args:?} exited with {status}");
        }
        assert!(tokio::time::Instant::now() < give_up, "{name} {args:?} did not bind its ports");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    (child, port)
}

/// Our endpoint as a client of one server, run by the real driver.
struct OurClient {
    running: Running,
    notes: mpsc::UnboundedReceiver<Note>,
    server: SocketAddr,
    sessions: Vec<SessionEvent>,
}

impl OurClient {
    async fn new(face: Face, server: SocketAddr) -> Self {
        let (running, notes) = run(face).await;
        Self { running, notes, server, sessions: Vec::new() }
    }

    /// Sends `request` (CON) and waits, bounded, for its response.
    async fn request(&mut self, request: Request) -> Response {
        let peer = Peer::udp(self.server);
        let what = format!("{:?} {}", request.method, request.path());
        let token: Token = self
            .running
            .handle
            .call(move |face, now| face.inner_mut().send_request(now, peer, request, Reliability::Confirmable))
            .await
            .expect("driver alive")
            .expect("the endpoint takes our request");
        let give_up = tokio::time::Instant::now() + REQUEST_LIMIT;
        loop {
            let note = tokio::time::timeout_at(give_up, self.notes.recv()).await;
            match note {
                Ok(Some(Note::Coap(Event::Response { token: t, response }))) if t == token => return response,
                Ok(Some(Note::Coap(Event::Failed { token: t, error }))) if t == token => {
                    panic!("{what} failed: {error}; sessions {:?}; {}", self.sessions, self.stats().await)
                }
                Ok(Some(Note::Session(event))) => self.sessions.push(event),
                Ok(Some(Note::Coap(_))) => {}
                Ok(None) => panic!("driver stopped during {what}"),
                Err(_) => panic!(
                    "no answer to {what} within {REQUEST_LIMIT:?}; sessions {:?}; {}",
                    self.sessions,
                    self.stats().await
                ),
            }
        }
    }

    async fn stats(&self) -> String {
        self.running
            .handle
            .call(|face, _| format!("endpoint {:?}; dtls {:?}", face.inner().stats(), face.dtls_stats()))
            .await
            .unwrap_or_default()
    }
}

/// Our endpoint GETs `/.well-known/core`, PUTs [`upload`] to a new dynamic resource in 256-byte
/// Block1 blocks, and GETs it back (Block2, at the server's block size).
async fn our_endpoint_talks_to_coap_server_openssl(security: Security) {
    let config = EndpointConfig {
        ack_timeout: Duration::from_millis(500),
        block_size: BlockSize::S256,
        max_unfragmented_payload: 256,
        ..EndpointConfig::default()
    };
    let endpoint = Endpoint::new(Arc::new(config), seed());
    let dtls = Arc::new(DtlsConfig::default());
    let (_child, server, face, _scratch) = match security {
        Security::Plain => {
            let (child, port) = coap_server_openssl(&[]).await;
            (child, localhost(port), Secured::Plain(endpoint), None)
        }
        Security::Psk => {
            let (child, port) = coap_server_openssl(&["-k".into(), PSK_KEY.into()]).await;
            let creds = ClientCredentials::Psk { identity: PSK_IDENTITY.into(), key: PSK_KEY.as_bytes().to_vec() };
            let server = localhost(port + 1);
            let client = DtlsClient::new(dtls, creds, server, endpoint).expect("dtls client");
            (child, server, Secured::Client(client), None)
        }
        Security::X509 => {
            let ca = TestCa::new("interop endpoint ca");
            let server_creds = ca.credentials("127.0.0.1", &ca);
            let client_creds = ca.credentials("interop-gateway", &ca);
            let dir = Scratch::new("endpoint-x509-server");
            let cert = dir.write("server.pem", &server_creds.certificate.to_pem().expect("pem"));
            let key = dir.write("server.key", &server_creds.private_key.private_key_to_pem_pkcs8().expect("pem"));
            let ca_file = dir.write("ca.pem", &ca.cert.to_pem().expect("pem"));
            let (child, port) = coap_server_openssl(&["-c".into(), cert, "-j".into(), key, "-C".into(), ca_file]).await;
            let server = localhost(port + 1);
            let client = DtlsClient::new(dtls, ClientCredentials::Certificate(client_creds), server, endpoint)
                .expect("dtls client");
            (child, server, Secured::Client(client), Some(dir))
        }
    };
    let mut client = OurClient::new(face, server).await;

    let core = client.request(Request::get("/.well-known/core")).await;
    assert_eq!(core.code, Code::CONTENT, "GET /.well-known/core");
    let links = String::from_utf8_lossy(&core.payload);
    assert!(links.contains("</time>"), "coap-server lists /time: {links}");

    let put = Request::put("/upload").with_payload(ContentFormat::OPAQUE, upload());
    let created = client.request(put).await;
    assert!(created.code == Code::CREATED || created.code == Code::CHANGED, "PUT /upload answered {:?}", created.code);

    let read = client.request(Request::get("/upload")).await;
    assert_eq!(read.code, Code::CONTENT, "GET /upload");
    assert!(read.payload == upload(), "GET /upload gave {} bytes", read.payload.len());

    // 256-byte Block1 blocks up, at least one request per Block2 block down (≤ 1024 bytes).
    let requests = 1 + upload().len().div_ceil(256) + upload().len().div_ceil(1024);
    let sent = client.running.handle.call(|face, _| face.inner().stats().datagrams_sent).await.expect("driver");
    assert!(sent as usize >= requests, "{sent} datagrams sent for {requests} requests");
    if !matches!(security, Security::Plain) {
        let established = client.sessions.iter().filter(|e| matches!(e, SessionEvent::Established { .. })).count();
        assert_eq!(established, 1, "one handshake for all requests: {:?}", client.sessions);
    }
}

#[tokio::test]
async fn our_endpoint_gets_and_puts_block_wise_against_coap_server_openssl_over_udp() {
    our_endpoint_talks_to_coap_server_openssl(Security::Plain).await;
}

#[tokio::test]
async fn our_endpoint_gets_and_puts_block_wise_against_coap_server_openssl_over_dtls_psk() {
    our_endpoint_talks_to_coap_server_openssl(Security::Psk).await;
}

#[tokio::test]
async fn our_endpoint_gets_and_puts_block_wise_against_coap_server_openssl_over_dtls_x509() {
    our_endpoint_talks_to_coap_server_openssl(Security::X509).await;
}
