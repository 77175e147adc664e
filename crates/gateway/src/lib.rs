//! The LwM2M gateway core, proxy mode (Gateway TS 1.1.1; spec notes §7; DESIGN.md §3–§4).
//!
//! [`Gateway`] owns two sans-IO engines and the logic between them:
//!
//! - the **south face**, an [`lwm2m_server::Server`]: the LwM2M server End-Devices register to;
//! - the **north face**, an [`lwm2m_client::Client`]: the gateway's own LwM2M client,
//!   registered to one or more distant servers.
//!
//! Modules:
//! - [`config`]: prefix and Device ID patterns, bounds.
//! - [`state`]: the persistent part (prefix assignments, reporting settings), serde-serialisable.
//! - [`objects`]: Object 25 maintenance and the gateway's private objects (33000 Gateway
//!   Reporting, 33001 End-Device Inventory, 33002 End-Device Summary; DDF XML in `models/`).
//! - [`proxy`]: translation of northbound requests for a prefix into southbound
//!   [`lwm2m_server::DmRequest`]s and of the answers back (payload names get the prefix).
//! - [`gateway`]: the [`Gateway`] itself and its call order.
#![forbid(unsafe_code)]

pub mod config;
pub mod gateway;
pub mod objects;
pub mod proxy;
pub mod state;

pub use config::GatewayConfig;
pub use gateway::{Face, Gateway, GatewayEvent};
pub use state::GatewayState;
