//! `lwm2m-gw server` over DTLS in certificate mode: `--x509-cert/--x509-key/--x509-ca`, and a
//! client certificate's CN authenticates the endpoint of that name only.

mod server_support;

use coap::Code;
use openssl::asn1::Asn1Time;
use openssl::bn::BigNum;
use openssl::ec::{EcGroup, EcKey};
use openssl::hash::MessageDigest;
use openssl::nid::Nid;
use openssl::pkey::{PKey, Private};
use openssl::x509::extension::{BasicConstraints, KeyUsage};
use openssl::x509::{X509Builder, X509NameBuilder, X509};
use server_support::{certificate_endpoint, default_values, temp_dir, Device, Gw};
use transport::CertificateCredentials;

const LINKS: &str = "</>;rt=\"oma.lwm2m\",</3/0>";

fn p256() -> PKey<Private> {
    let group = EcGroup::from_curve_name(Nid::X9_62_PRIME256V1).unwrap();
    PKey::from_ec_key(EcKey::generate(&group).unwrap()).unwrap()
}

/// A certificate for `cn` with `key`, signed by `issuer` (self-signed CA when `None`).
fn certificate(cn: &str, key: &PKey<Private>, issuer: Option<(&X509, &PKey<Private>)>, serial: u32) -> X509 {
    let mut name = X509NameBuilder::new().unwrap();
    name.append_entry_by_nid(Nid::COMMONNAME, cn).unwrap();
    let name = name.build();
    let mut builder = X509Builder::new().unwrap();
    builder.set_version(2).unwrap();
    builder.set_serial_number(&BigNum::from_u32(serial).unwrap().to_asn1_integer().unwrap()).unwrap();
    builder.set_subject_name(&name).unwrap();
    builder.set_not_before(&Asn1Time::days_from_now(0).unwrap()).unwrap();
    builder.set_not_after(&Asn1Time::days_from_now(1).unwrap()).unwrap();
    builder.set_pubkey(key).unwrap();
    let ca = issuer.is_none();
    let constraints =
        if ca { BasicConstraints::new().critical().ca().build() } else { BasicConstraints::new().build() };
    builder.append_extension(constraints.unwrap()).unwrap();
    let usage = if ca {
        KeyUsage::new().critical().key_cert_sign().crl_sign().build()
    } else {
        KeyUsage::new().critical().digital_signature().build()
    };
    builder.append_extension(usage.unwrap()).unwrap();
    let (issuer_name, signer) = match issuer {
        Some((cert, key)) => (cert.subject_name().to_owned().unwrap(), key),
        None => (name.as_ref().to_owned().unwrap(), key),
    };
    builder.set_issuer_name(&issuer_name).unwrap();
    builder.sign(signer, MessageDigest::sha256()).unwrap();
    builder.build()
}

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
