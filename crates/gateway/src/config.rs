//! Static settings of a [`Gateway`](crate::Gateway).

use std::time::Duration;

/// How the gateway names End-Devices and how long it waits for them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GatewayConfig {
    /// Pattern of a new End-Device's prefix; `{n}` is replaced by a counter (1, 2 …). The result
    /// must be a valid [`lwm2m::Prefix`] (a letter first). Default `d{n}`.
    pub prefix_pattern: String,
    /// Pattern of the Device ID (`/25/x/0`); `{ep}` is replaced by the endpoint name. Default
    /// `{ep}`; e.g. `urn:dev:{ep}`.
    pub device_id_pattern: String,
    /// How long a northbound request may wait for a sleeping (queue-mode) End-Device before it is
    /// answered 5.03 Service Unavailable. `queue_wait + request_timeout` should stay below the
    /// north endpoint's `server_exchange_lifetime` and the distant server's response timeout
    /// (93 s by default), or the late answer finds nobody waiting.
    pub queue_wait: Duration,
    /// How long a northbound request may wait for an awake End-Device's answer before it is
    /// answered 5.04 Gateway Timeout.
    pub request_timeout: Duration,
    /// An End-Device that sent nothing for this long is reported Idle in the inventory.
    pub idle_after: Duration,
    /// How long End-Device changes are collected before they are reported north: a burst of
    /// registrations within this window gives one `/25` notification and one Update per
    /// distant server instead of one per End-Device; a lone change goes out after this delay.
    /// Zero reports every change at once. Default 300 ms.
    pub report_delay: Duration,
}

impl Default for GatewayConfig {
    fn default() -> Self {
        Self {
            prefix_pattern: "d{n}".to_owned(),
            device_id_pattern: "{ep}".to_owned(),
            queue_wait: Duration::from_secs(45),
            request_timeout: Duration::from_secs(40),
            idle_after: Duration::from_secs(300),
            report_delay: Duration::from_millis(300),
        }
    }
}

impl GatewayConfig {
    /// The prefix for counter value `n`.
    pub fn prefix(&self, n: u32) -> String {
        self.prefix_pattern.replace("{n}", &n.to_string())
    }

    /// The Device ID of endpoint `ep`.
    pub fn device_id(&self, ep: &str) -> String {
        device_id(&self.device_id_pattern, ep)
    }
}

/// The Device ID of endpoint `ep` under the Device ID `pattern`.
pub(crate) fn device_id(pattern: &str, ep: &str) -> String {
    pattern.replace("{ep}", ep)
}
