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
//! - [`end_devices`]: what the gateway keeps about each End-Device, once, shared with the
//!   objects that render it and the north client's proxy routing.
//! - [`state`]: the persistent part (prefix assignments, reporting settings), serde-serialisable.
//! - [`objects`]: Object 25 and the gateway's private objects (33000 Gateway
//!   Reporting, 33001 End-Device Inventory, 33002 End-Device Summary; DDF XML in `models/`).
//! - [`proxy`]: translation of northbound requests for a prefix into southbound
//!   [`lwm2m_server::DmRequest`]s and of the answers back (payload names get the prefix).
//! - [`gateway`]: the [`Gateway`] itself and its call order.
//!
//! # Example
//!
//! A gateway whose north client has one distant server; starting it sends the Register north
//! (with `</25>;ver=2.0`, no End-Device objects):
//!
//! ```
//! use std::sync::Arc;
//! use std::time::Instant;
//!
//! use gateway::{Face, Gateway, GatewayConfig, GatewayState};
//! use lwm2m::EndpointName;
//! use lwm2m_client::objects::{device, security, server};
//! use lwm2m_client::{Client, ClientConfig, ObjectTree, ServerId};
//! use lwm2m_server::ServerConfig;
//!
//! let now = Instant::now();
//! let mut tree = ObjectTree::new(Arc::new(gateway::objects::registry()));
//! tree.insert(Box::new(security::object(&[security::SecurityInstance::nosec("coap://192.0.2.10:5683", ServerId(1))])));
//! tree.insert(Box::new(server::ServerObject::new(&[server::ServerInstance::new(ServerId(1), 300)])));
//! tree.insert(Box::new(device::DeviceObject::new(&device::DeviceInfo::default())));
//! let client = Client::new(now, ClientConfig::new(EndpointName::new("gw-001")?), tree, [1; 32]);
//! let state = GatewayState::default(); // or the one the runtime persisted
//! let mut gw = Gateway::new(now, GatewayConfig::default(), client, ServerConfig::default(), state, [2; 32]);
//! gw.start(now);
//! let mut buf = Vec::new();
//! let (face, transmit) = gw.poll_transmit(now, &mut buf).expect("the Register goes out");
//! assert_eq!(face, Face::North);
//! assert_eq!(transmit.peer.addr, "192.0.2.10:5683".parse()?);
//! let register = coap::Message::decode(&buf[..transmit.len])?;
//! assert!(String::from_utf8_lossy(&register.payload).contains("</25>;ver=2.0"));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
#![forbid(unsafe_code)]

pub mod config;
pub mod end_devices;
pub mod gateway;
pub mod objects;
pub mod proxy;
pub mod state;

pub use config::GatewayConfig;
pub use gateway::{Face, Gateway, GatewayEvent};
pub use state::{Assignment, GatewayState, PrefixError, StateChange};
