//! Inventory (DI-001, DI-002): a distant server reads what the gateway knows about each
//! End-Device (object 33001) and the summary (object 33002) like any object.

mod support;

use std::time::Duration;

use coap::ContentFormat;
use lwm2m::{EndpointName, Value, Version};
use lwm2m_server::{Content, DmRequest, ServerEvent};
use support::*;

fn read(w: &mut World, path: &str) -> Vec<lwm2m::Record> {
    let request = DmRequest::Read { path: path.parse().expect("path"), format: Some(ContentFormat::SENML_JSON) };
    let answer = w.ask(0, "gw", request).expect("answer");
    match answer.content {
        Content::Records(records) => records,
        other => panic!("records expected, got {other:?}"),
    }
}

#[test]
fn the_inventory_describes_each_device_and_the_summary_counts_them() {
    let mut w = registered_world(40);
    w.add_device("sensor-a", 20.0);
    let b = w.add_device_with("sleepy", Version::V1_1, 600, "UQ", 18.0, Vec::new());
    w.wait_north(0, |e| matches!(e, ServerEvent::EndDeviceRegistered { end_device, .. } if end_device.endpoint.as_str() == "sleepy"));
    let records = read(&mut w, "/33001/0");
    assert_eq!(value_at(&records, "/33001/0/0"), Some(Value::String("sensor-a".into())));
    assert_eq!(value_at(&records, "/33001/0/1"), Some(Value::String("proxy".into())));
    assert_eq!(value_at(&records, "/33001/0/2"), Some(Value::String("connected".into())));
    assert_eq!(value_at(&records, "/33001/0/3"), Some(Value::String("Active".into())));
    assert_eq!(value_at(&records, "/33001/0/5"), Some(Value::Integer(300)));
    assert_eq!(value_at(&records, "/33001/0/7"), Some(Value::String("1.1".into())));
    assert_eq!(value_at(&records, "/33001/0/9"), Some(Value::ObjLnk(25, 0)));
    assert_eq!(value_at(&records, "/33001/0/10"), Some(Value::String("d1".into())));
    let address = w.sim.addr(w.devices[0].1).to_string();
    assert_eq!(value_at(&records, "/33001/0/8"), Some(Value::String(address)));
    let records = read(&mut w, "/33001/1");
    assert_eq!(value_at(&records, "/33001/1/6"), Some(Value::String("UQ".into())), "{records:?}");
    // The queue-mode device falls asleep; the other one goes quiet for longer than the idle window.
    w.sim.run_for(Duration::from_secs(400), |_| {});
    let entry = w.gateway().inventory_entry(&EndpointName::new("sleepy").expect("valid")).expect("known");
    assert!(entry.sleeping, "{entry:?}");
    let now = w.sim.now();
    w.sim[b].deregister_all(now);
    w.wait_north(0, |e| matches!(e, ServerEvent::EndDeviceRemoved { .. }));
    let records = read(&mut w, "/33002/0");
    assert_eq!(value_at(&records, "/33002/0/0"), Some(Value::Integer(2)), "{records:?}");
    assert_eq!(value_at(&records, "/33002/0/1"), Some(Value::Integer(1)));
    assert_eq!(value_at(&records, "/33002/0/2"), Some(Value::Integer(1)));
    assert_eq!(value_at(&records, "/33002/0/6"), Some(Value::Integer(2)));
    let records = read(&mut w, "/33001/1");
    assert_eq!(value_at(&records, "/33001/1/2"), Some(Value::String("disconnected".into())));
    assert_eq!(value_at(&records, "/33001/1/9"), Some(Value::ObjLnk(65535, 65535)));
}
