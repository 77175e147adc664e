//! `Server::restore_registration`: a registration kept by the application across a restart
//! comes back with its ID and lifetime, and expires on time.

use std::time::{Duration, Instant};

use coap::{Engine, Peer};
use lwm2m::{Binding, EndpointName, ObjectLinks, RegisterParams, Registry, Version};
use lwm2m_server::{Registration, RegistrationError, RegistrationId, Server, ServerConfig, ServerEvent};

fn registration(endpoint: &str, id: &str, updated_at: Instant) -> Registration {
    let mut params = RegisterParams::new(EndpointName::new(endpoint).unwrap());
    params.lifetime = Some(60);
    params.lwm2m_version = Some(Version::V1_1);
    params.binding = Some(Binding::udp());
    Registration::new(
        RegistrationId::from_path_segment(id),
        Peer::udp("192.0.2.7:5683".parse().unwrap()),
        params,
        ObjectLinks::parse("</3/0>").unwrap(),
        updated_at,
    )
}

#[test]
fn a_restored_registration_keeps_its_id_and_expires_after_its_lifetime() {
    let start = Instant::now();
    let mut server = Server::new(ServerConfig::default(), Registry::bundled(), [1; 32]);
    let restored = registration("kept", "abcdefgh23", start);
    server.restore_registration(start, restored.clone()).unwrap();
    let endpoint = EndpointName::new("kept").unwrap();
    assert_eq!(server.registration(&endpoint), Some(&restored));
    assert!(server.poll_event().is_none(), "restoring is silent");

    let again = server.restore_registration(start, registration("kept", "other12345", start));
    assert!(matches!(again, Err(RegistrationError::AlreadyRegistered(_))));

    let deadline = server.poll_timeout().expect("the expiry timer is armed");
    assert!(deadline <= start + Duration::from_secs(60));
    server.handle_timeout(start + Duration::from_secs(61));
    assert!(
        matches!(server.poll_event(), Some(ServerEvent::Expired { registration }) if registration.id == restored.id)
    );
    assert_eq!(server.registration(&endpoint), None);
}
