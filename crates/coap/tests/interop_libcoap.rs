//! Interop with an independent implementation: libcoap's `coap-client-notls` and
//! `coap-server-notls` (Debian `libcoap3-bin`, installed by `scripts/test`) over UDP on 127.0.0.1.
//!
//! These are the only endpoint tests on real sockets and the wall clock; a tiny blocking loop
//! drives the sans-IO [`Endpoint`]. Without libcoap they fail: an interop test that skips proves nothing.

use std::net::{SocketAddr, UdpSocket};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use coap::{
    Code, ContentFormat, Endpoint, EndpointConfig, Event, OptionNumber, Peer, Reliability, Request, Response, Token,
};

const CLIENT: &str = "coap-client-notls";
const SERVER: &str = "coap-server-notls";

fn installed(tool: &str) -> bool {
    let found = Command::new(tool).arg("-h").stdout(Stdio::null()).stderr(Stdio::null()).status().is_ok();
    assert!(found, "{tool} not installed: run scripts/test, which installs libcoap3-bin");
    found
}

/// An endpoint on a loopback socket, driven with the wall clock.
struct Driver {
    socket: UdpSocket,
    endpoint: Endpoint,
    buf: Vec<u8>,
}

impl Driver {
    fn new(config: EndpointConfig) -> Self {
        let socket = UdpSocket::bind("127.0.0.1:0").expect("bind loopback");
        Self { socket, endpoint: Endpoint::new(Arc::new(config), [5; 32]), buf: Vec::new() }
    }

    fn addr(&self) -> SocketAddr {
        self.socket.local_addr().expect("bound")
    }

    /// Runs the endpoint, handing each event to `on_event` until it returns true.
    fn run(&mut self, limit: Duration, mut on_event: impl FnMut(&mut Endpoint, Instant, Event) -> bool) {
        self.run_ticking(limit, |endpoint, now, event| event.is_some_and(|event| on_event(endpoint, now, event)));
    }

    /// Like [`run`](Self::run), but also calls `on_event` with `None` once per loop turn.
    fn run_ticking(
        &mut self,
        limit: Duration,
        mut on_event: impl FnMut(&mut Endpoint, Instant, Option<Event>) -> bool,
    ) {
        let give_up = Instant::now() + limit;
        let mut datagram = vec![0u8; 2048];
        loop {
            let now = Instant::now();
            while let Some(transmit) = self.endpoint.poll_transmit(now, &mut self.buf) {
                self.socket.send_to(&self.buf[..transmit.len], transmit.peer.addr).expect("send on loopback");
            }
            let wait = self
                .endpoint
                .poll_timeout()
                .map_or(Duration::from_millis(50), |at| at.saturating_duration_since(now))
                .clamp(Duration::from_millis(1), Duration::from_millis(50));
            self.socket.set_read_timeout(Some(wait)).expect("timeout");
            if let Ok((len, from)) = self.socket.recv_from(&mut datagram) {
                self.endpoint.handle_datagram(Instant::now(), Peer::udp(from), &datagram[..len]);
            }
            self.endpoint.handle_timeout(Instant::now());
            let mut events: Vec<Option<Event>> = std::iter::from_fn(|| self.endpoint.poll_event()).map(Some).collect();
            events.push(None);
            for event in events {
                if on_event(&mut self.endpoint, Instant::now(), event) {
                    let now = Instant::now();
                    while let Some(transmit) = self.endpoint.poll_transmit(now, &mut self.buf) {
                        self.socket.send_to(&self.buf[..transmit.len], transmit.peer.addr).expect("send");
                    }
                    return;
                }
            }
            assert!(Instant::now() < give_up, "interop run exceeded {limit:?}");
        }
    }
}

struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn text(len: usize) -> Vec<u8> {
    (0..len).map(|i| b'a' + (i % 26) as u8).collect()
}

/// Our endpoint as the server; libcoap's client fetches block-wise, uploads block-wise and
/// observes.
#[test]
fn libcoap_client_talks_to_our_server() {
    if !installed(CLIENT) {
        return;
    }
    let mut driver = Driver::new(EndpointConfig::default());
    let base = format!("coap://{}", driver.addr());
    let serve = |endpoint: &mut Endpoint, now: Instant, peer: &Peer, token: Token, request: &Request| {
        let response = match (request.method, request.path().as_str()) {
            (Code::GET, "/big") => Response::content(ContentFormat(0), text(2_000)),
            (Code::PUT, "/upload") => {
                Response::new(Code::CHANGED).with_payload(ContentFormat(0), request.payload.len().to_string())
            }
            _ => Response::new(Code::NOT_FOUND),
        };
        endpoint.send_response(now, peer, token, response).expect("answer");
    };

    // GET with 64-byte blocks (early Block2 negotiation by the client).
    let child =
        Command::new(CLIENT).args(["-b", "64", "-B", "20", &format!("{base}/big")]).stdout(Stdio::piped()).spawn();
    let mut child = Killed(child.expect("spawn coap-client"));
    driver.run_ticking(Duration::from_secs(20), |endpoint, now, event| {
        if let Some(Event::Request { peer, token, request, .. }) = event {
            serve(endpoint, now, &peer, token, &request);
        }
        matches!(child.0.try_wait(), Ok(Some(_)))
    });
    let output = String::from_utf8(child.0.wait_with_output_ref()).expect("utf-8");
    assert!(output.trim_end().as_bytes() == text(2_000), "block-wise GET through libcoap: {} bytes", output.len());

    // PUT of 1500 bytes in 64-byte blocks.
    let payload = String::from_utf8(text(1_500)).expect("ascii");
    let child = Command::new(CLIENT)
        .args(["-m", "put", "-b", "64", "-B", "20", "-e", &payload, &format!("{base}/upload")])
        .stdout(Stdio::piped())
        .spawn();
    let mut child = Killed(child.expect("spawn coap-client"));
    let mut uploads = Vec::new();
    driver.run_ticking(Duration::from_secs(20), |endpoint, now, event| {
        if let Some(Event::Request { peer, token, request, .. }) = event {
            uploads.push(request.payload.clone());
            serve(endpoint, now, &peer, token, &request);
        }
        matches!(child.0.try_wait(), Ok(Some(_)))
    });
    assert!(
        uploads == vec![text(1_500)],
        "one request with the reassembled body: {:?}",
        uploads.iter().map(Vec::len).collect::<Vec<_>>()
    );
    assert_eq!(String::from_utf8(child.0.wait_with_output_ref()).expect("utf-8").trim_end(), "1500");

    // Observe for 3 s; we notify every 500 ms.
    let child =
        Command::new(CLIENT).args(["-s", "3", "-w", "-B", "20", &format!("{base}/obs")]).stdout(Stdio::piped()).spawn();
    let mut child = Killed(child.expect("spawn coap-client"));
    let mut observer: Option<(Peer, Token)> = None;
    let mut next_at = Instant::now();
    let mut sent = 0u32;
    driver.run_ticking(Duration::from_secs(20), |endpoint, now, event| {
        match event {
            Some(Event::Request { peer, token, observe: true, .. }) => {
                endpoint.send_response(now, &peer, token, Response::content(ContentFormat(0), "v0")).expect("answer");
                observer = Some((peer, token));
                next_at = now + Duration::from_millis(500);
            }
            Some(Event::Request { peer, token, .. }) => {
                // libcoap deregisters with GET Observe: 1 when the duration ends.
                endpoint.send_response(now, &peer, token, Response::content(ContentFormat(0), "bye")).expect("answer");
            }
            Some(_) => {}
            None => {
                if let Some((peer, token)) = observer.clone() {
                    if now >= next_at && sent < 4 {
                        sent += 1;
                        let value = format!("v{sent}");
                        if endpoint
                            .send_response(now, &peer, token, Response::content(ContentFormat(0), value))
                            .is_err()
                        {
                            observer = None;
                        }
                        next_at = now + Duration::from_millis(500);
                    }
                }
            }
        }
        matches!(child.0.try_wait(), Ok(Some(_)))
    });
    let output = String::from_utf8(child.0.wait_with_output_ref()).expect("utf-8");
    let lines: Vec<&str> = output.lines().collect();
    assert!(lines.len() >= 3, "libcoap printed {output:?}");
    assert_eq!(&lines[..3], ["v0", "v1", "v2"], "first answer and notifications in order");
}

/// Our endpoint as the client against libcoap's server: Block1 upload, Block2 download, and an
/// observation of `/time`.
#[test]
fn our_client_talks_to_libcoap_server() {
    if !installed(SERVER) {
        return;
    }
    let port = UdpSocket::bind("127.0.0.1:0").expect("free port").local_addr().expect("bound").port();
    let child = Command::new(SERVER)
        .args(["-A", "127.0.0.1", "-p", &port.to_string(), "-d", "10", "-v", "0"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn();
    let _server = Killed(child.expect("spawn coap-server"));
    let server = Peer::udp(SocketAddr::from(([127, 0, 0, 1], port)));
    let mut driver =
        Driver::new(EndpointConfig { ack_timeout: Duration::from_millis(200), ..EndpointConfig::default() });

    // Wait until the server answers a ping.
    let give_up = Instant::now() + Duration::from_secs(10);
    loop {
        let token = driver.endpoint.ping(Instant::now(), server.clone()).expect("ping");
        let mut pong = false;
        driver.run(Duration::from_secs(15), |_, _, event| {
            pong = event == Event::Pong { token };
            true
        });
        if pong {
            break;
        }
        assert!(Instant::now() < give_up, "coap-server did not start");
    }

    let request_and_wait = |driver: &mut Driver, request: Request| -> Response {
        let token = driver
            .endpoint
            .send_request(Instant::now(), server.clone(), request, Reliability::Confirmable)
            .expect("sent");
        let mut answer = None;
        driver.run(Duration::from_secs(20), |_, _, event| match event {
            Event::Response { token: t, response } if t == token => {
                answer = Some(response);
                true
            }
            Event::Failed { token: t, error } if t == token => panic!("request failed: {error}"),
            _ => false,
        });
        answer.expect("answered")
    };

    // Block1: 3000 bytes in 1024-byte blocks create a dynamic resource.
    let body = text(3_000);
    let created = request_and_wait(&mut driver, Request::put("/upload").with_payload(ContentFormat(0), body.clone()));
    assert!(created.code == Code::CREATED || created.code == Code::CHANGED, "PUT answered {:?}", created.code);
    // Block2: read it back whole.
    let read = request_and_wait(&mut driver, Request::get("/upload"));
    assert_eq!(read.code, Code::CONTENT);
    assert!(read.payload == body, "read back {} bytes", read.payload.len());

    // Observe /time: the first answer and at least one notification, then cancel with GET Observe: 1.
    let token = driver
        .endpoint
        .send_request(Instant::now(), server.clone(), Request::observe("/time"), Reliability::Confirmable)
        .expect("sent");
    let mut notifications = 0;
    let mut first = false;
    driver.run(Duration::from_secs(20), |_, _, event| {
        match event {
            Event::Response { token: t, response } if t == token => {
                assert_eq!(response.code, Code::CONTENT);
                assert!(response.options.get(OptionNumber::OBSERVE).is_some(), "/time is observable");
                first = true;
            }
            Event::Notification { token: t, .. } if t == token => notifications += 1,
            other => panic!("unexpected {other:?}"),
        }
        notifications >= 2
    });
    assert!(first);
    driver.endpoint.cancel_observation(Instant::now(), token).expect("observing");
    driver.run(Duration::from_secs(20), |_, _, event| matches!(event, Event::Response { token: t, .. } if t == token));
    assert!(!driver.endpoint.is_observing(token));
}

trait WaitOutput {
    fn wait_with_output_ref(&mut self) -> Vec<u8>;
}

impl WaitOutput for Child {
    fn wait_with_output_ref(&mut self) -> Vec<u8> {
        use std::io::Read;
        let _ = self.wait();
        let mut out = Vec::new();
        if let Some(stdout) = self.stdout.as_mut() {
            let _ = stdout.read_to_end(&mut out);
        }
        out
    }
}
