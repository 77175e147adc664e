//! Binding of endpoint names to authenticated identities (Transport TS §5.2, spec notes §6.1,
//! pitfall 21): `ep` alone never authorizes anything. The [`SecurityStore`] holds per endpoint
//! the PSK identity or certificate CN it must authenticate with; [`SecurityStore::check`] says
//! whether a peer may register an endpoint name.

use std::collections::BTreeMap;

use lwm2m::EndpointName;

/// The credentials one endpoint must authenticate with. The DTLS layer verifies the secrets;
/// this engine only compares the identity it reports in `Peer::identity`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecurityInfo {
    /// The endpoint name these credentials belong to.
    pub endpoint: EndpointName,
    /// PSK identity, for PSK mode.
    pub psk_identity: Option<String>,
    /// Certificate subject CN, for X.509 mode.
    pub x509_cn: Option<String>,
}

impl SecurityInfo {
    /// Whether `identity` is one of this endpoint's identities.
    pub fn matches(&self, identity: &str) -> bool {
        self.psk_identity.as_deref() == Some(identity) || self.x509_cn.as_deref() == Some(identity)
    }

    fn identities(&self) -> impl Iterator<Item = &str> + '_ {
        self.psk_identity.iter().chain(self.x509_cn.iter()).map(String::as_str)
    }
}

/// Why a peer may not use an endpoint name, or why security info cannot be stored.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SecurityError {
    /// The peer's identity belongs to another endpoint.
    #[error("identity {identity:?} belongs to endpoint {owner}, not {endpoint}")]
    IdentityOfAnotherEndpoint {
        /// The identity presented.
        identity: String,
        /// The endpoint that owns it.
        owner: EndpointName,
        /// The endpoint name asked for.
        endpoint: EndpointName,
    },
    /// The endpoint has security info that the peer's identity does not match.
    #[error("identity {identity:?} does not match the credentials of endpoint {endpoint}")]
    WrongIdentity {
        /// The identity presented.
        identity: String,
        /// The endpoint name asked for.
        endpoint: EndpointName,
    },
    /// The endpoint requires security but the peer came over NoSec.
    #[error("endpoint {0} requires a secured connection")]
    SecurityRequired(EndpointName),
    /// The endpoint is unknown and unknown endpoints may not register over NoSec.
    #[error("endpoint {0} is unknown and unsecured registration is not allowed")]
    UnknownEndpoint(EndpointName),
    /// Security info without any identity.
    #[error("security info for {0} names neither a psk identity nor a certificate cn")]
    NoIdentity(EndpointName),
    /// Adding security info whose identity another endpoint already uses.
    #[error("identity {identity:?} is already used by endpoint {owner}")]
    IdentityTaken {
        /// The identity.
        identity: String,
        /// Its owner.
        owner: EndpointName,
    },
}

/// Security info by endpoint name, with a reverse index by identity.
#[derive(Debug, Clone, Default)]
pub struct SecurityStore {
    by_endpoint: BTreeMap<EndpointName, SecurityInfo>,
    by_identity: BTreeMap<String, EndpointName>,
}

impl SecurityStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds or replaces the security info of `info.endpoint`; returns the info it replaced.
    pub fn add(&mut self, info: SecurityInfo) -> Result<Option<SecurityInfo>, SecurityError> {
        if info.identities().next().is_none() {
            return Err(SecurityError::NoIdentity(info.endpoint));
        }
        for identity in info.identities() {
            if let Some(owner) = self.by_identity.get(identity).filter(|owner| **owner != info.endpoint) {
                return Err(SecurityError::IdentityTaken { identity: identity.to_owned(), owner: owner.clone() });
            }
        }
        let previous = self.remove(&info.endpoint);
        for identity in info.identities() {
            self.by_identity.insert(identity.to_owned(), info.endpoint.clone());
        }
        self.by_endpoint.insert(info.endpoint.clone(), info);
        Ok(previous)
    }

    /// Removes the security info of `endpoint`.
    pub fn remove(&mut self, endpoint: &EndpointName) -> Option<SecurityInfo> {
        let info = self.by_endpoint.remove(endpoint)?;
        for identity in info.identities() {
            self.by_identity.remove(identity);
        }
        Some(info)
    }

    /// The security info of `endpoint`.
    pub fn get(&self, endpoint: &EndpointName) -> Option<&SecurityInfo> {
        self.by_endpoint.get(endpoint)
    }

    /// Every entry, by endpoint name.
    pub fn iter(&self) -> impl Iterator<Item = &SecurityInfo> + '_ {
        self.by_endpoint.values()
    }

    /// Whether a peer authenticated as `identity` (`None`: NoSec) may register `endpoint`.
    pub fn check(
        &self,
        endpoint: &EndpointName,
        identity: Option<&str>,
        allow_unknown_nosec: bool,
    ) -> Result<(), SecurityError> {
        let info = self.by_endpoint.get(endpoint);
        match (identity, info) {
            (Some(identity), Some(info)) if info.matches(identity) => Ok(()),
            (Some(identity), _) if self.by_identity.get(identity).is_some_and(|owner| owner != endpoint) => {
                Err(SecurityError::IdentityOfAnotherEndpoint {
                    identity: identity.to_owned(),
                    owner: self.by_identity.get(identity).cloned().unwrap_or_else(|| endpoint.clone()),
                    endpoint: endpoint.clone(),
                })
            }
            (Some(identity), Some(_)) => {
                Err(SecurityError::WrongIdentity { identity: identity.to_owned(), endpoint: endpoint.clone() })
            }
            // Authenticated by the transport, but nobody here claims this identity or endpoint.
            (Some(_), None) => Ok(()),
            (None, Some(_)) => Err(SecurityError::SecurityRequired(endpoint.clone())),
            (None, None) if allow_unknown_nosec => Ok(()),
            (None, None) => Err(SecurityError::UnknownEndpoint(endpoint.clone())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ep(name: &str) -> EndpointName {
        EndpointName::new(name).unwrap()
    }

    fn store() -> SecurityStore {
        let mut store = SecurityStore::new();
        let info = SecurityInfo { endpoint: ep("a"), psk_identity: Some("id-a".into()), x509_cn: None };
        store.add(info).unwrap();
        store
    }

    #[test]
    fn an_identity_may_register_only_its_own_endpoint() {
        let store = store();
        assert_eq!(store.check(&ep("a"), Some("id-a"), false), Ok(()));
        assert!(matches!(
            store.check(&ep("b"), Some("id-a"), true),
            Err(SecurityError::IdentityOfAnotherEndpoint { .. })
        ));
        assert!(matches!(store.check(&ep("a"), Some("id-x"), true), Err(SecurityError::WrongIdentity { .. })));
        assert_eq!(store.check(&ep("a"), None, true), Err(SecurityError::SecurityRequired(ep("a"))));
    }

    #[test]
    fn unknown_nosec_endpoints_follow_the_policy() {
        let store = store();
        assert_eq!(store.check(&ep("c"), None, true), Ok(()));
        assert_eq!(store.check(&ep("c"), None, false), Err(SecurityError::UnknownEndpoint(ep("c"))));
    }

    #[test]
    fn an_identity_cannot_be_given_to_two_endpoints() {
        let mut store = store();
        let info = SecurityInfo { endpoint: ep("b"), psk_identity: Some("id-a".into()), x509_cn: None };
        assert!(matches!(store.add(info), Err(SecurityError::IdentityTaken { .. })));
        let none = SecurityInfo { endpoint: ep("b"), psk_identity: None, x509_cn: None };
        assert_eq!(store.add(none), Err(SecurityError::NoIdentity(ep("b"))));
        assert!(store.remove(&ep("a")).is_some());
        assert_eq!(store.check(&ep("b"), Some("id-a"), false), Ok(()));
    }
}
