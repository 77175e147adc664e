//! Proxy routing (Gateway TS §8.3): requests for `/{prefix}/…` are carried out on the End-Device
//! through its southbound registration, answers come back with prefixed names.

mod support;

use coap::{Code, ContentFormat};
use lwm2m::{AttributeChange, AttributeChanges, ExecuteArguments, Path, Prefix, PrefixedPath, Record, Value, Version};
use lwm2m_client::{ClientEvent, InstanceStore, ResourceValue};
use lwm2m_server::{Content, DmRequest, WriteMode};
use support::*;

fn prefixed(prefix: &str, path: &str) -> PrefixedPath {
    PrefixedPath { prefix: Some(Prefix::new(prefix).expect("prefix")), path: path.parse().expect("path") }
}

#[test]
fn read_through_the_prefix_returns_the_device_value_with_prefixed_names() {
    let mut w = registered_world(10);
    w.add_device("sensor-a", 21.5);
    w.add_device("sensor-b", 30.0);
    let read = DmRequest::Read { path: "/3303/0/5700".parse().expect("path"), format: Some(ContentFormat::SENML_JSON) };
    let answer = w.ask(0, "sensor-b", read).expect("answer");
    assert_eq!(answer.code, Code::CONTENT);
    let Content::Records(records) = answer.content else { panic!("records expected") };
    assert_eq!(value_at(&records, "/d2/3303/0/5700"), Some(Value::Float(30.0)), "{records:?}");
    // The same through the gateway's own endpoint name and an explicit prefix.
    let read = DmRequest::Read { path: prefixed("d1", "/3303/0"), format: Some(ContentFormat::SENML_CBOR) };
    let answer = w.ask(0, "gw", read).expect("answer");
    let Content::Records(records) = answer.content else { panic!("records expected") };
    assert_eq!(value_at(&records, "/d1/3303/0/5700"), Some(Value::Float(21.5)), "{records:?}");
    assert_eq!(value_at(&records, "/d1/3303/0/5701"), Some(Value::String("Cel".into())));
}

#[test]
fn an_unknown_prefix_is_not_found_and_the_gateway_objects_stay_reachable() {
    let mut w = registered_world(11);
    w.add_device("sensor-a", 21.5);
    let read = DmRequest::Read { path: prefixed("d9", "/3/0"), format: None };
    assert_eq!(w.ask(0, "gw", read).expect("answer").code, Code::NOT_FOUND);
    let read = DmRequest::Read { path: "/3/0/2".parse().expect("path"), format: Some(ContentFormat::TEXT) };
    let answer = w.ask(0, "gw", read).expect("answer");
    let Content::Records(records) = answer.content else { panic!("records expected") };
    assert_eq!(value_at(&records, "/3/0/2"), Some(Value::String("GW-1".into())));
}

#[test]
fn write_execute_discover_and_write_attributes_reach_the_device() {
    let mut w = registered_world(12);
    let dev = w.add_device("sensor-a", 21.5);
    let write = DmRequest::Write {
        path: "/3303/0/5750".parse().expect("path"),
        mode: WriteMode::Replace,
        records: vec![Record::new("/3303/0/5750".parse().expect("path"), Value::String("Boiler".into()))],
        format: Some(ContentFormat::TEXT),
    };
    assert_eq!(w.ask(0, "sensor-a", write).expect("answer").code, Code::CHANGED);
    assert_eq!(
        w.sim[dev].tree().resource(w.sim.now(), 3303, 0, 5750),
        Some(ResourceValue::Single(Value::String("Boiler".into())))
    );
    let mut args = ExecuteArguments::new();
    args.push(1, Some("go".into())).expect("valid");
    let exec = DmRequest::Execute { path: "/3/0/4".parse().expect("path"), args };
    assert_eq!(w.ask(0, "sensor-a", exec).expect("answer").code, Code::CHANGED);
    let mut rebooted = false;
    while let Some(event) = w.sim[dev].poll_event() {
        rebooted |= event == ClientEvent::RebootRequested;
    }
    assert!(rebooted, "the device executed /3/0/4");
    let discover = DmRequest::Discover { path: "/3303/0".parse().expect("path"), depth: None };
    let answer = w.ask(0, "sensor-a", discover).expect("answer");
    let Content::Links(links) = answer.content else { panic!("links expected") };
    let uris: Vec<&str> = links.iter().map(|l| l.uri.as_str()).collect();
    assert!(uris.contains(&"/3303/0/5700"), "links without prefix: {uris:?}");
    assert!(uris.iter().all(|u| !u.starts_with("/d1")), "{uris:?}");
    let attributes = AttributeChanges { pmin: Some(AttributeChange::Set(7)), ..AttributeChanges::default() };
    let attrs = DmRequest::WriteAttributes { path: "/3303/0/5700".parse().expect("path"), attributes };
    assert_eq!(w.ask(0, "sensor-a", attrs).expect("answer").code, Code::CHANGED);
    let discover = DmRequest::Discover { path: "/3303/0/5700".parse().expect("path"), depth: None };
    let answer = w.ask(0, "sensor-a", discover).expect("answer");
    let Content::Links(links) = answer.content else { panic!("links expected") };
    assert_eq!(links.first().and_then(|l| l.value("pmin")), Some("7"), "{links:?}");
}

#[test]
fn create_and_delete_an_instance_on_the_device() {
    let mut w = registered_world(13);
    let dev = w.add_device("sensor-a", 21.5);
    let create = DmRequest::Create {
        path: "/3303".parse().expect("path"),
        instance: Some(1),
        records: vec![Record::new("/3303/1/5700".parse().expect("path"), Value::Float(5.0))],
        format: Some(ContentFormat::SENML_JSON),
    };
    let answer = w.ask(0, "sensor-a", create).expect("answer");
    assert_eq!(answer.code, Code::CREATED);
    assert!(w.sim[dev].tree().exists(w.sim.now(), &Path::Instance(3303, 1)));
    let delete = DmRequest::Delete { path: "/3303/1".parse().expect("path") };
    assert_eq!(w.ask(0, "sensor-a", delete).expect("answer").code, Code::DELETED);
    assert!(!w.sim[dev].tree().exists(w.sim.now(), &Path::Instance(3303, 1)));
}

#[test]
fn a_20_kb_blockwise_write_reaches_the_device_whole() {
    let mut w = registered_world(14);
    let firmware = InstanceStore::new(5).with_instance(0, [(3, ResourceValue::Single(Value::Integer(0)))]);
    let dev = w.add_device_with("sensor-a", Version::V1_1, 300, "U", 20.0, vec![firmware]);
    w.wait_north(0, |e| matches!(e, lwm2m_server::ServerEvent::EndDeviceRegistered { .. }));
    let image: Vec<u8> = (0..20_000u32).map(|i| (i % 251) as u8).collect();
    let write = DmRequest::Write {
        path: "/5/0/0".parse().expect("path"),
        mode: WriteMode::Replace,
        records: vec![Record::new("/5/0/0".parse().expect("path"), Value::Opaque(image.clone()))],
        format: Some(ContentFormat::OPAQUE),
    };
    assert_eq!(w.ask(0, "sensor-a", write).expect("answer").code, Code::CHANGED);
    assert_eq!(w.sim[dev].tree().resource(w.sim.now(), 5, 0, 0), Some(ResourceValue::Single(Value::Opaque(image))));
}

#[test]
fn a_1_0_device_answering_tlv_is_served_in_senml_with_prefixed_names() {
    let mut w = registered_world(15);
    let dev = w.add_device_with("old", Version::V1_0, 300, "U", 17.25, Vec::new());
    w.wait_north(0, |e| matches!(e, lwm2m_server::ServerEvent::EndDeviceRegistered { .. }));
    // Record the content formats the device answers with.
    let formats = std::rc::Rc::new(std::cell::RefCell::new(Vec::new()));
    let seen = formats.clone();
    let gw = w.gw;
    w.sim.link(dev, gw).intercept(move |bytes| {
        if let Ok(message) = coap::Message::decode(bytes) {
            if message.code == Code::CONTENT {
                seen.borrow_mut().extend(message.options.content_format());
            }
        }
        sim::Verdict::Pass
    });
    let read = DmRequest::Read { path: "/3303/0".parse().expect("path"), format: Some(ContentFormat::SENML_JSON) };
    let answer = w.ask(0, "old", read).expect("answer");
    assert_eq!(answer.code, Code::CONTENT);
    let Content::Records(records) = answer.content else { panic!("records expected") };
    assert_eq!(value_at(&records, "/d1/3303/0/5700"), Some(Value::Float(17.25)), "{records:?}");
    assert_eq!(*formats.borrow(), vec![ContentFormat::TLV], "the 1.0 device answered in TLV");
    let registration = w.gateway().server().registrations().find(|r| r.endpoint.as_str() == "old").cloned();
    assert_eq!(registration.map(|r| r.version), Some(Version::V1_0));
}

#[test]
fn a_read_in_lwm2m_cbor_carries_the_prefix_in_the_ids() {
    let mut w = registered_world(16);
    w.add_device("sensor-a", 21.5);
    let read = DmRequest::Read { path: "/3303/0".parse().expect("path"), format: Some(ContentFormat::LWM2M_CBOR) };
    let answer = w.ask(0, "sensor-a", read).expect("answer");
    assert_eq!(answer.code, Code::CONTENT);
    let Content::Records(records) = answer.content else { panic!("records expected") };
    assert_eq!(value_at(&records, "/d1/3303/0/5700"), Some(Value::Float(21.5)), "{records:?}");
}

#[test]
fn a_large_value_read_travels_block_wise_on_both_faces() {
    let mut w = registered_world(17);
    let text: String = (0..6000u32).map(|i| char::from(b'a' + (i % 26) as u8)).collect();
    let device = InstanceStore::new(3).with_instance(0, [(0, ResourceValue::Single(Value::String(text.clone())))]);
    w.add_device_with("sensor-a", Version::V1_1, 300, "U", 20.0, vec![device]);
    w.wait_north(0, |e| matches!(e, lwm2m_server::ServerEvent::EndDeviceRegistered { .. }));
    let read = DmRequest::Read { path: "/3/0/0".parse().expect("path"), format: Some(ContentFormat::TEXT) };
    let answer = w.ask(0, "sensor-a", read).expect("answer");
    assert_eq!(answer.code, Code::CONTENT);
    let Content::Records(records) = answer.content else { panic!("records expected") };
    assert_eq!(value_at(&records, "/d1/3/0/0"), Some(Value::String(text)));
}

#[test]
fn the_distant_server_reads_several_end_devices_at_once() {
    let mut w = registered_world(14);
    for (ep, celsius) in [("sensor-a", 20.0), ("sensor-b", 21.0), ("sensor-c", 22.0)] {
        w.add_device(ep, celsius);
    }
    // Until the Update that followed and the distant server's read of /25 are over.
    w.north_sees(0, std::time::Duration::from_secs(5), |_| false);
    // Requests the distant server sent to the gateway before the gateway's first answer.
    let seen = std::rc::Rc::new(std::cell::RefCell::new((0usize, false)));
    let (gw, north) = (w.gw, w.norths[0].node);
    let sink = seen.clone();
    w.sim.link(north, gw).intercept(move |bytes| {
        let mut seen = sink.borrow_mut();
        if !seen.1 && coap::Message::decode(bytes).is_ok_and(|m| m.code == Code::GET) {
            seen.0 += 1;
        }
        sim::Verdict::Pass
    });
    let sink = seen.clone();
    w.sim.link(gw, north).intercept(move |bytes| {
        if coap::Message::decode(bytes).is_ok_and(|m| m.code == Code::CONTENT) {
            sink.borrow_mut().1 = true;
        }
        sim::Verdict::Pass
    });
    let now = w.sim.now();
    let ids: Vec<_> = ["sensor-a", "sensor-b", "sensor-c"]
        .into_iter()
        .map(|ep| {
            let read = DmRequest::Read { path: "/3303/0/5700".parse().expect("path"), format: None };
            let ep = lwm2m::EndpointName::new(ep).expect("valid name");
            w.server(0).send(now, &ep, read, lwm2m_server::RequestOptions::default()).expect("accepted")
        })
        .collect();
    for id in ids {
        assert_eq!(w.answer_of(0, id).expect("answer").code, Code::CONTENT);
    }
    assert_eq!(seen.borrow().0, 3, "one request per End-Device in flight at once, not one for the whole gateway");
}
