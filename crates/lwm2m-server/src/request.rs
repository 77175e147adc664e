//! Typed device-management and information-reporting requests (Core TS §6.3, §6.4; spec notes
//! §2.3, §2.4) and their CoAP form: method, Uri-Path (alternate path, then the End-Device
//! prefix, then the object path), Uri-Query, Accept / Content-Format and payload. Content
//! formats are negotiated per registration (§3.2, pitfall 1) unless the request says otherwise.

use std::fmt;
use std::time::Duration;

use coap::{Code, ContentFormat, OptionNumber, Request};
use lwm2m::format::{self, senml, Record};
use lwm2m::{AttributeChanges, ExecuteArguments, FormatError, Path, Prefix, PrefixedPath, Registry, Version};

use crate::observation::ObservationId;
use crate::registration::Registration;

/// The handle of one [`DmRequest`] sent with [`Server::send`](crate::Server::send); the
/// matching [`ServerEvent::Response`](crate::ServerEvent::Response) carries it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RequestId(pub u64);

impl fmt::Display for RequestId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// Write semantics (Core TS §6.3.3.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WriteMode {
    /// `PUT`: replace the instance or resource.
    Replace,
    /// `POST`: write only the given resources.
    PartialUpdate,
}

/// A request from the server to a registered client. Paths may carry an End-Device prefix;
/// requests addressed to an End-Device's endpoint name get its prefix put in front.
#[derive(Debug, Clone, PartialEq)]
pub enum DmRequest {
    /// `GET path` (+Accept).
    Read {
        /// Object, instance, resource or resource instance.
        path: PrefixedPath,
        /// Accept; `None` lets the server negotiate.
        format: Option<ContentFormat>,
    },
    /// `GET path` + Accept: 40 (+ `?depth=` for 1.2 clients).
    Discover {
        /// Object, instance or resource.
        path: PrefixedPath,
        /// Discover depth (LwM2M 1.2).
        depth: Option<u8>,
    },
    /// `PUT` (Replace) or `POST` (Partial Update) `path` with the records.
    Write {
        /// Instance, resource or resource instance.
        path: PrefixedPath,
        /// Replace or Partial Update.
        mode: WriteMode,
        /// The values, with full paths at or below `path`.
        records: Vec<Record>,
        /// Content-Format; `None` lets the server negotiate.
        format: Option<ContentFormat>,
    },
    /// `PUT path?pmin=…` without payload.
    WriteAttributes {
        /// Object, instance, resource or resource instance.
        path: PrefixedPath,
        /// Attributes to set or unset.
        attributes: AttributeChanges,
    },
    /// `POST path` with text arguments.
    Execute {
        /// A resource.
        path: PrefixedPath,
        /// Arguments (`0,1='x'`), possibly none.
        args: ExecuteArguments,
    },
    /// `POST /o` with the new instance.
    Create {
        /// An object.
        path: PrefixedPath,
        /// The instance ID, or `None` to let the client choose (records then name any
        /// placeholder instance; TLV sends them without instance wrapper).
        instance: Option<u16>,
        /// The new instance's resources, with full paths.
        records: Vec<Record>,
        /// Content-Format; `None` lets the server negotiate.
        format: Option<ContentFormat>,
    },
    /// `DELETE path`.
    Delete {
        /// An instance (or a resource instance, 1.1).
        path: PrefixedPath,
    },
    /// `FETCH /` naming the paths (LwM2M 1.1).
    ReadComposite {
        /// What to read.
        paths: Vec<PrefixedPath>,
        /// Content-Format of request and answer; `None` lets the server negotiate.
        format: Option<ContentFormat>,
    },
    /// `iPATCH /` with the records (LwM2M 1.1).
    WriteComposite {
        /// The values, with full paths.
        records: Vec<Record>,
        /// Content-Format; `None` lets the server negotiate.
        format: Option<ContentFormat>,
    },
    /// `GET path` + Observe: 0.
    Observe {
        /// What to observe.
        path: PrefixedPath,
        /// Accept; `None` lets the server negotiate.
        format: Option<ContentFormat>,
    },
    /// `FETCH /` + Observe: 0 naming the paths (LwM2M 1.1).
    ObserveComposite {
        /// What to observe.
        paths: Vec<PrefixedPath>,
        /// Content-Format of request and answers; `None` lets the server negotiate.
        format: Option<ContentFormat>,
    },
    /// Active cancel: `GET path` + Observe: 1 with the observation's token.
    CancelObservation {
        /// The observation.
        observation: ObservationId,
    },
    /// Active cancel of a composite observation: `FETCH /` + Observe: 1, same body and token.
    CancelCompositeObservation {
        /// The observation.
        observation: ObservationId,
    },
}

impl DmRequest {
    /// The operation's name, for logs and errors.
    pub fn operation(&self) -> &'static str {
        match self {
            Self::Read { .. } => "read",
            Self::Discover { .. } => "discover",
            Self::Write { .. } => "write",
            Self::WriteAttributes { .. } => "write-attributes",
            Self::Execute { .. } => "execute",
            Self::Create { .. } => "create",
            Self::Delete { .. } => "delete",
            Self::ReadComposite { .. } => "read-composite",
            Self::WriteComposite { .. } => "write-composite",
            Self::Observe { .. } => "observe",
            Self::ObserveComposite { .. } => "observe-composite",
            Self::CancelObservation { .. } => "cancel-observation",
            Self::CancelCompositeObservation { .. } => "cancel-composite-observation",
        }
    }
}

/// Per-request options of [`Server::send`](crate::Server::send).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct RequestOptions {
    /// Content format overriding the negotiated one (a format in the request itself wins).
    pub format: Option<ContentFormat>,
    /// How long the request may take once sent; `None` uses the server's default.
    pub timeout: Option<Duration>,
}

/// Why [`Server::send`](crate::Server::send) refused a request; nothing was sent.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum SendError {
    /// No registration or End-Device has this endpoint name.
    #[error("no registration or end device named {0}")]
    UnknownEndpoint(String),
    /// The path does not fit the operation.
    #[error("{operation} cannot target {path}")]
    InvalidPath {
        /// The operation.
        operation: &'static str,
        /// The path given.
        path: PrefixedPath,
    },
    /// The path carries another prefix than the End-Device addressed.
    #[error("path {path} carries another prefix than end device prefix {prefix}")]
    PrefixConflict {
        /// The path given.
        path: PrefixedPath,
        /// The End-Device's prefix.
        prefix: Prefix,
    },
    /// The client's LwM2M version lacks the operation.
    #[error("{operation} needs lwm2m 1.1, the client registered with {version}")]
    NotSupported {
        /// The operation.
        operation: &'static str,
        /// The client's version.
        version: Version,
    },
    /// The payload cannot be written in the chosen format.
    #[error("cannot encode the payload: {0}")]
    Encode(#[from] FormatError),
    /// The observation is unknown (ended, or belongs to no registration of this endpoint).
    #[error("no observation {0} for this endpoint")]
    UnknownObservation(ObservationId),
    /// Too many requests wait for this sleeping client.
    #[error("queue of the sleeping client is full ({limit} requests)")]
    QueueFull {
        /// The configured `max_queued_per_registration`.
        limit: usize,
    },
    /// Too many requests are pending overall.
    #[error("too many pending requests (limit {limit})")]
    TooManyRequests {
        /// The configured `max_pending_requests`.
        limit: usize,
    },
    /// Too many observations are held.
    #[error("too many observations (limit {limit})")]
    TooManyObservations {
        /// The configured `max_observations`.
        limit: usize,
    },
    /// The CoAP endpoint refused the request.
    #[error("coap endpoint refused the request: {0}")]
    Coap(#[from] coap::SendError),
}

/// What the answer to a request holds, so the response can be decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Expect {
    /// Records addressed to `target` (Read, Observe, composite with target `/`).
    Records(PrefixedPath),
    /// Link-format (Discover).
    Links,
    /// A Location-Path (Create).
    Location,
    /// Nothing but the code.
    Nothing,
}

/// A request in its CoAP form, plus what its answer holds.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Built {
    /// The CoAP request.
    pub(crate) request: Request,
    /// How to decode the answer.
    pub(crate) expect: Expect,
    /// For observations: the paths observed and whether composite.
    pub(crate) observe: Option<(Vec<PrefixedPath>, bool)>,
}

/// Puts the End-Device prefix into `path` when it has none; refuses another prefix.
pub(crate) fn with_prefix(path: &PrefixedPath, prefix: Option<&Prefix>) -> Result<PrefixedPath, SendError> {
    match (prefix, &path.prefix) {
        (None, _) => Ok(path.clone()),
        (Some(p), None) => Ok(PrefixedPath { prefix: Some(p.clone()), path: path.path }),
        (Some(p), Some(q)) if p == q => Ok(path.clone()),
        (Some(p), Some(_)) => Err(SendError::PrefixConflict { path: path.clone(), prefix: p.clone() }),
    }
}

/// The Uri-Path segments for `path` at a client with `alternate` root: `/lwm2m/d01/3/0`.
fn uri(alternate: Option<&str>, path: &PrefixedPath) -> String {
    let mut out = String::new();
    if let Some(alt) = alternate {
        out.push_str(alt.trim_end_matches('/'));
    }
    out.push_str(&path.to_string());
    out
}

fn invalid(operation: &'static str, path: &PrefixedPath) -> SendError {
    SendError::InvalidPath { operation, path: path.clone() }
}

fn with_records_prefix(records: &[Record], prefix: Option<&Prefix>) -> Result<Vec<Record>, SendError> {
    records
        .iter()
        .map(|r| Ok(Record { path: with_prefix(&r.path, prefix)?, value: r.value.clone(), time: r.time }))
        .collect()
}

/// Builds the CoAP form of `request` for `registration`, with the End-Device `prefix` (if any)
/// in front of every path. Cancel requests are handled by the server, not here.
pub(crate) fn build(
    request: &DmRequest,
    registration: &Registration,
    prefix: Option<&Prefix>,
    options: &RequestOptions,
    registry: &Registry,
) -> Result<Built, SendError> {
    let alt = registration.alternate_path();
    let pick = |own: Option<ContentFormat>| own.or(options.format).unwrap_or_else(|| registration.preferred_format());
    let composite_format =
        |own: Option<ContentFormat>| own.or(options.format).unwrap_or_else(|| registration.composite_format());
    let need_1_1 = |operation| {
        if registration.version == Version::V1_0 {
            Err(SendError::NotSupported { operation, version: registration.version })
        } else {
            Ok(())
        }
    };
    let operation = request.operation();
    let plain = |expect| Built { request: Request::get("/"), expect, observe: None };
    let built = match request {
        DmRequest::Read { path, format } | DmRequest::Observe { path, format } => {
            let path = with_prefix(path, prefix)?;
            let observe = matches!(request, DmRequest::Observe { .. });
            let mut coap = if observe { Request::observe(&uri(alt, &path)) } else { Request::get(&uri(alt, &path)) };
            // A 1.0 client answers one resource in its own format (text, opaque or TLV) when not
            // asked for one, as Leshan leaves it; some (lwm2m-node-lib) drop a request whose
            // Accept they do not know, TLV included.
            let leave_to_client = format.or(options.format).is_none()
                && registration.version == Version::V1_0
                && matches!(path.path, Path::Resource(..) | Path::ResourceInstance(..));
            if !leave_to_client {
                coap.options.set_uint(OptionNumber::ACCEPT, u32::from(pick(*format).0));
            }
            Built {
                request: coap,
                expect: Expect::Records(path.clone()),
                observe: observe.then(|| (vec![path], false)),
            }
        }
        DmRequest::Discover { path, depth } => {
            let path = with_prefix(path, prefix)?;
            if matches!(path.path, Path::ResourceInstance(..)) {
                return Err(invalid(operation, &path));
            }
            let mut coap = Request::get(&uri(alt, &path));
            coap.options.set_uint(OptionNumber::ACCEPT, u32::from(ContentFormat::LINK_FORMAT.0));
            if let Some(depth) = depth {
                coap = coap.with_query(&format!("depth={depth}"));
            }
            Built { request: coap, ..plain(Expect::Links) }
        }
        DmRequest::Write { path, mode, records, format } => {
            let path = with_prefix(path, prefix)?;
            let allowed = match mode {
                WriteMode::Replace => {
                    matches!(path.path, Path::Instance(..) | Path::Resource(..) | Path::ResourceInstance(..))
                }
                WriteMode::PartialUpdate => matches!(path.path, Path::Instance(..) | Path::Resource(..)),
            };
            if !allowed {
                return Err(invalid(operation, &path));
            }
            let cf = pick(*format);
            let records = with_records_prefix(records, prefix)?;
            let payload = format::encode(cf, &records, &path, registry)?;
            let method = if *mode == WriteMode::Replace { Code::PUT } else { Code::POST };
            Built {
                request: Request::new(method, &uri(alt, &path)).with_payload(cf, payload),
                ..plain(Expect::Nothing)
            }
        }
        DmRequest::WriteAttributes { path, attributes } => {
            let path = with_prefix(path, prefix)?;
            let mut coap = Request::put(&uri(alt, &path));
            for item in attributes.to_query() {
                coap = coap.with_query(&item);
            }
            Built { request: coap, ..plain(Expect::Nothing) }
        }
        DmRequest::Execute { path, args } => {
            let path = with_prefix(path, prefix)?;
            if !matches!(path.path, Path::Resource(..)) {
                return Err(invalid(operation, &path));
            }
            let mut coap = Request::post(&uri(alt, &path));
            if !args.is_empty() {
                coap = coap.with_payload(ContentFormat::TEXT, args.encode().into_bytes());
            }
            Built { request: coap, ..plain(Expect::Nothing) }
        }
        DmRequest::Create { path, instance, records, format } => {
            let path = with_prefix(path, prefix)?;
            let Path::Object(object) = path.path else { return Err(invalid(operation, &path)) };
            let cf = pick(*format);
            let records = with_records_prefix(records, prefix)?;
            let target = match instance {
                Some(_) => path.clone(),
                // Without an instance ID the resources go unwrapped: target their instance.
                None => match records.first().map(|r| r.path.path) {
                    Some(Path::Resource(o, i, _) | Path::ResourceInstance(o, i, _, _)) if o == object => {
                        PrefixedPath { prefix: path.prefix.clone(), path: Path::Instance(o, i) }
                    }
                    _ => return Err(invalid(operation, &path)),
                },
            };
            if let Some(i) = instance {
                let outside = records.iter().any(|r| !Path::Instance(object, *i).contains(&r.path.path));
                if outside {
                    return Err(invalid(operation, &path));
                }
            }
            let payload = format::encode(cf, &records, &target, registry)?;
            Built { request: Request::post(&uri(alt, &path)).with_payload(cf, payload), ..plain(Expect::Location) }
        }
        DmRequest::Delete { path } => {
            let path = with_prefix(path, prefix)?;
            if !matches!(path.path, Path::Instance(..) | Path::ResourceInstance(..)) {
                return Err(invalid(operation, &path));
            }
            Built { request: Request::delete(&uri(alt, &path)), ..plain(Expect::Nothing) }
        }
        DmRequest::ReadComposite { paths, format } | DmRequest::ObserveComposite { paths, format } => {
            need_1_1(operation)?;
            let cf = composite_format(*format);
            let paths = paths.iter().map(|p| with_prefix(p, prefix)).collect::<Result<Vec<_>, _>>()?;
            let body = senml::encode_paths(cf, &paths)?;
            let root = PrefixedPath::plain(Path::Root);
            let mut coap = Request::new(Code::FETCH, &uri(alt, &root)).with_payload(cf, body);
            let observe = matches!(request, DmRequest::ObserveComposite { .. });
            if observe {
                coap.options.set_uint(OptionNumber::OBSERVE, 0);
            }
            coap.options.set_uint(OptionNumber::ACCEPT, u32::from(cf.0));
            Built { request: coap, expect: Expect::Records(root), observe: observe.then_some((paths, true)) }
        }
        DmRequest::WriteComposite { records, format } => {
            need_1_1(operation)?;
            let cf = composite_format(*format);
            let records = with_records_prefix(records, prefix)?;
            let root = PrefixedPath::plain(Path::Root);
            let payload = format::encode(cf, &records, &root, registry)?;
            Built {
                request: Request::new(Code::IPATCH, &uri(alt, &root)).with_payload(cf, payload),
                ..plain(Expect::Nothing)
            }
        }
        DmRequest::CancelObservation { observation } | DmRequest::CancelCompositeObservation { observation } => {
            return Err(SendError::UnknownObservation(*observation));
        }
    };
    Ok(built)
}

#[cfg(test)]
mod tests {
    use std::time::Instant;

    use coap::Peer;
    use lwm2m::{EndpointName, ObjectLinks, RegisterParams, Value};

    use super::*;
    use crate::registration::RegistrationId;

    fn registration(version: Version, links: &str) -> Registration {
        let mut params = RegisterParams::new(EndpointName::new("ep").unwrap());
        params.lwm2m_version = Some(version);
        Registration::new(
            RegistrationId::from_path_segment("r"),
            Peer::udp("192.0.2.1:5683".parse().unwrap()),
            params,
            ObjectLinks::parse(links).unwrap(),
            Instant::now(),
        )
    }

    fn built(request: &DmRequest, reg: &Registration, prefix: Option<&str>) -> Result<Built, SendError> {
        let prefix = prefix.map(|p| Prefix::new(p).unwrap());
        build(request, reg, prefix.as_ref(), &RequestOptions::default(), Registry::bundled_ref())
    }

    #[test]
    fn alternate_path_and_prefix_go_in_front_of_the_object_path() {
        let reg = registration(Version::V1_1, "</lwm2m>;rt=\"oma.lwm2m\",</lwm2m/3/0>");
        let read = DmRequest::Read { path: "/3/0/0".parse().unwrap(), format: None };
        let b = built(&read, &reg, Some("d01")).unwrap();
        assert_eq!(b.request.options.uri_path(), ["lwm2m", "d01", "3", "0", "0"]);
        assert_eq!(b.expect, Expect::Records("/d01/3/0/0".parse().unwrap()));
    }

    #[test]
    fn a_path_with_another_prefix_than_the_end_device_is_refused() {
        let reg = registration(Version::V1_1, "</3/0>");
        let read = DmRequest::Read { path: "/d02/3/0".parse().unwrap(), format: None };
        assert!(matches!(built(&read, &reg, Some("d01")), Err(SendError::PrefixConflict { .. })));
    }

    #[test]
    fn operations_refuse_paths_they_cannot_target() {
        let reg = registration(Version::V1_1, "</3/0>");
        let execute = DmRequest::Execute { path: "/3/0".parse().unwrap(), args: ExecuteArguments::new() };
        assert!(matches!(built(&execute, &reg, None), Err(SendError::InvalidPath { .. })));
        let write =
            DmRequest::Write { path: "/3".parse().unwrap(), mode: WriteMode::Replace, records: vec![], format: None };
        assert!(matches!(built(&write, &reg, None), Err(SendError::InvalidPath { .. })));
        let delete = DmRequest::Delete { path: "/3".parse().unwrap() };
        assert!(matches!(built(&delete, &reg, None), Err(SendError::InvalidPath { .. })));
    }

    #[test]
    fn composite_operations_need_lwm2m_1_1() {
        let reg = registration(Version::V1_0, "</3/0>");
        let read = DmRequest::ReadComposite { paths: vec!["/3/0/0".parse().unwrap()], format: None };
        assert!(matches!(built(&read, &reg, None), Err(SendError::NotSupported { .. })));
    }

    #[test]
    fn write_records_get_the_end_device_prefix_in_senml_names() {
        let reg = registration(Version::V1_1, "</>;ct=110,</3/0>");
        let write = DmRequest::Write {
            path: "/3/0/14".parse().unwrap(),
            mode: WriteMode::Replace,
            records: vec![Record::new("/3/0/14".parse().unwrap(), Value::String("+01".into()))],
            format: None,
        };
        let b = built(&write, &reg, Some("d01")).unwrap();
        assert_eq!(b.request.method, Code::PUT);
        assert_eq!(b.request.options.content_format(), Some(ContentFormat::SENML_JSON));
        let body = String::from_utf8(b.request.payload).unwrap();
        assert!(body.contains("/d01/3/0/14"), "{body}");
    }
}
