//! Send (Core TS §6.4.6, spec notes §2.4, pitfall 18): `POST /dp` with SenML CBOR records,
//! allowed only when the server's Mute Send (`/1/x/23`) is present and false.

use coap::{ContentFormat, Request};
use lwm2m::{Path, PrefixedPath, Record, Registry};

use crate::object::ServerId;

/// Why a Send was refused before anything went out.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SendError {
    /// No such server.
    #[error("server {0} is not configured")]
    UnknownServer(ServerId),
    /// The server's `/1/x/23` mutes Send (true or absent).
    #[error("send to server {0} is muted by /1/x/23")]
    Muted(ServerId),
    /// Not registered with the server.
    #[error("not registered with server {0}")]
    NotRegistered(ServerId),
    /// Nothing to send at the given paths.
    #[error("no readable value at the given paths")]
    Empty,
    /// The records cannot be encoded.
    #[error("cannot encode the send payload: {0}")]
    Encode(String),
    /// The endpoint refused the request.
    #[error("endpoint refused the request: {0}")]
    Endpoint(#[from] coap::SendError),
}

/// The `POST /dp` request carrying `records` in SenML CBOR.
pub fn send_request(records: &[Record], registry: &Registry) -> Result<Request, SendError> {
    if records.is_empty() {
        return Err(SendError::Empty);
    }
    let payload = lwm2m::format::encode(ContentFormat::SENML_CBOR, records, &PrefixedPath::plain(Path::Root), registry)
        .map_err(|e| SendError::Encode(e.to_string()))?;
    Ok(Request::post("/dp").with_payload(ContentFormat::SENML_CBOR, payload))
}
