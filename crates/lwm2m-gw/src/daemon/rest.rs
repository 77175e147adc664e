//! The gateway's REST API (`--http`): what the gateway knows about its End-Devices, the same
//! data its inventory objects (33001 End-Device Inventory, 33002 End-Device Summary) expose to
//! the distant servers.
//!
//! - `GET /api/end-devices`: every End-Device the gateway knows, registered or not.
//! - `GET /api/end-devices/{id}`: one of them, by endpoint name or prefix (404 otherwise).
//! - `GET /api/summary`: counts by status, state and mode.
//! - `GET /api/gateway`: the gateway's endpoint name and its distant servers.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::extract::{Path as UrlPath, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use gateway::objects::{InventoryEntry, GATEWAY_OBJECT, INVENTORY_OBJECT};
use lwm2m::{EndpointName, Value};
use lwm2m_client::ResourceValue;
use serde_json::json;

use super::hub::{lock, SharedHub};
use crate::server::face::wall_ms;

/// What the handlers share.
#[derive(Debug, Clone)]
pub(crate) struct Api {
    /// The gateway.
    pub(crate) hub: SharedHub,
    /// The Idle threshold of the inventory.
    pub(crate) idle_after: Duration,
    /// The gateway's endpoint name.
    pub(crate) endpoint: String,
}

/// The routes.
pub(crate) fn router(api: Arc<Api>) -> Router {
    Router::new()
        .route("/api/end-devices", get(list))
        .route("/api/end-devices/", get(list))
        .route("/api/end-devices/{id}", get(one))
        .route("/api/summary", get(summary))
        .route("/api/gateway", get(gateway_info))
        .with_state(api)
}

/// Every End-Device the gateway knows, as JSON objects, sorted by endpoint name.
pub(crate) fn end_devices(api: &Api, now: Instant) -> Vec<serde_json::Value> {
    let hub = lock(&api.hub);
    let gw = hub.gateway();
    let tree = gw.client().tree();
    let mut out: BTreeMap<String, serde_json::Value> = BTreeMap::new();
    let instances = tree.object(INVENTORY_OBJECT).map(|o| o.instances()).unwrap_or_default();
    for instance in instances {
        let Some(ResourceValue::Single(Value::String(endpoint))) = tree.resource(now, INVENTORY_OBJECT, instance, 0)
        else {
            continue;
        };
        let Ok(name) = EndpointName::new(&endpoint) else { continue };
        let Some(entry) = gw.inventory_entry(&name) else { continue };
        let objects = entry.gateway_instance.and_then(|i| match tree.resource(now, GATEWAY_OBJECT, i, 3) {
            Some(ResourceValue::Single(Value::CoreLnk(links))) => Some(links),
            _ => None,
        });
        out.insert(endpoint, entry_json(&entry, objects, api.idle_after, now));
    }
    // Remembered from an earlier run (their prefix is kept) but not registered since; last seen
    // is when they last registered or left, as stored.
    for (endpoint, prefix) in &gw.state().prefixes {
        let last_seen = hub.remembered(endpoint.as_str()).map(|d| d.changed_ms);
        out.entry(endpoint.as_str().to_owned()).or_insert_with(|| {
            json!({
                "endpoint": endpoint.as_str(),
                "prefix": prefix.as_str(),
                "mode": "proxy",
                "status": "disconnected",
                "state": null,
                "lastSeen": last_seen,
                "lastSeenSecondsAgo": null,
                "lifetime": null,
                "binding": null,
                "version": null,
                "address": null,
                "objects": null,
            })
        });
    }
    out.into_values().collect()
}

fn entry_json(
    entry: &InventoryEntry,
    objects: Option<String>,
    idle_after: Duration,
    now: Instant,
) -> serde_json::Value {
    json!({
        "endpoint": entry.endpoint.as_str(),
        "prefix": entry.prefix_text(),
        "mode": entry.mode.as_str(),
        "status": if entry.connected { "connected" } else { "disconnected" },
        "state": entry.state(now, idle_after).as_str(),
        "lastSeen": wall_ms(entry.last_seen),
        "lastSeenSecondsAgo": now.saturating_duration_since(entry.last_seen).as_secs(),
        "lifetime": entry.lifetime,
        "binding": entry.binding_text(),
        "version": entry.version.as_str(),
        "address": entry.address.to_string(),
        "objects": objects,
    })
}

/// Counts across `devices` (the shapes [`end_devices`] returns).
pub(crate) fn summary_of(devices: &[serde_json::Value]) -> serde_json::Value {
    let mut status: BTreeMap<String, u64> = BTreeMap::from([("connected".into(), 0), ("disconnected".into(), 0)]);
    let mut state: BTreeMap<String, u64> =
        BTreeMap::from([("Active".into(), 0), ("Idle".into(), 0), ("Sleep".into(), 0)]);
    let mut mode: BTreeMap<String, u64> = BTreeMap::from([("proxy".into(), 0)]);
    for device in devices {
        let connected = device["status"] == "connected";
        if let Some(s) = device["status"].as_str() {
            *status.entry(s.to_owned()).or_default() += 1;
        }
        if let (true, Some(s)) = (connected, device["state"].as_str()) {
            *state.entry(s.to_owned()).or_default() += 1;
        }
        if let Some(m) = device["mode"].as_str() {
            *mode.entry(m.to_owned()).or_default() += 1;
        }
    }
    json!({ "total": devices.len(), "status": status, "state": state, "mode": mode })
}

async fn list(State(api): State<Arc<Api>>) -> Json<Vec<serde_json::Value>> {
    Json(end_devices(&api, Instant::now()))
}

async fn one(State(api): State<Arc<Api>>, UrlPath(id): UrlPath<String>) -> Response {
    let found = end_devices(&api, Instant::now())
        .into_iter()
        .find(|d| d["endpoint"] == id.as_str() || d["prefix"] == id.as_str());
    match found {
        Some(device) => Json(device).into_response(),
        None => (StatusCode::NOT_FOUND, Json(json!({"error": format!("no end device {id:?}")}))).into_response(),
    }
}

async fn summary(State(api): State<Arc<Api>>) -> Json<serde_json::Value> {
    Json(summary_of(&end_devices(&api, Instant::now())))
}

async fn gateway_info(State(api): State<Arc<Api>>) -> Json<serde_json::Value> {
    let hub = lock(&api.hub);
    let servers: Vec<serde_json::Value> = hub
        .north_uris()
        .iter()
        .map(
            |(ssid, uri)| json!({"shortServerId": ssid, "uri": uri, "registered": hub.registered().contains_key(ssid)}),
        )
        .collect();
    Json(
        json!({"endpoint": api.endpoint, "servers": servers, "droppedDatagrams": hub.dropped(), "stateWriteFailures": hub.state_write_failures()}),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_summary_counts_by_status_state_and_mode() {
        let devices = [
            json!({"status": "connected", "state": "Active", "mode": "proxy"}),
            json!({"status": "connected", "state": "Sleep", "mode": "proxy"}),
            json!({"status": "disconnected", "state": "Idle", "mode": "proxy"}),
            json!({"status": "disconnected", "state": null, "mode": "proxy"}),
        ];
        let summary = summary_of(&devices);
        assert_eq!(summary["total"], 4);
        assert_eq!(summary["status"], json!({"connected": 2, "disconnected": 2}));
        assert_eq!(summary["state"], json!({"Active": 1, "Idle": 0, "Sleep": 1}));
        assert_eq!(summary["mode"], json!({"proxy": 4}));
    }
}
