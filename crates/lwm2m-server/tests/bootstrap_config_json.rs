//! JSON shape of [`BootstrapConfig`]: what the Leshan bootstrap demo writes and reads
//! (`leshan-bsserver-demo`, `BootstrapConfig.java`), round-tripped through serde.

use coap::ContentFormat;
use lwm2m::Path;
use lwm2m_server::bootstrap::{BootstrapConfig, BootstrapOperation, SecurityMode, ServerSecurity};
use serde_json::{json, Value};

/// A configuration as the Leshan demo's REST API posts it (bytes as signed numbers, SMS and
/// OSCORE fields this gateway ignores).
fn leshan_json() -> Value {
    json!({
        "autoIdForSecurityObject": false,
        "toDelete": ["/0", "/1"],
        "servers": {
            "0": {
                "shortId": 1, "lifetime": 300, "defaultMinPeriod": 1, "defaultMaxPeriod": null,
                "disableTimeout": 86400, "notifIfDisabled": true, "binding": "U"
            }
        },
        "security": {
            "0": {
                "uri": "coaps://127.0.0.1:5784", "bootstrapServer": true, "securityMode": "PSK",
                "publicKeyOrId": [100, 101, 118, 49], "serverPublicKey": [], "secretKey": [-1, 18, 52],
                "smsSecurityMode": "NO_SEC", "smsBindingKeyParam": [], "smsBindingKeySecret": [],
                "serverSmsNumber": "", "serverId": null, "clientOldOffTime": 1,
                "bootstrapServerAccountTimeout": 0
            },
            "1": {
                "uri": "coap://127.0.0.1:5683", "bootstrapServer": false, "securityMode": "NO_SEC",
                "publicKeyOrId": [], "serverPublicKey": [], "secretKey": [], "serverId": 1,
                "clientOldOffTime": 1, "bootstrapServerAccountTimeout": 0
            }
        },
        "acls": {
            "0": { "objectId": 3, "objectInstanceId": 0, "acls": { "1": 3, "0": 1 }, "AccessControlOwner": 1 }
        },
        "oscore": {}
    })
}

#[test]
fn leshan_demo_config_reads_with_every_field_in_place() {
    let config: BootstrapConfig = serde_json::from_value(leshan_json()).expect("leshan shape");
    assert_eq!(config.to_delete, ["/0", "/1"]);
    assert_eq!(config.servers[&0].short_id, 1);
    assert_eq!(config.servers[&0].lifetime, 300);
    assert_eq!(config.servers[&0].default_min_period, Some(1));
    assert_eq!(config.servers[&0].default_max_period, None);
    assert_eq!(config.servers[&0].disable_timeout, Some(86400));
    let bs = &config.security[&0];
    assert!(bs.bootstrap_server);
    assert_eq!(bs.security_mode, SecurityMode::Psk);
    assert_eq!(bs.public_key_or_id, b"dev1");
    assert_eq!(bs.secret_key, [0xFF, 0x12, 0x34], "signed bytes read as their unsigned value");
    assert_eq!(bs.server_id, None);
    assert_eq!(config.security[&1].security_mode, SecurityMode::NoSec);
    assert_eq!(config.security[&1].server_id, Some(1));
    assert_eq!(config.acls[&0].acls.get(&1), Some(&3));
    assert_eq!(config.acls[&0].access_control_owner, Some(1));
    assert_eq!(config.bootstrap_psk_identity(), Some(b"dev1".as_slice()));
    assert_eq!(config.validate(), Ok(()));
}

#[test]
fn config_round_trips_through_json_with_leshan_names() {
    let config: BootstrapConfig = serde_json::from_value(leshan_json()).expect("leshan shape");
    let written = serde_json::to_value(&config).expect("serializable");
    assert_eq!(written["toDelete"], json!(["/0", "/1"]));
    assert_eq!(written["security"]["0"]["securityMode"], json!("PSK"));
    assert_eq!(written["security"]["0"]["publicKeyOrId"], json!([100, 101, 118, 49]));
    assert_eq!(written["security"]["0"]["secretKey"], json!([255, 18, 52]));
    assert_eq!(written["security"]["1"]["securityMode"], json!("NO_SEC"));
    assert_eq!(written["servers"]["0"]["notifIfDisabled"], json!(true));
    assert_eq!(written["acls"]["0"]["AccessControlOwner"], json!(1));
    assert_eq!(written["acls"]["0"]["acls"]["1"], json!(3));
    let again: BootstrapConfig = serde_json::from_value(written).expect("reads back");
    assert_eq!(again, config);

    let built = BootstrapConfig::single_server(ServerSecurity::psk("coaps://127.0.0.1:5684", 1, b"gw", b"key"), 300)
        .with_content_format(ContentFormat::SENML_CBOR);
    let text = serde_json::to_string(&built).expect("serializable");
    assert!(text.contains(r#""contentFormat":112"#), "{text}");
    let back: BootstrapConfig = serde_json::from_str(&text).expect("reads back");
    assert_eq!(back, built);
}

#[test]
fn content_format_reads_as_number_or_leshan_name() {
    let by_name: BootstrapConfig = serde_json::from_value(json!({ "contentFormat": "SENML_CBOR" })).expect("name");
    assert_eq!(by_name.content_format, Some(ContentFormat::SENML_CBOR));
    let by_code: BootstrapConfig = serde_json::from_value(json!({ "contentFormat": 11542 })).expect("code");
    assert_eq!(by_code.content_format, Some(ContentFormat::TLV));
    // Absent toDelete means the default: delete /0 and /1.
    assert_eq!(by_code.to_delete, ["/0", "/1"]);
}

#[test]
fn out_of_range_byte_is_an_error_naming_the_value() {
    let mut value = leshan_json();
    value["security"]["1"]["secretKey"] = json!([1, 300]);
    let err = serde_json::from_value::<BootstrapConfig>(value).expect_err("300 is no byte");
    assert!(err.to_string().contains("300"), "{err}");
}

#[test]
fn leshan_config_becomes_the_ordered_requests() {
    let config: BootstrapConfig = serde_json::from_value(leshan_json()).expect("leshan shape");
    let ops = config.operations(None).expect("valid");
    let paths: Vec<String> = ops.iter().map(ToString::to_string).collect();
    assert_eq!(
        paths,
        [
            "Bootstrap-Delete /0",
            "Bootstrap-Delete /1",
            "Bootstrap-Write /0/0",
            "Bootstrap-Write /0/1",
            "Bootstrap-Write /1/0",
            "Bootstrap-Write /2/0",
            "Bootstrap-Finish /bs"
        ]
    );
    assert!(matches!(&ops[5], BootstrapOperation::Write(Path::Instance(2, 0), records) if records.len() == 5));
}
