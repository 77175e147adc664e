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
