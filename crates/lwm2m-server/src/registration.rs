//! The Registration interface, server side (Core TS §6.2, spec notes §2.2, §4, pitfalls 5, 11,
//! 21): what a [`Registration`] records, its [`RegistrationId`] (`/rd/<id>`), and the
//! [`RegistrationError`]s a Register, Update or De-register is refused with, each mapped to its
//! CoAP code in one place (`impl From<&RegistrationError> for Code`).

use std::collections::BTreeMap;
use std::fmt;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use coap::{Code, ContentFormat, Peer};
use lwm2m::{Binding, EndpointName, ObjectLinks, RegisterError, RegisterParams, UpdateParams, Version};
use rand::Rng;

use crate::security::SecurityError;

/// Alphabet of registration IDs: URI-safe, no ambiguity with Object IDs (never all digits).
const ID_ALPHABET: &[u8] = b"abcdefghijkmnopqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789";
/// Length of a registration ID.
const ID_LEN: usize = 10;
const _: () = assert!(ID_LEN <= INLINE_ID_LEN);

/// The short random ID of a registration, the last segment of its Location-Path `rd/<id>`.
///
/// Kept in several indexes per registration (directory, timers, queues), so it is 16 bytes: an
/// ID of up to [`INLINE_ID_LEN`] bytes (every ID this server makes) is stored inline, a longer
/// one (only ever a lookup key taken from a request, or a restored ID) behind one thin pointer.
/// Compared, ordered and hashed as its text.
#[derive(Clone)]
pub struct RegistrationId(IdRepr);

/// Longest ID stored inline.
const INLINE_ID_LEN: usize = 14;

#[derive(Clone)]
enum IdRepr {
    Inline {
        len: u8,
        bytes: [u8; INLINE_ID_LEN],
    },
    // Boxed twice so that the variant is one thin pointer and the whole ID stays 16 bytes.
    #[allow(clippy::redundant_allocation)]
    Heap(Box<Box<str>>),
}

impl RegistrationId {
    /// A fresh random ID (letters first so it never reads as a number).
    pub(crate) fn random(rng: &mut impl Rng) -> Self {
        let mut bytes = [0u8; INLINE_ID_LEN];
        for (index, byte) in bytes.iter_mut().take(ID_LEN).enumerate() {
            // The first character is a letter (the alphabet's first 49 entries).
            let bound = if index == 0 { 49 } else { ID_ALPHABET.len() };
            let pick = rng.random_range(0..bound);
            *byte = ID_ALPHABET.get(pick).copied().unwrap_or(b'a');
        }
        Self(IdRepr::Inline { len: ID_LEN as u8, bytes })
    }

    /// Wraps an ID taken from a Uri-Path (`/rd/<id>`); any text is a candidate for lookup.
    pub fn from_path_segment(segment: &str) -> Self {
        let mut bytes = [0u8; INLINE_ID_LEN];
        match (bytes.get_mut(..segment.len()), u8::try_from(segment.len())) {
            (Some(prefix), Ok(len)) => {
                prefix.copy_from_slice(segment.as_bytes());
                Self(IdRepr::Inline { len, bytes })
            }
            _ => Self(IdRepr::Heap(Box::new(segment.into()))),
        }
    }

    /// The ID as text.
    pub fn as_str(&self) -> &str {
        match &self.0 {
            IdRepr::Inline { len, bytes } => {
                // Always a whole string copied in by `from_path_segment`, or ASCII from `random`.
                bytes.get(..usize::from(*len)).and_then(|b| std::str::from_utf8(b).ok()).unwrap_or_default()
            }
            IdRepr::Heap(text) => text,
        }
    }
}

impl PartialEq for RegistrationId {
    fn eq(&self, other: &Self) -> bool {
        self.as_str() == other.as_str()
    }
}

impl Eq for RegistrationId {}

impl PartialOrd for RegistrationId {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for RegistrationId {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.as_str().cmp(other.as_str())
    }
}

impl std::hash::Hash for RegistrationId {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.as_str().hash(state);
    }
}

impl fmt::Debug for RegistrationId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("RegistrationId").field(&self.as_str()).finish()
    }
}

impl fmt::Display for RegistrationId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The server-side record of a registered LwM2M client.
///
/// One is kept per registration for as long as it lives, so what most clients never send (a
/// DTLS identity, `sms`, unknown parameters) lives in one optional box, read through
/// [`identity`](Self::identity), [`sms`](Self::sms) and [`additional`](Self::additional).
#[derive(Debug, Clone, PartialEq)]
pub struct Registration {
    /// `/rd/<id>`.
    pub id: RegistrationId,
    /// `ep`.
    pub endpoint: EndpointName,
    /// Where the client talks from (updated by Update); see [`peer`](Self::peer).
    pub addr: SocketAddr,
    /// `lwm2m`.
    pub version: Version,
    /// `lt` in seconds; 0 means the registration never expires.
    pub lifetime: u32,
    /// `b`.
    pub binding: Binding,
    /// Queue mode (`Q`, or `b=UQ` for 1.0).
    pub queue_mode: bool,
    /// The object list (root link, objects, instances, versions).
    pub objects: ObjectLinks,
    /// When the Register arrived.
    pub registered_at: Instant,
    /// When the last Register or Update arrived.
    pub updated_at: Instant,
    /// The identity, `sms` and unknown parameters; `None` when there is none of them.
    rare: Option<Box<Rare>>,
}

/// What few registrations carry.
#[derive(Debug, Clone, PartialEq, Default)]
struct Rare {
    identity: Option<String>,
    sms: Option<String>,
    additional: BTreeMap<String, Option<String>>,
}

impl Rare {
    fn is_empty(&self) -> bool {
        self.identity.is_none() && self.sms.is_none() && self.additional.is_empty()
    }
}

/// The parameters of a registration without any: what [`Registration::additional`] lends.
static NO_ADDITIONAL: BTreeMap<String, Option<String>> = BTreeMap::new();

impl Registration {
    /// A registration from a Register's parameters and payload, registered and updated `now`.
    /// `params.profile_id` is not kept.
    pub fn new(id: RegistrationId, peer: Peer, params: RegisterParams, objects: ObjectLinks, now: Instant) -> Self {
        let mut registration = Self {
            id,
            lifetime: params.effective_lifetime(),
            version: params.effective_version(),
            binding: params.binding.unwrap_or_else(Binding::udp),
            queue_mode: params.queue_mode,
            endpoint: params.endpoint,
            addr: peer.addr,
            objects,
            registered_at: now,
            updated_at: now,
            rare: None,
        };
        registration.edit_rare(|rare| {
            rare.identity = peer.identity;
            rare.sms = params.sms;
            rare.additional = params.additional;
        });
        registration
    }

    /// Changes the rarely set fields, keeping the box only while one of them is set.
    fn edit_rare(&mut self, edit: impl FnOnce(&mut Rare)) {
        let mut rare = self.rare.take().unwrap_or_default();
        edit(&mut rare);
        if !rare.is_empty() {
            self.rare = Some(rare);
        }
    }

    /// Where the client talks from, with its authenticated identity (a new value each call).
    pub fn peer(&self) -> Peer {
        Peer { addr: self.addr, identity: self.identity().map(str::to_owned) }
    }

    /// The identity the client authenticated with over DTLS; `None` for NoSec.
    pub fn identity(&self) -> Option<&str> {
        self.rare.as_ref().and_then(|rare| rare.identity.as_deref())
    }

    /// Whether `peer` is where this registration's client talks from, with the same identity.
    pub fn is_peer(&self, peer: &Peer) -> bool {
        self.addr == peer.addr && self.identity() == peer.identity.as_deref()
    }

    /// Sets the address and identity the client talks from.
    pub fn set_peer(&mut self, peer: Peer) {
        self.addr = peer.addr;
        self.edit_rare(|rare| rare.identity = peer.identity);
    }

    /// `sms`.
    pub fn sms(&self) -> Option<&str> {
        self.rare.as_ref().and_then(|rare| rare.sms.as_deref())
    }

    /// Sets `sms`.
    pub fn set_sms(&mut self, sms: Option<String>) {
        self.edit_rare(|rare| rare.sms = sms);
    }

    /// Parameters the server does not know, as given.
    pub fn additional(&self) -> &BTreeMap<String, Option<String>> {
        self.rare.as_ref().map_or(&NO_ADDITIONAL, |rare| &rare.additional)
    }

    /// Sets the parameters the server does not know.
    pub fn set_additional(&mut self, additional: BTreeMap<String, Option<String>>) {
        self.edit_rare(|rare| rare.additional = additional);
    }

    /// This registration after an Update: only what the Update carries changes.
    pub(crate) fn updated(&self, peer: Peer, params: UpdateParams, objects: Option<ObjectLinks>, now: Instant) -> Self {
        let mut next = self.clone();
        next.set_peer(peer);
        if let Some(lifetime) = params.lifetime {
            next.lifetime = lifetime;
        }
        if let Some(binding) = params.binding {
            next.binding = binding;
        }
        if let Some(queue) = params.queue_mode {
            next.queue_mode = queue;
        }
        next.edit_rare(|rare| {
            if let Some(sms) = params.sms {
                rare.sms = Some(sms);
            }
            rare.additional.extend(params.additional);
        });
        if let Some(objects) = objects {
            next.objects = objects;
        }
        next.updated_at = now;
        next
    }

    /// When the registration expires without Update, or `None` for lifetime 0 (never).
    pub fn expires_at(&self, grace: Duration) -> Option<Instant> {
        if self.lifetime == 0 {
            return None;
        }
        // A lifetime beyond what the clock can represent is as good as never.
        self.updated_at.checked_add(Duration::from_secs(u64::from(self.lifetime)))?.checked_add(grace)
    }

    /// The content formats the root link advertises (`ct`).
    pub fn content_formats(&self) -> Vec<ContentFormat> {
        self.objects.content_formats().iter().map(|cf| ContentFormat(*cf)).collect()
    }

    /// The alternate path (`/lwm2m`), if the client registered one.
    pub fn alternate_path(&self) -> Option<&str> {
        self.objects.alternate_path()
    }

    /// Whether the client is an LwM2M Gateway (it lists Object 25).
    pub fn is_gateway(&self) -> bool {
        self.objects.has_object(25)
    }

    /// The format the server uses with this client when the request does not say: TLV for 1.0,
    /// else SenML CBOR unless `ct` lists formats without it (then SenML JSON, LwM2M CBOR or TLV,
    /// in that order of preference). Spec notes §3.2, pitfall 1.
    pub fn preferred_format(&self) -> ContentFormat {
        if self.version == Version::V1_0 {
            return ContentFormat::TLV;
        }
        let listed = self.content_formats();
        if listed.is_empty() || listed.contains(&ContentFormat::SENML_CBOR) {
            return ContentFormat::SENML_CBOR;
        }
        [ContentFormat::SENML_JSON, ContentFormat::LWM2M_CBOR, ContentFormat::TLV]
            .into_iter()
            .find(|cf| listed.contains(cf))
            .unwrap_or(ContentFormat::SENML_CBOR)
    }

    /// The format for composite operations (SenML only): SenML JSON when `ct` lists it but not
    /// SenML CBOR, else SenML CBOR.
    pub fn composite_format(&self) -> ContentFormat {
        let listed = self.content_formats();
        if listed.contains(&ContentFormat::SENML_JSON) && !listed.contains(&ContentFormat::SENML_CBOR) {
            ContentFormat::SENML_JSON
        } else {
            ContentFormat::SENML_CBOR
        }
    }
}

/// Why a Register, Update or De-register is refused.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum RegistrationError {
    /// The query or the link-format payload is invalid (4.00; 4.12 for an unknown `lwm2m`).
    #[error("invalid registration request: {0}")]
    Invalid(#[from] RegisterError),
    /// The payload is not link-format.
    #[error("registration payload has content format {0}, not link-format (40)")]
    NotLinkFormat(u16),
    /// `lwm2m` names a version newer than the server speaks (4.12).
    #[error("lwm2m version {0} is not supported by this server")]
    VersionNotSupported(Version),
    /// The peer may not register this endpoint (4.03).
    #[error("registration refused: {0}")]
    Forbidden(#[from] SecurityError),
    /// No registration with this ID (4.04).
    #[error("no registration with id {0:?}")]
    UnknownRegistration(String),
    /// Update or De-register from another identity than the registration's (4.00, as Leshan).
    #[error("request for registration {id} comes from another identity than the registration's")]
    IdentityMismatch {
        /// The registration.
        id: RegistrationId,
    },
    /// A restored registration's endpoint or ID is already registered (4.00).
    #[error("endpoint {0} or its registration id is already registered")]
    AlreadyRegistered(EndpointName),
    /// The directory is full (5.03).
    #[error("registration directory is full ({limit} registrations)")]
    DirectoryFull {
        /// The configured `max_registrations`.
        limit: usize,
    },
}

impl From<&RegistrationError> for Code {
    fn from(error: &RegistrationError) -> Self {
        match error {
            RegistrationError::Invalid(e) if e.is_unsupported_version() => Self::PRECONDITION_FAILED,
            RegistrationError::VersionNotSupported(_) => Self::PRECONDITION_FAILED,
            RegistrationError::Invalid(_) | RegistrationError::NotLinkFormat(_) => Self::BAD_REQUEST,
            RegistrationError::IdentityMismatch { .. } | RegistrationError::AlreadyRegistered(_) => Self::BAD_REQUEST,
            RegistrationError::Forbidden(_) => Self::FORBIDDEN,
            RegistrationError::UnknownRegistration(_) => Self::NOT_FOUND,
            RegistrationError::DirectoryFull { .. } => Self::SERVICE_UNAVAILABLE,
        }
    }
}

/// Parses the object list of a Register or Update; an empty body holds no objects.
pub(crate) fn parse_objects(format: Option<ContentFormat>, payload: &[u8]) -> Result<ObjectLinks, RegistrationError> {
    match format {
        Some(cf) if cf != ContentFormat::LINK_FORMAT => Err(RegistrationError::NotLinkFormat(cf.0)),
        _ if payload.is_empty() => Ok(ObjectLinks::new()),
        _ => Ok(ObjectLinks::decode(payload)?),
    }
}

#[cfg(test)]
mod tests {
    use rand::SeedableRng;
    use rand_chacha::ChaCha20Rng;

    use super::*;

    fn registration(version: Version, payload: &str) -> Registration {
        let mut params = RegisterParams::new(EndpointName::new("ep").unwrap());
        params.lwm2m_version = Some(version);
        let objects = ObjectLinks::parse(payload).unwrap();
        let id = RegistrationId::from_path_segment("x");
        Registration::new(id, Peer::udp("192.0.2.1:5683".parse().unwrap()), params, objects, Instant::now())
    }

    #[test]
    fn registration_ids_are_short_random_and_start_with_a_letter() {
        let mut rng = ChaCha20Rng::seed_from_u64(1);
        let (a, b) = (RegistrationId::random(&mut rng), RegistrationId::random(&mut rng));
        assert_ne!(a, b);
        assert_eq!(a.as_str().len(), ID_LEN);
        assert!(a.as_str().starts_with(|c: char| c.is_ascii_alphabetic()));
    }

    #[test]
    fn short_and_long_ids_keep_their_text_and_compare_as_text() {
        let long = "x".repeat(INLINE_ID_LEN + 1);
        let texts = ["", "b", "a", "bz", "ab", "é9", long.as_str(), "aaaaaaaaaaaaaaaaaaaaaa"];
        let ids: Vec<RegistrationId> = texts.iter().map(|t| RegistrationId::from_path_segment(t)).collect();
        for (id, text) in ids.iter().zip(texts) {
            assert_eq!(id.as_str(), text);
            assert_eq!(id.to_string(), text);
        }
        let mut sorted = ids.clone();
        sorted.sort();
        let mut by_text = texts.to_vec();
        by_text.sort_unstable();
        assert_eq!(sorted.iter().map(RegistrationId::as_str).collect::<Vec<_>>(), by_text);
        let set: std::collections::HashSet<RegistrationId> = ids.iter().cloned().collect();
        assert!(set.contains(&RegistrationId::from_path_segment(&long)));
        assert_eq!(std::mem::size_of::<RegistrationId>(), 16);
    }

    #[test]
    fn preferred_format_is_tlv_for_1_0_and_senml_cbor_unless_ct_says_otherwise() {
        assert_eq!(registration(Version::V1_0, "</3/0>").preferred_format(), ContentFormat::TLV);
        assert_eq!(registration(Version::V1_1, "</3/0>").preferred_format(), ContentFormat::SENML_CBOR);
        assert_eq!(registration(Version::V1_1, "</>;ct=110,</3/0>").preferred_format(), ContentFormat::SENML_JSON);
        assert_eq!(
            registration(Version::V1_1, "</>;ct=\"110 112\",</3/0>").preferred_format(),
            ContentFormat::SENML_CBOR
        );
        assert_eq!(registration(Version::V1_1, "</>;ct=110,</3/0>").composite_format(), ContentFormat::SENML_JSON);
    }

    #[test]
    fn unsupported_version_maps_to_4_12_and_other_parse_errors_to_4_00() {
        let version = RegisterParams::from_query(&["ep=a".into(), "lwm2m=9.9".into()]).unwrap_err();
        assert_eq!(Code::from(&RegistrationError::from(version)), Code::PRECONDITION_FAILED);
        let missing = RegisterParams::from_query(&["lt=5".into()]).unwrap_err();
        assert_eq!(Code::from(&RegistrationError::from(missing)), Code::BAD_REQUEST);
    }

    #[test]
    fn rarely_set_fields_take_no_room_until_set_and_read_back_as_given() {
        let mut reg = registration(Version::V1_1, "</3/0>");
        assert!(reg.rare.is_none());
        assert_eq!((reg.identity(), reg.sms(), reg.additional().len()), (None, None, 0));
        reg.set_sms(Some("123".into()));
        reg.set_peer(Peer { addr: "192.0.2.9:1".parse().unwrap(), identity: Some("psk".into()) });
        let params = UpdateParams::from_query(&["x=1".into(), "flag".into()], Version::V1_1).unwrap();
        let next = reg.updated(reg.peer(), params, None, reg.updated_at);
        assert_eq!((next.identity(), next.sms()), (Some("psk"), Some("123")));
        assert_eq!(next.additional().get("x"), Some(&Some("1".to_owned())));
        assert_eq!(next.peer(), Peer { addr: "192.0.2.9:1".parse().unwrap(), identity: Some("psk".into()) });
        assert!(next.is_peer(&next.peer()) && !next.is_peer(&Peer::udp(next.addr)));
        reg.set_sms(None);
        reg.set_peer(Peer::udp(reg.addr));
        assert!(reg.rare.is_none(), "the box goes when nothing is left in it");
        // One per registration, side by side in the directory.
        assert!(std::mem::size_of::<Registration>() <= 216, "{}", std::mem::size_of::<Registration>());
    }

    #[test]
    fn lifetime_zero_never_expires() {
        let mut reg = registration(Version::V1_1, "</3/0>");
        reg.lifetime = 0;
        assert_eq!(reg.expires_at(Duration::ZERO), None);
        reg.lifetime = 60;
        assert_eq!(reg.expires_at(Duration::ZERO), Some(reg.updated_at + Duration::from_secs(60)));
    }
}
