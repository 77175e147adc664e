//! `lwm2m-gw server` over DTLS in certificate mode: `--x509-cert/--x509-key/--x509-ca`, and a
//! client certificate's CN authenticates the endpoint of that name only.

mod server_support;

use coap::Code;
use server_support::pki::{certificate, p256};
use server_support::{certificate_endpoint, default_values, temp_dir, Device, Gw};
use transport::CertificateCredentials;

const LINKS: &str = "</>;rt=\"oma.lwm2m\",</3/0>";

#[test]
fn a_client_certificate_registers_the_endpoint_of_its_common_name_only() {
    let dir = temp_dir("x509");
    let ca_key = p256();
    let ca = certificate("test ca", &ca_key, None, 1);
    let server_key = p256();
    let server_cert = certificate("lwm2m-gw", &server_key, Some((&ca, &ca_key)), 2);
    std::fs::write(dir.join("ca.pem"), ca.to_pem().unwrap()).unwrap();
    std::fs::write(dir.join("server.pem"), server_cert.to_pem().unwrap()).unwrap();
    std::fs::write(dir.join("server.key"), server_key.private_key_to_pem_pkcs8().unwrap()).unwrap();
    let path = |name: &str| dir.join(name).to_str().unwrap().to_owned();
    let (cert, key, ca_file) = (path("server.pem"), path("server.key"), path("ca.pem"));
    let gw = Gw::start_with(&dir, &["--x509-cert", &cert, "--x509-key", &key, "--x509-ca", &ca_file]);
    let entry = r#"{"endpoint":"x509-dev","tls":{"mode":"x509"}}"#;
    assert_eq!(gw.http("PUT", "/api/security/clients", Some("application/json"), entry).0, 200);
    assert_eq!(gw.get_json("/api/security/clients")[0]["tls"]["mode"], "x509");

    let client = |serial| {
        let key = p256();
        let certificate = certificate("x509-dev", &key, Some((&ca, &ca_key)), serial);
        CertificateCredentials {
            certificate,
            chain: Vec::new(),
            private_key: key,
            trusted: vec![ca.clone()],
            authorize: None,
        }
    };
    let impostor = Device::start(certificate_endpoint(gw.addr("coaps"), client(3)), gw.addr("coaps"), default_values());
    impostor.register("not-x509-dev", LINKS, 300);
    assert_eq!(impostor.registered(), Err(Code::FORBIDDEN));
    drop(impostor);

    let device = Device::start(certificate_endpoint(gw.addr("coaps"), client(4)), gw.addr("coaps"), default_values());
    device.register("x509-dev", LINKS, 300);
    device.registered().expect("the certificate's own endpoint registers");
    assert_eq!(gw.get_json("/api/clients/x509-dev")["secure"], true);
    assert_eq!(gw.get_json("/api/clients/x509-dev/3/0/0")["content"]["value"], "Acme");
}
