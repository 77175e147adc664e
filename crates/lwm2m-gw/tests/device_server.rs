//! `lwm2m-gw device` against the real `lwm2m-gw server`, driven through its REST API (HTTP
//! over 127.0.0.1): registration visible in `/api/clients`, reads of 3303 and 3311, a write of
//! 3311 on/off read back, an observation of 3303 whose notifications arrive on `/api/event`,
//! and a firmware push + Update seen in `/3/0/3`.

mod device_common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use device_common::{firmware_package, Device, WAIT};

/// `lwm2m-gw server` on free ports with a private data directory; killed on drop.
struct Server {
    child: Child,
    coap: SocketAddr,
    http: SocketAddr,
    bs_coap: Option<SocketAddr>,
    dir: std::path::PathBuf,
}

impl Server {
    fn start() -> Self {
        Self::start_with(false)
    }

    /// With `bootstrap`, the Bootstrap Server face runs too (`bs_coap`).
    fn start_with(bootstrap: bool) -> Self {
        let dir = std::env::temp_dir().join(format!("lwm2m-gw-device-server-{}-{bootstrap}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("data dir");
        let bs_coap = if bootstrap { "127.0.0.1:0" } else { "off" };
        let mut child = Command::new(env!("CARGO_BIN_EXE_lwm2m-gw"))
            .args(["server", "--coap", "127.0.0.1:0", "--coaps", "off", "--bs-coap", bs_coap, "--bs-coaps", "off"])
            .args(["--bs-http", "off", "--http", "127.0.0.1:0", "--data-dir"])
            .arg(&dir)
            .env("RUST_LOG", "warn")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("the server starts");
        let mut lines = BufReader::new(child.stdout.take().expect("piped stdout")).lines();
        let (mut coap, mut http, mut bs_coap) = (None, None, None);
        while coap.is_none() || http.is_none() || (bootstrap && bs_coap.is_none()) {
            let line = lines.next().expect("the server prints its addresses").expect("utf-8");
            if let Some(a) = line.strip_prefix("coap listening on ") {
                coap = a.parse().ok();
            }
            if let Some(a) = line.strip_prefix("http listening on ") {
                http = a.parse().ok();
            }
            if let Some(a) = line.strip_prefix("bs-coap listening on ") {
                bs_coap = a.parse().ok();
            }
        }
        std::thread::spawn(move || lines.for_each(drop));
        Self { child, coap: coap.expect("coap"), http: http.expect("http"), bs_coap, dir }
    }

    /// One HTTP/1.1 exchange: (status, body).
    fn http(&self, method: &str, path: &str, body: Option<&str>) -> (u16, String) {
        let mut stream = TcpStream::connect(self.http).expect("connect");
        stream.set_read_timeout(Some(WAIT)).expect("timeout");
        let body = body.unwrap_or("");
        let request = format!(
            "{method} {path} HTTP/1.1\r\nHost: {}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            self.http,
            body.len()
        );
        stream.write_all(request.as_bytes()).expect("send");
        let mut response = String::new();
        stream.read_to_string(&mut response).expect("read");
        let status = response.split(' ').nth(1).and_then(|s| s.parse().ok()).expect("status line");
        let body = response.split_once("\r\n\r\n").map(|(_, b)| b.to_owned()).unwrap_or_default();
        (status, dechunk(&body))
    }

    fn json(&self, method: &str, path: &str, body: Option<&str>) -> serde_json::Value {
        let (status, body) = self.http(method, path, body);
        assert_eq!(status, 200, "{method} {path}: {body}");
        serde_json::from_str(&body).unwrap_or_else(|e| panic!("{method} {path}: {e}: {body}"))
    }

    /// Lines of the `/api/event?ep=…` stream, read on a thread.
    fn events(&self, ep: &str) -> std::sync::mpsc::Receiver<String> {
        let mut stream = TcpStream::connect(self.http).expect("connect");
        let request =
            format!("GET /api/event?ep={ep} HTTP/1.1\r\nHost: {}\r\nAccept: text/event-stream\r\n\r\n", self.http);
        stream.write_all(request.as_bytes()).expect("send");
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stream).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        rx
    }

    /// The `content.value` of a Read, as text (numbers may come as JSON numbers or strings).
    fn read(&self, ep: &str, path: &str) -> String {
        let json = self.json("GET", &format!("/api/clients/{ep}{path}"), None);
        assert_eq!(json["success"], true, "{path}: {json}");
        match &json["content"]["value"] {
            serde_json::Value::String(s) => s.clone(),
            other => other.to_string(),
        }
    }
}

/// Undoes chunked transfer encoding when present.
fn dechunk(body: &str) -> String {
    let mut out = String::new();
    let mut rest = body;
    loop {
        let Some((size, tail)) = rest.split_once("\r\n") else { return body.to_owned() };
        let Ok(size) = usize::from_str_radix(size.trim(), 16) else { return body.to_owned() };
        if size == 0 {
            return out;
        }
        let Some(chunk) = tail.get(..size) else { return body.to_owned() };
        out.push_str(chunk);
        rest = tail.get(size + 2..).unwrap_or("");
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn wait_until(what: &str, mut check: impl FnMut() -> bool) {
    let deadline = Instant::now() + WAIT;
    while !check() {
        assert!(Instant::now() < deadline, "{what} did not happen within {WAIT:?}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn the_real_server_sees_reads_writes_and_a_firmware_update() {
    let server = Server::start();
    let mut device = Device::start(&[
        "--server",
        &format!("coap://{}", server.coap),
        "--endpoint",
        "sim-rest",
        "--update-delay-ms",
        "200",
        "--tick-ms",
        "100",
    ]);
    device.wait_line(|l| l.starts_with("registered ep=sim-rest server=1 "));
    let client = server.json("GET", "/api/clients/sim-rest", None);
    assert_eq!(client["endpoint"], "sim-rest");
    assert_eq!(client["lwM2mVersion"], "1.1");

    let temperature = server.read("sim-rest", "/3303/0/5700");
    let celsius: f64 = temperature.parse().expect("a number");
    assert!((10.0..35.0).contains(&celsius), "{temperature}");
    assert_eq!(server.read("sim-rest", "/3311/0/5850"), "false");
    let on = r#"{"id":5850,"kind":"singleResource","value":true,"type":"boolean"}"#;
    let written = server.json("PUT", "/api/clients/sim-rest/3311/0/5850", Some(on));
    assert_eq!(written["success"], true, "{written}");
    assert_eq!(server.read("sim-rest", "/3311/0/5850"), "true");

    let events = server.events("sim-rest");
    let observed = server.json("POST", "/api/clients/sim-rest/3303/0/5700/observe", None);
    assert_eq!(observed["success"], true, "{observed}");
    let deadline = Instant::now() + WAIT;
    let mut notifications = Vec::new();
    let mut last_event = String::new();
    while notifications.len() < 2 {
        let left = deadline.saturating_duration_since(Instant::now());
        let line = events.recv_timeout(left).unwrap_or_else(|_| panic!("notifications: {notifications:?}"));
        if let Some(name) = line.strip_prefix("event:") {
            last_event = name.trim().to_owned();
        } else if let Some(data) = line.strip_prefix("data:") {
            if last_event == "NOTIFICATION" && data.contains("5700") {
                notifications.push(data.trim().to_owned());
            }
        }
    }
    assert!(notifications.iter().all(|n| n.contains("sim-rest")), "{notifications:?}");

    let package = firmware_package("9.9.9", 2500);
    let hex: String = package.iter().map(|b| format!("{b:02x}")).collect();
    let push = format!(r#"{{"id":0,"kind":"singleResource","value":"{hex}","type":"opaque"}}"#);
    let pushed = server.json("PUT", "/api/clients/sim-rest/5/0/0", Some(&push));
    assert_eq!(pushed["success"], true, "{pushed}");
    assert_eq!(server.read("sim-rest", "/5/0/3"), "2");
    let executed = server.json("POST", "/api/clients/sim-rest/5/0/2", None);
    assert_eq!(executed["success"], true, "{executed}");
    device.wait_line(|l| l == "firmware-updated ep=sim-rest version=9.9.9");
    wait_until("the version change", || server.read("sim-rest", "/3/0/3") == "9.9.9");
    assert_eq!(server.read("sim-rest", "/5/0/5"), "1");
}

#[test]
fn the_real_bootstrap_server_provisions_the_device_which_then_registers() {
    let server = Server::start_with(true);
    let config = format!(
        r#"{{"toDelete":["/0","/1"],"servers":{{"0":{{"shortId":321,"lifetime":90,"binding":"U"}}}},"security":{{"1":{{"uri":"coap://{}","bootstrapServer":false,"securityMode":"NO_SEC","serverId":321}}}}}}"#,
        server.coap
    );
    let (status, body) = server.http("POST", "/api/bootstrap/sim-bs-rest", Some(&config));
    assert_eq!(status, 200, "{body}");
    let bs = server.bs_coap.expect("bootstrap face");
    let mut device = Device::start(&["--server", &format!("coap://{bs}"), "--endpoint", "sim-bs-rest", "--bootstrap"]);
    device.wait_line(|l| l == "bootstrap-finished ep=sim-bs-rest");
    device.wait_line(|l| l.starts_with("registered ep=sim-bs-rest server=321 "));
    let client = server.json("GET", "/api/clients/sim-bs-rest", None);
    assert_eq!(client["lifetime"], 90, "{client}");
    assert_eq!(server.read("sim-bs-rest", "/1/0/0"), "321");
}
