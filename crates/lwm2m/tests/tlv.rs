//! OMA TLV (11542): the Core TS §7.5.5 examples byte for byte, round trips of every type and
//! the malformed inputs a decoder must refuse.

mod fixture_models;

use coap::ContentFormat;
use fixture_models::{registry, samples, ALL_TYPES, TYPES};
use lwm2m::format::{self, tlv};
use lwm2m::{FormatError, Path, PrefixedPath, Record, Value};

fn target(s: &str) -> PrefixedPath {
    s.parse().expect("test path")
}

fn rec(path: &str, value: Value) -> Record {
    Record::new(target(path), value)
}

fn decode(payload: &[u8], to: &str) -> Result<Vec<Record>, FormatError> {
    tlv::decode(payload, &target(to), &registry())
}

fn encode(records: &[Record], to: &str) -> Result<Vec<u8>, FormatError> {
    tlv::encode(records, &target(to), &registry())
}

const MANUFACTURER: &str = "c8 00 14 4f 70 65 6e 20 4d 6f 62 69 6c 65 20 41 6c 6c 69 61 6e 63 65";

const READ_ACL_OBJECT: &str = "08 00 0e c1 00 01 c1 01 00 83 02 41 7f 07 c1 03 7f \
                               08 02 12 c1 00 03 c1 01 00 87 02 41 7f 07 61 01 36 01 c1 03 7f";

fn bytes(spaced: &str) -> Vec<u8> {
    hex::decode(spaced.replace(' ', "")).expect("test hex")
}

fn acl_records() -> Vec<Record> {
    vec![
        rec("/2/0/0", Value::Integer(1)),
        rec("/2/0/1", Value::Integer(0)),
        rec("/2/0/2/127", Value::Integer(7)),
        rec("/2/0/3", Value::Integer(127)),
        rec("/2/2/0", Value::Integer(3)),
        rec("/2/2/1", Value::Integer(0)),
        rec("/2/2/2/127", Value::Integer(7)),
        rec("/2/2/2/310", Value::Integer(1)),
        rec("/2/2/3", Value::Integer(127)),
    ]
}

#[test]
fn spec_single_string_resource_decodes_and_encodes_byte_for_byte() {
    let payload = bytes(MANUFACTURER);
    let expected = vec![rec("/3/0/0", Value::String("Open Mobile Alliance".into()))];
    assert_eq!(decode(&payload, "/3/0/0").unwrap(), expected);
    assert_eq!(encode(&expected, "/3/0/0").unwrap(), payload);
}

#[test]
fn spec_float32_with_a_16_bit_resource_id_decodes_and_encodes_byte_for_byte() {
    let payload = bytes("e4 16 44 41 b4 00 00");
    let expected = vec![rec("/3303/0/5700", Value::Float(22.5))];
    assert_eq!(decode(&payload, "/3303/0/5700").unwrap(), expected);
    assert_eq!(encode(&expected, "/3303/0/5700").unwrap(), payload);
}

#[test]
fn spec_read_of_the_access_control_object_decodes_and_encodes_byte_for_byte() {
    let payload = bytes(READ_ACL_OBJECT);
    assert_eq!(payload.len(), 38);
    assert_eq!(decode(&payload, "/2").unwrap(), acl_records());
    assert_eq!(encode(&acl_records(), "/2").unwrap(), payload);
}

#[test]
fn dispatcher_accepts_the_legacy_code_but_emits_only_the_registered_one() {
    let payload = bytes(MANUFACTURER);
    let (t, reg) = (target("/3/0/0"), registry());
    let records = format::decode(ContentFormat::LEGACY_TLV, &payload, &t, &reg).unwrap();
    assert_eq!(format::encode(ContentFormat::TLV, &records, &t, &reg).unwrap(), payload);
    assert!(matches!(
        format::encode(ContentFormat::LEGACY_TLV, &records, &t, &reg),
        Err(FormatError::UnsupportedFormat(1542))
    ));
}

#[test]
fn every_type_round_trips_as_a_single_resource() {
    for (id, data_type) in TYPES {
        for value in samples(data_type) {
            let path = format!("/{ALL_TYPES}/0/{id}");
            let records = vec![rec(&path, value.clone())];
            let payload = encode(&records, &path).unwrap();
            assert_eq!(decode(&payload, &path).unwrap(), records, "{data_type} {value:?}");
        }
    }
}

#[test]
fn every_type_round_trips_inside_instances_of_an_object() {
    let mut records = Vec::new();
    for (i, pick) in [(0u16, 0usize), (1, usize::MAX)] {
        for (id, data_type) in TYPES {
            let options = samples(data_type);
            let value = options[pick.min(options.len() - 1)].clone();
            records.push(rec(&format!("/{ALL_TYPES}/{i}/{id}"), value));
        }
        records.push(rec(&format!("/{ALL_TYPES}/{i}/10/0"), Value::Integer(-7)));
        records.push(rec(&format!("/{ALL_TYPES}/{i}/10/300"), Value::Integer(i64::MIN)));
        records.push(rec(&format!("/{ALL_TYPES}/{i}/11/65535"), Value::Opaque(vec![1; 300])));
    }
    let object = format!("/{ALL_TYPES}");
    let payload = encode(&records, &object).unwrap();
    assert_eq!(decode(&payload, &object).unwrap(), records);

    let instance_records: Vec<Record> = records
        .iter()
        .filter(|r| matches!(r.path.path, p if Path::Instance(ALL_TYPES, 1).contains(&p)))
        .cloned()
        .collect();
    let instance = format!("/{ALL_TYPES}/1");
    let payload = encode(&instance_records, &instance).unwrap();
    assert_eq!(decode(&payload, &instance).unwrap(), instance_records);
}

#[test]
fn integers_at_the_limits_use_eight_bytes_and_stay_exact() {
    let min = encode(&[rec("/3/0/9", Value::Integer(i64::MIN))], "/3/0/9").unwrap();
    assert_eq!(min, bytes("c8 09 08 80 00 00 00 00 00 00 00"));
    let max = encode(&[rec("/3/0/9", Value::Integer(i64::MAX))], "/3/0/9").unwrap();
    assert_eq!(max, bytes("c8 09 08 7f ff ff ff ff ff ff ff"));
    let path = format!("/{ALL_TYPES}/0/2");
    let big = (1u64 << 53) + 1;
    let payload = encode(&[rec(&path, Value::Unsigned(big))], &path).unwrap();
    assert_eq!(decode(&payload, &path).unwrap(), vec![rec(&path, Value::Unsigned(big))]);
    let unsigned_max = encode(&[rec(&path, Value::Unsigned(u64::MAX))], &path).unwrap();
    assert_eq!(unsigned_max, bytes("c8 02 08 ff ff ff ff ff ff ff ff"));
}

#[test]
fn floats_use_four_bytes_only_when_exact() {
    let payload = encode(&[rec("/3303/0/5700", Value::Float(0.1))], "/3303/0/5700").unwrap();
    assert_eq!(payload[..4], bytes("e8 16 44 08"));
    assert_eq!(payload.len(), 12);
    let eight = bytes("e8 16 44 08 3f b9 99 99 99 99 99 9a");
    assert_eq!(decode(&eight, "/3303/0/5700").unwrap(), vec![rec("/3303/0/5700", Value::Float(0.1))]);
}

#[test]
fn values_are_coerced_to_the_model_type_on_encode() {
    // An integer written to a Float resource goes out as a float, not as a 1-byte integer.
    let payload = encode(&[rec("/3303/0/5700", Value::Integer(22))], "/3303/0/5700").unwrap();
    assert_eq!(payload, bytes("e4 16 44 41 b0 00 00"));
    let err = encode(&[rec("/3303/0/5700", Value::String("warm".into()))], "/3303/0/5700").unwrap_err();
    assert!(matches!(err, FormatError::Invalid { .. }), "{err}");
}

#[test]
fn an_unknown_resource_decodes_as_opaque_and_re_encodes_unchanged() {
    let payload = bytes("c3 63 01 02 03 e1 01 f4 2a");
    let records = decode(&payload, "/3/0").unwrap();
    assert_eq!(records, vec![rec("/3/0/99", Value::Opaque(vec![1, 2, 3])), rec("/3/0/500", Value::Opaque(vec![42]))]);
    assert_eq!(encode(&records, "/3/0").unwrap(), payload);
}

#[test]
fn the_gateway_prefix_is_carried_into_every_record() {
    let records = decode(&bytes(READ_ACL_OBJECT), "/d01/2").unwrap();
    assert_eq!(records.len(), 9);
    assert!(records.iter().all(|r| r.path.prefix.as_ref().map(|p| p.as_str()) == Some("d01")));
    assert_eq!(records[2].path.to_string(), "/d01/2/0/2/127");
    assert_eq!(encode(&records, "/d01/2").unwrap(), bytes(READ_ACL_OBJECT));
}

#[test]
fn an_instance_target_accepts_a_wrapping_object_instance_tlv() {
    let wrapped = bytes("08 02 12 c1 00 03 c1 01 00 87 02 41 7f 07 61 01 36 01 c1 03 7f");
    let bare = bytes("c1 00 03 c1 01 00 87 02 41 7f 07 61 01 36 01 c1 03 7f");
    let expected: Vec<Record> = acl_records().into_iter().skip(4).collect();
    assert_eq!(decode(&wrapped, "/2/2").unwrap(), expected);
    assert_eq!(decode(&bare, "/2/2").unwrap(), expected);
    assert_eq!(encode(&expected, "/2/2").unwrap(), bare);
    assert!(matches!(decode(&wrapped, "/2/3"), Err(FormatError::Invalid { .. })));
}

#[test]
fn an_object_target_takes_bare_resources_only_for_a_single_instance_object() {
    let records = decode(&bytes(MANUFACTURER), "/3").unwrap();
    assert_eq!(records, vec![rec("/3/0/0", Value::String("Open Mobile Alliance".into()))]);
    let err = decode(&bytes("c1 00 03"), "/2").unwrap_err();
    assert!(matches!(err, FormatError::Invalid { .. }), "{err}");
    assert!(decode(&bytes("c1 00 03"), "/4242").is_err());
}

#[test]
fn multiple_resources_and_resource_instances_as_targets() {
    let mr = bytes("87 07 41 00 01 42 01 13 88");
    let expected = vec![rec("/3/0/7/0", Value::Integer(1)), rec("/3/0/7/1", Value::Integer(5000))];
    assert_eq!(decode(&mr, "/3/0/7").unwrap(), expected);
    // A non-canonical 8-bit length field is accepted too.
    assert_eq!(decode(&bytes("88 07 07 41 00 01 42 01 13 88"), "/3/0/7").unwrap(), expected);
    assert_eq!(encode(&expected, "/3/0/7").unwrap(), mr);
    // Bare resource instances for a resource target.
    assert_eq!(decode(&bytes("41 00 01 42 01 13 88"), "/3/0/7").unwrap(), expected);
    // One resource instance, alone or wrapped.
    let single = vec![rec("/3/0/7/1", Value::Integer(5000))];
    assert_eq!(decode(&bytes("42 01 13 88"), "/3/0/7/1").unwrap(), single);
    assert_eq!(decode(&bytes("84 07 42 01 13 88"), "/3/0/7/1").unwrap(), single);
    assert_eq!(encode(&single, "/3/0/7/1").unwrap(), bytes("42 01 13 88"));
    // An empty multiple resource: no records, and zero records encode back to it.
    assert_eq!(decode(&bytes("80 07"), "/3/0/7").unwrap(), vec![]);
    assert_eq!(encode(&[], "/3/0/7").unwrap(), bytes("80 07"));
    assert!(matches!(decode(&bytes("42 02 13 88"), "/3/0/7/1"), Err(FormatError::Invalid { .. })));
}

#[test]
fn truncated_tlvs_are_refused_with_their_offset() {
    let payload = bytes(MANUFACTURER);
    for cut in 1..payload.len() {
        let err = decode(&payload[..cut], "/3/0/0").unwrap_err();
        assert!(matches!(err, FormatError::Malformed { offset: 0, .. }), "cut {cut}: {err}");
    }
    // A 16-bit identifier missing its second byte.
    assert!(matches!(decode(&bytes("e4 16"), "/3303/0/5700"), Err(FormatError::Malformed { offset: 0, .. })));
}

#[test]
fn a_length_past_the_end_of_its_container_is_refused() {
    // The object instance holds 14 bytes; its multiple resource claims 7 of the 6 left inside it.
    let mut payload = bytes(READ_ACL_OBJECT);
    payload[9] = 0x87;
    let err = decode(&payload, "/2").unwrap_err();
    assert_eq!(
        err,
        FormatError::Malformed { format: "tlv", offset: 9, reason: "tlv length 7 exceeds the 6 bytes left".into() }
    );
    // 24-bit length of 16 MiB with 2 bytes behind it: refused before anything is allocated.
    assert!(matches!(decode(&bytes("d8 00 ff ff ff 41 42"), "/3/0/0"), Err(FormatError::Malformed { offset: 0, .. })));
}

#[test]
fn bad_utf8_in_a_string_is_refused_at_its_byte() {
    let err = decode(&bytes("c3 00 41 ff 42"), "/3/0/0").unwrap_err();
    assert!(matches!(err, FormatError::Malformed { offset: 3, .. }), "{err}");
}

#[test]
fn values_of_the_wrong_width_are_refused() {
    for (payload, path) in [
        ("c3 09 01 02 03", "/3/0/9"),       // 3-byte integer
        ("c0 09", "/3/0/9"),                // empty integer
        ("c2 16 44 00 00", "/3303/0/5700"), // 2-byte float
        ("c1 04 02", "/32769/0/4"),         // boolean 2
        ("c3 07 00 42 00", "/32769/0/7"),   // 3-byte object link
        ("c1 09 00", "/32769/0/9"),         // executable with a value
    ] {
        let payload = payload.replace("c2 16 44", "e2 16 44");
        let err = decode(&bytes(&payload), path).unwrap_err();
        assert!(matches!(err, FormatError::Malformed { .. }), "{payload}: {err}");
    }
}

#[test]
fn structural_mistakes_are_refused() {
    for (payload, path, why) in [
        ("c1 00 01 c1 01 00", "/2/0/0", "a second tlv after the single resource"),
        ("88 07 03 c1 00 01", "/3/0/7", "a resource tlv inside a multiple resource"),
        ("08 00 05 08 01 02 c1 00", "/2", "an object instance inside an object instance"),
        ("41 00 01", "/2/0", "a resource instance directly in an instance"),
        ("08 00 00 c1 00 01", "/2", "a resource next to object instances"),
        ("c1 00 01 c1 00 02", "/2/0", "the same resource twice"),
        ("", "/3/0/0", "nothing for a resource target"),
        ("c1 00 01", "/", "a root target"),
        ("c1 01 01", "/2/0/0", "a resource with another id than the target"),
    ] {
        assert!(decode(&bytes(payload), path).is_err(), "{why}");
    }
}

#[test]
fn encoding_refuses_records_that_do_not_fit_the_target_or_the_model() {
    let cases: Vec<(Vec<Record>, &str, &str)> = vec![
        (vec![rec("/3/0/0", Value::String("x".into()))], "/3/1", "outside the target"),
        (vec![rec("/3/0/7", Value::Integer(1))], "/3/0", "a multi-instance resource as one value"),
        (vec![rec("/3/0/9/0", Value::Integer(1))], "/3/0", "an instance of a single resource"),
        (vec![rec("/3/0", Value::Integer(1))], "/3", "a record naming an instance"),
        (vec![rec("/3/0/0", Value::String("a".into())), rec("/3/0/0", Value::String("b".into()))], "/3/0", "duplicate"),
        (vec![rec("/3/0/99", Value::Integer(1)), rec("/3/0/99/1", Value::Integer(1))], "/3/0", "mixed shapes"),
        (vec![], "/3/0/0", "no record for a resource target"),
        (vec![rec("/3/0/0", Value::String("x".into()))], "/", "the root"),
    ];
    for (records, to, why) in cases {
        assert!(encode(&records, to).is_err(), "{why}");
    }
}

#[test]
fn the_tlv_shape_must_agree_with_the_model_multiplicity() {
    // A plain resource TLV for the multi-instance /3/0/7, and a multiple resource for /3/0/9.
    assert!(matches!(decode(&bytes("c1 07 01"), "/3/0"), Err(FormatError::Invalid { .. })));
    assert!(matches!(decode(&bytes("83 09 41 00 01"), "/3/0"), Err(FormatError::Invalid { .. })));
    assert!(matches!(decode(&bytes("41 00 01"), "/3/0/9"), Err(FormatError::Invalid { .. })));
    // A resource the model does not know takes either shape.
    assert_eq!(decode(&bytes("83 63 41 00 01"), "/3/0").unwrap(), vec![rec("/3/0/99/0", Value::Opaque(vec![1]))]);
}

/// Deterministic xorshift64 so failures replay.
fn next(state: &mut u64) -> u64 {
    *state ^= *state << 13;
    *state ^= *state >> 7;
    *state ^= *state << 17;
    *state
}

#[test]
fn mutated_payloads_never_panic_and_what_decodes_re_encodes_to_the_same_records() {
    let seeds = [MANUFACTURER, READ_ACL_OBJECT, "e4 16 44 41 b4 00 00", "87 07 41 00 01 42 01 13 88", "c3 63 01 02 03"];
    let seeds: Vec<Vec<u8>> = seeds.iter().map(|s| bytes(s)).collect();
    let targets = ["/2", "/2/0", "/2/2", "/3", "/3/0", "/3/0/0", "/3/0/7", "/3/0/7/1", "/3303/0/5700", "/32769/0"];
    let mut state = 0x2545_F491_4F6C_DD1D_u64;
    let mut decoded = 0;
    for round in 0..4000 {
        let mut payload = seeds[(next(&mut state) % seeds.len() as u64) as usize].clone();
        for _ in 0..=(next(&mut state) % 3) {
            let at = (next(&mut state) % payload.len().max(1) as u64) as usize;
            match next(&mut state) % 4 {
                0 => payload.truncate(at),
                1 => payload.insert(at.min(payload.len()), next(&mut state) as u8),
                _ if at < payload.len() => payload[at] ^= 1 << (next(&mut state) % 8),
                _ => {}
            }
        }
        for to in targets {
            let Ok(mut records) = decode(&payload, to) else { continue };
            // The encoder writes in path order, whatever order the payload had.
            records.sort_by_key(|r| r.path.path.ids());
            decoded += 1;
            let again = encode(&records, to).unwrap_or_else(|e| panic!("round {round} {to}: {e}"));
            let mut back = decode(&again, to).unwrap_or_else(|e| panic!("round {round} {to}: {e}"));
            back.sort_by_key(|r| r.path.path.ids());
            assert_eq!(format!("{back:?}"), format!("{records:?}"), "round {round} {to}");
        }
    }
    assert!(decoded > 500, "only {decoded} mutated payloads decoded");
}
