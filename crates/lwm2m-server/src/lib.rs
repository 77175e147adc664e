//! LwM2M Server and Bootstrap Server engines (LwM2M 1.1, serving 1.0 peers too), sans-IO over
//! `coap::Endpoint`.
//!
//! [`Server`] owns one CoAP endpoint and implements [`coap::Engine`]: feed it datagrams and
//! timeouts, drain `poll_transmit`, then read [`ServerEvent`]s with [`Server::poll_event`].
//! Device-management requests go out through [`Server::send`] as typed [`DmRequest`]s and come
//! back as [`ServerEvent::Response`].
//!
//! - [`registration`]: the Registration interface (spec notes §2.2, §4): Register, Update,
//!   De-register and what a [`Registration`] records; [`directory`] indexes them.
//! - [`security`]: the binding of endpoint names to authenticated identities (§6, pitfall 21).
//! - [`request`] / [`response`]: typed DM and Information Reporting requests (§2.3, §2.4),
//!   content-format negotiation (§3.2) and decoding of answers.
//! - [`observation`]: observations and their lifecycle (§2.4, pitfalls 10, 11).
//! - [`queue`]: queue-mode delivery (§2.5, pitfall 9).
//! - [`end_device`]: the Object 25 view of End-Devices behind a gateway (§7).
//! - [`bootstrap`]: the Bootstrap Server engine and its per-endpoint configurations (§2.1).
//!
//! # Example
//!
//! A raw CoAP endpoint registers as `dev1`; the application then reads `/3/0/0` from it
//! (a real driver moves the datagrams over a socket, see `transport`):
//!
//! ```
//! use std::sync::Arc;
//! use std::time::Instant;
//! use coap::{Code, ContentFormat, Endpoint, EndpointConfig, Engine, Event, Peer, Reliability, Request, Response};
//! use lwm2m::{EndpointName, Registry};
//! use lwm2m_server::{Content, DmRequest, RequestOptions, Server, ServerConfig, ServerEvent};
//!
//! let mut server = Server::new(ServerConfig::default(), Registry::bundled(), [7; 32]);
//! let mut client = Endpoint::new(Arc::new(EndpointConfig::default()), [8; 32]);
//! let (client_peer, server_peer) = (Peer::udp("192.0.2.1:5683".parse()?), Peer::udp("192.0.2.2:5683".parse()?));
//! let now = Instant::now();
//! let mut buf = Vec::new();
//! let mut pump = |server: &mut Server, client: &mut Endpoint| {
//!     while let Some(t) = client.poll_transmit(now, &mut buf) {
//!         server.handle_datagram(now, client_peer.clone(), &buf[..t.len]);
//!     }
//!     while let Some(t) = server.poll_transmit(now, &mut buf) {
//!         client.handle_datagram(now, server_peer.clone(), &buf[..t.len]);
//!     }
//! };
//!
//! let register = Request::post("/rd").with_query("ep=dev1").with_query("lwm2m=1.1")
//!     .with_payload(ContentFormat::LINK_FORMAT, "</3/0>");
//! client.send_request(now, server_peer.clone(), register, Reliability::Confirmable)?;
//! pump(&mut server, &mut client);
//! assert!(matches!(client.poll_event(), Some(Event::Response { response, .. }) if response.code == Code::CREATED));
//! assert!(matches!(server.poll_event(), Some(ServerEvent::Registered { .. })));
//!
//! let dev1 = EndpointName::new("dev1")?;
//! let read = DmRequest::Read { path: "/3/0/0".parse()?, format: Some(ContentFormat::TEXT) };
//! let id = server.send(now, &dev1, read, RequestOptions::default())?;
//! pump(&mut server, &mut client);
//! let Some(Event::Request { peer, token, .. }) = client.poll_event() else { panic!() };
//! client.send_response(now, &peer, token, Response::content(ContentFormat::TEXT, "Acme"))?;
//! pump(&mut server, &mut client);
//! let Some(ServerEvent::Response { id: answered, result: Ok(response), .. }) = server.poll_event() else { panic!() };
//! assert_eq!(answered, id);
//! assert!(matches!(response.content, Content::Records(ref records) if records.len() == 1));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
#![forbid(unsafe_code, unused_must_use)]

pub mod bootstrap;
pub mod config;
pub mod directory;
pub mod end_device;
pub mod event;
pub mod observation;
pub mod queue;
pub mod registration;
pub mod request;
pub mod response;
pub mod security;
pub mod server;
mod timers;

pub use config::ServerConfig;
pub use directory::Directory;
pub use end_device::EndDevice;
pub use event::ServerEvent;
pub use observation::{Observation, ObservationId};
pub use registration::{Registration, RegistrationError, RegistrationId};
pub use request::{DmRequest, RequestId, RequestOptions, SendError, WriteMode};
pub use response::{Content, DmResponse, RequestFailure};
pub use security::{SecurityError, SecurityInfo, SecurityStore};
pub use server::Server;
