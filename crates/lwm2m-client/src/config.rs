//! Client settings and what the runtime needs to reach a server ([`Connection`]).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use coap::EndpointConfig;
use lwm2m::{EndpointName, Version};

use crate::object::ServerId;
use crate::objects::security::{SecurityInstance, SecurityMode};
use crate::registration::{self, ServerAddrError};

/// Static settings of a client.
#[derive(Debug, Clone)]
pub struct ClientConfig {
    /// `ep=`.
    pub endpoint_name: EndpointName,
    /// Highest LwM2M version to register with (1.1; falls back to 1.0 on 4.12).
    pub version: Version,
    /// CoAP settings.
    pub coap: Arc<EndpointConfig>,
    /// Wait before registering again after a failure.
    pub retry_delay: Duration,
    /// Largest margin before lifetime expiry at which Update is sent.
    pub update_margin: Duration,
    /// Failed Registers in a row after which the client bootstraps (when it has a bootstrap
    /// account and the server's `/1/x/16` Bootstrap on Registration Failure is not false).
    pub register_attempts: u32,
}

impl ClientConfig {
    /// Defaults for `endpoint_name`: LwM2M 1.1, default CoAP settings, retry after 30 s, Update
    /// margin MAX_TRANSMIT_WAIT.
    pub fn new(endpoint_name: EndpointName) -> Self {
        let coap = Arc::new(EndpointConfig::default());
        let update_margin = coap.max_transmit_wait();
        Self {
            endpoint_name,
            version: Version::V1_1,
            coap,
            retry_delay: Duration::from_secs(30),
            update_margin,
            register_attempts: 3,
        }
    }
}

/// What the runtime needs to reach one server.
#[derive(Clone, PartialEq, Eq)]
pub struct Connection {
    /// The server (`None`: the bootstrap server).
    pub server: Option<ServerId>,
    /// `/0/x/0`.
    pub uri: String,
    /// Resolved address.
    pub addr: SocketAddr,
    /// Whether the URI is `coaps://` (DTLS needed).
    pub secure: bool,
    /// `/0/x/2`.
    pub mode: SecurityMode,
    /// `/0/x/3` PSK identity or our certificate.
    pub identity: Vec<u8>,
    /// `/0/x/5` PSK or our private key.
    pub secret_key: Vec<u8>,
    /// `/0/x/4` server certificate or public key.
    pub server_public_key: Vec<u8>,
}

impl std::fmt::Debug for Connection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Connection")
            .field("server", &self.server)
            .field("uri", &self.uri)
            .field("addr", &self.addr)
            .field("secure", &self.secure)
            .field("mode", &self.mode)
            .finish_non_exhaustive()
    }
}

impl Connection {
    pub(crate) fn new(server: Option<ServerId>, account: &SecurityInstance) -> Result<Self, ServerAddrError> {
        let (addr, secure) = registration::parse_server_uri(&account.uri)?;
        Ok(Self {
            server,
            uri: account.uri.clone(),
            addr,
            secure,
            mode: account.mode,
            identity: account.identity.clone(),
            secret_key: account.secret_key.clone(),
            server_public_key: account.server_public_key.clone(),
        })
    }
}
