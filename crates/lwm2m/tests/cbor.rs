//! application/cbor (60): one value per payload, typed by CBOR and coerced to the model.

mod fixture_models;

use fixture_models::{registry, samples, ALL_TYPES, TYPES};
use lwm2m::format::cbor;
use lwm2m::{FormatError, PrefixedPath, Record, Value};

fn target(s: &str) -> PrefixedPath {
    s.parse().expect("test path")
}

fn bytes(spaced: &str) -> Vec<u8> {
    hex::decode(spaced.replace(' ', "")).expect("test hex")
}

fn decode(payload: &str, to: &str) -> Result<Value, FormatError> {
    let mut records = cbor::decode(&bytes(payload), &target(to), &registry())?;
    assert_eq!(records.len(), 1);
    assert_eq!(records[0].path, target(to));
    Ok(records.remove(0).value)
}

fn encode(value: Value, to: &str) -> Result<Vec<u8>, FormatError> {
    cbor::encode(&[Record::new(target(to), value)], &target(to), &registry())
}

fn at(resource: u16) -> String {
    format!("/{ALL_TYPES}/0/{resource}")
}

#[test]
fn every_type_round_trips_with_the_model() {
    for (id, data_type) in TYPES {
        for value in samples(data_type) {
            let payload = encode(value.clone(), &at(id)).unwrap();
            let records = cbor::decode(&payload, &target(&at(id)), &registry()).unwrap();
            assert_eq!(records, vec![Record::new(target(&at(id)), value)], "{data_type}");
        }
    }
}

#[test]
fn values_are_written_with_the_expected_major_types() {
    assert_eq!(encode(Value::String("abc".into()), "/3/0/0").unwrap(), bytes("63 616263"));
    assert_eq!(encode(Value::Integer(-1), &at(1)).unwrap(), bytes("20"));
    assert_eq!(encode(Value::Integer(i64::MIN), &at(1)).unwrap(), bytes("3b 7fffffffffffffff"));
    assert_eq!(encode(Value::Integer(i64::MAX), &at(1)).unwrap(), bytes("1b 7fffffffffffffff"));
    assert_eq!(encode(Value::Unsigned(u64::MAX), &at(2)).unwrap(), bytes("1b ffffffffffffffff"));
    assert_eq!(encode(Value::Float(22.5), "/3303/0/5700").unwrap(), bytes("f9 4da0"));
    assert_eq!(encode(Value::Float(0.1), "/3303/0/5700").unwrap(), bytes("fb 3fb999999999999a"));
    assert_eq!(encode(Value::Boolean(true), &at(4)).unwrap(), bytes("f5"));
    assert_eq!(encode(Value::Opaque(vec![1, 2]), &at(5)).unwrap(), bytes("42 0102"));
    assert_eq!(encode(Value::Time(1_700_000_000), &at(6)).unwrap(), bytes("1a 6553f100"));
    assert_eq!(encode(Value::ObjLnk(66, 0), &at(7)).unwrap(), bytes("64 36363a30"));
}

#[test]
fn every_float_width_is_read() {
    for payload in ["f9 4da0", "fa 41b40000", "fb 4036800000000000"] {
        assert_eq!(decode(payload, "/3303/0/5700").unwrap(), Value::Float(22.5), "{payload}");
    }
}

#[test]
fn integers_stay_exact_without_a_model() {
    let unknown = "/3/0/99";
    assert_eq!(decode("1b ffffffffffffffff", unknown).unwrap(), Value::Unsigned(u64::MAX));
    assert_eq!(decode("3b 7fffffffffffffff", unknown).unwrap(), Value::Integer(i64::MIN));
    assert_eq!(decode("1b 0020000000000001", unknown).unwrap(), Value::Integer((1 << 53) + 1));
    assert_eq!(decode("05", unknown).unwrap(), Value::Integer(5));
    assert_eq!(decode("f9 3e00", unknown).unwrap(), Value::Float(1.5));
    assert_eq!(decode("63 616263", unknown).unwrap(), Value::String("abc".into()));
    assert_eq!(decode("c1 1a 6553f100", unknown).unwrap(), Value::Time(1_700_000_000));
    assert!(decode("3b ffffffffffffffff", unknown).is_err(), "below i64::MIN");
    // A bignum that fits is an integer like any other; one that does not is refused.
    assert_eq!(decode("c2 41 01", unknown).unwrap(), Value::Integer(1));
    assert!(decode("c2 49 010000000000000000", unknown).is_err());
}

#[test]
fn the_model_type_decides_what_a_cbor_value_becomes() {
    assert_eq!(decode("05", &at(2)).unwrap(), Value::Unsigned(5));
    assert_eq!(decode("16", "/3303/0/5700").unwrap(), Value::Float(22.0));
    assert_eq!(decode("f9 4500", &at(1)).unwrap(), Value::Integer(5));
    assert_eq!(decode("c1 1a 6553f100", "/3/0/13").unwrap(), Value::Time(1_700_000_000));
    assert_eq!(decode("1a 6553f100", "/3/0/13").unwrap(), Value::Time(1_700_000_000));
    assert_eq!(decode("64 36363a30", &at(7)).unwrap(), Value::ObjLnk(66, 0));
    assert_eq!(decode("63 3c2f3e", &at(8)).unwrap(), Value::CoreLnk("</>".into()));
    // Impossible coercions are errors, not silent conversions.
    for (payload, to) in
        [("f9 3e00", at(1)), ("20", at(2)), ("63 616263", at(1)), ("f5", at(1)), ("64 36363a78", at(7))]
    {
        assert!(matches!(decode(payload, &to), Err(FormatError::Invalid { .. })), "{payload} for {to}");
    }
}

#[test]
fn the_gateway_prefix_is_carried_into_the_record() {
    let records = cbor::decode(&bytes("18 64"), &target("/d01/3/0/9"), &registry()).unwrap();
    assert_eq!(records, vec![Record::new(target("/d01/3/0/9"), Value::Integer(100))]);
}

#[test]
fn malformed_and_unsupported_cbor_is_refused() {
    for (payload, why) in [
        ("", "empty"),
        ("63 6162", "truncated text"),
        ("1b 00", "truncated integer"),
        ("5a ffffffff 00", "byte string length past the end"),
        ("05 05", "trailing bytes"),
        ("62 c328", "bad utf-8 in a text string"),
        ("1c", "reserved additional info"),
        ("ff", "a lone break"),
        ("9b ffffffffffffffff 01", "an array announcing 2^64-1 items"),
        ("7b ffffffffffffffff 61", "a text announcing 2^64-1 bytes"),
    ] {
        let err = cbor::decode(&bytes(payload), &target("/3/0/99"), &registry()).unwrap_err();
        assert!(matches!(err, FormatError::Malformed { .. }), "{why}: {err}");
    }
    let err = cbor::decode(&bytes("05 05"), &target("/3/0/99"), &registry()).unwrap_err();
    assert!(matches!(err, FormatError::Malformed { offset: 1, .. }), "{err}");
    for (payload, why) in
        [("82 01 02", "an array"), ("a1 01 02", "a map"), ("c0 63 616263", "tag 0"), ("d8 20 63 616263", "a uri tag")]
    {
        let err = cbor::decode(&bytes(payload), &target("/3/0/99"), &registry()).unwrap_err();
        assert!(err.to_string().contains("cbor"), "{why}: {err}");
    }
}

#[test]
fn only_single_values_can_be_carried() {
    for to in ["/", "/3", "/3/0", "/3/0/7"] {
        assert!(cbor::decode(&bytes("01"), &target(to), &registry()).is_err(), "decode {to}");
        assert!(encode(Value::Integer(1), to).is_err(), "encode {to}");
    }
    assert!(matches!(encode(Value::String("x".into()), "/3/0/9"), Err(FormatError::Invalid { .. })));
    assert_eq!(encode(Value::None, "/3/0/4").unwrap(), bytes("f6"));
}

#[test]
fn arbitrary_bytes_never_panic() {
    let mut state = 0x9E37_79B9_7F4A_7C15_u64;
    for len in 0..2000usize {
        let payload: Vec<u8> = (0..len % 12)
            .map(|_| {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                state as u8
            })
            .collect();
        for to in ["/3/0/99", "/3/0/13", "/3303/0/5700", &at(7)] {
            let _ = cbor::decode(&payload, &target(to), &registry());
        }
    }
}
