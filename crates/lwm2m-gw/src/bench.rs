//! `lwm2m-gw bench` (hidden): proxied reads through the gateway against direct reads on the
//! same simulated End-Devices, measured in one run, plus the gateway's memory per End-Device.
//!
//! This process is the distant side. It runs two in-process [`Server`] engines on loopback
//! UDP sockets, each in its own [`transport`] driver:
//!
//! - `north`: the distant server the gateway (`lwm2m-gw run`, a child process of this binary)
//!   registers to; it learns the End-Devices from the gateway's Object 25 and reads them
//!   through the gateway (`GET /{prefix}/o/i/r` on the gateway's registration);
//! - `direct`: the server a second `lwm2m-gw device --count N` (same device code, same endpoint
//!   names, same count) registers to directly; it is the baseline.
//!
//! The gateway's memory per End-Device is the cost of one more End-Device: `(VmRSS after −
//! VmRSS before) / N`, read from `/proc/PID/status` of the gateway child once W = N / 10 warm-up
//! End-Devices (`warm-0000` …) are registered and seen by the distant server (before), and once
//! the N measured ones are too (after). What does not grow with N (the code pages the
//! registration path touches first, the gateway's north registration, tables' first
//! allocations) is in *before*; the same is printed for `RssAnon` (without the binary's pages),
//! and the whole growth from the gateway's start is printed too. Reads go to the N measured
//! End-Devices only.
//!
//! The load generator lives inside each server engine's driver ([`BenchEngine`]): a closed loop
//! keeping `--concurrency` reads outstanding, round-robin over the devices, until `--reads`
//! answers or `--max-seconds` passed. Latency is taken from just before [`Server::send`] to the
//! engine seeing the answer. Phases alternate direct / proxied for `--rounds` rounds so a
//! shared machine's load drifts onto both. Nothing in the test suite runs this.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context as _};
use clap::Args;
use coap::{EndpointConfig, Engine, Peer, Transmit};
use lwm2m::{EndpointName, PrefixedPath, Registry};
use lwm2m_server::{DmRequest, RequestId, RequestOptions, Server, ServerConfig, ServerEvent};
use tokio::net::UdpSocket;
use tokio::sync::oneshot;
use transport::{DriverConfig, DriverHandle};

use crate::demo::{Proc, TempDir};

/// Flags of `lwm2m-gw bench`.
#[derive(Debug, Args)]
pub(crate) struct BenchArgs {
    /// End-Devices behind the gateway (and as many registered directly for the baseline).
    #[arg(long, value_name = "N", default_value_t = 100, value_parser = clap::value_parser!(u32).range(1..=20_000))]
    pub(crate) count: u32,
    /// Reads kept outstanding by the load generator.
    #[arg(long, value_name = "C", default_value_t = 32, value_parser = clap::value_parser!(u32).range(1..=1024))]
    pub(crate) concurrency: u32,
    /// Reads per measured phase (one phase = direct or proxied in one round).
    #[arg(long, value_name = "R", default_value_t = 10_000)]
    pub(crate) reads: u64,
    /// Upper bound on one measured phase, in seconds.
    #[arg(long, value_name = "S", default_value_t = 30)]
    pub(crate) max_seconds: u64,
    /// Rounds of (direct phase, proxied phase).
    #[arg(long, value_name = "K", default_value_t = 3, value_parser = clap::value_parser!(u32).range(1..=100))]
    pub(crate) rounds: u32,
    /// NSTART of the distant server toward the gateway (RFC 7252 §4.7; default: --concurrency).
    /// All proxied reads go to one peer, the gateway: with 1 they are serialised.
    #[arg(long, value_name = "K")]
    pub(crate) north_nstart: Option<usize>,
    /// Resource read on every device.
    #[arg(long, value_name = "PATH", default_value = "/3303/0/5700")]
    pub(crate) path: String,
    /// Delay between starting two devices, in microseconds (`lwm2m-gw device --ramp-us`).
    #[arg(long, value_name = "US", default_value_t = 1000)]
    pub(crate) ramp_us: u64,
    /// Temperature tick of the simulated devices, in milliseconds (`lwm2m-gw device --tick-ms`).
    #[arg(long, value_name = "MS", default_value_t = 1000)]
    pub(crate) tick_ms: u64,
    /// Pins the gateway to this CPU and every other process of the run (this one and the
    /// devices) to the remaining ones, with `taskset`: the gateway gets a core of its own, as on
    /// its own box, instead of sharing every core with the End-Devices and the distant server.
    #[arg(long, value_name = "CPU")]
    pub(crate) gateway_cpu: Option<usize>,
}

/// How long the children may take to start, register and be seen.
const SETUP_WAIT: Duration = Duration::from_secs(180);
/// How long one read may take before it counts as failed.
const READ_TIMEOUT: Duration = Duration::from_secs(5);
/// Pause before a VmRSS reading so the gateway finishes what the last registration started.
const SETTLE: Duration = Duration::from_secs(2);

/// What a measured phase gives back.
#[derive(Debug, Default)]
struct PhaseResult {
    ok: u64,
    failed: u64,
    first_failure: Option<String>,
    elapsed: Duration,
    latencies: Vec<Duration>,
}

/// One running phase of the closed-loop load.
#[derive(Debug)]
struct Load {
    targets: Arc<Vec<EndpointName>>,
    path: PrefixedPath,
    next: usize,
    concurrency: usize,
    limit: u64,
    issued: u64,
    deadline: Instant,
    started: Instant,
    inflight: HashMap<RequestId, Instant>,
    result: PhaseResult,
    done: Option<oneshot::Sender<PhaseResult>>,
}

/// A [`Server`] engine with the load generator inside, so issuing the next read costs no
/// channel hop.
#[derive(Debug)]
struct BenchEngine {
    server: Server,
    load: Option<Load>,
}

impl BenchEngine {
    fn new(nstart: usize, seed: u8) -> Self {
        let endpoint = EndpointConfig { nstart, max_queued_requests: 4096, ..EndpointConfig::default() };
        let config = ServerConfig { endpoint: Arc::new(endpoint), gateway_nstart: nstart, ..ServerConfig::default() };
        Self { server: Server::new(config, Registry::bundled(), [seed; 32]), load: None }
    }

    /// Starts a phase; the result arrives on `done` when the last answer is in.
    fn start(&mut self, now: Instant, mut load: Load) {
        load.started = Instant::now();
        self.load = Some(load);
        self.top_up(now);
    }

    fn top_up(&mut self, now: Instant) {
        let Some(load) = self.load.as_mut() else { return };
        while load.inflight.len() < load.concurrency && load.issued < load.limit && Instant::now() < load.deadline {
            let Some(target) = load.targets.get(load.next % load.targets.len().max(1)) else { break };
            load.next = load.next.wrapping_add(1);
            load.issued += 1;
            let read = DmRequest::Read { path: load.path.clone(), format: None };
            let options = RequestOptions { timeout: Some(READ_TIMEOUT), ..RequestOptions::default() };
            let sent_at = Instant::now();
            match self.server.send(now, target, read, options) {
                Ok(id) => {
                    load.inflight.insert(id, sent_at);
                }
                Err(error) => {
                    load.result.failed += 1;
                    load.result.first_failure.get_or_insert_with(|| format!("send to {target}: {error}"));
                    break;
                }
            }
        }
        if load.inflight.is_empty() {
            load.result.elapsed = load.started.elapsed();
            if let Some(mut finished) = self.load.take() {
                if let Some(done) = finished.done.take() {
                    let _ = done.send(std::mem::take(&mut finished.result));
                }
            }
        }
    }

    fn drain(&mut self, now: Instant) {
        let mut answered = false;
        while let Some(event) = self.server.poll_event() {
            let ServerEvent::Response { id, result, endpoint } = event else { continue };
            let Some(load) = self.load.as_mut() else { continue };
            let Some(sent_at) = load.inflight.remove(&id) else { continue };
            answered = true;
            match result {
                Ok(response) if response.is_success() => {
                    load.result.ok += 1;
                    load.result.latencies.push(sent_at.elapsed());
                }
                Ok(response) => {
                    load.result.failed += 1;
                    load.result.first_failure.get_or_insert_with(|| format!("{endpoint} answered {}", response.code));
                }
                Err(failure) => {
                    load.result.failed += 1;
                    load.result.first_failure.get_or_insert_with(|| format!("{endpoint}: {failure}"));
                }
            }
        }
        if answered {
            self.top_up(now);
        }
    }
}

impl Engine for BenchEngine {
    fn handle_datagram(&mut self, now: Instant, peer: Peer, datagram: &[u8]) {
        self.server.handle_datagram(now, peer, datagram);
        self.drain(now);
    }

    fn handle_timeout(&mut self, now: Instant) {
        self.server.handle_timeout(now);
        self.drain(now);
    }

    fn poll_transmit(&mut self, now: Instant, buf: &mut Vec<u8>) -> Option<Transmit> {
        self.server.poll_transmit(now, buf)
    }

    fn poll_timeout(&self) -> Option<Instant> {
        self.server.poll_timeout()
    }
}

/// One server engine in its driver.
struct Face {
    handle: DriverHandle<BenchEngine>,
    addr: SocketAddr,
}

impl Face {
    async fn bind() -> anyhow::Result<UdpSocket> {
        UdpSocket::bind("127.0.0.1:0").await.context("cannot bind a loopback udp socket")
    }

    fn start(socket: UdpSocket, nstart: usize, seed: u8) -> anyhow::Result<Self> {
        let config = DriverConfig { command_capacity: 64, ..DriverConfig::default() };
        let (handle, _task) =
            transport::spawn(BenchEngine::new(nstart, seed), socket, |_: &mut BenchEngine| {}, config)
                .context("cannot start a driver")?;
        let addr = handle.local_addr();
        Ok(Self { handle, addr })
    }

    async fn call<R: Send + 'static>(
        &self,
        f: impl FnOnce(&mut BenchEngine, Instant) -> R + Send + 'static,
    ) -> anyhow::Result<R> {
        self.handle.call(f).await.map_err(|_| anyhow::anyhow!("a server driver stopped"))
    }

    /// Waits until `count(engine)` reaches `n`.
    async fn wait_until(
        &self,
        what: &str,
        n: usize,
        count: impl Fn(&BenchEngine) -> usize + Send + Sync + Clone + 'static,
    ) -> anyhow::Result<()> {
        let deadline = Instant::now() + SETUP_WAIT;
        loop {
            let count = count.clone();
            let seen = self.call(move |e, _| count(e)).await?;
            if seen >= n {
                return Ok(());
            }
            if Instant::now() > deadline {
                bail!("{what}: {seen} of {n} after {} s", SETUP_WAIT.as_secs());
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Runs one measured phase.
    async fn phase(
        &self,
        targets: &Arc<Vec<EndpointName>>,
        path: &PrefixedPath,
        args: &BenchArgs,
        reads: u64,
    ) -> anyhow::Result<PhaseResult> {
        let (done, result) = oneshot::channel();
        let max = Duration::from_secs(args.max_seconds);
        let load = Load {
            targets: targets.clone(),
            path: path.clone(),
            next: 0,
            concurrency: usize::try_from(args.concurrency).unwrap_or(1),
            limit: reads,
            issued: 0,
            deadline: Instant::now() + max,
            started: Instant::now(),
            inflight: HashMap::new(),
            result: PhaseResult::default(),
            done: Some(done),
        };
        self.call(move |engine, now| engine.start(now, load)).await?;
        tokio::time::timeout(max + READ_TIMEOUT + Duration::from_secs(5), result)
            .await
            .context("a phase did not finish in time")?
            .context("a phase was dropped")
    }
}

/// Resident memory of `pid` in KiB: all of it (`VmRSS`) and its anonymous part (`RssAnon`: heap
/// and stacks, without the pages of the binary it has touched).
#[derive(Debug, Clone, Copy)]
struct Rss {
    all: u64,
    anon: u64,
}

impl Rss {
    fn of(pid: u32) -> anyhow::Result<Self> {
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).context("cannot read /proc/PID/status")?;
        let field = |name: &str| {
            status
                .lines()
                .find_map(|l| l.strip_prefix(name))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
                .with_context(|| format!("no {name} in /proc/PID/status"))
        };
        Ok(Self { all: field("VmRSS:")?, anon: field("RssAnon:")? })
    }
}

/// The processes whose CPU time is reported, in the order of [`Totals::cpu_ms`].
const PROCESSES: [&str; 4] = ["harness", "gateway", "devices behind the gateway", "devices direct"];

/// CPU time (user + system) of the process whose `stat` file is `stat`, in milliseconds
/// (`/proc` counts in USER_HZ = 100 ticks per second on Linux).
fn cpu_ms(stat: &str) -> anyhow::Result<u64> {
    let text = std::fs::read_to_string(stat).with_context(|| format!("cannot read {stat}"))?;
    // After the command name in parentheses: state is field 3, utime 14, stime 15.
    let rest = text.rsplit_once(')').map(|(_, r)| r).context("no command name in stat")?;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let tick = |i: usize| fields.get(i).and_then(|f| f.parse::<u64>().ok()).context("short stat line");
    Ok((tick(11)? + tick(12)?) * 10)
}

fn cpu_snapshot(stats: &[String; PROCESSES.len()]) -> anyhow::Result<[u64; PROCESSES.len()]> {
    let mut out = [0; PROCESSES.len()];
    for (slot, stat) in out.iter_mut().zip(stats) {
        *slot = cpu_ms(stat)?;
    }
    Ok(out)
}

/// The CPUs this process may run on (`Cpus_allowed_list` of `/proc/self/status`, e.g. `0-3,6`).
fn allowed_cpus() -> anyhow::Result<Vec<usize>> {
    let status = std::fs::read_to_string("/proc/self/status").context("cannot read /proc/self/status")?;
    let list = status
        .lines()
        .find_map(|l| l.strip_prefix("Cpus_allowed_list:"))
        .context("no Cpus_allowed_list in /proc/self/status")?;
    let mut cpus = Vec::new();
    for range in list.trim().split(',').filter(|r| !r.is_empty()) {
        let bound = |b: &str| b.trim().parse::<usize>().with_context(|| format!("bad CPU list {list:?}"));
        match range.split_once('-') {
            Some((first, last)) => cpus.extend(bound(first)?..=bound(last)?),
            None => cpus.push(bound(range)?),
        }
    }
    Ok(cpus)
}

/// Puts every thread of `pid` on `cpus` (a `taskset` list such as `1,2`).
fn pin(pid: u32, cpus: &str) -> anyhow::Result<()> {
    let status = std::process::Command::new("taskset")
        .args(["-a", "-p", "-c", cpus, &pid.to_string()])
        .stdout(std::process::Stdio::null())
        .status()
        .context("cannot run taskset (util-linux) for --gateway-cpu")?;
    if !status.success() {
        bail!("taskset -a -p -c {cpus} {pid} failed: {status}");
    }
    Ok(())
}

/// For `--gateway-cpu`: moves this process (and so the devices it starts later) off `cpu`;
/// returns the CPUs left to everyone else.
fn keep_off(cpu: usize) -> anyhow::Result<String> {
    let allowed = allowed_cpus()?;
    if !allowed.contains(&cpu) {
        bail!("--gateway-cpu {cpu}: this process may only run on CPUs {allowed:?}");
    }
    let others: Vec<String> = allowed.iter().filter(|c| **c != cpu).map(ToString::to_string).collect();
    if others.is_empty() {
        bail!("--gateway-cpu {cpu}: no CPU left for the devices and the distant server");
    }
    let others = others.join(",");
    pin(std::process::id(), &others)?;
    Ok(others)
}

fn strings(args: &[&str]) -> Vec<String> {
    args.iter().map(|s| (*s).to_owned()).collect()
}

/// Runs the benchmark and prints its report.
pub(crate) fn run(args: &BenchArgs) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    runtime.block_on(bench(args))
}

/// Totals of the phases of one mode.
#[derive(Debug, Default)]
struct Totals {
    ok: u64,
    failed: u64,
    elapsed: Duration,
    latencies: Vec<Duration>,
    per_round: Vec<f64>,
    first_failure: Option<String>,
    /// CPU time (ms) each process of [`PROCESSES`] spent during this mode's phases.
    cpu_ms: [u64; PROCESSES.len()],
}

impl Totals {
    fn add(&mut self, phase: PhaseResult, cpu_before: [u64; PROCESSES.len()], cpu_after: [u64; PROCESSES.len()]) {
        for ((total, before), after) in self.cpu_ms.iter_mut().zip(cpu_before).zip(cpu_after) {
            *total += after.saturating_sub(before);
        }
        self.per_round.push(rate(phase.ok, phase.elapsed));
        self.ok += phase.ok;
        self.failed += phase.failed;
        self.elapsed += phase.elapsed;
        self.latencies.extend(phase.latencies);
        if self.first_failure.is_none() {
            self.first_failure = phase.first_failure;
        }
    }

    fn rate(&self) -> f64 {
        rate(self.ok, self.elapsed)
    }

    fn percentile(&mut self, p: f64) -> Duration {
        self.latencies.sort_unstable();
        let last = self.latencies.len().saturating_sub(1);
        // Nearest rank; the cast is bounded by `last`.
        #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss, clippy::cast_precision_loss)]
        let rank = ((p * last as f64).round() as usize).min(last);
        self.latencies.get(rank).copied().unwrap_or_default()
    }
}

#[allow(clippy::cast_precision_loss)]
fn rate(ok: u64, elapsed: Duration) -> f64 {
    let secs = elapsed.as_secs_f64();
    if secs > 0.0 {
        ok as f64 / secs
    } else {
        0.0
    }
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

#[allow(clippy::too_many_lines, clippy::cast_precision_loss)]
async fn bench(args: &BenchArgs) -> anyhow::Result<()> {
    let path: PrefixedPath = args.path.parse().map_err(|e| anyhow::anyhow!("--path {}: {e}", args.path))?;
    let n = args.count;
    let concurrency = usize::try_from(args.concurrency).unwrap_or(1);
    let north_nstart = args.north_nstart.unwrap_or(concurrency).max(1);
    let dir = TempDir::new()?;
    let others = args.gateway_cpu.map(keep_off).transpose()?;

    let direct = Face::start(Face::bind().await?, 1, 11)?;
    // The distant server answers only once the warm-up End-Devices are registered to the
    // gateway (its Register waits in the socket buffer meanwhile; the gateway retransmits it),
    // so the gateway's first `/25` is complete.
    let north_socket = Face::bind().await?;
    let north_uri = format!("coap://{}", north_socket.local_addr().context("socket without address")?);
    let data = dir.0.join("gateway");
    let mut gateway = Proc::spawn(
        "gateway",
        &strings(&["run", "--endpoint", "bench-gw", "--south", "127.0.0.1:0", "--north", &north_uri, "--http", "off"])
            .into_iter()
            .chain(["--data-dir".to_owned(), data.display().to_string()])
            .collect::<Vec<_>>(),
        &dir.0,
    )?;
    let gateway_pid = gateway.child.id();
    if let Some(cpu) = args.gateway_cpu {
        pin(gateway_pid, &cpu.to_string())?;
    }
    let south = gateway.address("south")?;
    tokio::time::sleep(SETTLE).await;
    let started = Rss::of(gateway_pid)?;

    let device_args = |name: &str, count: u32, server: SocketAddr| {
        strings(&["device", "--endpoint", name, "--count", &count.to_string()])
            .into_iter()
            .chain(["--server".to_owned(), format!("coap://{server}")])
            .chain(["--ramp-us".to_owned(), args.ramp_us.to_string()])
            .chain(["--tick-ms".to_owned(), args.tick_ms.to_string()])
            .collect::<Vec<_>>()
    };
    let all_registered = |l: &str| l.starts_with("all-registered ").then_some(());
    let warm_count = (n / 10).max(1);
    let warm_usize = usize::try_from(warm_count).unwrap_or(usize::MAX);
    let mut warm = Proc::spawn("warm-up-devices", &device_args("warm", warm_count, south), &dir.0)?;
    warm.wait_for(SETUP_WAIT, all_registered)?;
    let north = Face::start(north_socket, north_nstart, 12)?;
    gateway.wait_for(SETUP_WAIT, |l| l.starts_with("registered to ").then_some(()))?;
    north
        .wait_until("warm-up end devices seen by the distant server", warm_usize, |e| e.server.end_devices().count())
        .await?;
    tokio::time::sleep(SETTLE).await;
    let before = Rss::of(gateway_pid)?;

    let registering = Instant::now();
    let mut behind = Proc::spawn("devices-behind-gateway", &device_args("bench", n, south), &dir.0)?;
    behind.wait_for(SETUP_WAIT, all_registered)?;
    let n_usize = usize::try_from(n).unwrap_or(usize::MAX);
    north
        .wait_until("end devices seen by the distant server", warm_usize + n_usize, |e| e.server.end_devices().count())
        .await?;
    let seen_after = registering.elapsed();
    tokio::time::sleep(SETTLE).await;
    let after = Rss::of(gateway_pid)?;

    let mut direct_devices = Proc::spawn("devices-direct", &device_args("bench", n, direct.addr), &dir.0)?;
    direct_devices.wait_for(SETUP_WAIT, all_registered)?;
    direct.wait_until("direct registrations", n_usize, |e| e.server.registrations().count()).await?;

    let proxied_targets: Arc<Vec<EndpointName>> = Arc::new(
        north
            .call(|e, _| {
                e.server
                    .end_devices()
                    .filter(|d| d.endpoint.as_str().starts_with("bench-"))
                    .map(|d| d.endpoint.clone())
                    .collect::<Vec<_>>()
            })
            .await?,
    );
    let direct_targets: Arc<Vec<EndpointName>> =
        Arc::new(direct.call(|e, _| e.server.registrations().map(|r| r.endpoint.clone()).collect::<Vec<_>>()).await?);

    // Warm-up: every device read once each way (first contact, allocations), not measured.
    let warm = u64::from(n);
    for (face, targets) in [(&direct, &direct_targets), (&north, &proxied_targets)] {
        let phase = face.phase(targets, &path, args, warm).await?;
        if phase.failed > 0 {
            bail!("warm-up: {} of {warm} reads failed ({})", phase.failed, phase.first_failure.unwrap_or_default());
        }
    }

    let stats = [
        "/proc/self/stat".to_owned(),
        format!("/proc/{gateway_pid}/stat"),
        format!("/proc/{}/stat", behind.child.id()),
        format!("/proc/{}/stat", direct_devices.child.id()),
    ];
    let (mut d, mut p) = (Totals::default(), Totals::default());
    for _ in 0..args.rounds {
        let cpu = cpu_snapshot(&stats)?;
        let phase = direct.phase(&direct_targets, &path, args, args.reads).await?;
        d.add(phase, cpu, cpu_snapshot(&stats)?);
        let cpu = cpu_snapshot(&stats)?;
        let phase = north.phase(&proxied_targets, &path, args, args.reads).await?;
        p.add(phase, cpu, cpu_snapshot(&stats)?);
    }
    let after_load = Rss::of(gateway_pid)?;

    let per_device = |f: fn(&Rss) -> u64| (f(&after).saturating_sub(f(&before))) as f64 / f64::from(n);
    let (per_device, anon_per_device) = (per_device(|r| r.all), per_device(|r| r.anon));
    let from_start = |f: fn(&Rss) -> u64| (f(&after).saturating_sub(f(&started))) as f64 / f64::from(n + warm_count);
    let (all_from_start, anon_from_start) = (from_start(|r| r.all), from_start(|r| r.anon));
    let ratio = if d.rate() > 0.0 { p.rate() / d.rate() } else { 0.0 };
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    println!("lwm2m-gw bench: N={n} concurrency={concurrency} north-nstart={north_nstart} path={} rounds={} reads/phase={} read-timeout={}s",
        args.path, args.rounds, args.reads, READ_TIMEOUT.as_secs());
    match (args.gateway_cpu, &others) {
        (Some(cpu), Some(others)) => println!("CPUs: gateway on {cpu}, this process and the devices on {others}"),
        _ => println!("CPUs: every process may run on any CPU"),
    }
    println!("the {n} End-Devices seen by the distant server {:.1} s after they started", seen_after.as_secs_f64());
    println!();
    println!("| mode | reads ok | failed | reads/s | per round | p50 ms | p99 ms |");
    println!("|---|---:|---:|---:|---|---:|---:|");
    for (name, t) in [("direct", &mut d), ("proxied", &mut p)] {
        let rounds: Vec<String> = t.per_round.iter().map(|r| format!("{r:.0}")).collect();
        let (p50, p99) = (t.percentile(0.50), t.percentile(0.99));
        println!(
            "| {name} | {} | {} | {:.0} | {} | {:.2} | {:.2} |",
            t.ok,
            t.failed,
            t.rate(),
            rounds.join(" / "),
            ms(p50),
            ms(p99)
        );
    }
    println!();
    println!("CPU time per successful read, in microseconds (user + system, from /proc/PID/stat):");
    println!();
    println!("| mode | {} | all | CPU use (cores) |", PROCESSES.join(" | "));
    println!("|---|{}---:|---:|", "---:|".repeat(PROCESSES.len()));
    for (name, t) in [("direct", &d), ("proxied", &p)] {
        let per_read = |ms: u64| if t.ok > 0 { ms as f64 * 1000.0 / t.ok as f64 } else { 0.0 };
        let cells: Vec<String> = t.cpu_ms.iter().map(|ms| format!("{:.1}", per_read(*ms))).collect();
        let all: u64 = t.cpu_ms.iter().sum();
        let cores = if t.elapsed.is_zero() { 0.0 } else { all as f64 / 1000.0 / t.elapsed.as_secs_f64() };
        println!("| {name} | {} | {:.1} | {cores:.2} |", cells.join(" | "), per_read(all));
    }
    println!();
    println!("proxied/direct throughput: {ratio:.2}");
    println!(
        "gateway VmRSS: {} KiB started, {} KiB with {warm_count} warm-up End-Devices, {} KiB with {n} more, \
         {} KiB after the load; {per_device:.2} KiB per End-Device ({all_from_start:.2} counting from the start)",
        started.all, before.all, after.all, after_load.all
    );
    println!(
        "gateway RssAnon: {} KiB started, {} KiB with {warm_count} warm-up End-Devices, {} KiB with {n} more, \
         {} KiB after the load; {anon_per_device:.2} KiB per End-Device ({anon_from_start:.2} counting from the start)",
        started.anon, before.anon, after.anon, after_load.anon
    );
    println!("load average at the end: {}", load.trim());
    for (name, t) in [("direct", &d), ("proxied", &p)] {
        if let Some(failure) = &t.first_failure {
            println!("first {name} failure: {failure}");
        }
    }
    drop((behind, warm, direct_devices, gateway));
    direct.handle.shutdown();
    north.handle.shutdown();
    Ok(())
}
