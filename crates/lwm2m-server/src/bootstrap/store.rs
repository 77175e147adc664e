//! In-memory store of bootstrap configurations, one per [`EndpointName`].
//!
//! Every configuration is validated on the way in ([`BootstrapConfig::validate`]); the store is
//! bounded. Persistence belongs to the binary: the store hands out and takes plain
//! [`BootstrapConfig`] values, which are serde-friendly.

use std::collections::BTreeMap;

use lwm2m::register::EndpointName;

use super::config::{BootstrapConfig, ConfigError};

/// Why a configuration was not stored.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StoreError {
    /// The configuration is not valid.
    #[error("configuration for {endpoint} is invalid")]
    Invalid {
        /// The endpoint it was meant for.
        endpoint: EndpointName,
        /// What is wrong with it.
        #[source]
        source: ConfigError,
    },
    /// The store is full.
    #[error("the store already holds {limit} configurations")]
    Full {
        /// Its capacity.
        limit: usize,
    },
}

/// Bootstrap configurations by endpoint name.
#[derive(Debug, Clone)]
pub struct ConfigStore {
    configs: BTreeMap<EndpointName, BootstrapConfig>,
    capacity: usize,
}

impl ConfigStore {
    /// An empty store holding at most `capacity` configurations.
    pub fn new(capacity: usize) -> Self {
        Self { configs: BTreeMap::new(), capacity }
    }

    /// Adds or replaces the configuration of `endpoint`; returns the one it replaced.
    pub fn insert(
        &mut self,
        endpoint: EndpointName,
        config: BootstrapConfig,
    ) -> Result<Option<BootstrapConfig>, StoreError> {
        if let Err(source) = config.validate() {
            return Err(StoreError::Invalid { endpoint, source });
        }
        if !self.configs.contains_key(&endpoint) && self.configs.len() >= self.capacity {
            return Err(StoreError::Full { limit: self.capacity });
        }
        Ok(self.configs.insert(endpoint, config))
    }

    /// Removes the configuration of `endpoint`.
    pub fn remove(&mut self, endpoint: &EndpointName) -> Option<BootstrapConfig> {
        self.configs.remove(endpoint)
    }

    /// The configuration of `endpoint`.
    pub fn get(&self, endpoint: &EndpointName) -> Option<&BootstrapConfig> {
        self.configs.get(endpoint)
    }

    /// All configurations, by endpoint name.
    pub fn iter(&self) -> impl Iterator<Item = (&EndpointName, &BootstrapConfig)> + '_ {
        self.configs.iter()
    }

    /// How many configurations are stored.
    pub fn len(&self) -> usize {
        self.configs.len()
    }

    /// Whether the store is empty.
    pub fn is_empty(&self) -> bool {
        self.configs.is_empty()
    }

    /// The pre-shared key a client authenticating to the Bootstrap-Server with PSK `identity`
    /// must use: the secret key of the bootstrap account of the configuration naming that
    /// identity (for the DTLS layer's PSK lookup).
    pub fn bootstrap_psk(&self, identity: &[u8]) -> Option<(&EndpointName, &[u8])> {
        self.configs.iter().find_map(|(ep, config)| {
            let (_, account) = config.bootstrap_account()?;
            (config.bootstrap_psk_identity() == Some(identity)).then_some((ep, account.secret_key.as_slice()))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bootstrap::ServerSecurity;

    fn ep(name: &str) -> EndpointName {
        EndpointName::new(name).expect("valid name")
    }

    #[test]
    fn insert_replaces_and_reports_the_previous_configuration() {
        let mut store = ConfigStore::new(2);
        let first = BootstrapConfig::single_server(ServerSecurity::no_sec("coap://a", 1), 300);
        let second = BootstrapConfig::single_server(ServerSecurity::no_sec("coap://b", 2), 60);
        assert_eq!(store.insert(ep("dev"), first.clone()), Ok(None));
        assert_eq!(store.insert(ep("dev"), second.clone()), Ok(Some(first)));
        assert_eq!(store.get(&ep("dev")), Some(&second));
        assert_eq!(store.len(), 1);
        assert_eq!(store.remove(&ep("dev")), Some(second));
        assert!(store.is_empty());
    }

    #[test]
    fn a_full_store_refuses_new_endpoints_but_accepts_replacements() {
        let mut store = ConfigStore::new(1);
        store.insert(ep("a"), BootstrapConfig::new()).expect("room");
        assert_eq!(store.insert(ep("b"), BootstrapConfig::new()), Err(StoreError::Full { limit: 1 }));
        assert!(store.insert(ep("a"), BootstrapConfig::new()).is_ok());
    }

    #[test]
    fn invalid_configuration_is_refused() {
        let mut store = ConfigStore::new(4);
        let config = BootstrapConfig::new().with_to_delete(["not a path"]);
        assert!(matches!(store.insert(ep("a"), config), Err(StoreError::Invalid { .. })));
        assert!(store.is_empty());
    }

    #[test]
    fn bootstrap_psk_is_found_by_identity() {
        let mut store = ConfigStore::new(4);
        let config =
            BootstrapConfig::new().with_security(0, ServerSecurity::bootstrap_psk("coaps://bs", b"dev-id", b"key"));
        store.insert(ep("dev"), config).expect("valid");
        assert_eq!(store.bootstrap_psk(b"dev-id"), Some((&ep("dev"), b"key".as_slice())));
        assert_eq!(store.bootstrap_psk(b"other"), None);
    }
}
