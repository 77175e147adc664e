//! LwM2M CBOR (11544): Core TS 1.2 §7.5.4 and Gateway TS 1.1.1 §10 examples byte for byte,
//! every ID shape, gateway prefixes, every data type, integer limits and malformed input.

mod model_builders;

use coap::ContentFormat;
use lwm2m::format::{self, lwm2m_cbor, FormatError, Record};
use lwm2m::{DataType, ObjectModel, Registry, Value};
use model_builders::{every_type, h, obj, p, rec, res};

/// Object 3 (subset) and a test object 33000 with one resource per type.
fn registry() -> Registry {
    let mut registry = Registry::empty();
    registry.insert(obj(
        3,
        vec![
            res(0, DataType::String, false),
            res(6, DataType::Integer, true),
            res(9, DataType::Integer, false),
            res(13, DataType::Time, false),
        ],
    ));
    registry.insert(obj(33000, every_type()));
    registry
}

fn decode(bytes: &[u8], target: &str) -> Result<Vec<Record>, FormatError> {
    lwm2m_cbor::decode(bytes, &p(target), &registry())
}

fn encode(records: &[Record], target: &str) -> Vec<u8> {
    lwm2m_cbor::encode(records, &p(target), &registry()).unwrap()
}

const OMA: &str = "74 4f70656e204d6f62696c6520416c6c69616e6365"; // "Open Mobile Alliance"

#[test]
fn single_resource_example_round_trips_byte_for_byte() {
    let bytes = h(&format!("a1 83 03 00 00 {OMA}"));
    let records = decode(&bytes, "/3/0/0").unwrap();
    assert_eq!(records, vec![rec("/3/0/0", Value::String("Open Mobile Alliance".into()))]);
    assert_eq!(encode(&records, "/3/0/0"), bytes);
}

#[test]
fn multi_instance_resource_example_round_trips_byte_for_byte() {
    let bytes = h("a1 83 03 00 06 a2 00 01 01 05");
    let records = decode(&bytes, "/3/0/6").unwrap();
    assert_eq!(records, vec![rec("/3/0/6/0", Value::Integer(1)), rec("/3/0/6/1", Value::Integer(5))]);
    assert_eq!(encode(&records, "/3/0/6"), bytes);
}

#[test]
fn dispatcher_routes_content_format_11544_here() {
    let bytes = h("a1 83 03 00 06 a2 00 01 01 05");
    let records = format::decode(ContentFormat::LWM2M_CBOR, &bytes, &p("/3/0/6"), &registry()).unwrap();
    assert_eq!(format::encode(ContentFormat::LWM2M_CBOR, &records, &p("/3/0/6"), &registry()).unwrap(), bytes);
}

#[test]
fn all_id_shapes_mean_the_same_record() {
    let expected = vec![rec("/3/0/0", Value::String("x".into()))];
    for shape in [
        "a1 83 03 00 00 61 78",          // {[3,0,0]: "x"}
        "a1 03 a1 00 a1 00 61 78",       // {3: {0: {0: "x"}}}
        "a1 82 03 00 a1 00 61 78",       // {[3,0]: {0: "x"}}
        "a1 03 a1 82 00 00 61 78",       // {3: {[0,0]: "x"}}
        "a1 81 03 a1 00 a1 81 00 61 78", // {[3]: {0: {[0]: "x"}}}
        "a1 9f 03 00 00 ff 61 78",       // {[_ 3,0,0]: "x"}
        "bf 82 03 00 bf 00 61 78 ff ff", // {_ [3,0]: {_ 0: "x"}}
    ] {
        assert_eq!(decode(&h(shape), "/").unwrap(), expected, "{shape}");
    }
}

#[test]
fn instance_read_is_rooted_at_the_target() {
    let records = vec![rec("/3/0/0", Value::String("Open Mobile Alliance".into())), rec("/3/0/9", Value::Integer(100))];
    let bytes = encode(&records, "/3/0");
    assert_eq!(bytes, h(&format!("a1 82 03 00 a2 00 {OMA} 09 18 64")));
    assert_eq!(decode(&bytes, "/3/0").unwrap(), records);
    // Object target: the key is a plain uint.
    let bytes = encode(&records, "/3");
    assert_eq!(bytes, h(&format!("a1 03 a1 00 a2 00 {OMA} 09 18 64")));
    assert_eq!(decode(&bytes, "/3").unwrap(), records);
}

#[test]
fn gateway_read_composite_example_decodes() {
    // Gateway TS §10: {["d01",3,0]: {0: "Company A", 9: 100}, ["d02",3,0]: {0: "Company B", 9: 50}}
    let bytes = h("a2 83 63 643031 03 00 a2 00 69 436f6d70616e792041 09 18 64
                      83 63 643032 03 00 a2 00 69 436f6d70616e792042 09 18 32");
    assert_eq!(bytes.len(), 45);
    let records = decode(&bytes, "/").unwrap();
    assert_eq!(
        records,
        vec![
            rec("/d01/3/0/0", Value::String("Company A".into())),
            rec("/d01/3/0/9", Value::Integer(100)),
            rec("/d02/3/0/0", Value::String("Company B".into())),
            rec("/d02/3/0/9", Value::Integer(50)),
        ]
    );
    // Re-encoded per object and prefix; decodes to the same records.
    let written = encode(&records, "/");
    assert_eq!(
        written,
        h("a2 82 63 643031 03 a1 00 a2 00 69 436f6d70616e792041 09 18 64
              82 63 643032 03 a1 00 a2 00 69 436f6d70616e792042 09 18 32")
    );
    assert_eq!(decode(&written, "/").unwrap(), records);
}

#[test]
fn prefixed_target_puts_the_prefix_first_in_the_key() {
    let records = vec![rec("/d01/3/0/0", Value::String("M1".into())), rec("/d01/3/0/9", Value::Integer(100))];
    let bytes = encode(&records, "/d01/3/0");
    assert_eq!(bytes, h("a1 83 63 643031 03 00 a2 00 62 4d31 09 18 64"));
    assert_eq!(decode(&bytes, "/d01/3/0").unwrap(), records);
    // A prefix alone as a text key, with the whole tree below it.
    let bytes = encode(&records, "/d01");
    assert_eq!(bytes, h("a1 63 643031 a1 03 a1 00 a2 00 62 4d31 09 18 64"));
    assert_eq!(decode(&bytes, "/d01").unwrap(), records);
    // Prefixed records are outside a plain target and vice versa.
    assert!(decode(&bytes, "/3/0").is_err());
    assert!(decode(&h("a1 83 03 00 00 61 78"), "/d01/3/0").is_err());
}

#[test]
fn root_target_groups_by_object_gateway_first() {
    let records = vec![
        rec("/d01/3/0/0", Value::String("y".into())),
        rec("/3/0/0", Value::String("x".into())),
        rec("/1/0/1", Value::Integer(300)),
    ];
    let bytes = encode(&records, "/");
    assert_eq!(bytes, h("a3 01 a1 00 a1 01 19 012c  03 a1 00 a1 00 61 78  82 63 643031 03 a1 00 a1 00 61 79"));
    let mut back = decode(&bytes, "/").unwrap();
    back.sort_by(|a, b| a.path.cmp(&b.path));
    let mut sorted = records.clone();
    sorted.sort_by(|a, b| a.path.cmp(&b.path));
    assert_eq!(back, sorted);
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
    // Without a model the object link is text and the time an integer.
    let raw = decode(&bytes, "/").unwrap();
    let mut unknown = Registry::empty();
    unknown.insert(ObjectModel { id: 1, ..registry().object(3).unwrap().clone() });
    let raw_untyped = lwm2m_cbor::decode(&bytes, &p("/"), &unknown).unwrap();
    assert_eq!(raw, records);
    assert_eq!(raw_untyped[7].value, Value::String("66:0".into()));
    assert_eq!(raw_untyped[6].value, Value::Integer(1_367_491_215));
}

#[test]
fn time_accepts_plain_integers_and_tags_0_and_1() {
    for leaf in
        ["1a 5182428f", "c1 1a 5182428f", "c1 fb 41d46090a3c00000", "c0 74 323031332d30352d30325431303a34303a31355a"]
    {
        let bytes = h(&format!("a1 83 03 00 0d {leaf}"));
        assert_eq!(decode(&bytes, "/").unwrap(), vec![rec("/3/0/13", Value::Time(1_367_491_215))], "{leaf}");
    }
    assert!(decode(&h("a1 83 03 00 0d c1 fb 3ff8000000000000"), "/").is_err());
    assert!(decode(&h("a1 83 03 00 0d c0 61 78"), "/").is_err());
}

#[test]
fn integer_limits_are_exact() {
    let records = vec![
        rec("/33000/0/1", Value::Integer(i64::MIN)),
        rec("/33000/0/2", Value::Unsigned(u64::MAX)),
        rec("/33000/0/10/0", Value::Integer(9_007_199_254_740_993)),
    ];
    let bytes = encode(&records, "/33000/0");
    assert_eq!(
        bytes,
        h("a1 82 19 80e8 00 a3 01 3b 7fffffffffffffff 02 1b ffffffffffffffff 0a a1 00 1b 0020000000000001")
    );
    assert_eq!(decode(&bytes, "/33000/0").unwrap(), records);
    assert_eq!(decode(&h("a1 83 19 270f 00 00 1b ffffffffffffffff"), "/").unwrap()[0].value, Value::Unsigned(u64::MAX));
    assert!(decode(&h("a1 83 19 270f 00 00 3b ffffffffffffffff"), "/").is_err());
    // Model mismatches at the limits.
    assert!(decode(&h("a1 83 19 80e8 00 01 1b ffffffffffffffff"), "/").is_err());
    assert!(decode(&h("a1 83 19 80e8 00 02 20"), "/").is_err());
    assert!(decode(&h("a1 83 19 80e8 00 01 f9 3e00"), "/").is_err());
}

#[test]
fn floats_keep_any_width_and_are_written_in_the_smallest_exact_one() {
    for leaf in ["f9 3e00", "fa 3fc00000", "fb 3ff8000000000000"] {
        let bytes = h(&format!("a1 83 19 80e8 00 03 {leaf}"));
        assert_eq!(decode(&bytes, "/").unwrap()[0].value, Value::Float(1.5), "{leaf}");
    }
    assert_eq!(encode(&[rec("/33000/0/3", Value::Float(1.5))], "/33000/0/3"), h("a1 83 19 80e8 00 03 f9 3e00"));
    // An integral float is still accepted for an Integer resource, a fractional one is not.
    assert_eq!(decode(&h("a1 83 19 80e8 00 01 f9 4000"), "/").unwrap()[0].value, Value::Integer(2));
}

#[test]
fn malformed_payloads_are_refused() {
    let good = h(&format!("a1 83 03 00 00 {OMA}"));
    for cut in [0, 1, 4, good.len() - 1] {
        assert!(matches!(decode(&good[..cut], "/"), Err(FormatError::Malformed { .. })), "cut {cut}");
    }
    let mut trailing = good.clone();
    trailing.extend([0xa0]);
    assert!(
        matches!(decode(&trailing, "/"), Err(FormatError::Malformed { offset, .. }) if offset == good.len()),
        "trailing"
    );
    assert!(matches!(decode(&h("83 03 00 00"), "/"), Err(FormatError::Malformed { .. })));
    assert!(matches!(decode(&h("a1 83 03 00 00 7a ffffffff"), "/"), Err(FormatError::Malformed { .. })));
}

#[test]
fn invalid_structures_are_refused() {
    for (what, bytes) in [
        ("duplicate path", "a2 83 03 00 00 61 78 03 a1 00 a1 00 61 79"),
        ("value at instance level", "a1 82 03 00 61 78"),
        ("value at object level", "a1 03 61 78"),
        ("map below a resource instance", "a1 84 03 00 06 00 a1 00 01"),
        ("path deeper than four IDs", "a1 85 03 00 06 00 00 01"),
        ("ID above 65535", "a1 83 03 00 1a 00010000 01"),
        ("negative ID", "a1 83 03 00 20 01"),
        ("empty ID array", "a1 80 a1 03 a1 00 a1 00 01"),
        ("empty inner ID array", "a1 83 03 00 06 a1 80 01"),
        ("prefix without IDs in an array", "a1 81 63 643031 a1 03 01"),
        ("prefix on an inner key", "a1 82 03 00 a1 63 643031 01"),
        ("prefix not first", "a1 83 03 63 643031 00 01"),
        ("numeric-looking prefix", "a1 84 62 3064 03 00 00 01"),
        ("null value", "a1 83 03 00 00 f6"),
        ("array value", "a1 83 03 00 06 82 01 02"),
        ("unknown tag", "a1 83 03 00 00 d8 20 61 78"),
        ("byte-string key", "a1 41 03 01"),
        ("float key", "a1 f9 4200 01"),
        ("wrong type for model", "a1 83 03 00 00 01"),
        ("string for integer", "a1 83 03 00 09 62 3130"),
    ] {
        assert!(matches!(decode(&h(bytes), "/"), Err(FormatError::Invalid { .. })), "{what}");
    }
}

#[test]
fn empty_map_is_no_records() {
    assert_eq!(decode(&h("a0"), "/").unwrap(), vec![]);
    assert_eq!(encode(&[], "/3/0"), h("a0"));
}

#[test]
fn what_cannot_be_written_is_refused() {
    let timestamped = vec![Record { path: p("/3/0/9"), value: Value::Integer(1), time: Some(5.0) }];
    assert!(matches!(
        lwm2m_cbor::encode(&timestamped, &p("/3/0/9"), &registry()),
        Err(FormatError::Unrepresentable { .. })
    ));
    let none = vec![rec("/3/0/4", Value::None)];
    assert!(matches!(lwm2m_cbor::encode(&none, &p("/3/0/4"), &registry()), Err(FormatError::Unrepresentable { .. })));
    let twice = vec![rec("/3/0/9", Value::Integer(1)), rec("/3/0/9", Value::Integer(2))];
    assert!(lwm2m_cbor::encode(&twice, &p("/3/0"), &registry()).is_err());
    let overlap = vec![rec("/3/0/6", Value::Integer(1)), rec("/3/0/6/0", Value::Integer(2))];
    assert!(lwm2m_cbor::encode(&overlap, &p("/3/0"), &registry()).is_err());
    let overlap = vec![rec("/3/0/6/0", Value::Integer(2)), rec("/3/0/6", Value::Integer(1))];
    assert!(lwm2m_cbor::encode(&overlap, &p("/"), &registry()).is_err());
    let instance = vec![rec("/3/0", Value::Integer(1))];
    assert!(lwm2m_cbor::encode(&instance, &p("/3/0"), &registry()).is_err());
}

#[test]
fn truncated_and_mutated_payloads_never_panic() {
    let seeds = [
        h(&format!("a1 83 03 00 00 {OMA}")),
        h("a1 83 03 00 06 a2 00 01 01 05"),
        h("bf 82 03 00 bf 00 61 78 ff ff"),
        h("a1 84 63 643031 03 00 0d c0 74 323031332d30352d30325431303a34303a31355a"),
    ];
    let formats = [ContentFormat::LWM2M_CBOR, ContentFormat::SENML_CBOR, ContentFormat::SENML_JSON];
    let mut state: u64 = 0x2545_f491_4f6c_dd1d;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    let mut decoded = 0;
    for seed in &seeds {
        for cut in 0..seed.len() {
            assert!(decode(&seed[..cut], "/").is_err(), "truncated at {cut} must fail");
        }
        for _ in 0..2000 {
            let mut bytes = seed.clone();
            let at = (next() % bytes.len() as u64) as usize;
            bytes[at] = next() as u8;
            for cf in formats {
                // Any answer is fine; a panic fails the test.
                if format::decode(cf, &bytes, &p("/"), &registry()).is_ok() {
                    decoded += 1;
                }
            }
        }
    }
    assert!(decoded > 0, "some single-byte mutations still decode");
}
