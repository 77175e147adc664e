//! LwM2M Client engine (sans-IO over `coap::Endpoint`), LwM2M 1.1 with 1.0 fallback.
//!
//! [`Client`] owns one [`coap::Endpoint`] and an [`ObjectTree`]; it registers with every
//! configured server, answers their Device Management requests, sends notifications and Send
//! reports, and runs the bootstrap client. No I/O, no clock: `handle_*` in, `poll_*` out.

pub mod acl;
pub mod bootstrap;
pub mod client;
pub mod dispatch;
pub mod object;
pub mod objects;
pub mod observe;
pub mod queue;
pub mod registration;
pub mod send;
pub mod tree;

pub use client::{Client, ClientConfig, ClientEvent, Connection, ServerAddrError};
pub use dispatch::DmError;
pub use object::{Action, InstanceStore, Object, ObjectError, ResourceChange, ResourceValue, ServerId};
pub use tree::ObjectTree;
