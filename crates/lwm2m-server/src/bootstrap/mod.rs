//! LwM2M Bootstrap-Server (Core TS §6.1; notes §2.1, §6.1, §7.4, §8).
//!
//! - [`config`]: per-endpoint [`BootstrapConfig`] (Leshan-compatible JSON) and its conversion
//!   into the ordered bootstrap requests.
//! - [`store`]: the in-memory [`ConfigStore`].
//! - [`server`]: the sans-IO [`BootstrapServer`] engine over one `coap::Endpoint`, driving
//!   client- and server-initiated sessions and operator commands.
//!
//! Bootstrap never targets End-Device objects: no configured path may carry a gateway prefix.

pub mod config;
pub mod server;
pub mod store;

pub use config::{
    AclConfig, BootstrapConfig, BootstrapOperation, ConfigError, ObjectInstanceConfig, ResourceValue, SecurityMode,
    ServerConfig, ServerSecurity,
};
pub use server::{
    BootstrapEvent, BootstrapServer, BootstrapServerConfig, CommandError, CommandFailure, CommandId, CommandOutcome,
    RejectReason, SessionFailure, SessionOrigin,
};
pub use store::{ConfigStore, StoreError};
