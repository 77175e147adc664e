//! LwM2M Client engine (sans-IO over `coap::Endpoint`), LwM2M 1.1 with 1.0 fallback.
//!
//! [`Client`] owns one [`coap::Endpoint`] and an [`ObjectTree`]; it registers with every
//! configured server, answers their Device Management requests, sends notifications and Send
//! reports, and runs the bootstrap client. No I/O, no clock: `handle_*` in, `poll_*` out.
//!
//! Modules: [`tree`] (the object tree), [`object`] (the object trait and a generic in-memory
//! object), [`objects`] (Security, Server, Access Control, Device, Connectivity Monitoring),
//! [`dispatch`] (DM requests → operations → codes), [`registration`], [`bootstrap`],
//! [`observe`], [`send`], [`queue`], [`acl`], and [`client`] (the engine).
//!
//! ```
//! use std::sync::Arc;
//! use std::time::Instant;
//!
//! use coap::Engine;
//! use lwm2m::{EndpointName, Path, Registry, Value};
//! use lwm2m_client::objects::{device, security, server};
//! use lwm2m_client::{Client, ClientConfig, ClientEvent, InstanceStore, ObjectTree, ResourceValue, ServerId};
//!
//! let now = Instant::now();
//! let mut tree = ObjectTree::new(Arc::new(Registry::bundled()));
//! // Factory bootstrap: one NoSec server with Short Server ID 1 and a 300 s lifetime.
//! tree.insert(Box::new(security::object(&[security::SecurityInstance::nosec(
//!     "coap://192.0.2.10:5683",
//!     ServerId(1),
//! )])));
//! tree.insert(Box::new(server::ServerObject::new(&[server::ServerInstance::new(ServerId(1), 300)])));
//! tree.insert(Box::new(device::DeviceObject::new(&device::DeviceInfo::default())));
//! // An application object kept as plain values.
//! tree.insert(Box::new(
//!     InstanceStore::new(3303).with_instance(0, [(5700, ResourceValue::Single(Value::Float(21.5)))]),
//! ));
//!
//! let config = ClientConfig::new(EndpointName::new("urn:dev:ops:acme-1").expect("valid name"));
//! let mut client = Client::new(now, config, tree, [7; 32]);
//! client.start(now);
//! assert!(matches!(client.poll_event(), Some(ClientEvent::ConnectionNeeded(c)) if !c.secure));
//! let mut datagram = Vec::new();
//! let transmit = client.poll_transmit(now, &mut datagram).expect("the Register goes out");
//! assert_eq!(transmit.peer.addr, "192.0.2.10:5683".parse().expect("address"));
//! // Later, a new reading: observations of /3303/0/5700 are told.
//! client.set_value(now, Path::Resource(3303, 0, 5700), Value::Float(22.0)).expect("resource exists");
//! ```

pub mod acl;
pub mod bootstrap;
pub mod client;
pub mod config;
pub mod dispatch;
pub mod event;
pub mod object;
pub mod objects;
pub mod observe;
pub mod proxy;
pub mod queue;
pub mod registration;
pub mod send;
pub mod tree;

pub use client::{Client, ClientConfig, ClientEvent, Connection, ServerAddrError};
pub use dispatch::DmError;
pub use object::{Action, InstanceStore, Object, ObjectError, ResourceChange, ResourceValue, ServerId};
pub use proxy::{ProxyHandle, ProxyPrefixes};
pub use tree::ObjectTree;
