//! Interop with an independent LwM2M 1.0 implementation, `lwm2m-node-lib` (npm), on 127.0.0.1.
//!
//! - its client registers to the real `lwm2m-gw server` and is read and written through the
//!   Leshan-compatible REST API;
//! - the real `lwm2m-gw device` registers to its server and answers its reads and writes
//!   (plain text, as LwM2M 1.0).
//!
//! The Node programs live in `tests/interop/node/` (`client.js`, `server.js`); `scripts/test`
//! installs their locked dependencies. Every wait is bounded and every child process is killed
//! when its guard drops, also when an assertion fails.

mod node_support;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::thread;
use std::time::{Duration, Instant};

use node_support::node;
use serde_json::{json, Value};

/// How long any single step (start, registration, one request) may take.
const STEP: Duration = Duration::from_secs(20);

/// Which output stream of a child a line came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stream {
    Stdout,
    Stderr,
}

/// A child process killed on drop, whose stdout and stderr lines arrive on a channel.
struct Proc {
    name: &'static str,
    child: Child,
    lines: Receiver<(Stream, String)>,
    /// Every line seen so far, for failure messages.
    seen: Vec<(Stream, String)>,
}

impl Proc {
    fn spawn(name: &'static str, command: &mut Command) -> Self {
        let mut child = command
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {name} ({command:?}): {e}"));
        let (tx, lines) = mpsc::channel();
        let stdout = child.stdout.take().expect("stdout is piped");
        let stderr = child.stderr.take().expect("stderr is piped");
        for (stream, reader) in [
            (Stream::Stdout, Box::new(stdout) as Box<dyn Read + Send>),
            (Stream::Stderr, Box::new(stderr) as Box<dyn Read + Send>),
        ] {
            let tx = tx.clone();
            thread::spawn(move || {
                for line in BufReader::new(reader).lines() {
                    let Ok(line) = line else { break };
                    if tx.send((stream, line)).is_err() {
                        break;
                    }
                }
            });
        }
        Self { name, child, lines, seen: Vec::new() }
    }

    /// Waits for a line for which `pick` returns `Some`, failing with everything seen so far
    /// when the process ends or `timeout` passes first.
    fn wait_for<T>(&mut self, what: &str, timeout: Duration, mut pick: impl FnMut(Stream, &str) -> Option<T>) -> T {
        for (stream, line) in &self.seen {
            if let Some(found) = pick(*stream, line) {
                return found;
            }
        }
        let deadline = Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok((stream, line)) => {
                    let found = pick(stream, &line);
                    self.seen.push((stream, line));
                    if let Some(found) = found {
                        return found;
                    }
                }
                Err(RecvTimeoutError::Timeout) => {
                    panic!("{}: no {what} within {timeout:?}\n{}", self.name, self.transcript())
                }
                Err(RecvTimeoutError::Disconnected) => {
                    let status = self.child.wait().ok();
                    panic!("{}: ended ({status:?}) before {what}\n{}", self.name, self.transcript())
                }
            }
        }
    }

    /// Waits for the exact stdout line `line`.
    fn wait_for_line(&mut self, line: &str, timeout: Duration) {
        self.wait_for(&format!("line {line:?}"), timeout, |stream, seen| {
            (stream == Stream::Stdout && seen == line).then_some(())
        });
    }

    /// Takes the lines that arrived so far without waiting.
    fn drain(&mut self) {
        while let Ok(line) = self.lines.try_recv() {
            self.seen.push(line);
        }
    }

    /// Waits for the process to end by itself, then returns its status and collects its output.
    /// Fails at once when `partner`, which must keep running meanwhile, ends first.
    fn wait_exit(&mut self, timeout: Duration, partner: &mut Self) -> ExitStatus {
        let deadline = Instant::now() + timeout;
        loop {
            partner.assert_running();
            match self.child.try_wait() {
                Ok(Some(status)) => {
                    // The reader threads end once the pipes close; take what is left.
                    let drain_until = Instant::now() + Duration::from_secs(2);
                    while let Ok(line) = self.lines.recv_timeout(drain_until.saturating_duration_since(Instant::now()))
                    {
                        self.seen.push(line);
                    }
                    return status;
                }
                Ok(None) if Instant::now() < deadline => {
                    self.drain();
                    thread::sleep(Duration::from_millis(50));
                }
                Ok(None) => {
                    panic!("{}: still running after {timeout:?}\n{}", self.name, self.transcript())
                }
                Err(e) => panic!("{}: cannot wait: {e}", self.name),
            }
        }
    }

    /// Fails when the process has ended (a crash or an early exit).
    fn assert_running(&mut self) {
        if let Ok(Some(status)) = self.child.try_wait() {
            thread::sleep(Duration::from_millis(200));
            self.drain();
            panic!("{}: ended ({status})\n{}", self.name, self.transcript());
        }
    }

    fn stdout_lines(&self) -> impl Iterator<Item = &str> {
        self.seen.iter().filter(|(stream, _)| *stream == Stream::Stdout).map(|(_, line)| line.as_str())
    }

    fn transcript(&self) -> String {
        let mut out = String::new();
        for (stream, line) in &self.seen {
            let tag = match stream {
                Stream::Stdout => "out",
                Stream::Stderr => "err",
            };
            out.push_str(&format!("  [{} {tag}] {line}\n", self.name));
        }
        out
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
        }
        let _ = self.child.wait();
        if thread::panicking() {
            self.drain();
            eprintln!("{} output:\n{}", self.name, self.transcript());
        }
    }
}

/// An endpoint name no other concurrently running test uses.
fn endpoint_name(tag: &str) -> String {
    format!("node-interop-{tag}-{}", std::process::id())
}

/// A temporary directory removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new(tag: &str) -> Self {
        let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.subsec_nanos());
        let path = std::env::temp_dir().join(format!("lwm2m-gw-interop-node-{tag}-{}-{nanos}", std::process::id()));
        std::fs::create_dir_all(&path).expect("temp dir is created");
        Self(path)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The real `lwm2m-gw server` with its bound addresses.
struct GwServer {
    proc: Proc,
    coap: SocketAddr,
    http: SocketAddr,
    _data: TempDir,
}

impl GwServer {
    fn start() -> Self {
        let data = TempDir::new("server");
        let mut proc = Proc::spawn(
            "lwm2m-gw server",
            Command::new(env!("CARGO_BIN_EXE_lwm2m-gw"))
                .arg("server")
                .args(["--coap", "127.0.0.1:0", "--http", "127.0.0.1:0"])
                .args(["--coaps", "off", "--bs-coap", "off", "--bs-coaps", "off", "--bs-http", "off"])
                .arg("--data-dir")
                .arg(&data.0)
                .env("RUST_LOG", "info"),
        );
        // The server prints one `<face> listening on <addr>` line per bound socket.
        let mut listening = |face: &str| -> SocketAddr {
            let prefix = format!("{face} listening on ");
            proc.wait_for(&format!("{face} address"), STEP, |stream, line| {
                (stream == Stream::Stdout).then(|| line.strip_prefix(&prefix)?.parse().ok()).flatten()
            })
        };
        let coap = listening("coap");
        let http = listening("http");
        Self { proc, coap, http, _data: data }
    }

    /// One HTTP/1.1 request to the REST API; returns the status code and the JSON body.
    fn http(&self, method: &str, target: &str, body: Option<&Value>) -> (u16, Value) {
        let mut stream = TcpStream::connect_timeout(&self.http, STEP)
            .unwrap_or_else(|e| panic!("connect to REST API {}: {e}", self.http));
        stream.set_read_timeout(Some(STEP)).expect("read timeout is set");
        stream.set_write_timeout(Some(STEP)).expect("write timeout is set");
        let payload = body.map(Value::to_string).unwrap_or_default();
        let request = format!(
            "{method} {target} HTTP/1.1\r\nHost: {}\r\nAccept: application/json\r\n\
             Content-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{payload}",
            self.http,
            payload.len()
        );
        stream.write_all(request.as_bytes()).expect("request is sent");
        let mut response = Vec::new();
        stream.read_to_end(&mut response).unwrap_or_else(|e| panic!("{method} {target}: reading the response: {e}"));
        let text = String::from_utf8_lossy(&response);
        let (head, body) = text
            .split_once("\r\n\r\n")
            .unwrap_or_else(|| panic!("{method} {target}: malformed HTTP response {text:?}"));
        let status = head
            .split_whitespace()
            .nth(1)
            .and_then(|code| code.parse::<u16>().ok())
            .unwrap_or_else(|| panic!("{method} {target}: no status in {head:?}"));
        let chunked = head.lines().any(|line| {
            let line = line.to_ascii_lowercase();
            line.starts_with("transfer-encoding:") && line.contains("chunked")
        });
        let body = if chunked { dechunk(body) } else { body.to_owned() };
        // Leshan answers some errors in plain text; keep those as a JSON string.
        let json = if body.trim().is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&body).unwrap_or(Value::String(body))
        };
        (status, json)
    }
}

/// Joins the chunks of a `Transfer-Encoding: chunked` body.
fn dechunk(mut body: &str) -> String {
    let mut out = String::new();
    loop {
        let Some((size, rest)) = body.split_once("\r\n") else { return out };
        let Ok(size) = usize::from_str_radix(size.trim(), 16) else { return out };
        if size == 0 || rest.len() < size {
            return out;
        }
        out.push_str(&rest[..size]);
        body = rest[size..].trim_start_matches("\r\n");
    }
}

/// A number as Leshan's JSON writes it: a JSON number or a decimal string.
fn number(value: &Value) -> Option<f64> {
    value.as_f64().or_else(|| value.as_str()?.parse().ok())
}

/// The `content` of a successful Leshan-style read response.
fn read_content(response: &(u16, Value), what: &str) -> Value {
    let (status, body) = response;
    assert_eq!(*status, 200, "{what}: HTTP status, body {body}");
    assert_eq!(body["status"], "CONTENT(205)", "{what}: {body}");
    assert_eq!(body["success"], true, "{what}: {body}");
    body["content"].clone()
}

#[test]
fn node_client_registers_to_lwm2m_gw_server_and_is_read_and_written_over_rest() {
    let server = GwServer::start();
    let endpoint = endpoint_name("client");
    let mut client = Proc::spawn(
        "lwm2m-node-lib client",
        node("client.js").args([
            "--host",
            &server.coap.ip().to_string(),
            "--port",
            &server.coap.port().to_string(),
            "--endpoint",
            &endpoint,
        ]),
    );
    client.wait_for("registration", STEP, |stream, line| {
        (stream == Stream::Stdout && line.starts_with("registered /")).then_some(())
    });

    // The registration as the REST API shows it.
    let (status, clients) = server.http("GET", "/api/clients", None);
    assert_eq!(status, 200, "GET /api/clients: {clients}");
    let registration = clients
        .as_array()
        .and_then(|all| all.iter().find(|c| c["endpoint"] == endpoint.as_str()))
        .unwrap_or_else(|| panic!("{endpoint} is not in GET /api/clients: {clients}"));
    assert_eq!(registration["lwM2mVersion"], "1.0", "{registration}");
    let links = registration["objectLinks"].to_string();
    for object in ["/3/0", "/3303/0", "/3311/0"] {
        assert!(links.contains(&format!("\"{object}\"")), "{object} missing in {links}");
    }

    // lwm2m-node-lib serves single resources in plain text only, and its CoAP library drops
    // (without any answer) a request whose Accept or Content-Format names a format it does not
    // know, TLV (11542) included. A read without format asks for none (as Leshan does).
    let base = format!("/api/clients/{endpoint}");
    let read = |path: &str| {
        let response = server.http("GET", &format!("{base}{path}?format=TEXT"), None);
        read_content(&response, path)
    };
    let manufacturer = read_content(&server.http("GET", &format!("{base}/3/0/0"), None), "/3/0/0");
    assert_eq!(manufacturer["id"], 0, "{manufacturer}");
    assert_eq!(manufacturer["kind"], "singleResource", "{manufacturer}");
    assert_eq!(manufacturer["value"], "lwm2m-node-lib", "{manufacturer}");
    client.wait_for_line("read /3/0/0", STEP);

    let temperature = read("/3303/0/5700");
    assert_eq!(temperature["type"], "FLOAT", "{temperature}");
    assert_eq!(temperature["id"], 5700, "{temperature}");
    assert_eq!(number(&temperature["value"]), Some(21.5), "{temperature}");
    client.wait_for_line("read /3303/0/5700", STEP);

    // Writes in plain text: Dimmer (Integer) and On/Off (Boolean, "1" on the wire), read back.
    let write = |path: &str, value: Value, kind: &str| {
        let id: u16 = path.rsplit('/').next().and_then(|r| r.parse().ok()).expect("resource path");
        let body = json!({"id": id, "kind": "singleResource", "value": value, "type": kind});
        let (status, written) = server.http("PUT", &format!("{base}{path}?format=TEXT"), Some(&body));
        assert_eq!(status, 200, "PUT {path}: {written}");
        assert_eq!(written["status"], "CHANGED(204)", "PUT {path}: {written}");
    };
    write("/3311/0/5851", json!(75), "integer");
    client.wait_for_line("write /3311/0/5851 = 75", STEP);
    write("/3311/0/5850", json!(true), "boolean");
    client.wait_for_line("write /3311/0/5850 = 1", STEP);

    let dimmer = read("/3311/0/5851");
    assert_eq!(number(&dimmer["value"]), Some(75.0), "{dimmer}");
    let on = read("/3311/0/5850");
    assert_eq!(on["value"], true, "{on}");

    // A resource the client does not have is a clean 4.04 through the API, not a hang.
    let (status, missing) = server.http("GET", &format!("{base}/3/0/17?format=TEXT"), None);
    assert_eq!(status, 200, "GET /3/0/17: {missing}");
    assert_eq!(missing["status"], "NOT_FOUND(404)", "{missing}");

    // Neither side fell over along the way.
    client.assert_running();
    let mut server = server;
    server.proc.assert_running();

    // On SIGTERM the client de-registers; the registration leaves the API.
    let sent = Command::new("kill").args(["-TERM", &client.child.id().to_string()]).status();
    assert!(sent.as_ref().is_ok_and(ExitStatus::success), "kill -TERM: {sent:?}");
    let deadline = Instant::now() + STEP;
    loop {
        let (status, clients) = server.http("GET", "/api/clients", None);
        assert_eq!(status, 200, "GET /api/clients: {clients}");
        let listed = clients.as_array().is_some_and(|all| all.iter().any(|c| c["endpoint"] == endpoint.as_str()));
        if !listed {
            break;
        }
        assert!(Instant::now() < deadline, "{endpoint} still registered after SIGTERM: {clients}");
        thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn lwm2m_gw_device_registers_to_node_server_and_answers_its_reads_and_writes() {
    let endpoint = endpoint_name("device");
    let reads = ["/3/0/0", "/3/0/1", "/3303/0/5700", "/3303/0/5701"];
    let mut server = Proc::spawn(
        "lwm2m-node-lib server",
        node("server.js").args([
            "--port",
            "0",
            "--endpoint",
            &endpoint,
            "--read",
            &reads.join(","),
            "--write",
            "/3311/0/5851=75,/3311/0/5850=1",
            "--timeout-ms",
            "30000",
        ]),
    );
    let port: u16 = server.wait_for("listening port", STEP, |stream, line| {
        (stream == Stream::Stdout).then(|| line.strip_prefix("listening ")?.parse().ok()).flatten()
    });

    let mut device = Proc::spawn(
        "lwm2m-gw device",
        Command::new(env!("CARGO_BIN_EXE_lwm2m-gw"))
            .arg("device")
            .args(["--server", &format!("coap://127.0.0.1:{port}")])
            .args(["--endpoint", &endpoint, "--lwm2m", "1.0"])
            .env("RUST_LOG", "info"),
    );

    // The device's own account of its registration: LwM2M 1.0, as asked.
    let prefix = format!("registered ep={endpoint} ");
    let registered = device.wait_for("device registration", STEP, |stream, line| {
        (stream == Stream::Stdout && line.starts_with(&prefix)).then(|| line.to_owned())
    });
    assert!(registered.contains(" lwm2m=1.0"), "{registered}");

    let status = server.wait_exit(Duration::from_secs(40), &mut device);
    device.drain();
    assert!(status.success(), "server.js failed ({status})\n{}{}", server.transcript(), device.transcript());

    let registered = server
        .stdout_lines()
        .find(|line| line.starts_with("registered "))
        .unwrap_or_else(|| panic!("no registration line\n{}", server.transcript()))
        .to_owned();
    assert!(registered.starts_with(&format!("registered {endpoint} lwm2m=1.0 ")), "{registered}");
    assert!(registered.contains("</3/0>"), "{registered}");
    assert!(registered.contains("</3303/0>"), "{registered}");

    let lines: Vec<Value> = server
        .stdout_lines()
        .filter(|line| line.starts_with('{'))
        .map(|line| serde_json::from_str(line).unwrap_or_else(|e| panic!("{line:?}: {e}")))
        .collect();
    let (values, writes): (Vec<&Value>, Vec<&Value>) = lines.iter().partition(|v| v.get("written").is_none());
    let paths: Vec<&str> = values.iter().filter_map(|v| v["path"].as_str()).collect();
    assert_eq!(paths, reads, "{lines:?}");
    // Plain-text answers, as lwm2m-node-lib's server asks for them (Accept: text/plain).
    assert_eq!(values[0]["value"], "lwm2m-gw", "/3/0/0 Manufacturer");
    assert_eq!(values[1]["value"], "lwm2m-gw-sim", "/3/0/1 Model Number");
    let temperature = values[2]["value"].as_str().unwrap_or_default();
    assert!(
        temperature.parse::<f64>().is_ok_and(|t| t.is_finite() && (-40.0..=85.0).contains(&t)),
        "/3303/0/5700 read as {temperature:?}, not a plain-text temperature"
    );
    assert_eq!(values[3]["value"], "Cel", "/3303/0/5701 Sensor Units");

    // Plain-text writes (Dimmer, On/Off) reached the device's objects and read back the same.
    assert_eq!(
        writes,
        [
            &json!({"path": "/3311/0/5851", "written": "75", "readBack": "75"}),
            &json!({"path": "/3311/0/5850", "written": "1", "readBack": "1"}),
        ],
        "{lines:?}"
    );
    for path in ["/3311/0/5851", "/3311/0/5850"] {
        let line = format!("written ep={endpoint} path={path}");
        device.wait_for(&format!("{line:?}"), STEP, |stream, seen| {
            (stream == Stream::Stdout && seen.starts_with(&line)).then_some(())
        });
    }

    // The device keeps running and stays healthy after the reads.
    device.assert_running();
}
