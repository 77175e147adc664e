//! Answers to [`DmRequest`](crate::DmRequest)s: the typed [`DmResponse`] (code and decoded
//! content) and the [`RequestFailure`]s that end a request without one.

use coap::{Code, ContentFormat, ExchangeError, OptionNumber, Response};
use lwm2m::format::link::{self, Link};
use lwm2m::format::{self, Record};
use lwm2m::{DataType, FormatError, Path, PrefixedPath, Registry};

use crate::observation::ObservationId;
use crate::request::Expect;

/// What a successful answer carried, decoded.
#[derive(Debug, Clone, PartialEq)]
pub enum Content {
    /// No payload (Write, Execute, Delete … and every error code).
    Empty,
    /// Values (Read, Observe, Read-Composite), paths as the client named them (with prefix).
    Records(Vec<Record>),
    /// Links (Discover).
    Links(Vec<Link>),
    /// The new instance's Location-Path (Create), as `/o/i`.
    Location(String),
}

/// The client's answer to a request.
#[derive(Debug, Clone, PartialEq)]
pub struct DmResponse {
    /// The CoAP response code (2.xx success; 4.xx/5.xx the client refused).
    pub code: Code,
    /// The decoded content (always [`Content::Empty`] for error codes).
    pub content: Content,
    /// For a successful Observe / Observe-Composite: the observation now established.
    pub observation: Option<ObservationId>,
}

impl DmResponse {
    /// Whether the client accepted the request (2.xx).
    pub fn is_success(&self) -> bool {
        self.code.is_success()
    }
}

/// Why a request ended without a usable answer.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum RequestFailure {
    /// The request's timeout passed.
    #[error("no answer within the request timeout")]
    Timeout,
    /// The client was asleep (queue mode) longer than the server waits.
    #[error("the client did not wake up in time")]
    ClientAsleep,
    /// The exchange failed in the CoAP layer (RST, retransmissions exhausted, block mismatch).
    #[error("coap exchange failed: {0}")]
    Exchange(#[from] ExchangeError),
    /// The registration ended (De-register, expiry, re-Register) before the answer.
    #[error("the registration ended before the answer")]
    RegistrationEnded,
    /// The answer's payload could not be decoded.
    #[error("cannot decode the answer: {0}")]
    Undecodable(String),
    /// The request could not be sent when the client woke up.
    #[error("cannot send the queued request: {0}")]
    NotSent(String),
}

impl From<FormatError> for RequestFailure {
    fn from(error: FormatError) -> Self {
        Self::Undecodable(error.to_string())
    }
}

/// Decodes `response` as the answer `expect` describes.
pub(crate) fn decode(expect: &Expect, response: &Response, registry: &Registry) -> Result<Content, RequestFailure> {
    if !response.code.is_success() {
        return Ok(Content::Empty);
    }
    match expect {
        Expect::Nothing => Ok(Content::Empty),
        Expect::Records(_) if response.payload.is_empty() => Ok(Content::Records(Vec::new())),
        Expect::Records(target) => {
            let cf = response.options.content_format().unwrap_or_else(|| implied_format(target, registry));
            Ok(Content::Records(format::decode(cf, &response.payload, target, registry)?))
        }
        Expect::Links => Ok(Content::Links(link::decode(&response.payload)?)),
        Expect::Location => {
            let segments: Vec<String> = response
                .options
                .get_all(OptionNumber::LOCATION_PATH)
                .map(|s| String::from_utf8_lossy(s).into_owned())
                .collect();
            if segments.is_empty() {
                return Ok(Content::Empty);
            }
            Ok(Content::Location(segments.iter().map(|s| format!("/{s}")).collect()))
        }
    }
}

/// The format of a payload that names none. Some LwM2M 1.0 clients (lwm2m-node-lib) answer a
/// single-resource Read with the bare value; like Leshan, a single-instance resource is then read
/// as plain text (opaque when its model says so) and anything larger as TLV.
fn implied_format(target: &PrefixedPath, registry: &Registry) -> ContentFormat {
    let path = &target.path;
    match path {
        Path::Resource(..) if registry.is_multiple(path) == Some(true) => ContentFormat::TLV,
        Path::Resource(..) | Path::ResourceInstance(..) if registry.data_type(path) == Some(DataType::Opaque) => {
            ContentFormat::OPAQUE
        }
        Path::Resource(..) | Path::ResourceInstance(..) => ContentFormat::TEXT,
        Path::Root | Path::Object(_) | Path::Instance(..) => ContentFormat::TLV,
    }
}

#[cfg(test)]
mod tests {
    use coap::ContentFormat;
    use lwm2m::{PrefixedPath, Value};

    use super::*;

    #[test]
    fn records_decode_against_the_target_and_errors_carry_no_content() {
        let target: PrefixedPath = "/3/0/0".parse().unwrap();
        let ok = Response::content(ContentFormat::TEXT, "Acme");
        let content = decode(&Expect::Records(target.clone()), &ok, Registry::bundled_ref()).unwrap();
        assert_eq!(content, Content::Records(vec![Record::new(target.clone(), Value::String("Acme".into()))]));
        let refused = Response::new(Code::NOT_FOUND).with_body("gone");
        assert_eq!(decode(&Expect::Records(target), &refused, Registry::bundled_ref()), Ok(Content::Empty));
    }

    #[test]
    fn create_answers_give_the_location_path() {
        let created = Response::new(Code::CREATED)
            .with_option(OptionNumber::LOCATION_PATH, "3303")
            .with_option(OptionNumber::LOCATION_PATH, "1");
        let content = decode(&Expect::Location, &created, Registry::bundled_ref()).unwrap();
        assert_eq!(content, Content::Location("/3303/1".into()));
    }

    #[test]
    fn a_bare_single_resource_answer_is_read_as_plain_text() {
        let target: PrefixedPath = "/3303/0/5700".parse().unwrap();
        let bare = Response::new(Code::CONTENT).with_body("21.5");
        let content = decode(&Expect::Records(target.clone()), &bare, Registry::bundled_ref()).unwrap();
        assert_eq!(content, Content::Records(vec![Record::new(target, Value::Float(21.5))]));
    }

    #[test]
    fn a_bare_opaque_resource_answer_is_read_as_opaque() {
        // /5/0/0 Package is Opaque.
        let target: PrefixedPath = "/5/0/0".parse().unwrap();
        let bare = Response::new(Code::CONTENT).with_body(vec![0xff, 0x00]);
        let content = decode(&Expect::Records(target.clone()), &bare, Registry::bundled_ref()).unwrap();
        assert_eq!(content, Content::Records(vec![Record::new(target, Value::Opaque(vec![0xff, 0x00]))]));
    }

    #[test]
    fn a_bare_instance_answer_is_read_as_tlv_and_garbage_is_undecodable() {
        let target: PrefixedPath = "/3/0".parse().unwrap();
        // TLV: resource 0 = "Acme".
        let tlv = Response::new(Code::CONTENT).with_body(vec![0xc4, 0x00, b'A', b'c', b'm', b'e']);
        let content = decode(&Expect::Records(target.clone()), &tlv, Registry::bundled_ref()).unwrap();
        let manufacturer: PrefixedPath = "/3/0/0".parse().unwrap();
        assert_eq!(content, Content::Records(vec![Record::new(manufacturer, Value::String("Acme".into()))]));
        let bare = Response::new(Code::CONTENT).with_body(vec![1, 2]);
        assert!(matches!(
            decode(&Expect::Records(target), &bare, Registry::bundled_ref()),
            Err(RequestFailure::Undecodable(_))
        ));
    }
}
