//! The part of the gateway that survives a restart: which prefix each End-Device got, and each
//! distant server's reporting setting. The runtime persists it when the gateway reports
//! [`GatewayEvent::StateChanged`](crate::GatewayEvent::StateChanged) and gives it back to
//! [`Gateway::new`](crate::Gateway::new).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// Persistent gateway state.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct GatewayState {
    /// Prefix assigned to each End-Device endpoint name; stable across re-registrations.
    pub prefixes: BTreeMap<String, String>,
    /// The last counter value used by the prefix pattern.
    pub prefix_counter: u32,
    /// Reporting setting per distant server (Short Server ID); absent means on.
    pub reporting: BTreeMap<u16, bool>,
}

impl GatewayState {
    /// The prefix of `endpoint`, if one was assigned.
    pub fn prefix_of(&self, endpoint: &str) -> Option<&str> {
        self.prefixes.get(endpoint).map(String::as_str)
    }

    /// Whether End-Device changes are reported to server `ssid`.
    pub fn reports_to(&self, ssid: u16) -> bool {
        self.reporting.get(&ssid).copied().unwrap_or(true)
    }
}
