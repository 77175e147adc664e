//! `lwm2m-gw device` end to end: the real binary against a scripted LwM2M server (a raw
//! `coap::Endpoint` on 127.0.0.1) — registration, reads, writes, observe, firmware push and
//! pull, and many devices in one process.

mod device_common;

use std::collections::BTreeSet;

use coap::{Code, ContentFormat, Event, OptionNumber, Request, Response};
use device_common::{execute, firmware_package, read_text, uint, wait_text, write_text, Device, RawServer};

#[test]
fn registration_carries_the_query_and_the_object_links() {
    let mut server = RawServer::bind();
    let _device = Device::start(&["--server", &server.uri(), "--endpoint", "sim-reg", "--lifetime", "120"]);
    let (_peer, request) = server.accept_register("r1");
    let query: BTreeSet<String> = request.options.uri_query().into_iter().collect();
    for expected in ["ep=sim-reg", "lt=120", "lwm2m=1.1", "b=U"] {
        assert!(query.contains(expected), "query {query:?} lacks {expected}");
    }
    let links = String::from_utf8(request.payload).expect("link-format text");
    for object in ["</1/0>", "</3/0>", "</4/0>", "</5/0>", "</3303/0>", "</3311/0>"] {
        assert!(links.contains(object), "payload {links:?} lacks {object}");
    }
    assert!(!links.contains("</0/"), "security is never listed: {links:?}");
}

#[test]
fn reads_writes_observe_and_reboot_work_against_a_scripted_server() {
    let mut server = RawServer::bind();
    let mut device = Device::start(&[
        "--server",
        &server.uri(),
        "--endpoint",
        "sim-dm",
        "--tick-ms",
        "100",
        "--lwm2m",
        "1.0",
        "--queue-mode",
    ]);
    let (peer, request) = server.accept_register("d1");
    let query = request.options.uri_query();
    assert!(query.contains(&"lwm2m=1.0".to_owned()) && query.contains(&"b=UQ".to_owned()), "{query:?}");
    device.wait_line(|l| l == "registered ep=sim-dm server=1 location=/rd/d1 lwm2m=1.0");

    assert_eq!(read_text(&mut server, &peer, "/3/0/0"), "lwm2m-gw");
    assert_eq!(read_text(&mut server, &peer, "/3/0/3"), "1.0.0");
    let battery: i64 = read_text(&mut server, &peer, "/3/0/9").parse().expect("battery level");
    assert!((0..=100).contains(&battery));
    let first: f64 = read_text(&mut server, &peer, "/3303/0/5700").parse().expect("temperature");
    assert!((10.0..35.0).contains(&first), "plausible temperature {first}");
    wait_text(&mut server, &peer, "/3303/0/5700", |t| t.parse::<f64>().is_ok_and(|v| v != first));
    let senml =
        server.ask(&peer, Request::get("/3303/0").with_option(OptionNumber::ACCEPT, uint(ContentFormat::SENML_JSON.0)));
    assert_eq!(senml.code, Code::CONTENT);
    let body = String::from_utf8(senml.payload).expect("senml json");
    for resource in ["5700", "5601", "5602", "5701"] {
        assert!(body.contains(resource), "{body} lacks {resource}");
    }

    assert_eq!(read_text(&mut server, &peer, "/3311/0/5850"), "0");
    assert_eq!(write_text(&mut server, &peer, "/3311/0/5850", "1"), Code::CHANGED);
    assert_eq!(read_text(&mut server, &peer, "/3311/0/5850"), "1");
    device.wait_line(|l| l == "written ep=sim-dm path=/3311/0/5850");
    assert_eq!(write_text(&mut server, &peer, "/3311/0/5851", "40"), Code::CHANGED);
    assert_eq!(read_text(&mut server, &peer, "/3311/0/5851"), "40");
    assert_eq!(write_text(&mut server, &peer, "/3311/0/5851", "140"), Code::BAD_REQUEST);
    assert_eq!(write_text(&mut server, &peer, "/3311/0/5850", "0"), Code::CHANGED);
    assert_eq!(read_text(&mut server, &peer, "/3311/0/5850"), "0");
    assert_eq!(write_text(&mut server, &peer, "/3303/0/5700", "3"), Code::METHOD_NOT_ALLOWED);

    let observe = Request::observe("/3303/0/5700").with_option(OptionNumber::ACCEPT, uint(ContentFormat::TEXT.0));
    let token = server.send(&peer, observe);
    match server.wait_event(|e| matches!(e, Event::Response { token: t, .. } if *t == token)) {
        Event::Response { response, .. } => assert_eq!(response.code, Code::CONTENT),
        _ => unreachable!(),
    }
    let mut values = Vec::new();
    for _ in 0..3 {
        match server.wait_event(|e| matches!(e, Event::Notification { token: t, .. } if *t == token)) {
            Event::Notification { response, .. } => {
                values.push(String::from_utf8(response.payload).expect("text"));
            }
            _ => unreachable!(),
        }
    }
    assert!(values.iter().all(|v| v.parse::<f64>().is_ok()), "{values:?}");

    assert_eq!(execute(&mut server, &peer, "/3303/0/5605"), Code::CHANGED);
    assert_eq!(execute(&mut server, &peer, "/3/0/4"), Code::CHANGED);
    device.wait_line(|l| l == "rebooting ep=sim-dm");
    server.accept_register("d2");
    device.wait_line(|l| l == "registered ep=sim-dm server=1 location=/rd/d2 lwm2m=1.0");
}

#[test]
fn firmware_push_then_update_changes_the_firmware_version() {
    let mut server = RawServer::bind();
    let mut device = Device::start(&["--server", &server.uri(), "--endpoint", "sim-fw", "--update-delay-ms", "300"]);
    let (peer, _) = server.accept_register("f1");
    assert_eq!(read_text(&mut server, &peer, "/5/0/3"), "0");
    assert_eq!(execute(&mut server, &peer, "/5/0/2"), Code::METHOD_NOT_ALLOWED, "nothing to install yet");

    // A corrupted package is refused with Update Result 5.
    let mut corrupt = firmware_package("2.0.0", 3000);
    corrupt[100] ^= 0xff;
    let put = |bytes: Vec<u8>| Request::put("/5/0/0").with_payload(ContentFormat::OPAQUE, bytes);
    assert_eq!(server.ask(&peer, put(corrupt)).code, Code::CHANGED);
    assert_eq!(read_text(&mut server, &peer, "/5/0/5"), "5");
    assert_eq!(read_text(&mut server, &peer, "/5/0/3"), "0");
    assert_eq!(server.ask(&peer, put(b"not a package at all, not even close to one".to_vec())).code, Code::CHANGED);
    assert_eq!(read_text(&mut server, &peer, "/5/0/5"), "6");

    let package = firmware_package("2.0.0", 3000);
    let digest = hex_digest(&package);
    assert_eq!(server.ask(&peer, put(package)).code, Code::CHANGED, "block-wise push");
    assert_eq!(read_text(&mut server, &peer, "/5/0/3"), "2");
    assert_eq!(read_text(&mut server, &peer, "/5/0/7"), "2.0.0");
    assert_eq!(read_text(&mut server, &peer, "/5/0/6"), format!("lwm2m-gw-sim@{digest}"));
    assert_eq!(execute(&mut server, &peer, "/5/0/2"), Code::CHANGED);
    assert_eq!(read_text(&mut server, &peer, "/5/0/3"), "3");
    device.wait_line(|l| l == "firmware-updated ep=sim-fw version=2.0.0");
    assert_eq!(read_text(&mut server, &peer, "/3/0/3"), "2.0.0");
    assert_eq!(read_text(&mut server, &peer, "/5/0/3"), "0");
    assert_eq!(read_text(&mut server, &peer, "/5/0/5"), "1");
}

fn hex_digest(bytes: &[u8]) -> String {
    openssl::sha::sha256(bytes).iter().map(|b| format!("{b:02x}")).collect()
}

#[test]
fn firmware_pull_downloads_block_wise_from_a_coap_server() {
    let mut server = RawServer::bind();
    let mut files = RawServer::bind();
    let mut device = Device::start(&["--server", &server.uri(), "--endpoint", "sim-pull", "--update-delay-ms", "200"]);
    let (peer, _) = server.accept_register("p1");

    let missing = format!("{}/fw/missing", files.uri());
    assert_eq!(write_text(&mut server, &peer, "/5/0/1", &missing), Code::CHANGED);
    let (fpeer, ftoken, _) = files.wait_request("/fw/missing");
    files.answer(&fpeer, ftoken, Response::new(Code::NOT_FOUND));
    device.wait_line(|l| l == "firmware-failed ep=sim-pull result=7");
    assert_eq!(read_text(&mut server, &peer, "/5/0/5"), "7");

    // A download that never gets an answer is cancelled by an empty URI.
    let slow = format!("{}/fw/slow", files.uri());
    assert_eq!(write_text(&mut server, &peer, "/5/0/1", &slow), Code::CHANGED);
    files.wait_request("/fw/slow");
    assert_eq!(read_text(&mut server, &peer, "/5/0/3"), "1", "downloading");
    assert_eq!(write_text(&mut server, &peer, "/5/0/1", "coap://127.0.0.1:1/other"), Code::METHOD_NOT_ALLOWED);
    assert_eq!(write_text(&mut server, &peer, "/5/0/1", ""), Code::CHANGED);
    assert_eq!(read_text(&mut server, &peer, "/5/0/3"), "0");
    assert_eq!(read_text(&mut server, &peer, "/5/0/5"), "0");

    assert_eq!(write_text(&mut server, &peer, "/5/0/1", "coaps://127.0.0.1:1/fw"), Code::CHANGED);
    assert_eq!(read_text(&mut server, &peer, "/5/0/5"), "9");

    let package = firmware_package("3.1.4", 5000);
    let uri = format!("{}/fw/v3?rev=1", files.uri());
    assert_eq!(write_text(&mut server, &peer, "/5/0/1", &uri), Code::CHANGED);
    assert_eq!(read_text(&mut server, &peer, "/5/0/1"), uri);
    let (fpeer, ftoken, request) = files.wait_request("/fw/v3");
    assert_eq!(request.options.uri_query(), vec!["rev=1".to_owned()]);
    files.answer(&fpeer, ftoken, Response::content(ContentFormat::OPAQUE, package));
    let deadline = std::time::Instant::now() + device_common::WAIT;
    while !device.seen.iter().any(|l| l == "firmware-downloaded ep=sim-pull version=3.1.4") {
        assert!(std::time::Instant::now() < deadline, "no download: {:?}", device.seen);
        files.pump(); // serves the remaining Block2 requests
        if let Ok(line) = try_line(&mut device) {
            device.seen.push(line);
        }
    }
    assert_eq!(read_text(&mut server, &peer, "/5/0/3"), "2");
    assert_eq!(execute(&mut server, &peer, "/5/0/2"), Code::CHANGED);
    device.wait_line(|l| l == "firmware-updated ep=sim-pull version=3.1.4");
    assert_eq!(read_text(&mut server, &peer, "/3/0/3"), "3.1.4");
    assert_eq!(read_text(&mut server, &peer, "/5/0/5"), "1");
}

/// One line if one is ready.
fn try_line(device: &mut Device) -> Result<String, ()> {
    device.try_line().ok_or(())
}

#[test]
fn count_twenty_registers_twenty_endpoints_and_deregisters_on_sigterm() {
    let mut server = RawServer::bind();
    let mut device = Device::start(&["--server", &server.uri(), "--endpoint", "load", "--count", "20"]);
    let mut names = BTreeSet::new();
    for i in 0..20 {
        let (_, request) = server.accept_register(&format!("l{i}"));
        let ep = request.options.uri_query().into_iter().find_map(|q| q.strip_prefix("ep=").map(str::to_owned));
        names.insert(ep.expect("ep= present"));
    }
    let expected: BTreeSet<String> = (0..20).map(|i| format!("load-{i:04}")).collect();
    assert_eq!(names, expected);
    device.wait_line(|l| l.starts_with("all-registered devices=20 "));
    // SIGTERM: every device de-registers (DELETE /rd/lN) and a summary follows.
    let pid = device.pid();
    std::process::Command::new("kill").args(["-TERM", &pid.to_string()]).status().expect("kill");
    let mut deleted = BTreeSet::new();
    while deleted.len() < 20 {
        let (peer, token, request) = server.wait_request("/rd/l");
        assert_eq!(request.method, Code::DELETE);
        deleted.insert(request.path());
        server.answer(&peer, token, Response::new(Code::DELETED));
    }
    let summary = device.wait_line(|l| l.starts_with("summary "));
    assert!(
        summary.starts_with("summary devices=20 registered=20 registrations=20 failures=0 deregistered=20 "),
        "{summary}"
    );
}
