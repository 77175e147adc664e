//! SenML JSON (110): the LwM2M Core TS §7.5.6 examples byte for byte, gateway prefixes
//! (Gateway TS 1.1.1 §9), every data type, integer limits and malformed input.

mod model_builders;

use coap::ContentFormat;
use lwm2m::format::{self, senml, senml_json, FormatError, Record};
use lwm2m::{DataType, Path, Registry, Value};
use model_builders::{every_type, obj, p, rec, res};

/// Object 3 (subset), 4 and 6 (subsets) and a test object 33000 with one resource per type.
fn registry() -> Registry {
    let mut registry = Registry::empty();
    registry.insert(obj(
        3,
        vec![
            res(0, DataType::String, false),
            res(1, DataType::String, false),
            res(4, DataType::None, false),
            res(6, DataType::Integer, true),
            res(9, DataType::Integer, false),
            res(13, DataType::Time, false),
        ],
    ));
    registry.insert(obj(4, vec![res(2, DataType::Integer, false)]));
    registry.insert(obj(6, vec![res(0, DataType::Float, false), res(1, DataType::Float, false)]));
    let mut every = every_type();
    every.push(res(9, DataType::None, false));
    registry.insert(obj(33000, every));
    registry
}

fn decode(json: &str, target: &str) -> Result<Vec<Record>, FormatError> {
    senml_json::decode(json.as_bytes(), &p(target), &registry())
}

fn encode(records: &[Record], target: &str) -> String {
    String::from_utf8(senml_json::encode(records, &p(target), &registry()).unwrap()).unwrap()
}

const READ_EXAMPLE: &str =
    r#"[{"bn":"/3/0/","n":"0","vs":"Open Mobile Alliance"},{"n":"9","v":100},{"n":"6/0","v":1}]"#;

#[test]
fn read_example_decodes_with_base_name_and_relative_names() {
    let records = decode(READ_EXAMPLE, "/3/0").unwrap();
    assert_eq!(
        records,
        vec![
            rec("/3/0/0", Value::String("Open Mobile Alliance".into())),
            rec("/3/0/9", Value::Integer(100)),
            rec("/3/0/6/0", Value::Integer(1)),
        ]
    );
}

#[test]
fn read_example_encodes_byte_for_byte() {
    let records = decode(READ_EXAMPLE, "/3/0").unwrap();
    assert_eq!(encode(&records, "/3/0"), READ_EXAMPLE);
}

#[test]
fn dispatcher_routes_content_format_110_here() {
    let records = format::decode(ContentFormat::SENML_JSON, READ_EXAMPLE.as_bytes(), &p("/3/0"), &registry()).unwrap();
    let bytes = format::encode(ContentFormat::SENML_JSON, &records, &p("/3/0"), &registry()).unwrap();
    assert_eq!(bytes, READ_EXAMPLE.as_bytes());
}

#[test]
fn send_example_uses_full_names_and_decodes_float_and_negative_integer() {
    let send = r#"[{"n":"/6/0/0","v":43.61092},{"n":"/4/0/2","v":-49}]"#;
    let records = decode(send, "/").unwrap();
    assert_eq!(records, vec![rec("/6/0/0", Value::Float(43.61092)), rec("/4/0/2", Value::Integer(-49))]);
    assert_eq!(encode(&records, "/"), send);
}

#[test]
fn historical_example_resolves_base_time_plus_relative_time() {
    let json = r#"[{"bn":"/72/","bt":25462634,"n":"1/2","v":22.4,"t":-5},{"n":"1/2","v":22.9,"t":-30}]"#;
    let records = decode(json, "/72").unwrap();
    assert_eq!(
        records,
        vec![
            Record { path: p("/72/1/2"), value: Value::Float(22.4), time: Some(25462629.0) },
            Record { path: p("/72/1/2"), value: Value::Float(22.9), time: Some(25462604.0) },
        ]
    );
    // Written back with absolute times on each record.
    assert_eq!(
        encode(&records, "/72"),
        r#"[{"bn":"/72/","n":"1/2","v":22.4,"t":25462629},{"n":"1/2","v":22.9,"t":25462604}]"#
    );
}

#[test]
fn records_without_time_carry_none() {
    assert!(decode(READ_EXAMPLE, "/3/0").unwrap().iter().all(|r| r.time.is_none()));
}

#[test]
fn single_resource_is_written_with_its_full_path_as_base_name() {
    let records = vec![rec("/3/0/0", Value::String("Open Mobile Alliance".into()))];
    let json = encode(&records, "/3/0/0");
    assert_eq!(json, r#"[{"bn":"/3/0/0","vs":"Open Mobile Alliance"}]"#);
    assert_eq!(decode(&json, "/3/0/0").unwrap(), records);
}

#[test]
fn multi_instance_resource_is_written_relative_to_the_resource() {
    let records = vec![rec("/3/0/6/0", Value::Integer(1)), rec("/3/0/6/1", Value::Integer(5))];
    assert_eq!(encode(&records, "/3/0/6"), r#"[{"bn":"/3/0/6/","n":"0","v":1},{"n":"1","v":5}]"#);
}

#[test]
fn records_outside_the_target_are_written_with_full_names() {
    let records = vec![rec("/3/0/0", Value::String("a".into())), rec("/1/0/1", Value::Integer(300))];
    assert_eq!(encode(&records, "/3/0"), r#"[{"n":"/3/0/0","vs":"a"},{"n":"/1/0/1","v":300}]"#);
}

#[test]
fn gateway_prefixed_read_response_round_trips() {
    let json = r#"[{"bn":"/d01/3/0/","n":"0","vs":"M1"},{"n":"9","v":100}]"#;
    let records = decode(json, "/d01/3/0").unwrap();
    assert_eq!(records, vec![rec("/d01/3/0/0", Value::String("M1".into())), rec("/d01/3/0/9", Value::Integer(100))]);
    assert_eq!(records[0].path.prefix.as_ref().map(|p| p.as_str()), Some("d01"));
    assert_eq!(records[0].path.path, Path::Resource(3, 0, 0));
    assert_eq!(encode(&records, "/d01/3/0"), json);
}

#[test]
fn gateway_send_mixes_devices_by_resetting_the_base_name() {
    let json = r#"[{"bn":"/d01/3/0/","n":"0","vs":"Manufacturer1"},{"n":"1","vs":"device1"},
                  {"bn":"/d02/3/0/","n":"0","vs":"Manufacturer2"},{"n":"/3/0/9"},{"n":"1","vs":"device2"}]"#;
    // The fourth record resolves to /d02/3/0//3/0/9: not a path.
    assert!(decode(json, "/").is_err());
    let json = r#"[{"bn":"/d01/3/0/","n":"0","vs":"Manufacturer1"},{"n":"1","vs":"device1"},
                  {"bn":"/d02/3/0/","n":"0","vs":"Manufacturer2"},{"n":"1","vs":"device2"},
                  {"bn":"","n":"/3/0/9","v":80}]"#;
    let records = decode(json, "/").unwrap();
    let names: Vec<String> = records.iter().map(|r| r.path.to_string()).collect();
    assert_eq!(names, ["/d01/3/0/0", "/d01/3/0/1", "/d02/3/0/0", "/d02/3/0/1", "/3/0/9"]);
    let written = encode(&records, "/");
    assert!(written.starts_with(r#"[{"n":"/d01/3/0/0","vs":"Manufacturer1"}"#), "{written}");
    assert_eq!(decode(&written, "/").unwrap(), records);
}

#[test]
fn gateway_prefixed_full_names_are_accepted_under_a_prefixed_target() {
    let records = decode(r#"[{"n":"/d01/3/0/0","vs":"x"}]"#, "/d01/3/0/0").unwrap();
    assert_eq!(records, vec![rec("/d01/3/0/0", Value::String("x".into()))]);
    assert_eq!(encode(&records, "/d01/3/0/0"), r#"[{"bn":"/d01/3/0/0","vs":"x"}]"#);
}

#[test]
fn prefixed_record_outside_a_plain_target_is_refused() {
    assert!(decode(r#"[{"n":"/d01/3/0/0","vs":"x"}]"#, "/3/0").is_err());
    assert!(decode(r#"[{"n":"/3/0/0","vs":"x"}]"#, "/d01/3/0").is_err());
    assert!(decode(r#"[{"n":"/4/0/2","v":1}]"#, "/3/0").is_err());
}

#[test]
fn every_type_round_trips_through_the_model() {
    let records = vec![
        rec("/33000/0/0", Value::String("h\u{e9}llo \"q\" \\ \n".into())),
        rec("/33000/0/1", Value::Integer(-42)),
        rec("/33000/0/2", Value::Unsigned(42)),
        rec("/33000/0/3", Value::Float(-0.5)),
        rec("/33000/0/4", Value::Boolean(true)),
        rec("/33000/0/5", Value::Opaque(vec![0xfb, 0xff, 0x00])),
        rec("/33000/0/6", Value::Time(1_367_491_215)),
        rec("/33000/0/7", Value::ObjLnk(66, 0)),
        rec("/33000/0/8", Value::CoreLnk("</3/0>,</4/0>".into())),
        rec("/33000/0/10/7", Value::Integer(7)),
    ];
    let json = encode(&records, "/33000/0");
    assert_eq!(
        json,
        concat!(
            r#"[{"bn":"/33000/0/","n":"0","vs":"h\u00e9llo \"q\" \\ \n"},"#,
            r#"{"n":"1","v":-42},{"n":"2","v":42},{"n":"3","v":-0.5},{"n":"4","vb":true},"#,
            r#"{"n":"5","vd":"-_8A"},{"n":"6","v":1367491215},{"n":"7","vlo":"66:0"},"#,
            r#"{"n":"8","vs":"</3/0>,</4/0>"},{"n":"10/7","v":7}]"#
        )
        .replace("\\u00e9", "\u{e9}")
    );
    assert_eq!(decode(&json, "/33000/0").unwrap(), records);
}

#[test]
fn without_a_model_values_keep_the_kind_the_literal_says() {
    let json = r#"[{"bn":"/9999/0/","n":"0","v":1},{"n":"1","v":1.0},{"n":"2","v":1e3},{"n":"3","vs":"66:0"},
                  {"n":"4","vlo":"66:0"},{"n":"5","vd":"AQI"},{"n":"6","vb":false}]"#;
    let values: Vec<Value> = decode(json, "/9999/0").unwrap().into_iter().map(|r| r.value).collect();
    assert_eq!(
        values,
        vec![
            Value::Integer(1),
            Value::Float(1.0),
            Value::Float(1000.0),
            Value::String("66:0".into()),
            Value::ObjLnk(66, 0),
            Value::Opaque(vec![1, 2]),
            Value::Boolean(false),
        ]
    );
}

#[test]
fn model_types_integral_numbers_strings_and_links() {
    let json = r#"[{"bn":"/33000/0/","n":"3","v":2},{"n":"2","v":7},{"n":"6","v":12},{"n":"7","vs":"1:2"},
                  {"n":"8","vs":"</1>"},{"n":"1","v":4.0}]"#;
    let values: Vec<Value> = decode(json, "/33000/0").unwrap().into_iter().map(|r| r.value).collect();
    assert_eq!(
        values,
        vec![
            Value::Float(2.0),
            Value::Unsigned(7),
            Value::Time(12),
            Value::ObjLnk(1, 2),
            Value::CoreLnk("</1>".into()),
            Value::Integer(4),
        ]
    );
}

#[test]
fn integer_limits_are_exact() {
    let json = r#"[{"bn":"/33000/0/","n":"1","v":-9223372036854775808},{"n":"2","v":18446744073709551615},
                  {"n":"10/0","v":9007199254740993},{"n":"10/1","v":9223372036854775807}]"#;
    let records = decode(json, "/33000/0").unwrap();
    let values: Vec<Value> = records.iter().map(|r| r.value.clone()).collect();
    assert_eq!(
        values,
        vec![
            Value::Integer(i64::MIN),
            Value::Unsigned(u64::MAX),
            Value::Integer(9_007_199_254_740_993),
            Value::Integer(i64::MAX),
        ]
    );
    let written = encode(&records, "/33000/0");
    assert!(written.contains("-9223372036854775808"), "{written}");
    assert!(written.contains("18446744073709551615"), "{written}");
    assert!(written.contains("9007199254740993"), "{written}");
    // Without a model, u64::MAX is still an exact unsigned integer.
    let raw = decode(r#"[{"n":"/9999/0/0","v":18446744073709551615}]"#, "/").unwrap();
    assert_eq!(raw[0].value, Value::Unsigned(u64::MAX));
}

#[test]
fn floats_are_written_in_shortest_round_trip_form_and_stay_floats() {
    for (value, text) in [(100.0, "100.0"), (43.61092, "43.61092"), (1e300, "1e+300"), (-1e-7, "-1e-7"), (0.1, "0.1")] {
        let json = encode(&[rec("/33000/0/3", Value::Float(value))], "/33000/0/3");
        assert_eq!(json, format!(r#"[{{"bn":"/33000/0/3","v":{text}}}]"#));
        let back = decode(&json, "/").unwrap();
        assert_eq!(back[0].value, Value::Float(value));
    }
}

#[test]
fn non_finite_floats_and_valueless_records_cannot_be_written() {
    let err = senml_json::encode(&[rec("/33000/0/3", Value::Float(f64::NAN))], &p("/33000/0/3"), &registry());
    assert!(matches!(err, Err(FormatError::Unrepresentable { .. })), "{err:?}");
    let err = senml_json::encode(&[rec("/3/0/4", Value::None)], &p("/3/0/4"), &registry());
    assert!(matches!(err, Err(FormatError::Unrepresentable { .. })), "{err:?}");
}

#[test]
fn opaque_accepts_standard_base64_and_padding() {
    for vd in ["-_8A", "+/8A", "-_8", "+/8=", "-_8="] {
        let json = format!(r#"[{{"n":"/33000/0/5","vd":"{vd}"}}]"#);
        let expected = if vd.len() == 4 && !vd.ends_with('=') { vec![0xfb, 0xff, 0x00] } else { vec![0xfb, 0xff] };
        assert_eq!(decode(&json, "/").unwrap()[0].value, Value::Opaque(expected), "{vd}");
    }
    assert!(decode(r#"[{"n":"/33000/0/5","vd":"*"}]"#, "/").is_err());
}

#[test]
fn wrong_value_type_for_the_model_is_refused() {
    for json in [
        r#"[{"n":"/33000/0/1","v":1.5}]"#,
        r#"[{"n":"/33000/0/2","v":-1}]"#,
        r#"[{"n":"/33000/0/1","v":18446744073709551615}]"#,
        r#"[{"n":"/33000/0/1","vs":"12"}]"#,
        r#"[{"n":"/33000/0/0","v":12}]"#,
        r#"[{"n":"/33000/0/4","v":1}]"#,
        r#"[{"n":"/33000/0/5","vs":"AQI"}]"#,
        r#"[{"n":"/33000/0/7","vs":"66"}]"#,
        r#"[{"n":"/33000/0/9","vb":true}]"#,
        r#"[{"n":"/33000/0/6","v":1.25}]"#,
    ] {
        let err = decode(json, "/").unwrap_err();
        assert!(matches!(err, FormatError::Invalid { .. }), "{json}: {err:?}");
    }
}

#[test]
fn bad_names_are_refused() {
    for json in [
        r#"[{"vs":"no name"}]"#,
        r#"[{"n":"3/0/0","vs":"x"}]"#,
        r#"[{"n":"/3/0","vs":"x"}]"#,
        r#"[{"n":"/3","vs":"x"}]"#,
        r#"[{"n":"/","vs":"x"}]"#,
        r#"[{"n":"/3/0/0/","vs":"x"}]"#,
        r#"[{"n":"/03/0/0","vs":"x"}]"#,
        r#"[{"n":"/3//0","vs":"x"}]"#,
        r#"[{"n":"/3/0/0/0/0","v":1}]"#,
        r#"[{"n":"/3/0/65536","v":1}]"#,
        r#"[{"n":"/0d/3/0/0","v":1}]"#,
        r#"[{"bn":"/3/0","n":"0","vs":"x"}]"#,
        r#"[{"n":"/d01","vs":"x"}]"#,
    ] {
        assert!(decode(json, "/").is_err(), "{json}");
    }
}

#[test]
fn records_without_value_are_refused_for_node_payloads() {
    let err = decode(r#"[{"n":"/3/0/0"}]"#, "/").unwrap_err();
    assert!(err.to_string().contains("no value"), "{err}");
}

#[test]
fn unknown_keys_are_ignored_unless_must_understand() {
    let ok = decode(r#"[{"n":"/3/0/0","vs":"x","foo":{"deep":[1,2]},"u":"m","bver":10}]"#, "/").unwrap();
    assert_eq!(ok, vec![rec("/3/0/0", Value::String("x".into()))]);
    let err = decode(r#"[{"n":"/3/0/0","vs":"x","foo_":1}]"#, "/").unwrap_err();
    assert!(err.to_string().contains("must-understand"), "{err}");
    assert!(decode(r#"[{"n":"/3/0/9","v":1,"bv":10}]"#, "/").is_err());
    assert!(decode(r#"[{"n":"/3/0/9","v":1,"s":10}]"#, "/").is_err());
}

#[test]
fn duplicate_keys_and_second_values_are_refused() {
    for json in [
        r#"[{"n":"/3/0/0","n":"/3/0/1","vs":"x"}]"#,
        r#"[{"n":"/3/0/0","vs":"x","vs":"y"}]"#,
        r#"[{"n":"/3/0/9","v":1,"vs":"1"}]"#,
        r#"[{"bn":"/3/0/","bn":"/4/0/","n":"9","v":1}]"#,
    ] {
        assert!(matches!(decode(json, "/"), Err(FormatError::Invalid { .. })), "{json}");
    }
}

#[test]
fn garbage_is_malformed_with_an_offset() {
    for json in
        ["", "[", r#"[{"n":"/3/0/0","vs":"x"}"#, r#"{"n":"/3/0/0"}"#, "[1]", r#"[{"n":"/3/0/0","vs":"x"}] x"#, "nul"]
    {
        let err = decode(json, "/").unwrap_err();
        match err {
            FormatError::Malformed { offset, .. } => assert!(offset <= json.len(), "{json}"),
            other => panic!("{json}: {other:?}"),
        }
    }
    let err = decode("[\n{\"n\":1}]", "/").unwrap_err();
    assert!(matches!(err, FormatError::Invalid { .. }), "{err:?}");
    let err = decode("[\n  x]", "/").unwrap_err();
    assert!(matches!(err, FormatError::Malformed { offset: 4, .. }), "{err:?}");
}

#[test]
fn wrongly_typed_fields_are_refused() {
    for json in [
        r#"[{"n":3,"v":1}]"#,
        r#"[{"n":"/3/0/9","v":"1"}]"#,
        r#"[{"n":"/3/0/9","v":null}]"#,
        r#"[{"n":"/3/0/9","vb":1}]"#,
        r#"[{"n":"/3/0/9","v":1,"t":"now"}]"#,
        r#"[{"n":"/3/0/0","vd":7}]"#,
    ] {
        assert!(matches!(decode(json, "/"), Err(FormatError::Invalid { .. })), "{json}");
    }
}

#[test]
fn composite_request_names_decode_to_paths() {
    let paths = senml::decode_paths(
        ContentFormat::SENML_JSON,
        br#"[{"n":"/3/0/0"},{"n":"/1/0/1"},{"n":"/d01/3/0"},{"bn":"/d02/","n":"3"},{"bn":"","n":"/"}]"#,
    )
    .unwrap();
    let shown: Vec<String> = paths.iter().map(|p| p.to_string()).collect();
    assert_eq!(shown, ["/3/0/0", "/1/0/1", "/d01/3/0", "/d02/3", "/"]);
    assert_eq!(senml::decode_paths(ContentFormat::SENML_JSON, br#"[{"n":"/"}]"#).unwrap(), vec![p("/")]);
}

#[test]
fn composite_request_refuses_values_bad_names_and_other_formats() {
    assert!(senml::decode_paths(ContentFormat::SENML_JSON, br#"[{"n":"/3/0/0","vs":"x"}]"#).is_err());
    assert!(senml::decode_paths(ContentFormat::SENML_JSON, br#"[{"n":"3/0/0"}]"#).is_err());
    assert!(senml::decode_paths(ContentFormat::SENML_JSON, br#"[{"n":"/3/00"}]"#).is_err());
    assert!(matches!(senml::decode_paths(ContentFormat::TLV, b""), Err(FormatError::UnsupportedFormat(11542))));
}

#[test]
fn empty_pack_is_no_records() {
    assert_eq!(decode("[]", "/3/0").unwrap(), vec![]);
    assert_eq!(encode(&[], "/3/0"), "[]");
}

#[test]
fn error_messages_do_not_grow_with_the_payload() {
    let long = "x".repeat(10_000);
    for json in [
        format!(r#"[{{"n":"/{long}","vs":"x"}}]"#),
        format!(r#"[{{"n":"/33000/0/7","vs":"{long}"}}]"#),
        format!(r#"[{{"n":"/3/0/0","vs":"x","{long}_":1}}]"#),
        format!(r#""{long}""#),
        format!(r#"[{{"n":"/3/0/0","vs":"{long}}}]"#),
    ] {
        let err = decode(&json, "/").unwrap_err().to_string();
        assert!(err.len() < 200, "{} bytes: {}", err.len(), &err[..200]);
    }
}

#[test]
fn composite_request_bodies_are_written_with_full_names() {
    let paths = vec![p("/4/0/0"), p("/d01/3/0"), p("/")];
    let json = senml::encode_paths(ContentFormat::SENML_JSON, &paths).unwrap();
    assert_eq!(String::from_utf8(json.clone()).unwrap(), r#"[{"n":"/4/0/0"},{"n":"/d01/3/0"},{"n":"/"}]"#);
    assert_eq!(senml::decode_paths(ContentFormat::SENML_JSON, &json).unwrap(), paths);
    let cbor = senml::encode_paths(ContentFormat::SENML_CBOR, &paths).unwrap();
    assert_eq!(hex::encode(&cbor), "83a100662f342f302f30a100682f6430312f332f30a100612f");
    assert_eq!(senml::decode_paths(ContentFormat::SENML_CBOR, &cbor).unwrap(), paths);
    assert!(senml::encode_paths(ContentFormat::LWM2M_CBOR, &paths).is_err());
}
