//! `lwm2m-gw device` over DTLS 1.2: PSK and X.509 registration with a scripted LwM2M server
//! behind `transport::DtlsServer`, then a read over the same session.

mod device_common;
mod server_support;

use std::path::PathBuf;
use std::sync::Arc;

use device_common::{read_text, Device, RawServer};
use server_support::pki::{certificate, p256};
use transport::{CertificateCredentials, ServerCredentials};

#[test]
fn psk_registration_authenticates_the_identity() {
    let key = vec![0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88];
    let lookup_key = key.clone();
    let credentials = ServerCredentials {
        psk: Some(Arc::new(move |identity: &str| (identity == "sim-psk").then(|| lookup_key.clone()))),
        certificate: None,
    };
    let mut server = RawServer::bind_dtls(credentials);
    let mut device = Device::start(&[
        "--server",
        &server.secure_uri(),
        "--endpoint",
        "sim-psk-ep",
        "--psk-identity",
        "sim-psk",
        "--psk-key",
        &hex::encode(&key),
    ]);
    let (peer, request) = server.accept_register("s1");
    assert_eq!(peer.identity.as_deref(), Some("sim-psk"), "the registration came over the psk session");
    assert!(request.options.uri_query().contains(&"ep=sim-psk-ep".to_owned()));
    device.wait_line(|l| l == "registered ep=sim-psk-ep server=1 location=/rd/s1 lwm2m=1.1");
    assert_eq!(read_text(&mut server, &peer, "/3/0/1"), "lwm2m-gw-sim");
}

/// A fresh directory under the system temp dir, removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new(tag: &str) -> Self {
        let dir = std::env::temp_dir().join(format!("lwm2m-gw-{tag}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        Self(dir)
    }

    fn write(&self, name: &str, bytes: &[u8]) -> String {
        let path = self.0.join(name);
        std::fs::write(&path, bytes).expect("write");
        path.to_string_lossy().into_owned()
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

#[test]
fn x509_registration_authenticates_the_certificate_common_name() {
    let ca_key = p256();
    let ca = certificate("test ca", &ca_key, None, 1);
    let server_key = p256();
    let server_cert = certificate("lwm2m-server", &server_key, Some((&ca, &ca_key)), 2);
    let device_key = p256();
    let device_cert = certificate("sim-x509", &device_key, Some((&ca, &ca_key)), 3);
    let dir = TempDir::new("x509");
    let cert = dir.write("device.pem", &device_cert.to_pem().expect("pem"));
    let key = dir.write("device.key", &device_key.private_key_to_pem_pkcs8().expect("pem"));
    let ca_file = dir.write("ca.pem", &ca.to_pem().expect("pem"));

    let credentials = ServerCredentials {
        psk: None,
        certificate: Some(CertificateCredentials {
            certificate: server_cert,
            chain: Vec::new(),
            private_key: server_key,
            trusted: vec![ca],
            authorize: None,
        }),
    };
    let mut server = RawServer::bind_dtls(credentials);
    let mut device = Device::start(&[
        "--server",
        &server.secure_uri(),
        "--endpoint",
        "sim-x509",
        "--x509-cert",
        &cert,
        "--x509-key",
        &key,
        "--x509-ca",
        &ca_file,
    ]);
    let (peer, _) = server.accept_register("x1");
    assert_eq!(peer.identity.as_deref(), Some("sim-x509"), "the registration came over the certificate session");
    device.wait_line(|l| l == "registered ep=sim-x509 server=1 location=/rd/x1 lwm2m=1.1");
    assert_eq!(read_text(&mut server, &peer, "/3/0/0"), "lwm2m-gw");
}

#[test]
fn dtls_flags_without_coaps_are_refused_with_a_message() {
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_lwm2m-gw"))
        .args(["device", "--server", "coap://127.0.0.1:5683", "--endpoint", "x", "--psk-identity", "a"])
        .args(["--psk-key", "00"])
        .output()
        .expect("runs");
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("use coaps://"), "{stderr}");
}
