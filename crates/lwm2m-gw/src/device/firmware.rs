//! Firmware Update (object 5, Core TS §E.6) for the simulated device: the package format it
//! accepts, the `coap://` Package URI it can pull from, and the State / Update Result machine.
//!
//! # Package format
//!
//! The simulated device only installs packages in this layout (anything else is Update Result
//! 6, "unsupported package type"):
//!
//! ```text
//! "LWFW" | n: u8 | version: n bytes UTF-8 | image: any bytes | SHA-256 of everything before: 32 bytes
//! ```
//!
//! A digest that does not match is Update Result 5 ("integrity check failure"). Once Update
//! (`/5/0/2`) has run, `version` becomes the Firmware Version `/3/0/3`; it is exposed as
//! PkgVersion (`/5/0/7`) as soon as the package is downloaded, and the package's SHA-256 as
//! lowercase hex in PkgName (`/5/0/6`, `lwm2m-gw-sim@<sha256>`), so a server can check what the
//! device holds.
//!
//! Invariant: State and Update Result only ever change together through [`Firmware`]'s
//! methods, each of which notes the changed resources for observations.

use std::collections::VecDeque;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant};

use lwm2m::Path;

/// Object ID.
pub(crate) const OBJECT_ID: u16 = 5;
/// `/5/0/0` Package.
pub(crate) const PACKAGE: u16 = 0;
/// `/5/0/1` Package URI.
pub(crate) const PACKAGE_URI: u16 = 1;
/// `/5/0/2` Update.
pub(crate) const UPDATE: u16 = 2;
/// `/5/0/3` State.
pub(crate) const STATE: u16 = 3;
/// `/5/0/5` Update Result.
pub(crate) const UPDATE_RESULT: u16 = 5;
/// `/5/0/6` PkgName.
pub(crate) const PKG_NAME: u16 = 6;
/// `/5/0/7` PkgVersion.
pub(crate) const PKG_VERSION: u16 = 7;
/// `/5/0/8` Firmware Update Protocol Support.
pub(crate) const PROTOCOL_SUPPORT: u16 = 8;
/// `/5/0/9` Firmware Update Delivery Method.
pub(crate) const DELIVERY_METHOD: u16 = 9;

/// Magic bytes at the start of a package.
pub(crate) const MAGIC: &[u8; 4] = b"LWFW";
const DIGEST_LEN: usize = 32;

/// `/5/0/3` values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum State {
    /// 0.
    Idle,
    /// 1.
    Downloading,
    /// 2.
    Downloaded,
    /// 3.
    Updating,
}

impl State {
    pub(crate) fn code(self) -> i64 {
        match self {
            Self::Idle => 0,
            Self::Downloading => 1,
            Self::Downloaded => 2,
            Self::Updating => 3,
        }
    }
}

/// `/5/0/5` values (Core TS §E.6).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum UpdateResult {
    /// 0: initial value.
    Initial,
    /// 1: firmware updated successfully.
    Success,
    /// 4: connection lost during download.
    ConnectionLost,
    /// 5: integrity check failure.
    IntegrityFailure,
    /// 6: unsupported package type.
    UnsupportedType,
    /// 7: invalid URI.
    InvalidUri,
    /// 9: unsupported protocol.
    UnsupportedProtocol,
}

impl UpdateResult {
    pub(crate) fn code(self) -> i64 {
        match self {
            Self::Initial => 0,
            Self::Success => 1,
            Self::ConnectionLost => 4,
            Self::IntegrityFailure => 5,
            Self::UnsupportedType => 6,
            Self::InvalidUri => 7,
            Self::UnsupportedProtocol => 9,
        }
    }
}

/// A package that passed every check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Package {
    /// The firmware version it installs.
    pub(crate) version: String,
    /// SHA-256 of the whole package, lowercase hex.
    pub(crate) sha256: String,
}

/// Why a package is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub(crate) enum PackageError {
    /// Not in the documented layout.
    #[error("firmware package is not in the lwfw layout")]
    Unsupported,
    /// The trailing SHA-256 does not match.
    #[error("firmware package digest does not match its content")]
    Integrity,
}

impl From<PackageError> for UpdateResult {
    fn from(e: PackageError) -> Self {
        match e {
            PackageError::Unsupported => Self::UnsupportedType,
            PackageError::Integrity => Self::IntegrityFailure,
        }
    }
}

impl Package {
    /// Checks `bytes` against the documented layout and digest.
    pub(crate) fn parse(bytes: &[u8]) -> Result<Self, PackageError> {
        let body_len = bytes.len().checked_sub(DIGEST_LEN).ok_or(PackageError::Unsupported)?;
        let (body, digest) = bytes.split_at(body_len);
        let rest = body.strip_prefix(MAGIC.as_slice()).ok_or(PackageError::Unsupported)?;
        let (&n, rest) = rest.split_first().ok_or(PackageError::Unsupported)?;
        let version = rest.get(..usize::from(n)).ok_or(PackageError::Unsupported)?;
        let version = std::str::from_utf8(version).map_err(|_| PackageError::Unsupported)?;
        if version.is_empty() || version.chars().any(char::is_control) {
            return Err(PackageError::Unsupported);
        }
        if openssl::sha::sha256(body).as_slice() != digest {
            return Err(PackageError::Integrity);
        }
        Ok(Self { version: version.to_owned(), sha256: hex::encode(openssl::sha::sha256(bytes)) })
    }

    /// A package installing `version` with `image` (for tests and demos).
    #[cfg(test)]
    pub(crate) fn build(version: &str, image: &[u8]) -> Vec<u8> {
        let mut out = MAGIC.to_vec();
        out.push(u8::try_from(version.len()).expect("short version"));
        out.extend_from_slice(version.as_bytes());
        out.extend_from_slice(image);
        let digest = openssl::sha::sha256(&out);
        out.extend_from_slice(&digest);
        out
    }
}

/// Where a Package URI points: a `coap://` server and the request path/query.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct PackageSource {
    /// The CoAP server.
    pub(crate) addr: SocketAddr,
    /// `/path?query` as written after the authority (at least `/`).
    pub(crate) path_and_query: String,
}

/// Parses a Package URI. Only `coap://` with an IP literal (or `localhost`) is supported:
/// another scheme is [`UpdateResult::UnsupportedProtocol`], anything malformed
/// [`UpdateResult::InvalidUri`].
pub(crate) fn parse_package_uri(uri: &str) -> Result<PackageSource, UpdateResult> {
    let (scheme, rest) = uri.split_once("://").ok_or(UpdateResult::InvalidUri)?;
    if !scheme.eq_ignore_ascii_case("coap") {
        return Err(if scheme.chars().all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c)) && !scheme.is_empty() {
            UpdateResult::UnsupportedProtocol
        } else {
            UpdateResult::InvalidUri
        });
    }
    let split = rest.find(['/', '?']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(split);
    let addr = parse_authority(authority).ok_or(UpdateResult::InvalidUri)?;
    let path_and_query = if tail.starts_with('/') { tail.to_owned() } else { format!("/{tail}") };
    Ok(PackageSource { addr, path_and_query })
}

fn parse_authority(authority: &str) -> Option<SocketAddr> {
    if let Ok(addr) = authority.parse::<SocketAddr>() {
        return Some(addr);
    }
    let (host, port) = match authority.rsplit_once(':') {
        Some((h, p)) if !h.contains(':') || h.starts_with('[') => (h, p.parse::<u16>().ok()?),
        _ => (authority, 5683),
    };
    let host = host.trim_start_matches('[').trim_end_matches(']');
    let ip: IpAddr =
        if host.eq_ignore_ascii_case("localhost") { Ipv4Addr::LOCALHOST.into() } else { host.parse().ok()? };
    Some(SocketAddr::new(ip, port))
}

/// The Firmware Update state of one device.
#[derive(Debug)]
pub(crate) struct Firmware {
    state: State,
    result: UpdateResult,
    uri: String,
    package: Option<Package>,
    /// The running firmware version (`/3/0/3`).
    running: String,
    /// A pull the engine should start.
    pending_download: Option<PackageSource>,
    /// When Update finishes.
    update_due: Option<Instant>,
    update_delay: Duration,
    changed: VecDeque<Path>,
}

/// Most change notes kept (one per resource is plenty).
const MAX_CHANGED: usize = 32;

impl Firmware {
    /// Idle, running `version`; Update takes `update_delay`.
    pub(crate) fn new(version: &str, update_delay: Duration) -> Self {
        Self {
            state: State::Idle,
            result: UpdateResult::Initial,
            uri: String::new(),
            package: None,
            running: version.to_owned(),
            pending_download: None,
            update_due: None,
            update_delay,
            changed: VecDeque::new(),
        }
    }

    pub(crate) fn state(&self) -> State {
        self.state
    }

    pub(crate) fn result(&self) -> UpdateResult {
        self.result
    }

    pub(crate) fn uri(&self) -> &str {
        &self.uri
    }

    pub(crate) fn package(&self) -> Option<&Package> {
        self.package.as_ref()
    }

    pub(crate) fn running_version(&self) -> &str {
        &self.running
    }

    pub(crate) fn update_due(&self) -> Option<Instant> {
        self.update_due
    }

    fn note(&mut self, resource: u16) {
        if self.changed.len() >= MAX_CHANGED {
            self.changed.pop_front();
        }
        self.changed.push_back(Path::Resource(OBJECT_ID, 0, resource));
    }

    /// The next changed resource, for observations.
    pub(crate) fn poll_changed(&mut self) -> Option<Path> {
        self.changed.pop_front()
    }

    fn set(&mut self, state: State, result: UpdateResult) {
        if self.state != state {
            self.state = state;
            self.note(STATE);
        }
        if self.result != result {
            self.result = result;
            self.note(UPDATE_RESULT);
        }
    }

    fn set_package(&mut self, package: Option<Package>) {
        if self.package != package {
            self.package = package;
            self.note(PKG_NAME);
            self.note(PKG_VERSION);
        }
    }

    /// Whether a new package may be delivered (not while downloading or updating).
    pub(crate) fn accepts_delivery(&self) -> bool {
        matches!(self.state, State::Idle | State::Downloaded)
    }

    /// `/5/0/0` written (push). An empty package resets to idle.
    pub(crate) fn write_package(&mut self, bytes: &[u8]) {
        if bytes.is_empty() {
            self.reset();
            return;
        }
        self.receive(bytes);
    }

    /// `/5/0/1` written (pull). An empty URI resets to idle.
    pub(crate) fn write_uri(&mut self, uri: &str) {
        self.uri = uri.to_owned();
        self.note(PACKAGE_URI);
        if uri.is_empty() {
            self.reset();
            return;
        }
        match parse_package_uri(uri) {
            Ok(source) => {
                self.set_package(None);
                self.pending_download = Some(source);
                self.set(State::Downloading, UpdateResult::Initial);
            }
            Err(result) => {
                self.set_package(None);
                self.set(State::Idle, result);
            }
        }
    }

    fn reset(&mut self) {
        self.pending_download = None;
        self.update_due = None;
        self.set_package(None);
        self.set(State::Idle, UpdateResult::Initial);
    }

    /// A pull the engine should start now.
    pub(crate) fn take_pending_download(&mut self) -> Option<PackageSource> {
        self.pending_download.take()
    }

    /// A package arrived (pushed, or downloaded).
    pub(crate) fn receive(&mut self, bytes: &[u8]) {
        match Package::parse(bytes) {
            Ok(package) => {
                self.set_package(Some(package));
                self.set(State::Downloaded, UpdateResult::Initial);
            }
            Err(error) => {
                self.set_package(None);
                self.set(State::Idle, error.into());
            }
        }
    }

    /// The download failed.
    pub(crate) fn download_failed(&mut self, result: UpdateResult) {
        self.set_package(None);
        self.set(State::Idle, result);
    }

    /// `/5/0/2` executed: `false` unless a package is downloaded.
    pub(crate) fn start_update(&mut self, now: Instant) -> bool {
        if self.state != State::Downloaded || self.package.is_none() {
            return false;
        }
        self.update_due = Some(now + self.update_delay);
        self.set(State::Updating, UpdateResult::Initial);
        true
    }

    /// Finishes a due update; returns the new running version.
    pub(crate) fn finish_update(&mut self, now: Instant) -> Option<String> {
        if self.update_due.is_none_or(|at| at > now) {
            return None;
        }
        self.update_due = None;
        let package = self.package.take()?;
        self.note(PKG_NAME);
        self.note(PKG_VERSION);
        self.running = package.version;
        self.set(State::Idle, UpdateResult::Success);
        Some(self.running.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_built_package_parses_and_reports_its_version_and_digest() {
        let bytes = Package::build("2.0.1", b"image bytes");
        let package = Package::parse(&bytes).expect("valid package");
        assert_eq!(package.version, "2.0.1");
        assert_eq!(package.sha256, hex::encode(openssl::sha::sha256(&bytes)));
    }

    #[test]
    fn a_flipped_image_bit_is_an_integrity_failure_and_junk_is_unsupported() {
        let mut bytes = Package::build("2.0", b"image");
        bytes[8] ^= 1;
        assert_eq!(Package::parse(&bytes), Err(PackageError::Integrity));
        assert_eq!(Package::parse(b"short"), Err(PackageError::Unsupported));
        assert_eq!(Package::parse(&[0u8; 64]), Err(PackageError::Unsupported));
        let mut long_version = MAGIC.to_vec();
        long_version.push(200);
        long_version.extend_from_slice(&[b'a'; 40]);
        assert_eq!(Package::parse(&long_version), Err(PackageError::Unsupported));
    }

    #[test]
    fn package_uris_accept_coap_and_classify_the_rest() {
        let source = parse_package_uri("coap://127.0.0.1:5699/fw/v2?x=1").expect("coap uri");
        assert_eq!(source.addr, "127.0.0.1:5699".parse().expect("addr"));
        assert_eq!(source.path_and_query, "/fw/v2?x=1");
        assert_eq!(parse_package_uri("coap://localhost/fw").expect("localhost").addr.port(), 5683);
        assert_eq!(parse_package_uri("coap://[::1]:7000/").expect("v6").addr.port(), 7000);
        assert_eq!(parse_package_uri("coaps://127.0.0.1/fw"), Err(UpdateResult::UnsupportedProtocol));
        assert_eq!(parse_package_uri("http://127.0.0.1/fw"), Err(UpdateResult::UnsupportedProtocol));
        assert_eq!(parse_package_uri("not a uri"), Err(UpdateResult::InvalidUri));
        assert_eq!(parse_package_uri("coap://example.com/fw"), Err(UpdateResult::InvalidUri));
    }

    #[test]
    fn push_then_update_moves_through_the_states_and_changes_the_version() {
        let now = Instant::now();
        let mut fw = Firmware::new("1.0", Duration::from_secs(2));
        assert!(!fw.start_update(now), "nothing downloaded yet");
        fw.write_package(&Package::build("2.0", b"img"));
        assert_eq!((fw.state(), fw.result()), (State::Downloaded, UpdateResult::Initial));
        assert!(fw.start_update(now));
        assert_eq!(fw.state(), State::Updating);
        assert_eq!(fw.finish_update(now + Duration::from_secs(1)), None, "not due yet");
        assert_eq!(fw.finish_update(now + Duration::from_secs(2)).as_deref(), Some("2.0"));
        assert_eq!((fw.state(), fw.result()), (State::Idle, UpdateResult::Success));
        assert_eq!(fw.running_version(), "2.0");
        let changed: Vec<Path> = std::iter::from_fn(|| fw.poll_changed()).collect();
        assert!(changed.contains(&Path::Resource(5, 0, STATE)));
        assert!(changed.contains(&Path::Resource(5, 0, UPDATE_RESULT)));
    }

    #[test]
    fn a_bad_uri_sets_the_result_and_stays_idle() {
        let mut fw = Firmware::new("1.0", Duration::ZERO);
        fw.write_uri("ftp://127.0.0.1/x");
        assert_eq!((fw.state(), fw.result()), (State::Idle, UpdateResult::UnsupportedProtocol));
        fw.write_uri("coap://127.0.0.1:1/fw");
        assert_eq!(fw.state(), State::Downloading);
        assert!(fw.take_pending_download().is_some());
        fw.download_failed(UpdateResult::ConnectionLost);
        assert_eq!((fw.state(), fw.result()), (State::Idle, UpdateResult::ConnectionLost));
    }
}
