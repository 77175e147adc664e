//! text/plain (0): every type both ways, the typing by model and the inputs to refuse.

mod fixture_models;

use coap::ContentFormat;
use fixture_models::{registry, samples, ALL_TYPES, TYPES};
use lwm2m::format::{self, text};
use lwm2m::{FormatError, PrefixedPath, Record, Value};

fn target(s: &str) -> PrefixedPath {
    s.parse().expect("test path")
}

fn decode(payload: &str, to: &str) -> Result<Vec<Record>, FormatError> {
    text::decode(payload.as_bytes(), &target(to), &registry())
}

fn decoded(payload: &str, to: &str) -> Value {
    let mut records = decode(payload, to).unwrap_or_else(|e| panic!("{payload:?} for {to}: {e}"));
    assert_eq!(records.len(), 1);
    records.remove(0).value
}

fn encode(value: Value, to: &str) -> Result<String, FormatError> {
    let bytes = text::encode(&[Record::new(target(to), value)], &target(to), &registry())?;
    Ok(String::from_utf8(bytes).expect("text output is utf-8"))
}

fn at(resource: u16) -> String {
    format!("/{ALL_TYPES}/0/{resource}")
}

#[test]
fn every_type_round_trips() {
    for (id, data_type) in TYPES {
        for value in samples(data_type) {
            let text = encode(value.clone(), &at(id)).unwrap();
            assert_eq!(decoded(&text, &at(id)), value, "{data_type} as {text:?}");
        }
    }
}

#[test]
fn values_are_written_as_the_spec_table_says() {
    assert_eq!(encode(Value::String("Open Mobile Alliance".into()), "/3/0/0").unwrap(), "Open Mobile Alliance");
    assert_eq!(encode(Value::Integer(-42), &at(1)).unwrap(), "-42");
    assert_eq!(encode(Value::Unsigned(u64::MAX), &at(2)).unwrap(), "18446744073709551615");
    assert_eq!(encode(Value::Float(22.5), "/3303/0/5700").unwrap(), "22.5");
    assert_eq!(encode(Value::Float(22.0), "/3303/0/5700").unwrap(), "22.0");
    assert_eq!(encode(Value::Boolean(true), &at(4)).unwrap(), "1");
    assert_eq!(encode(Value::Opaque(vec![0xDE, 0xAD, 0xBE, 0xEF]), &at(5)).unwrap(), "3q2+7w==");
    assert_eq!(encode(Value::Time(1_700_000_000), "/3/0/13").unwrap(), "1700000000");
    assert_eq!(encode(Value::ObjLnk(66, 0), &at(7)).unwrap(), "66:0");
}

#[test]
fn integers_at_the_limits_stay_exact() {
    assert_eq!(decoded("-9223372036854775808", &at(1)), Value::Integer(i64::MIN));
    assert_eq!(decoded("9223372036854775807", &at(1)), Value::Integer(i64::MAX));
    assert_eq!(decoded("18446744073709551615", &at(2)), Value::Unsigned(u64::MAX));
    assert_eq!(decoded("9007199254740993", &at(1)), Value::Integer((1 << 53) + 1));
    assert!(decode("9223372036854775808", &at(1)).is_err());
    assert!(decode("-1", &at(2)).is_err());
}

#[test]
fn lenient_inputs_are_accepted() {
    assert_eq!(decoded("22", "/3303/0/5700"), Value::Float(22.0));
    assert_eq!(decoded("2.25e1", "/3303/0/5700"), Value::Float(22.5));
    assert_eq!(decoded("3q2+7w", &at(5)), Value::Opaque(vec![0xDE, 0xAD, 0xBE, 0xEF]));
    assert_eq!(decoded("", &at(5)), Value::Opaque(vec![]));
    assert_eq!(decoded("", "/3/0/0"), Value::String(String::new()));
}

#[test]
fn a_resource_instance_is_a_valid_target() {
    assert_eq!(decoded("5000", "/3/0/7/1"), Value::Integer(5000));
    assert_eq!(encode(Value::Integer(5000), "/3/0/7/1").unwrap(), "5000");
}

#[test]
fn the_target_path_and_its_prefix_name_the_record() {
    let records = decode("Open Mobile Alliance", "/d01/3/0/0").unwrap();
    assert_eq!(records, vec![Record::new(target("/d01/3/0/0"), Value::String("Open Mobile Alliance".into()))]);
    assert_eq!(records[0].path.prefix.as_ref().map(|p| p.as_str()), Some("d01"));
}

#[test]
fn the_legacy_code_decodes_too() {
    let records =
        format::decode(ContentFormat::LEGACY_TEXT, b"100", &target("/3/0/9"), &registry()).expect("legacy text");
    assert_eq!(records[0].value, Value::Integer(100));
}

#[test]
fn text_that_does_not_fit_the_type_is_refused() {
    for (payload, path) in [
        ("abc", at(1)),
        ("1.5", at(1)),
        (" 1", at(1)),
        ("1 ", at(1)),
        ("", at(1)),
        ("-1", at(2)),
        ("NaN", at(3)),
        ("inf", at(3)),
        ("true", at(4)),
        ("2", at(4)),
        ("not base64!", at(5)),
        ("1.0", at(6)),
        ("66", at(7)),
        ("66:70000", at(7)),
        ("", at(9)),
    ] {
        let err = decode(payload, &path).unwrap_err();
        assert!(matches!(err, FormatError::Malformed { .. }), "{payload:?} at {path}: {err}");
        if payload.len() >= 3 {
            assert!(!err.to_string().contains(payload), "{err} quotes the payload");
        }
    }
}

#[test]
fn bad_utf8_is_refused_at_its_offset() {
    let err = text::decode(b"ab\xffc", &target("/3/0/0"), &registry()).unwrap_err();
    assert!(matches!(err, FormatError::Malformed { offset: 2, .. }), "{err}");
}

#[test]
fn an_unknown_resource_needs_its_model() {
    let err = decode("1", "/3/0/99").unwrap_err();
    assert!(matches!(err, FormatError::Invalid { .. }), "{err}");
    assert!(err.to_string().contains("model"), "{err}");
}

#[test]
fn only_single_values_can_be_carried() {
    for to in ["/", "/3", "/3/0", "/3/0/7"] {
        assert!(decode("1", to).is_err(), "decode {to}");
        assert!(encode(Value::Integer(1), to).is_err(), "encode {to}");
    }
    let two = [Record::new(target("/3/0/9"), Value::Integer(1)), Record::new(target("/3/0/9"), Value::Integer(2))];
    assert!(matches!(text::encode(&two, &target("/3/0/9"), &registry()), Err(FormatError::Unrepresentable { .. })));
    let elsewhere = [Record::new(target("/3/0/0"), Value::String("x".into()))];
    assert!(matches!(text::encode(&elsewhere, &target("/3/0/1"), &registry()), Err(FormatError::Invalid { .. })));
}

#[test]
fn encode_coerces_to_the_model_and_refuses_what_cannot_be_written() {
    assert_eq!(encode(Value::Integer(22), "/3303/0/5700").unwrap(), "22.0");
    assert!(matches!(encode(Value::String("x".into()), "/3/0/9"), Err(FormatError::Invalid { .. })));
    assert!(matches!(encode(Value::Float(f64::NAN), "/3303/0/5700"), Err(FormatError::Unrepresentable { .. })));
    assert!(matches!(encode(Value::None, "/3/0/4"), Err(FormatError::Unrepresentable { .. })));
}

#[test]
fn an_instance_of_a_single_instance_resource_is_refused() {
    assert!(matches!(decode("1", "/3/0/9/0"), Err(FormatError::Invalid { .. })));
    assert!(matches!(encode(Value::Integer(1), "/3/0/9/0"), Err(FormatError::Invalid { .. })));
}
