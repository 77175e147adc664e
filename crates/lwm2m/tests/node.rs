//! The node tree built from decoded records and its JSON in the shape of Leshan's demo server
//! (`JacksonLwM2mNodeSerializer` / `JacksonLwM2mNodeDeserializer`).

use std::collections::BTreeMap;

use lwm2m::format::senml_json;
use lwm2m::{
    DataType, MultipleResource, Node, NodeError, Object, ObjectInstance, Path, Prefix, PrefixedPath, Record, Registry,
    Resource, ResourceInstance, SingleResource, Value,
};
use serde_json::json;

fn registry() -> &'static Registry {
    Registry::bundled_ref()
}

fn record(path: &str, value: Value) -> Record {
    Record::new(path.parse().unwrap(), value)
}

fn path(text: &str) -> Path {
    text.parse().unwrap()
}

/// The SenML read answer of the Core TS (§7.4.4 via the notes §3.5).
fn device_records() -> Vec<Record> {
    let payload = br#"[{"bn":"/3/0/","n":"0","vs":"Open Mobile Alliance"},{"n":"9","v":100},{"n":"6/0","v":1},{"n":"6/1","v":5}]"#;
    senml_json::decode(payload, &"/3/0".parse().unwrap(), registry()).unwrap()
}

#[test]
fn a_senml_read_of_an_instance_becomes_an_instance_node() {
    let node = Node::from_records(&path("/3/0"), &device_records(), registry()).unwrap();
    let Node::ObjectInstance(instance) = &node else { panic!("{node:?}") };
    assert_eq!(instance.id, 0);
    assert_eq!(
        instance.resources.get(&0),
        Some(&Resource::Single(SingleResource { id: 0, value: Value::String("Open Mobile Alliance".into()) }))
    );
    assert_eq!(
        instance.resources.get(&9),
        Some(&Resource::Single(SingleResource { id: 9, value: Value::Integer(100) }))
    );
    assert_eq!(
        instance.resources.get(&6),
        Some(&Resource::Multiple(MultipleResource {
            id: 6,
            data_type: DataType::Integer,
            instances: BTreeMap::from([(0, Value::Integer(1)), (1, Value::Integer(5))]),
        }))
    );
    // Records come back in tree order: by resource ID, then resource-instance ID.
    let mut expected = device_records();
    expected.sort_by_key(|r| r.path.path.ids());
    assert_eq!(node.to_records(&path("/3/0")).unwrap(), expected);
}

#[test]
fn instance_json_has_leshans_shape() {
    let node = Node::from_records(&path("/3/0"), &device_records(), registry()).unwrap();
    let expected = json!({
        "kind": "instance",
        "id": 0,
        "resources": [
            {"kind": "singleResource", "id": 0, "type": "STRING", "value": "Open Mobile Alliance"},
            {"kind": "multiResource", "id": 6, "type": "INTEGER", "values": {"0": "1", "1": "5"}},
            {"kind": "singleResource", "id": 9, "type": "INTEGER", "value": "100"},
        ],
    });
    assert_eq!(node.to_json(), expected);
    assert_eq!(Node::from_json(&expected).unwrap(), node);
}

#[test]
fn object_and_root_targets_gather_every_instance() {
    let records = vec![
        record("/3303/0/5700", Value::Float(21.5)),
        record("/3303/1/5700", Value::Float(-3.0)),
        record("/3303/1/5701", Value::String("Cel".into())),
    ];
    let node = Node::from_records(&path("/3303"), &records, registry()).unwrap();
    let Node::Object(object) = &node else { panic!("{node:?}") };
    assert_eq!(object.instances.keys().copied().collect::<Vec<_>>(), [0, 1]);
    assert_eq!(
        node.to_json(),
        json!({"kind": "obj", "id": 3303, "instances": [
            {"kind": "instance", "id": 0, "resources": [
                {"kind": "singleResource", "id": 5700, "type": "FLOAT", "value": "21.5"}]},
            {"kind": "instance", "id": 1, "resources": [
                {"kind": "singleResource", "id": 5700, "type": "FLOAT", "value": "-3.0"},
                {"kind": "singleResource", "id": 5701, "type": "STRING", "value": "Cel"}]},
        ]})
    );
    assert_eq!(node.to_records(&path("/3303")).unwrap(), records);

    let mut all = records.clone();
    all.push(record("/3/0/0", Value::String("M".into())));
    let root = Node::from_records(&Path::Root, &all, registry()).unwrap();
    let Node::Root(objects) = &root else { panic!("{root:?}") };
    assert_eq!(objects.keys().copied().collect::<Vec<_>>(), [3, 3303]);
    assert_eq!(root.to_json()["kind"], "root");
    assert_eq!(root.to_json()["objects"][0]["id"], 3);
    assert_eq!(Node::from_json(&root.to_json()).unwrap(), root);
}

#[test]
fn empty_containers_are_valid_nodes() {
    let object = Node::from_records(&path("/3303"), &[], registry()).unwrap();
    assert_eq!(object, Node::Object(Object { id: 3303, instances: BTreeMap::new() }));
    assert_eq!(object.to_json(), json!({"kind": "obj", "id": 3303, "instances": []}));
    let instance = Node::from_records(&path("/3/0"), &[], registry()).unwrap();
    assert_eq!(instance, Node::ObjectInstance(ObjectInstance { id: 0, resources: BTreeMap::new() }));
    // A multi-instance resource may have no instance; its type comes from the model.
    let multiple = Node::from_records(&path("/3/0/7"), &[], registry()).unwrap();
    assert_eq!(multiple.to_json(), json!({"kind": "multiResource", "id": 7, "type": "INTEGER", "values": {}}));
    // A single resource or a resource instance without value is not a node.
    assert_eq!(Node::from_records(&path("/3/0/0"), &[], registry()), Err(NodeError::Empty(path("/3/0/0"))));
    assert!(Node::from_records(&path("/3/0/7/0"), &[], registry()).is_err());
    assert!(Node::from_records(&path("/32000/0/1"), &[], registry()).is_err(), "unknown model: no shape");
}

#[test]
fn resource_and_resource_instance_targets() {
    let records = vec![record("/3/0/7/0", Value::Integer(3800)), record("/3/0/7/1", Value::Integer(5000))];
    let multi = Node::from_records(&path("/3/0/7"), &records, registry()).unwrap();
    assert_eq!(
        multi.to_json(),
        json!({"kind": "multiResource", "id": 7, "type": "INTEGER", "values": {"0": "3800", "1": "5000"}})
    );
    assert_eq!(multi.to_records(&path("/3/0/7")).unwrap(), records);

    let ri = Node::from_records(&path("/3/0/7/1"), &records[1..], registry()).unwrap();
    assert_eq!(ri, Node::ResourceInstance(ResourceInstance { id: 1, value: Value::Integer(5000) }));
    assert_eq!(ri.to_json(), json!({"kind": "resourceInstance", "id": 1, "type": "INTEGER", "value": "5000"}));
    assert_eq!(ri.to_records(&path("/3/0/7/1")).unwrap(), records[1..]);

    let single = Node::from_records(&path("/3/0/9"), &[record("/3/0/9", Value::Integer(88))], registry()).unwrap();
    assert_eq!(single.to_json(), json!({"kind": "singleResource", "id": 9, "type": "INTEGER", "value": "88"}));
}

#[test]
fn without_a_model_resource_instance_paths_make_a_multiple_resource() {
    let records = vec![record("/32000/0/1/4", Value::String("a".into())), record("/32000/0/2", Value::Boolean(true))];
    let node = Node::from_records(&path("/32000/0"), &records, &Registry::empty()).unwrap();
    let Node::ObjectInstance(instance) = node else { panic!() };
    assert!(matches!(instance.resources.get(&1), Some(Resource::Multiple(m)) if m.data_type == DataType::String));
    assert!(matches!(instance.resources.get(&2), Some(Resource::Single(_))));
}

#[test]
fn records_that_do_not_make_a_tree_are_refused() {
    let cases: [(&str, Vec<Record>, &str); 8] = [
        ("/3/0", vec![record("/3/1/0", Value::String("x".into()))], "record /3/1/0 is not under the target /3/0"),
        (
            "/3/0",
            vec![record("/3/0", Value::String("x".into()))],
            "record /3/0 is not a resource or resource instance path",
        ),
        (
            "/3/0",
            vec![record("/3/0/9", Value::Integer(1)), record("/3/0/9", Value::Integer(2))],
            "record /3/0/9 appears twice",
        ),
        (
            "/3/0",
            vec![record("/3/0/7/0", Value::Integer(1)), record("/3/0/7/0", Value::Integer(2))],
            "record /3/0/7/0 appears twice",
        ),
        ("/3/0", vec![record("/3/0/7", Value::Integer(1))], "resource /3/0/7 is multi-instance in its model"),
        (
            "/3/0",
            vec![record("/3/0/0/1", Value::String("x".into()))],
            "resource /3/0/0 is single-instance in its model",
        ),
        (
            "/3/0",
            vec![record("/3/0/7/0", Value::Integer(1)), record("/3/0/7/1", Value::String("x".into()))],
            "resource /3/0/7 holds values of different types",
        ),
        (
            "/3/0",
            vec![record("/3/0/0", Value::String("x".into())), record("/d01/3/0/1", Value::String("y".into()))],
            "records carry different gateway prefixes",
        ),
    ];
    for (target, records, expected) in cases {
        let err = Node::from_records(&path(target), &records, registry()).unwrap_err().to_string();
        assert!(err.starts_with(expected), "{target} {records:?}: {err}");
    }
    let mixed = vec![record("/32000/0/1", Value::Integer(1)), record("/32000/0/1/0", Value::Integer(2))];
    let err = Node::from_records(&path("/32000"), &mixed, &Registry::empty()).unwrap_err();
    assert!(matches!(err, NodeError::Shape { .. }), "{err}");
}

#[test]
fn a_shared_gateway_prefix_is_dropped_and_can_be_put_back() {
    let records =
        vec![record("/d01/3303/0/5700", Value::Float(20.0)), record("/d01/3303/0/5701", Value::String("Cel".into()))];
    let node = Node::from_records(&path("/3303/0"), &records, registry()).unwrap();
    let plain = node.to_records(&path("/3303/0")).unwrap();
    assert!(plain.iter().all(|r| r.path.prefix.is_none()));
    let d01 = Prefix::new("d01").unwrap();
    assert_eq!(node.to_prefixed_records(&path("/3303/0"), &d01).unwrap(), records);
}

#[test]
fn a_node_flattened_at_the_wrong_path_is_refused() {
    let node = Node::from_records(&path("/3/0"), &device_records(), registry()).unwrap();
    for wrong in ["/3/1", "/3", "/3/0/0", "/"] {
        let err = node.to_records(&path(wrong)).unwrap_err();
        assert!(matches!(err, NodeError::WrongPath { kind: "instance", .. }), "{wrong}: {err}");
    }
}

#[test]
fn every_value_type_is_written_as_leshan_writes_it() {
    let cases = [
        (Value::String("s".into()), "STRING", json!("s")),
        (Value::Integer(-9_007_199_254_740_993), "INTEGER", json!("-9007199254740993")),
        (Value::Unsigned(u64::MAX), "UNSIGNED_INTEGER", json!("18446744073709551615")),
        (Value::Float(42.0), "FLOAT", json!("42.0")),
        (Value::Float(0.1), "FLOAT", json!("0.1")),
        (Value::Boolean(true), "BOOLEAN", json!(true)),
        (Value::Opaque(vec![0xde, 0xad, 0x01]), "OPAQUE", json!("dead01")),
        (Value::Time(1_700_000_000), "TIME", json!(1_700_000_000_000_i64)),
        (Value::ObjLnk(3, 0), "OBJLNK", json!({"objectId": 3, "objectInstanceId": 0})),
        (Value::CoreLnk("</3/0>".into()), "CORELINK", json!("</3/0>")),
        (Value::None, "NONE", json!(null)),
    ];
    for (value, type_name, expected) in cases {
        let node = Node::SingleResource(SingleResource { id: 1, value: value.clone() });
        let json = node.to_json();
        assert_eq!(json["type"], type_name, "{value:?}");
        assert_eq!(json["value"], expected, "{value:?}");
        assert_eq!(Node::from_json(&json).unwrap(), node, "{value:?}");
    }
}

#[test]
fn reading_is_as_lenient_as_leshan() {
    // kind inferred from the fields, numbers for integers and floats, lowercase type, the extra
    // nullLink field of an ObjectLink, millisecond times floored to seconds.
    let json = json!({"id": 0, "resources": [
        {"id": 1, "type": "integer", "value": 12},
        {"id": 2, "type": "FLOAT", "value": 2.5},
        {"id": 3, "type": "OBJLNK", "value": {"objectId": 1, "objectInstanceId": 2, "nullLink": false}},
        {"id": 4, "type": "TIME", "value": 1_700_000_000_999_i64},
        {"id": 5, "type": "UNSIGNED_INTEGER", "values": {"0": 7}},
        {"id": 6, "type": "OPAQUE", "value": "ABCD"},
    ]});
    let Node::ObjectInstance(instance) = Node::from_json(&json).unwrap() else { panic!() };
    let value = |id| match instance.resources.get(&id) {
        Some(Resource::Single(s)) => s.value.clone(),
        other => panic!("{other:?}"),
    };
    assert_eq!(value(1), Value::Integer(12));
    assert_eq!(value(2), Value::Float(2.5));
    assert_eq!(value(3), Value::ObjLnk(1, 2));
    assert_eq!(value(4), Value::Time(1_700_000_000));
    assert_eq!(value(6), Value::Opaque(vec![0xab, 0xcd]));
    assert!(matches!(instance.resources.get(&5), Some(Resource::Multiple(m)) if m.instances[&0] == Value::Unsigned(7)));
}

#[test]
fn bad_json_is_refused_saying_where() {
    let cases = [
        (json!([1]), "$: expected a JSON object"),
        (json!({"kind": "nope", "id": 1}), "unknown kind"),
        (json!({"kind": "obj", "instances": []}), "missing id"),
        (json!({"kind": "obj", "id": 70000, "instances": []}), "id must be an integer"),
        (json!({"kind": "obj", "id": 1, "instances": {}}), "instances must be an array"),
        (
            json!({"kind": "obj", "id": 1, "instances": [{"kind": "singleResource", "id": 0, "type": "STRING", "value": "x"}]}),
            "$.instances[0]: expected kind instance here",
        ),
        (
            json!({"kind": "instance", "id": 0, "resources": [{"kind": "instance", "id": 1, "resources": []}]}),
            "$.resources[0]: expected kind singleResource or multiResource",
        ),
        (json!({"kind": "singleResource", "id": 0, "value": "x"}), "missing type"),
        (json!({"kind": "singleResource", "id": 0, "type": "TEXT", "value": "x"}), "unknown type"),
        (json!({"kind": "singleResource", "id": 0, "type": "STRING"}), "missing value"),
        (json!({"kind": "singleResource", "id": 0, "type": "INTEGER", "value": "1.5"}), "$.value: a INTEGER value"),
        (json!({"kind": "singleResource", "id": 0, "type": "INTEGER", "value": true}), "a INTEGER value"),
        (json!({"kind": "singleResource", "id": 0, "type": "INTEGER", "value": "99999999999999999999"}), "INTEGER"),
        (json!({"kind": "singleResource", "id": 0, "type": "UNSIGNED_INTEGER", "value": "-1"}), "UNSIGNED_INTEGER"),
        (json!({"kind": "singleResource", "id": 0, "type": "FLOAT", "value": "NaN"}), "a FLOAT value"),
        (json!({"kind": "singleResource", "id": 0, "type": "BOOLEAN", "value": "true"}), "a BOOLEAN value"),
        (json!({"kind": "singleResource", "id": 0, "type": "OPAQUE", "value": "abc"}), "a OPAQUE value"),
        (json!({"kind": "singleResource", "id": 0, "type": "TIME", "value": "1"}), "a TIME value"),
        (json!({"kind": "singleResource", "id": 0, "type": "OBJLNK", "value": "3:0"}), "a OBJLNK value"),
        (
            json!({"kind": "singleResource", "id": 0, "type": "OBJLNK", "value": {"objectId": 70000, "objectInstanceId": 0}}),
            "a OBJLNK value",
        ),
        (json!({"kind": "singleResource", "id": 0, "type": "CORELINK", "value": "</3"}), "link-format"),
        (json!({"kind": "singleResource", "id": 0, "type": "NONE", "value": 1}), "a NONE value"),
        (json!({"kind": "multiResource", "id": 0, "type": "STRING", "values": {"x": "a"}}), "$.values.x: a resource"),
        (json!({"kind": "multiResource", "id": 0, "type": "STRING", "values": []}), "values must be an object"),
        (json!({"kind": "resourceInstance", "id": 0, "type": "STRING"}), "missing value"),
        (
            json!({"kind": "instance", "id": 0, "resources": [
                {"id": 1, "type": "STRING", "value": "a"}, {"id": 1, "type": "STRING", "value": "b"}]}),
            "$.resources[1]: resource id given twice",
        ),
        (json!({"kind": "root", "objects": [{"id": 1, "instances": []}, {"id": 1, "instances": []}]}), "object id"),
        (json!({"id": 0}), "cannot tell the node kind"),
    ];
    for (json, expected) in cases {
        let err = Node::from_json(&json).unwrap_err().to_string();
        assert!(err.contains(expected), "{json}: {err}");
    }
}

#[test]
fn decoded_formats_and_json_agree_for_a_prefixed_device_read() {
    // A gateway-relayed SenML answer for /d01/3/0 (names carry the prefix, spec notes §7.3).
    let payload = br#"[{"bn":"/d01/3/0/","n":"0","vs":"M1"},{"n":"7/0","v":3800}]"#;
    let target: PrefixedPath = "/d01/3/0".parse().unwrap();
    let records = senml_json::decode(payload, &target, registry()).unwrap();
    let node = Node::from_records(&target.path, &records, registry()).unwrap();
    assert_eq!(node.to_json()["resources"][1]["values"]["0"], "3800");
    assert_eq!(node.to_prefixed_records(&target.path, target.prefix.as_ref().unwrap()).unwrap(), records);
}

#[test]
fn mutated_json_never_panics_and_what_reads_round_trips() {
    let seed = json!({"kind": "obj", "id": 3, "instances": [{"kind": "instance", "id": 0, "resources": [
        {"kind": "singleResource", "id": 0, "type": "STRING", "value": "M"},
        {"kind": "singleResource", "id": 13, "type": "TIME", "value": 1_700_000_000_000_i64},
        {"kind": "singleResource", "id": 1, "type": "OPAQUE", "value": "00ff"},
        {"kind": "multiResource", "id": 7, "type": "INTEGER", "values": {"0": "3800", "1": 5000}},
        {"kind": "singleResource", "id": 2, "type": "OBJLNK", "value": {"objectId": 1, "objectInstanceId": 0}},
    ]}]})
    .to_string()
    .into_bytes();
    let alphabet = b"{}[]\":,0123456789abcdefklnrstuvyz-.eE ";
    let mut state: u64 = 0x0de0_0000_0000_0777;
    let mut next = |n: usize| {
        state ^= state >> 12;
        state ^= state << 25;
        state ^= state >> 27;
        usize::try_from(state.wrapping_mul(0x2545_f491_4f6c_dd1d) % n as u64).unwrap()
    };
    let mut accepted = 0;
    for _ in 0..20_000 {
        let mut bytes = seed.clone();
        for _ in 0..=next(2) {
            let at = next(bytes.len());
            bytes[at] = alphabet[next(alphabet.len())];
        }
        let Ok(json) = serde_json::from_slice::<serde_json::Value>(&bytes) else { continue };
        let Ok(node) = Node::from_json(&json) else { continue };
        accepted += 1;
        assert_eq!(Node::from_json(&node.to_json()).unwrap(), node, "{}", String::from_utf8_lossy(&bytes));
    }
    assert!(accepted > 100, "{accepted}");
}

#[test]
fn ids_may_be_decimal_strings_as_leshan_reads_them() {
    let json = json!({"kind": "singleResource", "id": "5", "type": "BOOLEAN", "value": false});
    assert_eq!(
        Node::from_json(&json).unwrap(),
        Node::SingleResource(SingleResource { id: 5, value: Value::Boolean(false) })
    );
    for bad in [json!("x"), json!("-1"), json!("70000"), json!(1.5), json!(true)] {
        let json = json!({"kind": "singleResource", "id": bad, "type": "BOOLEAN", "value": false});
        assert!(Node::from_json(&json).is_err(), "{json}");
    }
}

#[test]
fn a_create_body_may_leave_the_instance_id_to_the_client() {
    let body = json!({"kind": "instance", "resources": [
        {"kind": "singleResource", "id": 5700, "type": "FLOAT", "value": "20.5"},
        {"kind": "multiResource", "id": 5750, "type": "STRING", "values": {"0": "a"}},
    ]});
    let new = lwm2m::NewInstance::from_json(&body).unwrap();
    assert_eq!(new.id, None);
    assert_eq!(
        new.to_records(3303, 65535),
        [record("/3303/65535/5700", Value::Float(20.5)), record("/3303/65535/5750/0", Value::String("a".into())),]
    );
    assert!(Node::from_json(&body).unwrap_err().to_string().contains("missing id"));
    let with_id = lwm2m::NewInstance::from_json(&json!({"kind": "instance", "id": 4, "resources": []})).unwrap();
    assert_eq!(with_id.id, Some(4));
    assert!(with_id.to_records(3303, 65535).is_empty());
}
