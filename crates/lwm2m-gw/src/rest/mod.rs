//! The REST API of `lwm2m-gw server`, compatible with the Leshan demo servers' API for the
//! operations both have (paths, parameters, JSON shapes and status codes of Leshan's
//! `ClientServlet`, `EventServlet`, `SecurityServlet` and the bootstrap demo's
//! `BootstrapServlet`):
//!
//! - `GET /api/clients`, `GET /api/clients/{ep}`: registrations (End-Devices behind gateways
//!   included, marked with `gateway` and `prefix`).
//! - `/api/clients/{ep}/{path}`: `GET` read, `PUT` write (`replace`), `POST` execute (text body)
//!   or create (JSON instance), `DELETE` delete; `/discover`, `/observe` (`POST`, `DELETE`,
//!   `?active` for an active cancel), `/attributes` (`PUT` with the attributes as query);
//!   `/api/clients/{ep}/composite` (`GET paths=…`, `PUT`, `/observe`). Parameters `format`,
//!   `timeout` (seconds, default 5), `pathformat`, `nodeformat`.
//! - `GET /api/event[?ep=…]`: server-sent events.
//! - `/api/security/clients`: `GET` list, `PUT` add, `DELETE /{ep}`.
//! - `/api/bootstrap`: `GET` all, `GET|POST|DELETE /{ep}`.
//!
//! Unknown clients are answered 400 `no registered client with id '…'`, request timeouts 504
//! `Request timeout`, invalid requests 400 `Invalid request: …`, as Leshan does.

pub(crate) mod json;

use std::collections::{BTreeMap, HashMap};
use std::convert::Infallible;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Path as UrlPath, RawQuery, State};
use axum::http::{header, HeaderMap, Method, StatusCode};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, delete, get};
use axum::Router;
use coap::ContentFormat;
use futures_util::stream::Stream;
use lwm2m::format::Record;
use lwm2m::{AttributeChanges, EndpointName, ExecuteArguments, NewInstance, Node, Path, PrefixedPath, Registry, Value};
use lwm2m_server::bootstrap::{BootstrapConfig, BootstrapServer};
use lwm2m_server::{Content, DmRequest, DmResponse, RequestFailure, RequestOptions, SecurityInfo, WriteMode};
use serde_json::{json, Map, Value as Json};
use tokio::sync::{broadcast, oneshot};
use tokio_stream::wrappers::BroadcastStream;
use tokio_stream::StreamExt;
use transport::{DriverHandle, Secured};

use crate::server::face::{ServerFace, StreamEvent};
use crate::server::Keys;
use crate::store::{Scope, SecurityEntry, SecurityMode, Store};

/// Default time a device-management request may take (Leshan's demo: 5 s).
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(5);
/// Longest `timeout` accepted.
const MAX_TIMEOUT: Duration = Duration::from_secs(600);
/// Largest request body read.
const MAX_BODY: usize = 256 * 1024;

/// Handle of one LwM2M Server face's driver.
pub(crate) type ServerHandle = DriverHandle<Secured<ServerFace>>;
/// Handle of one Bootstrap Server face's driver.
pub(crate) type BootstrapHandle = DriverHandle<Secured<BootstrapServer>>;

/// What every handler shares.
#[derive(Debug, Clone)]
pub(crate) struct Shared {
    /// The LwM2M Server faces (plain, DTLS).
    pub(crate) faces: Vec<ServerHandle>,
    /// The Bootstrap Server faces.
    pub(crate) bootstrap: Vec<BootstrapHandle>,
    /// Durable state.
    pub(crate) store: Arc<Store>,
    /// Keys the DTLS layers look up.
    pub(crate) keys: Arc<Keys>,
    /// The event stream.
    pub(crate) events: broadcast::Sender<StreamEvent>,
    /// Which security store `/api/security/clients` manages.
    pub(crate) scope: Scope,
}

type AppState = Arc<Shared>;

/// The router of the whole API.
pub(crate) fn router(shared: Arc<Shared>) -> Router {
    let clients = Router::new()
        .route("/api/clients", get(list_clients))
        .route("/api/clients/", get(list_clients))
        .route("/api/clients/{ep}", get(get_client))
        .route("/api/clients/{ep}/{*rest}", any(client_operation))
        .route("/api/event", get(event_stream));
    finish(clients.merge(bootstrap_routes()), shared)
}

/// The router of the Bootstrap Server's API alone (Leshan's bootstrap demo): its own security
/// store and the bootstrap configurations.
pub(crate) fn bootstrap_router(shared: Arc<Shared>) -> Router {
    finish(bootstrap_routes(), shared)
}

/// The security store and the bootstrap configurations, in both routers.
fn bootstrap_routes() -> Router<AppState> {
    Router::new()
        .route("/api/security/clients", get(list_security).put(put_security))
        .route("/api/security/clients/", get(list_security).put(put_security))
        .route("/api/security/clients/{ep}", delete(delete_security))
        .route("/api/bootstrap", get(list_bootstrap))
        .route("/api/bootstrap/", get(list_bootstrap))
        .route(
            "/api/bootstrap/{ep}",
            get(get_bootstrap).post(post_bootstrap).put(post_bootstrap).delete(delete_bootstrap),
        )
}

/// What every router ends with: 404 for the rest, the body limit, the shared state.
fn finish(routes: Router<AppState>, shared: Arc<Shared>) -> Router {
    routes
        .fallback(|| async { (StatusCode::NOT_FOUND, "no such resource") })
        .layer(DefaultBodyLimit::max(MAX_BODY))
        .with_state(shared)
}

/// Why a REST request fails; the one place choosing HTTP codes.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ApiError {
    /// No registration has this endpoint name (400, as Leshan).
    #[error("no registered client with id '{0}'")]
    UnknownClient(String),
    /// The request is malformed.
    #[error("Invalid request: {0}")]
    Invalid(String),
    /// Nothing stored under this name.
    #[error("{0}")]
    NotFound(String),
    /// No answer in time (504, as Leshan).
    #[error("Request timeout")]
    Timeout,
    /// The request ended without an answer.
    #[error("Request cancelled: {0}")]
    Cancelled(String),
    /// The server itself failed.
    #[error("Unexpected exception: {0}")]
    Internal(String),
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = match &self {
            Self::UnknownClient(_) | Self::Invalid(_) => StatusCode::BAD_REQUEST,
            Self::NotFound(_) => StatusCode::NOT_FOUND,
            Self::Timeout => StatusCode::GATEWAY_TIMEOUT,
            Self::Cancelled(_) | Self::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        };
        (status, [(header::CONTENT_TYPE, "text/plain; charset=utf-8")], self.to_string()).into_response()
    }
}

fn invalid(error: impl std::fmt::Display) -> ApiError {
    ApiError::Invalid(error.to_string())
}

fn internal(error: impl std::fmt::Display) -> ApiError {
    ApiError::Internal(error.to_string())
}

/// Runs a store call (a small SQLite transaction with fsync) without stalling the other tasks
/// of this worker thread (the runtime is multi-threaded).
fn durable<R>(call: impl FnOnce() -> R) -> R {
    tokio::task::block_in_place(call)
}

fn json_ok(value: Json) -> Response {
    (StatusCode::OK, axum::Json(value)).into_response()
}

/// The query string as decoded `name[=value]` items, in order.
fn query_items(raw: Option<&str>) -> Vec<(String, Option<String>)> {
    raw.unwrap_or_default()
        .split('&')
        .filter(|item| !item.is_empty())
        .map(|item| match item.split_once('=') {
            Some((name, value)) => (percent_decode(name), Some(percent_decode(value))),
            None => (percent_decode(item), None),
        })
        .collect()
}

fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut index = 0;
    while let Some(&byte) = bytes.get(index) {
        match byte {
            b'+' => out.push(b' '),
            b'%' => {
                let hex = bytes.get(index + 1..index + 3).and_then(|h| std::str::from_utf8(h).ok());
                match hex.and_then(|h| u8::from_str_radix(h, 16).ok()) {
                    Some(decoded) => {
                        out.push(decoded);
                        index += 2;
                    }
                    None => out.push(b'%'),
                }
            }
            other => out.push(other),
        }
        index += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn param<'a>(items: &'a [(String, Option<String>)], name: &str) -> Option<&'a str> {
    items.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_deref().unwrap_or(""))
}

/// Leshan's `ContentFormat.fromName` names (and numbers).
fn content_format(name: Option<&str>) -> Result<Option<ContentFormat>, ApiError> {
    let Some(name) = name.filter(|n| !n.is_empty()) else { return Ok(None) };
    let cf = match name.to_ascii_uppercase().as_str() {
        "TLV" => ContentFormat::TLV,
        "SENML_JSON" => ContentFormat::SENML_JSON,
        "SENML_CBOR" => ContentFormat::SENML_CBOR,
        "LWM2M_CBOR" => ContentFormat::LWM2M_CBOR,
        "TEXT" => ContentFormat::TEXT,
        "OPAQUE" => ContentFormat::OPAQUE,
        "CBOR" => ContentFormat::CBOR,
        "JSON" => ContentFormat::OMA_JSON,
        "LINK" => ContentFormat::LINK_FORMAT,
        other => match other.parse::<u16>() {
            Ok(number) => ContentFormat(number),
            Err(_) => return Err(ApiError::Invalid(format!("unknown content format {other:?}"))),
        },
    };
    Ok(Some(cf))
}

fn timeout_of(items: &[(String, Option<String>)]) -> Duration {
    param(items, "timeout")
        .and_then(|t| t.parse::<u64>().ok())
        .map_or(DEFAULT_TIMEOUT, |secs| Duration::from_secs(secs).min(MAX_TIMEOUT).max(Duration::from_secs(1)))
}

fn endpoint_name(ep: &str) -> Result<EndpointName, ApiError> {
    EndpointName::new(ep).map_err(|_| ApiError::UnknownClient(ep.to_owned()))
}

fn parse_path(text: &str) -> Result<PrefixedPath, ApiError> {
    let text = if text.starts_with('/') { text.to_owned() } else { format!("/{text}") };
    text.parse::<PrefixedPath>().map_err(|e| ApiError::Invalid(format!("invalid path {text:?}: {e}")))
}

impl Shared {
    /// The face holding `endpoint` (a registration or an End-Device). When the endpoint
    /// registered again on another face, the most recent registration wins (the older one
    /// is dropped by its face right after, see `server::supersede`).
    async fn locate(&self, endpoint: &EndpointName) -> Result<&ServerHandle, ApiError> {
        let mut best: Option<(Instant, &ServerHandle)> = None;
        for face in &self.faces {
            let ep = endpoint.clone();
            let updated = face
                .call(move |engine, _| {
                    let server = &engine.inner().server;
                    let gateway = server.end_device(&ep).map(|device| device.gateway.clone());
                    server.registration(gateway.as_ref().unwrap_or(&ep)).map(|reg| reg.updated_at)
                })
                .await
                .map_err(internal)?;
            if let Some(at) = updated {
                if best.is_none_or(|(newest, _)| at > newest) {
                    best = Some((at, face));
                }
            }
        }
        best.map(|(_, face)| face).ok_or_else(|| ApiError::UnknownClient(endpoint.to_string()))
    }

    /// Sends `request` to `endpoint` and waits for the answer at most `timeout`.
    async fn send(
        &self,
        endpoint: &EndpointName,
        request: DmRequest,
        timeout: Duration,
        format: Option<ContentFormat>,
    ) -> Result<DmResponse, ApiError> {
        let face = self.locate(endpoint).await?;
        let (answer, wait) = oneshot::channel();
        let ep = endpoint.clone();
        let options = RequestOptions { format, timeout: Some(timeout) };
        face.call(move |engine, now| {
            let face = engine.inner_mut();
            let sent = face.server.send(now, &ep, request, options);
            if let Ok(id) = &sent {
                face.wait_for(*id, answer);
            }
            face.drain(now);
            sent
        })
        .await
        .map_err(internal)?
        .map_err(|e| match e {
            lwm2m_server::SendError::UnknownEndpoint(ep) => ApiError::UnknownClient(ep),
            other => invalid(other),
        })?;
        match tokio::time::timeout(timeout + Duration::from_millis(200), wait).await {
            Err(_) | Ok(Ok(Err(RequestFailure::Timeout))) => Err(ApiError::Timeout),
            Ok(Err(_)) => Err(ApiError::Internal("the server engine stopped".to_owned())),
            Ok(Ok(Err(failure))) => Err(ApiError::Cancelled(failure.to_string())),
            Ok(Ok(Ok(response))) => Ok(response),
        }
    }
}

async fn list_clients(State(shared): State<AppState>) -> Result<Response, ApiError> {
    // Endpoint → (last update, JSON); an endpoint on two faces shows its newest registration.
    let mut all: BTreeMap<String, (Instant, Json)> = BTreeMap::new();
    for face in &shared.faces {
        let listed = face
            .call(|engine, now| {
                let server = &engine.inner().server;
                let mut out: Vec<(String, Instant, Json)> = server
                    .registrations()
                    .map(|r| {
                        let json = json::registration(r, server.is_awake(now, &r.endpoint));
                        (r.endpoint.to_string(), r.updated_at, json)
                    })
                    .collect();
                for device in server.end_devices() {
                    if let Some(gateway) = server.registration(&device.gateway) {
                        let json = json::end_device(device, gateway);
                        out.push((device.endpoint.to_string(), gateway.updated_at, json));
                    }
                }
                out
            })
            .await
            .map_err(internal)?;
        for (endpoint, at, json) in listed {
            if all.get(&endpoint).is_none_or(|(newest, _)| at > *newest) {
                all.insert(endpoint, (at, json));
            }
        }
    }
    Ok(json_ok(Json::Array(all.into_values().map(|(_, json)| json).collect())))
}

async fn get_client(State(shared): State<AppState>, UrlPath(ep): UrlPath<String>) -> Result<Response, ApiError> {
    let endpoint = endpoint_name(&ep)?;
    let face = shared.locate(&endpoint).await?;
    let found = face
        .call(move |engine, now| {
            let server = &engine.inner().server;
            if let Some(reg) = server.registration(&endpoint) {
                return Some(json::registration(reg, server.is_awake(now, &endpoint)));
            }
            let device = server.end_device(&endpoint)?;
            server.registration(&device.gateway).map(|gateway| json::end_device(device, gateway))
        })
        .await
        .map_err(internal)?;
    found.map(json_ok).ok_or(ApiError::UnknownClient(ep))
}

/// Converts a node placed at `path` into records typed by the object models.
fn node_records(node: &Node, path: &Path) -> Result<Vec<Record>, ApiError> {
    let records = node.to_records(path).map_err(invalid)?;
    typed(records)
}

/// The records of a composite write body (`{"/path": node, …}`), each keeping its path's
/// prefix (an End-Device behind a gateway).
fn composite_records(map: &Map<String, Json>) -> Result<Vec<Record>, ApiError> {
    let mut records = Vec::new();
    for (path, node) in map {
        let path = parse_path(path)?;
        let node = Node::from_json(node).map_err(invalid)?;
        records.extend(node_records(&node, &path.path)?.into_iter().map(|mut record| {
            record.path.prefix.clone_from(&path.prefix);
            record
        }));
    }
    Ok(records)
}

fn typed(records: Vec<Record>) -> Result<Vec<Record>, ApiError> {
    let registry = Registry::bundled_ref();
    records
        .into_iter()
        .map(|mut record| {
            let ids = match record.path.path {
                Path::Resource(o, _, r) | Path::ResourceInstance(o, _, r, _) => Some((o, r)),
                _ => None,
            };
            if let Some(model) = ids.and_then(|(o, r)| registry.resource(o, r)) {
                if record.value.data_type() != model.data_type {
                    record.value = record.value.coerce(model.data_type).map_err(|e| {
                        ApiError::Invalid(format!("value of {} does not fit its model: {e}", record.path))
                    })?;
                }
            }
            Ok(record)
        })
        .collect()
}

fn body_node(headers: &HeaderMap, body: &Bytes, path: &Path) -> Result<Node, ApiError> {
    let content_type = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("");
    let mime = content_type.split(';').next().unwrap_or("").trim();
    match mime {
        "text/plain" => {
            let Path::Resource(_, _, r) = *path else {
                return Err(ApiError::Invalid("a text body can only write a resource".to_owned()));
            };
            let text = String::from_utf8(body.to_vec()).map_err(invalid)?;
            Ok(Node::SingleResource(lwm2m::SingleResource { id: r, value: Value::String(text) }))
        }
        _ => {
            let json: Json =
                serde_json::from_slice(body).map_err(|e| ApiError::Invalid(format!("unable to parse json: {e}")))?;
            Node::from_json(&json).map_err(invalid)
        }
    }
}

fn read_json(response: &DmResponse, target: &Path) -> Json {
    let mut map = json::response(response.code);
    if let Content::Records(records) = &response.content {
        if response.is_success() {
            map.insert("content".into(), json::node(target, records, Registry::bundled_ref()));
        }
    }
    Json::Object(map)
}

fn plain_json(response: &DmResponse) -> Json {
    let mut map = json::response(response.code);
    match &response.content {
        Content::Links(links) => {
            map.insert("objectLinks".into(), json::links(links));
        }
        Content::Location(location) => {
            map.insert("location".into(), json!(location));
        }
        Content::Records(_) | Content::Empty => {}
    }
    Json::Object(map)
}

fn composite_paths(items: &[(String, Option<String>)]) -> Result<Vec<PrefixedPath>, ApiError> {
    let paths = param(items, "paths").ok_or_else(|| ApiError::Invalid("missing paths parameter".to_owned()))?;
    paths.split(',').filter(|p| !p.is_empty()).map(parse_path).collect()
}

fn composite_json(response: &DmResponse, paths: &[PrefixedPath]) -> Json {
    let mut map = json::response(response.code);
    if let Content::Records(records) = &response.content {
        if response.is_success() {
            map.insert("content".into(), json::composite_content(paths, records, Registry::bundled_ref()));
        }
    }
    Json::Object(map)
}

async fn client_operation(
    State(shared): State<AppState>,
    method: Method,
    UrlPath((ep, rest)): UrlPath<(String, String)>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let endpoint = endpoint_name(&ep)?;
    let items = query_items(query.as_deref());
    let timeout = timeout_of(&items);
    let segments: Vec<&str> = rest.split('/').filter(|s| !s.is_empty()).collect();
    let format = content_format(param(&items, "format"))?;
    let composite_format =
        content_format(param(&items, "nodeformat"))?.or(content_format(param(&items, "pathformat"))?);
    let last = segments.last().copied();
    let path_without_last = || parse_path(&segments[..segments.len().saturating_sub(1)].join("/"));
    match (method, segments.as_slice()) {
        (Method::GET, ["composite"]) => {
            let paths = composite_paths(&items)?;
            let request = DmRequest::ReadComposite { paths: paths.clone(), format: composite_format };
            let response = shared.send(&endpoint, request, timeout, None).await?;
            Ok(json_ok(composite_json(&response, &paths)))
        }
        (Method::PUT, ["composite"]) => {
            let map: Map<String, Json> =
                serde_json::from_slice(&body).map_err(|e| ApiError::Invalid(format!("unable to parse json: {e}")))?;
            let records = composite_records(&map)?;
            let request = DmRequest::WriteComposite { records, format: composite_format };
            let response = shared.send(&endpoint, request, timeout, None).await?;
            Ok(json_ok(plain_json(&response)))
        }
        (Method::POST, ["composite", "observe"]) => {
            let paths = composite_paths(&items)?;
            let request = DmRequest::ObserveComposite { paths: paths.clone(), format: composite_format };
            let response = shared.send(&endpoint, request, timeout, None).await?;
            Ok(json_ok(composite_json(&response, &paths)))
        }
        (Method::DELETE, ["composite", "observe"]) => {
            let paths: Vec<Path> = composite_paths(&items)?.into_iter().map(|p| p.path).collect();
            cancel_observation(&shared, &endpoint, paths, true, param(&items, "active").is_some(), timeout).await
        }
        (Method::GET, [_, ..]) if last == Some("discover") => {
            let path = path_without_last()?;
            let request = DmRequest::Discover { path, depth: None };
            let response = shared.send(&endpoint, request, timeout, None).await?;
            Ok(json_ok(plain_json(&response)))
        }
        (Method::GET, _) => {
            let path = parse_path(&segments.join("/"))?;
            let target = path.path;
            let response = shared.send(&endpoint, DmRequest::Read { path, format }, timeout, None).await?;
            Ok(json_ok(read_json(&response, &target)))
        }
        (Method::POST, [_, ..]) if last == Some("observe") => {
            let path = path_without_last()?;
            let target = path.path;
            let response = shared.send(&endpoint, DmRequest::Observe { path, format }, timeout, None).await?;
            Ok(json_ok(read_json(&response, &target)))
        }
        (Method::DELETE, [_, ..]) if last == Some("observe") => {
            let path = path_without_last()?;
            cancel_observation(&shared, &endpoint, vec![path.path], false, param(&items, "active").is_some(), timeout)
                .await
        }
        (Method::PUT, [_, ..]) if last == Some("attributes") => {
            let path = path_without_last()?;
            let query: Vec<String> = items
                .iter()
                .filter(|(n, _)| !matches!(n.as_str(), "timeout" | "format"))
                .map(|(n, v)| v.as_ref().map_or_else(|| n.clone(), |v| format!("{n}={v}")))
                .collect();
            let attributes = AttributeChanges::from_query(&query).map_err(invalid)?;
            let response =
                shared.send(&endpoint, DmRequest::WriteAttributes { path, attributes }, timeout, None).await?;
            Ok(json_ok(plain_json(&response)))
        }
        (Method::PUT, _) => {
            let path = parse_path(&segments.join("/"))?;
            let node = body_node(&headers, &body, &path.path)?;
            let records = node_records(&node, &path.path)?;
            let replace = param(&items, "replace").is_none_or(|v| !v.eq_ignore_ascii_case("false"));
            let mode = if replace { WriteMode::Replace } else { WriteMode::PartialUpdate };
            let request = DmRequest::Write { path, mode, records, format };
            let response = shared.send(&endpoint, request, timeout, None).await?;
            Ok(json_ok(plain_json(&response)))
        }
        (Method::POST, [_, _, _]) => {
            let path = parse_path(&segments.join("/"))?;
            let args = ExecuteArguments::parse(&body).map_err(invalid)?;
            let response = shared.send(&endpoint, DmRequest::Execute { path, args }, timeout, None).await?;
            Ok(json_ok(plain_json(&response)))
        }
        (Method::POST, [object] | [object, _]) => {
            let object: u16 =
                object.parse().map_err(|_| ApiError::Invalid(format!("{object:?} is not an object id")))?;
            let json: Json =
                serde_json::from_slice(&body).map_err(|e| ApiError::Invalid(format!("unable to parse json: {e}")))?;
            let instance = NewInstance::from_json(&json).map_err(invalid)?;
            let records = typed(instance.to_records(object, u16::MAX))?;
            let path = PrefixedPath::plain(Path::Object(object));
            let request = DmRequest::Create { path, instance: instance.id, records, format };
            let response = shared.send(&endpoint, request, timeout, None).await?;
            Ok(json_ok(plain_json(&response)))
        }
        (Method::DELETE, _) => {
            let path = parse_path(&segments.join("/"))?;
            let response = shared.send(&endpoint, DmRequest::Delete { path }, timeout, None).await?;
            Ok(json_ok(plain_json(&response)))
        }
        _ => Err(ApiError::Invalid("Invalid path".to_owned())),
    }
}

/// Cancels the observations of `endpoint` on exactly `paths`: passively (forget; the next
/// notification is answered RST) or, with `active`, with a cancel request whose answer is
/// returned.
async fn cancel_observation(
    shared: &Shared,
    endpoint: &EndpointName,
    paths: Vec<Path>,
    composite: bool,
    active: bool,
    timeout: Duration,
) -> Result<Response, ApiError> {
    let face = shared.locate(endpoint).await?;
    let ep = endpoint.clone();
    let wanted = paths.clone();
    let matching = face
        .call(move |engine, _| {
            let server = &engine.inner().server;
            server
                .observations()
                .filter(|o| o.endpoint == ep && o.composite == composite)
                .filter(|o| o.paths.iter().map(|p| p.path).collect::<Vec<_>>() == wanted)
                .map(|o| o.id)
                .collect::<Vec<_>>()
        })
        .await
        .map_err(internal)?;
    if active {
        let Some(&observation) = matching.first() else {
            let shown: Vec<String> = paths.iter().map(ToString::to_string).collect();
            return Err(ApiError::NotFound(format!(
                "no observation for path {} for client '{endpoint}'",
                shown.join(",")
            )));
        };
        let request = if composite {
            DmRequest::CancelCompositeObservation { observation }
        } else {
            DmRequest::CancelObservation { observation }
        };
        let response = shared.send(endpoint, request, timeout, None).await?;
        let target = paths.first().copied().unwrap_or(Path::Root);
        return Ok(json_ok(read_json(&response, &target)));
    }
    face.call(move |engine, _| {
        for id in matching {
            engine.inner_mut().server.forget_observation(id);
        }
    })
    .await
    .map_err(internal)?;
    Ok(StatusCode::OK.into_response())
}

async fn event_stream(
    State(shared): State<AppState>,
    RawQuery(query): RawQuery,
) -> Sse<impl Stream<Item = Result<Event, Infallible>>> {
    let items = query_items(query.as_deref());
    // `?ep=name` as Leshan; a bare `?name` (as Zephyr's test client sends) filters too.
    let filter = param(&items, "ep")
        .map(str::to_owned)
        .or_else(|| items.iter().find(|(_, v)| v.is_none()).map(|(n, _)| n.clone()));
    let stream = BroadcastStream::new(shared.events.subscribe()).filter_map(move |item| {
        let event = item.ok()?;
        if filter.as_ref().is_some_and(|ep| *ep != event.endpoint) {
            return None;
        }
        Some(Ok(Event::default().event(event.name).data(event.data)))
    });
    Sse::new(stream).keep_alive(KeepAlive::default())
}

fn security_json(entry: &SecurityEntry) -> Json {
    match &entry.mode {
        SecurityMode::Psk { identity, key } => {
            json!({"endpoint": entry.endpoint, "tls": {"mode": "psk", "details": {"identity": identity, "key": key}}})
        }
        SecurityMode::X509 => json!({"endpoint": entry.endpoint, "tls": {"mode": "x509", "details": {}}}),
    }
}

/// Reads Leshan's security JSON: `{"endpoint", "tls": {"mode", "details"}}` or the older
/// `{"endpoint", "psk": {"identity", "key"}}` / `{"endpoint", "x509": true}`.
fn parse_security(body: &[u8]) -> Result<SecurityEntry, ApiError> {
    let json: Json =
        serde_json::from_slice(body).map_err(|e| ApiError::Invalid(format!("unable to parse json: {e}")))?;
    let endpoint = json.get("endpoint").and_then(Json::as_str).ok_or_else(|| invalid("missing endpoint"))?;
    EndpointName::new(endpoint).map_err(invalid)?;
    let (mode, details) = match (json.get("tls"), json.get("psk"), json.get("x509")) {
        (Some(tls), _, _) => (
            tls.get("mode").and_then(Json::as_str).unwrap_or_default().to_ascii_lowercase(),
            tls.get("details").cloned().unwrap_or(Json::Null),
        ),
        (None, Some(psk), _) => ("psk".to_owned(), psk.clone()),
        (None, None, Some(x509)) if x509.as_bool() == Some(true) => ("x509".to_owned(), Json::Null),
        _ => return Err(invalid("invalid security info content")),
    };
    let mode = match mode.as_str() {
        "psk" => {
            let identity =
                details.get("identity").and_then(Json::as_str).ok_or_else(|| invalid("missing psk identity"))?;
            let key = details.get("key").and_then(Json::as_str).ok_or_else(|| invalid("missing psk key"))?;
            let bytes = hex::decode(key).map_err(|_| invalid("key parameter must be a valid hex string"))?;
            if bytes.is_empty() || bytes.len() > 64 {
                return Err(invalid("psk key must hold 1 to 64 bytes"));
            }
            if identity.is_empty() || identity.len() > 128 {
                return Err(invalid("psk identity must hold 1 to 128 bytes"));
            }
            SecurityMode::Psk { identity: identity.to_owned(), key: key.to_ascii_lowercase() }
        }
        "x509" => SecurityMode::X509,
        "rpk" => return Err(invalid("raw public key mode is not supported by this server")),
        other => return Err(ApiError::Invalid(format!("unknown security mode {other:?}"))),
    };
    Ok(SecurityEntry { endpoint: endpoint.to_owned(), mode })
}

fn security_info(entry: &SecurityEntry) -> Result<SecurityInfo, ApiError> {
    let endpoint = EndpointName::new(&entry.endpoint).map_err(invalid)?;
    Ok(match &entry.mode {
        SecurityMode::Psk { identity, .. } => {
            SecurityInfo { endpoint, psk_identity: Some(identity.clone()), x509_cn: None }
        }
        SecurityMode::X509 => {
            SecurityInfo { endpoint: endpoint.clone(), psk_identity: None, x509_cn: Some(endpoint.to_string()) }
        }
    })
}

async fn list_security(State(shared): State<AppState>) -> Result<Response, ApiError> {
    let entries = durable(|| shared.store.securities(shared.scope)).map_err(internal)?;
    Ok(json_ok(Json::Array(entries.iter().map(security_json).collect())))
}

async fn put_security(State(shared): State<AppState>, body: Bytes) -> Result<Response, ApiError> {
    let entry = parse_security(&body)?;
    if shared.scope == Scope::Server {
        let info = security_info(&entry)?;
        // Every face holds the same entries, so the first one's verdict is everybody's.
        for face in &shared.faces {
            let info = info.clone();
            face.call(move |engine, _| engine.inner_mut().server.add_security(info))
                .await
                .map_err(internal)?
                .map_err(invalid)?;
        }
    }
    durable(|| shared.store.put_security(shared.scope, &entry)).map_err(internal)?;
    shared.keys.set_security(shared.scope, &entry);
    tracing::info!(endpoint = %entry.endpoint, "security info stored");
    Ok(StatusCode::OK.into_response())
}

async fn delete_security(State(shared): State<AppState>, UrlPath(ep): UrlPath<String>) -> Result<Response, ApiError> {
    let removed = durable(|| shared.store.delete_security(shared.scope, &ep)).map_err(internal)?;
    if let (Ok(endpoint), Scope::Server) = (EndpointName::new(&ep), shared.scope) {
        for face in &shared.faces {
            let endpoint = endpoint.clone();
            face.call(move |engine, _| engine.inner_mut().server.remove_security(&endpoint)).await.map_err(internal)?;
        }
    }
    shared.keys.remove_security(shared.scope, &ep);
    if removed {
        Ok(StatusCode::OK.into_response())
    } else {
        Err(ApiError::NotFound(format!("no security info for endpoint '{ep}'")))
    }
}

async fn list_bootstrap(State(shared): State<AppState>) -> Result<Response, ApiError> {
    let configs: HashMap<String, Json> = durable(|| shared.store.bootstraps()).map_err(internal)?.into_iter().collect();
    Ok(json_ok(json!(configs)))
}

async fn get_bootstrap(State(shared): State<AppState>, UrlPath(ep): UrlPath<String>) -> Result<Response, ApiError> {
    durable(|| shared.store.bootstrap(&ep))
        .map_err(internal)?
        .map(json_ok)
        .ok_or_else(|| ApiError::NotFound(format!("no bootstrap config for endpoint '{ep}'")))
}

async fn post_bootstrap(
    State(shared): State<AppState>,
    UrlPath(ep): UrlPath<String>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let endpoint = EndpointName::new(&ep).map_err(invalid)?;
    let config: BootstrapConfig =
        serde_json::from_slice(&body).map_err(|e| ApiError::Invalid(format!("unable to parse json: {e}")))?;
    config.validate().map_err(invalid)?;
    for face in &shared.bootstrap {
        let (endpoint, config) = (endpoint.clone(), config.clone());
        face.call(move |engine, _| engine.inner_mut().configs_mut().insert(endpoint, config))
            .await
            .map_err(internal)?
            .map_err(invalid)?;
    }
    let doc = serde_json::to_value(&config).map_err(internal)?;
    durable(|| shared.store.put_bootstrap(&ep, &doc)).map_err(internal)?;
    shared.keys.set_bootstrap(&ep, &config);
    tracing::info!(endpoint = %ep, "bootstrap config stored");
    Ok(StatusCode::OK.into_response())
}

async fn delete_bootstrap(State(shared): State<AppState>, UrlPath(ep): UrlPath<String>) -> Result<Response, ApiError> {
    let removed = durable(|| shared.store.delete_bootstrap(&ep)).map_err(internal)?;
    if let Ok(endpoint) = EndpointName::new(&ep) {
        for face in &shared.bootstrap {
            let endpoint = endpoint.clone();
            face.call(move |engine, _| engine.inner_mut().configs_mut().remove(&endpoint)).await.map_err(internal)?;
        }
    }
    shared.keys.remove_bootstrap(&ep);
    if removed {
        Ok(StatusCode::OK.into_response())
    } else {
        Err(ApiError::NotFound(format!("no bootstrap config for endpoint '{ep}'")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_composite_write_keeps_the_end_device_prefix_of_each_path() {
        let body = serde_json::json!({
            "/d1/3311/0/5851": {"id": 5851, "kind": "singleResource", "value": 5, "type": "integer"},
            "/3/0/14": {"id": 14, "kind": "singleResource", "value": "+02", "type": "string"},
        });
        let records = composite_records(body.as_object().unwrap()).unwrap();
        let paths: Vec<String> = records.iter().map(|r| r.path.to_string()).collect();
        assert_eq!(paths, ["/3/0/14", "/d1/3311/0/5851"]);
    }

    #[test]
    fn query_items_decode_percent_escapes_and_bare_names() {
        let items = query_items(Some("paths=%2F3%2F0%2F0,/1/0/1&active&timeout=5"));
        assert_eq!(param(&items, "paths"), Some("/3/0/0,/1/0/1"));
        assert_eq!(param(&items, "active"), Some(""));
        assert_eq!(timeout_of(&items), Duration::from_secs(5));
        assert_eq!(timeout_of(&[]), DEFAULT_TIMEOUT);
    }

    #[test]
    fn content_format_names_are_leshans() {
        assert_eq!(content_format(Some("senml_cbor")).unwrap(), Some(ContentFormat::SENML_CBOR));
        assert_eq!(content_format(Some("TLV")).unwrap(), Some(ContentFormat::TLV));
        assert!(content_format(Some("XML")).is_err());
    }

    #[test]
    fn security_json_reads_both_leshan_shapes() {
        let new = parse_security(br#"{"endpoint":"a","tls":{"mode":"psk","details":{"identity":"ia","key":"0A0b"}}}"#)
            .unwrap();
        assert_eq!(new.mode, SecurityMode::Psk { identity: "ia".into(), key: "0a0b".into() });
        let old = parse_security(br#"{"endpoint":"a","psk":{"identity":"ia","key":"0a0b"}}"#).unwrap();
        assert_eq!(old, new);
        assert!(
            parse_security(br#"{"endpoint":"a","tls":{"mode":"psk","details":{"identity":"ia","key":"zz"}}}"#).is_err()
        );
        assert_eq!(security_json(&new)["tls"]["details"]["identity"], "ia");
    }
}
