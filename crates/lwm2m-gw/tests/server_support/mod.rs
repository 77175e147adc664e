//! Helpers for the `lwm2m-gw server` tests: the real binary as a child process, a tiny HTTP/1.1
//! client and event-stream reader, and a scripted LwM2M client (a raw `coap::Endpoint` over a
//! real UDP socket, optionally behind transport's DTLS client) holding a small object tree.
#![allow(dead_code, unreachable_pub)]

use std::collections::{BTreeMap, HashMap};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream, UdpSocket};
use std::path::{Path as FsPath, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Receiver, Sender};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use coap::{
    Code, ContentFormat, Endpoint, EndpointConfig, Engine, Event, OptionNumber, Peer, Reliability, Request, Response,
};
use lwm2m::format::{self, senml, Record};
use lwm2m::{Path, PrefixedPath, Registry, Value};
use serde_json::Value as Json;
use transport::{ClientCredentials, DtlsClient, DtlsConfig};

/// A fresh empty directory for one test.
pub fn temp_dir(name: &str) -> PathBuf {
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos());
    let dir = std::env::temp_dir().join(format!("lwm2m-gw-{name}-{}-{nanos}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// The binary running `server` on loopback with port 0 everywhere; killed on drop.
pub struct Gw {
    child: Child,
    /// Bound addresses by face name (`coap`, `coaps`, `bs-coap`, `bs-coaps`, `http`).
    pub addrs: HashMap<String, SocketAddr>,
}

impl Gw {
    /// Starts the binary with its state in `dir` and waits for its address lines.
    pub fn start(dir: &FsPath) -> Self {
        Self::start_with(dir, &[])
    }

    /// As [`Gw::start`], with extra command-line arguments.
    pub fn start_with(dir: &FsPath, extra: &[&str]) -> Self {
        let log = std::fs::OpenOptions::new().create(true).append(true).open(dir.join("stderr.log")).unwrap();
        let mut child = Command::new(env!("CARGO_BIN_EXE_lwm2m-gw"))
            .args(["server", "--coap", "127.0.0.1:0", "--coaps", "127.0.0.1:0", "--bs-coap", "127.0.0.1:0"])
            .args(["--bs-coaps", "127.0.0.1:0", "--http", "127.0.0.1:0", "--bs-http", "127.0.0.1:0", "--data-dir"])
            .arg(dir)
            .args(extra)
            .env("RUST_LOG", "debug")
            .stdout(Stdio::piped())
            .stderr(Stdio::from(log))
            .spawn()
            .expect("the binary starts");
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let mut addrs = HashMap::new();
        let mut gw = Self { child, addrs: HashMap::new() };
        while !(addrs.contains_key("http") && addrs.contains_key("bs-http")) {
            let line = rx.recv_timeout(Duration::from_secs(30)).expect("the server prints its addresses");
            let (face, addr) = line.split_once(" listening on ").expect("an address line");
            addrs.insert(face.to_owned(), addr.parse().expect("a socket address"));
        }
        gw.addrs = addrs;
        gw
    }

    /// The address of face `name`.
    pub fn addr(&self, name: &str) -> SocketAddr {
        self.addrs[name]
    }

    /// One HTTP request to the Bootstrap Server's REST API: (status, body).
    pub fn bs_http(&self, method: &str, path: &str, content_type: Option<&str>, body: &str) -> (u16, String) {
        http(self.addr("bs-http"), method, path, content_type, body.as_bytes())
    }

    /// One HTTP request to the REST API: (status, body).
    pub fn http(&self, method: &str, path: &str, content_type: Option<&str>, body: &str) -> (u16, String) {
        http(self.addr("http"), method, path, content_type, body.as_bytes())
    }

    /// `GET path`, asserting 200, as JSON.
    pub fn get_json(&self, path: &str) -> Json {
        let (status, body) = self.http("GET", path, None, "");
        assert_eq!(status, 200, "GET {path}: {body}");
        serde_json::from_str(&body).unwrap_or_else(|e| panic!("GET {path} is not json ({e}): {body}"))
    }

    /// A request whose answer must be 200 with a JSON body.
    pub fn json(&self, method: &str, path: &str, content_type: Option<&str>, body: &str) -> Json {
        let (status, text) = self.http(method, path, content_type, body);
        assert_eq!(status, 200, "{method} {path}: {text}");
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("{method} {path} is not json ({e}): {text}"))
    }

    /// Sends SIGTERM and waits for a clean exit.
    pub fn terminate(mut self) {
        let status = Command::new("kill").arg("-TERM").arg(self.child.id().to_string()).status().unwrap();
        assert!(status.success());
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                assert!(status.success(), "the server exits cleanly on SIGTERM: {status}");
                return;
            }
            assert!(Instant::now() < deadline, "the server stops within 15 s of SIGTERM");
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Gw {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One HTTP/1.1 request with `Connection: close`: (status, body).
pub fn http(addr: SocketAddr, method: &str, path: &str, content_type: Option<&str>, body: &[u8]) -> (u16, String) {
    let mut stream = TcpStream::connect(addr).unwrap();
    stream.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
    let mut head =
        format!("{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Length: {}\r\n", body.len());
    if let Some(ct) = content_type {
        head.push_str(&format!("Content-Type: {ct}\r\n"));
    }
    head.push_str("\r\n");
    stream.write_all(head.as_bytes()).unwrap();
    stream.write_all(body).unwrap();
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).unwrap();
    let text = String::from_utf8_lossy(&raw).into_owned();
    let (headers, body) = text.split_once("\r\n\r\n").expect("an http response");
    let status = headers.split(' ').nth(1).and_then(|s| s.parse().ok()).expect("a status code");
    let body = if headers.to_ascii_lowercase().contains("transfer-encoding: chunked") {
        dechunk(body)
    } else {
        body.to_owned()
    };
    (status, body)
}

fn dechunk(mut body: &str) -> String {
    let mut out = String::new();
    while let Some((size, rest)) = body.split_once("\r\n") {
        let size = usize::from_str_radix(size.trim(), 16).unwrap_or(0);
        if size == 0 || rest.len() < size {
            break;
        }
        out.push_str(&rest[..size]);
        body = rest[size..].trim_start_matches("\r\n");
    }
    out
}

/// A subscription to `/api/event`.
pub struct Events {
    stream: TcpStream,
    pending: String,
}

impl Events {
    /// Opens the stream with `query` (`ep=name`) and waits for the response head.
    pub fn open(addr: SocketAddr, query: &str) -> Self {
        let mut stream = TcpStream::connect(addr).unwrap();
        let head = format!("GET /api/event?{query} HTTP/1.1\r\nHost: {addr}\r\nAccept: text/event-stream\r\n\r\n");
        stream.write_all(head.as_bytes()).unwrap();
        stream.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        let mut events = Self { stream, pending: String::new() };
        while !events.pending.contains("\r\n\r\n") {
            events.fill();
        }
        let cut = events.pending.find("\r\n\r\n").unwrap() + 4;
        assert!(events.pending.starts_with("HTTP/1.1 200"), "{}", events.pending);
        events.pending.drain(..cut);
        events
    }

    fn fill(&mut self) -> bool {
        let mut buf = [0u8; 4096];
        match self.stream.read(&mut buf) {
            Ok(0) => panic!("event stream closed"),
            Ok(n) => {
                self.pending.push_str(&String::from_utf8_lossy(&buf[..n]));
                true
            }
            Err(_) => false,
        }
    }

    /// The data of the next event called `name` within `timeout`, skipping others.
    pub fn next(&mut self, name: &str, timeout: Duration) -> Option<Json> {
        let deadline = Instant::now() + timeout;
        self.stream.set_read_timeout(Some(Duration::from_millis(100))).unwrap();
        let mut in_event = false;
        loop {
            while let Some(end) = self.pending.find('\n') {
                let line: String = self.pending.drain(..=end).collect();
                let line = line.trim_end();
                if let Some(event) = line.strip_prefix("event:") {
                    in_event = event.trim() == name;
                } else if let Some(data) = line.strip_prefix("data:") {
                    if in_event {
                        return Some(serde_json::from_str(data.trim()).expect("event data is json"));
                    }
                }
            }
            if Instant::now() > deadline {
                return None;
            }
            self.fill();
        }
    }
}

/// What the scripted client reports.
#[derive(Debug)]
pub enum DeviceEvent {
    /// Register answered 2.01 with this location.
    Registered(String),
    /// Register (or Update) answered with this code.
    Answered(Code),
    /// An Execute arrived with these arguments.
    Executed(String, String),
    /// Bootstrap-Finish arrived.
    BootstrapFinished,
    /// Write-Attributes arrived on this path with this query.
    Attributes(String, Vec<String>),
}

enum Command2 {
    Register { endpoint: String, links: String, lifetime: u32 },
    BootstrapRequest { endpoint: String },
    Send(Vec<u8>),
    Set(PrefixedPath, Value),
    Notify,
    Stop,
}

/// The engine under the scripted client: plain UDP or DTLS.
pub trait Face: Engine + Send + 'static {
    /// The CoAP endpoint.
    fn coap(&mut self) -> &mut Endpoint;
    /// Starts whatever must start (a handshake).
    fn start(&mut self, _now: Instant) {}
}

impl Face for Endpoint {
    fn coap(&mut self) -> &mut Endpoint {
        self
    }
}

impl Face for DtlsClient<Endpoint> {
    fn coap(&mut self) -> &mut Endpoint {
        self.inner_mut()
    }

    fn start(&mut self, now: Instant) {
        self.connect(now);
    }
}

/// A DTLS client endpoint with a certificate towards `server`.
pub fn certificate_endpoint(
    server: SocketAddr,
    credentials: transport::CertificateCredentials,
) -> DtlsClient<Endpoint> {
    let credentials = ClientCredentials::Certificate(credentials);
    DtlsClient::new(Arc::new(DtlsConfig::default()), credentials, server, plain_endpoint()).unwrap()
}

/// A plain endpoint.
pub fn plain_endpoint() -> Endpoint {
    Endpoint::new(Arc::new(EndpointConfig::default()), [7; 32])
}

/// A DTLS-PSK client endpoint towards `server`.
pub fn psk_endpoint(server: SocketAddr, identity: &str, key: &[u8]) -> DtlsClient<Endpoint> {
    let credentials = ClientCredentials::Psk { identity: identity.to_owned(), key: key.to_vec() };
    DtlsClient::new(Arc::new(DtlsConfig::default()), credentials, server, plain_endpoint()).unwrap()
}

/// A scripted LwM2M client in its own thread.
pub struct Device {
    commands: Sender<Command2>,
    /// What it reports.
    pub events: Receiver<DeviceEvent>,
    thread: Option<JoinHandle<()>>,
    stop: Arc<AtomicBool>,
    /// Its values.
    pub values: Arc<Mutex<BTreeMap<PrefixedPath, Value>>>,
}

/// The values a new device holds: Device `/3/0` and Temperature `/3303/0`.
pub fn default_values() -> BTreeMap<PrefixedPath, Value> {
    let mut values = BTreeMap::new();
    let mut set = |path: &str, value: Value| {
        values.insert(path.parse::<PrefixedPath>().unwrap(), value);
    };
    set("/3/0/0", Value::String("Acme".into()));
    set("/3/0/1", Value::String("Model 500".into()));
    set("/3/0/2", Value::String("SN-0001".into()));
    set("/3/0/9", Value::Integer(87));
    set("/3/0/14", Value::String("+01".into()));
    set("/3303/0/5700", Value::Float(21.5));
    set("/3303/0/5701", Value::String("Cel".into()));
    values
}

impl Device {
    /// Starts a client on `face` talking to the server at `server`.
    pub fn start<F: Face>(face: F, server: SocketAddr, values: BTreeMap<PrefixedPath, Value>) -> Self {
        let (commands, rx) = mpsc::channel();
        let (events_tx, events) = mpsc::channel();
        let stop = Arc::new(AtomicBool::new(false));
        let values = Arc::new(Mutex::new(values));
        let runner = Runner {
            face,
            socket: UdpSocket::bind("127.0.0.1:0").unwrap(),
            server,
            commands: rx,
            events: events_tx,
            values: values.clone(),
            observers: Vec::new(),
            register_token: None,
            bootstrap_mode: false,
        };
        let flag = stop.clone();
        let thread = std::thread::spawn(move || runner.run(&flag));
        Self { commands, events, thread: Some(thread), stop, values }
    }

    /// Sends Register for `endpoint` with the object links `links`.
    pub fn register(&self, endpoint: &str, links: &str, lifetime: u32) {
        let command = Command2::Register { endpoint: endpoint.to_owned(), links: links.to_owned(), lifetime };
        self.commands.send(command).unwrap();
    }

    /// Sends `POST /dp` (Send) with a SenML JSON payload.
    pub fn send_data(&self, senml_json: &str) {
        self.commands.send(Command2::Send(senml_json.as_bytes().to_vec())).unwrap();
    }

    /// Sends Bootstrap-Request for `endpoint`.
    pub fn bootstrap_request(&self, endpoint: &str) {
        self.commands.send(Command2::BootstrapRequest { endpoint: endpoint.to_owned() }).unwrap();
    }

    /// Waits for the Register answer: the location, or the refusal code.
    pub fn registered(&self) -> Result<String, Code> {
        loop {
            match self.events.recv_timeout(Duration::from_secs(20)).expect("an answer to register") {
                DeviceEvent::Registered(location) => return Ok(location),
                DeviceEvent::Answered(code) => return Err(code),
                DeviceEvent::Executed(..) | DeviceEvent::BootstrapFinished | DeviceEvent::Attributes(..) => {}
            }
        }
    }

    /// Changes a value and notifies every observer.
    pub fn set_and_notify(&self, path: &str, value: Value) {
        self.commands.send(Command2::Set(path.parse().unwrap(), value)).unwrap();
        self.commands.send(Command2::Notify).unwrap();
    }
}

impl Drop for Device {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        let _ = self.commands.send(Command2::Stop);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

struct Runner<F> {
    face: F,
    socket: UdpSocket,
    server: SocketAddr,
    commands: Receiver<Command2>,
    events: Sender<DeviceEvent>,
    values: Arc<Mutex<BTreeMap<PrefixedPath, Value>>>,
    /// (peer, token, observed path, content format)
    observers: Vec<(Peer, coap::Token, PrefixedPath, ContentFormat, bool)>,
    register_token: Option<coap::Token>,
    bootstrap_mode: bool,
}

impl<F: Face> Runner<F> {
    fn run(mut self, stop: &AtomicBool) {
        self.face.start(Instant::now());
        let mut buf = vec![0u8; 2048];
        let mut out = Vec::new();
        while !stop.load(Ordering::Relaxed) {
            while let Ok(command) = self.commands.try_recv() {
                if !self.command(command) {
                    return;
                }
            }
            let now = Instant::now();
            while let Some(transmit) = self.face.poll_transmit(now, &mut out) {
                let _ = self.socket.send_to(&out[..transmit.len], transmit.peer.addr);
            }
            let wait = self
                .face
                .poll_timeout()
                .map_or(Duration::from_millis(20), |at| at.saturating_duration_since(now))
                .clamp(Duration::from_millis(1), Duration::from_millis(20));
            self.socket.set_read_timeout(Some(wait)).unwrap();
            match self.socket.recv_from(&mut buf) {
                Ok((len, from)) => self.face.handle_datagram(Instant::now(), Peer::udp(from), &buf[..len]),
                Err(_) => self.face.handle_timeout(Instant::now()),
            }
            while let Some(event) = self.face.coap().poll_event() {
                self.event(event);
            }
        }
    }

    fn command(&mut self, command: Command2) -> bool {
        let now = Instant::now();
        match command {
            Command2::Register { endpoint, links, lifetime } => {
                let request = Request::post("/rd")
                    .with_query(&format!("ep={endpoint}"))
                    .with_query(&format!("lt={lifetime}"))
                    .with_query("lwm2m=1.1")
                    .with_query("b=U")
                    .with_payload(ContentFormat::LINK_FORMAT, links.into_bytes());
                let token =
                    self.face.coap().send_request(now, Peer::udp(self.server), request, Reliability::Confirmable);
                self.register_token = token.ok();
            }
            Command2::BootstrapRequest { endpoint } => {
                let request = Request::post("/bs").with_query(&format!("ep={endpoint}"));
                let token =
                    self.face.coap().send_request(now, Peer::udp(self.server), request, Reliability::Confirmable);
                self.register_token = token.ok();
                self.bootstrap_mode = true;
            }
            Command2::Send(payload) => {
                let request = Request::post("/dp").with_payload(ContentFormat::SENML_JSON, payload);
                let _ = self.face.coap().send_request(now, Peer::udp(self.server), request, Reliability::Confirmable);
            }
            Command2::Set(path, value) => {
                self.values.lock().unwrap().insert(path, value);
            }
            Command2::Notify => {
                for (peer, token, path, cf, composite) in self.observers.clone() {
                    let response = self.read(std::slice::from_ref(&path), cf, composite);
                    let _ = self.face.coap().send_response(now, &peer, token, response);
                }
            }
            Command2::Stop => return false,
        }
        true
    }

    fn read(&self, paths: &[PrefixedPath], cf: ContentFormat, composite: bool) -> Response {
        let values = self.values.lock().unwrap();
        let records: Vec<Record> = values
            .iter()
            .filter(|(p, _)| paths.iter().any(|target| target.prefix == p.prefix && target.path.contains(&p.path)))
            .map(|(p, v)| Record::new(p.clone(), v.clone()))
            .collect();
        if records.is_empty() {
            return Response::new(Code::NOT_FOUND);
        }
        let target = if composite { PrefixedPath::plain(Path::Root) } else { paths[0].clone() };
        match format::encode(cf, &records, &target, Registry::bundled_ref()) {
            Ok(payload) => Response::content(cf, payload),
            Err(_) => Response::new(Code::NOT_ACCEPTABLE),
        }
    }

    fn event(&mut self, event: Event) {
        let now = Instant::now();
        match event {
            Event::Response { token, response } if Some(token) == self.register_token => {
                let location: Vec<String> = response
                    .options
                    .get_all(OptionNumber::LOCATION_PATH)
                    .map(|s| String::from_utf8_lossy(s).into_owned())
                    .collect();
                let report = if response.code == Code::CREATED && !self.bootstrap_mode {
                    DeviceEvent::Registered(format!("/{}", location.join("/")))
                } else {
                    DeviceEvent::Answered(response.code)
                };
                let _ = self.events.send(report);
            }
            Event::Request { peer, token, request, observe } => {
                let response = self.answer(&peer, token, &request, observe);
                let _ = self.face.coap().send_response(now, &peer, token, response);
            }
            _ => {}
        }
    }

    fn answer(&mut self, peer: &Peer, token: coap::Token, request: &Request, observe: bool) -> Response {
        let path_text = format!("/{}", request.options.uri_path().join("/"));
        let accept = request.options.get_uint(OptionNumber::ACCEPT).map(|a| ContentFormat(a as u16));
        let registry = Registry::bundled_ref();
        if request.method == Code::FETCH {
            let cf = request.options.content_format().unwrap_or(ContentFormat::SENML_JSON);
            let Ok(paths) = senml::decode_paths(cf, &request.payload) else { return Response::new(Code::BAD_REQUEST) };
            let reply = accept.unwrap_or(cf);
            if observe {
                self.observers.push((peer.clone(), token, PrefixedPath::plain(Path::Root), reply, true));
            }
            return self.read(&paths, reply, true);
        }
        let path = match path_text.parse::<PrefixedPath>() {
            Ok(path) => path,
            Err(_) if path_text == "/bs" => PrefixedPath::plain(Path::Root),
            Err(_) => return Response::new(Code::NOT_FOUND),
        };
        match request.method {
            Code::GET if accept == Some(ContentFormat::LINK_FORMAT) => {
                let values = self.values.lock().unwrap();
                let mut links = vec![format!("<{path_text}>")];
                links.extend(
                    values
                        .keys()
                        .filter(|p| p.prefix == path.prefix && path.path.contains(&p.path) && p.path != path.path)
                        .map(|p| format!("<{p}>")),
                );
                Response::content(ContentFormat::LINK_FORMAT, links.join(","))
            }
            Code::GET => {
                let cf = accept.unwrap_or(ContentFormat::SENML_JSON);
                let response = self.read(std::slice::from_ref(&path), cf, false);
                if observe && response.code.is_success() {
                    self.observers.push((peer.clone(), token, path, cf, false));
                }
                response
            }
            Code::PUT if request.payload.is_empty() => {
                let _ = self.events.send(DeviceEvent::Attributes(path_text, request.options.uri_query()));
                Response::new(Code::CHANGED)
            }
            Code::POST if matches!(path.path, Path::Object(_)) => {
                let cf = request.options.content_format().unwrap_or(ContentFormat::TLV);
                let Ok(records) = format::decode(cf, &request.payload, &path, registry) else {
                    return Response::new(Code::BAD_REQUEST);
                };
                let Some(Path::Resource(o, i, _) | Path::ResourceInstance(o, i, _, _)) =
                    records.first().map(|r| r.path.path)
                else {
                    return Response::new(Code::BAD_REQUEST);
                };
                let mut values = self.values.lock().unwrap();
                for record in records {
                    values.insert(record.path, record.value);
                }
                Response::new(Code::CREATED)
                    .with_option(OptionNumber::LOCATION_PATH, o.to_string())
                    .with_option(OptionNumber::LOCATION_PATH, i.to_string())
            }
            Code::PUT | Code::IPATCH => {
                let cf = request.options.content_format().unwrap_or(ContentFormat::TEXT);
                let target = if request.method == Code::IPATCH { PrefixedPath::plain(Path::Root) } else { path };
                match format::decode(cf, &request.payload, &target, registry) {
                    Ok(records) => {
                        let mut values = self.values.lock().unwrap();
                        for record in records {
                            values.insert(record.path, record.value);
                        }
                        Response::new(Code::CHANGED)
                    }
                    Err(_) => Response::new(Code::BAD_REQUEST),
                }
            }
            Code::POST if path_text == "/bs" => {
                let _ = self.events.send(DeviceEvent::BootstrapFinished);
                Response::new(Code::CHANGED)
            }
            Code::POST if matches!(path.path, Path::Resource(..)) => {
                let args = String::from_utf8_lossy(&request.payload).into_owned();
                let _ = self.events.send(DeviceEvent::Executed(path_text, args));
                Response::new(Code::CHANGED)
            }
            Code::DELETE => {
                let mut values = self.values.lock().unwrap();
                let before = values.len();
                values.retain(|p, _| !(p.prefix == path.prefix && path.path.contains(&p.path)));
                // Bootstrap-Delete of nothing succeeds too.
                if values.len() < before || self.bootstrap_mode {
                    Response::new(Code::DELETED)
                } else {
                    Response::new(Code::NOT_FOUND)
                }
            }
            _ => Response::new(Code::METHOD_NOT_ALLOWED),
        }
    }
}

/// Test-time X.509 material: a CA, certificates it signs for any common name, and PEM files
/// in a directory for the binaries' `--x509-*` flags.
pub mod pki {
    use std::path::Path as FsPath;

    use openssl::asn1::Asn1Time;
    use openssl::bn::BigNum;
    use openssl::ec::{EcGroup, EcKey};
    use openssl::hash::MessageDigest;
    use openssl::nid::Nid;
    use openssl::pkey::{PKey, Private};
    use openssl::x509::extension::{BasicConstraints, KeyUsage};
    use openssl::x509::{X509Builder, X509NameBuilder, X509};

    /// A fresh EC P-256 key.
    pub fn p256() -> PKey<Private> {
        let group = EcGroup::from_curve_name(Nid::X9_62_PRIME256V1).unwrap();
        PKey::from_ec_key(EcKey::generate(&group).unwrap()).unwrap()
    }

    /// A one-day certificate for `cn` with `key`, signed by `issuer` (a self-signed CA when `None`).
    pub fn certificate(cn: &str, key: &PKey<Private>, issuer: Option<(&X509, &PKey<Private>)>, serial: u32) -> X509 {
        let mut name = X509NameBuilder::new().unwrap();
        name.append_entry_by_nid(Nid::COMMONNAME, cn).unwrap();
        let name = name.build();
        let mut builder = X509Builder::new().unwrap();
        builder.set_version(2).unwrap();
        builder.set_serial_number(&BigNum::from_u32(serial).unwrap().to_asn1_integer().unwrap()).unwrap();
        builder.set_subject_name(&name).unwrap();
        builder.set_not_before(&Asn1Time::days_from_now(0).unwrap()).unwrap();
        builder.set_not_after(&Asn1Time::days_from_now(1).unwrap()).unwrap();
        builder.set_pubkey(key).unwrap();
        let ca = issuer.is_none();
        let constraints =
            if ca { BasicConstraints::new().critical().ca().build() } else { BasicConstraints::new().build() };
        builder.append_extension(constraints.unwrap()).unwrap();
        let usage = if ca {
            KeyUsage::new().critical().key_cert_sign().crl_sign().build()
        } else {
            KeyUsage::new().critical().digital_signature().build()
        };
        builder.append_extension(usage.unwrap()).unwrap();
        let (issuer_name, signer) = match issuer {
            Some((cert, key)) => (cert.subject_name().to_owned().unwrap(), key),
            None => (name.as_ref().to_owned().unwrap(), key),
        };
        builder.set_issuer_name(&issuer_name).unwrap();
        builder.sign(signer, MessageDigest::sha256()).unwrap();
        builder.build()
    }

    /// A test CA.
    pub struct Ca {
        /// Its certificate.
        pub cert: X509,
        /// Its key.
        pub key: PKey<Private>,
        serial: std::cell::Cell<u32>,
    }

    impl Ca {
        /// A new self-signed CA.
        pub fn new() -> Self {
            let key = p256();
            let cert = certificate("test ca", &key, None, 1);
            Self { cert, key, serial: std::cell::Cell::new(1) }
        }

        /// A certificate for `cn` signed by this CA, with its key.
        pub fn issue(&self, cn: &str) -> (X509, PKey<Private>) {
            self.serial.set(self.serial.get() + 1);
            let key = p256();
            (certificate(cn, &key, Some((&self.cert, &self.key)), self.serial.get()), key)
        }

        /// Writes `<name>.pem`, `<name>.key` for a certificate of `cn` and `ca.pem` into `dir`;
        /// returns the three paths (cert, key, ca).
        pub fn write_files(&self, dir: &FsPath, name: &str, cn: &str) -> [String; 3] {
            let (cert, key) = self.issue(cn);
            let path = |file: String| dir.join(file).to_str().unwrap().to_owned();
            let (cert_file, key_file, ca_file) =
                (path(format!("{name}.pem")), path(format!("{name}.key")), path("ca.pem".into()));
            std::fs::write(&cert_file, cert.to_pem().unwrap()).unwrap();
            std::fs::write(&key_file, key.private_key_to_pem_pkcs8().unwrap()).unwrap();
            std::fs::write(&ca_file, self.cert.to_pem().unwrap()).unwrap();
            [cert_file, key_file, ca_file]
        }
    }
}
