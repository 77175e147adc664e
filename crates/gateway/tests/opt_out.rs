//! Reporting opt-out per distant server (DR-006) and several distant servers: each server gets
//! its own `/25` view; a server that writes `/33000/<its ssid>/1` false gets no Updates and no
//! `/25` notifications caused by End-Device changes, the others still do.

mod support;

use std::time::Duration;

use coap::{Code, ContentFormat};
use gateway::GatewayConfig;
use lwm2m::{Record, Value, Version};
use lwm2m_server::{DmRequest, ServerEvent, WriteMode};
use support::*;

fn write_reporting(w: &mut World, server: usize, ssid: u16, on: bool) -> Code {
    let path = format!("/33000/{ssid}/1");
    let write = DmRequest::Write {
        path: path.parse().expect("path"),
        mode: WriteMode::Replace,
        records: vec![Record::new(path.parse().expect("path"), Value::Boolean(on))],
        format: Some(ContentFormat::TEXT),
    };
    w.ask(server, "gw", write).expect("answer").code
}

fn is_end_device(e: &ServerEvent, ep: &str) -> bool {
    matches!(e, ServerEvent::EndDeviceRegistered { end_device, .. } if end_device.endpoint.as_str() == ep)
}

#[test]
fn each_of_two_servers_sees_the_end_devices() {
    let mut w = world(50, 2, GatewayConfig::default());
    w.wait_north(0, |e| matches!(e, ServerEvent::Registered { .. }));
    w.wait_north(1, |e| matches!(e, ServerEvent::Registered { .. }));
    w.add_device("sensor-a", 20.0);
    let read = DmRequest::Read { path: "/3303/0/5700".parse().expect("path"), format: Some(ContentFormat::SENML_JSON) };
    for server in 0..2 {
        let answer = w.ask(server, "sensor-a", read.clone()).expect("answer");
        assert_eq!(answer.code, Code::CONTENT, "server {server}");
    }
}

#[test]
fn a_server_that_opts_out_gets_no_end_device_updates_and_the_other_still_does() {
    let mut w = world(51, 2, GatewayConfig::default());
    w.wait_north(0, |e| matches!(e, ServerEvent::Registered { .. }));
    w.wait_north(1, |e| matches!(e, ServerEvent::Registered { .. }));
    assert_eq!(write_reporting(&mut w, 1, 2, false), Code::CHANGED);
    assert_eq!(w.gateway().state().reporting.get(&2), Some(&false));
    // A server may not change another server's setting.
    assert_eq!(write_reporting(&mut w, 1, 1, false), Code::UNAUTHORIZED);
    w.add_device_with("sensor-a", Version::V1_1, 300, "U", 20.0, Vec::new());
    w.wait_north(0, |e| is_end_device(e, "sensor-a"));
    assert!(
        !w.north_sees(1, Duration::from_secs(60), |e| matches!(e, ServerEvent::Updated { .. })
            || is_end_device(e, "sensor-a")),
        "the opted-out server got an update"
    );
    assert_eq!(write_reporting(&mut w, 1, 2, true), Code::CHANGED);
    w.add_device_with("sensor-b", Version::V1_1, 300, "U", 21.0, Vec::new());
    w.wait_north(0, |e| is_end_device(e, "sensor-b"));
    w.wait_north(1, |e| is_end_device(e, "sensor-b"));
}
