//! `lwm2m-gw device`: simulated End-Devices, each a generic LwM2M client with Device (3),
//! Connectivity Monitoring (4), Temperature (3303), Light Control (3311) and Firmware Update (5)
//! objects, for demos, end-to-end tests and load.
//!
//! Each device is one [`engine::DeviceEngine`] on its own UDP socket, run by one
//! [`transport::spawn`] driver task (plain UDP, or DTLS with PSK / X.509 through
//! [`transport::DtlsClient`]). One shared ticker task sends every device a temperature reading
//! command through its driver's command channel, so no engine reads the clock.
//!
//! Standard output carries one line per milestone, `key=value` separated by spaces, for tests
//! and scripts to wait on:
//!
//! ```text
//! started devices=N
//! registered ep=EP server=1 location=/rd/x lwm2m=1.1
//! all-registered devices=N elapsed_ms=T
//! registration-failed ep=EP server=1 code=4.03|none
//! updated ep=EP server=1          deregistered ep=EP server=1     sleeping ep=EP server=1
//! bootstrap-finished ep=EP        bootstrap-failed ep=EP reason="…"
//! written ep=EP path=/3311/0/5850
//! firmware-downloaded ep=EP version=V   firmware-failed ep=EP result=R
//! firmware-updated ep=EP version=V      rebooting ep=EP
//! transport ep=EP uri=URI dtls=true|false   transport-failed ep=EP uri=URI reason="…"
//! sent ep=EP server=1      send-failed ep=EP server=1 code=4.04|none      send-muted ep=EP server=1
//! summary devices=N registered=R registrations=X failures=F deregistered=D elapsed_ms=T
//! ```
//!
//! `summary` is printed on SIGINT/SIGTERM, after every device has tried to de-register
//! (paced like `--ramp-us`, then bounded to five seconds).

mod engine;
mod firmware;
mod objects;
#[cfg(test)]
mod sim_tests;

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, ToSocketAddrs};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{bail, Context};
use clap::Args;
use lwm2m::{EndpointName, Registry, Value, Version};
use lwm2m_client::objects::connectivity::{self, ConnectivityInfo};
use lwm2m_client::objects::device::{DeviceInfo, DeviceObject};
use lwm2m_client::objects::security::{self, SecurityInstance, SecurityMode};
use lwm2m_client::objects::server::{ServerInstance, ServerObject};
use lwm2m_client::{Client, ClientConfig, ObjectTree, ResourceValue, ServerId};
use openssl::pkey::PKey;
use openssl::x509::X509;
use transport::{
    CertificateCredentials, ClientCredentials, DriverConfig, DriverHandle, DtlsClient, DtlsConfig, Secured,
};

use self::engine::{DeviceEngine, Milestone};
use self::objects::{DeviceState, FirmwareObject, LightObject, Shared, TemperatureObject};

/// Flags of `lwm2m-gw device`.
#[derive(Debug, Args)]
pub(crate) struct DeviceArgs {
    /// LwM2M server URI (`coap://HOST:PORT` or `coaps://HOST:PORT` with --psk-* or --x509-*);
    /// with --bootstrap, the bootstrap server's URI.
    #[arg(long, value_name = "URI")]
    pub(crate) server: String,
    /// Endpoint client name (`ep=`). With --count N > 1 the devices are `EP-0000`, `EP-0001` …
    /// (at least four digits).
    #[arg(long, value_name = "EP")]
    pub(crate) endpoint: String,
    /// PSK identity for DTLS (requires --psk-key and a coaps:// URI).
    #[arg(long, value_name = "ID", requires = "psk_key")]
    pub(crate) psk_identity: Option<String>,
    /// PSK as hex (requires --psk-identity).
    #[arg(long, value_name = "HEX", requires = "psk_identity")]
    pub(crate) psk_key: Option<String>,
    /// Our X.509 certificate (PEM, EC P-256) for DTLS; requires --x509-key and --x509-ca.
    #[arg(long, value_name = "FILE", requires_all = ["x509_key", "x509_ca"], conflicts_with = "psk_identity")]
    pub(crate) x509_cert: Option<PathBuf>,
    /// Private key of --x509-cert (PEM).
    #[arg(long, value_name = "FILE", requires = "x509_cert")]
    pub(crate) x509_key: Option<PathBuf>,
    /// CA certificate (PEM) the server's certificate must chain to.
    #[arg(long, value_name = "FILE", requires = "x509_cert")]
    pub(crate) x509_ca: Option<PathBuf>,
    /// The URI is a bootstrap server: devices start with only a bootstrap account and learn
    /// their server through Bootstrap (the DTLS flags apply to the bootstrap server; a
    /// provisioned coaps:// server is reached with the PSK or X.509 credentials of its
    /// Security instance). One server at a time.
    #[arg(long)]
    pub(crate) bootstrap: bool,
    /// Highest LwM2M version to register with (falls back to 1.0 when the server refuses 1.1).
    #[arg(long = "lwm2m", value_name = "1.0|1.1", default_value = "1.1", value_parser = ["1.0", "1.1"])]
    pub(crate) lwm2m_version: String,
    /// Registration lifetime in seconds (`lt=`, /1/0/1).
    #[arg(long, value_name = "S", default_value_t = 300)]
    pub(crate) lifetime: u32,
    /// Register with binding `UQ` (queue mode).
    #[arg(long)]
    pub(crate) queue_mode: bool,
    /// How many devices to run in this process, one UDP socket (file descriptor, see
    /// `ulimit -n`) each. For large counts against one server, --ramp-us spreads the
    /// Registers so the server's socket buffer does not overflow.
    #[arg(long, value_name = "N", default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=100_000))]
    pub(crate) count: u32,
    /// Short Server ID of the configured server (/0/0/10, /1/0/0; not with --bootstrap).
    #[arg(long, value_name = "ID", default_value_t = 1, value_parser = clap::value_parser!(u16).range(1..=65534))]
    pub(crate) short_server_id: u16,
    /// Interval between temperature readings, in milliseconds.
    #[arg(long, value_name = "MS", default_value_t = 1000, value_parser = clap::value_parser!(u64).range(10..))]
    pub(crate) tick_ms: u64,
    /// Seed of the temperature noise (device i uses seed + i).
    #[arg(long, value_name = "N", default_value_t = 0)]
    pub(crate) seed: u64,
    /// Firmware version the devices start with (/3/0/3).
    #[arg(long, value_name = "V", default_value = "1.0.0")]
    pub(crate) firmware_version: String,
    /// How long a firmware Update (/5/0/2) takes, in milliseconds.
    #[arg(long, value_name = "MS", default_value_t = 2000)]
    pub(crate) update_delay_ms: u64,
    /// Delay between starting two devices, in microseconds (spreads a large --count).
    #[arg(long, value_name = "US", default_value_t = 0)]
    pub(crate) ramp_us: u64,
    /// Every SECONDS, Send (`POST /dp`, SenML CBOR) the current temperature (/3303/0/5700) and
    /// battery level (/3/0/9) to every server the device is registered with. A server only
    /// receives them while its Mute Send resource (/1/x/23) is false; it starts true, so either
    /// pass --unmute-send or let the server Write /1/0/23 = false (with --bootstrap, the
    /// bootstrap configuration or a later Write sets /1/x/23). Muted servers are reported once
    /// as `send-muted`.
    #[arg(long, value_name = "SECONDS", value_parser = clap::value_parser!(u64).range(1..=86_400))]
    pub(crate) send_interval: Option<u64>,
    /// Start with Mute Send (/1/0/23) false, so the configured server accepts Send right away
    /// (not with --bootstrap: the bootstrap server provisions /1/x/23).
    #[arg(long, conflicts_with = "bootstrap")]
    pub(crate) unmute_send: bool,
}

/// How long the devices get to de-register after the last DELETE went out.
const DEREGISTER_WAIT: Duration = Duration::from_secs(5);

/// Shared counters for the summary.
#[derive(Debug, Default)]
struct Counters {
    registered_devices: AtomicUsize,
    registrations: AtomicU64,
    failures: AtomicU64,
    deregistered: AtomicU64,
}

/// What every device of this run shares.
struct Setup {
    uri: String,
    server_addr: SocketAddr,
    credentials: Option<ClientCredentials>,
    security: SecurityTemplate,
    bootstrap: bool,
    version: Version,
    lifetime: u32,
    binding: &'static str,
    short_server_id: ServerId,
    /// The initial `/1/0/23` Mute Send.
    mute_send: bool,
    firmware_version: String,
    update_delay: Duration,
    registry: Arc<Registry>,
    /// Unix time at `epoch`, so the Device clock needs no clock read later.
    epoch: (Instant, i64),
}

/// The credentials as they go into /0/x/2..5.
#[derive(Clone)]
struct SecurityTemplate {
    mode: SecurityMode,
    identity: Vec<u8>,
    secret_key: Vec<u8>,
    server_public_key: Vec<u8>,
}

/// Runs `lwm2m-gw device` until SIGINT/SIGTERM.
pub(crate) fn run(args: &DeviceArgs) -> anyhow::Result<()> {
    init_logging();
    let setup = Arc::new(prepare(args)?);
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().context("starting tokio")?;
    runtime.block_on(run_devices(args, setup))
}

/// Logs to stderr, level from RUST_LOG (default `warn`: a thousand devices at `info` drown
/// the milestone lines' reader).
fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    let _ = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).try_init();
}

fn prepare(args: &DeviceArgs) -> anyhow::Result<Setup> {
    let (scheme, rest) = args.server.split_once("://").context("--server must be a coap:// or coaps:// uri")?;
    let secure = match scheme {
        "coap" => false,
        "coaps" => true,
        other => bail!("--server scheme {other:?} is not coap or coaps"),
    };
    let authority = rest.split(['/', '?']).next().unwrap_or_default();
    let default_port = if secure { 5684 } else { 5683 };
    let server_addr = resolve(authority, default_port)?;
    let uri = format!("{scheme}://{server_addr}");
    let (credentials, security) = credentials(args)?;
    match (secure, credentials.is_some()) {
        (true, false) => bail!("a coaps:// server needs --psk-identity/--psk-key or --x509-cert/--x509-key/--x509-ca"),
        (false, true) => bail!("dtls credentials given for a coap:// server; use coaps://"),
        _ => {}
    }
    let version: Version = args.lwm2m_version.parse().context("--lwm2m")?;
    EndpointName::new(&args.endpoint).context("--endpoint is not a valid endpoint name")?;
    let unix = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(0));
    Ok(Setup {
        uri,
        server_addr,
        credentials,
        security,
        bootstrap: args.bootstrap,
        version,
        lifetime: args.lifetime,
        binding: if args.queue_mode { "UQ" } else { "U" },
        short_server_id: ServerId(args.short_server_id),
        mute_send: !args.unmute_send,
        firmware_version: args.firmware_version.clone(),
        update_delay: Duration::from_millis(args.update_delay_ms),
        registry: Arc::new(Registry::bundled()),
        epoch: (Instant::now(), unix),
    })
}

/// `host:port` (IP literal, `[v6]:port` or a name resolved once here) to an address.
fn resolve(authority: &str, default_port: u16) -> anyhow::Result<SocketAddr> {
    if let Ok(addr) = authority.parse::<SocketAddr>() {
        return Ok(addr);
    }
    if let Ok(ip) = authority.trim_start_matches('[').trim_end_matches(']').parse::<IpAddr>() {
        return Ok(SocketAddr::new(ip, default_port));
    }
    let with_port = if authority.contains(':') { authority.to_owned() } else { format!("{authority}:{default_port}") };
    with_port
        .to_socket_addrs()
        .with_context(|| format!("resolving server {authority:?}"))?
        .next()
        .with_context(|| format!("server {authority:?} has no address"))
}

fn credentials(args: &DeviceArgs) -> anyhow::Result<(Option<ClientCredentials>, SecurityTemplate)> {
    let nosec = SecurityTemplate {
        mode: SecurityMode::NoSec,
        identity: Vec::new(),
        secret_key: Vec::new(),
        server_public_key: Vec::new(),
    };
    if let (Some(identity), Some(key)) = (&args.psk_identity, &args.psk_key) {
        let key = hex::decode(key.trim()).context("--psk-key is not hex")?;
        let template = SecurityTemplate {
            mode: SecurityMode::Psk,
            identity: identity.as_bytes().to_vec(),
            secret_key: key.clone(),
            server_public_key: Vec::new(),
        };
        return Ok((Some(ClientCredentials::Psk { identity: identity.clone(), key }), template));
    }
    if let (Some(cert), Some(key), Some(ca)) = (&args.x509_cert, &args.x509_key, &args.x509_ca) {
        let read = |p: &PathBuf| std::fs::read(p).with_context(|| format!("reading {}", p.display()));
        let certificate =
            X509::from_pem(&read(cert)?).with_context(|| format!("{} is no PEM certificate", cert.display()))?;
        let private_key = PKey::private_key_from_pem(&read(key)?)
            .with_context(|| format!("{} is no PEM private key", key.display()))?;
        let trusted =
            X509::stack_from_pem(&read(ca)?).with_context(|| format!("{} holds no PEM certificate", ca.display()))?;
        let template = SecurityTemplate {
            mode: SecurityMode::Certificate,
            identity: certificate.to_der().context("encoding the certificate")?,
            secret_key: private_key.private_key_to_der().context("encoding the private key")?,
            server_public_key: trusted
                .first()
                .map(|c| c.to_der())
                .transpose()
                .context("encoding the ca")?
                .unwrap_or_default(),
        };
        let credentials =
            CertificateCredentials { certificate, chain: Vec::new(), private_key, trusted, authorize: None };
        return Ok((Some(ClientCredentials::Certificate(credentials)), template));
    }
    Ok((None, nosec))
}

/// The endpoint name of device `index` of `count`.
fn endpoint_name(base: &str, index: u32, count: u32) -> String {
    if count == 1 {
        return base.to_owned();
    }
    let width = (count - 1).to_string().len().max(4);
    format!("{base}-{index:0width$}")
}

/// The factory configuration of one device: its object tree.
fn build_tree(setup: &Setup, ep: &str, serial: u32, state: &Shared, now: Instant) -> ObjectTree {
    let mut tree = ObjectTree::new(setup.registry.clone());
    let t = &setup.security;
    let account = SecurityInstance {
        uri: setup.uri.clone(),
        bootstrap: setup.bootstrap,
        mode: t.mode,
        identity: t.identity.clone(),
        server_public_key: t.server_public_key.clone(),
        secret_key: t.secret_key.clone(),
        server_id: (!setup.bootstrap).then_some(setup.short_server_id),
        hold_off: 0,
    };
    tree.insert(Box::new(security::object(&[account])));
    let servers = if setup.bootstrap {
        Vec::new()
    } else {
        let mut server = ServerInstance::new(setup.short_server_id, setup.lifetime);
        server.binding = setup.binding.to_owned();
        // Present, so a server may unmute Send with a Write of /1/0/23.
        server.mute_send = Some(setup.mute_send);
        vec![server]
    };
    tree.insert(Box::new(ServerObject::new(&servers)));
    let firmware_version = objects::lock(state).firmware.running_version().to_owned();
    let info = DeviceInfo {
        manufacturer: "lwm2m-gw".to_owned(),
        model: "lwm2m-gw-sim".to_owned(),
        serial: format!("SIM{serial:08}"),
        firmware_version,
        binding_modes: "UQ".to_owned(),
    };
    let mut device = DeviceObject::new(&info);
    let (epoch, unix) = setup.epoch;
    let elapsed = i64::try_from(now.saturating_duration_since(epoch).as_secs()).unwrap_or(0);
    device.set_time(now, unix.saturating_add(elapsed));
    // Battery level (%), battery status 0 (normal), power source 1 (internal battery).
    let battery = [
        (9, ResourceValue::Single(Value::Integer(i64::from(60 + serial % 40)))),
        (20, ResourceValue::Single(Value::Integer(0))),
        (6, ResourceValue::Multiple(BTreeMap::from([(0, Value::Integer(1))]))),
    ];
    let changes =
        battery.into_iter().map(|(resource, value)| lwm2m_client::ResourceChange { resource, value: Some(value) });
    if let Err(error) = lwm2m_client::Object::write(&mut device, now, 0, changes.collect()) {
        tracing::warn!(%error, ep, "battery resources not set");
    }
    tree.insert(Box::new(device));
    let ip = match setup.server_addr.ip() {
        IpAddr::V4(ip) if ip.is_loopback() => "127.0.0.1".to_owned(),
        IpAddr::V6(ip) if ip.is_loopback() => "::1".to_owned(),
        _ => "0.0.0.0".to_owned(),
    };
    let connectivity = ConnectivityInfo {
        bearer: 41,
        available_bearers: vec![41],
        signal_strength: -60 - i64::from(serial % 30),
        ip_addresses: vec![ip],
    };
    tree.insert(Box::new(connectivity::object(&connectivity)));
    tree.insert(Box::new(TemperatureObject(state.clone())));
    tree.insert(Box::new(LightObject(state.clone())));
    tree.insert(Box::new(FirmwareObject(state.clone())));
    tree
}

fn seed_bytes(seed: u64, index: u32, salt: u8) -> [u8; 32] {
    let mut out = [0u8; 32];
    out[..8].copy_from_slice(&seed.to_le_bytes());
    out[8..12].copy_from_slice(&index.to_le_bytes());
    out[12] = salt;
    out
}

/// Builds device `index` (not started).
fn build_device(setup: &Arc<Setup>, ep: &str, index: u32, seed: u64, now: Instant) -> anyhow::Result<DeviceEngine> {
    let state: Shared = Arc::new(Mutex::new(DeviceState::new(
        now,
        seed.wrapping_add(u64::from(index)),
        &setup.firmware_version,
        setup.update_delay,
    )));
    let name = EndpointName::new(ep).with_context(|| format!("endpoint name {ep:?}"))?;
    let make_client = {
        let (setup, state, ep) = (setup.clone(), state.clone(), ep.to_owned());
        move |now: Instant, boot: u8| {
            let mut config = ClientConfig::new(name.clone());
            config.version = setup.version;
            config.retry_delay = Duration::from_secs(10);
            let tree = build_tree(&setup, &ep, index, &state, now);
            Client::new(now, config, tree, seed_bytes(seed, index, boot))
        }
    };
    let client = make_client(now, 0);
    let dtls_config = Arc::new(DtlsConfig::default());
    let lwm2m = match &setup.credentials {
        None => Secured::Plain(client),
        Some(credentials) => Secured::Client(
            DtlsClient::new(dtls_config.clone(), credentials.clone(), setup.server_addr, client)
                .context("setting up dtls")?,
        ),
    };
    let boots = std::sync::atomic::AtomicU8::new(1);
    let factory = Box::new(move |now: Instant| make_client(now, boots.fetch_add(1, Ordering::Relaxed)));
    Ok(DeviceEngine::new(lwm2m, state, factory, dtls_config, seed_bytes(seed, index, 0xff)))
}

fn local_bind(server: SocketAddr) -> SocketAddr {
    match server.ip() {
        IpAddr::V4(ip) if ip.is_loopback() => SocketAddr::new(Ipv4Addr::LOCALHOST.into(), 0),
        IpAddr::V4(_) => SocketAddr::new(Ipv4Addr::UNSPECIFIED.into(), 0),
        IpAddr::V6(ip) if ip.is_loopback() => SocketAddr::new(Ipv6Addr::LOCALHOST.into(), 0),
        IpAddr::V6(_) => SocketAddr::new(Ipv6Addr::UNSPECIFIED.into(), 0),
    }
}

/// Prints one milestone line and counts it.
fn report(ep: &str, milestone: &Milestone, counters: &Counters, registered_once: &mut bool) {
    let line = match milestone {
        Milestone::Registered { server, location, version } => {
            counters.registrations.fetch_add(1, Ordering::Relaxed);
            if !*registered_once {
                *registered_once = true;
                counters.registered_devices.fetch_add(1, Ordering::Relaxed);
            }
            format!("registered ep={ep} server={server} location={location} lwm2m={version}")
        }
        Milestone::RegistrationFailed { server, code } => {
            counters.failures.fetch_add(1, Ordering::Relaxed);
            let code = code.map_or_else(|| "none".to_owned(), |c| c.to_string());
            format!("registration-failed ep={ep} server={server} code={code}")
        }
        Milestone::Updated { server } => format!("updated ep={ep} server={server}"),
        Milestone::Deregistered { server } => {
            counters.deregistered.fetch_add(1, Ordering::Relaxed);
            format!("deregistered ep={ep} server={server}")
        }
        Milestone::Sleeping { server } => format!("sleeping ep={ep} server={server}"),
        Milestone::BootstrapFinished => format!("bootstrap-finished ep={ep}"),
        Milestone::BootstrapFailed { reason } => format!("bootstrap-failed ep={ep} reason={reason:?}"),
        Milestone::Written { path } => format!("written ep={ep} path={path}"),
        Milestone::FirmwareDownloaded { version } => format!("firmware-downloaded ep={ep} version={version}"),
        Milestone::FirmwareFailed { result } => format!("firmware-failed ep={ep} result={result}"),
        Milestone::FirmwareUpdated { version } => format!("firmware-updated ep={ep} version={version}"),
        Milestone::Rebooting => format!("rebooting ep={ep}"),
        Milestone::Transport { uri, secure } => format!("transport ep={ep} uri={uri} dtls={secure}"),
        Milestone::TransportFailed { uri, reason } => format!("transport-failed ep={ep} uri={uri} reason={reason:?}"),
        Milestone::Sent { server } => format!("sent ep={ep} server={server}"),
        Milestone::SendFailed { server, code } => {
            let code = code.map_or_else(|| "none".to_owned(), |c| c.to_string());
            format!("send-failed ep={ep} server={server} code={code}")
        }
        Milestone::SendMuted { server } => format!("send-muted ep={ep} server={server}"),
    };
    println!("{line}");
}

/// Receive buffer of each simulated device's socket (see [`DriverConfig::recv_buffer_size`]).
const DEVICE_RECV_BUFFER: usize = 4096;

async fn run_devices(args: &DeviceArgs, setup: Arc<Setup>) -> anyhow::Result<()> {
    let started_at = Instant::now();
    let counters = Arc::new(Counters::default());
    let count = args.count;
    let ramp = Duration::from_micros(args.ramp_us);
    let mut handles: Vec<DriverHandle<DeviceEngine>> = Vec::with_capacity(usize::try_from(count).unwrap_or(0));
    let bind = local_bind(setup.server_addr);
    for index in 0..count {
        let ep = endpoint_name(&args.endpoint, index, count);
        let engine = build_device(&setup, &ep, index, args.seed, tokio::time::Instant::now().into_std())?;
        let socket =
            tokio::net::UdpSocket::bind(bind).await.with_context(|| format!("binding a udp socket for {ep}"))?;
        let hook = {
            let counters = counters.clone();
            let mut registered_once = false;
            move |engine: &mut DeviceEngine| {
                while let Some(milestone) = engine.poll_milestone() {
                    report(&ep, &milestone, &counters, &mut registered_once);
                }
            }
        };
        // A device only gets what its server sends: CoAP messages with block-wise payloads of at
        // most 1 KiB, DTLS records within the server's MTU. 4 KiB leaves room for large options
        // and foreign servers; a longer datagram is counted and dropped by the driver. (The
        // 64 KiB default would cost 64 MB with `--count 1000`.)
        let config =
            DriverConfig { command_capacity: 16, recv_buffer_size: DEVICE_RECV_BUFFER, ..DriverConfig::default() };
        let (handle, _task) = transport::spawn(engine, socket, hook, config).context("starting a device driver")?;
        handle.send(|engine, now| engine.start(now)).await.context("starting a device")?;
        handles.push(handle);
        // Device i starts at i × ramp: sleeping until then batches starts when the timer is
        // coarser than the ramp.
        tokio::time::sleep_until((started_at + ramp * (index + 1)).into()).await;
    }
    println!("started devices={count}");
    let ticker = {
        let handles = handles.clone();
        let period = Duration::from_millis(args.tick_ms);
        tokio::spawn(async move {
            let mut interval = tokio::time::interval(period);
            interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                interval.tick().await;
                for handle in &handles {
                    // A full channel means the device is busy: skipping one reading is fine.
                    let _ = handle.try_send(|engine, now| engine.tick(now));
                }
            }
        })
    };
    let sender = args.send_interval.map(|seconds| {
        let handles = handles.clone();
        let period = Duration::from_secs(seconds);
        tokio::spawn(async move {
            let mut interval = tokio::time::interval_at((Instant::now() + period).into(), period);
            interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                interval.tick().await;
                for handle in &handles {
                    // A busy device skips one Send, like a reading.
                    let _ = handle.try_send(|engine, now| engine.send_readings(now));
                }
            }
        })
    });
    let mut terminate = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .context("installing the sigterm handler")?;
    let mut all_reported = false;
    let mut poll = tokio::time::interval(Duration::from_millis(20));
    loop {
        tokio::select! {
            _ = tokio::signal::ctrl_c() => break,
            _ = terminate.recv() => break,
            _ = poll.tick() => {
                let registered = counters.registered_devices.load(Ordering::Relaxed);
                if !all_reported && registered >= handles.len() {
                    all_reported = true;
                    println!("all-registered devices={registered} elapsed_ms={}", started_at.elapsed().as_millis());
                }
            }
        }
    }
    ticker.abort();
    if let Some(sender) = sender {
        sender.abort();
    }
    let expected = counters.registered_devices.load(Ordering::Relaxed);
    // De-register paced like the start (at least 100 µs apart) so a burst of DELETEs does not
    // overflow the server's socket buffer; retransmissions get a few seconds.
    let pace = ramp.max(Duration::from_micros(100));
    let stopping_at = Instant::now();
    for (index, handle) in (1u32..).zip(&handles) {
        let _ = handle.try_send(|engine, now| engine.deregister(now));
        tokio::time::sleep_until((stopping_at + pace * index).into()).await;
    }
    let deadline = Instant::now() + DEREGISTER_WAIT;
    while Instant::now() < deadline
        && usize::try_from(counters.deregistered.load(Ordering::Relaxed)).unwrap_or(usize::MAX) < expected
    {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    for handle in &handles {
        handle.shutdown();
    }
    println!(
        "summary devices={count} registered={} registrations={} failures={} deregistered={} elapsed_ms={}",
        counters.registered_devices.load(Ordering::Relaxed),
        counters.registrations.load(Ordering::Relaxed),
        counters.failures.load(Ordering::Relaxed),
        counters.deregistered.load(Ordering::Relaxed),
        started_at.elapsed().as_millis()
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoint_names_are_padded_to_four_digits_or_more() {
        assert_eq!(endpoint_name("sim", 0, 1), "sim");
        assert_eq!(endpoint_name("sim", 7, 20), "sim-0007");
        assert_eq!(endpoint_name("sim", 12345, 20000), "sim-12345");
    }

    #[test]
    fn server_authorities_resolve_with_default_ports() {
        assert_eq!(resolve("127.0.0.1:5690", 5683).expect("v4"), "127.0.0.1:5690".parse().expect("addr"));
        assert_eq!(resolve("127.0.0.1", 5684).expect("v4").port(), 5684);
        assert_eq!(resolve("[::1]", 5683).expect("v6"), "[::1]:5683".parse().expect("addr"));
    }
}
