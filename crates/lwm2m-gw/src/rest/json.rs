//! The JSON shapes of Leshan's demo server (`JacksonRegistrationSerializer`,
//! `JacksonResponseSerializer`, `JacksonLinkSerializer`, the node serializer in
//! [`lwm2m::node`]), built from the engine's types.

use std::collections::BTreeMap;

use coap::Code;
use lwm2m::format::link::Link;
use lwm2m::format::Record;
use lwm2m::{Node, Path, PrefixedPath, Registry};
use lwm2m_server::{EndDevice, Registration};
use serde_json::{json, Map, Value as Json};

use crate::server::face::wall_ms;

/// Leshan's `ResponseCode.toString()`: `CONTENT(205)`.
pub(crate) fn status(code: Code) -> String {
    let name = match (code.class(), code.detail()) {
        (2, 1) => "CREATED",
        (2, 2) => "DELETED",
        (2, 3) => "VALID",
        (2, 4) => "CHANGED",
        (2, 5) => "CONTENT",
        (2, 31) => "CONTINUE",
        (4, 0) => "BAD_REQUEST",
        (4, 1) => "UNAUTHORIZED",
        (4, 2) => "BAD_OPTION",
        (4, 3) => "FORBIDDEN",
        (4, 4) => "NOT_FOUND",
        (4, 5) => "METHOD_NOT_ALLOWED",
        (4, 6) => "NOT_ACCEPTABLE",
        (4, 8) => "REQUEST_ENTITY_INCOMPLETE",
        (4, 9) => "CONFLICT",
        (4, 12) => "PRECONDITION_FAILED",
        (4, 13) => "REQUEST_ENTITY_TOO_LARGE",
        (4, 15) => "UNSUPPORTED_CONTENT_FORMAT",
        (4, 22) => "UNPROCESSABLE_ENTITY",
        (5, 0) => "INTERNAL_SERVER_ERROR",
        (5, 1) => "NOT_IMPLEMENTED",
        (5, 2) => "BAD_GATEWAY",
        (5, 3) => "SERVICE_UNAVAILABLE",
        (5, 4) => "GATEWAY_TIMEOUT",
        (5, 5) => "PROXY_NOT_SUPPORTED",
        _ => "UNKNOWN",
    };
    format!("{name}({}{:02})", code.class(), code.detail())
}

/// Leshan's response object without content: status, valid, success, failure.
pub(crate) fn response(code: Code) -> Map<String, Json> {
    let mut map = Map::new();
    map.insert("status".into(), json!(status(code)));
    map.insert("valid".into(), json!(matches!(code.class(), 2 | 4 | 5)));
    map.insert("success".into(), json!(code.is_success()));
    map.insert("failure".into(), json!(!code.is_success()));
    map
}

/// An attribute value as link-format writes it (Leshan's `getCoreLinkValue`): quoted for the
/// attributes RFC 6690 writes as strings.
fn core_link_value(name: &str, value: &str) -> String {
    if matches!(name, "rt" | "if" | "anchor" | "title") {
        format!("\"{}\"", value.replace('\\', "\\\\").replace('"', "\\\""))
    } else {
        value.to_owned()
    }
}

/// Leshan's link JSON: `{"url": "/3/0", "attributes": {"ver": "1.1"}}`.
pub(crate) fn links(links: &[Link]) -> Json {
    Json::Array(
        links
            .iter()
            .map(|link| {
                let attributes: Map<String, Json> = link
                    .attributes
                    .iter()
                    .map(|a| {
                        (a.name.clone(), a.value.as_ref().map_or(Json::Null, |v| json!(core_link_value(&a.name, v))))
                    })
                    .collect();
                json!({"url": link.uri, "attributes": attributes})
            })
            .collect(),
    )
}

fn available_instances(objects: &lwm2m::ObjectLinks) -> Json {
    let map: Map<String, Json> = objects
        .objects()
        .map(|(id, info)| (id.to_string(), json!(info.instances.iter().collect::<Vec<_>>())))
        .collect();
    Json::Object(map)
}

/// A registration as Leshan's demo lists it.
pub(crate) fn registration(reg: &Registration, awake: bool) -> Json {
    let mut map = Map::new();
    map.insert("endpoint".into(), json!(reg.endpoint.as_str()));
    map.insert("registrationId".into(), json!(reg.id.as_str()));
    map.insert("registrationDate".into(), json!(wall_ms(reg.registered_at)));
    map.insert("lastUpdate".into(), json!(wall_ms(reg.updated_at)));
    map.insert("address".into(), json!(reg.addr.to_string()));
    if let Some(sms) = reg.sms() {
        map.insert("smsNumber".into(), json!(sms));
    }
    map.insert("lwM2mVersion".into(), json!(reg.version.to_string()));
    map.insert("lifetime".into(), json!(reg.lifetime));
    map.insert("bindingMode".into(), json!(reg.binding.to_string()));
    map.insert("rootPath".into(), json!(reg.alternate_path().map_or_else(|| "/".to_owned(), |p| format!("{p}/"))));
    map.insert("objectLinks".into(), links(&reg.objects.to_links()));
    map.insert("secure".into(), json!(reg.identity().is_some()));
    let additional: Map<String, Json> =
        reg.additional().iter().map(|(k, v)| (k.clone(), json!(v.clone().unwrap_or_default()))).collect();
    map.insert("additionalRegistrationAttributes".into(), Json::Object(additional));
    map.insert("queuemode".into(), json!(reg.queue_mode));
    map.insert("availableInstances".into(), available_instances(&reg.objects));
    if reg.queue_mode {
        map.insert("sleeping".into(), json!(!awake));
    }
    if reg.is_gateway() {
        map.insert("isGateway".into(), json!(true));
    }
    Json::Object(map)
}

/// An End-Device behind `gateway`, shaped as a registration of its own with `gateway` and
/// `prefix` added (also in `additionalRegistrationAttributes`).
pub(crate) fn end_device(device: &EndDevice, gateway: &Registration) -> Json {
    let mut map = Map::new();
    map.insert("endpoint".into(), json!(device.endpoint.as_str()));
    map.insert("registrationId".into(), json!(format!("{}/{}", gateway.id, device.prefix.as_str())));
    map.insert("registrationDate".into(), json!(wall_ms(gateway.registered_at)));
    map.insert("lastUpdate".into(), json!(wall_ms(gateway.updated_at)));
    map.insert("address".into(), json!(gateway.addr.to_string()));
    map.insert("lwM2mVersion".into(), json!(gateway.version.to_string()));
    map.insert("lifetime".into(), json!(gateway.lifetime));
    map.insert("bindingMode".into(), json!(gateway.binding.to_string()));
    map.insert("rootPath".into(), json!(format!("/{}/", device.prefix.as_str())));
    map.insert("objectLinks".into(), links(&device.objects.to_links()));
    map.insert("secure".into(), json!(gateway.identity().is_some()));
    map.insert(
        "additionalRegistrationAttributes".into(),
        json!({"gateway": gateway.endpoint.as_str(), "prefix": device.prefix.as_str()}),
    );
    map.insert("queuemode".into(), json!(gateway.queue_mode));
    map.insert("availableInstances".into(), available_instances(&device.objects));
    map.insert("gateway".into(), json!(gateway.endpoint.as_str()));
    map.insert("prefix".into(), json!(device.prefix.as_str()));
    Json::Object(map)
}

/// What an Update changed (Leshan's `RegistrationUpdate`: only the fields that changed).
pub(crate) fn update(previous: &Registration, next: &Registration) -> Json {
    let mut map = Map::new();
    map.insert("registrationId".into(), json!(next.id.as_str()));
    map.insert("address".into(), json!(next.addr.to_string()));
    if previous.lifetime != next.lifetime {
        map.insert("lifeTimeInSec".into(), json!(next.lifetime));
    }
    if previous.binding != next.binding {
        map.insert("bindingMode".into(), json!(next.binding.to_string()));
    }
    if previous.objects != next.objects {
        map.insert("objectLinks".into(), links(&next.objects.to_links()));
    }
    if previous.sms() != next.sms() {
        map.insert("smsNumber".into(), json!(next.sms()));
    }
    Json::Object(map)
}

/// The node at `target` built from `records`, or `null` when they do not make one.
pub(crate) fn node(target: &Path, records: &[Record], registry: &Registry) -> Json {
    match Node::from_records(target, records, registry) {
        Ok(node) => node.to_json(),
        Err(error) => {
            tracing::warn!(%target, error = %error, "records do not form a node");
            Json::Null
        }
    }
}

/// A composite content: each path to its node (Leshan `Map<LwM2mPath, LwM2mNode>`).
pub(crate) fn composite_content(paths: &[PrefixedPath], records: &[Record], registry: &Registry) -> Json {
    let mut map = Map::new();
    for path in paths {
        // Paths of a gateway's End-Devices keep their prefix: `/d1/3/0/0` and `/d2/3/0/0` differ.
        let under: Vec<Record> = records
            .iter()
            .filter(|r| r.path.prefix == path.prefix && path.path.contains(&r.path.path))
            .cloned()
            .collect();
        if under.is_empty() {
            continue;
        }
        map.insert(path.to_string(), node(&path.path, &under, registry));
    }
    Json::Object(map)
}

/// Send data: the most recent value of each resource, grouped by object instance.
pub(crate) fn send_content(records: &[Record], registry: &Registry) -> Json {
    // The newest record of each path wins (records without time count as newest).
    let mut newest: BTreeMap<Path, &Record> = BTreeMap::new();
    for record in records {
        let replace = match newest.get(&record.path.path) {
            None => true,
            Some(old) => match (old.time, record.time) {
                (Some(a), Some(b)) => b >= a,
                (Some(_), None) => true,
                (None, _) => false,
            },
        };
        if replace {
            newest.insert(record.path.path, record);
        }
    }
    let mut by_instance: BTreeMap<Path, Vec<Record>> = BTreeMap::new();
    for record in newest.values() {
        let instance = match record.path.path {
            Path::Resource(o, i, _) | Path::ResourceInstance(o, i, _, _) => Path::Instance(o, i),
            other => other,
        };
        let mut plain = (*record).clone();
        plain.time = None;
        by_instance.entry(instance).or_default().push(plain);
    }
    let mut map = Map::new();
    for (path, records) in by_instance {
        map.insert(path.to_string(), node(&path, &records, registry));
    }
    Json::Object(map)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn composite_content_keeps_each_end_device_prefix_apart() {
        let path = |text: &str| text.parse::<PrefixedPath>().unwrap();
        let records = [
            Record::new(path("/d1/3/0/0"), lwm2m::Value::String("one".into())),
            Record::new(path("/d2/3/0/0"), lwm2m::Value::String("two".into())),
        ];
        let json = composite_content(&[path("/d1/3/0/0"), path("/d2/3/0/0")], &records, Registry::bundled_ref());
        assert_eq!(json["/d1/3/0/0"]["value"], "one", "{json}");
        assert_eq!(json["/d2/3/0/0"]["value"], "two", "{json}");
        let plain = [Record::new(path("/3/0/0"), lwm2m::Value::String("gw".into()))];
        assert_eq!(composite_content(&[path("/3/0/0")], &plain, Registry::bundled_ref())["/3/0/0"]["value"], "gw");
    }

    #[test]
    fn link_attributes_are_written_as_link_format_values() {
        let link = Link::new("/").with("rt", "oma.lwm2m").with("ct", "110").with_flag("obs");
        let json = links(&[link]);
        assert_eq!(json[0]["url"], "/");
        assert_eq!(json[0]["attributes"]["rt"], "\"oma.lwm2m\"");
        assert_eq!(json[0]["attributes"]["ct"], "110");
        assert_eq!(json[0]["attributes"]["obs"], Json::Null);
    }

    #[test]
    fn statuses_read_as_leshans_response_codes() {
        assert_eq!(status(Code::CONTENT), "CONTENT(205)");
        assert_eq!(status(Code::NOT_FOUND), "NOT_FOUND(404)");
        let map = response(Code::CHANGED);
        assert_eq!(map["success"], true);
        assert_eq!(map["failure"], false);
    }
}
