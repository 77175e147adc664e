//! OMA LwM2M JSON (11543): names relative to `bn`, typed entries, time, prefixes.

mod fixture_models;

use coap::ContentFormat;
use fixture_models::{registry, samples, ALL_TYPES, TYPES};
use lwm2m::format::{self, oma_json};
use lwm2m::{FormatError, PrefixedPath, Record, Value};

fn target(s: &str) -> PrefixedPath {
    s.parse().expect("test path")
}

fn rec(path: &str, value: Value) -> Record {
    Record::new(target(path), value)
}

fn decode(payload: &str, to: &str) -> Result<Vec<Record>, FormatError> {
    oma_json::decode(payload.as_bytes(), &target(to), &registry())
}

fn encode(records: &[Record], to: &str) -> Result<String, FormatError> {
    let bytes = oma_json::encode(records, &target(to), &registry())?;
    Ok(String::from_utf8(bytes).expect("json is utf-8"))
}

const DEVICE: &str = r#"{"bn":"/3/0/","e":[{"n":"0","sv":"Open Mobile Alliance"},{"n":"9","v":100},{"n":"6/0","v":1},{"n":"6/1","v":5},{"n":"13","v":1700000000}]}"#;

fn device_records(prefix: &str) -> Vec<Record> {
    vec![
        rec(&format!("{prefix}/3/0/0"), Value::String("Open Mobile Alliance".into())),
        rec(&format!("{prefix}/3/0/9"), Value::Integer(100)),
        rec(&format!("{prefix}/3/0/6/0"), Value::Integer(1)),
        rec(&format!("{prefix}/3/0/6/1"), Value::Integer(5)),
        rec(&format!("{prefix}/3/0/13"), Value::Time(1_700_000_000)),
    ]
}

#[test]
fn a_device_instance_decodes_with_model_types_and_encodes_back_identically() {
    assert_eq!(decode(DEVICE, "/3/0").unwrap(), device_records(""));
    assert_eq!(encode(&device_records(""), "/3/0").unwrap(), DEVICE);
}

#[test]
fn the_spec_notes_example_decodes_without_a_model_for_unknown_resources() {
    let payload = r#"{"bn":"/3/0/","e":[{"n":"0","sv":"Open Mobile Alliance"},{"n":"9","v":100},{"n":"98","bv":true},{"n":"99","ov":"66:0"}]}"#;
    let records = decode(payload, "/3/0").unwrap();
    assert_eq!(
        records,
        vec![
            rec("/3/0/0", Value::String("Open Mobile Alliance".into())),
            rec("/3/0/9", Value::Integer(100)),
            rec("/3/0/98", Value::Boolean(true)),
            rec("/3/0/99", Value::ObjLnk(66, 0)),
        ]
    );
}

#[test]
fn every_type_round_trips() {
    for (id, data_type) in TYPES {
        for value in samples(data_type) {
            let to = format!("/{ALL_TYPES}/0");
            let records = vec![rec(&format!("{to}/{id}"), value)];
            let json = encode(&records, &to).unwrap();
            assert_eq!(decode(&json, &to).unwrap(), records, "{data_type} as {json}");
            // And as the single-resource target, which drops "n".
            let single = format!("{to}/{id}");
            let json = encode(&records, &single).unwrap();
            assert_eq!(decode(&json, &single).unwrap(), records, "{data_type} as {json}");
        }
    }
}

#[test]
fn entries_are_written_with_the_keys_of_their_type() {
    let to = format!("/{ALL_TYPES}/0");
    let json = encode(
        &[
            rec(&format!("{to}/4"), Value::Boolean(false)),
            rec(&format!("{to}/5"), Value::Opaque(vec![0xDE, 0xAD, 0xBE, 0xEF])),
            rec(&format!("{to}/7"), Value::ObjLnk(66, 0)),
            rec(&format!("{to}/3"), Value::Float(22.0)),
            rec(&format!("{to}/10/2"), Value::Integer(-3)),
        ],
        &to,
    )
    .unwrap();
    assert_eq!(
        json,
        format!(
            r#"{{"bn":"{to}/","e":[{{"n":"4","bv":false}},{{"n":"5","sv":"3q2+7w=="}},{{"n":"7","ov":"66:0"}},{{"n":"3","v":22.0}},{{"n":"10/2","v":-3}}]}}"#
        )
    );
}

#[test]
fn a_single_resource_target_is_written_without_a_name() {
    let json = encode(&[rec("/3/0/0", Value::String("x".into()))], "/3/0/0").unwrap();
    assert_eq!(json, r#"{"bn":"/3/0/0","e":[{"sv":"x"}]}"#);
    let json = encode(&[rec("/3/0/6/0", Value::Integer(1))], "/3/0/6").unwrap();
    assert_eq!(json, r#"{"bn":"/3/0/6/","e":[{"n":"0","v":1}]}"#);
    let json = encode(&[rec("/3/0/0", Value::String("x".into()))], "/3").unwrap();
    assert_eq!(json, r#"{"bn":"/3/","e":[{"n":"0/0","sv":"x"}]}"#);
}

#[test]
fn integers_at_the_limits_stay_exact() {
    let to = format!("/{ALL_TYPES}/0");
    let payload = format!(
        r#"{{"bn":"{to}/","e":[{{"n":"1","v":-9223372036854775808}},{{"n":"2","v":18446744073709551615}},{{"n":"10/0","v":9007199254740993}},{{"n":"99","v":9007199254740993}}]}}"#
    );
    let records = decode(&payload, &to).unwrap();
    assert_eq!(records[0].value, Value::Integer(i64::MIN));
    assert_eq!(records[1].value, Value::Unsigned(u64::MAX));
    assert_eq!(records[2].value, Value::Integer((1 << 53) + 1));
    assert_eq!(records[3].value, Value::Integer((1 << 53) + 1), "no model: still exact");
    let json = encode(&records, &to).unwrap();
    assert!(json.contains("9007199254740993") && json.contains("18446744073709551615"), "{json}");
}

#[test]
fn numbers_are_coerced_to_the_model_type() {
    let payload = r#"{"bn":"/3303/0/","e":[{"n":"5700","v":22},{"n":"5601","v":1e1}]}"#;
    assert_eq!(
        decode(payload, "/3303/0").unwrap(),
        vec![rec("/3303/0/5700", Value::Float(22.0)), rec("/3303/0/5601", Value::Float(10.0))]
    );
    let fraction = r#"{"bn":"/3/0/","e":[{"n":"9","v":1.5}]}"#;
    assert!(matches!(decode(fraction, "/3/0"), Err(FormatError::Invalid { .. })));
    let objlnk_as_sv = format!(r#"{{"bn":"/{ALL_TYPES}/0/","e":[{{"n":"7","sv":"3:0"}}]}}"#);
    assert_eq!(decode(&objlnk_as_sv, &format!("/{ALL_TYPES}/0")).unwrap()[0].value, Value::ObjLnk(3, 0));
    let unpadded = format!(r#"{{"bn":"/{ALL_TYPES}/0/","e":[{{"n":"5","sv":"3q2+7w"}}]}}"#);
    assert_eq!(
        decode(&unpadded, &format!("/{ALL_TYPES}/0")).unwrap()[0].value,
        Value::Opaque(vec![0xDE, 0xAD, 0xBE, 0xEF])
    );
}

#[test]
fn time_is_base_time_plus_entry_time() {
    let payload = r#"{"bn":"/3303/0/5700","bt":1700000000,"e":[{"v":22.5,"t":-5},{"v":22.0,"t":-65},{"v":21.0}]}"#;
    let records = decode(payload, "/3303/0/5700").unwrap();
    let times: Vec<Option<f64>> = records.iter().map(|r| r.time).collect();
    assert_eq!(times, vec![Some(1_699_999_995.0), Some(1_699_999_935.0), Some(1_700_000_000.0)]);
    let no_base = r#"{"bn":"/3303/0/5700","e":[{"v":22.5,"t":1700000001},{"v":22.0}]}"#;
    let records = decode(no_base, "/3303/0/5700").unwrap();
    assert_eq!((records[0].time, records[1].time), (Some(1_700_000_001.0), None));
    // Timestamps are written back as absolute times.
    let json = encode(&records, "/3303/0").unwrap();
    assert_eq!(json, r#"{"bn":"/3303/0/","e":[{"n":"5700","v":22.5,"t":1700000001},{"n":"5700","v":22.0}]}"#);
}

#[test]
fn the_gateway_prefix_is_read_from_names_and_written_into_bn() {
    let prefixed = DEVICE.replace("/3/0/", "/d01/3/0/");
    assert_eq!(decode(&prefixed, "/d01/3/0").unwrap(), device_records("/d01"));
    // A name without prefix takes the target's.
    assert_eq!(decode(DEVICE, "/d01/3/0").unwrap(), device_records("/d01"));
    assert_eq!(encode(&device_records("/d01"), "/d01/3/0").unwrap(), prefixed);
    // A different prefix, or one the target lacks, is refused.
    assert!(matches!(decode(&prefixed, "/d02/3/0"), Err(FormatError::Invalid { .. })));
    assert!(matches!(decode(&prefixed, "/3/0"), Err(FormatError::Invalid { .. })));
}

#[test]
fn names_without_bn_are_full_paths_or_relative_to_the_target() {
    let full = r#"{"e":[{"n":"/3/0/0","sv":"x"}]}"#;
    assert_eq!(decode(full, "/3").unwrap(), vec![rec("/3/0/0", Value::String("x".into()))]);
    let relative = r#"{"e":[{"n":"0","sv":"x"}]}"#;
    assert_eq!(decode(relative, "/3/0").unwrap(), vec![rec("/3/0/0", Value::String("x".into()))]);
}

#[test]
fn the_legacy_code_decodes_too() {
    let records = format::decode(ContentFormat::LEGACY_JSON, DEVICE.as_bytes(), &target("/3/0"), &registry()).unwrap();
    assert_eq!(records, device_records(""));
}

#[test]
fn payloads_that_are_not_oma_json_are_refused() {
    for (payload, why) in [
        ("[]", "not an object"),
        ("42", "a bare number"),
        ("{}", "no e"),
        (r#"{"e":{}}"#, "e not an array"),
        (r#"{"bn":3,"e":[]}"#, "bn not a string"),
        (r#"{"bn":"/3/0/","e":[1]}"#, "entry not an object"),
        (r#"{"bn":"/3/0/","e":[{"n":"0"}]}"#, "entry without value"),
        (r#"{"bn":"/3/0/","e":[{"n":"0","sv":"a","v":1}]}"#, "two values"),
        (r#"{"bn":"/3/0/","e":[{"n":"9","v":"100"}]}"#, "v holding a string"),
        (r#"{"bn":"/3/0/","e":[{"n":"9","v":100,"t":"x"}]}"#, "t not a number"),
        (r#"{"bn":"/3/0/","e":[{"n":"x","v":1}]}"#, "a name that is no path"),
        (r#"{"bn":"/3/1/","e":[{"n":"9","v":1}]}"#, "outside the target"),
        (r#"{"bn":"/3/","e":[{"n":"0","v":1}]}"#, "an instance, not a resource"),
        (r#"{"bn":"/3/0/","e":[{"n":"0","v":1}]}"#, "a number for a string resource"),
        (r#"{"bn":"/3/0/","e":[{"n":"99","ov":"66"}]}"#, "a bad object link"),
    ] {
        let err = decode(payload, "/3/0").unwrap_err();
        assert!(matches!(err, FormatError::Invalid { .. }), "{why}: {err}");
    }
}

#[test]
fn broken_json_is_malformed_with_its_offset() {
    let err = decode("{\"bn\":\"/3/0/\",\"e\":[}", "/3/0").unwrap_err();
    assert!(matches!(err, FormatError::Malformed { offset: 19, .. }), "{err}");
    let err = oma_json::decode(b"{\"bn\":\"\xff\",\"e\":[]}", &target("/3/0"), &registry()).unwrap_err();
    assert!(matches!(err, FormatError::Malformed { .. }), "{err}");
    assert!(decode("{\"e\":[]} x", "/3/0").is_err(), "trailing garbage");
    assert!(decode("", "/3/0").is_err(), "empty");
}

#[test]
fn encoding_refuses_what_oma_json_cannot_say() {
    assert!(matches!(encode(&[rec("/3/0/4", Value::None)], "/3/0"), Err(FormatError::Unrepresentable { .. })));
    assert!(matches!(
        encode(&[rec("/3303/0/5700", Value::Float(f64::INFINITY))], "/3303/0"),
        Err(FormatError::Unrepresentable { .. })
    ));
    assert!(matches!(encode(&[rec("/3/1/0", Value::String("x".into()))], "/3/0"), Err(FormatError::Invalid { .. })));
    assert!(matches!(encode(&[rec("/3/0/9", Value::String("x".into()))], "/3/0"), Err(FormatError::Invalid { .. })));
    assert_eq!(encode(&[], "/3/0").unwrap(), r#"{"bn":"/3/0/","e":[]}"#);
}

#[test]
fn entries_must_be_shaped_as_the_model_declares() {
    let whole_multi = r#"{"bn":"/3/0/","e":[{"n":"6","v":1}]}"#;
    assert!(matches!(decode(whole_multi, "/3/0"), Err(FormatError::Invalid { .. })));
    let instance_of_single = r#"{"bn":"/3/0/","e":[{"n":"9/0","v":1}]}"#;
    assert!(matches!(decode(instance_of_single, "/3/0"), Err(FormatError::Invalid { .. })));
    assert!(matches!(encode(&[rec("/3/0/6", Value::Integer(1))], "/3/0"), Err(FormatError::Invalid { .. })));
}
