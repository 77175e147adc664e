//! `lwm2m-gw demo`: the whole picture on loopback, with no configuration.
//!
//! Starts, as child processes of this same binary on free 127.0.0.1 ports, a distant
//! `lwm2m-gw server`, the gateway (`lwm2m-gw run`) registered to it, and three simulated
//! End-Devices (`lwm2m-gw device`: `lamp`, `thermo-1`, `thermo-2`) registered to the gateway.
//! Then it tours, through the distant server's REST API only: the server lists the gateway and
//! its End-Devices with their prefixes; a temperature is read through the gateway; the lamp is
//! switched on by a write (and the lamp reports the write); an observed temperature sends
//! notifications; finally the gateway's own REST API summarises its inventory.
//!
//! Without `--once` it keeps running and prints where to look until Ctrl-C. Every child and
//! the temporary directory holding the data directories and logs go away at exit (drop
//! guards), also when a step fails.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Receiver};
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context as _};
use clap::Args;
use serde_json::Value as Json;

/// Flags of `lwm2m-gw demo`.
#[derive(Debug, Args)]
pub(crate) struct DemoArgs {
    /// Exit after the tour: status 0 when every step worked, 1 with the failed step otherwise.
    #[arg(long)]
    pub(crate) once: bool,
}

/// How long one child may take to print its ready line.
const START_WAIT: Duration = Duration::from_secs(30);
/// How long one step of the tour may take.
const STEP_WAIT: Duration = Duration::from_secs(20);
/// The gateway's endpoint name.
const GATEWAY: &str = "demo-gw";
/// The End-Devices: endpoint name, what it shows in the tour.
const DEVICES: [&str; 3] = ["lamp", "thermo-1", "thermo-2"];

/// Set once Ctrl-C or SIGTERM arrived: every wait gives up, and the guards clean up.
static STOP: AtomicBool = AtomicBool::new(false);

/// The wait slice between two looks at [`STOP`].
const SLICE: Duration = Duration::from_millis(200);

fn check_stop() -> anyhow::Result<()> {
    if STOP.load(Ordering::Relaxed) {
        bail!("interrupted");
    }
    Ok(())
}

/// A temporary directory, removed on drop.
pub(crate) struct TempDir(pub(crate) PathBuf);

impl TempDir {
    pub(crate) fn new() -> anyhow::Result<Self> {
        let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos());
        let dir = std::env::temp_dir().join(format!("lwm2m-gw-demo-{}-{nanos}", std::process::id()));
        std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
        Ok(Self(dir))
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// One child process of the demo; killed on drop.
pub(crate) struct Proc {
    name: String,
    pub(crate) child: Child,
    lines: Receiver<String>,
    log: PathBuf,
}

impl Proc {
    pub(crate) fn spawn(name: &str, args: &[String], dir: &Path) -> anyhow::Result<Self> {
        let exe = std::env::current_exe().context("cannot find this binary")?;
        let log = dir.join(format!("{name}.log"));
        let stderr = std::fs::File::create(&log).with_context(|| format!("cannot create {}", log.display()))?;
        let mut child = Command::new(exe)
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::from(stderr))
            .spawn()
            .with_context(|| format!("cannot start {name}"))?;
        let stdout = child.stdout.take().context("child without stdout")?;
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Ok(Self { name: name.to_owned(), child, lines, log })
    }

    /// The first line within `timeout` for which `pick` returns something.
    pub(crate) fn wait_for<T>(
        &mut self,
        timeout: Duration,
        mut pick: impl FnMut(&str) -> Option<T>,
    ) -> anyhow::Result<T> {
        let deadline = Instant::now() + timeout;
        loop {
            check_stop()?;
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left.min(SLICE)) {
                Ok(line) => {
                    if let Some(found) = pick(&line) {
                        return Ok(found);
                    }
                }
                Err(mpsc::RecvTimeoutError::Timeout) if !left.is_zero() => {}
                Err(mpsc::RecvTimeoutError::Timeout) => {
                    bail!("{} did not get there within {} s{}", self.name, timeout.as_secs(), self.log_tail())
                }
                Err(mpsc::RecvTimeoutError::Disconnected) => {
                    let status = self.child.wait().map_or_else(|e| e.to_string(), |s| s.to_string());
                    bail!("{} stopped ({status}){}", self.name, self.log_tail())
                }
            }
        }
    }

    /// The address printed as `<face> listening on <addr>`.
    pub(crate) fn address(&mut self, face: &str) -> anyhow::Result<SocketAddr> {
        let prefix = format!("{face} listening on ");
        self.wait_for(START_WAIT, |line| line.strip_prefix(&prefix).and_then(|a| a.trim().parse().ok()))
    }

    fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        let tail = lines.get(lines.len().saturating_sub(5)..).unwrap_or_default().join("\n    ");
        if tail.is_empty() {
            String::new()
        } else {
            format!("; last log lines:\n    {tail}")
        }
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One HTTP/1.1 request with `Connection: close`: (status, body).
fn http(addr: SocketAddr, method: &str, path: &str, body: Option<&str>) -> anyhow::Result<(u16, String)> {
    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_secs(5))
        .with_context(|| format!("cannot connect to http://{addr}"))?;
    stream.set_read_timeout(Some(Duration::from_secs(60))).context("socket option")?;
    let body = body.unwrap_or_default();
    let mut head =
        format!("{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Length: {}\r\n", body.len());
    if !body.is_empty() {
        head.push_str("Content-Type: application/json\r\n");
    }
    head.push_str("\r\n");
    stream.write_all(head.as_bytes()).and_then(|()| stream.write_all(body.as_bytes())).context("http write")?;
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).context("http read")?;
    let text = String::from_utf8_lossy(&raw).into_owned();
    let (headers, body) = text.split_once("\r\n\r\n").ok_or_else(|| anyhow!("not an http response"))?;
    let status = headers.split(' ').nth(1).and_then(|s| s.parse().ok()).ok_or_else(|| anyhow!("no http status"))?;
    let body = if headers.to_ascii_lowercase().contains("transfer-encoding: chunked") {
        dechunk(body)
    } else {
        body.to_owned()
    };
    Ok((status, body))
}

fn dechunk(mut body: &str) -> String {
    let mut out = String::new();
    while let Some((size, rest)) = body.split_once("\r\n") {
        let size = usize::from_str_radix(size.trim(), 16).unwrap_or(0);
        let Some(chunk) = rest.get(..size).filter(|_| size > 0) else { break };
        out.push_str(chunk);
        body = rest.get(size..).unwrap_or_default().trim_start_matches("\r\n");
    }
    out
}

/// `method path` answered 200 with JSON.
fn json(addr: SocketAddr, method: &str, path: &str, body: Option<&str>) -> anyhow::Result<Json> {
    let (status, text) = http(addr, method, path, body)?;
    if status != 200 {
        bail!("{method} {path} answered {status}: {}", text.trim());
    }
    serde_json::from_str(&text).with_context(|| format!("{method} {path} did not answer json"))
}

/// Polls `probe` until it gives a value or `timeout` passes.
fn eventually<T>(timeout: Duration, mut probe: impl FnMut() -> anyhow::Result<T>) -> anyhow::Result<T> {
    let deadline = Instant::now() + timeout;
    loop {
        check_stop()?;
        match probe() {
            Ok(value) => return Ok(value),
            Err(error) if Instant::now() >= deadline => return Err(error),
            Err(_) => std::thread::sleep(SLICE),
        }
    }
}

/// A JSON scalar for humans (strings without quotes).
fn show(value: &Json) -> String {
    value.as_str().map_or_else(|| value.to_string(), str::to_owned)
}

/// The `/api/event` stream of the distant server for one endpoint.
struct EventStream {
    stream: TcpStream,
    pending: String,
}

impl EventStream {
    fn open(addr: SocketAddr, endpoint: &str) -> anyhow::Result<Self> {
        let mut stream =
            TcpStream::connect_timeout(&addr, Duration::from_secs(5)).context("cannot open the event stream")?;
        let head =
            format!("GET /api/event?ep={endpoint} HTTP/1.1\r\nHost: {addr}\r\nAccept: text/event-stream\r\n\r\n");
        stream.write_all(head.as_bytes()).context("event stream write")?;
        stream.set_read_timeout(Some(Duration::from_millis(200))).context("socket option")?;
        Ok(Self { stream, pending: String::new() })
    }

    /// The data of the next event called `name` within `timeout`.
    fn next(&mut self, name: &str, timeout: Duration) -> anyhow::Result<Json> {
        let deadline = Instant::now() + timeout;
        let mut in_event = false;
        loop {
            while let Some(end) = self.pending.find('\n') {
                let line: String = self.pending.drain(..=end).collect();
                let line = line.trim_end();
                if let Some(event) = line.strip_prefix("event:") {
                    in_event = event.trim() == name;
                } else if let (true, Some(data)) = (in_event, line.strip_prefix("data:")) {
                    return serde_json::from_str(data.trim()).context("event data is not json");
                }
            }
            check_stop()?;
            if Instant::now() > deadline {
                bail!("no {name} event within {} s", timeout.as_secs());
            }
            let mut buf = [0u8; 4096];
            match self.stream.read(&mut buf) {
                Ok(0) => bail!("the event stream closed"),
                Ok(n) => self.pending.push_str(&String::from_utf8_lossy(buf.get(..n).unwrap_or_default())),
                Err(e) if matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut) => {}
                Err(e) => return Err(e).context("event stream read"),
            }
        }
    }
}

/// Everything the demo started.
struct Demo {
    // Field order is drop order: End-Devices first, the server last, then the directory.
    devices: Vec<Proc>,
    _gateway: Proc,
    _server: Proc,
    server_http: SocketAddr,
    gateway_http: SocketAddr,
    _dir: TempDir,
}

fn arg_list(args: &[&str]) -> Vec<String> {
    args.iter().map(|a| (*a).to_owned()).collect()
}

fn start() -> anyhow::Result<Demo> {
    let dir = TempDir::new()?;
    println!("  data and logs in {} (removed at exit)", dir.0.display());
    let server_data = dir.0.join("server").display().to_string();
    let mut server = Proc::spawn(
        "server",
        &arg_list(&[
            "server",
            "--coap",
            "127.0.0.1:0",
            "--coaps",
            "off",
            "--bs-coap",
            "off",
            "--bs-coaps",
            "off",
            "--http",
            "127.0.0.1:0",
            "--bs-http",
            "off",
            "--data-dir",
            &server_data,
        ]),
        &dir.0,
    )?;
    let server_coap = server.address("coap")?;
    let server_http = server.address("http")?;
    println!("  distant LwM2M server   coap://{server_coap}   REST http://{server_http}");

    let gateway_data = dir.0.join("gateway").display().to_string();
    let north = format!("coap://{server_coap}");
    let mut gateway = Proc::spawn(
        "gateway",
        &arg_list(&[
            "run",
            "--endpoint",
            GATEWAY,
            "--south",
            "127.0.0.1:0",
            "--north",
            &north,
            "--http",
            "127.0.0.1:0",
            "--data-dir",
            &gateway_data,
        ]),
        &dir.0,
    )?;
    let south = gateway.address("south")?;
    let gateway_http = gateway.address("http")?;
    gateway.wait_for(START_WAIT, |line| line.starts_with("registered to ").then_some(()))?;
    println!("  gateway {GATEWAY:<14} south coap://{south}   REST http://{gateway_http}   registered to {north}");

    let mut devices = Vec::new();
    for (i, endpoint) in DEVICES.iter().enumerate() {
        let seed = i.to_string();
        let server_uri = format!("coap://{south}");
        let mut device = Proc::spawn(
            endpoint,
            &arg_list(&[
                "device",
                "--server",
                &server_uri,
                "--endpoint",
                endpoint,
                "--seed",
                &seed,
                "--tick-ms",
                "1000",
            ]),
            &dir.0,
        )?;
        device.wait_for(START_WAIT, |line| line.starts_with("registered ep=").then_some(()))?;
        println!("  End-Device {endpoint:<11} registered to the gateway");
        devices.push(device);
    }
    Ok(Demo { devices, _gateway: gateway, _server: server, server_http, gateway_http, _dir: dir })
}

/// Step 1: the distant server lists the gateway and each End-Device with its prefix.
fn step_inventory(demo: &Demo) -> anyhow::Result<Vec<(String, String)>> {
    let found = eventually(STEP_WAIT, || {
        let clients = json(demo.server_http, "GET", "/api/clients", None)?;
        let list = clients.as_array().ok_or_else(|| anyhow!("/api/clients is not a list"))?;
        if !list.iter().any(|c| c["endpoint"] == GATEWAY) {
            bail!("the server does not list {GATEWAY}");
        }
        let mut found = Vec::new();
        for endpoint in DEVICES {
            let client = list
                .iter()
                .find(|c| c["endpoint"] == endpoint && c["gateway"] == GATEWAY)
                .ok_or_else(|| anyhow!("the server does not list {endpoint} behind {GATEWAY}"))?;
            found.push((endpoint.to_owned(), show(&client["prefix"])));
        }
        Ok(found)
    })?;
    println!("1. The distant server sees the gateway {GATEWAY} and, through its Object 25, its End-Devices:");
    for (endpoint, prefix) in &found {
        println!("     {endpoint:<10} prefix /{prefix}   (GET http://{}/api/clients/{endpoint})", demo.server_http);
    }
    Ok(found)
}

fn prefix_of<'a>(prefixes: &'a [(String, String)], endpoint: &str) -> &'a str {
    prefixes.iter().find(|(ep, _)| ep == endpoint).map_or("?", |(_, p)| p.as_str())
}

/// Step 2: a temperature read through the gateway.
fn step_read(demo: &Demo, prefixes: &[(String, String)]) -> anyhow::Result<()> {
    let read = json(demo.server_http, "GET", "/api/clients/thermo-1/3303/0/5700", None)?;
    if read["success"] != true {
        bail!("reading thermo-1's temperature failed: {read}");
    }
    let prefix = prefix_of(prefixes, "thermo-1");
    println!(
        "2. Read thermo-1's temperature: the server sends GET /{prefix}/3303/0/5700 to the gateway, which reads /3303/0/5700 on the device: {} °C",
        show(&read["content"]["value"])
    );
    Ok(())
}

/// Step 3: the lamp switched on by a write, confirmed by the lamp itself and by a read.
fn step_write(demo: &mut Demo, prefixes: &[(String, String)]) -> anyhow::Result<()> {
    let body = r#"{"id":5850,"kind":"singleResource","value":true,"type":"boolean"}"#;
    let write = json(demo.server_http, "PUT", "/api/clients/lamp/3311/0/5850", Some(body))?;
    if write["success"] != true {
        bail!("switching the lamp on failed: {write}");
    }
    let lamp = demo.devices.first_mut().ok_or_else(|| anyhow!("no lamp"))?;
    lamp.wait_for(STEP_WAIT, |line| {
        (line.starts_with("written ep=lamp") && line.contains("3311/0/5850")).then_some(())
    })?;
    let read = json(demo.server_http, "GET", "/api/clients/lamp/3311/0/5850", None)?;
    if read["content"]["value"] != true {
        bail!("the lamp does not read as on after the write: {read}");
    }
    let prefix = prefix_of(prefixes, "lamp");
    println!(
        "3. Switch the lamp on: PUT /{prefix}/3311/0/5850 = true through the gateway ({}); the lamp reports the write and reads back on",
        show(&write["status"])
    );
    Ok(())
}

/// Step 4: notifications of an observed temperature flow through the gateway.
fn step_observe(demo: &Demo, prefixes: &[(String, String)]) -> anyhow::Result<()> {
    let mut events = EventStream::open(demo.server_http, "thermo-2")?;
    let observe = json(demo.server_http, "POST", "/api/clients/thermo-2/3303/0/5700/observe", None)?;
    if observe["success"] != true {
        bail!("observing thermo-2's temperature failed: {observe}");
    }
    let prefix = prefix_of(prefixes, "thermo-2");
    println!(
        "4. Observe thermo-2's temperature (/{prefix}/3303/0/5700), first value {} °C; notifications relayed by the gateway:",
        show(&observe["content"]["value"])
    );
    for _ in 0..3 {
        let notification = events.next("NOTIFICATION", STEP_WAIT)?;
        println!("     notification {} = {} °C", show(&notification["res"]), show(&notification["val"]["value"]));
    }
    Ok(())
}

/// Step 5: the gateway's own inventory.
fn step_summary(demo: &Demo) -> anyhow::Result<()> {
    let summary = json(demo.gateway_http, "GET", "/api/summary", None)?;
    let connected = summary["status"]["connected"].as_u64().unwrap_or(0);
    if connected != DEVICES.len() as u64 {
        bail!("the gateway's summary counts {connected} connected End-Devices, not {}: {summary}", DEVICES.len());
    }
    println!(
        "5. The gateway's own REST API: {connected} End-Devices connected, states {} (GET http://{}/api/end-devices)",
        summary["state"], demo.gateway_http
    );
    Ok(())
}

fn tour(demo: &mut Demo) -> anyhow::Result<()> {
    let prefixes = step_inventory(demo).context("step 1, the server's view")?;
    step_read(demo, &prefixes).context("step 2, a read through the gateway")?;
    step_write(demo, &prefixes).context("step 3, a write through the gateway")?;
    step_observe(demo, &prefixes).context("step 4, notifications through the gateway")?;
    step_summary(demo).context("step 5, the gateway's inventory")?;
    Ok(())
}

/// Runs the demo.
pub(crate) fn run(args: &DemoArgs) -> anyhow::Result<()> {
    // From here on Ctrl-C and SIGTERM only set STOP: the children and the directory are
    // cleaned up by their guards whenever the signal comes.
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    runtime.spawn(async {
        crate::server::shutdown_signal().await;
        STOP.store(true, Ordering::Relaxed);
    });
    println!("lwm2m-gw demo: a distant LwM2M server, the gateway and three End-Devices, all on 127.0.0.1");
    let mut demo = start().context("the demo could not start")?;
    println!();
    tour(&mut demo).context("the tour failed")?;
    println!();
    if args.once {
        println!("tour complete");
        return Ok(());
    }
    println!("Everything keeps running. Look around:");
    println!("  distant server REST API  http://{}/api/clients", demo.server_http);
    println!("  gateway REST API         http://{}/api/end-devices", demo.gateway_http);
    println!("  curl http://{}/api/clients/thermo-1/3303/0/5700", demo.server_http);
    println!("Press Ctrl-C to stop.");
    while !STOP.load(Ordering::Relaxed) {
        std::thread::sleep(SLICE);
    }
    println!("stopping");
    drop(demo);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunked_bodies_are_joined_and_stop_at_a_short_chunk() {
        assert_eq!(dechunk("5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n"), "hello world");
        assert_eq!(dechunk("ff\r\nshort"), "");
    }

    #[test]
    fn scalars_show_without_quotes() {
        assert_eq!(show(&Json::String("on".into())), "on");
        assert_eq!(show(&serde_json::json!(21.5)), "21.5");
    }
}
