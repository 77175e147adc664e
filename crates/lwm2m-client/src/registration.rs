//! Per-server registration state (Core TS §6.2, spec notes §2.2, pitfalls 5 and 7): Register,
//! Update at `lifetime − margin`, re-Register after 4.04 on Update, De-register, Disable, and
//! the fall-back from LwM2M 1.1 to 1.0 when a server answers 4.12 (or 4.00 citing the version).
//!
//! This module owns the state and builds the requests; `client.rs` feeds it responses and
//! timers. Invariant: at most one registration exchange per server is in flight.

use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use coap::{Code, ContentFormat, OptionNumber, Peer, Request, Response, Token};
use lwm2m::{AttributeStore, Binding, EndpointName, ObjectLinks, RegisterParams, RootLink, UpdateParams, Version};

use crate::object::ServerId;
use crate::objects::server::ServerInstance;

/// Why a server URI cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ServerAddrError {
    /// Not `coap://` or `coaps://`.
    #[error("server uri {0:?} is not coap:// or coaps://")]
    Scheme(String),
    /// The host is a name; the engine resolves no names.
    #[error("server uri {0:?} does not hold an ip literal")]
    NotLiteral(String),
    /// The port is not a number.
    #[error("server uri {0:?} has a bad port")]
    Port(String),
}

/// Resolves `coap://192.0.2.1:5683`, `coaps://[2001:db8::1]` … to an address, and whether it
/// asks for DTLS. Default ports: 5683 (coap), 5684 (coaps).
pub fn parse_server_uri(uri: &str) -> Result<(SocketAddr, bool), ServerAddrError> {
    let (rest, secure) = if let Some(rest) = uri.strip_prefix("coaps://") {
        (rest, true)
    } else if let Some(rest) = uri.strip_prefix("coap://") {
        (rest, false)
    } else {
        return Err(ServerAddrError::Scheme(uri.to_owned()));
    };
    let authority = rest.split('/').next().unwrap_or_default();
    let default_port = if secure { 5684 } else { 5683 };
    let (host, port) = if let Some(v6) = authority.strip_prefix('[') {
        let (host, after) = v6.split_once(']').ok_or_else(|| ServerAddrError::NotLiteral(uri.to_owned()))?;
        (host, after.strip_prefix(':'))
    } else {
        match authority.rsplit_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (authority, None),
        }
    };
    let ip: IpAddr = host.parse().map_err(|_| ServerAddrError::NotLiteral(uri.to_owned()))?;
    let port = match port {
        Some(p) => p.parse().map_err(|_| ServerAddrError::Port(uri.to_owned()))?,
        None => default_port,
    };
    Ok((SocketAddr::new(ip, port), secure))
}

/// Where a server's registration stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RegState {
    /// Not registered; (re-)Register at `retry_at` (`None`: wait for a command).
    Idle {
        /// When to try.
        retry_at: Option<Instant>,
    },
    /// Register sent.
    Registering {
        /// The exchange.
        token: Token,
    },
    /// Registered; Update due at `update_at` (`None` for an infinite lifetime).
    Registered {
        /// Next Update.
        update_at: Option<Instant>,
    },
    /// Update sent.
    Updating {
        /// The exchange.
        token: Token,
    },
    /// De-register sent; then stay silent until `disable_until` if set.
    Deregistering {
        /// The exchange.
        token: Token,
        /// End of a Disable period.
        disable_until: Option<Instant>,
    },
    /// Disabled by `/1/x/4` until the instant given.
    Disabled {
        /// When to Register again.
        until: Instant,
    },
}

/// What the client remembers of one management server.
#[derive(Debug)]
pub struct ServerSession {
    /// Short Server ID.
    pub id: ServerId,
    /// Where it is.
    pub peer: Peer,
    /// `/0/x/0`.
    pub uri: String,
    /// LwM2M version of the current (or next) Register.
    pub version: Version,
    /// Registration state.
    pub state: RegState,
    /// `Location-Path` of the registration (`["rd", "5a3f"]`).
    pub location: Vec<String>,
    /// Lifetime and binding last told to the server.
    pub registered: Option<(u32, String)>,
    /// Digest ([`links_digest`]) of the object list last told to the server; `None` before the
    /// first Register. A gateway's list names every End-Device's `/25` instance, so the list
    /// itself is not kept.
    pub registered_links: Option<u64>,
    /// An Update was asked for while an exchange was in flight.
    pub update_pending: bool,
    /// Notification attributes this server wrote (Core TS §7.3).
    pub attributes: AttributeStore,
    /// Last time we sent to or heard from the server (queue mode).
    pub last_traffic_at: Instant,
    /// Queue mode: we consider ourselves asleep towards this server.
    pub sleeping: bool,
    /// Failed Registers in a row.
    pub failures: u32,
}

impl ServerSession {
    /// A fresh, unregistered session.
    pub fn new(now: Instant, id: ServerId, peer: Peer, uri: String, version: Version) -> Self {
        Self {
            id,
            peer,
            uri,
            version,
            state: RegState::Idle { retry_at: Some(now) },
            location: Vec::new(),
            registered: None,
            registered_links: None,
            update_pending: false,
            attributes: AttributeStore::new(),
            last_traffic_at: now,
            sleeping: false,
            failures: 0,
        }
    }

    /// Whether the server holds a registration of ours.
    pub fn is_registered(&self) -> bool {
        matches!(self.state, RegState::Registered { .. } | RegState::Updating { .. })
    }

    /// The registration's path (`/rd/5a3f`).
    pub fn location_path(&self) -> String {
        self.location.iter().map(|s| format!("/{s}")).collect()
    }
}

/// A 64-bit digest of an object list payload, to tell whether it changed since it was sent.
pub fn links_digest(links: &str) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut hasher = std::hash::DefaultHasher::new();
    links.hash(&mut hasher);
    hasher.finish()
}

/// The object list as sent in Register/Update for `version`: 1.1 adds the root link with the
/// optional content formats.
pub fn links_payload(links: &ObjectLinks, version: Version, formats: &[u16]) -> String {
    let mut links = links.clone();
    if version >= Version::V1_1 {
        links.root = Some(RootLink::root(formats.to_vec()));
    }
    links.encode()
}

/// The binding to announce and whether queue mode is on.
pub fn binding_of(server: &ServerInstance) -> (Binding, bool) {
    let transports = server.binding.chars().filter_map(lwm2m::Transport::from_letter);
    (Binding::new(transports).unwrap_or_else(Binding::udp), server.queue_mode())
}

/// `POST /rd?ep=…&lt=…&lwm2m=…&b=…[&Q]` with the object list.
pub fn register_request(endpoint: &EndpointName, server: &ServerInstance, version: Version, links: &str) -> Request {
    let mut params = RegisterParams::new(endpoint.clone());
    params.lifetime = Some(server.lifetime);
    params.lwm2m_version = Some(version);
    let (binding, queue) = binding_of(server);
    params.binding = Some(binding);
    params.queue_mode = queue;
    let mut request = Request::post("/rd").with_payload(ContentFormat::LINK_FORMAT, links.as_bytes().to_vec());
    for item in params.to_query() {
        request = request.with_query(&item);
    }
    request
}

/// `POST /rd/<id>[?lt=…][&b=…]` carrying only what changed, and the object list if it changed.
pub fn update_request(session: &ServerSession, server: &ServerInstance, links: &str) -> Request {
    let mut params = UpdateParams::default();
    let (binding, queue) = binding_of(server);
    if let Some((lifetime, registered_binding)) = &session.registered {
        if *lifetime != server.lifetime {
            params.lifetime = Some(server.lifetime);
        }
        if *registered_binding != server.binding {
            params.binding = Some(binding);
            params.queue_mode = Some(queue);
        }
    }
    let mut request = Request::post(&session.location_path());
    for item in params.to_query(session.version) {
        request = request.with_query(&item);
    }
    if session.registered_links != Some(links_digest(links)) {
        request = request.with_payload(ContentFormat::LINK_FORMAT, links.as_bytes().to_vec());
    }
    request
}

/// When to send the Update after a successful Register/Update at `now`: `lifetime − margin`
/// with margin = min(lifetime / 2, `max_margin`); `None` for lifetime 0 (no expiry).
pub fn update_deadline(now: Instant, lifetime: u32, max_margin: Duration) -> Option<Instant> {
    if lifetime == 0 {
        return None;
    }
    let lifetime = Duration::from_secs(u64::from(lifetime));
    let margin = (lifetime / 2).min(max_margin);
    Some(now + (lifetime - margin))
}

/// Whether a failed Register should be retried as LwM2M 1.0: 4.12, or 4.00 whose diagnostic
/// payload names the version.
pub fn asks_for_fallback(response: &Response, version: Version) -> bool {
    if version == Version::V1_0 {
        return false;
    }
    if response.code == Code::PRECONDITION_FAILED {
        return true;
    }
    let text = String::from_utf8_lossy(&response.payload).to_ascii_lowercase();
    response.code == Code::BAD_REQUEST && (text.contains("version") || text.contains("lwm2m"))
}

/// The `Location-Path` segments of a 2.01.
pub fn location_of(response: &Response) -> Vec<String> {
    response.options.get_all(OptionNumber::LOCATION_PATH).map(|s| String::from_utf8_lossy(s).into_owned()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_uris_resolve_ip_literals_only() {
        assert_eq!(parse_server_uri("coap://192.0.2.1:5690"), Ok(("192.0.2.1:5690".parse().expect("addr"), false)));
        assert_eq!(parse_server_uri("coaps://[2001:db8::1]"), Ok(("[2001:db8::1]:5684".parse().expect("addr"), true)));
        assert_eq!(parse_server_uri("coap://10.0.0.1"), Ok(("10.0.0.1:5683".parse().expect("addr"), false)));
        assert!(matches!(parse_server_uri("coap://leshan.eclipse.org"), Err(ServerAddrError::NotLiteral(_))));
        assert!(matches!(parse_server_uri("http://10.0.0.1"), Err(ServerAddrError::Scheme(_))));
        assert!(matches!(parse_server_uri("coap://10.0.0.1:x"), Err(ServerAddrError::Port(_))));
    }

    #[test]
    fn update_comes_at_lifetime_minus_margin() {
        let now = Instant::now();
        let margin = Duration::from_secs(93);
        assert_eq!(update_deadline(now, 300, margin), Some(now + Duration::from_secs(207)));
        assert_eq!(update_deadline(now, 60, margin), Some(now + Duration::from_secs(30)));
        assert_eq!(update_deadline(now, 0, margin), None);
    }

    #[test]
    fn fallback_on_4_12_or_4_00_naming_the_version() {
        let r = Response::new(Code::PRECONDITION_FAILED);
        assert!(asks_for_fallback(&r, Version::V1_1));
        assert!(!asks_for_fallback(&r, Version::V1_0));
        let r = Response::new(Code::BAD_REQUEST).with_body(b"unsupported lwm2m version".to_vec());
        assert!(asks_for_fallback(&r, Version::V1_1));
        assert!(!asks_for_fallback(&Response::new(Code::BAD_REQUEST), Version::V1_1));
    }
}
