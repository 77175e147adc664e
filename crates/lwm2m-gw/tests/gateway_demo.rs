//! `lwm2m-gw demo --once`: the whole tour on loopback, with no arguments and no files.

mod gateway_support;

use std::time::Duration;

use gateway_support::{Proc, TempDir};

#[test]
fn the_demo_tours_and_exits_zero_with_once() {
    let dir = TempDir::new("demo");
    let mut demo = Proc::start("demo", &["demo", "--once"], &dir.join("demo.log"));
    let (lines, status) = demo.finish(Duration::from_secs(180));
    let text = lines.join("\n");
    assert!(
        status.success(),
        "demo --once exits 0: {status}\n{text}\n{}",
        std::fs::read_to_string(dir.join("demo.log")).unwrap_or_default()
    );
    for expected in [
        "registered to coap://127.0.0.1:",
        "1. The distant server sees the gateway demo-gw",
        "lamp       prefix /d1",
        "thermo-1   prefix /d2",
        "thermo-2   prefix /d3",
        "2. Read thermo-1's temperature: the server sends GET /d2/3303/0/5700",
        "3. Switch the lamp on: PUT /d1/3311/0/5850 = true through the gateway (CHANGED(204))",
        "4. Observe thermo-2's temperature (/d3/3303/0/5700)",
        "notification /3303/0/5700 = ",
        "5. The gateway's own REST API: 3 End-Devices connected",
        "tour complete",
    ] {
        assert!(text.contains(expected), "the tour prints {expected:?}:\n{text}");
    }
    assert_eq!(text.matches("notification /3303/0/5700 = ").count(), 3, "{text}");
}

#[test]
fn the_demo_keeps_running_until_sigterm_then_cleans_up() {
    let dir = TempDir::new("demo-run");
    let mut demo = Proc::start("demo", &["demo"], &dir.join("demo.log"));
    let data = demo.wait_line(|l| l.trim_start().starts_with("data and logs in "));
    let data =
        data.trim_start().trim_start_matches("data and logs in ").trim_end_matches(" (removed at exit)").to_owned();
    assert!(std::path::Path::new(&data).is_dir(), "{data}");
    let api = demo.wait_line_within(Duration::from_secs(120), |l| l.contains("distant server REST API"));
    let curl = demo.wait_line(|l| l.trim_start().starts_with("curl http://127.0.0.1:"));
    demo.wait_line(|l| l == "Press Ctrl-C to stop.");
    let addr: std::net::SocketAddr =
        api.split("http://").nth(1).and_then(|rest| rest.split('/').next()).unwrap().parse().unwrap();
    assert!(curl.contains("/api/clients/thermo-1/3303/0/5700"), "{curl}");
    assert!(std::net::TcpStream::connect(addr).is_ok(), "the distant server is up");

    demo.terminate();
    assert!(!std::path::Path::new(&data).exists(), "the demo's directory is removed");
    assert!(std::net::TcpStream::connect(addr).is_err(), "the distant server is gone");
}
