//! Bootstrap client (Core TS §6.1): client-initiated flow against a lock-step bootstrap server,
//! then Register with the configured server; server-initiated via `/1/x/9`; the finish timeout.

mod support;

use std::time::Duration;

use coap::{Code, ContentFormat, OptionNumber, Request, Response};
use lwm2m_client::{ClientEvent, ServerId};
use sim::Sim;
use support::{
    accept_register, answer, ask, client_node, next_request, registered, server_node, tree, uri, wait_event,
};

fn discover() -> Request {
    Request::get("/").with_option(OptionNumber::ACCEPT, coap::msg::encode_uint(40))
}

fn senml(path: &str, body: String) -> Request {
    Request::put(path).with_payload(ContentFormat::SENML_JSON, body.into_bytes())
}

#[test]
fn client_initiated_bootstrap_configures_a_server_and_registers_with_it() {
    let mut sim = Sim::new(50);
    let bs = server_node(&mut sim);
    let dm = server_node(&mut sim);
    let tree = tree(&[], Some(uri(&sim, bs)), &[]);
    let client = client_node(&mut sim, tree);

    let (peer, token, request) = next_request(&mut sim, bs);
    assert_eq!((request.method, request.path()), (Code::POST, "/bs".to_owned()));
    assert_eq!(request.options.uri_query(), ["ep=dev1", "pct=112"]);
    answer(&mut sim, bs, &peer, token, Response::new(Code::CHANGED));

    let r = ask(&mut sim, bs, client, discover());
    assert_eq!(String::from_utf8(r.payload).expect("utf-8"), "</>;lwm2m=1.1,</0/0>,</1>,</3/0>,</4/0>,</3303/0>");

    assert_eq!(ask(&mut sim, bs, client, Request::delete("/")).code, Code::DELETED);
    let r = ask(&mut sim, bs, client, discover());
    assert_eq!(
        String::from_utf8(r.payload).expect("utf-8"),
        "</>;lwm2m=1.1,</0/0>,</1>,</3/0>,</4>,</3303>",
        "the bootstrap account and /3/0 survive"
    );
    assert_eq!(ask(&mut sim, bs, client, Request::delete("/0/0")).code, Code::BAD_REQUEST);

    let account = format!(
        r#"[{{"bn":"/0/1/","n":"0","vs":"{}"}},{{"n":"1","vb":false}},{{"n":"2","v":3}},{{"n":"10","v":7}}]"#,
        uri(&sim, dm)
    );
    assert_eq!(ask(&mut sim, bs, client, senml("/0/1", account)).code, Code::CHANGED);
    // Finishing before a Server instance exists is refused.
    assert_eq!(ask(&mut sim, bs, client, Request::post("/bs")).code, Code::NOT_ACCEPTABLE);
    let server = r#"[{"bn":"/1/0/","n":"0","v":7},{"n":"1","v":120},{"n":"7","vs":"U"}]"#.to_owned();
    assert_eq!(ask(&mut sim, bs, client, senml("/1/0", server)).code, Code::CHANGED);
    let r = ask(&mut sim, bs, client, discover());
    assert_eq!(
        String::from_utf8(r.payload).expect("utf-8"),
        format!("</>;lwm2m=1.1,</0/0>,</0/1>;ssid=7;uri=\"{}\",</1/0>;ssid=7,</3/0>,</4>,</3303>", uri(&sim, dm))
    );
    let read = Request::get("/1/0").with_option(OptionNumber::ACCEPT, coap::msg::encode_uint(110));
    let r = ask(&mut sim, bs, client, read);
    assert_eq!(r.code, Code::CONTENT, "bootstrap-read of /1");
    assert_eq!(ask(&mut sim, bs, client, Request::get("/3/0")).code, Code::UNAUTHORIZED);

    assert_eq!(ask(&mut sim, bs, client, Request::post("/bs")).code, Code::CHANGED);
    wait_event(&mut sim, client, |e| matches!(e, ClientEvent::BootstrapFinished));
    let (_, register) = accept_register(&mut sim, dm, "x1");
    assert!(register.options.uri_query().contains(&"lt=120".to_owned()));
    wait_event(&mut sim, client, |e| matches!(e, ClientEvent::Registered { server: ServerId(7), .. }));
}

#[test]
fn bootstrap_request_trigger_starts_a_bootstrap() {
    let mut sim = Sim::new(51);
    let bs = server_node(&mut sim);
    let dm = server_node(&mut sim);
    let tree = tree(&[(ServerId(1), uri(&sim, dm), 300, "U")], Some(uri(&sim, bs)), &[]);
    let client = client_node(&mut sim, tree);
    accept_register(&mut sim, dm, "c1");
    assert_eq!(ask(&mut sim, dm, client, Request::post("/1/0/9")).code, Code::CHANGED);
    let (_, _, request) = next_request(&mut sim, bs);
    assert_eq!(request.path(), "/bs");
    wait_event(&mut sim, client, |e| matches!(e, ClientEvent::BootstrapStarted));
}

#[test]
fn bootstrap_without_finish_fails_after_exchange_lifetime() {
    let mut sim = Sim::new(52);
    let bs = server_node(&mut sim);
    let tree = tree(&[], Some(uri(&sim, bs)), &[]);
    let client = client_node(&mut sim, tree);
    let (peer, token, _) = next_request(&mut sim, bs);
    answer(&mut sim, bs, &peer, token, Response::new(Code::CHANGED));
    let accepted = sim.now();
    let event = wait_event(&mut sim, client, |e| matches!(e, ClientEvent::BootstrapFailed { .. }));
    assert!(matches!(event, ClientEvent::BootstrapFailed { .. }));
    let waited = sim.now() - accepted;
    assert!(waited >= Duration::from_secs(246) && waited <= Duration::from_secs(248), "failed after {waited:?}");
}

#[test]
fn security_stays_unreadable_for_a_management_server() {
    let (mut sim, client, server) = registered(53, 300, "U");
    assert_eq!(ask(&mut sim, server, client, Request::get("/0")).code, Code::UNAUTHORIZED);
    let put = Request::put("/0/0/0").with_payload(ContentFormat::TEXT, b"coap://10.9.9.9".to_vec());
    assert_eq!(ask(&mut sim, server, client, put).code, Code::UNAUTHORIZED);
}

#[test]
fn repeated_registration_failures_lead_to_bootstrap() {
    let mut sim = Sim::new(54);
    let bs = server_node(&mut sim);
    let dm = server_node(&mut sim);
    let tree = tree(&[(ServerId(1), uri(&sim, dm), 300, "U")], Some(uri(&sim, bs)), &[]);
    let client = client_node(&mut sim, tree);
    for _ in 0..3 {
        let (peer, token, request) = next_request(&mut sim, dm);
        assert_eq!(request.path(), "/rd");
        answer(&mut sim, dm, &peer, token, Response::new(Code::FORBIDDEN));
        wait_event(&mut sim, client, |e| matches!(e, ClientEvent::RegistrationFailed { .. }));
    }
    let (_, _, request) = next_request(&mut sim, bs);
    assert_eq!(request.path(), "/bs", "bootstrap after the third failure");
}
