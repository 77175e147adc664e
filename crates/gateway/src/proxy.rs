//! Proxy translation (Gateway TS 1.1.1 §8.3, §9; spec notes §7.3): a northbound CoAP request for
//! `/{prefix}/o/i/r` becomes a typed southbound [`DmRequest`] for the End-Device, and the
//! End-Device's [`DmResponse`] becomes the northbound CoAP answer.
//!
//! Payloads are decoded with [`lwm2m::format`] and re-encoded, so the two sides may speak
//! different formats (a 1.0 End-Device answering TLV, a server asking SenML): in SenML and
//! LwM2M CBOR the names get the prefix; Discover links stay without prefix.

use coap::{Code, ContentFormat, OptionNumber, Request, Response};
use lwm2m::format::{self, link, Record};
use lwm2m::{AttributeChanges, ExecuteArguments, Path, Prefix, PrefixedPath, Registry};
use lwm2m_server::{Content, DmRequest, DmResponse, RequestFailure, SendError, WriteMode};

/// Why a northbound request cannot be carried out; each maps to one CoAP code.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProxyError {
    /// No End-Device has this prefix, or the path does not exist.
    #[error("no end device or path at {0}")]
    NotFound(String),
    /// The request is malformed (bad path, payload, query).
    #[error("bad request: {0}")]
    BadRequest(String),
    /// The operation is not allowed on this target.
    #[error("method not allowed on {0}")]
    NotAllowed(String),
    /// The payload's content format is not supported.
    #[error("unsupported content format {0}")]
    UnsupportedFormat(u16),
    /// The answer cannot be given in the asked format.
    #[error("cannot answer in content format {0}")]
    NotAcceptable(u16),
    /// The End-Device is asleep longer than the gateway waits, or the gateway is busy.
    #[error("end device unavailable: {0}")]
    Unavailable(String),
    /// The End-Device did not answer in time.
    #[error("end device did not answer: {0}")]
    Timeout(String),
    /// The End-Device's answer was unusable.
    #[error("bad answer from the end device: {0}")]
    BadGateway(String),
}

impl From<&ProxyError> for Code {
    fn from(error: &ProxyError) -> Self {
        match error {
            ProxyError::NotFound(_) => Self::NOT_FOUND,
            ProxyError::BadRequest(_) => Self::BAD_REQUEST,
            ProxyError::NotAllowed(_) => Self::METHOD_NOT_ALLOWED,
            ProxyError::UnsupportedFormat(_) => Self::UNSUPPORTED_CONTENT_FORMAT,
            ProxyError::NotAcceptable(_) => Self::NOT_ACCEPTABLE,
            ProxyError::Unavailable(_) => Self::SERVICE_UNAVAILABLE,
            ProxyError::Timeout(_) => Self::GATEWAY_TIMEOUT,
            ProxyError::BadGateway(_) => Self::BAD_GATEWAY,
        }
    }
}

impl From<&SendError> for ProxyError {
    fn from(error: &SendError) -> Self {
        match error {
            SendError::UnknownEndpoint(_) | SendError::UnknownObservation(_) => Self::NotFound(error.to_string()),
            SendError::InvalidPath { .. } | SendError::PrefixConflict { .. } | SendError::Encode(_) => {
                Self::BadRequest(error.to_string())
            }
            SendError::NotSupported { .. } => Self::NotAllowed(error.to_string()),
            _ => Self::Unavailable(error.to_string()),
        }
    }
}

impl From<&RequestFailure> for ProxyError {
    fn from(failure: &RequestFailure) -> Self {
        match failure {
            RequestFailure::ClientAsleep | RequestFailure::NotSent(_) => Self::Unavailable(failure.to_string()),
            RequestFailure::Timeout | RequestFailure::Exchange(_) => Self::Timeout(failure.to_string()),
            RequestFailure::RegistrationEnded => Self::NotFound(failure.to_string()),
            RequestFailure::Undecodable(_) => Self::BadGateway(failure.to_string()),
        }
    }
}

/// A northbound request split into prefix and path: `/{prefix}/o/i/r` → (`prefix`, `/o/i/r`).
pub fn split_path(request: &Request) -> Result<(Prefix, Path), ProxyError> {
    let segments = request.options.uri_path();
    let (first, rest) = segments.split_first().ok_or_else(|| ProxyError::NotFound("/".to_owned()))?;
    let prefix = Prefix::new(first).map_err(|e| ProxyError::NotFound(e.to_string()))?;
    let mut ids = Vec::with_capacity(rest.len().min(4));
    for segment in rest {
        let id = segment.parse::<u16>().map_err(|_| ProxyError::NotFound(format!("/{first}/{}", rest.join("/"))))?;
        ids.push(id);
    }
    let path = Path::from_ids(&ids).ok_or_else(|| ProxyError::NotFound(format!("/{first}/{}", rest.join("/"))))?;
    Ok((prefix, path))
}

/// Decodes a northbound payload for `target` and strips the prefix from the records' names;
/// a record naming another prefix is refused.
pub fn decode_for_device(
    request: &Request,
    target: &PrefixedPath,
    registry: &Registry,
) -> Result<Vec<Record>, ProxyError> {
    let cf = request
        .options
        .content_format()
        .ok_or_else(|| ProxyError::BadRequest("payload without content format".to_owned()))?;
    let mut records = format::decode(cf, &request.payload, target, registry).map_err(|e| match e {
        lwm2m::FormatError::UnsupportedFormat(cf) => ProxyError::UnsupportedFormat(cf),
        other => ProxyError::BadRequest(other.to_string()),
    })?;
    for record in &mut records {
        if record.path.prefix.is_some() && record.path.prefix != target.prefix {
            return Err(ProxyError::BadRequest(format!("record {} names another end device", record.path)));
        }
        record.path.prefix = None;
    }
    Ok(records)
}

/// The southbound request for a northbound `request` on `prefix`/`path`.
pub fn to_dm_request(
    request: &Request,
    observe: bool,
    prefix: &Prefix,
    path: Path,
    registry: &Registry,
) -> Result<DmRequest, ProxyError> {
    let plain = PrefixedPath::plain(path);
    let target = PrefixedPath { prefix: Some(prefix.clone()), path };
    let query = request.options.uri_query();
    match request.method {
        Code::GET if request.options.accept() == Some(ContentFormat::LINK_FORMAT) => {
            let depth = query.iter().find_map(|q| q.strip_prefix("depth=")).and_then(|d| d.parse().ok());
            Ok(DmRequest::Discover { path: plain, depth })
        }
        Code::GET if observe => Ok(DmRequest::Observe { path: plain, format: None }),
        Code::GET => Ok(DmRequest::Read { path: plain, format: None }),
        Code::PUT if request.payload.is_empty() && !query.is_empty() => {
            let attributes = AttributeChanges::from_query(&query).map_err(|e| ProxyError::BadRequest(e.to_string()))?;
            Ok(DmRequest::WriteAttributes { path: plain, attributes })
        }
        Code::PUT => {
            let records = decode_for_device(request, &target, registry)?;
            Ok(DmRequest::Write { path: plain, mode: WriteMode::Replace, records, format: None })
        }
        Code::POST => match path {
            Path::Object(_) => {
                let records = if request.payload.is_empty() {
                    Vec::new()
                } else {
                    decode_for_device(request, &target, registry)?
                };
                let instance = records.iter().find_map(|r| match r.path.path {
                    Path::Resource(_, i, _) | Path::ResourceInstance(_, i, _, _) => Some(i),
                    _ => None,
                });
                Ok(DmRequest::Create { path: plain, instance, records, format: None })
            }
            Path::Instance(..) => {
                let records = decode_for_device(request, &target, registry)?;
                Ok(DmRequest::Write { path: plain, mode: WriteMode::PartialUpdate, records, format: None })
            }
            Path::Resource(..) => {
                let args =
                    ExecuteArguments::parse(&request.payload).map_err(|e| ProxyError::BadRequest(e.to_string()))?;
                Ok(DmRequest::Execute { path: plain, args })
            }
            _ => Err(ProxyError::NotAllowed(target.to_string())),
        },
        Code::DELETE => Ok(DmRequest::Delete { path: plain }),
        _ => Err(ProxyError::NotAllowed(target.to_string())),
    }
}

/// Gives every record the End-Device's prefix.
pub fn with_prefix(records: Vec<Record>, prefix: &Prefix) -> Vec<Record> {
    records
        .into_iter()
        .map(|mut r| {
            r.path.prefix = Some(prefix.clone());
            r
        })
        .collect()
}

/// Encodes `records` (already prefixed) as the northbound answer for `target`.
pub fn encode_records(
    records: &[Record],
    target: &PrefixedPath,
    format: ContentFormat,
    registry: &Registry,
) -> Result<Response, ProxyError> {
    let payload = format::encode(format, records, target, registry).map_err(|e| match e {
        lwm2m::FormatError::UnsupportedFormat(cf) => ProxyError::NotAcceptable(cf),
        lwm2m::FormatError::Unrepresentable { .. } => ProxyError::NotAcceptable(format.0),
        other => ProxyError::BadGateway(other.to_string()),
    })?;
    Ok(Response::content(format, payload))
}

/// The northbound answer for the End-Device's `response` to a request on `prefix`/`target`.
pub fn to_north_response(
    response: &DmResponse,
    prefix: &Prefix,
    target: Path,
    format: ContentFormat,
    registry: &Registry,
) -> Response {
    if !response.code.is_success() {
        return Response::new(response.code);
    }
    let result = match &response.content {
        Content::Empty => Ok(Response::new(response.code)),
        Content::Records(records) => {
            let records = with_prefix(records.clone(), prefix);
            let target = PrefixedPath { prefix: Some(prefix.clone()), path: target };
            encode_records(&records, &target, format, registry).map(|mut r| {
                r.code = response.code;
                r
            })
        }
        Content::Links(links) => Ok(Response::content(ContentFormat::LINK_FORMAT, link::encode(links))),
        Content::Location(location) => {
            let mut answer = Response::new(response.code).with_option(OptionNumber::LOCATION_PATH, prefix.as_str());
            for segment in location.split('/').filter(|s| !s.is_empty()) {
                answer = answer.with_option(OptionNumber::LOCATION_PATH, segment);
            }
            Ok(answer)
        }
    };
    result.unwrap_or_else(|e| Response::new(Code::from(&e)))
}

#[cfg(test)]
mod tests {
    use lwm2m::Value;

    use super::*;

    #[test]
    fn a_prefixed_path_splits_into_prefix_and_object_path() {
        let (prefix, path) = split_path(&Request::get("/d1/3303/0/5700")).expect("valid");
        assert_eq!(prefix.as_str(), "d1");
        assert_eq!(path, Path::Resource(3303, 0, 5700));
        assert!(matches!(split_path(&Request::get("/d1/x")), Err(ProxyError::NotFound(_))));
        assert!(matches!(split_path(&Request::get("/d1/1/2/3/4/5")), Err(ProxyError::NotFound(_))));
    }

    #[test]
    fn methods_map_to_operations() {
        let registry = Registry::bundled();
        let prefix = Prefix::new("d1").expect("valid");
        let discover = Request::get("/d1/3").with_option(OptionNumber::ACCEPT, vec![40]);
        let op = |r: &Request, observe: bool, path: Path| {
            to_dm_request(r, observe, &prefix, path, &registry).expect("valid").operation()
        };
        assert_eq!(op(&discover, false, Path::Object(3)), "discover");
        assert_eq!(op(&Request::get("/d1/3/0"), true, Path::Instance(3, 0)), "observe");
        assert_eq!(op(&Request::post("/d1/3/0/4"), false, Path::Resource(3, 0, 4)), "execute");
        assert_eq!(op(&Request::delete("/d1/3/0"), false, Path::Instance(3, 0)), "delete");
        assert_eq!(
            op(&Request::put("/d1/3/0/1").with_query("pmin=5"), false, Path::Resource(3, 0, 1)),
            "write-attributes"
        );
        let write = Request::put("/d1/3/0/1").with_payload(ContentFormat::TEXT, "x");
        match to_dm_request(&write, false, &prefix, Path::Resource(3, 0, 1), &registry) {
            Ok(DmRequest::Write { records, .. }) => {
                assert_eq!(
                    records,
                    vec![Record::new(PrefixedPath::plain(Path::Resource(3, 0, 1)), Value::String("x".into()))]
                );
            }
            other => panic!("expected a write, got {other:?}"),
        }
    }

    #[test]
    fn a_senml_answer_names_the_prefix_and_links_do_not() {
        let registry = Registry::bundled();
        let prefix = Prefix::new("d7").expect("valid");
        let answer = DmResponse {
            code: Code::CONTENT,
            content: Content::Records(vec![Record::new(
                PrefixedPath::plain(Path::Resource(3, 0, 0)),
                Value::String("Acme".into()),
            )]),
            observation: None,
        };
        let north = to_north_response(&answer, &prefix, Path::Resource(3, 0, 0), ContentFormat::SENML_JSON, &registry);
        let text = String::from_utf8(north.payload).expect("json");
        assert!(text.contains("/d7/3/0/0"), "{text}");
        let links = DmResponse {
            code: Code::CONTENT,
            content: Content::Links(link::parse("</3/0>,</3/0/0>").expect("links")),
            observation: None,
        };
        let north = to_north_response(&links, &prefix, Path::Instance(3, 0), ContentFormat::LINK_FORMAT, &registry);
        assert_eq!(north.payload, b"</3/0>,</3/0/0>".to_vec());
    }
}
