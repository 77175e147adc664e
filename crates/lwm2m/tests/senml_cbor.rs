//! SenML CBOR (112): the LwM2M Core TS §7.5.7 examples and Leshan's vectors byte for byte,
//! gateway prefixes (Gateway TS 1.1.1 §9), every data type, integer limits, float widths
//! and malformed input.

mod model_builders;

use coap::ContentFormat;
use lwm2m::format::{self, senml, senml_cbor, senml_json, FormatError, Record};
use lwm2m::{DataType, Registry, Value};
use model_builders::{every_type, h, obj, p, rec, res};

/// Object 3 (subset) and a test object 33000 with one resource per type.
fn registry() -> Registry {
    let mut registry = Registry::empty();
    registry.insert(obj(
        3,
        vec![res(0, DataType::String, false), res(6, DataType::Integer, true), res(9, DataType::Integer, false)],
    ));
    registry.insert(obj(33000, every_type()));
    registry
}

fn decode(bytes: &[u8], target: &str) -> Result<Vec<Record>, FormatError> {
    senml_cbor::decode(bytes, &p(target), &registry())
}

fn encode(records: &[Record], target: &str) -> Vec<u8> {
    senml_cbor::encode(records, &p(target), &registry()).unwrap()
}

/// `[{-2:"/3/0/", 0:"0", 3:"Open Mobile Alliance"}, {0:"9", 2:100}, {0:"6/0", 2:1}]`
fn read_example() -> Vec<u8> {
    h("83
       a3 21 65 2f332f302f 00 61 30 03 74 4f70656e204d6f62696c6520416c6c69616e6365
       a2 00 61 39 02 18 64
       a2 00 63 362f30 02 01")
}

#[test]
fn read_example_decodes_and_encodes_byte_for_byte() {
    let records = decode(&read_example(), "/3/0").unwrap();
    assert_eq!(
        records,
        vec![
            rec("/3/0/0", Value::String("Open Mobile Alliance".into())),
            rec("/3/0/9", Value::Integer(100)),
            rec("/3/0/6/0", Value::Integer(1)),
        ]
    );
    assert_eq!(encode(&records, "/3/0"), read_example());
}

#[test]
fn dispatcher_routes_content_format_112_here() {
    let records = format::decode(ContentFormat::SENML_CBOR, &read_example(), &p("/3/0"), &registry()).unwrap();
    let bytes = format::encode(ContentFormat::SENML_CBOR, &records, &p("/3/0"), &registry()).unwrap();
    assert_eq!(bytes, read_example());
}

#[test]
fn same_records_as_senml_json() {
    let json = br#"[{"bn":"/3/0/","n":"0","vs":"Open Mobile Alliance"},{"n":"9","v":100},{"n":"6/0","v":1}]"#;
    let from_json = senml_json::decode(json, &p("/3/0"), &registry()).unwrap();
    assert_eq!(decode(&read_example(), "/3/0").unwrap(), from_json);
}

#[test]
fn opaque_is_a_byte_string_as_leshan_writes_it() {
    // Leshan SenML CBOR encoder test: [{-2: "/0/0/3", 8: h'ABCDEF'}]
    let records = vec![rec("/0/0/3", Value::Opaque(vec![0xab, 0xcd, 0xef]))];
    let bytes = encode(&records, "/0/0/3");
    assert_eq!(bytes, h("81a221662f302f302f330843abcdef"));
    assert_eq!(decode(&bytes, "/0/0/3").unwrap(), records);
}

#[test]
fn leshan_timestamped_pack_with_decimal_fraction_base_times_decodes() {
    let bytes = h("83a321662f302f302f3022c482001a1dcd6504036c53616d706c65537472696e67\
                   a321662f302f302f3122c482001a1dcd650504f4\
                   a321662f302f302f3222c482001a1dcd6506021901c8");
    let records = decode(&bytes, "/").unwrap();
    assert_eq!(
        records,
        vec![
            Record { path: p("/0/0/0"), value: Value::String("SampleString".into()), time: Some(500_000_004.0) },
            Record { path: p("/0/0/1"), value: Value::Boolean(false), time: Some(500_000_005.0) },
            Record { path: p("/0/0/2"), value: Value::Integer(456), time: Some(500_000_006.0) },
        ]
    );
}

#[test]
fn times_are_written_as_absolute_t() {
    let records = vec![Record { path: p("/3/0/9"), value: Value::Integer(5), time: Some(25_462_629.0) }];
    // [{-2: "/3/0/9", 2: 5, 6: 25462629}]
    let bytes = encode(&records, "/3/0/9");
    assert_eq!(bytes, h("81 a3 21 66 2f332f302f39 02 05 06 1a 01848765"));
    assert_eq!(decode(&bytes, "/3/0/9").unwrap(), records);
    let fractional = vec![Record { path: p("/3/0/9"), value: Value::Integer(5), time: Some(1.5) }];
    assert_eq!(decode(&encode(&fractional, "/3/0/9"), "/").unwrap(), fractional);
}

#[test]
fn historical_relative_times_resolve_against_base_time() {
    // [{-2:"/72/", -3:25462634, 0:"1/2", 2:22.4, 6:-5}, {0:"1/2", 2:22.9, 6:-30}]
    let bytes = h("82
        a5 21 64 2f37322f 22 1a 0184876a 00 63 312f32 02 fb 4036666666666666 06 24
        a3 00 63 312f32 02 fb 4036e66666666666 06 38 1d");
    let records = decode(&bytes, "/72").unwrap();
    assert_eq!(records[0].time, Some(25_462_629.0));
    assert_eq!(records[1].time, Some(25_462_604.0));
    assert_eq!(records[1].value, Value::Float(22.9));
}

#[test]
fn gateway_prefixed_names_round_trip() {
    let records = vec![rec("/d01/3/0/0", Value::String("M1".into())), rec("/d01/3/0/9", Value::Integer(100))];
    let bytes = encode(&records, "/d01/3/0");
    // [{-2:"/d01/3/0/", 0:"0", 3:"M1"}, {0:"9", 2:100}]
    assert_eq!(bytes, h("82 a3 21 69 2f6430312f332f302f 00 61 30 03 62 4d31 a2 00 61 39 02 18 64"));
    assert_eq!(decode(&bytes, "/d01/3/0").unwrap(), records);
    // Full prefixed names under the root target, as in a Send.
    let mixed = vec![rec("/d01/3/0/0", Value::String("M1".into())), rec("/3/0/9", Value::Integer(7))];
    let bytes = encode(&mixed, "/");
    assert_eq!(decode(&bytes, "/").unwrap(), mixed);
    assert!(decode(&bytes, "/3/0").is_err());
}

#[test]
fn every_type_round_trips_through_the_model() {
    let records = vec![
        rec("/33000/0/0", Value::String("h\u{e9}llo".into())),
        rec("/33000/0/1", Value::Integer(-42)),
        rec("/33000/0/2", Value::Unsigned(42)),
        rec("/33000/0/3", Value::Float(-0.5)),
        rec("/33000/0/4", Value::Boolean(true)),
        rec("/33000/0/5", Value::Opaque(vec![0xfb, 0xff, 0x00])),
        rec("/33000/0/6", Value::Time(1_367_491_215)),
        rec("/33000/0/7", Value::ObjLnk(66, 0)),
        rec("/33000/0/8", Value::CoreLnk("</3/0>".into())),
        rec("/33000/0/10/7", Value::Integer(7)),
    ];
    let bytes = encode(&records, "/33000/0");
    assert_eq!(decode(&bytes, "/33000/0").unwrap(), records);
}

#[test]
fn object_link_uses_the_text_key_vlo() {
    let bytes = encode(&[rec("/33000/0/7", Value::ObjLnk(66, 0))], "/33000/0/7");
    // [{-2:"/33000/0/7", "vlo":"66:0"}]
    assert_eq!(bytes, h("81 a2 21 6a 2f33333030302f302f37 63 766c6f 64 36363a30"));
}

#[test]
fn integer_limits_are_exact() {
    let records = vec![
        rec("/33000/0/1", Value::Integer(i64::MIN)),
        rec("/33000/0/2", Value::Unsigned(u64::MAX)),
        rec("/33000/0/10/0", Value::Integer(9_007_199_254_740_993)),
    ];
    let bytes = encode(&records, "/");
    let text = hex::encode(&bytes);
    assert!(text.contains("023b7fffffffffffffff"), "{text}");
    assert!(text.contains("021bffffffffffffffff"), "{text}");
    assert!(text.contains("021b0020000000000001"), "{text}");
    assert_eq!(decode(&bytes, "/").unwrap(), records);
    // Without a model u64::MAX is an exact unsigned integer.
    let raw = h("81 a2 00 69 2f393939392f302f30 02 1b ffffffffffffffff");
    assert_eq!(decode(&raw, "/").unwrap()[0].value, Value::Unsigned(u64::MAX));
    // -2^64 fits no LwM2M integer.
    let below = h("81 a2 00 69 2f393939392f302f30 02 3b ffffffffffffffff");
    assert!(decode(&below, "/").is_err());
}

#[test]
fn floats_use_the_smallest_exact_width() {
    for (value, encoded) in [
        (1.5, "f93e00"),
        (100.0, "f95640"),
        (f64::from(1.1f32), "fa3f8ccccd"),
        (43.61092, "fb4045ce32a0663c75"),
        (f64::INFINITY, "f97c00"),
    ] {
        let bytes = encode(&[rec("/33000/0/3", Value::Float(value))], "/33000/0/3");
        let text = hex::encode(&bytes);
        assert!(text.ends_with(&format!("02{encoded}")), "{value}: {text}");
        assert_eq!(decode(&bytes, "/").unwrap()[0].value, Value::Float(value));
    }
}

#[test]
fn half_single_and_double_floats_all_decode() {
    for v in ["f93e00", "fa3fc00000", "fb3ff8000000000000"] {
        let bytes = h(&format!("81 a2 00 6a 2f33333030302f302f33 02 {v}"));
        assert_eq!(decode(&bytes, "/").unwrap()[0].value, Value::Float(1.5), "{v}");
    }
}

#[test]
fn indefinite_lengths_are_accepted() {
    // [_ {_ 0: "/3/0/9", 2: 7}]
    let bytes = h("9f bf 00 66 2f332f302f39 02 07 ff ff");
    assert_eq!(decode(&bytes, "/").unwrap(), vec![rec("/3/0/9", Value::Integer(7))]);
}

#[test]
fn wrong_value_type_for_the_model_is_refused() {
    for v in ["02 f93e00", "03 6131", "04 f5", "08 4101"] {
        let bytes = h(&format!("81 a2 00 6a 2f33333030302f302f31 {v}"));
        assert!(matches!(decode(&bytes, "/"), Err(FormatError::Invalid { .. })), "{v}");
    }
}

#[test]
fn malformed_cbor_is_refused_with_an_offset() {
    let good = read_example();
    for cut in [1, 5, good.len() - 1] {
        let err = decode(&good[..cut], "/3/0").unwrap_err();
        assert!(matches!(err, FormatError::Malformed { .. }), "cut {cut}: {err:?}");
    }
    let mut trailing = good.clone();
    trailing.push(0x00);
    let err = decode(&trailing, "/3/0").unwrap_err();
    assert!(matches!(err, FormatError::Malformed { offset, .. } if offset == good.len()), "{err:?}");
    assert!(matches!(decode(&[], "/"), Err(FormatError::Malformed { .. })));
    assert!(matches!(decode(&h("a0"), "/"), Err(FormatError::Malformed { .. })));
    // A text string that is not UTF-8.
    assert!(decode(&h("81 a2 00 66 2f332f302f30 03 62 c328"), "/").is_err());
    // A byte string claiming 4 GiB.
    assert!(matches!(decode(&h("81 a1 08 5a ffffffff 00"), "/"), Err(FormatError::Malformed { .. })));
}

#[test]
fn bad_records_are_refused() {
    for (what, bytes) in [
        ("record not a map", "81 01"),
        ("duplicate label", "81 a3 00 66 2f332f302f39 02 07 02 08"),
        ("two value fields", "81 a3 00 66 2f332f302f39 02 07 03 6131"),
        ("vd as text", "81 a2 00 66 2f332f302f30 08 6141"),
        ("vb as int", "81 a2 00 66 2f332f302f30 04 01"),
        ("name as int", "81 a2 00 01 02 07"),
        ("must-understand key", "81 a3 00 66 2f332f302f39 02 07 62 785f 01"),
        ("base value", "81 a3 00 66 2f332f302f39 02 07 24 01"),
        ("byte-string key", "81 a2 00 66 2f332f302f39 41 02 07"),
        ("no value", "81 a1 00 66 2f332f302f39"),
        ("not a full path", "81 a2 00 64 2f332f30 02 07"),
        ("no name", "81 a1 02 07"),
        ("tagged value", "81 a2 00 66 2f332f302f39 02 c1 01"),
    ] {
        assert!(decode(&h(bytes), "/").is_err(), "{what}");
    }
}

#[test]
fn unknown_labels_and_keys_are_ignored() {
    // [{0:"/3/0/9", 2:7, 1:"m", 23:0, "x":1}]
    let bytes = h("81 a5 00 66 2f332f302f39 02 07 01 61 6d 17 00 61 78 01");
    assert_eq!(decode(&bytes, "/").unwrap(), vec![rec("/3/0/9", Value::Integer(7))]);
}

#[test]
fn composite_request_names_decode_to_paths() {
    // [{0:"/3/0/0"}, {0:"/d01/3"}, {0:"/"}]
    let bytes = h("83 a1 00 66 2f332f302f30 a1 00 66 2f6430312f33 a1 00 61 2f");
    let paths = senml::decode_paths(ContentFormat::SENML_CBOR, &bytes).unwrap();
    assert_eq!(paths, vec![p("/3/0/0"), p("/d01/3"), p("/")]);
    let with_value = h("81 a2 00 66 2f332f302f30 02 01");
    assert!(senml::decode_paths(ContentFormat::SENML_CBOR, &with_value).is_err());
}

#[test]
fn text_keys_spelled_like_json_names_are_read_leniently() {
    // [{"n": "/3/0/9", "v": 7}]
    let bytes = h("81 a2 61 6e 66 2f332f302f39 61 76 07");
    assert_eq!(decode(&bytes, "/").unwrap(), vec![rec("/3/0/9", Value::Integer(7))]);
    // [{0: "/3/0/9", "n": "/3/0/9", 2: 7}]: the name twice.
    assert!(decode(&h("81 a3 00 66 2f332f302f39 61 6e 66 2f332f302f39 02 07"), "/").is_err());
}
