//! Shared scaffolding for the `lwm2m-gw device` end-to-end tests: the real binary as a child
//! process (killed on drop) whose stdout lines can be awaited, and scripted LwM2M / CoAP
//! servers built from a raw `coap::Endpoint` over a real UDP socket on 127.0.0.1.
#![allow(dead_code, unreachable_pub)]

use std::io::{BufRead, BufReader};
use std::net::{SocketAddr, UdpSocket};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::sync::Arc;
use std::time::{Duration, Instant};

use coap::{
    Code, ContentFormat, Endpoint, EndpointConfig, Engine, Event, OptionNumber, Peer, Reliability, Request, Response,
    Token,
};
use transport::{DtlsConfig, DtlsServer, Secured, ServerCredentials};

/// Upper bound of every wait.
pub const WAIT: Duration = Duration::from_secs(20);

/// The binary under test, killed when dropped.
pub struct Device {
    child: Child,
    lines: mpsc::Receiver<String>,
    /// Every line read so far.
    pub seen: Vec<String>,
}

impl Device {
    /// Starts `lwm2m-gw device` with `args`.
    pub fn start(args: &[&str]) -> Self {
        let mut child = Command::new(env!("CARGO_BIN_EXE_lwm2m-gw"))
            .arg("device")
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("the binary starts");
        let stdout = child.stdout.take().expect("piped stdout");
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Self { child, lines, seen: Vec::new() }
    }

    /// Waits (bounded) for a line for which `pred` holds; panics with what was seen otherwise.
    pub fn wait_line(&mut self, pred: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + WAIT;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => {
                    self.seen.push(line.clone());
                    if pred(&line) {
                        return line;
                    }
                }
                Err(_) => panic!("no matching line within {WAIT:?}; seen: {:#?}", self.seen),
            }
        }
    }

    /// One line if one is ready now.
    pub fn try_line(&mut self) -> Option<String> {
        self.lines.try_recv().ok()
    }

    /// The child's process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Sends SIGTERM and waits (bounded) for the exit; returns the lines printed meanwhile.
    pub fn terminate(&mut self) -> Vec<String> {
        let pid = self.child.id().to_string();
        let status = Command::new("kill").args(["-TERM", &pid]).status().expect("kill runs");
        assert!(status.success());
        let deadline = Instant::now() + WAIT;
        while self.child.try_wait().expect("wait").is_none() {
            assert!(Instant::now() < deadline, "the device did not exit after SIGTERM");
            std::thread::sleep(Duration::from_millis(20));
        }
        let mut out = Vec::new();
        while let Ok(line) = self.lines.recv_timeout(Duration::from_millis(500)) {
            out.push(line);
        }
        out
    }
}

impl Drop for Device {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A raw CoAP endpoint on a real UDP socket, pumped by the test thread.
pub struct RawServer {
    socket: UdpSocket,
    engine: Secured<Endpoint>,
    recv: Vec<u8>,
    send: Vec<u8>,
    /// Events taken from the endpoint and not consumed yet.
    pending: Vec<Event>,
}

impl RawServer {
    /// Binds 127.0.0.1 on a free port (plain CoAP).
    pub fn bind() -> Self {
        Self::with(Secured::Plain(Self::endpoint()))
    }

    /// Binds 127.0.0.1 on a free port behind a DTLS server with `credentials`.
    pub fn bind_dtls(credentials: ServerCredentials) -> Self {
        let server = DtlsServer::new(Arc::new(DtlsConfig::default()), credentials, Self::endpoint()).expect("dtls");
        Self::with(Secured::Server(server))
    }

    fn endpoint() -> Endpoint {
        Endpoint::new(Arc::new(EndpointConfig::default()), [7u8; 32])
    }

    fn with(engine: Secured<Endpoint>) -> Self {
        let socket = UdpSocket::bind("127.0.0.1:0").expect("bind");
        socket.set_read_timeout(Some(Duration::from_millis(5))).expect("timeout");
        Self { socket, engine, recv: vec![0; 65_536], send: Vec::new(), pending: Vec::new() }
    }

    /// `coaps://` URI of this server.
    pub fn secure_uri(&self) -> String {
        format!("coaps://{}", self.addr())
    }

    /// The socket's address.
    pub fn addr(&self) -> SocketAddr {
        self.socket.local_addr().expect("local addr")
    }

    /// `coap://` URI of this server.
    pub fn uri(&self) -> String {
        format!("coap://{}", self.addr())
    }

    /// One round: receive what arrived, fire timers, send what is queued.
    pub fn pump(&mut self) {
        let now = Instant::now();
        if let Ok((len, from)) = self.socket.recv_from(&mut self.recv) {
            let datagram = self.recv[..len].to_vec();
            self.engine.handle_datagram(now, Peer::udp(from), &datagram);
        }
        let now = Instant::now();
        if self.engine.poll_timeout().is_some_and(|at| at <= now) {
            self.engine.handle_timeout(now);
        }
        while let Some(transmit) = self.engine.poll_transmit(now, &mut self.send) {
            let _ = self.socket.send_to(&self.send[..transmit.len], transmit.peer.addr);
        }
        while let Some(event) = self.engine.inner_mut().poll_event() {
            self.pending.push(event);
        }
    }

    /// Waits (bounded) for an event matching `pred` and removes it.
    pub fn wait_event(&mut self, pred: impl Fn(&Event) -> bool) -> Event {
        let deadline = Instant::now() + WAIT;
        loop {
            if let Some(i) = self.pending.iter().position(&pred) {
                return self.pending.remove(i);
            }
            assert!(Instant::now() < deadline, "no matching event within {WAIT:?}; pending: {:#?}", self.pending);
            self.pump();
        }
    }

    /// Waits for a request whose path starts with `prefix`.
    pub fn wait_request(&mut self, prefix: &str) -> (Peer, Token, Request) {
        match self.wait_event(|e| matches!(e, Event::Request { request, .. } if request.path().starts_with(prefix))) {
            Event::Request { peer, token, request, .. } => (peer, token, request),
            _ => unreachable!("matched a request"),
        }
    }

    /// Answers a request.
    pub fn answer(&mut self, peer: &Peer, token: Token, response: Response) {
        self.engine.inner_mut().send_response(Instant::now(), peer, token, response).expect("request awaits an answer");
        self.pump();
    }

    /// Accepts the next Register with `/rd/<id>`; returns the device's peer and the request.
    pub fn accept_register(&mut self, id: &str) -> (Peer, Request) {
        let (peer, token, request) = self.wait_request("/rd");
        assert_eq!(request.method, Code::POST, "a Register is a POST");
        let created = Response::new(Code::CREATED)
            .with_option(OptionNumber::LOCATION_PATH, b"rd".to_vec())
            .with_option(OptionNumber::LOCATION_PATH, id.as_bytes().to_vec());
        self.answer(&peer, token, created);
        (peer, request)
    }

    /// Sends `request` to `peer` (CON) and returns its token.
    pub fn send(&mut self, peer: &Peer, request: Request) -> Token {
        let token = self
            .engine
            .inner_mut()
            .send_request(Instant::now(), peer.clone(), request, Reliability::Confirmable)
            .expect("request accepted");
        self.pump();
        token
    }

    /// Sends `request` to `peer` and waits for the response.
    pub fn ask(&mut self, peer: &Peer, request: Request) -> Response {
        let token = self.send(peer, request);
        match self.wait_event(
            |e| matches!(e, Event::Response { token: t, .. } | Event::Failed { token: t, .. } if *t == token),
        ) {
            Event::Response { response, .. } => response,
            other => panic!("request failed: {other:?}"),
        }
    }
}

/// A Uri-Query / Accept / Content-Format value as CoAP uint bytes.
pub fn uint(value: u16) -> Vec<u8> {
    match value {
        0 => Vec::new(),
        1..=255 => vec![u8::try_from(value).expect("fits")],
        _ => value.to_be_bytes().to_vec(),
    }
}

/// GET `path` asking for plain text.
pub fn read_text(server: &mut RawServer, peer: &Peer, path: &str) -> String {
    let request = Request::get(path).with_option(OptionNumber::ACCEPT, uint(ContentFormat::TEXT.0));
    let response = server.ask(peer, request);
    assert_eq!(response.code, Code::CONTENT, "read {path}");
    String::from_utf8(response.payload).expect("utf-8 text")
}

/// PUT `text` to `path`.
pub fn write_text(server: &mut RawServer, peer: &Peer, path: &str, text: &str) -> Code {
    let request = Request::put(path).with_payload(ContentFormat::TEXT, text.as_bytes().to_vec());
    server.ask(peer, request).code
}

/// POST (Execute) `path`.
pub fn execute(server: &mut RawServer, peer: &Peer, path: &str) -> Code {
    server.ask(peer, Request::post(path)).code
}

/// A firmware package in the documented layout: "LWFW" | len | version | image | SHA-256.
pub fn firmware_package(version: &str, image_len: usize) -> Vec<u8> {
    let mut out = b"LWFW".to_vec();
    out.push(u8::try_from(version.len()).expect("short version"));
    out.extend_from_slice(version.as_bytes());
    out.extend((0..image_len).map(|i| u8::try_from(i % 251).expect("fits")));
    let digest = openssl::sha::sha256(&out);
    out.extend_from_slice(&digest);
    out
}

/// Polls `path` as text until `pred` holds (bounded).
pub fn wait_text(server: &mut RawServer, peer: &Peer, path: &str, pred: impl Fn(&str) -> bool) -> String {
    let deadline = Instant::now() + WAIT;
    loop {
        let text = read_text(server, peer, path);
        if pred(&text) {
            return text;
        }
        assert!(Instant::now() < deadline, "{path} stayed at {text:?}");
        let until = Instant::now() + Duration::from_millis(100);
        while Instant::now() < until {
            server.pump();
        }
    }
}
