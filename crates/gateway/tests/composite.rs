//! Composite operations mixing the gateway and several End-Devices (Gateway TS §8.3.2): the
//! gateway splits them per device and merges the answers.

mod support;

use coap::{Code, ContentFormat};
use lwm2m::{Path, Prefix, PrefixedPath, Record, Value};
use lwm2m_client::ResourceValue;
use lwm2m_server::{Content, DmRequest, ServerEvent};
use support::*;

fn prefixed(prefix: &str, path: &str) -> PrefixedPath {
    PrefixedPath { prefix: Some(Prefix::new(prefix).expect("prefix")), path: path.parse().expect("path") }
}

#[test]
fn read_composite_merges_the_gateway_and_two_devices() {
    let mut w = registered_world(30);
    w.add_device("sensor-a", 20.0);
    w.add_device("sensor-b", 25.0);
    let paths = vec![
        prefixed("d1", "/3303/0/5700"),
        PrefixedPath::plain("/3/0/2".parse().expect("path")),
        prefixed("d2", "/3303/0/5700"),
        prefixed("d2", "/3/0/2"),
    ];
    for format in [ContentFormat::SENML_JSON, ContentFormat::SENML_CBOR] {
        let read = DmRequest::ReadComposite { paths: paths.clone(), format: Some(format) };
        let answer = w.ask(0, "gw", read).expect("answer");
        assert_eq!(answer.code, Code::CONTENT);
        let Content::Records(records) = answer.content else { panic!("records expected") };
        assert_eq!(value_at(&records, "/d1/3303/0/5700"), Some(Value::Float(20.0)), "{records:?}");
        assert_eq!(value_at(&records, "/d2/3303/0/5700"), Some(Value::Float(25.0)));
        assert_eq!(value_at(&records, "/3/0/2"), Some(Value::String("GW-1".into())));
        assert_eq!(value_at(&records, "/d2/3/0/2"), Some(Value::String("sensor-b".into())));
    }
}

#[test]
fn a_composite_naming_an_unknown_prefix_is_not_found() {
    let mut w = registered_world(31);
    w.add_device("sensor-a", 20.0);
    let paths = vec![prefixed("d1", "/3303/0/5700"), prefixed("zz", "/3/0")];
    let read = DmRequest::ReadComposite { paths, format: Some(ContentFormat::SENML_JSON) };
    // The names mix a device prefix (so the gateway takes the request) and an unknown one.
    assert_eq!(w.ask(0, "gw", read).expect("answer").code, Code::NOT_FOUND);
}

#[test]
fn write_composite_reaches_two_devices() {
    let mut w = registered_world(32);
    let a = w.add_device("sensor-a", 20.0);
    let b = w.add_device("sensor-b", 25.0);
    let records = vec![
        Record::new(prefixed("d1", "/3303/0/5750"), Value::String("hall".into())),
        Record::new(prefixed("d2", "/3303/0/5750"), Value::String("attic".into())),
    ];
    let write = DmRequest::WriteComposite { records, format: Some(ContentFormat::SENML_CBOR) };
    assert_eq!(w.ask(0, "gw", write).expect("answer").code, Code::CHANGED);
    let now = w.sim.now();
    assert_eq!(w.sim[a].tree().resource(now, 3303, 0, 5750), Some(ResourceValue::Single(Value::String("hall".into()))));
    assert_eq!(
        w.sim[b].tree().resource(now, 3303, 0, 5750),
        Some(ResourceValue::Single(Value::String("attic".into())))
    );
}

#[test]
fn observe_composite_across_two_devices_notifies_on_each_change() {
    let mut w = registered_world(33);
    w.add_device("sensor-a", 20.0);
    let b = w.add_device("sensor-b", 25.0);
    let paths = vec![prefixed("d1", "/3303/0/5700"), prefixed("d2", "/3303/0/5700")];
    let observe = DmRequest::ObserveComposite { paths, format: Some(ContentFormat::SENML_JSON) };
    let answer = w.ask(0, "gw", observe).expect("answer");
    assert_eq!(answer.code, Code::CONTENT);
    let observation = answer.observation.expect("observation established");
    let now = w.sim.now();
    w.sim[b].set_value(now, Path::Resource(3303, 0, 5700), Value::Float(26.5)).expect("set");
    let event = w.wait_north(0, |e| matches!(e, ServerEvent::Notification { observation: o, .. } if *o == observation));
    let ServerEvent::Notification { records, .. } = event else { unreachable!() };
    assert_eq!(value_at(&records, "/d2/3303/0/5700"), Some(Value::Float(26.5)), "{records:?}");
    assert_eq!(value_at(&records, "/d1/3303/0/5700"), Some(Value::Float(20.0)));
}

#[test]
fn write_composite_mixing_a_device_and_the_gateway_reporting_setting_applies_both() {
    let mut w = registered_world(34);
    let a = w.add_device("sensor-a", 20.0);
    let records = vec![
        Record::new(prefixed("d1", "/3303/0/5750"), Value::String("porch".into())),
        Record::new(PrefixedPath::plain("/33000/1/1".parse().expect("path")), Value::Boolean(false)),
    ];
    let write = DmRequest::WriteComposite { records, format: Some(ContentFormat::SENML_JSON) };
    assert_eq!(w.ask(0, "gw", write).expect("answer").code, Code::CHANGED);
    let now = w.sim.now();
    assert_eq!(
        w.sim[a].tree().resource(now, 3303, 0, 5750),
        Some(ResourceValue::Single(Value::String("porch".into())))
    );
    assert_eq!(w.gateway().state().reporting.get(&1), Some(&false));
}

#[test]
fn write_composite_may_not_touch_the_gateway_server_accounts() {
    let mut w = registered_world(35);
    let a = w.add_device("sensor-a", 20.0);
    let records = vec![
        Record::new(prefixed("d1", "/3303/0/5750"), Value::String("porch".into())),
        Record::new(PrefixedPath::plain("/1/0/1".parse().expect("path")), Value::Integer(5)),
    ];
    let write = DmRequest::WriteComposite { records, format: Some(ContentFormat::SENML_JSON) };
    assert_eq!(w.ask(0, "gw", write).expect("answer").code, Code::METHOD_NOT_ALLOWED);
    let now = w.sim.now();
    assert_eq!(w.sim[a].tree().resource(now, 3303, 0, 5750), None, "nothing was written");
}
