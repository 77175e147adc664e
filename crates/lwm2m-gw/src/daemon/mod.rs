//! `lwm2m-gw run`: the gateway daemon. It wires the sans-IO [`gateway::Gateway`] to sockets:
//!
//! - south: the LwM2M server End-Devices register to, on `south.coap` (NoSec) and/or
//!   `south.coaps` (DTLS server with the configured PSKs and certificate; each PSK identity is
//!   bound to its End-Device's endpoint name, and an End-Device certificate's CN to the endpoint
//!   of that name);
//! - north: the gateway's LwM2M client, one UDP socket per distant server, plain or behind a
//!   DTLS client with that server's own credentials;
//! - the REST API of [`rest`] on `gateway.http`;
//! - the [`GatewayStore`] in the data directory, loaded on start and written before the
//!   datagrams of the step that changed it leave.
//!
//! Each socket runs in its own [`transport`] driver around a [`FaceEngine`] of the shared
//! [`Hub`]. Printed on standard output, for scripts and tests: `south listening on ADDR`,
//! `south-dtls listening on ADDR`, `http listening on ADDR`, then `registered to URI as EP` for
//! each distant server that accepted the registration. Ctrl-C or SIGTERM de-registers from the
//! distant servers (bounded wait), then stops every driver.

pub(crate) mod config;
pub(crate) mod hub;
pub(crate) mod rest;
pub(crate) mod store;

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use gateway::Gateway;
use lwm2m_client::objects::acl::{self as acl_object, AclInstance};
use lwm2m_client::objects::device::{DeviceInfo, DeviceObject};
use lwm2m_client::objects::security::{self, SecurityInstance, SecurityMode};
use lwm2m_client::objects::server::{ServerInstance, ServerObject};
use lwm2m_client::{Client, ClientConfig, ObjectTree, ServerId};
use lwm2m_server::{SecurityInfo, ServerConfig};
use openssl::pkey::PKey;
use openssl::x509::X509;
use tokio::net::UdpSocket;
use transport::{
    CertificateCredentials, ClientCredentials, DriverConfig, DriverHandle, DtlsClient, DtlsConfig, DtlsServer, Secured,
    ServerCredentials,
};

use self::config::{NorthSecurity, NorthServer, RunArgs, Settings, X509Paths};
use self::hub::{FaceEngine, Hub, Outlet, SharedHub, Waker};
use self::store::GatewayStore;

/// How long the distant servers get to answer the De-registers at shutdown.
const DEREGISTER_WAIT: Duration = Duration::from_secs(3);

/// Runs the gateway until Ctrl-C or SIGTERM.
pub(crate) fn run(args: &RunArgs) -> anyhow::Result<()> {
    let settings = Settings::load(args).context("invalid configuration")?;
    // One worker: every socket's driver steps the same gateway under the hub lock, so a second
    // worker only adds cross-thread wake-ups between the north and south drivers (measured:
    // 43 → 29 µs of gateway CPU per proxied read together with the O(1) look-ups, docs/benchmarks.md).
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    runtime.block_on(serve(settings))
}

fn seed() -> [u8; 32] {
    rand::random()
}

fn read_certificate(paths: &X509Paths, what: &str) -> anyhow::Result<CertificateCredentials> {
    let read = |path: &Path| std::fs::read(path).with_context(|| format!("{what}: cannot read {}", path.display()));
    let mut chain =
        X509::stack_from_pem(&read(&paths.cert)?).with_context(|| format!("{what}.cert is not a PEM certificate"))?;
    if chain.is_empty() {
        anyhow::bail!("{what}.cert holds no certificate");
    }
    let certificate = chain.remove(0);
    let private_key = PKey::private_key_from_pem(&read(&paths.key)?)
        .with_context(|| format!("{what}.key is not a PEM private key"))?;
    let trusted = match &paths.ca {
        Some(ca) => X509::stack_from_pem(&read(ca)?).with_context(|| format!("{what}.ca is not PEM certificates"))?,
        None => Vec::new(),
    };
    Ok(CertificateCredentials { certificate, chain, private_key, trusted, authorize: None })
}

/// The Security instance of one distant server (the gateway's own account).
fn security_instance(server: &NorthServer) -> anyhow::Result<SecurityInstance> {
    let (mode, identity, secret_key, server_public_key) = match &server.security {
        NorthSecurity::NoSec => (SecurityMode::NoSec, Vec::new(), Vec::new(), Vec::new()),
        NorthSecurity::Psk { identity, key } => {
            (SecurityMode::Psk, identity.as_bytes().to_vec(), key.clone(), Vec::new())
        }
        NorthSecurity::X509(paths) => {
            let c = read_certificate(paths, "north.x509")?;
            let ca = c.trusted.first().map(|ca| ca.to_der()).transpose().context("encoding the ca")?;
            (
                SecurityMode::Certificate,
                c.certificate.to_der().context("encoding the certificate")?,
                c.private_key.private_key_to_der().context("encoding the private key")?,
                ca.unwrap_or_default(),
            )
        }
    };
    Ok(SecurityInstance {
        uri: server.uri.clone(),
        bootstrap: false,
        mode,
        identity,
        server_public_key,
        secret_key,
        server_id: Some(ServerId(server.short_server_id)),
        hold_off: 0,
    })
}

/// The gateway's north client: an account per distant server, Device, and Access Control when
/// there are several servers (each owns its Server instance; all may read Device).
fn north_client(settings: &Settings, now: Instant) -> anyhow::Result<Client> {
    let mut tree = ObjectTree::new(Arc::new(gateway::objects::registry()));
    let accounts = settings.north.iter().map(security_instance).collect::<anyhow::Result<Vec<_>>>()?;
    tree.insert(Box::new(security::object(&accounts)));
    let servers: Vec<ServerInstance> = settings
        .north
        .iter()
        .map(|n| {
            let mut server = ServerInstance::new(ServerId(n.short_server_id), n.lifetime);
            // End-Devices' Sends are forwarded north.
            server.mute_send = Some(false);
            server
        })
        .collect();
    tree.insert(Box::new(ServerObject::new(&servers)));
    if settings.north.len() > 1 {
        let ids: Vec<ServerId> = settings.north.iter().map(|n| ServerId(n.short_server_id)).collect();
        let mut acls: Vec<AclInstance> = ids.iter().zip(0u16..).map(|(id, i)| AclInstance::owned(1, i, *id)).collect();
        let mut device = AclInstance::owned(3, 0, ids[0]);
        device.acl.insert(0, 1);
        acls.push(device);
        tree.insert(Box::new(acl_object::object(&acls)));
    }
    tree.insert(Box::new(DeviceObject::new(&DeviceInfo {
        manufacturer: "lwm2m-gw".to_owned(),
        model: "lwm2m-gw gateway".to_owned(),
        serial: settings.endpoint.to_string(),
        firmware_version: env!("CARGO_PKG_VERSION").to_owned(),
        binding_modes: "U".to_owned(),
    })));
    let config = ClientConfig::new(settings.endpoint.clone());
    Ok(Client::new(now, config, tree, seed()))
}

fn local_bind(server: SocketAddr) -> SocketAddr {
    match server.ip() {
        IpAddr::V4(ip) if ip.is_loopback() => SocketAddr::new(Ipv4Addr::LOCALHOST.into(), 0),
        IpAddr::V4(_) => SocketAddr::new(Ipv4Addr::UNSPECIFIED.into(), 0),
        IpAddr::V6(ip) if ip.is_loopback() => SocketAddr::new(Ipv6Addr::LOCALHOST.into(), 0),
        IpAddr::V6(_) => SocketAddr::new(Ipv6Addr::UNSPECIFIED.into(), 0),
    }
}

/// Binds a socket; `recv_buffer` asks the kernel for a larger receive buffer (south faces
/// take bursts of End-Devices registering at once).
async fn bind(addr: SocketAddr, what: &str, recv_buffer: Option<usize>) -> anyhow::Result<UdpSocket> {
    transport::udp::bind(addr, recv_buffer).with_context(|| format!("cannot bind {what} socket {addr}"))
}

fn drain(engine: &mut Secured<FaceEngine>) {
    while let Some(event) = engine.poll_event() {
        tracing::debug!(?event, "dtls session event");
    }
}

/// A running driver: how to wake it and how to stop it.
struct Running {
    handle: DriverHandle<Secured<FaceEngine>>,
    task: transport::DriverTask<Secured<FaceEngine>>,
}

fn waker(handle: &DriverHandle<Secured<FaceEngine>>) -> Waker {
    let handle = handle.clone();
    Arc::new(move || {
        // A full channel already holds a wake-up; a closed one is shutting down.
        let _ = handle.try_send(|_, _| {});
    })
}

fn start_driver(
    hub: &SharedHub,
    outlet: Outlet,
    engine: Secured<FaceEngine>,
    socket: UdpSocket,
) -> anyhow::Result<Running> {
    let (handle, task) = transport::spawn(engine, socket, drain, DriverConfig::default())
        .with_context(|| format!("cannot start the driver of {outlet:?}"))?;
    hub::lock(hub).set_waker(outlet, waker(&handle));
    Ok(Running { handle, task })
}

async fn serve(settings: Settings) -> anyhow::Result<()> {
    let store = Arc::new(
        GatewayStore::open(&settings.data_dir)
            .with_context(|| format!("cannot open the gateway store in {}", settings.data_dir.display()))?,
    );
    tracing::info!(path = %store.path().display(), "store opened");
    let state = store.load_state().context("cannot load the gateway state")?;
    let remembered = store.end_devices().context("cannot load the known end devices")?;
    let now = Instant::now();
    let client = north_client(&settings, now)?;
    let server_config = ServerConfig { allow_unknown_nosec: settings.allow_unknown_nosec, ..ServerConfig::default() };
    let mut gateway = Gateway::new(now, settings.core.clone(), client, server_config, state, seed());
    for key in &settings.south_keys {
        let info =
            SecurityInfo { endpoint: key.endpoint.clone(), psk_identity: Some(key.identity.clone()), x509_cn: None };
        gateway.server_mut().add_security(info).with_context(|| format!("south psk of {} refused", key.endpoint))?;
    }

    let mut outlets = Vec::new();
    if settings.south_coap.is_some() {
        outlets.push(Outlet::SouthPlain);
    }
    if settings.south_coaps.is_some() {
        outlets.push(Outlet::SouthSecure);
    }
    let timer = outlets.first().copied().context("no south socket")?;
    outlets.extend(settings.north.iter().map(|n| Outlet::North(n.addr)));
    let north_uris: BTreeMap<u16, String> = settings.north.iter().map(|n| (n.short_server_id, n.uri.clone())).collect();
    let psk_identities = settings.south_keys.iter().map(|k| k.identity.clone()).collect();
    let hub: SharedHub = Arc::new(Mutex::new(Hub::new(
        gateway,
        store,
        settings.endpoint.to_string(),
        &outlets,
        timer,
        north_uris,
        psk_identities,
    )));
    hub::lock(&hub).set_remembered(remembered);

    let mut running = Vec::new();
    let mut lines = Vec::new();
    if let Some(addr) = settings.south_coap {
        let socket = bind(addr, "south", Some(transport::udp::SERVER_RECV_BUFFER)).await?;
        let engine = Secured::Plain(FaceEngine::new(hub.clone(), Outlet::SouthPlain));
        let driver = start_driver(&hub, Outlet::SouthPlain, engine, socket)?;
        lines.push(format!("south listening on {}", driver.handle.local_addr()));
        running.push(driver);
    }
    if let Some(addr) = settings.south_coaps {
        let socket = bind(addr, "south-dtls", Some(transport::udp::SERVER_RECV_BUFFER)).await?;
        let keys: BTreeMap<String, Vec<u8>> =
            settings.south_keys.iter().map(|k| (k.identity.clone(), k.key.clone())).collect();
        let certificate = settings.south_x509.as_ref().map(|p| read_certificate(p, "south.x509")).transpose()?;
        let credentials = ServerCredentials {
            psk: (!keys.is_empty()).then(|| {
                let keys = Arc::new(keys);
                Arc::new(move |identity: &str| keys.get(identity).cloned()) as transport::dtls::PskLookup
            }),
            certificate,
        };
        let inner = FaceEngine::new(hub.clone(), Outlet::SouthSecure);
        let dtls = DtlsServer::new(Arc::new(DtlsConfig::default()), credentials, inner)
            .context("cannot set up dtls for the south face")?;
        let driver = start_driver(&hub, Outlet::SouthSecure, Secured::Server(dtls), socket)?;
        lines.push(format!("south-dtls listening on {}", driver.handle.local_addr()));
        running.push(driver);
    }
    for north in &settings.north {
        let outlet = Outlet::North(north.addr);
        let socket = bind(local_bind(north.addr), "north", None).await?;
        let inner = FaceEngine::new(hub.clone(), outlet);
        let credentials = match &north.security {
            NorthSecurity::NoSec => None,
            NorthSecurity::Psk { identity, key } => {
                Some(ClientCredentials::Psk { identity: identity.clone(), key: key.clone() })
            }
            NorthSecurity::X509(paths) => Some(ClientCredentials::Certificate(read_certificate(paths, "north.x509")?)),
        };
        let engine = match credentials {
            None => Secured::Plain(inner),
            Some(credentials) => Secured::Client(
                DtlsClient::new(Arc::new(DtlsConfig::default()), credentials, north.addr, inner)
                    .with_context(|| format!("cannot set up dtls toward {}", north.uri))?,
            ),
        };
        running.push(start_driver(&hub, outlet, engine, socket)?);
    }

    let listener = match settings.http {
        Some(addr) => {
            let listener =
                tokio::net::TcpListener::bind(addr).await.with_context(|| format!("cannot bind http socket {addr}"))?;
            lines.push(format!("http listening on {}", listener.local_addr().context("http socket has no address")?));
            Some(listener)
        }
        None => None,
    };
    for line in lines {
        println!("{line}");
    }

    let wakers = hub::lock(&hub).start(Instant::now());
    wakers.iter().for_each(|w| w());

    let (stopping, stop_seen) = tokio::sync::watch::channel(false);
    if let Some(listener) = listener {
        let api = Arc::new(rest::Api {
            hub: hub.clone(),
            idle_after: settings.core.idle_after,
            endpoint: settings.endpoint.to_string(),
        });
        let app = rest::router(api);
        let mut stopped = stop_seen.clone();
        tokio::spawn(async move {
            let stop = async move {
                while !*stopped.borrow_and_update() {
                    if stopped.changed().await.is_err() {
                        return;
                    }
                }
            };
            if let Err(error) = axum::serve(listener, app).with_graceful_shutdown(stop).await {
                tracing::error!(error = %error, "http server failed");
            }
        });
    }
    crate::server::shutdown_signal().await;
    tracing::info!("shutting down");
    let _ = stopping.send(true);
    let wakers = hub::lock(&hub).deregister(Instant::now());
    wakers.iter().for_each(|w| w());
    let deadline = tokio::time::Instant::now() + DEREGISTER_WAIT;
    while !hub::lock(&hub).registered().is_empty() && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    for driver in &running {
        driver.handle.shutdown();
    }
    for driver in running {
        match driver.task.await {
            Ok(Ok(_)) => {}
            Ok(Err(error)) => tracing::error!(error = %error, "driver failed"),
            Err(error) => tracing::error!(error = %error, "driver task panicked"),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;
    use std::sync::atomic::{AtomicUsize, Ordering};

    use coap::{Engine, Peer};

    use super::config::{parse, RunArgs, Settings};
    use super::*;

    fn temp_dir(name: &str) -> std::path::PathBuf {
        let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos());
        std::env::temp_dir().join(format!("lwm2m-gw-daemon-{name}-{}-{nanos}", std::process::id()))
    }

    const TWO_SERVERS: &str = "[gateway]\nendpoint = \"gw1\"\n[south]\ncoap = \"127.0.0.1:0\"\n\
        [[north]]\nuri = \"coap://127.0.0.1:6001\"\n[[north]]\nuri = \"coap://127.0.0.1:6002\"\n";

    /// A hub for two distant servers and a plain south socket, its store in `dir`.
    fn test_hub(dir: &Path, now: Instant) -> (SharedHub, Arc<GatewayStore>, [Outlet; 3]) {
        let settings =
            Settings::resolve(parse(TWO_SERVERS).expect("parses"), &RunArgs::default(), Path::new("")).expect("valid");
        let store = Arc::new(GatewayStore::open(dir).expect("store"));
        let client = north_client(&settings, now).expect("client");
        let gateway = Gateway::new(
            now,
            settings.core.clone(),
            client,
            ServerConfig::default(),
            gateway::GatewayState::default(),
            [7; 32],
        );
        let (a, b) = (settings.north[0].addr, settings.north[1].addr);
        let outlets = [Outlet::SouthPlain, Outlet::North(a), Outlet::North(b)];
        let uris = settings.north.iter().map(|n| (n.short_server_id, n.uri.clone())).collect();
        let hub: SharedHub = Arc::new(Mutex::new(Hub::new(
            gateway,
            store.clone(),
            "gw1".into(),
            &outlets,
            Outlet::SouthPlain,
            uris,
            HashSet::new(),
        )));
        (hub, store, outlets)
    }

    #[test]
    fn each_register_leaves_on_the_socket_of_its_own_server() {
        let dir = temp_dir("hub");
        let now = Instant::now();
        let (hub, _store, outlets) = test_hub(&dir, now);
        let [_, Outlet::North(a), Outlet::North(b)] = outlets else { panic!("two north outlets") };
        let woken: Arc<[AtomicUsize; 3]> = Arc::new(Default::default());
        for (i, outlet) in outlets.iter().enumerate() {
            let woken = woken.clone();
            hub::lock(&hub).set_waker(
                *outlet,
                Arc::new(move || {
                    woken[i].fetch_add(1, Ordering::Relaxed);
                }),
            );
        }

        let wakers = hub::lock(&hub).start(now);
        wakers.iter().for_each(|w| w());
        let counts: Vec<usize> = woken.iter().map(|c| c.load(Ordering::Relaxed)).collect();
        assert_eq!(counts, [1, 1, 1], "north drivers have a register each; the south one learns the new deadline");

        let mut buf = Vec::new();
        for server in [a, b] {
            let mut face = FaceEngine::new(hub.clone(), Outlet::North(server));
            let transmit = face.poll_transmit(now, &mut buf).expect("a register for this server");
            assert_eq!(transmit.peer.addr, server);
            let register = coap::Message::decode(&buf[..transmit.len]).expect("coap");
            assert_eq!(register.options.uri_path(), ["rd"]);
            assert!(register.options.uri_query().contains(&"ep=gw1".to_owned()));
            assert!(face.poll_transmit(now, &mut buf).is_none(), "one register per server");
            assert_eq!(face.poll_timeout(), None, "north drivers keep no timer");
        }
        let mut south = FaceEngine::new(hub.clone(), Outlet::SouthPlain);
        assert!(south.poll_transmit(now, &mut buf).is_none());
        assert!(south.poll_timeout().is_some(), "the south driver keeps the gateway's timer");
        south.handle_timeout(now);
        let again: Vec<usize> = woken.iter().map(|c| c.load(Ordering::Relaxed)).collect();
        assert_eq!(again, counts, "an early timeout sends nothing and wakes nobody");

        let stranger = Peer::udp("127.0.0.1:6003".parse().expect("addr"));
        FaceEngine::new(hub.clone(), Outlet::North(a)).handle_datagram(now, stranger, b"\x40\x01\x00\x01");
        assert_eq!(hub::lock(&hub).dropped(), 1, "a stranger's datagram on a north socket is dropped");
        let _ = std::fs::remove_dir_all(&dir);
    }
    #[test]
    fn datagrams_wait_until_the_gateway_state_is_written() {
        let dir = temp_dir("hub-unsaved");
        let now = Instant::now();
        let (hub, store, _) = test_hub(&dir, now);
        let wakers = hub::lock(&hub).start(now);
        drop(wakers);
        let sql = rusqlite::Connection::open(store.path()).expect("second connection");
        sql.execute_batch("CREATE TRIGGER full BEFORE INSERT ON prefix BEGIN SELECT RAISE(ABORT, 'disk full'); END;")
            .expect("trigger");

        // An End-Device registers: it gets a prefix, which cannot be written.
        let device = Peer::udp("127.0.0.1:7001".parse().expect("addr"));
        let mut client = coap::Endpoint::new(Arc::new(coap::EndpointConfig::default()), [5; 32]);
        let register = coap::Request::post("/rd")
            .with_query("ep=dev1")
            .with_query("lt=300")
            .with_payload(coap::ContentFormat::LINK_FORMAT, "</3/0>");
        let gateway_south = Peer::udp("127.0.0.1:5683".parse().expect("addr"));
        client.send_request(now, gateway_south, register, coap::Reliability::Confirmable).expect("register");
        let mut datagram = Vec::new();
        let sent = client.poll_transmit(now, &mut datagram).expect("the register datagram");
        datagram.truncate(sent.len);
        let mut south = FaceEngine::new(hub.clone(), Outlet::SouthPlain);
        south.handle_datagram(now, device.clone(), &datagram);
        let mut buf = Vec::new();
        assert!(south.poll_transmit(now, &mut buf).is_none(), "no 2.01 before the prefix is on disk");
        assert_eq!(hub::lock(&hub).state_write_failures(), 1);
        assert!(hub::lock(&hub).dropped() >= 1, "the held-back answer is counted as dropped");

        // The disk recovers; the device retransmits and gets the (cached) answer this time.
        sql.execute_batch("DROP TRIGGER full;").expect("drop trigger");
        let later = now + Duration::from_secs(3);
        south.handle_datagram(later, device.clone(), &datagram);
        let transmit = south.poll_transmit(later, &mut buf).expect("the answer leaves once the state is written");
        assert_eq!(transmit.peer.addr, device.addr);
        let answer = coap::Message::decode(&buf[..transmit.len]).expect("coap");
        assert_eq!(answer.code, coap::Code::CREATED);
        assert!(store.load_state().expect("state").prefixes.contains_key("dev1"));
        assert_eq!(hub::lock(&hub).state_write_failures(), 1);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
