//! The gateway hook (Gateway TS 1.1.1 §8.3, spec notes §7.3): requests for an End-Device behind
//! a gateway are not dispatched onto the object tree but handed to the application.
//!
//! The application registers the End-Device prefixes with
//! [`Client::set_proxy_prefixes`](crate::Client::set_proxy_prefixes), or, when it keeps its
//! End-Devices itself, hands the client a [`ProxyPrefixes`] to ask with
//! [`Client::share_proxy_prefixes`](crate::Client::share_proxy_prefixes). A request whose first
//! Uri-Path segment is one of them, or a composite request (`FETCH /`, `iPATCH /`) whose SenML
//! body names one of them, comes out as
//! [`ClientEvent::ProxyRequest`](crate::ClientEvent::ProxyRequest) with a [`ProxyHandle`]; the
//! application answers it later with [`Client::respond_proxied`](crate::Client::respond_proxied) (the CoAP
//! endpoint sends an empty ACK meanwhile) and, for an accepted Observe, sends each notification
//! with [`Client::notify_proxied`](crate::Client::notify_proxied). Access control does not apply to End-Device
//! objects (Gateway TS §7).

use std::fmt;

use coap::{Code, ContentFormat, Peer, Request, Token};
use lwm2m::format::senml;

use crate::object::ServerId;

/// The handle of one request handed to the application: the server it came from and the
/// exchange (also the observation, for an Observe).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct ProxyHandle {
    /// The server that sent the request.
    pub server: ServerId,
    /// Its peer.
    pub peer: Peer,
    /// The request's token.
    pub token: Token,
}

/// Which End-Device prefixes the application serves, asked for every request: for an
/// application that keeps its End-Devices itself (a gateway with thousands of them) rather than
/// a copy of each prefix in the client.
pub trait ProxyPrefixes: fmt::Debug + Send {
    /// Whether requests for the End-Device prefix `prefix` go to the application.
    fn contains(&self, prefix: &str) -> bool;
}

/// Whether `request` is for a prefix that `is_prefix` accepts.
pub(crate) fn is_proxied(request: &Request, is_prefix: impl Fn(&str) -> bool) -> bool {
    if let Some(first) = request.options.uri_path().first() {
        return is_prefix(first.as_str());
    }
    if request.method != Code::FETCH && request.method != Code::IPATCH {
        return false;
    }
    let Some(cf) = request.options.content_format() else { return false };
    let names = if request.method == Code::FETCH {
        senml::decode_paths(cf, &request.payload).ok()
    } else {
        composite_write_names(cf, &request.payload)
    };
    names.is_some_and(|paths| paths.iter().any(|p| p.prefix.as_ref().is_some_and(|prefix| is_prefix(prefix.as_str()))))
}

/// The names of a Write-Composite body, without model checks (End-Device objects may be
/// unknown to the gateway's registry).
fn composite_write_names(cf: ContentFormat, payload: &[u8]) -> Option<Vec<lwm2m::PrefixedPath>> {
    let registry = lwm2m::Registry::empty();
    let root = lwm2m::PrefixedPath::plain(lwm2m::Path::Root);
    lwm2m::format::decode(cf, payload, &root, &registry)
        .ok()
        .map(|records| records.into_iter().map(|r| r.path).collect())
}
