//! Registration interface data (Core TS 1.2 §6.2, Transport TS 1.2 Tbl 6.4.3-1; spec notes §2.2,
//! §4, pitfalls 12, 13 and 16): the Uri-Query parameters of Register (`POST /rd?ep=…`) and
//! Update (`POST /rd/<id>?lt=…`), and the link-format object list both carry.
//!
//! This module owns parsing and writing those pieces; it keeps no registration state. Parsing is
//! strict where a mistake would change meaning and lenient where peers legitimately differ:
//!
//! - A parameter given twice, a value where none belongs (`Q=1`), no value where one is needed
//!   (`lt`), a number that is not plain decimal or binding letters that do not fit the LwM2M
//!   version are errors naming the parameter. An unsupported `lwm2m` version is its own variant,
//!   [`RegisterError::UnsupportedVersion`], so a server can answer 4.12; every other error is 4.00.
//! - Unknown parameters are kept, not refused, in [`RegisterParams::additional`] (as Leshan keeps
//!   "additional attributes"): the TS reserves no namespace for extensions and refusing them
//!   would lock out clients that add vendor parameters.
//! - `ep` is required. LwM2M 1.1 lets a client leave it out when its credentials name it; the
//!   caller that knows the credential then uses [`RegisterParams::from_query_with_endpoint`].
//! - The binding follows the version: LwM2M 1.0 spells queue mode inside `b` (`UQ`, `SQ`,
//!   `UQS`); 1.1 and later use the letters `U T S N M H` and a separate `Q` flag.
//!
//! [`ObjectLinks`] is the LwM2M view of a Register/Update payload: an optional root or alternate
//! path (link with `rt="oma.lwm2m"`, else `</>`), the content formats the root lists in `ct`, and
//! per object its version and instances. Gateway-prefixed links (`</d01/3/0>`) are refused: End-
//! Device objects never appear in a registration (Gateway TS 1.1.1 §6, §8.2). Links to `/0`,
//! `/21` and `/23`, which a client must never list, are dropped and reported in
//! [`ObjectLinks::ignored`] so the server can log them.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::str::FromStr;
use std::sync::Arc;

use crate::format::link::{self, Link};
use crate::format::FormatError;
use crate::path::{Path, PrefixedPath};

/// Longest endpoint name accepted: a Uri-Query option holds at most 255 bytes, `ep=` takes 3.
pub const MAX_ENDPOINT_LEN: usize = 252;

/// Longest `sms` (MSISDN) and `pid` value accepted.
const MAX_SHORT_VALUE_LEN: usize = 64;

/// Objects a client must never list in Register/Update (Security, OSCORE, COSE; Core TS §6.2.1).
pub const NEVER_LISTED: [u16; 3] = [0, 21, 23];

/// The LwM2M `ep` value naming a client: non-empty, at most [`MAX_ENDPOINT_LEN`] bytes, no
/// control characters. Clones share the text (a server and a gateway index a client by name
/// in several tables).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct EndpointName(Arc<str>);

impl EndpointName {
    /// Validates an endpoint name.
    pub fn new(name: &str) -> Result<Self, RegisterError> {
        let reason = if name.is_empty() {
            "it is empty"
        } else if name.len() > MAX_ENDPOINT_LEN {
            "it is longer than 252 bytes"
        } else if name.chars().any(char::is_control) {
            "it holds a control character"
        } else {
            return Ok(Self(Arc::from(name)));
        };
        Err(RegisterError::InvalidValue { name: "ep", reason })
    }

    /// The name as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Maps keyed by name can be searched with a `&str` (ordering, equality and hash are the text's).
impl std::borrow::Borrow<str> for EndpointName {
    fn borrow(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for EndpointName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Serialised as its text (persisted gateway state).
impl serde::Serialize for EndpointName {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.0)
    }
}

/// Deserialised from its text, validated like [`EndpointName::new`].
impl<'de> serde::Deserialize<'de> for EndpointName {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        Self::new(&text).map_err(serde::de::Error::custom)
    }
}

impl FromStr for EndpointName {
    type Err = RegisterError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::new(s)
    }
}

/// An LwM2M enabler version (`lwm2m=` parameter). Absent means 1.0.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub enum Version {
    /// LwM2M 1.0.
    #[default]
    V1_0,
    /// LwM2M 1.1.
    V1_1,
    /// LwM2M 1.2.
    V1_2,
}

impl Version {
    /// `"1.0"`, `"1.1"` or `"1.2"`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::V1_0 => "1.0",
            Self::V1_1 => "1.1",
            Self::V1_2 => "1.2",
        }
    }
}

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Version {
    type Err = RegisterError;

    /// Exactly `1.0`, `1.1` or `1.2`; anything else is [`RegisterError::UnsupportedVersion`].
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "1.0" => Ok(Self::V1_0),
            "1.1" => Ok(Self::V1_1),
            "1.2" => Ok(Self::V1_2),
            other => Err(RegisterError::UnsupportedVersion(cut(other))),
        }
    }
}

/// One transport letter of a binding (Core TS §6.2.1.1, `/1/x/7`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Transport {
    /// `U`: UDP.
    Udp,
    /// `T`: TCP (1.1).
    Tcp,
    /// `S`: SMS.
    Sms,
    /// `N`: Non-IP (1.1).
    NonIp,
    /// `M`: MQTT (1.2).
    Mqtt,
    /// `H`: HTTP (1.2).
    Http,
}

impl Transport {
    /// Every transport, in the order `U T S N M H`.
    const ALL: [Self; 6] = [Self::Udp, Self::Tcp, Self::Sms, Self::NonIp, Self::Mqtt, Self::Http];

    /// This transport's bit in a [`Binding`].
    fn bit(self) -> u8 {
        1 << (self as u8)
    }

    /// The binding letter.
    pub fn letter(self) -> char {
        match self {
            Self::Udp => 'U',
            Self::Tcp => 'T',
            Self::Sms => 'S',
            Self::NonIp => 'N',
            Self::Mqtt => 'M',
            Self::Http => 'H',
        }
    }

    /// The transport of a binding letter.
    pub fn from_letter(letter: char) -> Option<Self> {
        Some(match letter {
            'U' => Self::Udp,
            'T' => Self::Tcp,
            'S' => Self::Sms,
            'N' => Self::NonIp,
            'M' => Self::Mqtt,
            'H' => Self::Http,
            _ => return None,
        })
    }

    /// The first LwM2M version that defines this transport letter.
    pub fn since(self) -> Version {
        match self {
            Self::Udp | Self::Sms => Version::V1_0,
            Self::Tcp | Self::NonIp => Version::V1_1,
            Self::Mqtt | Self::Http => Version::V1_2,
        }
    }
}

/// The transports of a `b=` binding, without queue mode (which is [`RegisterParams::queue_mode`]).
/// Never empty; each transport once, kept in the order `U T S N M H` (one bit per transport).
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Binding(u8);

impl Binding {
    /// A binding of the given transports; `None` if there is none.
    pub fn new(transports: impl IntoIterator<Item = Transport>) -> Option<Self> {
        let bits = transports.into_iter().fold(0, |bits, t| bits | t.bit());
        (bits != 0).then_some(Self(bits))
    }

    /// UDP only, the default when `b` is absent.
    pub fn udp() -> Self {
        Self(Transport::Udp.bit())
    }

    /// Whether the binding includes `transport`.
    pub fn has(&self, transport: Transport) -> bool {
        self.0 & transport.bit() != 0
    }

    /// The transports, in the order `U T S N M H`.
    pub fn transports(&self) -> impl Iterator<Item = Transport> + '_ {
        let bits = self.0;
        Transport::ALL.into_iter().filter(move |t| bits & t.bit() != 0)
    }

    /// Parses a `b=` value for an LwM2M version and returns the binding and whether it asked for
    /// queue mode. 1.0 accepts exactly `U`, `UQ`, `S`, `SQ`, `US`, `UQS`; 1.1 and later accept
    /// the letters their version defines, each once, and refuse `Q` (a separate parameter there).
    pub fn parse(value: &str, version: Version) -> Result<(Self, bool), RegisterError> {
        let invalid = |reason| RegisterError::InvalidValue { name: "b", reason };
        if version == Version::V1_0 {
            let (letters, queue) = match value {
                "U" => ("U", false),
                "UQ" => ("U", true),
                "S" => ("S", false),
                "SQ" => ("S", true),
                "US" => ("US", false),
                "UQS" => ("US", true),
                _ => return Err(invalid("LwM2M 1.0 allows only U, UQ, S, SQ, US or UQS")),
            };
            let binding = Self::new(letters.chars().filter_map(Transport::from_letter));
            return Ok((binding.ok_or(invalid("it is empty"))?, queue));
        }
        if value.is_empty() {
            return Err(invalid("it is empty"));
        }
        let mut bits = 0;
        for letter in value.chars() {
            if letter == 'Q' {
                return Err(invalid("Q is not a binding letter since LwM2M 1.1; queue mode is the Q parameter"));
            }
            let transport = Transport::from_letter(letter).ok_or(invalid("letters must be U, T, S, N, M or H"))?;
            if transport.since() > version {
                return Err(invalid("a letter is not defined by the registered LwM2M version"));
            }
            if bits & transport.bit() != 0 {
                return Err(invalid("a letter appears twice"));
            }
            bits |= transport.bit();
        }
        Ok((Self(bits), false))
    }

    /// The `b=` value for `version`: 1.0 spells queue mode inside it (`UQ`, `UQS`).
    pub fn query_value(&self, version: Version, queue: bool) -> String {
        let mut out = String::new();
        for transport in self.transports() {
            out.push(transport.letter());
            if version == Version::V1_0 && queue && transport == Transport::Udp {
                out.push('Q');
            }
        }
        if version == Version::V1_0 && queue && !self.has(Transport::Udp) {
            out.push('Q');
        }
        out
    }
}

impl fmt::Debug for Binding {
    /// `Binding({Udp, Sms})`, as the set it stands for.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Binding").field(&DebugSet(self)).finish()
    }
}

/// The transports of a binding, printed as a set.
struct DebugSet<'a>(&'a Binding);

impl fmt::Debug for DebugSet<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_set().entries(self.0.transports()).finish()
    }
}

impl fmt::Display for Binding {
    /// The letters in the order `U T S N M H`, without queue mode.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for transport in self.transports() {
            write!(f, "{}", transport.letter())?;
        }
        Ok(())
    }
}

/// Why registration parameters or a registration payload are refused. Every variant but
/// [`RegisterError::UnsupportedVersion`] is a 4.00 Bad Request; that one is 4.12.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum RegisterError {
    /// `ep` is absent from a Register.
    #[error("the ep parameter is missing")]
    MissingEndpoint,
    /// A parameter appears twice.
    #[error("parameter {0} is given twice")]
    Duplicate(String),
    /// A parameter that needs a value has none (`lt`, `lt=`).
    #[error("parameter {0} needs a value")]
    MissingValue(&'static str),
    /// A flag carries a value (`Q=1`).
    #[error("parameter {0} takes no value")]
    UnexpectedValue(&'static str),
    /// A parameter's value is not valid.
    #[error("parameter {name} is invalid: {reason}")]
    InvalidValue {
        /// The parameter.
        name: &'static str,
        /// Why.
        reason: &'static str,
    },
    /// A Register parameter in an Update (`ep`, `lwm2m`, `pid`).
    #[error("parameter {0} is not allowed in an update")]
    NotInUpdate(&'static str),
    /// A query item with an empty name (`=x` or an empty option).
    #[error("a query parameter has no name")]
    EmptyName,
    /// `lwm2m=` names a version this implementation does not speak: answer 4.12.
    #[error("lwm2m version {0:?} is not supported")]
    UnsupportedVersion(String),
    /// The payload is not valid link-format.
    #[error("registration payload: {0}")]
    Links(#[source] FormatError),
    /// The payload is link-format but not a valid LwM2M object list.
    #[error("registration payload: link <{uri}> {reason}")]
    InvalidLink {
        /// The link target, cut to 40 characters.
        uri: String,
        /// What is wrong.
        reason: &'static str,
    },
}

impl RegisterError {
    /// Whether a server should answer 4.12 Precondition Failed rather than 4.00.
    pub fn is_unsupported_version(&self) -> bool {
        matches!(self, Self::UnsupportedVersion(_))
    }
}

/// One query item split at the first `=`: `("lt", Some("300"))`, `("Q", None)`.
fn split_item(item: &str) -> Result<(&str, Option<&str>), RegisterError> {
    let (name, value) = match item.split_once('=') {
        Some((name, value)) => (name, Some(value)),
        None => (item, None),
    };
    if name.is_empty() {
        return Err(RegisterError::EmptyName);
    }
    Ok((name, value))
}

/// Query items by name, refusing duplicates.
fn collect_items(items: &[String]) -> Result<BTreeMap<&str, Option<&str>>, RegisterError> {
    let mut map = BTreeMap::new();
    for item in items {
        let (name, value) = split_item(item)?;
        if map.insert(name, value).is_some() {
            return Err(RegisterError::Duplicate(cut(name)));
        }
    }
    Ok(map)
}

/// Removes `name` and returns its non-empty value; `None` if absent.
fn take_value<'a>(
    map: &mut BTreeMap<&'a str, Option<&'a str>>,
    name: &'static str,
) -> Result<Option<&'a str>, RegisterError> {
    match map.remove(name) {
        None => Ok(None),
        Some(None | Some("")) => Err(RegisterError::MissingValue(name)),
        Some(Some(value)) => Ok(Some(value)),
    }
}

/// Removes the flag `name` and returns whether it was present.
fn take_flag(map: &mut BTreeMap<&str, Option<&str>>, name: &'static str) -> Result<bool, RegisterError> {
    match map.remove(name) {
        None => Ok(false),
        Some(None) => Ok(true),
        Some(Some(_)) => Err(RegisterError::UnexpectedValue(name)),
    }
}

/// Plain decimal seconds: digits only, no sign, fits in u32.
fn parse_lifetime(value: &str) -> Result<u32, RegisterError> {
    let invalid = |reason| RegisterError::InvalidValue { name: "lt", reason };
    if !value.bytes().all(|b| b.is_ascii_digit()) {
        return Err(invalid("it is not a decimal number of seconds"));
    }
    value.parse().map_err(|_| invalid("it is larger than 4294967295 seconds"))
}

/// An MSISDN: digits only, no `+`.
fn parse_sms(value: &str) -> Result<String, RegisterError> {
    if value.len() > MAX_SHORT_VALUE_LEN || !value.bytes().all(|b| b.is_ascii_digit()) {
        return Err(RegisterError::InvalidValue { name: "sms", reason: "it must be an MSISDN of at most 64 digits" });
    }
    Ok(value.to_owned())
}

/// Unknown parameters, kept as given.
fn additional(map: BTreeMap<&str, Option<&str>>) -> BTreeMap<String, Option<String>> {
    map.into_iter().map(|(name, value)| (name.to_owned(), value.map(str::to_owned))).collect()
}

/// Writes unknown parameters back.
fn push_additional(out: &mut Vec<String>, additional: &BTreeMap<String, Option<String>>) {
    for (name, value) in additional {
        match value {
            Some(value) => out.push(format!("{name}={value}")),
            None => out.push(name.clone()),
        }
    }
}

/// The parameters of a Register (`POST /rd?ep=…&lt=…&lwm2m=…&b=…[&Q][&sms=…][&pid=…]`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegisterParams {
    /// `ep`.
    pub endpoint: EndpointName,
    /// `lt` in seconds; absent means 86400. Zero is passed on as given.
    pub lifetime: Option<u32>,
    /// `lwm2m`; absent means 1.0.
    pub lwm2m_version: Option<Version>,
    /// `b`, without queue mode; absent means `U`.
    pub binding: Option<Binding>,
    /// Queue mode: the `Q` flag (1.1+) or a `Q` inside `b` (1.0).
    pub queue_mode: bool,
    /// `sms`: the client's MSISDN.
    pub sms: Option<String>,
    /// `pid` (1.2): a Profile ID standing for the object list.
    pub profile_id: Option<String>,
    /// Parameters this module does not know, as given (`name` → value, `None` for a flag).
    pub additional: BTreeMap<String, Option<String>>,
}

impl RegisterParams {
    /// Default lifetime when `lt` is absent (Core TS §6.2.1).
    pub const DEFAULT_LIFETIME: u32 = 86_400;

    /// Minimal parameters: only the endpoint name.
    pub fn new(endpoint: EndpointName) -> Self {
        Self {
            endpoint,
            lifetime: None,
            lwm2m_version: None,
            binding: None,
            queue_mode: false,
            sms: None,
            profile_id: None,
            additional: BTreeMap::new(),
        }
    }

    /// Parses the Uri-Query items of a Register request; `ep` is required. A `Q` flag is taken
    /// as queue mode whatever the version (some 1.0 clients send it).
    pub fn from_query(items: &[String]) -> Result<Self, RegisterError> {
        Self::from_query_with_endpoint(items, None)
    }

    /// As [`RegisterParams::from_query`], but `ep` may be absent from a 1.1+ Register when the
    /// caller derived the name from the client's credential (`derived`). An `ep` that is present
    /// always wins; comparing it with the credential is the caller's business.
    pub fn from_query_with_endpoint(items: &[String], derived: Option<&EndpointName>) -> Result<Self, RegisterError> {
        let mut map = collect_items(items)?;
        let version = take_value(&mut map, "lwm2m")?.map(str::parse::<Version>).transpose()?;
        let endpoint = match take_value(&mut map, "ep")? {
            Some(ep) => EndpointName::new(ep)?,
            None => match derived {
                Some(name) if version.unwrap_or_default() >= Version::V1_1 => name.clone(),
                _ => return Err(RegisterError::MissingEndpoint),
            },
        };
        let lifetime = take_value(&mut map, "lt")?.map(parse_lifetime).transpose()?;
        let (binding, queue_in_binding) = match take_value(&mut map, "b")? {
            Some(b) => {
                let (binding, queue) = Binding::parse(b, version.unwrap_or_default())?;
                (Some(binding), queue)
            }
            None => (None, false),
        };
        let queue_flag = take_flag(&mut map, "Q")?;
        let sms = take_value(&mut map, "sms")?.map(parse_sms).transpose()?;
        let profile_id = match take_value(&mut map, "pid")? {
            Some(_) if version.unwrap_or_default() < Version::V1_2 => {
                return Err(RegisterError::InvalidValue { name: "pid", reason: "it needs LwM2M 1.2" })
            }
            Some(pid) if pid.len() > MAX_SHORT_VALUE_LEN || pid.chars().any(char::is_control) => {
                return Err(RegisterError::InvalidValue {
                    name: "pid",
                    reason: "it must be at most 64 bytes without control characters",
                })
            }
            pid => pid.map(str::to_owned),
        };
        Ok(Self {
            endpoint,
            lifetime,
            lwm2m_version: version,
            binding,
            queue_mode: queue_flag || queue_in_binding,
            sms,
            profile_id,
            additional: additional(map),
        })
    }

    /// The Uri-Query items a client sends: `ep`, `lt`, `lwm2m`, `b`, `Q`, `sms`, `pid`, then the
    /// additional parameters. Queue mode goes inside `b` for 1.0 (`b=UQ`, `U` assumed when no
    /// binding is set) and as the `Q` flag otherwise.
    pub fn to_query(&self) -> Vec<String> {
        let version = self.lwm2m_version.unwrap_or_default();
        let mut out = vec![format!("ep={}", self.endpoint)];
        if let Some(lt) = self.lifetime {
            out.push(format!("lt={lt}"));
        }
        if let Some(v) = self.lwm2m_version {
            out.push(format!("lwm2m={v}"));
        }
        push_binding(&mut out, self.binding.as_ref(), version, self.queue_mode);
        if let Some(sms) = &self.sms {
            out.push(format!("sms={sms}"));
        }
        if let Some(pid) = &self.profile_id {
            out.push(format!("pid={pid}"));
        }
        push_additional(&mut out, &self.additional);
        out
    }

    /// The lifetime in effect: `lt` or 86400.
    pub fn effective_lifetime(&self) -> u32 {
        self.lifetime.unwrap_or(Self::DEFAULT_LIFETIME)
    }

    /// The version in effect: `lwm2m` or 1.0.
    pub fn effective_version(&self) -> Version {
        self.lwm2m_version.unwrap_or_default()
    }
}

/// Writes `b` and `Q` for a version (1.0 folds queue mode into `b`).
fn push_binding(out: &mut Vec<String>, binding: Option<&Binding>, version: Version, queue: bool) {
    if version == Version::V1_0 && queue {
        let udp = Binding::udp();
        out.push(format!("b={}", binding.unwrap_or(&udp).query_value(version, true)));
        return;
    }
    if let Some(b) = binding {
        out.push(format!("b={}", b.query_value(version, false)));
    }
    if queue {
        out.push("Q".to_owned());
    }
}

/// The parameters of an Update (`POST /rd/<id>?lt=…&b=…&Q&sms=…`): only what changed.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct UpdateParams {
    /// New `lt`.
    pub lifetime: Option<u32>,
    /// New `b`, without queue mode.
    pub binding: Option<Binding>,
    /// Queue mode: `Some(true)` for a `Q` flag or a 1.0 `b` with `Q`; `Some(false)` for a 1.0
    /// `b` without `Q`; `None` when the Update says nothing about it (1.1+ has no way to turn
    /// queue mode off in an Update other than a new Register).
    pub queue_mode: Option<bool>,
    /// New `sms`.
    pub sms: Option<String>,
    /// Parameters this module does not know, as given.
    pub additional: BTreeMap<String, Option<String>>,
}

impl UpdateParams {
    /// Parses the Uri-Query items of an Update from a client registered with `version` (the
    /// binding letters depend on it). `ep`, `lwm2m` and `pid` belong to Register only.
    pub fn from_query(items: &[String], version: Version) -> Result<Self, RegisterError> {
        let mut map = collect_items(items)?;
        for name in ["ep", "lwm2m", "pid"] {
            if map.contains_key(name) {
                return Err(RegisterError::NotInUpdate(name));
            }
        }
        let lifetime = take_value(&mut map, "lt")?.map(parse_lifetime).transpose()?;
        let (binding, queue_in_binding) = match take_value(&mut map, "b")? {
            Some(b) => {
                let (binding, queue) = Binding::parse(b, version)?;
                (Some(binding), (version == Version::V1_0).then_some(queue))
            }
            None => (None, None),
        };
        let queue_flag = take_flag(&mut map, "Q")?;
        let sms = take_value(&mut map, "sms")?.map(parse_sms).transpose()?;
        Ok(Self {
            lifetime,
            binding,
            queue_mode: if queue_flag { Some(true) } else { queue_in_binding },
            sms,
            additional: additional(map),
        })
    }

    /// The Uri-Query items for a client registered with `version`. LwM2M 1.0 can only say
    /// queue mode inside `b`, so queue mode without a binding is written `b=UQ` there.
    pub fn to_query(&self, version: Version) -> Vec<String> {
        let mut out = Vec::new();
        if let Some(lt) = self.lifetime {
            out.push(format!("lt={lt}"));
        }
        push_binding(&mut out, self.binding.as_ref(), version, self.queue_mode == Some(true));
        if let Some(sms) = &self.sms {
            out.push(format!("sms={sms}"));
        }
        push_additional(&mut out, &self.additional);
        out
    }

    /// Whether the Update changes nothing (a lifetime refresh).
    pub fn is_empty(&self) -> bool {
        self == &Self::default()
    }
}

/// An object version `major.minor` (`ver=` attribute, Core TS §7.2.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ObjectVersion {
    /// Major version.
    pub major: u16,
    /// Minor version.
    pub minor: u16,
}

impl ObjectVersion {
    /// `major.minor`.
    pub fn new(major: u16, minor: u16) -> Self {
        Self { major, minor }
    }
}

impl fmt::Display for ObjectVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.major, self.minor)
    }
}

/// Why a `ver` value is not an object version.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("object version {0:?} is not major.minor")]
pub struct ObjectVersionError(pub String);

impl FromStr for ObjectVersion {
    type Err = ObjectVersionError;

    /// Two decimal numbers in 0..=65535 separated by one dot (`2.0`, `1.12`).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let error = || ObjectVersionError(cut(s));
        let (major, minor) = s.split_once('.').ok_or_else(error)?;
        let number = |t: &str| {
            let digits = !t.is_empty() && t.len() <= 5 && t.bytes().all(|b| b.is_ascii_digit());
            digits.then(|| t.parse::<u16>().ok()).flatten().ok_or_else(error)
        };
        Ok(Self { major: number(major)?, minor: number(minor)? })
    }
}

/// What a registration says about one object: a view into [`ObjectLinks`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ObjectInfo<'a> {
    /// `ver` from the object link or its instance link; `None` means the default version.
    pub version: Option<ObjectVersion>,
    /// The instances listed, in ascending order, each once.
    pub instances: &'a [u16],
}

/// One object of an [`ObjectLinks`]: its instances are the next `count` entries of the shared
/// instance list.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct ObjectEntry {
    id: u16,
    version: Option<ObjectVersion>,
    count: u32,
}

/// The LwM2M root or alternate path a client registered (`</>;rt="oma.lwm2m";ct=110`).
///
/// Kept in every registration a server holds: `/` takes no allocation, and the lists are boxed
/// slices (no spare capacity).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RootLink {
    /// An alternate path such as `/lwm2m`, without trailing slash; `None` for `/`.
    alternate: Option<Box<str>>,
    /// Whether the link carried `rt="oma.lwm2m"` (a bare `</>` does not).
    pub lwm2m_rt: bool,
    /// Content formats listed in `ct`, in the order given.
    content_formats: Box<[u16]>,
}

impl RootLink {
    /// The plain root `</>;rt="oma.lwm2m"` with content formats.
    pub fn root(content_formats: Vec<u16>) -> Self {
        Self { alternate: None, lwm2m_rt: true, content_formats: content_formats.into_boxed_slice() }
    }

    /// An alternate path such as `/lwm2m`; segments may not be numeric.
    pub fn alternate(path: &str, content_formats: Vec<u16>) -> Result<Self, RegisterError> {
        Ok(Self {
            alternate: normalise_root(path)?,
            lwm2m_rt: true,
            content_formats: content_formats.into_boxed_slice(),
        })
    }

    /// `/` or the alternate path such as `/lwm2m`, without trailing slash.
    pub fn path(&self) -> &str {
        self.alternate.as_deref().unwrap_or("/")
    }

    /// Content formats listed in `ct`, in the order given.
    pub fn content_formats(&self) -> &[u16] {
        &self.content_formats
    }

    /// Whether this is an alternate path rather than `/`.
    pub fn is_alternate(&self) -> bool {
        self.alternate.is_some()
    }

    fn to_link(&self) -> Link {
        let mut link = Link::new(self.path());
        if self.lwm2m_rt {
            link = link.with("rt", "oma.lwm2m");
        }
        if !self.content_formats.is_empty() {
            let list: Vec<String> = self.content_formats.iter().map(u16::to_string).collect();
            link = link.with("ct", list.join(" "));
        }
        link
    }
}

/// Checks an alternate path and strips one trailing slash: `/lwm2m/` is `/lwm2m`; `/` is `None`.
fn normalise_root(uri: &str) -> Result<Option<Box<str>>, RegisterError> {
    let invalid = |reason| RegisterError::InvalidLink { uri: cut(uri), reason };
    if uri == "/" {
        return Ok(None);
    }
    let trimmed = uri.strip_suffix('/').unwrap_or(uri);
    let rest = trimmed.strip_prefix('/').ok_or(invalid("is not an absolute path"))?;
    for segment in rest.split('/') {
        if segment.is_empty() {
            return Err(invalid("has an empty path segment"));
        }
        if segment.bytes().all(|b| b.is_ascii_digit()) {
            return Err(invalid("is an alternate path with a numeric segment"));
        }
        if segment.bytes().any(|b| matches!(b, b'?' | b'#' | b'%') || b.is_ascii_control()) {
            return Err(invalid("is an alternate path with a character not allowed in a path segment"));
        }
    }
    Ok(Some(trimmed.into()))
}

/// The LwM2M view of a Register/Update payload.
///
/// Kept for every registration a server holds, so it is stored flat: one sorted list of objects
/// and one list of all their instances (object by object, each object's in ascending order)
/// rather than a map of sets, about 20 bytes per object instead of two B-tree nodes. The two
/// lists stay vectors (a client adds its instances one by one, thousands for a gateway's
/// `/25`); the links dropped while parsing, nearly always none, are a boxed slice.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ObjectLinks {
    /// The root or alternate path link, if the client sent one.
    pub root: Option<RootLink>,
    /// By ascending Object ID.
    objects: Vec<ObjectEntry>,
    /// The instances of `objects[0]`, then of `objects[1]` …
    instances: Vec<u16>,
    ignored: Box<[Path]>,
}

impl ObjectLinks {
    /// An empty list.
    pub fn new() -> Self {
        Self::default()
    }

    /// Parses a link-format payload (content format 40) as bytes.
    pub fn decode(payload: &[u8]) -> Result<Self, RegisterError> {
        Self::from_links(&link::decode(payload).map_err(RegisterError::Links)?)
    }

    /// Parses a link-format payload.
    pub fn parse(payload: &str) -> Result<Self, RegisterError> {
        Self::from_links(&link::parse(payload).map_err(RegisterError::Links)?)
    }

    /// Interprets parsed links (see the module documentation for the rules).
    pub fn from_links(links: &[Link]) -> Result<Self, RegisterError> {
        let mut out = Self::new();
        let root_index = match links.iter().position(Link::is_lwm2m_root) {
            Some(i) => Some(i),
            None => links.iter().position(|l| l.uri == "/"),
        };
        if let Some(i) = root_index {
            let link = links.get(i).ok_or(RegisterError::InvalidLink { uri: String::new(), reason: "is missing" })?;
            let formats = link.content_formats().map_err(RegisterError::Links)?;
            out.root = Some(RootLink {
                alternate: normalise_root(&link.uri)?,
                lwm2m_rt: link.is_lwm2m_root(),
                content_formats: formats.into_boxed_slice(),
            });
        }
        let root_path = out.root.as_ref().map_or("/", RootLink::path).to_owned();
        let mut ignored = Vec::new();
        let mut listed: BTreeMap<u16, (Option<ObjectVersion>, BTreeSet<u16>)> = BTreeMap::new();
        for (i, link) in links.iter().enumerate() {
            if Some(i) == root_index {
                continue;
            }
            let invalid = |reason| RegisterError::InvalidLink { uri: cut(&link.uri), reason };
            if link.is_lwm2m_root() {
                return Err(invalid("is a second root link"));
            }
            let under = if root_path == "/" { link.path() } else { link.path_under(&root_path) };
            let Some(PrefixedPath { prefix, path }) = under else {
                return Err(invalid("is not an object or object instance path under the root"));
            };
            if prefix.is_some() {
                return Err(invalid("carries a gateway prefix, which a registration must not list"));
            }
            let version = match link.version() {
                Some(v) => Some(v.parse::<ObjectVersion>().map_err(|_| invalid("has a ver that is not major.minor"))?),
                None => None,
            };
            let (object, instance) = match path {
                Path::Object(o) => (o, None),
                Path::Instance(o, i) => (o, Some(i)),
                Path::Root => return Err(invalid("is a second root link")),
                Path::Resource(..) | Path::ResourceInstance(..) => {
                    return Err(invalid("is a resource path; a registration lists objects and instances"))
                }
            };
            if NEVER_LISTED.contains(&object) {
                ignored.push(path);
                continue;
            }
            let (listed_version, instances) = listed.entry(object).or_default();
            if let Some(v) = version {
                if listed_version.is_some_and(|old| old != v) {
                    return Err(invalid("has a ver different from another link of the same object"));
                }
                *listed_version = Some(v);
            }
            if let Some(i) = instance {
                if !instances.insert(i) {
                    return Err(invalid("is listed twice"));
                }
            }
        }
        // Collected in ordered sets first (a payload may list its links in any order), then
        // laid out flat.
        out.objects.reserve_exact(listed.len());
        out.instances.reserve_exact(listed.values().map(|(_, instances)| instances.len()).sum());
        for (id, (version, instances)) in listed {
            let count = u32::try_from(instances.len()).unwrap_or(u32::MAX);
            out.objects.push(ObjectEntry { id, version, count });
            out.instances.extend(instances);
        }
        out.ignored = ignored.into_boxed_slice();
        Ok(out)
    }

    /// The index of `object` in `objects`, inserted without instances if absent.
    fn entry(&mut self, object: u16) -> usize {
        match self.objects.binary_search_by_key(&object, |e| e.id) {
            Ok(index) => index,
            Err(index) => {
                self.objects.insert(index, ObjectEntry { id: object, version: None, count: 0 });
                index
            }
        }
    }

    /// Where the instances of `objects[index]` start in `instances`.
    fn start(&self, index: usize) -> usize {
        self.objects.iter().take(index).map(|e| e.count as usize).sum()
    }

    /// The instances of `objects[index]`.
    fn instances_of(&self, index: usize) -> &[u16] {
        let start = self.start(index);
        let count = self.objects.get(index).map_or(0, |e| e.count as usize);
        self.instances.get(start..start + count).unwrap_or(&[])
    }

    /// Adds `instance` to `objects[index]`; false if it was already listed.
    fn insert_instance(&mut self, index: usize, instance: u16) -> bool {
        let start = self.start(index);
        match self.instances_of(index).binary_search(&instance) {
            Ok(_) => false,
            Err(at) => {
                self.instances.insert(start + at, instance);
                if let Some(entry) = self.objects.get_mut(index) {
                    entry.count += 1;
                }
                true
            }
        }
    }

    /// Adds an object (without instances) with an optional version.
    pub fn add_object(&mut self, object: u16, version: Option<ObjectVersion>) -> &mut Self {
        let index = self.entry(object);
        if let (Some(entry), Some(_)) = (self.objects.get_mut(index), version) {
            entry.version = version;
        }
        self
    }

    /// Adds an object instance.
    pub fn add_instance(&mut self, object: u16, instance: u16) -> &mut Self {
        let index = self.entry(object);
        self.insert_instance(index, instance);
        self
    }

    /// Removes an object and its instances; returns whether it was listed.
    pub fn remove_object(&mut self, object: u16) -> bool {
        let Ok(index) = self.objects.binary_search_by_key(&object, |e| e.id) else { return false };
        let start = self.start(index);
        let count = self.objects.remove(index).count as usize;
        self.instances.drain(start..start + count);
        true
    }

    /// The same objects without root link: the form of an End-Device's `/25/x/3` IoT Device
    /// Objects value (Gateway TS §6: "same CoreLnk format as Registration Interface", no prefix).
    #[must_use]
    pub fn without_root(&self) -> Self {
        Self { root: None, objects: self.objects.clone(), instances: self.instances.clone(), ignored: Box::default() }
    }

    /// The objects listed, by ascending Object ID.
    pub fn objects(&self) -> impl ExactSizeIterator<Item = (u16, ObjectInfo<'_>)> + '_ {
        let mut start = 0;
        self.objects.iter().map(move |entry| {
            let end = start + entry.count as usize;
            let instances = self.instances.get(start..end).unwrap_or(&[]);
            start = end;
            (entry.id, ObjectInfo { version: entry.version, instances })
        })
    }

    /// The Object IDs listed, ascending.
    pub fn object_ids(&self) -> impl ExactSizeIterator<Item = u16> + '_ {
        self.objects.iter().map(|e| e.id)
    }

    /// Whether no object is listed.
    pub fn is_empty(&self) -> bool {
        self.objects.is_empty()
    }

    /// Whether the object is listed (with or without instances).
    pub fn has_object(&self, object: u16) -> bool {
        self.objects.binary_search_by_key(&object, |e| e.id).is_ok()
    }

    /// What is listed for one object.
    pub fn object(&self, object: u16) -> Option<ObjectInfo<'_>> {
        let index = self.objects.binary_search_by_key(&object, |e| e.id).ok()?;
        let entry = self.objects.get(index)?;
        Some(ObjectInfo { version: entry.version, instances: self.instances_of(index) })
    }

    /// Links to `/0`, `/21` or `/23` that were dropped while parsing.
    pub fn ignored(&self) -> &[Path] {
        &self.ignored
    }

    /// The content formats the root link lists (empty without one).
    pub fn content_formats(&self) -> &[u16] {
        self.root.as_ref().map_or(&[], RootLink::content_formats)
    }

    /// The alternate path, if the client registered one other than `/`.
    pub fn alternate_path(&self) -> Option<&str> {
        self.root.as_ref().and_then(|r| r.alternate.as_deref())
    }

    /// The links a client sends: the root link if any, then per object (by ID) the object link
    /// if it has a version or no instance (`</25>;ver=2.0`, `</5>`), then its instance links; all
    /// below the alternate path if there is one.
    pub fn to_links(&self) -> Vec<Link> {
        let mut links = Vec::new();
        if let Some(root) = &self.root {
            links.push(root.to_link());
        }
        let base = self.alternate_path().unwrap_or("");
        for (id, info) in self.objects() {
            if info.version.is_some() || info.instances.is_empty() {
                let mut link = Link::new(format!("{base}/{id}"));
                if let Some(v) = info.version {
                    link = link.with("ver", v.to_string());
                }
                links.push(link);
            }
            for instance in info.instances {
                links.push(Link::new(format!("{base}/{id}/{instance}")));
            }
        }
        links
    }

    /// The payload text of [`ObjectLinks::to_links`].
    pub fn encode(&self) -> String {
        link::encode(&self.to_links())
    }
}

/// Peer text quoted in an error, cut to 40 characters.
fn cut(text: &str) -> String {
    match text.char_indices().nth(40) {
        Some((end, _)) => format!("{}…", &text[..end]),
        None => text.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_zero_queue_mode_is_written_inside_the_binding() {
        let b = Binding::new([Transport::Udp, Transport::Sms]).unwrap();
        assert_eq!(b.query_value(Version::V1_0, true), "UQS");
        assert_eq!(Binding::new([Transport::Sms]).unwrap().query_value(Version::V1_0, true), "SQ");
        assert_eq!(b.query_value(Version::V1_1, true), "US");
    }

    #[test]
    fn object_versions_are_two_decimal_numbers() {
        assert_eq!("2.0".parse(), Ok(ObjectVersion::new(2, 0)));
        for bad in ["2", "2.", ".0", "2.0.1", "a.b", "+1.0", "1.000000"] {
            assert!(bad.parse::<ObjectVersion>().is_err(), "{bad}");
        }
    }

    #[test]
    fn an_object_list_with_a_root_link_is_104_bytes_and_edits_keep_it_sorted() {
        assert_eq!(std::mem::size_of::<ObjectLinks>(), 104);
        let mut links = ObjectLinks::parse(r#"</>;rt="oma.lwm2m";ct="110 60",</3/0>,</1/0>,</1/1>"#).unwrap();
        assert_eq!((links.content_formats(), links.alternate_path()), (&[110, 60][..], None));
        links.add_instance(1, 5).add_instance(2, 0).add_object(0, None);
        assert!(links.remove_object(3) && !links.remove_object(3));
        let listed: Vec<(u16, Vec<u16>)> = links.objects().map(|(id, info)| (id, info.instances.to_vec())).collect();
        assert_eq!(listed, [(0, vec![]), (1, vec![0, 1, 5]), (2, vec![0])]);
        let alternate = RootLink::alternate("/lwm2m/", vec![]).unwrap();
        assert_eq!((alternate.path(), alternate.is_alternate()), ("/lwm2m", true));
        assert_eq!(RootLink::root(vec![]).path(), "/");
    }

    #[test]
    fn long_text_is_cut_in_errors() {
        let err = Version::from_str(&"9".repeat(500)).unwrap_err().to_string();
        assert!(err.len() < 100, "{err}");
    }
}
