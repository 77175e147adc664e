//! LwM2M Security object (0): server URIs and credentials (Core TS §E.1, spec notes §6.1).
//!
//! Never readable by a management server (the dispatcher answers 4.01); only the bootstrap
//! interface and the factory configuration write it. The engine reads it to learn where the
//! servers are and which credentials the runtime needs for DTLS.

use std::collections::BTreeMap;

use lwm2m::Value;

use super::{boolean, bytes, put, string, uint};
use crate::object::{InstanceStore, InstanceValues, ResourceValue, ServerId};

/// Object ID.
pub const OBJECT_ID: u16 = 0;

/// `/0/x/2` Security Mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SecurityMode {
    /// 0: pre-shared key.
    Psk,
    /// 1: raw public key.
    RawPublicKey,
    /// 2: X.509 certificate.
    Certificate,
    /// 3: no security.
    NoSec,
    /// 4: certificate with EST.
    CertificateEst,
}

impl SecurityMode {
    /// The `/0/x/2` value.
    pub fn code(self) -> i64 {
        match self {
            Self::Psk => 0,
            Self::RawPublicKey => 1,
            Self::Certificate => 2,
            Self::NoSec => 3,
            Self::CertificateEst => 4,
        }
    }

    /// The mode for a `/0/x/2` value.
    pub fn from_code(code: i64) -> Option<Self> {
        Some(match code {
            0 => Self::Psk,
            1 => Self::RawPublicKey,
            2 => Self::Certificate,
            3 => Self::NoSec,
            4 => Self::CertificateEst,
            _ => return None,
        })
    }
}

/// One Security instance in typed form.
#[derive(Clone, PartialEq, Eq)]
pub struct SecurityInstance {
    /// `/0/x/0` server URI (`coap://192.0.2.1:5683`).
    pub uri: String,
    /// `/0/x/1` whether this is the bootstrap server account.
    pub bootstrap: bool,
    /// `/0/x/2`.
    pub mode: SecurityMode,
    /// `/0/x/3` PSK identity, or our certificate / public key.
    pub identity: Vec<u8>,
    /// `/0/x/4` the server's public key or certificate.
    pub server_public_key: Vec<u8>,
    /// `/0/x/5` PSK or private key.
    pub secret_key: Vec<u8>,
    /// `/0/x/10` Short Server ID (absent on the bootstrap account).
    pub server_id: Option<ServerId>,
    /// `/0/x/11` Client Hold Off Time in seconds (wait before bootstrap).
    pub hold_off: u32,
}

impl std::fmt::Debug for SecurityInstance {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Keys stay out of logs.
        f.debug_struct("SecurityInstance")
            .field("uri", &self.uri)
            .field("bootstrap", &self.bootstrap)
            .field("mode", &self.mode)
            .field("server_id", &self.server_id)
            .finish_non_exhaustive()
    }
}

impl SecurityInstance {
    /// A NoSec account for a management server.
    pub fn nosec(uri: &str, server_id: ServerId) -> Self {
        Self {
            uri: uri.to_owned(),
            bootstrap: false,
            mode: SecurityMode::NoSec,
            identity: Vec::new(),
            server_public_key: Vec::new(),
            secret_key: Vec::new(),
            server_id: Some(server_id),
            hold_off: 0,
        }
    }

    /// A NoSec bootstrap-server account.
    pub fn bootstrap_nosec(uri: &str) -> Self {
        Self { bootstrap: true, server_id: None, ..Self::nosec(uri, ServerId(0)) }
    }

    /// The resources of this instance.
    pub fn to_values(&self) -> BTreeMap<u16, ResourceValue> {
        let mut values = BTreeMap::new();
        put(&mut values, 0, Value::String(self.uri.clone()));
        put(&mut values, 1, Value::Boolean(self.bootstrap));
        put(&mut values, 2, Value::Integer(self.mode.code()));
        put(&mut values, 3, Value::Opaque(self.identity.clone()));
        put(&mut values, 4, Value::Opaque(self.server_public_key.clone()));
        put(&mut values, 5, Value::Opaque(self.secret_key.clone()));
        if let Some(id) = self.server_id {
            put(&mut values, 10, Value::Integer(i64::from(id.0)));
        }
        put(&mut values, 11, Value::Integer(i64::from(self.hold_off)));
        values
    }

    /// Reads an instance back; `None` without a URI.
    pub fn from_values(values: &(impl InstanceValues + ?Sized)) -> Option<Self> {
        Some(Self {
            uri: string(values, 0)?.to_owned(),
            bootstrap: boolean(values, 1).unwrap_or(false),
            mode: uint(values, 2).and_then(|m| SecurityMode::from_code(i64::from(m))).unwrap_or(SecurityMode::NoSec),
            identity: bytes(values, 3).unwrap_or_default(),
            server_public_key: bytes(values, 4).unwrap_or_default(),
            secret_key: bytes(values, 5).unwrap_or_default(),
            server_id: uint(values, 10).and_then(|v| u16::try_from(v).ok()).map(ServerId),
            hold_off: uint(values, 11).unwrap_or(0),
        })
    }
}

/// A Security object holding `instances` (instance IDs 0, 1, … in order).
pub fn object(instances: &[SecurityInstance]) -> InstanceStore {
    let mut store = InstanceStore::new(OBJECT_ID);
    for (id, instance) in (0u16..).zip(instances) {
        store.insert_instance(id, instance.to_values());
    }
    store
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn security_instance_round_trips_through_values() {
        let mut account = SecurityInstance::nosec("coaps://192.0.2.1:5684", ServerId(101));
        account.mode = SecurityMode::Psk;
        account.identity = b"dev1".to_vec();
        account.secret_key = vec![1, 2, 3];
        assert_eq!(SecurityInstance::from_values(&account.to_values()), Some(account.clone()));
        assert!(!format!("{account:?}").contains("secret"));
    }
}
