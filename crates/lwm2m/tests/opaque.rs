//! application/octet-stream (42): raw bytes of one Opaque resource.

mod fixture_models;

use fixture_models::{registry, samples, ALL_TYPES};
use lwm2m::format::opaque;
use lwm2m::{DataType, FormatError, PrefixedPath, Record, Value};

fn target(s: &str) -> PrefixedPath {
    s.parse().expect("test path")
}

#[test]
fn opaque_values_round_trip_unchanged() {
    let to = target(&format!("/{ALL_TYPES}/0/5"));
    for value in samples(DataType::Opaque) {
        let records = vec![Record::new(to.clone(), value)];
        let payload = opaque::encode(&records, &to, &registry()).unwrap();
        assert_eq!(opaque::decode(&payload, &to, &registry()).unwrap(), records);
    }
}

#[test]
fn the_payload_is_the_value_byte_for_byte() {
    let to = target(&format!("/{ALL_TYPES}/0/11/3"));
    let bytes = vec![0x00, 0xFF, 0x10];
    let records = vec![Record::new(to.clone(), Value::Opaque(bytes.clone()))];
    assert_eq!(opaque::encode(&records, &to, &registry()).unwrap(), bytes);
    assert_eq!(opaque::decode(&bytes, &to, &registry()).unwrap(), records);
}

#[test]
fn an_unknown_resource_is_taken_as_opaque_with_the_prefix() {
    let to = target("/d01/5/0/0");
    let records = opaque::decode(b"\x01\x02", &to, &registry()).unwrap();
    assert_eq!(records, vec![Record::new(to, Value::Opaque(vec![1, 2]))]);
    assert_eq!(records[0].path.to_string(), "/d01/5/0/0");
}

#[test]
fn resources_of_other_types_are_refused() {
    let err = opaque::decode(b"x", &target("/3/0/0"), &registry()).unwrap_err();
    assert!(matches!(err, FormatError::Invalid { .. }), "{err}");
    let to = target("/3/0/0");
    let records = [Record::new(to.clone(), Value::String("x".into()))];
    assert!(opaque::encode(&records, &to, &registry()).is_err());
    let unknown = target("/5/0/0");
    let records = [Record::new(unknown.clone(), Value::Integer(1))];
    assert!(matches!(opaque::encode(&records, &unknown, &registry()), Err(FormatError::Unrepresentable { .. })));
}

#[test]
fn only_one_value_can_be_carried() {
    for to in ["/", "/3", "/3/0", &format!("/{ALL_TYPES}/0/11")] {
        assert!(opaque::decode(b"x", &target(to), &registry()).is_err(), "{to}");
    }
    let to = target(&format!("/{ALL_TYPES}/0/5"));
    let two = [Record::new(to.clone(), Value::Opaque(vec![1])), Record::new(to.clone(), Value::Opaque(vec![2]))];
    assert!(opaque::encode(&two, &to, &registry()).is_err());
    assert!(opaque::encode(&[], &to, &registry()).is_err());
}
