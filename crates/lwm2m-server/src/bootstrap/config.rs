//! Per-endpoint bootstrap configuration (what a Bootstrap-Server writes into a client) and its
//! JSON shape, compatible with the Leshan bootstrap demo.
//!
//! The shape mirrors Leshan's `BootstrapConfig` (read from
//! `eclipse-leshan/leshan` `leshan-lwm2m-bsserver/src/main/java/org/eclipse/leshan/bsserver/BootstrapConfig.java`
//! and the demo's JSON adapters in `leshan-bsserver-demo/.../demo/json/`): `toDelete`, `servers`
//! (instance id → [`ServerConfig`]), `security` (instance id → [`ServerSecurity`]), `acls`
//! (instance id → [`AclConfig`]), `autoIdForSecurityObject` and `contentFormat`. Field names are
//! Leshan's, including its odd capitals (`AccessControlOwner`, `CommunicationRetryTimer` …).
//! Byte arrays are JSON arrays of numbers, as the demo writes them (signed −128..=127 and
//! unsigned 0..=255 are both read; unsigned is written); `securityMode` is Leshan's enum name
//! (`"NO_SEC"`, `"PSK"`, `"RPK"`, `"X509"`, `"EST"`); `binding` is the binding string (`"U"`).
//! `contentFormat` is read as a number (`112`) or a Leshan name (`"SENML_CBOR"`) and written as
//! a number. Leshan fields this gateway does not act on (OSCORE, SMS) are ignored when read.
//! One extension: `objects`, extra object instances written after `/0`, `/1`, `/2`.
//!
//! [`BootstrapConfig::operations`] turns a configuration into the ordered Bootstrap-Delete /
//! Bootstrap-Write requests of a session (LwM2M Core TS §6.1, notes §2.1). The bootstrap
//! account (its `/0` instance) is never the target of a Bootstrap-Delete, and no path may carry a
//! gateway prefix: bootstrap never touches End-Device objects (Gateway TS §8.1, notes §7.4).

use std::collections::BTreeMap;
use std::fmt;

use coap::ContentFormat;
use lwm2m::format::Record;
use lwm2m::{Path, PrefixedPath, Value};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Object IDs the dedicated fields write; `objects` must not name them.
const CORE_OBJECTS: [u16; 3] = [0, 1, 2];

/// Largest number of entries any one map or list of a configuration may hold.
pub const MAX_CONFIG_ENTRIES: usize = 64;

/// What the Bootstrap-Server writes into one client (Leshan `BootstrapConfig`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BootstrapConfig {
    /// Start with a Bootstrap-Discover of `/0` and give the security instances fresh IDs around
    /// the client's own bootstrap-server instance (the IDs in [`Self::security`] are then ignored).
    #[serde(default)]
    pub auto_id_for_security_object: bool,
    /// Content format of the writes; `None`: the client's `pct`, or TLV when it gave none.
    #[serde(default, skip_serializing_if = "Option::is_none", with = "content_format_serde")]
    pub content_format: Option<ContentFormat>,
    /// Paths to Bootstrap-Delete first, in order (absent from JSON: `/0` and `/1`).
    #[serde(default = "default_to_delete")]
    pub to_delete: Vec<String>,
    /// LwM2M Server instances (`/1/i`) by instance ID.
    #[serde(default)]
    pub servers: BTreeMap<u16, ServerConfig>,
    /// Security instances (`/0/i`) by instance ID.
    #[serde(default)]
    pub security: BTreeMap<u16, ServerSecurity>,
    /// Access Control instances (`/2/i`) by instance ID.
    #[serde(default)]
    pub acls: BTreeMap<u16, AclConfig>,
    /// Extra object instances written after `/0`, `/1` and `/2` (extension, not in Leshan).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub objects: Vec<ObjectInstanceConfig>,
}

fn default_to_delete() -> Vec<String> {
    vec!["/0".to_owned(), "/1".to_owned()]
}

impl Default for BootstrapConfig {
    fn default() -> Self {
        Self::new()
    }
}

/// One LwM2M Server instance, `/1/i` (Leshan `ServerConfig`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ServerConfig {
    /// `/1/i/0` Short Server ID (1..=65534).
    pub short_id: u16,
    /// `/1/i/1` Lifetime in seconds.
    #[serde(default = "default_lifetime")]
    pub lifetime: u32,
    /// `/1/i/2` Default Minimum Period in seconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default_min_period: Option<u32>,
    /// `/1/i/3` Default Maximum Period in seconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default_max_period: Option<u32>,
    /// `/1/i/5` Disable Timeout in seconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub disable_timeout: Option<u32>,
    /// `/1/i/6` Notification Storing When Disabled or Offline.
    #[serde(default = "default_true")]
    pub notif_if_disabled: bool,
    /// `/1/i/7` Binding (`"U"`, `"UQ"`, `"T"` …).
    #[serde(default = "default_binding")]
    pub binding: String,
    /// `/1/i/13` Registration Priority Order (1.1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub registration_priority: Option<u64>,
    /// `/1/i/14` Initial Registration Delay Timer in seconds (1.1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub initial_delay: Option<u64>,
    /// `/1/i/15` Registration Failure Block (1.1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub registration_failure: Option<bool>,
    /// `/1/i/16` Bootstrap on Registration Failure (1.1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bootstrap_on_registration_failure: Option<bool>,
    /// `/1/i/17` Communication Retry Count (1.1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub communication_retry_count: Option<u64>,
    /// `/1/i/18` Communication Retry Timer in seconds (1.1; Leshan spells it with a capital).
    #[serde(rename = "CommunicationRetryTimer", default, skip_serializing_if = "Option::is_none")]
    pub communication_retry_timer: Option<u64>,
    /// `/1/i/19` Communication Sequence Delay Timer in seconds (1.1).
    #[serde(rename = "SequenceDelayTimer", default, skip_serializing_if = "Option::is_none")]
    pub sequence_delay_timer: Option<u64>,
    /// `/1/i/20` Communication Sequence Retry Count (1.1).
    #[serde(rename = "SequenceRetryCount", default, skip_serializing_if = "Option::is_none")]
    pub sequence_retry_count: Option<u64>,
    /// `/1/i/21` Trigger (1.1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trigger: Option<bool>,
    /// `/1/i/22` Preferred Transport (1.1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub preferred_transport: Option<String>,
    /// `/1/i/23` Mute Send (1.1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mute_send: Option<bool>,
}

fn default_lifetime() -> u32 {
    86_400
}

fn default_true() -> bool {
    true
}

fn default_binding() -> String {
    "U".to_owned()
}

/// `/0/i/2` Security Mode, by Leshan's enum name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum SecurityMode {
    /// 0: pre-shared key.
    #[serde(rename = "PSK")]
    Psk,
    /// 1: raw public key.
    #[serde(rename = "RPK")]
    Rpk,
    /// 2: X.509 certificate.
    #[serde(rename = "X509")]
    X509,
    /// 3: no security.
    #[serde(rename = "NO_SEC")]
    NoSec,
    /// 4: certificate with EST (1.1).
    #[serde(rename = "EST")]
    Est,
}

impl SecurityMode {
    /// The value of `/0/i/2`.
    pub fn code(self) -> i64 {
        match self {
            Self::Psk => 0,
            Self::Rpk => 1,
            Self::X509 => 2,
            Self::NoSec => 3,
            Self::Est => 4,
        }
    }
}

/// One Security instance, `/0/i` (Leshan `ServerSecurity`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ServerSecurity {
    /// `/0/i/0` LwM2M Server URI.
    pub uri: String,
    /// `/0/i/1` whether this instance is the Bootstrap-Server account.
    #[serde(default)]
    pub bootstrap_server: bool,
    /// `/0/i/2` Security Mode.
    pub security_mode: SecurityMode,
    /// `/0/i/3` Public Key or Identity (the PSK identity in PSK mode).
    #[serde(default, with = "bytes_serde")]
    pub public_key_or_id: Vec<u8>,
    /// `/0/i/4` Server Public Key.
    #[serde(default, with = "bytes_serde")]
    pub server_public_key: Vec<u8>,
    /// `/0/i/5` Secret Key (the PSK in PSK mode).
    #[serde(default, with = "bytes_serde")]
    pub secret_key: Vec<u8>,
    /// `/0/i/10` Short Server ID; must be set unless this is the bootstrap account.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub server_id: Option<u16>,
    /// `/0/i/11` Client Hold Off Time in seconds (Leshan's spelling).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_old_off_time: Option<u32>,
    /// `/0/i/12` Bootstrap-Server Account Timeout in seconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bootstrap_server_account_timeout: Option<u32>,
    /// `/0/i/13` Matching Type (1.1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub matching_type: Option<u8>,
    /// `/0/i/14` SNI (1.1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sni: Option<String>,
    /// `/0/i/15` Certificate Usage (1.1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub certificate_usage: Option<u8>,
    /// `/0/i/16` DTLS/TLS Ciphersuites, IANA values (1.1).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub cipher_suite: Vec<u16>,
}

/// One Access Control instance, `/2/i` (Leshan `ACLConfig`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AclConfig {
    /// `/2/i/0` Object ID the ACL protects.
    pub object_id: u16,
    /// `/2/i/1` Object Instance ID it protects (65535: the object's Create right).
    pub object_instance_id: u16,
    /// `/2/i/2` ACL: Short Server ID (0: default) → rights bitmask (R=1, W=2, E=4, D=8, C=16).
    #[serde(default)]
    pub acls: BTreeMap<u16, u8>,
    /// `/2/i/3` Access Control Owner (65535: bootstrap only).
    #[serde(rename = "AccessControlOwner", default, skip_serializing_if = "Option::is_none")]
    pub access_control_owner: Option<u16>,
}

/// An extra object instance to write (`/o/i`), resource ID → value.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ObjectInstanceConfig {
    /// `/o/i`, without gateway prefix; not `/0`, `/1` or `/2`.
    pub path: String,
    /// Resource values; a map value is a multi-instance resource (instance ID → value).
    pub resources: BTreeMap<u16, ResourceValue>,
}

/// A resource value in an [`ObjectInstanceConfig`]; converted to the model's type when encoded.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum ResourceValue {
    /// `true` / `false`.
    Boolean(bool),
    /// A whole number.
    Integer(i64),
    /// A number with a fraction.
    Float(f64),
    /// Text.
    Text(String),
    /// Bytes (an array of numbers), for Opaque resources.
    Bytes(Vec<u8>),
    /// A multi-instance resource: instance ID → value.
    Multiple(BTreeMap<u16, Self>),
}

/// Why a [`BootstrapConfig`] cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    /// A path does not parse, carries a gateway prefix, or has the wrong depth for its use.
    #[error("{field}: path {path:?} is not usable: {reason}")]
    BadPath {
        /// Which field holds it.
        field: &'static str,
        /// The path as given.
        path: String,
        /// What is wrong.
        reason: &'static str,
    },
    /// More than one security instance claims to be the bootstrap account.
    #[error("security: instances {first} and {second} are both marked bootstrapServer")]
    TwoBootstrapAccounts {
        /// One instance.
        first: u16,
        /// The other.
        second: u16,
    },
    /// A Short Server ID outside 1..=65534 or missing where required.
    #[error("{field} {instance}: short server id {value:?} is not in 1..=65534")]
    BadShortServerId {
        /// `servers` or `security`.
        field: &'static str,
        /// Instance ID.
        instance: u16,
        /// The value (None: missing).
        value: Option<u16>,
    },
    /// A binding string with characters other than U, M, H, T, S, N, Q.
    #[error("servers {instance}: binding {binding:?} is not a binding")]
    BadBinding {
        /// Instance ID.
        instance: u16,
        /// The binding as given.
        binding: String,
    },
    /// An ACL value above 31.
    #[error("acls {instance}: rights {rights} for server {server} exceed 31")]
    BadAcl {
        /// Instance ID.
        instance: u16,
        /// Short Server ID (resource instance).
        server: u16,
        /// The value.
        rights: u8,
    },
    /// A content format the bootstrap server cannot write.
    #[error("contentFormat {0} is not TLV, SenML JSON, SenML CBOR or LwM2M CBOR")]
    UnsupportedContentFormat(u16),
    /// Too many entries in one field.
    #[error("{field} holds {len} entries, more than {MAX_CONFIG_ENTRIES}")]
    TooLarge {
        /// Which field.
        field: &'static str,
        /// How many it holds.
        len: usize,
    },
    /// A multi-instance resource value holds another multi-instance value.
    #[error("objects {path}: resource {resource} nests multi-instance values")]
    NestedMultiple {
        /// The object instance.
        path: String,
        /// The resource.
        resource: u16,
    },
    /// Automatic IDs need more security instances than IDs are free.
    #[error("no free security instance id left for automatic numbering")]
    NoFreeSecurityId,
}

/// Content formats a Bootstrap-Write may use (node formats with names or TLV).
pub const WRITE_FORMATS: [ContentFormat; 4] =
    [ContentFormat::TLV, ContentFormat::SENML_JSON, ContentFormat::SENML_CBOR, ContentFormat::LWM2M_CBOR];

/// One bootstrap request the server sends, in session order.
#[derive(Debug, Clone, PartialEq)]
pub enum BootstrapOperation {
    /// Bootstrap-Discover, `GET /` or `GET /o` with Accept 40.
    Discover(Path),
    /// Bootstrap-Read (1.1), `GET /1[/i]` or `/2[/i]`.
    Read(Path),
    /// Bootstrap-Write, `PUT /o[/i[/r]]` with the records below that path.
    Write(Path, Vec<Record>),
    /// Bootstrap-Delete, `DELETE /`, `/o` or `/o/i`.
    Delete(Path),
    /// Bootstrap-Finish, `POST /bs`.
    Finish,
}

impl BootstrapOperation {
    /// Short name of the operation (`"Bootstrap-Write"`).
    pub fn name(&self) -> &'static str {
        match self {
            Self::Discover(_) => "Bootstrap-Discover",
            Self::Read(_) => "Bootstrap-Read",
            Self::Write(..) => "Bootstrap-Write",
            Self::Delete(_) => "Bootstrap-Delete",
            Self::Finish => "Bootstrap-Finish",
        }
    }
}

impl fmt::Display for BootstrapOperation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Discover(p) | Self::Read(p) | Self::Write(p, _) | Self::Delete(p) => write!(f, "{} {p}", self.name()),
            Self::Finish => f.write_str("Bootstrap-Finish /bs"),
        }
    }
}

impl BootstrapConfig {
    /// An empty configuration that deletes `/0` and `/1` and writes nothing.
    pub fn new() -> Self {
        Self {
            auto_id_for_security_object: false,
            content_format: None,
            to_delete: default_to_delete(),
            servers: BTreeMap::new(),
            security: BTreeMap::new(),
            acls: BTreeMap::new(),
            objects: Vec::new(),
        }
    }

    /// The usual single-server configuration: deletes `/0` and `/1`, then writes `security` as
    /// `/0/1` and an LwM2M Server `/1/0` with the same Short Server ID and `lifetime` seconds.
    ///
    /// ```
    /// # use lwm2m_server::bootstrap::{BootstrapConfig, ServerSecurity};
    /// let config = BootstrapConfig::single_server(ServerSecurity::no_sec("coap://127.0.0.1:5683", 1), 300);
    /// assert_eq!(config.servers[&0].short_id, 1);
    /// ```
    pub fn single_server(security: ServerSecurity, lifetime: u32) -> Self {
        let short_id = security.server_id.unwrap_or(1);
        Self::new().with_security(1, security).with_server(0, ServerConfig::new(short_id, lifetime))
    }

    /// Adds (or replaces) security instance `/0/instance`.
    #[must_use]
    pub fn with_security(mut self, instance: u16, security: ServerSecurity) -> Self {
        self.security.insert(instance, security);
        self
    }

    /// Adds (or replaces) server instance `/1/instance`.
    #[must_use]
    pub fn with_server(mut self, instance: u16, server: ServerConfig) -> Self {
        self.servers.insert(instance, server);
        self
    }

    /// Adds (or replaces) access control instance `/2/instance`.
    #[must_use]
    pub fn with_acl(mut self, instance: u16, acl: AclConfig) -> Self {
        self.acls.insert(instance, acl);
        self
    }

    /// Adds an extra object instance to write.
    #[must_use]
    pub fn with_object(mut self, object: ObjectInstanceConfig) -> Self {
        self.objects.push(object);
        self
    }

    /// Replaces the list of paths to delete.
    #[must_use]
    pub fn with_to_delete<S: Into<String>>(mut self, paths: impl IntoIterator<Item = S>) -> Self {
        self.to_delete = paths.into_iter().map(Into::into).collect();
        self
    }

    /// Forces the content format of the writes.
    #[must_use]
    pub fn with_content_format(mut self, format: ContentFormat) -> Self {
        self.content_format = Some(format);
        self
    }

    /// The security instance of the bootstrap account, if the configuration has one.
    pub fn bootstrap_account(&self) -> Option<(u16, &ServerSecurity)> {
        self.security.iter().find(|(_, s)| s.bootstrap_server).map(|(&i, s)| (i, s))
    }

    /// The PSK identity the client must use towards this Bootstrap-Server: the identity of the
    /// bootstrap account when it is in PSK mode.
    pub fn bootstrap_psk_identity(&self) -> Option<&[u8]> {
        self.bootstrap_account()
            .filter(|(_, s)| s.security_mode == SecurityMode::Psk)
            .map(|(_, s)| s.public_key_or_id.as_slice())
    }

    /// Checks everything that does not need the object model.
    pub fn validate(&self) -> Result<(), ConfigError> {
        for (field, len) in [
            ("toDelete", self.to_delete.len()),
            ("servers", self.servers.len()),
            ("security", self.security.len()),
            ("acls", self.acls.len()),
            ("objects", self.objects.len()),
        ] {
            if len > MAX_CONFIG_ENTRIES {
                return Err(ConfigError::TooLarge { field, len });
            }
        }
        if let Some(cf) = self.content_format {
            if !WRITE_FORMATS.contains(&cf) {
                return Err(ConfigError::UnsupportedContentFormat(cf.0));
            }
        }
        for path in &self.to_delete {
            let parsed = parse_plain("toDelete", path)?;
            if matches!(parsed, Path::Resource(..) | Path::ResourceInstance(..)) {
                return Err(bad_path("toDelete", path, "Bootstrap-Delete targets /, /o or /o/i"));
            }
        }
        let mut bootstrap: Option<u16> = None;
        for (&i, s) in &self.security {
            if s.bootstrap_server {
                if let Some(first) = bootstrap {
                    return Err(ConfigError::TwoBootstrapAccounts { first, second: i });
                }
                bootstrap = Some(i);
            } else if !s.server_id.is_some_and(valid_short_id) {
                return Err(ConfigError::BadShortServerId { field: "security", instance: i, value: s.server_id });
            }
        }
        for (&i, s) in &self.servers {
            if !valid_short_id(s.short_id) {
                return Err(ConfigError::BadShortServerId { field: "servers", instance: i, value: Some(s.short_id) });
            }
            if s.binding.is_empty() || !s.binding.chars().all(|c| "UMHTSNQ".contains(c)) {
                return Err(ConfigError::BadBinding { instance: i, binding: s.binding.clone() });
            }
        }
        for (&i, acl) in &self.acls {
            if let Some((&server, &rights)) = acl.acls.iter().find(|(_, &r)| r > 31) {
                return Err(ConfigError::BadAcl { instance: i, server, rights });
            }
        }
        for object in &self.objects {
            match parse_plain("objects", &object.path)? {
                Path::Instance(o, _) if CORE_OBJECTS.contains(&o) => {
                    return Err(bad_path("objects", &object.path, "objects 0, 1 and 2 have their own fields"))
                }
                Path::Instance(..) => {}
                _ => return Err(bad_path("objects", &object.path, "an extra object is written as /o/i")),
            }
            for (&resource, value) in &object.resources {
                if let ResourceValue::Multiple(items) = value {
                    if items.values().any(|v| matches!(v, ResourceValue::Multiple(_))) {
                        return Err(ConfigError::NestedMultiple { path: object.path.clone(), resource });
                    }
                }
            }
        }
        Ok(())
    }

    /// The Bootstrap-Delete and Bootstrap-Write requests of a session, in order, then Finish.
    ///
    /// `client_bootstrap_instance` is the client's bootstrap-account instance of `/0` when a
    /// Bootstrap-Discover found it. With [`Self::auto_id_for_security_object`], the configured
    /// bootstrap account is written to that instance and the other security instances get the
    /// lowest other free IDs, in configured order. No Bootstrap-Delete ever names the bootstrap
    /// account's instance (configured or discovered); `/` and `/0` are left to the client, which
    /// keeps the bootstrap account on such deletes (Core TS §6.1.7.6).
    pub fn operations(&self, client_bootstrap_instance: Option<u16>) -> Result<Vec<BootstrapOperation>, ConfigError> {
        self.validate()?;
        let security = self.security_instances(client_bootstrap_instance)?;
        let protected: Vec<u16> = client_bootstrap_instance
            .into_iter()
            .chain(security.iter().filter(|(_, s)| s.bootstrap_server).map(|(i, _)| *i))
            .collect();
        let mut ops = Vec::new();
        for path in &self.to_delete {
            let path = parse_plain("toDelete", path)?;
            if matches!(path, Path::Instance(0, i) if protected.contains(&i)) {
                continue;
            }
            ops.push(BootstrapOperation::Delete(path));
        }
        for (i, s) in &security {
            ops.push(BootstrapOperation::Write(Path::Instance(0, *i), security_records(*i, s)));
        }
        for (&i, s) in &self.servers {
            ops.push(BootstrapOperation::Write(Path::Instance(1, i), server_records(i, s)));
        }
        for (&i, acl) in &self.acls {
            ops.push(BootstrapOperation::Write(Path::Instance(2, i), acl_records(i, acl)));
        }
        for object in &self.objects {
            let path = parse_plain("objects", &object.path)?;
            ops.push(BootstrapOperation::Write(path, object_records(path, &object.resources)));
        }
        ops.push(BootstrapOperation::Finish);
        Ok(ops)
    }

    /// Security instances with their final IDs.
    fn security_instances(&self, client_bootstrap: Option<u16>) -> Result<Vec<(u16, &ServerSecurity)>, ConfigError> {
        if !self.auto_id_for_security_object {
            return Ok(self.security.iter().map(|(&i, s)| (i, s)).collect());
        }
        let mut out = Vec::with_capacity(self.security.len());
        let mut next: u32 = 0;
        for s in self.security.values() {
            if s.bootstrap_server {
                if let Some(i) = client_bootstrap {
                    out.push((i, s));
                    continue;
                }
            }
            while client_bootstrap.is_some_and(|b| u32::from(b) == next) {
                next += 1;
            }
            let id = u16::try_from(next).ok().filter(|&id| id != u16::MAX).ok_or(ConfigError::NoFreeSecurityId)?;
            out.push((id, s));
            next += 1;
        }
        Ok(out)
    }
}

fn valid_short_id(id: u16) -> bool {
    (1..=65534).contains(&id)
}

fn bad_path(field: &'static str, path: &str, reason: &'static str) -> ConfigError {
    ConfigError::BadPath { field, path: path.to_owned(), reason }
}

/// Parses a path that must not carry a gateway prefix.
fn parse_plain(field: &'static str, path: &str) -> Result<Path, ConfigError> {
    let parsed: PrefixedPath = path.parse().map_err(|_| bad_path(field, path, "it is not an LwM2M path"))?;
    if parsed.prefix.is_some() {
        return Err(bad_path(field, path, "bootstrap never targets End-Device objects"));
    }
    Ok(parsed.path)
}

fn record(o: u16, i: u16, r: u16, value: Value) -> Record {
    Record::new(PrefixedPath::plain(Path::Resource(o, i, r)), value)
}

fn security_records(i: u16, s: &ServerSecurity) -> Vec<Record> {
    let mut out = vec![
        record(0, i, 0, Value::String(s.uri.clone())),
        record(0, i, 1, Value::Boolean(s.bootstrap_server)),
        record(0, i, 2, Value::Integer(s.security_mode.code())),
        record(0, i, 3, Value::Opaque(s.public_key_or_id.clone())),
        record(0, i, 4, Value::Opaque(s.server_public_key.clone())),
        record(0, i, 5, Value::Opaque(s.secret_key.clone())),
    ];
    if let Some(id) = s.server_id {
        out.push(record(0, i, 10, Value::Integer(id.into())));
    }
    if let Some(t) = s.client_old_off_time {
        out.push(record(0, i, 11, Value::Integer(t.into())));
    }
    if let Some(t) = s.bootstrap_server_account_timeout {
        out.push(record(0, i, 12, Value::Integer(t.into())));
    }
    if let Some(m) = s.matching_type {
        out.push(record(0, i, 13, Value::Unsigned(m.into())));
    }
    if let Some(sni) = &s.sni {
        out.push(record(0, i, 14, Value::String(sni.clone())));
    }
    if let Some(u) = s.certificate_usage {
        out.push(record(0, i, 15, Value::Unsigned(u.into())));
    }
    for (ri, suite) in (0u16..).zip(&s.cipher_suite) {
        out.push(Record::new(
            PrefixedPath::plain(Path::ResourceInstance(0, i, 16, ri)),
            Value::Unsigned((*suite).into()),
        ));
    }
    out
}

fn server_records(i: u16, s: &ServerConfig) -> Vec<Record> {
    let mut out =
        vec![record(1, i, 0, Value::Integer(s.short_id.into())), record(1, i, 1, Value::Integer(s.lifetime.into()))];
    let optional_u32 = [(2, s.default_min_period), (3, s.default_max_period), (5, s.disable_timeout)];
    out.extend(optional_u32.into_iter().filter_map(|(r, v)| v.map(|v| record(1, i, r, Value::Integer(v.into())))));
    out.push(record(1, i, 6, Value::Boolean(s.notif_if_disabled)));
    out.push(record(1, i, 7, Value::String(s.binding.clone())));
    let optional_u64 = [
        (13, s.registration_priority),
        (14, s.initial_delay),
        (17, s.communication_retry_count),
        (18, s.communication_retry_timer),
        (19, s.sequence_delay_timer),
        (20, s.sequence_retry_count),
    ];
    let optional_bool =
        [(15, s.registration_failure), (16, s.bootstrap_on_registration_failure), (21, s.trigger), (23, s.mute_send)];
    out.extend(optional_u64.into_iter().filter_map(|(r, v)| v.map(|v| record(1, i, r, Value::Unsigned(v)))));
    out.extend(optional_bool.into_iter().filter_map(|(r, v)| v.map(|v| record(1, i, r, Value::Boolean(v)))));
    if let Some(t) = &s.preferred_transport {
        out.push(record(1, i, 22, Value::String(t.clone())));
    }
    out.sort_by_key(|r| r.path.path);
    out
}

fn acl_records(i: u16, acl: &AclConfig) -> Vec<Record> {
    let mut out = vec![
        record(2, i, 0, Value::Integer(acl.object_id.into())),
        record(2, i, 1, Value::Integer(acl.object_instance_id.into())),
    ];
    for (&server, &rights) in &acl.acls {
        out.push(Record::new(
            PrefixedPath::plain(Path::ResourceInstance(2, i, 2, server)),
            Value::Integer(rights.into()),
        ));
    }
    if let Some(owner) = acl.access_control_owner {
        out.push(record(2, i, 3, Value::Integer(owner.into())));
    }
    out
}

fn object_records(path: Path, resources: &BTreeMap<u16, ResourceValue>) -> Vec<Record> {
    let Path::Instance(o, i) = path else { return Vec::new() };
    let mut out = Vec::new();
    for (&r, value) in resources {
        match value {
            ResourceValue::Multiple(items) => {
                for (&ri, item) in items {
                    if let Some(v) = scalar(item) {
                        out.push(Record::new(PrefixedPath::plain(Path::ResourceInstance(o, i, r, ri)), v));
                    }
                }
            }
            other => {
                if let Some(v) = scalar(other) {
                    out.push(record(o, i, r, v));
                }
            }
        }
    }
    out
}

/// A single value; `None` for a nested multi-instance map, which `validate` refuses.
fn scalar(value: &ResourceValue) -> Option<Value> {
    Some(match value {
        ResourceValue::Boolean(b) => Value::Boolean(*b),
        ResourceValue::Integer(n) => Value::Integer(*n),
        ResourceValue::Float(f) => Value::Float(*f),
        ResourceValue::Text(s) => Value::String(s.clone()),
        ResourceValue::Bytes(b) => Value::Opaque(b.clone()),
        ResourceValue::Multiple(_) => return None,
    })
}

impl ServerConfig {
    /// A server instance with Short Server ID `short_id` and `lifetime` seconds, binding `U`,
    /// notification storing on, no default periods.
    pub fn new(short_id: u16, lifetime: u32) -> Self {
        Self {
            short_id,
            lifetime,
            default_min_period: None,
            default_max_period: None,
            disable_timeout: None,
            notif_if_disabled: true,
            binding: default_binding(),
            registration_priority: None,
            initial_delay: None,
            registration_failure: None,
            bootstrap_on_registration_failure: None,
            communication_retry_count: None,
            communication_retry_timer: None,
            sequence_delay_timer: None,
            sequence_retry_count: None,
            trigger: None,
            preferred_transport: None,
            mute_send: None,
        }
    }
}

impl ServerSecurity {
    fn base(uri: &str, mode: SecurityMode) -> Self {
        Self {
            uri: uri.to_owned(),
            bootstrap_server: false,
            security_mode: mode,
            public_key_or_id: Vec::new(),
            server_public_key: Vec::new(),
            secret_key: Vec::new(),
            server_id: None,
            client_old_off_time: None,
            bootstrap_server_account_timeout: None,
            matching_type: None,
            sni: None,
            certificate_usage: None,
            cipher_suite: Vec::new(),
        }
    }

    /// An LwM2M Server account at `uri` (`coap://127.0.0.1:5683`) without security.
    pub fn no_sec(uri: &str, short_server_id: u16) -> Self {
        Self { server_id: Some(short_server_id), ..Self::base(uri, SecurityMode::NoSec) }
    }

    /// An LwM2M Server account at `uri` (`coaps://…`) with a pre-shared key.
    pub fn psk(uri: &str, short_server_id: u16, identity: &[u8], key: &[u8]) -> Self {
        Self {
            server_id: Some(short_server_id),
            public_key_or_id: identity.to_vec(),
            secret_key: key.to_vec(),
            ..Self::base(uri, SecurityMode::Psk)
        }
    }

    /// The bootstrap account at `uri` without security.
    pub fn bootstrap_no_sec(uri: &str) -> Self {
        Self { bootstrap_server: true, ..Self::base(uri, SecurityMode::NoSec) }
    }

    /// The bootstrap account at `uri` with a pre-shared key; the client must then authenticate
    /// to the Bootstrap-Server with `identity`.
    pub fn bootstrap_psk(uri: &str, identity: &[u8], key: &[u8]) -> Self {
        Self {
            bootstrap_server: true,
            public_key_or_id: identity.to_vec(),
            secret_key: key.to_vec(),
            ..Self::base(uri, SecurityMode::Psk)
        }
    }
}

/// Byte arrays as JSON arrays of numbers (Leshan demo), signed or unsigned on input.
mod bytes_serde {
    use serde::de::{Error, SeqAccess, Visitor};

    use super::{Deserializer, Serializer};

    pub(super) fn serialize<S: Serializer>(bytes: &[u8], serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_seq(bytes)
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Vec<u8>, D::Error> {
        struct Bytes;
        impl<'de> Visitor<'de> for Bytes {
            type Value = Vec<u8>;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("an array of byte values in -128..=255")
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Vec<u8>, A::Error> {
                let mut out = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(1024));
                while let Some(n) = seq.next_element::<i64>()? {
                    let byte = match n {
                        -128..=-1 => u8::try_from(n + 256).map_err(A::Error::custom)?,
                        0..=255 => u8::try_from(n).map_err(A::Error::custom)?,
                        _ => return Err(A::Error::custom(format_args!("byte value {n} is outside -128..=255"))),
                    };
                    out.push(byte);
                }
                Ok(out)
            }
            fn visit_unit<E: Error>(self) -> Result<Vec<u8>, E> {
                Ok(Vec::new())
            }
        }
        deserializer.deserialize_any(Bytes)
    }
}

/// `contentFormat` as a number, or a Leshan name on input.
mod content_format_serde {
    use serde::de::Error;
    use serde::Deserialize;

    use super::{ContentFormat, Deserializer, Serializer};

    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Repr {
        Code(u16),
        Name(String),
    }

    pub(super) fn serialize<S: Serializer>(cf: &Option<ContentFormat>, serializer: S) -> Result<S::Ok, S::Error> {
        match cf {
            Some(cf) => serializer.serialize_u16(cf.0),
            None => serializer.serialize_none(),
        }
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<ContentFormat>, D::Error> {
        let Some(repr) = Option::<Repr>::deserialize(deserializer)? else { return Ok(None) };
        match repr {
            Repr::Code(code) => Ok(Some(ContentFormat(code))),
            Repr::Name(name) => match name.to_ascii_uppercase().replace(['-', ' '], "_").as_str() {
                "TLV" => Ok(Some(ContentFormat::TLV)),
                "SENML_JSON" => Ok(Some(ContentFormat::SENML_JSON)),
                "SENML_CBOR" => Ok(Some(ContentFormat::SENML_CBOR)),
                "LWM2M_CBOR" | "CBOR_LWM2M" => Ok(Some(ContentFormat::LWM2M_CBOR)),
                "JSON" => Ok(Some(ContentFormat::OMA_JSON)),
                _ => Err(D::Error::custom(format_args!("unknown content format name {name:?}"))),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn gateway_server() -> BootstrapConfig {
        BootstrapConfig::single_server(ServerSecurity::no_sec("coap://127.0.0.1:5683", 1), 300)
    }

    #[test]
    fn single_server_config_deletes_then_writes_security_server_and_finishes() {
        let ops = gateway_server().operations(None).expect("valid");
        let names: Vec<String> = ops.iter().map(ToString::to_string).collect();
        assert_eq!(
            names,
            [
                "Bootstrap-Delete /0",
                "Bootstrap-Delete /1",
                "Bootstrap-Write /0/1",
                "Bootstrap-Write /1/0",
                "Bootstrap-Finish /bs"
            ]
        );
        let BootstrapOperation::Write(_, records) = &ops[3] else { panic!("a write") };
        assert!(records.contains(&record(1, 0, 1, Value::Integer(300))));
        assert!(records.contains(&record(1, 0, 0, Value::Integer(1))));
    }

    #[test]
    fn delete_of_the_configured_bootstrap_instance_is_dropped() {
        let config = gateway_server()
            .with_security(0, ServerSecurity::bootstrap_no_sec("coap://127.0.0.1:5783"))
            .with_to_delete(["/0/0", "/0/1", "/1"]);
        let ops = config.operations(None).expect("valid");
        assert!(!ops.contains(&BootstrapOperation::Delete(Path::Instance(0, 0))));
        assert!(ops.contains(&BootstrapOperation::Delete(Path::Instance(0, 1))));
    }

    #[test]
    fn auto_ids_put_the_bootstrap_account_on_the_discovered_instance() {
        let mut config = gateway_server().with_security(7, ServerSecurity::bootstrap_no_sec("coap://bs"));
        config.auto_id_for_security_object = true;
        config.to_delete = vec!["/0/0".into()];
        let ops = config.operations(Some(0)).expect("valid");
        let writes: Vec<Path> = ops
            .iter()
            .filter_map(|op| match op {
                BootstrapOperation::Write(p, records) if p.object_id() == Some(0) => {
                    assert!(records.iter().all(|r| p.contains(&r.path.path)));
                    Some(*p)
                }
                _ => None,
            })
            .collect();
        // The server account takes the first ID that is not the client's bootstrap instance.
        assert_eq!(writes, [Path::Instance(0, 1), Path::Instance(0, 0)]);
        assert!(!ops.contains(&BootstrapOperation::Delete(Path::Instance(0, 0))));
    }

    #[test]
    fn prefixed_and_resource_paths_are_refused() {
        let err = gateway_server().with_to_delete(["/d01/3"]).validate().unwrap_err();
        assert!(matches!(err, ConfigError::BadPath { field: "toDelete", .. }), "{err}");
        let err = gateway_server().with_to_delete(["/1/0/1"]).validate().unwrap_err();
        assert!(err.to_string().contains("/o/i"), "{err}");
    }

    #[test]
    fn server_security_without_short_id_is_refused() {
        let mut security = ServerSecurity::no_sec("coap://x", 1);
        security.server_id = None;
        let err = BootstrapConfig::new().with_security(1, security).validate().unwrap_err();
        assert_eq!(err, ConfigError::BadShortServerId { field: "security", instance: 1, value: None });
    }
}
