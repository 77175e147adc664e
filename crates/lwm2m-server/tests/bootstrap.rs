//! Bootstrap-Server scenarios in simulated time (Core TS §6.1, notes §2.1): a raw
//! `coap::Endpoint` plays the LwM2M client in lock-step and checks every request byte for byte.

use std::sync::Arc;
use std::time::Duration;

use coap::{Code, ContentFormat, Endpoint, EndpointConfig, Event, Peer, Reliability, Request, Response, Token};
use lwm2m::format::{self, Record};
use lwm2m::model::Registry;
use lwm2m::register::EndpointName;
use lwm2m::{Path, PrefixedPath, Value};
use lwm2m_server::bootstrap::{
    BootstrapConfig, BootstrapEvent, BootstrapServer, BootstrapServerConfig, CommandError, CommandFailure,
    CommandOutcome, RejectReason, ServerSecurity, SessionFailure, SessionOrigin,
};
use sim::{Node, Sim};

const MAX: Duration = Duration::from_secs(300);

struct Harness {
    sim: Sim,
    bs: Node<BootstrapServer>,
    client: Node<Endpoint>,
}

fn ep(name: &str) -> EndpointName {
    EndpointName::new(name).expect("valid endpoint name")
}

/// The gateway's own LwM2M server at coap://127.0.0.1:5683, NoSec, lifetime 300, ssid 1.
fn gateway_config() -> BootstrapConfig {
    BootstrapConfig::single_server(ServerSecurity::no_sec("coap://127.0.0.1:5683", 1), 300)
}

impl Harness {
    fn new(seed: u64, request_timeout: Duration) -> Self {
        let mut sim = Sim::new(seed);
        let config = BootstrapServerConfig { request_timeout, ..BootstrapServerConfig::default() };
        let bs = sim.add_with(|s| BootstrapServer::new(config, s));
        let client = sim.add_with(|s| Endpoint::new(Arc::new(EndpointConfig::default()), s));
        Self { sim, bs, client }
    }

    fn with_config(mut self, name: &str, config: BootstrapConfig) -> Self {
        self.sim[self.bs].configs_mut().insert(ep(name), config).expect("valid configuration");
        self
    }

    /// The client sends `POST /bs?…` and gets the answer code.
    fn bootstrap_request(&mut self, query: &[&str]) -> Code {
        let (now, to) = (self.sim.now(), self.sim.peer(self.bs));
        let request = query.iter().fold(Request::post("/bs"), |r, q| r.with_query(q));
        let token = self.sim[self.client].send_request(now, to, request, Reliability::Confirmable).expect("queued");
        let client = self.client;
        self.sim.run_until(|s| s[client].has_event(), MAX);
        match self.sim[self.client].poll_event() {
            Some(Event::Response { token: t, response }) if t == token => response.code,
            other => panic!("expected the Bootstrap-Request answer, got {other:?}"),
        }
    }

    /// The next request the Bootstrap-Server sends to the client.
    fn next_request(&mut self) -> (Peer, Token, Request) {
        let client = self.client;
        self.sim.run_until(|s| s[client].has_event(), MAX);
        match self.sim[self.client].poll_event() {
            Some(Event::Request { peer, token, request, .. }) => (peer, token, request),
            other => panic!("expected a bootstrap request, got {other:?}"),
        }
    }

    fn answer(&mut self, peer: &Peer, token: Token, response: Response) {
        let now = self.sim.now();
        self.sim[self.client].send_response(now, peer, token, response).expect("request awaits an answer");
    }

    /// Expects a request with `method` on `path`, answers it with `code`, returns it.
    fn expect(&mut self, method: Code, path: &str, code: Code) -> Request {
        let (peer, token, request) = self.next_request();
        assert_eq!((request.method, request.path().as_str()), (method, path), "unexpected request {request:?}");
        self.answer(&peer, token, Response::new(code));
        request
    }

    /// Every Bootstrap-Server event, after letting the last answers arrive.
    fn bs_events(&mut self) -> Vec<BootstrapEvent> {
        self.sim.run_for(Duration::from_secs(5), |_| {});
        std::iter::from_fn(|| self.sim[self.bs].poll_event()).collect()
    }
}

/// TLV resource with an 8-bit ID and a value shorter than 8 bytes (Core TS §7.5.5).
fn tlv(id: u8, value: &[u8]) -> Vec<u8> {
    let len = u8::try_from(value.len()).expect("short");
    let mut out = if len < 8 { vec![0xC0 | len, id] } else { vec![0xC8, id, len] };
    out.extend_from_slice(value);
    out
}

#[test]
fn client_initiated_bootstrap_of_a_1_0_client_writes_tlv_then_finishes() {
    let mut h = Harness::new(1, Duration::from_secs(60)).with_config("dev1", gateway_config());
    assert_eq!(h.bootstrap_request(&["ep=dev1"]), Code::CHANGED);

    h.expect(Code::DELETE, "/0", Code::DELETED);
    h.expect(Code::DELETE, "/1", Code::DELETED);

    let security = h.expect(Code::PUT, "/0/1", Code::CHANGED);
    assert_eq!(security.options.content_format(), Some(ContentFormat::TLV));
    let expected: Vec<u8> = [
        tlv(0, b"coap://127.0.0.1:5683"),
        tlv(1, &[0]),  // not the bootstrap server
        tlv(2, &[3]),  // NoSec
        tlv(3, &[]),   // no identity
        tlv(4, &[]),   // no server key
        tlv(5, &[]),   // no secret key
        tlv(10, &[1]), // Short Server ID
    ]
    .concat();
    assert_eq!(security.payload, expected);

    let server = h.expect(Code::PUT, "/1/0", Code::CHANGED);
    assert_eq!(server.options.content_format(), Some(ContentFormat::TLV));
    let expected: Vec<u8> = [tlv(0, &[1]), tlv(1, &[0x01, 0x2C]), tlv(6, &[1]), tlv(7, b"U")].concat();
    assert_eq!(server.payload, expected);

    let finish = h.expect(Code::POST, "/bs", Code::CHANGED);
    assert!(finish.payload.is_empty());

    let events = h.bs_events();
    let peer = h.sim.peer(h.client);
    assert_eq!(
        events,
        [
            BootstrapEvent::SessionStarted { endpoint: ep("dev1"), peer, origin: SessionOrigin::ClientInitiated },
            BootstrapEvent::SessionFinished { endpoint: ep("dev1") },
        ]
    );
    assert!(!h.sim[h.bs].has_session(&ep("dev1")));
}

#[test]
fn pct_112_makes_the_writes_senml_cbor() {
    let mut h = Harness::new(2, Duration::from_secs(60)).with_config("dev1", gateway_config());
    assert_eq!(h.bootstrap_request(&["ep=dev1", "pct=112"]), Code::CHANGED);
    h.expect(Code::DELETE, "/0", Code::DELETED);
    h.expect(Code::DELETE, "/1", Code::DELETED);

    let security = h.expect(Code::PUT, "/0/1", Code::CHANGED);
    assert_eq!(security.options.content_format(), Some(ContentFormat::SENML_CBOR));
    let registry = Registry::bundled();
    let target = PrefixedPath::plain(Path::Instance(0, 1));
    let records = format::decode(ContentFormat::SENML_CBOR, &security.payload, &target, &registry).expect("senml cbor");
    let value =
        |r: u16| records.iter().find(|rec| rec.path.path == Path::Resource(0, 1, r)).map(|rec| rec.value.clone());
    assert_eq!(value(0), Some(Value::String("coap://127.0.0.1:5683".into())));
    assert_eq!(value(1), Some(Value::Boolean(false)));
    assert_eq!(value(2), Some(Value::Integer(3)));
    assert_eq!(value(10), Some(Value::Integer(1)));

    let server = h.expect(Code::PUT, "/1/0", Code::CHANGED);
    assert_eq!(server.options.content_format(), Some(ContentFormat::SENML_CBOR));
    // [{bn:"/1/0/", n:"0", v:1}, {n:"1", v:300}, {n:"6", vb:true}, {n:"7", vs:"U"}] (RFC 8428 §6 labels).
    let mut expected = vec![0x84, 0xA3, 0x21, 0x65];
    expected.extend_from_slice(b"/1/0/");
    expected.extend_from_slice(&[0x00, 0x61, b'0', 0x02, 0x01]);
    expected.extend_from_slice(&[0xA2, 0x00, 0x61, b'1', 0x02, 0x19, 0x01, 0x2C]);
    expected.extend_from_slice(&[0xA2, 0x00, 0x61, b'6', 0x04, 0xF5]);
    expected.extend_from_slice(&[0xA2, 0x00, 0x61, b'7', 0x03, 0x61, b'U']);
    assert_eq!(server.payload, expected);

    h.expect(Code::POST, "/bs", Code::CHANGED);
    assert!(h.bs_events().contains(&BootstrapEvent::SessionFinished { endpoint: ep("dev1") }));
}

#[test]
fn unknown_or_missing_endpoint_is_refused_with_4_00() {
    let mut h = Harness::new(3, Duration::from_secs(60)).with_config("dev1", gateway_config());
    assert_eq!(h.bootstrap_request(&["ep=stranger"]), Code::BAD_REQUEST);
    assert_eq!(h.bootstrap_request(&[]), Code::BAD_REQUEST);
    let events = h.bs_events();
    let peer = h.sim.peer(h.client);
    assert_eq!(
        events,
        [
            BootstrapEvent::RequestRejected {
                peer: peer.clone(),
                reason: RejectReason::UnknownEndpoint(ep("stranger"))
            },
            BootstrapEvent::RequestRejected { peer, reason: RejectReason::MissingEndpoint },
        ]
    );
    assert_eq!(h.sim[h.bs].sessions().count(), 0);
}

#[test]
fn unsupported_pct_is_refused_with_4_15() {
    let mut h = Harness::new(4, Duration::from_secs(60)).with_config("dev1", gateway_config());
    assert_eq!(h.bootstrap_request(&["ep=dev1", "pct=11543"]), Code::UNSUPPORTED_CONTENT_FORMAT);
    assert_eq!(h.bootstrap_request(&["ep=dev1", "pct=abc"]), Code::BAD_REQUEST);
}

#[test]
fn endpoint_bound_to_a_psk_identity_is_refused_without_it() {
    let config = gateway_config().with_security(0, ServerSecurity::bootstrap_psk("coaps://bs", b"dev1-id", b"secret"));
    let mut h = Harness::new(5, Duration::from_secs(60)).with_config("dev1", config);
    // The simulated client speaks plain UDP: it authenticated with no identity at all.
    assert_eq!(h.bootstrap_request(&["ep=dev1"]), Code::BAD_REQUEST);
    let events = h.bs_events();
    assert!(matches!(
        events.as_slice(),
        [BootstrapEvent::RequestRejected { reason: RejectReason::IdentityMismatch { identity: None, .. }, .. }]
    ));
}

#[test]
fn client_answering_4_00_to_a_write_fails_the_session_with_the_request_named() {
    let mut h = Harness::new(6, Duration::from_secs(60)).with_config("dev1", gateway_config());
    assert_eq!(h.bootstrap_request(&["ep=dev1"]), Code::CHANGED);
    h.expect(Code::DELETE, "/0", Code::DELETED);
    h.expect(Code::DELETE, "/1", Code::DELETED);
    h.expect(Code::PUT, "/0/1", Code::CHANGED);
    h.expect(Code::PUT, "/1/0", Code::BAD_REQUEST);

    let events = h.bs_events();
    let reason = events
        .iter()
        .find_map(|e| match e {
            BootstrapEvent::SessionFailed { endpoint, reason } if *endpoint == ep("dev1") => Some(reason.clone()),
            _ => None,
        })
        .expect("the session failed");
    assert_eq!(
        reason,
        SessionFailure::Rejected { step: 4, operation: "Bootstrap-Write /1/0".into(), code: Code::BAD_REQUEST }
    );
    assert!(reason.to_string().contains("Bootstrap-Write /1/0 (request 4)"), "{reason}");
    // Nothing more is sent: no Bootstrap-Finish after a failure.
    let client = h.client;
    h.sim.run_for(Duration::from_secs(120), |_| {});
    assert!(!h.sim[client].has_event(), "the session went on after the failure");
    assert!(!h.sim[h.bs].has_session(&ep("dev1")));
}

#[test]
fn unanswered_request_fails_the_session_after_the_request_timeout() {
    let timeout = Duration::from_secs(20);
    let mut h = Harness::new(7, timeout).with_config("dev1", gateway_config());
    assert_eq!(h.bootstrap_request(&["ep=dev1"]), Code::CHANGED);
    let (_peer, _token, request) = h.next_request();
    assert_eq!(request.path(), "/0");
    let asked_at = h.sim.now();

    let bs = h.bs;
    let mut failure = None;
    h.sim.run_until(
        |s| {
            failure = failure.take().or_else(|| {
                std::iter::from_fn(|| s[bs].poll_event()).find_map(|e| match e {
                    BootstrapEvent::SessionFailed { reason, .. } => Some(reason),
                    _ => None,
                })
            });
            failure.is_some()
        },
        MAX,
    );
    assert_eq!(failure, Some(SessionFailure::Timeout { step: 1, operation: "Bootstrap-Delete /0".into() }));
    let waited = h.sim.now() - asked_at;
    assert!(waited >= timeout - Duration::from_secs(1) && waited <= timeout, "failed after {waited:?}");
    assert!(!h.sim[h.bs].has_session(&ep("dev1")));
}

#[test]
fn server_initiated_session_pushes_the_configuration_without_bootstrap_request() {
    let mut h = Harness::new(8, Duration::from_secs(60)).with_config("dev1", gateway_config());
    let (now, peer) = (h.sim.now(), h.sim.peer(h.client));
    h.sim[h.bs].start_session(now, &ep("dev1"), peer.clone()).expect("configured");

    h.expect(Code::DELETE, "/0", Code::DELETED);
    h.expect(Code::DELETE, "/1", Code::DELETED);
    let security = h.expect(Code::PUT, "/0/1", Code::CHANGED);
    assert_eq!(security.options.content_format(), Some(ContentFormat::TLV));
    h.expect(Code::PUT, "/1/0", Code::CHANGED);
    h.expect(Code::POST, "/bs", Code::CHANGED);

    let events = h.bs_events();
    assert_eq!(
        events,
        [
            BootstrapEvent::SessionStarted { endpoint: ep("dev1"), peer, origin: SessionOrigin::ServerInitiated },
            BootstrapEvent::SessionFinished { endpoint: ep("dev1") },
        ]
    );
    let now = h.sim.now();
    let unknown = h.sim.peer(h.client);
    assert_eq!(h.sim[h.bs].start_session(now, &ep("nobody"), unknown), Err(CommandError::NoConfig(ep("nobody"))));
}

#[test]
fn operator_commands_return_typed_results() {
    let mut h = Harness::new(9, Duration::from_secs(60));
    let (now, peer) = (h.sim.now(), h.sim.peer(h.client));
    let dev = ep("dev1");
    h.sim[h.bs].open_session(now, &dev, peer, ContentFormat::TLV).expect("room");

    // Bootstrap-Discover of the root.
    let discover = h.sim[h.bs].discover(now, &dev, Path::Root).expect("queued");
    let (p, t, request) = h.next_request();
    assert_eq!((request.method, request.path().as_str()), (Code::GET, "/"));
    assert_eq!(request.options.accept(), Some(ContentFormat::LINK_FORMAT));
    let links = r#"</>;lwm2m=1.1,</0/0>,</0/1>;ssid=1;uri="coap://127.0.0.1:5683",</1/0>;ssid=1,</3/0>"#;
    h.answer(&p, t, Response::content(ContentFormat::LINK_FORMAT, links.as_bytes()));
    let events = h.bs_events();
    let Some(BootstrapEvent::CommandCompleted { command, result: Ok(CommandOutcome::Discovered(found)), .. }) =
        events.iter().find(|e| matches!(e, BootstrapEvent::CommandCompleted { .. }))
    else {
        panic!("expected a discover result, got {events:?}")
    };
    assert_eq!(*command, discover);
    assert_eq!(found.len(), 5);
    assert_eq!(found[2].value("ssid"), Some("1"));

    // Bootstrap-Read of /1/0 (1.1), decoded with the object model.
    let now = h.sim.now();
    let read = h.sim[h.bs].read(now, &dev, Path::Instance(1, 0)).expect("queued");
    let (p, t, request) = h.next_request();
    assert_eq!((request.method, request.path().as_str()), (Code::GET, "/1/0"));
    assert_eq!(request.options.accept(), Some(ContentFormat::TLV));
    let body: Vec<u8> = [tlv(0, &[1]), tlv(1, &[0x01, 0x2C])].concat();
    h.answer(&p, t, Response::content(ContentFormat::TLV, body));
    let events = h.bs_events();
    let expected = vec![
        Record::new(PrefixedPath::plain(Path::Resource(1, 0, 0)), Value::Integer(1)),
        Record::new(PrefixedPath::plain(Path::Resource(1, 0, 1)), Value::Integer(300)),
    ];
    assert_eq!(
        events,
        [BootstrapEvent::CommandCompleted {
            endpoint: dev.clone(),
            command: read,
            result: Ok(CommandOutcome::Read(expected))
        }]
    );

    // Bootstrap-Read outside /1 and /2 is refused before anything is sent.
    assert_eq!(
        h.sim[h.bs].read(now, &dev, Path::Instance(3, 0)),
        Err(CommandError::BadPath { operation: "Bootstrap-Read", path: Path::Instance(3, 0) })
    );

    // A rejected Bootstrap-Write is reported, and the session stays open.
    let now = h.sim.now();
    let records = vec![Record::new(PrefixedPath::plain(Path::Resource(1, 0, 1)), Value::Integer(60))];
    let write = h.sim[h.bs].write(now, &dev, Path::Resource(1, 0, 1), records).expect("queued");
    let request = h.expect(Code::PUT, "/1/0/1", Code::UNSUPPORTED_CONTENT_FORMAT);
    assert_eq!(request.payload, tlv(1, &[60]));
    let events = h.bs_events();
    assert_eq!(
        events,
        [BootstrapEvent::CommandCompleted {
            endpoint: dev.clone(),
            command: write,
            result: Err(CommandFailure::Rejected(Code::UNSUPPORTED_CONTENT_FORMAT))
        }]
    );

    // Bootstrap-Delete, then Finish.
    let now = h.sim.now();
    let delete = h.sim[h.bs].delete(now, &dev, Path::Object(1)).expect("queued");
    h.expect(Code::DELETE, "/1", Code::DELETED);
    let now = h.sim.now();
    h.sim[h.bs].finish_session(now, &dev).expect("in session");
    h.expect(Code::POST, "/bs", Code::CHANGED);
    let events = h.bs_events();
    assert_eq!(
        events,
        [
            BootstrapEvent::CommandCompleted {
                endpoint: dev.clone(),
                command: delete,
                result: Ok(CommandOutcome::Deleted)
            },
            BootstrapEvent::SessionFinished { endpoint: dev.clone() },
        ]
    );
    assert_eq!(h.sim[h.bs].discover(now, &dev, Path::Root), Err(CommandError::NoSession(dev)));
}

#[test]
fn bootstrap_account_is_never_deleted() {
    let mut config = gateway_config().with_to_delete(["/0/0", "/0/1", "/1"]);
    config.auto_id_for_security_object = true;
    let mut h = Harness::new(10, Duration::from_secs(60)).with_config("dev1", config);
    assert_eq!(h.bootstrap_request(&["ep=dev1"]), Code::CHANGED);

    // Auto IDs: the session starts with a Bootstrap-Discover of /0 to find the bootstrap account.
    let (p, t, request) = h.next_request();
    assert_eq!((request.method, request.path().as_str()), (Code::GET, "/0"));
    assert_eq!(request.options.accept(), Some(ContentFormat::LINK_FORMAT));
    let links = r#"</>;lwm2m=1.1,</0/0>,</0/1>;ssid=1;uri="coap://old",</1/0>;ssid=1"#;
    h.answer(&p, t, Response::content(ContentFormat::LINK_FORMAT, links.as_bytes()));

    // /0/0 is the bootstrap account: its delete is skipped; the server account gets ID 1.
    h.expect(Code::DELETE, "/0/1", Code::DELETED);
    h.expect(Code::DELETE, "/1", Code::DELETED);
    h.expect(Code::PUT, "/0/1", Code::CHANGED);
    h.expect(Code::PUT, "/1/0", Code::CHANGED);
    h.expect(Code::POST, "/bs", Code::CHANGED);
    assert!(h.bs_events().contains(&BootstrapEvent::SessionFinished { endpoint: ep("dev1") }));

    // An operator cannot delete it either once it is known.
    let mut h = Harness::new(11, Duration::from_secs(60));
    let bs_account = ServerSecurity::bootstrap_no_sec("coap://127.0.0.1:5783");
    let config = gateway_config().with_security(0, bs_account).with_to_delete(["/0/0", "/1"]);
    h = h.with_config("dev2", config);
    let (now, peer) = (h.sim.now(), h.sim.peer(h.client));
    h.sim[h.bs].start_session(now, &ep("dev2"), peer).expect("configured");
    assert_eq!(
        h.sim[h.bs].delete(now, &ep("dev2"), Path::Instance(0, 0)),
        Err(CommandError::BootstrapAccount(Path::Instance(0, 0)))
    );
    h.expect(Code::DELETE, "/1", Code::DELETED);
    h.expect(Code::PUT, "/0/0", Code::CHANGED);
    h.expect(Code::PUT, "/0/1", Code::CHANGED);
    h.expect(Code::PUT, "/1/0", Code::CHANGED);
    h.expect(Code::POST, "/bs", Code::CHANGED);
}

#[test]
fn new_bootstrap_request_supersedes_the_running_session() {
    let mut h = Harness::new(12, Duration::from_secs(60)).with_config("dev1", gateway_config());
    assert_eq!(h.bootstrap_request(&["ep=dev1"]), Code::CHANGED);
    let (_p, _t, request) = h.next_request();
    assert_eq!(request.path(), "/0");
    assert_eq!(h.bootstrap_request(&["ep=dev1"]), Code::CHANGED);
    let events = h.bs_events();
    assert!(
        events.contains(&BootstrapEvent::SessionFailed { endpoint: ep("dev1"), reason: SessionFailure::Superseded })
    );
    // The new session starts from the beginning.
    h.expect(Code::DELETE, "/0", Code::DELETED);
}

#[test]
fn session_limit_answers_5_03() {
    let mut sim = Sim::new(13);
    let config = BootstrapServerConfig { max_sessions: 1, ..BootstrapServerConfig::default() };
    let bs = sim.add_with(|s| BootstrapServer::new(config, s));
    let client = sim.add_with(|s| Endpoint::new(Arc::new(EndpointConfig::default()), s));
    let mut h = Harness { sim, bs, client };
    h = h.with_config("dev1", gateway_config()).with_config("dev2", gateway_config());
    assert_eq!(h.bootstrap_request(&["ep=dev1"]), Code::CHANGED);
    let (_p, _t, request) = h.next_request();
    assert_eq!(request.path(), "/0");
    assert_eq!(h.bootstrap_request(&["ep=dev2"]), Code::SERVICE_UNAVAILABLE);
}

#[test]
fn idle_operator_session_fails_after_the_idle_timeout() {
    let mut sim = Sim::new(14);
    let idle = Duration::from_secs(30);
    let config = BootstrapServerConfig { session_idle_timeout: idle, ..BootstrapServerConfig::default() };
    let bs = sim.add_with(|s| BootstrapServer::new(config, s));
    let client = sim.add_with(|s| Endpoint::new(Arc::new(EndpointConfig::default()), s));
    let (start, peer) = (sim.now(), sim.peer(client));
    sim[bs].open_session(start, &ep("dev1"), peer, ContentFormat::SENML_JSON).expect("room");
    let mut events = Vec::new();
    sim.run_until(
        |s| {
            events.extend(std::iter::from_fn(|| s[bs].poll_event()));
            events.iter().any(|e| matches!(e, BootstrapEvent::SessionFailed { .. }))
        },
        MAX,
    );
    assert_eq!(sim.now() - start, idle);
    assert_eq!(
        events.last(),
        Some(&BootstrapEvent::SessionFailed { endpoint: ep("dev1"), reason: SessionFailure::Idle })
    );
    assert!(!sim[bs].has_session(&ep("dev1")));
}

#[test]
fn cancelled_session_ends_its_queued_commands() {
    let mut h = Harness::new(15, Duration::from_secs(60));
    let (now, peer) = (h.sim.now(), h.sim.peer(h.client));
    let dev = ep("dev1");
    h.sim[h.bs].open_session(now, &dev, peer, ContentFormat::TLV).expect("room");
    let first = h.sim[h.bs].read(now, &dev, Path::Object(1)).expect("queued");
    let second = h.sim[h.bs].delete(now, &dev, Path::Object(2)).expect("queued");
    let (_p, _t, request) = h.next_request();
    assert_eq!(request.path(), "/1");
    h.sim[h.bs].cancel_session(&dev).expect("in session");
    let events: Vec<BootstrapEvent> = std::iter::from_fn(|| h.sim[h.bs].poll_event()).skip(1).collect();
    let ended = |command| BootstrapEvent::CommandCompleted {
        endpoint: dev.clone(),
        command,
        result: Err(CommandFailure::SessionEnded),
    };
    assert_eq!(
        events,
        [
            ended(first),
            ended(second),
            BootstrapEvent::SessionFailed { endpoint: dev.clone(), reason: SessionFailure::Cancelled }
        ]
    );
    assert_eq!(h.sim[h.bs].cancel_session(&dev), Err(CommandError::NoSession(dev)));
}

#[test]
fn operator_discover_teaches_which_instance_is_the_bootstrap_account() {
    let mut h = Harness::new(16, Duration::from_secs(60));
    let (now, peer) = (h.sim.now(), h.sim.peer(h.client));
    let dev = ep("dev1");
    h.sim[h.bs].open_session(now, &dev, peer, ContentFormat::TLV).expect("room");
    // Unknown yet: deleting /0/2 is allowed to be asked.
    h.sim[h.bs].discover(now, &dev, Path::Object(0)).expect("queued");
    let (p, t, _request) = h.next_request();
    let links = r#"</0/0>;ssid=1;uri="coap://a",</0/2>"#;
    h.answer(&p, t, Response::content(ContentFormat::LINK_FORMAT, links.as_bytes()));
    h.bs_events();
    let now = h.sim.now();
    assert_eq!(
        h.sim[h.bs].delete(now, &dev, Path::Instance(0, 2)),
        Err(CommandError::BootstrapAccount(Path::Instance(0, 2)))
    );
    assert!(h.sim[h.bs].delete(now, &dev, Path::Instance(0, 0)).is_ok());
    h.expect(Code::DELETE, "/0/0", Code::DELETED);
}

/// The success answer a well-behaved client gives each bootstrap request.
fn success_for(request: &Request) -> Response {
    Response::new(match request.method {
        Code::DELETE => Code::DELETED,
        _ => Code::CHANGED,
    })
}

#[test]
fn lossy_link_sweep_ends_every_session_exactly_once_with_requests_in_order() {
    let expected = ["DELETE /0", "DELETE /1", "PUT /0/1", "PUT /1/0", "POST /bs"];
    let mut finished = 0;
    for seed in 0..40 {
        let mut h = Harness::new(seed, Duration::from_secs(93)).with_config("dev1", gateway_config());
        let (bs, client) = (h.bs, h.client);
        h.sim.link_both(bs, client, |link| {
            link.loss(0.2).duplicate(0.1);
        });
        let (now, to) = (h.sim.now(), h.sim.peer(bs));
        let request = Request::post("/bs").with_query("ep=dev1");
        h.sim[client].send_request(now, to, request, Reliability::Confirmable).expect("queued");

        let mut seen: Vec<String> = Vec::new();
        let mut request_failed = false;
        let mut terminal: Vec<BootstrapEvent> = Vec::new();
        h.sim.run_until(
            |s| {
                let now = s.now();
                while let Some(event) = s[client].poll_event() {
                    match event {
                        Event::Request { peer, token, request, .. } => {
                            seen.push(format!("{} {}", method_name(request.method), request.path()));
                            s[client].send_response(now, &peer, token, success_for(&request)).expect("answerable");
                        }
                        Event::Failed { .. } => request_failed = true,
                        _ => {}
                    }
                }
                terminal.extend(std::iter::from_fn(|| s[bs].poll_event()).filter(|e| {
                    matches!(e, BootstrapEvent::SessionFinished { .. } | BootstrapEvent::SessionFailed { .. })
                }));
                !terminal.is_empty() || (request_failed && !s[bs].has_session(&ep("dev1")))
            },
            Duration::from_secs(1200),
        );
        // Let retransmissions and late duplicates settle, then check nothing else happened.
        h.sim.run_for(Duration::from_secs(300), |s| {
            let now = s.now();
            while let Some(event) = s[client].poll_event() {
                if let Event::Request { peer, token, request, .. } = event {
                    seen.push(format!("{} {}", method_name(request.method), request.path()));
                    s[client].send_response(now, &peer, token, success_for(&request)).expect("answerable");
                }
            }
            terminal.extend(std::iter::from_fn(|| s[bs].poll_event()).filter(|e| {
                matches!(e, BootstrapEvent::SessionFinished { .. } | BootstrapEvent::SessionFailed { .. })
            }));
        });
        assert!(terminal.len() <= 1, "seed {seed}: several endings {terminal:?}");
        let seen: Vec<&str> = seen.iter().map(String::as_str).collect();
        assert!(expected.starts_with(&seen), "seed {seed}: requests {seen:?} are not an in-order prefix, once each");
        if terminal == [BootstrapEvent::SessionFinished { endpoint: ep("dev1") }] {
            assert_eq!(seen, expected, "seed {seed}: finished without every request");
            finished += 1;
        }
    }
    assert!(finished >= 30, "only {finished} of 40 sessions finished at 20 % loss");
}

fn method_name(code: Code) -> &'static str {
    match code {
        Code::GET => "GET",
        Code::PUT => "PUT",
        Code::POST => "POST",
        Code::DELETE => "DELETE",
        _ => "OTHER",
    }
}

#[test]
fn acls_and_extra_objects_are_written_after_security_and_server() {
    let mut acls = std::collections::BTreeMap::new();
    acls.insert(0, 1);
    acls.insert(1, 3);
    let acl =
        lwm2m_server::bootstrap::AclConfig { object_id: 3, object_instance_id: 0, acls, access_control_owner: Some(1) };
    let firmware = lwm2m_server::bootstrap::ObjectInstanceConfig {
        path: "/5/0".into(),
        resources: [(1, lwm2m_server::bootstrap::ResourceValue::Text("coap://fw".into()))].into(),
    };
    let config = gateway_config().with_to_delete(["/"]).with_acl(0, acl).with_object(firmware);
    let mut h = Harness::new(17, Duration::from_secs(60)).with_config("dev1", config);
    assert_eq!(h.bootstrap_request(&["ep=dev1"]), Code::CHANGED);
    h.expect(Code::DELETE, "/", Code::DELETED);
    h.expect(Code::PUT, "/0/1", Code::CHANGED);
    h.expect(Code::PUT, "/1/0", Code::CHANGED);
    let acl = h.expect(Code::PUT, "/2/0", Code::CHANGED);
    // Resource 2 is multi-instance: instance ID = Short Server ID (0: default), value = rights.
    let mut expected = [tlv(0, &[3]), tlv(1, &[0])].concat();
    expected.extend_from_slice(&[0x86, 0x02, 0x41, 0x00, 0x01, 0x41, 0x01, 0x03]);
    expected.extend(tlv(3, &[1]));
    assert_eq!(acl.payload, expected);
    let firmware = h.expect(Code::PUT, "/5/0", Code::CHANGED);
    assert_eq!(firmware.payload, tlv(1, b"coap://fw"));
    h.expect(Code::POST, "/bs", Code::CHANGED);
    assert!(h.bs_events().contains(&BootstrapEvent::SessionFinished { endpoint: ep("dev1") }));
}

#[test]
fn value_the_model_cannot_carry_fails_the_session_before_it_is_sent() {
    let package = lwm2m_server::bootstrap::ObjectInstanceConfig {
        path: "/5/0".into(),
        // Resource 0 (Package) is Opaque: text cannot be written there.
        resources: [(0, lwm2m_server::bootstrap::ResourceValue::Text("not bytes".into()))].into(),
    };
    let config = gateway_config().with_to_delete(Vec::<String>::new()).with_object(package);
    let mut h = Harness::new(18, Duration::from_secs(60)).with_config("dev1", config);
    assert_eq!(h.bootstrap_request(&["ep=dev1"]), Code::CHANGED);
    h.expect(Code::PUT, "/0/1", Code::CHANGED);
    h.expect(Code::PUT, "/1/0", Code::CHANGED);
    let events = h.bs_events();
    let Some(BootstrapEvent::SessionFailed { reason: SessionFailure::Encoding { operation, .. }, .. }) = events.last()
    else {
        panic!("expected an encoding failure, got {events:?}")
    };
    assert_eq!(operation, "Bootstrap-Write /5/0");
    assert!(!h.sim[h.client].has_event(), "nothing is sent after the failure");
}

#[test]
fn unreadable_discover_answer_fails_an_auto_id_session() {
    let mut config = gateway_config();
    config.auto_id_for_security_object = true;
    let mut h = Harness::new(19, Duration::from_secs(60)).with_config("dev1", config);
    assert_eq!(h.bootstrap_request(&["ep=dev1", "pct=110"]), Code::CHANGED);
    let (p, t, request) = h.next_request();
    assert_eq!(request.path(), "/0");
    h.answer(&p, t, Response::content(ContentFormat::LINK_FORMAT, b"</0/0".to_vec()));
    let events = h.bs_events();
    assert!(
        matches!(events.last(), Some(BootstrapEvent::SessionFailed { reason: SessionFailure::BadDiscover(_), .. })),
        "{events:?}"
    );
    assert!(!h.sim[h.client].has_event(), "nothing is sent after the failure");
}
