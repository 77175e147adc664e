//! Endpoint ↔ identity binding (spec notes §6.1, pitfall 21): a peer may register only the
//! endpoint its credentials name; Update and De-register must come from the same identity.

mod support;

use coap::{Code, Request};
use lwm2m_server::{SecurityInfo, ServerConfig, ServerEvent};
use support::{ep, World};

fn psk(endpoint: &str, identity: &str) -> SecurityInfo {
    SecurityInfo { endpoint: ep(endpoint), psk_identity: Some(identity.into()), x509_cn: None }
}

#[test]
fn an_identity_registering_another_endpoint_gets_4_03_and_that_registration_is_unchanged() {
    let mut w = World::new(11);
    w.server().add_security(psk("dev-a", "id-a")).unwrap();
    w.server().add_security(psk("dev-b", "id-b")).unwrap();
    let (a, b) = (w.secured_client("id-a"), w.secured_client("id-b"));
    let id_a = w.registered(a, &["ep=dev-a", "lt=300", "lwm2m=1.1"], "</3/0>");
    let before = w.server().registration(&ep("dev-a")).unwrap().clone();
    w.events();

    assert_eq!(w.register(b, &["ep=dev-a", "lt=300", "lwm2m=1.1"], "</5/0>").0, Code::FORBIDDEN);
    assert_eq!(w.server().registration(&ep("dev-a")), Some(&before));
    assert!(w.events().is_empty());

    // Update and De-register of dev-a's registration from dev-b's identity: 4.00, nothing changes.
    assert_eq!(w.request(b, Request::post(&format!("/rd/{id_a}")).with_query("lt=5")).code, Code::BAD_REQUEST);
    assert_eq!(w.request(b, Request::delete(&format!("/rd/{id_a}"))).code, Code::BAD_REQUEST);
    assert_eq!(w.server().registration(&ep("dev-a")), Some(&before));
    assert!(w.events().is_empty());
    assert_eq!(w.register(b, &["ep=dev-b", "lt=300", "lwm2m=1.1"], "</3/0>").0, Code::CREATED);
}

#[test]
fn a_wrong_identity_or_nosec_for_a_secured_endpoint_gets_4_03() {
    let mut w = World::new(12);
    w.server().add_security(psk("dev-a", "id-a")).unwrap();
    let stranger = w.secured_client("id-x");
    assert_eq!(w.register(stranger, &["ep=dev-a", "lwm2m=1.1"], "</3/0>").0, Code::FORBIDDEN);
    let plain = w.client();
    assert_eq!(w.register(plain, &["ep=dev-a", "lwm2m=1.1"], "</3/0>").0, Code::FORBIDDEN);
    assert_eq!(w.server().registrations().count(), 0);
    // An identity nobody claims, for an endpoint without security info: the transport vouched.
    assert_eq!(w.register(stranger, &["ep=dev-x", "lwm2m=1.1"], "</3/0>").0, Code::CREATED);
}

#[test]
fn unknown_endpoints_over_nosec_follow_the_policy_switch() {
    let mut w = World::with_config(13, ServerConfig { allow_unknown_nosec: false, ..ServerConfig::default() });
    let c = w.client();
    assert_eq!(w.register(c, &["ep=dev1", "lwm2m=1.1"], "</3/0>").0, Code::FORBIDDEN);
    let mut open = World::new(13);
    let c = open.client();
    assert_eq!(open.register(c, &["ep=dev1", "lwm2m=1.1"], "</3/0>").0, Code::CREATED);
}

#[test]
fn a_1_1_client_may_leave_out_ep_when_its_identity_names_it() {
    let mut w = World::new(14);
    w.server().add_security(psk("dev-a", "id-a")).unwrap();
    let a = w.secured_client("id-a");
    assert_eq!(w.register(a, &["lt=300", "lwm2m=1.1"], "</3/0>").0, Code::CREATED);
    assert!(matches!(&w.events()[..], [ServerEvent::Registered { registration, .. }]
        if registration.endpoint == ep("dev-a") && registration.identity() == Some("id-a")));
}

#[test]
fn removing_the_security_info_ends_the_registration_it_secured() {
    let mut w = World::new(15);
    w.server().add_security(psk("dev-a", "id-a")).unwrap();
    let a = w.secured_client("id-a");
    w.registered(a, &["ep=dev-a", "lt=300", "lwm2m=1.1"], "</3/0>");
    w.events();
    assert!(w.server().remove_security(&ep("dev-a")).is_some());
    assert!(w.server().registration(&ep("dev-a")).is_none());
    assert!(matches!(&w.events()[..], [ServerEvent::Deregistered { .. }]));
}
