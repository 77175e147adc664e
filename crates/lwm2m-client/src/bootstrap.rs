//! Bootstrap client (Core TS §6.1, spec notes §2.1): factory bootstrap is the configuration the
//! client is built with; client-initiated bootstrap sends `POST /bs?ep=…&pct=…` and then serves
//! Bootstrap-Delete/-Write/-Discover/-Read/-Finish from the bootstrap server; server-initiated
//! bootstrap is an Execute of `/1/x/9` (1.1) or a bootstrap server pushing writes (1.0 style).
//!
//! Invariant: Bootstrap-Delete never removes the bootstrap account (its `/0` instance) nor `/3/0`.

use std::time::Instant;

use coap::{Code, ContentFormat, Peer, Request, Response, Token};
use lwm2m::format::link::Link;
use lwm2m::{EndpointName, Path, PrefixedPath, Version};

use crate::dispatch::{self, request_path, DmError, WriteMode};
use crate::object::{parse_instances, InstanceValues, ResourceValue};
use crate::objects::security::{self, SecurityInstance};
use crate::objects::server::{self as server_object, ServerInstance};
use crate::tree::ObjectTree;

/// Where a bootstrap stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BootstrapState {
    /// No bootstrap running.
    Idle,
    /// Bootstrap-Request sent.
    Requesting {
        /// The exchange.
        token: Token,
        /// The bootstrap server.
        peer: Peer,
    },
    /// Request accepted; serving the bootstrap server until Finish or `deadline`.
    Waiting {
        /// The bootstrap server.
        peer: Peer,
        /// EXCHANGE_LIFETIME after the last interaction.
        deadline: Instant,
    },
}

/// The bootstrap account: its `/0` instance ID and content.
pub fn bootstrap_account(tree: &ObjectTree, now: Instant) -> Option<(u16, SecurityInstance)> {
    let object = tree.object(security::OBJECT_ID)?;
    let bootstrap = |instance, values: &dyn InstanceValues| {
        let account = SecurityInstance::from_values(values)?;
        account.bootstrap.then_some((instance, account))
    };
    parse_instances(object, now, bootstrap).into_iter().next()
}

/// `POST /bs?ep=…[&pct=…]` (`pct` from 1.1 on: our preferred format, SenML CBOR).
pub fn bootstrap_request(endpoint: &EndpointName, version: Version) -> Request {
    let request = Request::post("/bs").with_query(&format!("ep={endpoint}"));
    if version >= Version::V1_1 {
        request.with_query(&format!("pct={}", ContentFormat::SENML_CBOR.0))
    } else {
        request
    }
}

/// Whether the configuration is complete enough to finish: at least one Server instance whose
/// Short Server ID has a non-bootstrap Security instance.
pub fn is_consistent(tree: &ObjectTree, now: Instant) -> bool {
    let accounts: Vec<SecurityInstance> = instances(tree, now, security::OBJECT_ID)
        .iter()
        .filter_map(|(_, v)| SecurityInstance::from_values(v))
        .filter(|a| !a.bootstrap)
        .collect();
    instances(tree, now, server_object::OBJECT_ID)
        .iter()
        .filter_map(|(_, v)| ServerInstance::from_values(v))
        .any(|s| accounts.iter().any(|a| a.server_id == Some(s.server_id)))
}

fn instances(
    tree: &ObjectTree,
    now: Instant,
    object: u16,
) -> Vec<(u16, std::collections::BTreeMap<u16, ResourceValue>)> {
    let Some(obj) = tree.object(object) else { return Vec::new() };
    obj.instances().into_iter().filter_map(|i| Some((i, obj.read(now, i)?))).collect()
}

/// What a bootstrap-interface request led to.
#[derive(Debug, PartialEq)]
pub(crate) struct BootstrapReply {
    pub response: Response,
    pub finished: bool,
}

/// Serves one request from the bootstrap server.
pub(crate) fn handle(tree: &mut ObjectTree, now: Instant, request: &Request, version: Version) -> BootstrapReply {
    let finish = request.method == Code::POST && request.options.uri_path() == ["bs"];
    if finish {
        // An inconsistent configuration is refused with 4.06 (Core TS §6.1.7.7).
        let code = if is_consistent(tree, now) { Code::CHANGED } else { Code::NOT_ACCEPTABLE };
        return BootstrapReply { finished: code == Code::CHANGED, response: Response::new(code) };
    }
    match route(tree, now, request, version) {
        Ok(response) => BootstrapReply { finished: false, response },
        Err(error) => {
            tracing::debug!(%error, path = %request.path(), "bootstrap request refused");
            let code = match error {
                DmError::NotAllowed(_) if request.method == Code::DELETE => Code::BAD_REQUEST,
                ref other => Code::from(other),
            };
            BootstrapReply { finished: false, response: Response::new(code) }
        }
    }
}

fn route(tree: &mut ObjectTree, now: Instant, request: &Request, version: Version) -> Result<Response, DmError> {
    let path = request_path(request)?;
    let accept = request.options.accept();
    match request.method {
        Code::GET if accept == Some(ContentFormat::LINK_FORMAT) => discover(tree, now, &path, version),
        Code::GET => {
            if !matches!(path.object_id(), Some(1 | 2)) || path.depth() > 2 {
                return Err(DmError::Unauthorized(path));
            }
            let records = tree.records(now, &path, false)?;
            let cf = accept.or((version >= Version::V1_1).then_some(ContentFormat::SENML_CBOR));
            let (cf, payload) = dispatch::encode(tree, &records, &path, cf, version)?;
            Ok(Response::content(cf, payload))
        }
        Code::PUT => {
            if path == Path::Root {
                return Err(DmError::NotAllowed("bootstrap-write on /".to_owned()));
            }
            let cf = request
                .options
                .content_format()
                .ok_or_else(|| DmError::BadRequest("bootstrap-write needs a content format".to_owned()))?;
            let records = lwm2m::format::decode(cf, &request.payload, &PrefixedPath::plain(path), tree.registry())
                .map_err(|e| match e {
                    lwm2m::FormatError::UnsupportedFormat(cf) => DmError::UnsupportedContentFormat(cf),
                    other => DmError::BadRequest(other.to_string()),
                })?;
            dispatch::apply_write(tree, now, &path, records, WriteMode::Bootstrap)?;
            Ok(Response::new(Code::CHANGED))
        }
        Code::DELETE => {
            delete(tree, now, &path)?;
            Ok(Response::new(Code::DELETED))
        }
        _ => Err(DmError::BadRequest(format!("method {} on {path} in bootstrap", request.method))),
    }
}

/// Whether `object/instance` survives every Bootstrap-Delete.
fn protected(tree: &ObjectTree, now: Instant, object: u16, instance: u16) -> bool {
    (object == 3 && instance == 0)
        || (object == security::OBJECT_ID && bootstrap_account(tree, now).is_some_and(|(i, _)| i == instance))
}

fn delete(tree: &mut ObjectTree, now: Instant, path: &Path) -> Result<(), DmError> {
    let targets: Vec<(u16, u16)> = match *path {
        Path::Root => tree
            .object_ids()
            .into_iter()
            .flat_map(|o| {
                tree.object(o).map(|obj| obj.instances()).unwrap_or_default().into_iter().map(move |i| (o, i))
            })
            .collect(),
        Path::Object(o) => {
            let object = tree.object(o).ok_or(DmError::NotFound(*path))?;
            object.instances().into_iter().map(|i| (o, i)).collect()
        }
        Path::Instance(o, i) => {
            if protected(tree, now, o, i) {
                return Err(DmError::BadRequest(format!("{path} cannot be deleted")));
            }
            vec![(o, i)]
        }
        _ => return Err(DmError::BadRequest(format!("bootstrap-delete on {path}"))),
    };
    for (o, i) in targets {
        if protected(tree, now, o, i) {
            continue;
        }
        if let Some(object) = tree.object_mut(o) {
            if let Err(error) = object.delete(i) {
                tracing::debug!(%error, o, i, "bootstrap-delete skipped an instance");
            }
        }
    }
    Ok(())
}

/// Bootstrap-Discover (Core TS §5.2.7.3 in 1.1.1): `</>;lwm2m=1.1,</0/0>;ssid=101;uri="…",…`.
fn discover(tree: &ObjectTree, now: Instant, path: &Path, version: Version) -> Result<Response, DmError> {
    let objects = match *path {
        Path::Root => tree.object_ids(),
        Path::Object(o) if tree.object(o).is_some() => vec![o],
        Path::Object(_) => return Err(DmError::NotFound(*path)),
        _ => return Err(DmError::BadRequest(format!("bootstrap-discover on {path}"))),
    };
    let mut links = Vec::new();
    if *path == Path::Root {
        links.push(Link::new("/").with("lwm2m", version.as_str()));
    }
    for o in objects {
        let Some(object) = tree.object(o) else { continue };
        let ids = object.instances();
        if ids.is_empty() {
            links.push(Link::to_path(&PrefixedPath::plain(Path::Object(o))));
        }
        for i in ids {
            let mut link = Link::to_path(&PrefixedPath::plain(Path::Instance(o, i)));
            let values = object.read(now, i).unwrap_or_default();
            if o == security::OBJECT_ID {
                if let Some(account) = SecurityInstance::from_values(&values).filter(|a| !a.bootstrap) {
                    if let Some(id) = account.server_id {
                        link = link.with("ssid", id.to_string());
                    }
                    link = link.with("uri", account.uri.clone());
                }
            } else if o == server_object::OBJECT_ID {
                if let Some(server) = ServerInstance::from_values(&values) {
                    link = link.with("ssid", server.server_id.to_string());
                }
            }
            links.push(link);
        }
    }
    Ok(Response::content(ContentFormat::LINK_FORMAT, lwm2m::format::link::encode(&links)))
}
