//! `lwm2m-gw server`: a standalone LwM2M Server and Bootstrap Server with the Leshan-compatible
//! REST API of [`crate::rest`].
//!
//! Each CoAP socket runs its own engine in its own [`transport`] driver: `--coap` a plain
//! [`ServerFace`], `--coaps` the same behind a DTLS server (PSK looked up in the security store,
//! X.509 from `--x509-*`), `--bs-coap` / `--bs-coaps` a [`BootstrapServer`]. `--http` serves
//! the whole API, `--bs-http` the bootstrap demo's part with its own security store (tools
//! written for Leshan's two demos keep their two URLs). State lives in
//! [`Store`] (SQLite in `--data-dir`) and is loaded back on start. The bound addresses are printed
//! on standard output, one `<face> listening on <addr>` line each. Ctrl-C or SIGTERM stops the
//! HTTP server and every driver.

pub(crate) mod face;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, PoisonError, RwLock};
use std::time::Instant;

use anyhow::Context as _;
use lwm2m::{EndpointName, Registry};
use lwm2m_server::bootstrap::{
    BootstrapConfig, BootstrapServer, BootstrapServerConfig, SecurityMode as BootstrapSecurityMode,
};
use lwm2m_server::{SecurityInfo, Server, ServerConfig};
use openssl::pkey::PKey;
use openssl::x509::X509;
use tokio::net::UdpSocket;
use tokio::sync::{broadcast, mpsc};
use transport::{CertificateCredentials, DriverConfig, DriverTask, DtlsConfig, DtlsServer, Secured, ServerCredentials};

use crate::cli::ServerArgs;
use crate::rest::{self, BootstrapHandle, ServerHandle, Shared};
use crate::store::{Scope, SecurityEntry, SecurityMode, Store};
use face::{Moved, ServerFace};

/// How long open HTTP connections (event streams) may stay after a stop signal.
const SHUTDOWN_GRACE: std::time::Duration = std::time::Duration::from_secs(1);

/// Events buffered for slow `/api/event` readers before they miss some.
const EVENT_BUFFER: usize = 1024;

/// Registrations reported to the other faces that can wait before a face has to skip one.
const MOVES_BUFFER: usize = 256;

/// Identity → (owning endpoint, key).
type KeyTable<K> = RwLock<HashMap<K, (String, Vec<u8>)>>;

/// Pre-shared keys the DTLS layers look up, kept in step with the security store and the
/// bootstrap configurations.
#[derive(Debug, Default)]
pub(crate) struct Keys {
    /// Security store: identity → (endpoint, key).
    psk: KeyTable<String>,
    /// Bootstrap accounts of the bootstrap configurations: identity → (endpoint, key).
    bootstrap: KeyTable<Vec<u8>>,
    /// Bootstrap Server security store: identity → (endpoint, key).
    bootstrap_psk: KeyTable<String>,
    /// LwM2M Server accounts (PSK) the bootstrap configurations hand out.
    accounts: KeyTable<Vec<u8>>,
}

impl Keys {
    fn table(&self, scope: Scope) -> &KeyTable<String> {
        match scope {
            Scope::Server => &self.psk,
            Scope::Bootstrap => &self.bootstrap_psk,
        }
    }

    /// Adds or replaces the key of a security entry (X.509 entries hold none).
    pub(crate) fn set_security(&self, scope: Scope, entry: &SecurityEntry) {
        let mut psk = self.table(scope).write().unwrap_or_else(PoisonError::into_inner);
        psk.retain(|_, (endpoint, _)| *endpoint != entry.endpoint);
        if let SecurityMode::Psk { identity, key } = &entry.mode {
            if let Ok(key) = hex::decode(key) {
                psk.insert(identity.clone(), (entry.endpoint.clone(), key));
            }
        }
    }

    /// Drops the key of `endpoint`.
    pub(crate) fn remove_security(&self, scope: Scope, endpoint: &str) {
        self.table(scope).write().unwrap_or_else(PoisonError::into_inner).retain(|_, (ep, _)| ep != endpoint);
    }

    /// Adds or replaces the bootstrap PSK of a configuration.
    pub(crate) fn set_bootstrap(&self, endpoint: &str, config: &BootstrapConfig) {
        let mut keys = self.bootstrap.write().unwrap_or_else(PoisonError::into_inner);
        keys.retain(|_, (ep, _)| ep != endpoint);
        if let (Some(identity), Some((_, account))) = (config.bootstrap_psk_identity(), config.bootstrap_account()) {
            keys.insert(identity.to_vec(), (endpoint.to_owned(), account.secret_key.clone()));
        }
        drop(keys);
        let mut accounts = self.accounts.write().unwrap_or_else(PoisonError::into_inner);
        accounts.retain(|_, (ep, _)| ep != endpoint);
        for account in config.security.values() {
            if !account.bootstrap_server && account.security_mode == BootstrapSecurityMode::Psk {
                accounts.insert(account.public_key_or_id.clone(), (endpoint.to_owned(), account.secret_key.clone()));
            }
        }
    }

    /// Drops the bootstrap PSK of `endpoint`.
    pub(crate) fn remove_bootstrap(&self, endpoint: &str) {
        self.bootstrap.write().unwrap_or_else(PoisonError::into_inner).retain(|_, (ep, _)| ep != endpoint);
        self.accounts.write().unwrap_or_else(PoisonError::into_inner).retain(|_, (ep, _)| ep != endpoint);
    }

    fn lookup(table: &KeyTable<String>, identity: &str) -> Option<Vec<u8>> {
        table.read().unwrap_or_else(PoisonError::into_inner).get(identity).map(|(_, key)| key.clone())
    }

    /// The LwM2M Server's key for `identity`: its security store, else a server account a
    /// bootstrap configuration hands out (this process is that server).
    fn server_key(&self, identity: &str) -> Option<Vec<u8>> {
        Self::lookup(&self.psk, identity).or_else(|| {
            let accounts = self.accounts.read().unwrap_or_else(PoisonError::into_inner);
            accounts.get(identity.as_bytes()).map(|(_, key)| key.clone())
        })
    }

    fn bootstrap_key(&self, identity: &str) -> Option<Vec<u8>> {
        let from_config = self
            .bootstrap
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .get(identity.as_bytes())
            .map(|(_, key)| key.clone());
        // Tools written for Leshan's demos put the bootstrap PSK into the bootstrap demo's
        // security store; with one REST API it may be in the server's.
        from_config
            .or_else(|| Self::lookup(&self.bootstrap_psk, identity))
            .or_else(|| Self::lookup(&self.psk, identity))
    }
}

fn certificate(args: &ServerArgs) -> anyhow::Result<Option<CertificateCredentials>> {
    let (Some(cert), Some(key)) = (&args.x509_cert, &args.x509_key) else {
        if args.x509_cert.is_some() || args.x509_key.is_some() {
            anyhow::bail!("--x509-cert and --x509-key go together");
        }
        return Ok(None);
    };
    let read = |path: &PathBuf| std::fs::read(path).with_context(|| format!("cannot read {}", path.display()));
    let mut chain = X509::stack_from_pem(&read(cert)?).context("--x509-cert is not a PEM certificate")?;
    if chain.is_empty() {
        anyhow::bail!("--x509-cert holds no certificate");
    }
    let certificate = chain.remove(0);
    let private_key = PKey::private_key_from_pem(&read(key)?).context("--x509-key is not a PEM private key")?;
    let trusted = match &args.x509_ca {
        Some(ca) => X509::stack_from_pem(&read(ca)?).context("--x509-ca is not PEM certificates")?,
        None => Vec::new(),
    };
    Ok(Some(CertificateCredentials { certificate, chain, private_key, trusted, authorize: None }))
}

fn seed() -> [u8; 32] {
    rand::random()
}

/// Runs the server until Ctrl-C or SIGTERM.
pub(crate) fn run(args: &ServerArgs) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    runtime.block_on(serve(args))
}

fn data_dir(args: &ServerArgs) -> PathBuf {
    if let Some(dir) = &args.data_dir {
        return dir.clone();
    }
    if let Some(base) = std::env::var_os("XDG_DATA_HOME").filter(|v| !v.is_empty()) {
        return PathBuf::from(base).join("lwm2m-gw");
    }
    if let Some(home) = std::env::var_os("HOME").filter(|v| !v.is_empty()) {
        return PathBuf::from(home).join(".local/share/lwm2m-gw");
    }
    PathBuf::from("lwm2m-gw-data")
}

/// Binds a server socket with a large receive buffer, so a thousand clients registering at
/// once do not overflow the kernel's default one.
async fn bind(addr: SocketAddr, what: &str) -> anyhow::Result<UdpSocket> {
    transport::udp::bind(addr, Some(transport::udp::SERVER_RECV_BUFFER))
        .with_context(|| format!("cannot bind {what} socket {addr}"))
}

fn server_config(args: &ServerArgs) -> ServerConfig {
    ServerConfig { allow_unknown_nosec: !args.deny_unknown_nosec, ..ServerConfig::default() }
}

struct Started {
    faces: Vec<ServerHandle>,
    bootstrap: Vec<BootstrapHandle>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

fn on_exit<E: Send + 'static>(task: DriverTask<E>, what: &'static str) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        match task.await {
            Ok(Ok(_)) => tracing::debug!(face = what, "driver stopped"),
            Ok(Err(error)) => tracing::error!(face = what, error = %error, "driver failed"),
            Err(error) => tracing::error!(face = what, error = %error, "driver task panicked"),
        }
    })
}

async fn serve(args: &ServerArgs) -> anyhow::Result<()> {
    let dir = data_dir(args);
    let store = Arc::new(Store::open(&dir).with_context(|| format!("cannot open the store in {}", dir.display()))?);
    tracing::info!(path = %store.path().display(), "store opened");
    let keys = Arc::new(Keys::default());
    let (events, _) = broadcast::channel(EVENT_BUFFER);
    let securities = store.securities(Scope::Server).context("cannot load security entries")?;
    for entry in store.securities(Scope::Bootstrap).context("cannot load bootstrap security entries")? {
        keys.set_security(Scope::Bootstrap, &entry);
    }
    let bootstraps = store.bootstraps().context("cannot load bootstrap configs")?;
    let mut configs = Vec::new();
    for (endpoint, doc) in bootstraps {
        match (EndpointName::new(&endpoint), serde_json::from_value::<BootstrapConfig>(doc)) {
            (Ok(name), Ok(config)) => {
                keys.set_bootstrap(&endpoint, &config);
                configs.push((name, config));
            }
            _ => tracing::warn!(%endpoint, "stored bootstrap config is invalid; ignored"),
        }
    }
    for entry in &securities {
        keys.set_security(Scope::Server, entry);
    }
    let stored_registrations = store.registrations().context("cannot load registrations")?;
    let certificate = certificate(args)?;

    let mut started = Started { faces: Vec::new(), bootstrap: Vec::new(), tasks: Vec::new() };
    let (moves, moved) = mpsc::channel(MOVES_BUFFER);
    // With one face there is nobody to tell.
    let several_faces = args.coap.0.is_some() && args.coaps.0.is_some();
    let mut face_names = Vec::new();
    let new_face = |name: &'static str| {
        let mut server = Server::new(server_config(args), Registry::bundled(), seed());
        for entry in &securities {
            let info = match (&entry.mode, EndpointName::new(&entry.endpoint)) {
                (SecurityMode::Psk { identity, .. }, Ok(endpoint)) => {
                    SecurityInfo { endpoint, psk_identity: Some(identity.clone()), x509_cn: None }
                }
                (SecurityMode::X509, Ok(endpoint)) => {
                    SecurityInfo { x509_cn: Some(endpoint.to_string()), endpoint, psk_identity: None }
                }
                (_, Err(_)) => continue,
            };
            if let Err(error) = server.add_security(info) {
                tracing::warn!(endpoint = %entry.endpoint, error = %error, "stored security entry refused");
            }
        }
        let now = Instant::now();
        // Registrations of a face that is off this time stay stored for a later start.
        for stored in stored_registrations.iter().filter(|r| r.face == name) {
            match face::from_stored(stored, now) {
                Ok(registration) => {
                    if let Err(error) = server.restore_registration(now, registration) {
                        tracing::warn!(endpoint = %stored.endpoint, error = %error, "registration not restored");
                    }
                }
                Err(error) => {
                    tracing::info!(error = %error, "stored registration dropped");
                    let _ = store.delete_registration(&stored.endpoint, &stored.id);
                }
            }
        }
        ServerFace::new(server, name, store.clone(), events.clone(), several_faces.then(|| moves.clone()))
    };
    let mut lines = Vec::new();
    if let Some(addr) = args.coap.0 {
        let socket = bind(addr, "coap").await?;
        let engine = Secured::Plain(new_face("coap"));
        let (handle, task) = transport::spawn(engine, socket, drain_server, DriverConfig::default())
            .context("cannot start the coap driver")?;
        lines.push(format!("coap listening on {}", handle.local_addr()));
        started.tasks.push(on_exit(task, "coap"));
        face_names.push("coap");
        started.faces.push(handle);
    }
    let psk_keys = keys.clone();
    let server_credentials = ServerCredentials {
        psk: Some(Arc::new(move |identity: &str| psk_keys.server_key(identity))),
        certificate: certificate.clone(),
    };
    if let Some(addr) = args.coaps.0 {
        let socket = bind(addr, "coaps").await?;
        let dtls = DtlsServer::new(Arc::new(DtlsConfig::default()), server_credentials, new_face("coaps"))
            .context("cannot set up dtls for coaps")?;
        let (handle, task) = transport::spawn(Secured::Server(dtls), socket, drain_server, DriverConfig::default())
            .context("cannot start the coaps driver")?;
        lines.push(format!("coaps listening on {}", handle.local_addr()));
        started.tasks.push(on_exit(task, "coaps"));
        face_names.push("coaps");
        started.faces.push(handle);
    }
    drop(moves);
    tokio::spawn(supersede(face_names.into_iter().zip(started.faces.clone()).collect(), moved));
    let new_bootstrap = || {
        let mut server = BootstrapServer::new(BootstrapServerConfig::default(), seed());
        for (endpoint, config) in &configs {
            if let Err(error) = server.configs_mut().insert(endpoint.clone(), config.clone()) {
                tracing::warn!(%endpoint, error = %error, "stored bootstrap config refused");
            }
        }
        server
    };
    if let Some(addr) = args.bs_coap.0 {
        let socket = bind(addr, "bs-coap").await?;
        let (handle, task) =
            transport::spawn(Secured::Plain(new_bootstrap()), socket, drain_bootstrap, DriverConfig::default())
                .context("cannot start the bs-coap driver")?;
        lines.push(format!("bs-coap listening on {}", handle.local_addr()));
        started.tasks.push(on_exit(task, "bs-coap"));
        started.bootstrap.push(handle);
    }
    if let Some(addr) = args.bs_coaps.0 {
        let socket = bind(addr, "bs-coaps").await?;
        let bs_keys = keys.clone();
        let credentials = ServerCredentials {
            psk: Some(Arc::new(move |identity: &str| bs_keys.bootstrap_key(identity))),
            certificate: certificate.clone(),
        };
        let dtls = DtlsServer::new(Arc::new(DtlsConfig::default()), credentials, new_bootstrap())
            .context("cannot set up dtls for bs-coaps")?;
        let (handle, task) = transport::spawn(Secured::Server(dtls), socket, drain_bootstrap, DriverConfig::default())
            .context("cannot start the bs-coaps driver")?;
        lines.push(format!("bs-coaps listening on {}", handle.local_addr()));
        started.tasks.push(on_exit(task, "bs-coaps"));
        started.bootstrap.push(handle);
    }
    let listener = tokio::net::TcpListener::bind(args.http)
        .await
        .with_context(|| format!("cannot bind http socket {}", args.http))?;
    lines.push(format!("http listening on {}", listener.local_addr().context("http socket has no address")?));
    let bs_listener = match args.bs_http.0 {
        Some(addr) => {
            let listener = tokio::net::TcpListener::bind(addr)
                .await
                .with_context(|| format!("cannot bind bs-http socket {addr}"))?;
            lines.push(format!(
                "bs-http listening on {}",
                listener.local_addr().context("bs-http socket has no address")?
            ));
            Some(listener)
        }
        None => None,
    };
    for line in lines {
        println!("{line}");
    }

    let (stopping, mut stop_seen) = tokio::sync::watch::channel(false);
    let shared = Shared {
        faces: started.faces.clone(),
        bootstrap: started.bootstrap.clone(),
        store,
        keys,
        events,
        scope: Scope::Server,
    };
    if let Some(listener) = bs_listener {
        let bs_app = rest::bootstrap_router(Arc::new(Shared { scope: Scope::Bootstrap, ..shared.clone() }));
        let mut stopped = stop_seen.clone();
        tokio::spawn(async move {
            let stop = async move {
                while !*stopped.borrow_and_update() {
                    if stopped.changed().await.is_err() {
                        return;
                    }
                }
            };
            if let Err(error) = axum::serve(listener, bs_app).with_graceful_shutdown(stop).await {
                tracing::error!(error = %error, "bs-http server failed");
            }
        });
    }
    let app = rest::router(Arc::new(shared));
    let http = axum::serve(listener, app).with_graceful_shutdown(async move {
        shutdown_signal().await;
        let _ = stopping.send(true);
    });
    // Open event streams never end by themselves: give connections a moment, then close.
    let grace = async move {
        while !*stop_seen.borrow_and_update() {
            if stop_seen.changed().await.is_err() {
                std::future::pending::<()>().await;
            }
        }
        tokio::time::sleep(SHUTDOWN_GRACE).await;
    };
    tokio::select! {
        result = http => result.context("http server failed")?,
        () = grace => tracing::info!("closing the http connections still open"),
    }
    tracing::info!("shutting down");
    for face in &started.faces {
        face.shutdown();
    }
    for face in &started.bootstrap {
        face.shutdown();
    }
    for task in started.tasks {
        let _ = task.await;
    }
    Ok(())
}

/// Newest registration wins: when an endpoint registers on one face, the other faces drop
/// their older registration of it. Ends when every face is gone.
async fn supersede(faces: Vec<(&'static str, ServerHandle)>, mut moved: mpsc::Receiver<Moved>) {
    while let Some(Moved { face, endpoint, at }) = moved.recv().await {
        for (_, other) in faces.iter().filter(|(name, _)| *name != face) {
            let endpoint = endpoint.clone();
            // A stopped face has nothing left to drop.
            let _ = other
                .send(move |engine, now| {
                    engine.inner_mut().drop_superseded(now, &endpoint, at);
                })
                .await;
        }
    }
}

fn drain_server(engine: &mut Secured<ServerFace>) {
    while let Some(event) = engine.poll_event() {
        tracing::debug!(?event, "dtls session event");
    }
    engine.inner_mut().drain(Instant::now());
}

fn drain_bootstrap(engine: &mut Secured<BootstrapServer>) {
    while let Some(event) = engine.poll_event() {
        tracing::debug!(?event, "dtls session event");
    }
    while let Some(event) = engine.inner_mut().poll_event() {
        tracing::info!(?event, "bootstrap");
    }
}

/// Resolves on Ctrl-C or SIGTERM.
pub(crate) async fn shutdown_signal() {
    let interrupt = async {
        if let Err(error) = tokio::signal::ctrl_c().await {
            tracing::error!(error = %error, "cannot listen for ctrl-c");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(error) => {
                tracing::error!(error = %error, "cannot listen for sigterm");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = interrupt => {}
        () = terminate => {}
    }
}
