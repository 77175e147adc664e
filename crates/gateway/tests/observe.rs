//! Observe through the gateway (Gateway TS §8.3.1, spec notes §7.3 (5)): notifications carry
//! the northbound token and prefixed names; cancels travel both ways; a removed End-Device ends
//! its observations with 4.04.

mod support;

use std::time::Duration;

use coap::{Code, ContentFormat};
use lwm2m::{Path, Value};
use lwm2m_server::{DmRequest, ObservationId, ServerEvent};
use sim::Node;
use support::*;

fn observe_temperature(w: &mut World, ep: &str) -> ObservationId {
    let observe =
        DmRequest::Observe { path: "/3303/0/5700".parse().expect("path"), format: Some(ContentFormat::SENML_JSON) };
    let answer = w.ask(0, ep, observe).expect("answer");
    assert_eq!(answer.code, Code::CONTENT);
    answer.observation.expect("observation established")
}

fn set_temperature(w: &mut World, dev: Node<lwm2m_client::Client>, celsius: f64) {
    let now = w.sim.now();
    w.sim[dev].set_value(now, Path::Resource(3303, 0, 5700), Value::Float(celsius)).expect("set");
}

#[test]
fn a_device_value_change_arrives_north_as_a_notification_with_prefixed_names() {
    let mut w = registered_world(20);
    w.add_device("sensor-a", 20.0);
    let dev = w.add_device("sensor-b", 21.0);
    let observation = observe_temperature(&mut w, "sensor-b");
    assert_eq!(w.sim[dev].observations().len(), 1, "the device serves one observation");
    for celsius in [22.5, 23.5] {
        set_temperature(&mut w, dev, celsius);
        let event =
            w.wait_north(0, |e| matches!(e, ServerEvent::Notification { observation: o, .. } if *o == observation));
        let ServerEvent::Notification { records, endpoint, .. } = event else { unreachable!() };
        assert_eq!(endpoint.as_str(), "sensor-b");
        assert_eq!(value_at(&records, "/d2/3303/0/5700"), Some(Value::Float(celsius)), "{records:?}");
    }
}

#[test]
fn an_active_cancel_north_cancels_the_device_observation() {
    let mut w = registered_world(21);
    let dev = w.add_device("sensor-a", 20.0);
    let observation = observe_temperature(&mut w, "sensor-a");
    let answer = w.ask(0, "sensor-a", DmRequest::CancelObservation { observation }).expect("answer");
    assert_eq!(answer.code, Code::CONTENT);
    w.sim.run_for(Duration::from_secs(10), |_| {});
    assert_eq!(w.sim[dev].observations().len(), 0, "the device observation ended");
}

#[test]
fn a_reset_to_a_notification_cancels_the_device_observation() {
    let mut w = registered_world(22);
    let dev = w.add_device("sensor-a", 20.0);
    let observation = observe_temperature(&mut w, "sensor-a");
    assert!(w.server(0).forget_observation(observation));
    set_temperature(&mut w, dev, 30.0);
    w.sim.run_for(Duration::from_secs(30), |_| {});
    assert_eq!(w.sim[dev].observations().len(), 0, "the RST north ended the device observation");
}

#[test]
fn a_device_that_deregisters_ends_its_observations_with_not_found() {
    let mut w = registered_world(23);
    let dev = w.add_device("sensor-a", 20.0);
    let observation = observe_temperature(&mut w, "sensor-a");
    let now = w.sim.now();
    w.sim[dev].deregister_all(now);
    w.wait_north(0, |e| matches!(e, ServerEvent::ObservationEnded { observation: o, .. } if *o == observation));
    w.wait_north(0, |e| matches!(e, ServerEvent::EndDeviceRemoved { .. }));
    let read = DmRequest::Read { path: "/3303/0".parse().expect("path"), format: None };
    let gw_read = DmRequest::Read {
        path: lwm2m::PrefixedPath {
            prefix: Some(lwm2m::Prefix::new("d1").expect("prefix")),
            path: Path::Instance(3303, 0),
        },
        format: None,
    };
    let now = w.sim.now();
    let ep = lwm2m::EndpointName::new("sensor-a").expect("valid");
    assert!(w.server(0).send(now, &ep, read, Default::default()).is_err(), "no longer an end device");
    assert_eq!(w.ask(0, "gw", gw_read).expect("answer").code, Code::NOT_FOUND);
}

#[test]
fn a_device_whose_registration_expires_ends_its_observations_with_not_found() {
    let mut w = registered_world(24);
    let dev = w.add_device_with("short", lwm2m::Version::V1_1, 60, "U", 20.0, Vec::new());
    w.wait_north(0, |e| matches!(e, ServerEvent::EndDeviceRegistered { .. }));
    let observation = observe_temperature(&mut w, "short");
    let gw = w.gw;
    w.sim.link(dev, gw).partition();
    w.wait_north(0, |e| matches!(e, ServerEvent::ObservationEnded { observation: o, .. } if *o == observation));
    w.wait_north(0, |e| matches!(e, ServerEvent::EndDeviceRemoved { .. }));
    assert!(w.server(0).observations().all(|o| o.id != observation));
}

#[test]
fn a_device_that_registers_again_keeps_its_northbound_observation() {
    let mut w = registered_world(25);
    let old = w.add_device("sensor-a", 20.0);
    let observation = observe_temperature(&mut w, "sensor-a");
    // The device reboots: a fresh client with the same endpoint name registers (no De-register).
    let gw = w.gw;
    w.sim.link_both(old, gw, |link| {
        link.partition();
    });
    let rebooted = w.add_device_with("sensor-a", lwm2m::Version::V1_1, 300, "U", 25.0, Vec::new());
    let event = w.wait_north(0, |e| matches!(e, ServerEvent::Notification { observation: o, .. } if *o == observation));
    let ServerEvent::Notification { records, .. } = event else { unreachable!() };
    assert_eq!(value_at(&records, "/d1/3303/0/5700"), Some(Value::Float(25.0)), "{records:?}");
    set_temperature(&mut w, rebooted, 26.0);
    let event = w.wait_north(0, |e| matches!(e, ServerEvent::Notification { observation: o, .. } if *o == observation));
    let ServerEvent::Notification { records, .. } = event else { unreachable!() };
    assert_eq!(value_at(&records, "/d1/3303/0/5700"), Some(Value::Float(26.0)));
    assert_eq!(w.sim[rebooted].observations().len(), 1);
}

#[test]
fn a_gateway_that_deregisters_north_cancels_the_device_observations() {
    let mut w = registered_world(26);
    let dev = w.add_device("sensor-a", 20.0);
    observe_temperature(&mut w, "sensor-a");
    assert_eq!(w.sim[dev].observations().len(), 1);
    let (now, gw) = (w.sim.now(), w.gw);
    w.sim[gw].gateway.deregister_north(now);
    w.wait_north(0, |e| matches!(e, ServerEvent::Deregistered { .. }));
    w.sim.run_for(Duration::from_secs(10), |_| {});
    assert_eq!(w.sim[dev].observations().len(), 0, "the device observation was cancelled");
    let now = w.sim.now();
    w.sim[gw].gateway.register_north(now);
    w.wait_north(0, |e| matches!(e, ServerEvent::Registered { .. }));
    w.wait_north(0, |e| matches!(e, ServerEvent::EndDeviceRegistered { .. }));
}
