//! Registration reporting (Gateway TS §6, §8.2): End-Devices appear as `/25` instances, the
//! distant server learns them through Update and `/25`, removals and re-registrations.

mod support;

use lwm2m::Value;
use lwm2m_server::{Content, DmRequest, ServerEvent};
use support::*;

#[test]
fn an_end_device_that_registers_south_appears_in_25_and_as_an_end_device_north() {
    let mut w = registered_world(1);
    w.add_device("sensor-a", 21.5);
    let gw = lwm2m::EndpointName::new("gw").expect("valid");
    let device = w.server(0).end_device(&lwm2m::EndpointName::new("sensor-a").expect("valid")).cloned().expect("known");
    assert_eq!(device.prefix.as_str(), "d1");
    assert_eq!(device.gateway, gw);
    assert!(device.objects.has_object(3303), "{:?}", device.objects);
    assert!(!device.objects.has_object(0), "security must not be listed");
    let registration = w.server(0).registration(&gw).cloned().expect("gateway registered");
    assert!(registration.objects.object(25).is_some_and(|o| o.instances.contains(&0)), "{:?}", registration.objects);
    assert!(!registration.objects.has_object(3303), "end device objects never in the gateway's payload");
    let read = w.ask(0, "gw", DmRequest::Read { path: "/25/0".parse().expect("path"), format: None }).expect("answer");
    let Content::Records(records) = read.content else { panic!("records expected") };
    assert_eq!(value_at(&records, "/25/0/0"), Some(Value::String("sensor-a".into())));
    assert_eq!(value_at(&records, "/25/0/1"), Some(Value::String("d1".into())));
}

#[test]
fn two_devices_get_distinct_prefixes_and_the_same_prefix_after_reregistering() {
    let mut w = registered_world(2);
    let a = w.add_device("sensor-a", 20.0);
    w.add_device("sensor-b", 22.0);
    let ep_b = lwm2m::EndpointName::new("sensor-b").expect("valid");
    assert_eq!(w.server(0).end_device(&ep_b).map(|d| d.prefix.as_str().to_owned()), Some("d2".to_owned()));
    let now = w.sim.now();
    w.sim[a].deregister_all(now);
    w.wait_north(
        0,
        |e| matches!(e, ServerEvent::EndDeviceRemoved { end_device, .. } if end_device.endpoint.as_str() == "sensor-a"),
    );
    let now = w.sim.now();
    w.sim[a].register_all(now);
    w.wait_north(0, |e| matches!(e, ServerEvent::EndDeviceRegistered { end_device, .. } if end_device.endpoint.as_str() == "sensor-a"));
    let ep_a = lwm2m::EndpointName::new("sensor-a").expect("valid");
    assert_eq!(w.server(0).end_device(&ep_a).map(|d| d.prefix.as_str().to_owned()), Some("d1".to_owned()));
    assert_eq!(w.gateway().state().prefix_of("sensor-a"), Some("d1"));
    let json = serde_json::to_string(w.gateway().state()).expect("serialisable");
    let back: gateway::GatewayState = serde_json::from_str(&json).expect("round trip");
    assert_eq!(&back, w.gateway().state());
}

#[test]
fn a_device_that_expires_disappears_with_an_update() {
    let mut w = registered_world(3);
    let node = w.add_device_with("short", lwm2m::Version::V1_1, 60, "U", 19.0, Vec::new());
    w.wait_north(0, |e| matches!(e, ServerEvent::EndDeviceRegistered { .. }));
    // The device goes silent: its registration expires at the gateway.
    let gw = w.gw;
    w.sim.link(node, gw).partition();
    w.wait_north(
        0,
        |e| matches!(e, ServerEvent::EndDeviceRemoved { end_device, .. } if end_device.endpoint.as_str() == "short"),
    );
    let gw_ep = lwm2m::EndpointName::new("gw").expect("valid");
    let registration = w.server(0).registration(&gw_ep).cloned().expect("gateway registered");
    assert!(registration.objects.object(25).is_none_or(|o| o.instances.is_empty()), "{:?}", registration.objects);
    let entry = w.gateway().inventory_entry(&lwm2m::EndpointName::new("short").expect("valid")).expect("kept");
    assert!(!entry.connected);
    let read = w.ask(0, "gw", DmRequest::Read { path: "/25".parse().expect("path"), format: None }).expect("answer");
    assert!(
        matches!(read.content, Content::Records(ref r) if r.is_empty()) || read.content == Content::Empty,
        "{read:?}"
    );
}

#[test]
fn a_restarted_gateway_gives_a_known_device_its_persisted_prefix_and_reports_new_assignments() {
    let mut state = gateway::GatewayState::default();
    state
        .prefixes
        .insert(lwm2m::EndpointName::new("sensor-a").expect("valid"), lwm2m::Prefix::new("d7").expect("valid"));
    state.prefix_counter = 7;
    let mut w = world_with_state(4, 1, gateway::GatewayConfig::default(), state);
    w.wait_north(0, |e| matches!(e, ServerEvent::Registered { .. }));
    w.add_device("sensor-a", 20.0);
    w.add_device("sensor-b", 20.0);
    let prefix = |w: &World, ep: &str| w.gateway().prefix_of(&lwm2m::EndpointName::new(ep).expect("valid"));
    assert_eq!(prefix(&w, "sensor-a").map(|p| p.as_str().to_owned()), Some("d7".to_owned()));
    assert_eq!(prefix(&w, "sensor-b").map(|p| p.as_str().to_owned()), Some("d8".to_owned()));
    let events = &w.sim[w.gw].events;
    let changed = events.iter().filter(|e| **e == gateway::GatewayEvent::StateChanged).count();
    assert_eq!(changed, 1, "only the new assignment changes the state: {events:?}");
    assert!(events.iter().any(
        |e| matches!(e, gateway::GatewayEvent::EndDeviceAdded { endpoint, .. } if endpoint.as_str() == "sensor-a")
    ));
    let journal = w.gateway_mut().take_state_changes();
    assert_eq!(
        journal,
        [gateway::StateChange::PrefixAssigned { endpoint: "sensor-b".into(), prefix: "d8".into(), counter: 8 }],
        "the runtime persists just that assignment"
    );
    assert!(w.gateway_mut().take_state_changes().is_empty(), "taken once");
}

/// Counts, on the link from the gateway to distant server 0, the Registration Updates and the
/// notifications (responses carrying Observe) sent from now on.
fn count_north(w: &mut World) -> std::rc::Rc<std::cell::RefCell<(usize, usize)>> {
    let counts = std::rc::Rc::new(std::cell::RefCell::new((0, 0)));
    let sink = counts.clone();
    let (gw, north) = (w.gw, w.norths[0].node);
    w.sim.link(gw, north).intercept(move |bytes| {
        if let Ok(msg) = coap::Message::decode(bytes) {
            let path = msg.options.uri_path();
            // A large Update goes block-wise: count its first block.
            let block1 = coap::block::Block::from_options(&msg.options, coap::OptionNumber::BLOCK1);
            let first = matches!(block1, Ok(None) | Ok(Some(coap::block::Block { num: 0, .. })));
            if msg.code == coap::Code::POST && path.len() == 2 && path[0] == "rd" && first {
                sink.borrow_mut().0 += 1;
            } else if msg.code.is_response() && msg.options.observe().is_some() {
                sink.borrow_mut().1 += 1;
            }
        }
        sim::Verdict::Pass
    });
    counts
}

#[test]
fn fifty_registrations_within_the_report_delay_give_one_update_and_one_25_notification() {
    let mut w = registered_world(4);
    // The distant server observes /25 after the gateway registered.
    w.sim.run_for(std::time::Duration::from_secs(2), |_| {});
    let counts = count_north(&mut w);
    for i in 0..50 {
        w.add_device_with(&format!("burst-{i:02}"), lwm2m::Version::V1_1, 300, "U", 20.0, Vec::new());
    }
    w.sim.run_for(std::time::Duration::from_secs(2), |_| {});
    let gw = lwm2m::EndpointName::new("gw").expect("valid");
    let registration = w.server(0).registration(&gw).cloned().expect("gateway registered");
    assert_eq!(registration.objects.object(25).map(|o| o.instances.len()), Some(50), "{:?}", registration.objects);
    assert_eq!(w.server(0).end_devices().count(), 50);
    assert_eq!(*counts.borrow(), (1, 1), "(Updates, /25 notifications) for the whole burst");
}

#[test]
fn a_lone_registration_is_reported_once_the_report_delay_is_over() {
    let mut w = registered_world(5);
    w.sim.run_for(std::time::Duration::from_secs(2), |_| {});
    let counts = count_north(&mut w);
    w.add_device_with("alone", lwm2m::Version::V1_1, 300, "U", 20.0, Vec::new());
    // Register arrives after 10 ms of latency; the report waits 300 ms more.
    w.sim.run_for(std::time::Duration::from_millis(250), |_| {});
    assert_eq!(*counts.borrow(), (0, 0), "held back within the window");
    w.sim.run_for(std::time::Duration::from_millis(100), |_| {});
    assert_eq!(*counts.borrow(), (1, 1), "reported when the window closes");
    let ep = lwm2m::EndpointName::new("alone").expect("valid");
    w.wait_north(0, |e| matches!(e, ServerEvent::EndDeviceRegistered { end_device, .. } if end_device.endpoint == ep));
}

#[test]
fn a_distant_server_cannot_delete_a_25_instance() {
    let mut w = registered_world(4);
    w.add_device("sensor-a", 21.5);
    let delete = w.ask(0, "gw", DmRequest::Delete { path: "/25/0".parse().expect("path") }).expect("answer");
    assert_eq!(delete.code, coap::Code::METHOD_NOT_ALLOWED);
    let read = w.ask(0, "gw", DmRequest::Read { path: "/25".parse().expect("path"), format: None }).expect("answer");
    let Content::Records(records) = read.content else { panic!("records expected") };
    assert_eq!(value_at(&records, "/25/0/1"), Some(Value::String("d1".into())), "the instance stays");
    assert_eq!(value_at(&records, "/25/1/1"), None);
}
