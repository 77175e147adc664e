//! The part of the gateway that survives a restart: which prefix each End-Device got, and each
//! distant server's reporting setting. The runtime persists it when the gateway reports
//! [`GatewayEvent::StateChanged`](crate::GatewayEvent::StateChanged), one [`StateChange`] at a
//! time (so that a registration costs one row, not a rewrite of every End-Device's), and gives
//! it back to [`Gateway::new`](crate::Gateway::new).

use std::collections::BTreeMap;

use lwm2m::{EndpointName, Prefix};
use serde::{Deserialize, Serialize};

use crate::config::GatewayConfig;

/// How many counter values the prefix pattern may try for one new End-Device.
const MAX_PATTERN_TRIES: u32 = 65_536;

/// Why an End-Device gets no prefix.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PrefixError {
    /// The pattern yields no valid, unused prefix (e.g. `{n}` alone: no letter first).
    #[error("prefix pattern {0:?} yields no free valid prefix")]
    Pattern(String),
    /// Every remembered End-Device is connected and the table is full.
    #[error("prefix table full ({0} end devices, all connected)")]
    Full(usize),
}

/// The outcome of [`GatewayState::assign`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Assignment {
    /// The End-Device already had this prefix.
    Known(Prefix),
    /// A new prefix was assigned (the state changed: persist it).
    New {
        /// The prefix.
        prefix: Prefix,
        /// The End-Device whose prefix was given up to make room, if the table was full.
        forgotten: Option<String>,
    },
}

/// One change of the [`GatewayState`], in the order the runtime must persist them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StateChange {
    /// `endpoint` got `prefix`; the prefix counter moved to `counter`.
    PrefixAssigned {
        /// The End-Device.
        endpoint: String,
        /// Its prefix.
        prefix: String,
        /// [`GatewayState::prefix_counter`] after the assignment.
        counter: u32,
    },
    /// `endpoint`'s prefix was given up (and the End-Device is forgotten).
    PrefixForgotten {
        /// The End-Device.
        endpoint: String,
    },
    /// Reporting to the distant server `ssid` is now `enabled`.
    Reporting {
        /// Its Short Server ID.
        ssid: u16,
        /// The setting.
        enabled: bool,
    },
    /// Too many changes waited: the whole state is to be written.
    Everything,
}

impl StateChange {
    /// Appends `changes` to `pending`, which then holds at most `max`: beyond, or once it holds
    /// [`StateChange::Everything`], it is that one change alone.
    pub fn append(pending: &mut Vec<Self>, changes: impl IntoIterator<Item = Self>, max: usize) {
        for change in changes {
            if pending.first() == Some(&Self::Everything) {
                return;
            }
            if pending.len() >= max {
                *pending = vec![Self::Everything];
                return;
            }
            pending.push(change);
        }
    }
}

/// Persistent gateway state.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct GatewayState {
    /// Prefix assigned to each End-Device endpoint name; stable across re-registrations. Names
    /// and prefixes are shared with the registrations and the gateway's End-Device records.
    pub prefixes: BTreeMap<EndpointName, Prefix>,
    /// The last counter value used by the prefix pattern.
    pub prefix_counter: u32,
    /// Reporting setting per distant server (Short Server ID); absent means on.
    pub reporting: BTreeMap<u16, bool>,
}

impl GatewayState {
    /// The prefix of `endpoint`, if one was assigned.
    pub fn prefix_of(&self, endpoint: &str) -> Option<&str> {
        self.prefix(endpoint).map(Prefix::as_str)
    }

    /// The prefix of `endpoint`, if one was assigned, to share.
    pub fn prefix(&self, endpoint: &str) -> Option<&Prefix> {
        self.prefixes.get(endpoint)
    }

    /// The prefix of `endpoint`: the one it had, or the next free one from the configured
    /// pattern. With `limit` endpoints remembered, one that `is_connected` says is gone is
    /// forgotten to make room.
    pub fn assign(
        &mut self,
        endpoint: &EndpointName,
        config: &GatewayConfig,
        limit: usize,
        is_connected: impl Fn(&str) -> bool,
    ) -> Result<Assignment, PrefixError> {
        if let Some(prefix) = self.prefixes.get(endpoint) {
            return Ok(Assignment::Known(prefix.clone()));
        }
        let mut n = self.prefix_counter;
        let mut found = None;
        for _ in 0..MAX_PATTERN_TRIES {
            let Some(next) = n.checked_add(1) else { break };
            n = next;
            let candidate = config.prefix(n);
            if self.prefixes.values().any(|p| p.as_str() == candidate) {
                continue;
            }
            if let Ok(prefix) = Prefix::new(&candidate) {
                found = Some(prefix);
                break;
            }
        }
        let prefix = found.ok_or_else(|| PrefixError::Pattern(config.prefix_pattern.clone()))?;
        let mut forgotten = None;
        if self.prefixes.len() >= limit {
            let gone = self.prefixes.keys().find(|ep| !is_connected(ep.as_str())).cloned();
            let gone = gone.ok_or(PrefixError::Full(self.prefixes.len()))?;
            self.prefixes.remove(&gone);
            forgotten = Some(gone.as_str().to_owned());
        }
        self.prefix_counter = n;
        self.prefixes.insert(endpoint.clone(), prefix.clone());
        Ok(Assignment::New { prefix, forgotten })
    }

    /// Whether End-Device changes are reported to server `ssid`.
    pub fn reports_to(&self, ssid: u16) -> bool {
        self.reporting.get(&ssid).copied().unwrap_or(true)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ep(name: &str) -> EndpointName {
        EndpointName::new(name).expect("valid")
    }

    fn prefix(a: Result<Assignment, PrefixError>) -> String {
        match a {
            Ok(Assignment::Known(p) | Assignment::New { prefix: p, .. }) => p.as_str().to_owned(),
            Err(e) => panic!("no prefix: {e}"),
        }
    }

    #[test]
    fn prefixes_follow_the_pattern_and_stay_with_their_device() {
        let mut state = GatewayState::default();
        let config = GatewayConfig::default();
        assert_eq!(prefix(state.assign(&ep("a"), &config, 10, |_| true)), "d1");
        assert_eq!(prefix(state.assign(&ep("b"), &config, 10, |_| true)), "d2");
        assert_eq!(
            state.assign(&ep("a"), &config, 10, |_| true),
            Ok(Assignment::Known(Prefix::new("d1").expect("valid")))
        );
        assert_eq!(state.prefix_counter, 2);
    }

    #[test]
    fn a_prefix_taken_under_an_older_pattern_is_skipped() {
        let mut state = GatewayState::default();
        state.prefixes.insert(ep("old"), Prefix::new("d1").expect("valid"));
        assert_eq!(prefix(state.assign(&ep("new"), &GatewayConfig::default(), 10, |_| true)), "d2");
    }

    #[test]
    fn a_pattern_without_a_letter_first_yields_no_prefix() {
        let mut state = GatewayState::default();
        let config = GatewayConfig { prefix_pattern: "{n}".into(), ..GatewayConfig::default() };
        assert_eq!(state.assign(&ep("a"), &config, 10, |_| true), Err(PrefixError::Pattern("{n}".into())));
        assert!(state.prefixes.is_empty());
    }

    #[test]
    fn pending_changes_collapse_into_everything_beyond_their_bound() {
        let reporting = |ssid| StateChange::Reporting { ssid, enabled: false };
        let mut pending = Vec::new();
        StateChange::append(&mut pending, [reporting(1), reporting(2)], 3);
        assert_eq!(pending, [reporting(1), reporting(2)]);
        StateChange::append(&mut pending, [reporting(3), reporting(4)], 3);
        assert_eq!(pending, [StateChange::Everything]);
        StateChange::append(&mut pending, [reporting(5)], 3);
        assert_eq!(pending, [StateChange::Everything], "everything covers what follows");
    }

    #[test]
    fn a_full_table_forgets_a_disconnected_device_or_refuses() {
        let mut state = GatewayState::default();
        let config = GatewayConfig::default();
        prefix(state.assign(&ep("a"), &config, 2, |_| true));
        prefix(state.assign(&ep("b"), &config, 2, |_| true));
        assert_eq!(state.assign(&ep("c"), &config, 2, |_| true), Err(PrefixError::Full(2)));
        assert_eq!(
            state.assign(&ep("c"), &config, 2, |ep| ep != "a"),
            Ok(Assignment::New { prefix: Prefix::new("d3").expect("valid"), forgotten: Some("a".into()) })
        );
        assert!(!state.prefixes.contains_key("a"));
    }

    #[test]
    fn persisted_state_keeps_its_text_form_and_refuses_an_invalid_prefix() {
        let mut state = GatewayState::default();
        prefix(state.assign(&ep("lamp"), &GatewayConfig::default(), 10, |_| true));
        let json = serde_json::to_string(&state).expect("serialisable");
        assert_eq!(json, r#"{"prefixes":{"lamp":"d1"},"prefix_counter":1,"reporting":{}}"#);
        assert_eq!(serde_json::from_str::<GatewayState>(&json).expect("round trip"), state);
        let bad = r#"{"prefixes":{"lamp":"1d"},"prefix_counter":1,"reporting":{}}"#;
        assert!(serde_json::from_str::<GatewayState>(bad).is_err());
    }

    #[test]
    fn reporting_is_on_unless_a_server_turned_it_off() {
        let mut state = GatewayState::default();
        assert!(state.reports_to(1));
        state.reporting.insert(1, false);
        assert!(!state.reports_to(1));
        assert!(state.reports_to(2));
    }
}
