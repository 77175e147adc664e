//! End-Device life: object-list changes refresh `/25/x/3`, Send is forwarded north with
//! prefixed names, queue-mode devices are served when they wake (or 5.03 after the bound), and
//! Device IDs follow the configured pattern.

mod support;

use std::collections::BTreeMap;
use std::time::Duration;

use coap::{Code, ContentFormat};
use gateway::GatewayConfig;
use lwm2m::{EndpointName, Path, Value, Version};
use lwm2m_client::{ResourceValue, ServerId};
use lwm2m_server::{Content, DmRequest, RequestOptions, ServerEvent};
use support::*;

#[test]
fn a_device_update_with_new_objects_refreshes_its_25_instance() {
    let mut w = registered_world(60);
    let dev = w.add_device("sensor-a", 20.0);
    let now = w.sim.now();
    let values = BTreeMap::from([(5700, ResourceValue::Single(Value::Float(1.0)))]);
    w.sim[dev].tree_mut().object_mut(3303).expect("object").create(now, 7, values).expect("created");
    w.sim[dev].objects_changed(now);
    let event = w.wait_north(0, |e| matches!(e, ServerEvent::EndDeviceUpdated { .. }));
    let ServerEvent::EndDeviceUpdated { end_device, .. } = event else { unreachable!() };
    assert!(end_device.objects.object(3303).is_some_and(|o| o.instances.contains(&7)), "{:?}", end_device.objects);
    assert_eq!(end_device.prefix.as_str(), "d1");
}

#[test]
fn a_device_send_is_forwarded_north_with_prefixed_names() {
    let mut w = registered_world(61);
    w.add_device("sensor-a", 20.0);
    let dev = w.add_device("sensor-b", 23.0);
    let now = w.sim.now();
    w.sim[dev].send(now, ServerId(1), &[Path::Resource(3303, 0, 5700)]).expect("send accepted");
    let event = w.wait_north(0, |e| matches!(e, ServerEvent::Send { .. }));
    let ServerEvent::Send { endpoint, records } = event else { unreachable!() };
    assert_eq!(endpoint.as_str(), "gw");
    assert_eq!(value_at(&records, "/d2/3303/0/5700"), Some(Value::Float(23.0)), "{records:?}");
}

#[test]
fn a_request_for_a_sleeping_device_is_answered_when_it_wakes() {
    let mut w = registered_world(62);
    let dev = w.add_device_with("sleepy", Version::V1_1, 600, "UQ", 18.0, Vec::new());
    w.wait_north(0, |e| matches!(e, ServerEvent::EndDeviceRegistered { .. }));
    let ep = EndpointName::new("sleepy").expect("valid");
    w.sim.run_until(
        |s| s[dev].poll_event().is_some_and(|e| matches!(e, lwm2m_client::ClientEvent::Sleeping { .. })),
        WAIT,
    );
    w.sim.run_for(Duration::from_secs(5), |_| {});
    assert!(w.gateway().inventory_entry(&ep).is_some_and(|e| e.sleeping), "the gateway sees the device asleep");
    // Record what the gateway sends north: an empty ACK first, the answer later.
    let north_messages = std::rc::Rc::new(std::cell::RefCell::new(Vec::new()));
    let seen = north_messages.clone();
    let (gw, north) = (w.gw, w.norths[0].node);
    w.sim.link(gw, north).intercept(move |bytes| {
        if let Ok(message) = coap::Message::decode(bytes) {
            seen.borrow_mut().push((message.mtype, message.code));
        }
        sim::Verdict::Pass
    });
    let read = DmRequest::Read { path: "/3303/0/5700".parse().expect("path"), format: Some(ContentFormat::SENML_JSON) };
    let asked_at = w.sim.now();
    let id = w.server(0).send(asked_at, &ep, read, RequestOptions::default()).expect("accepted");
    w.sim.run_for(Duration::from_secs(20), |_| {});
    assert_eq!(
        *north_messages.borrow(),
        vec![(coap::MessageType::Acknowledgement, Code::EMPTY)],
        "only the empty ACK while the device sleeps"
    );
    let now = w.sim.now();
    w.sim[dev].update(now, ServerId(1));
    let answer = w.answer_of(0, id).expect("answer");
    assert_eq!(answer.code, Code::CONTENT);
    assert!(w.sim.now() >= asked_at + Duration::from_secs(20));
    let Content::Records(records) = answer.content else { panic!("records expected") };
    assert_eq!(value_at(&records, "/d1/3303/0/5700"), Some(Value::Float(18.0)));
    assert!(
        north_messages.borrow().contains(&(coap::MessageType::Confirmable, Code::CONTENT)),
        "the separate response: {:?}",
        north_messages.borrow()
    );
}

#[test]
fn a_device_that_sleeps_past_the_bound_is_answered_service_unavailable() {
    let config = GatewayConfig { queue_wait: Duration::from_secs(30), ..GatewayConfig::default() };
    let mut w = world(63, 1, config);
    w.wait_north(0, |e| matches!(e, ServerEvent::Registered { .. }));
    let dev = w.add_device_with("sleepy", Version::V1_1, 600, "UQ", 18.0, Vec::new());
    w.wait_north(0, |e| matches!(e, ServerEvent::EndDeviceRegistered { .. }));
    w.sim.run_until(
        |s| s[dev].poll_event().is_some_and(|e| matches!(e, lwm2m_client::ClientEvent::Sleeping { .. })),
        WAIT,
    );
    w.sim.run_for(Duration::from_secs(5), |_| {});
    let ep = EndpointName::new("sleepy").expect("valid");
    let read = DmRequest::Read { path: "/3303/0/5700".parse().expect("path"), format: None };
    let asked_at = w.sim.now();
    let id = w.server(0).send(asked_at, &ep, read, RequestOptions::default()).expect("accepted");
    let answer = w.answer_of(0, id).expect("answer");
    assert_eq!(answer.code, Code::SERVICE_UNAVAILABLE);
    assert!(w.sim.now() >= asked_at + Duration::from_secs(30));
}

#[test]
fn the_device_id_follows_the_configured_urn_pattern() {
    let config = GatewayConfig {
        device_id_pattern: "urn:dev:os:{ep}".to_owned(),
        prefix_pattern: "node{n}".to_owned(),
        ..GatewayConfig::default()
    };
    let mut w = world(64, 1, config);
    w.wait_north(0, |e| matches!(e, ServerEvent::Registered { .. }));
    w.add_device_with("sensor-a", Version::V1_1, 300, "U", 20.0, Vec::new());
    let event = w.wait_north(0, |e| matches!(e, ServerEvent::EndDeviceRegistered { .. }));
    let ServerEvent::EndDeviceRegistered { end_device, .. } = event else { unreachable!() };
    assert_eq!(end_device.endpoint.as_str(), "urn:dev:os:sensor-a");
    assert_eq!(end_device.prefix.as_str(), "node1");
    let read = DmRequest::Read { path: "/3/0/2".parse().expect("path"), format: Some(ContentFormat::SENML_JSON) };
    let answer = w.ask(0, "urn:dev:os:sensor-a", read).expect("answer");
    let Content::Records(records) = answer.content else { panic!("records expected") };
    assert_eq!(value_at(&records, "/node1/3/0/2"), Some(Value::String("sensor-a".into())));
}
