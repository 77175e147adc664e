//! `lwm2m-gw run` with DTLS on both faces and different credentials on each: the gateway
//! registers to a distant `lwm2m-gw server` over DTLS PSK with its own key, while its End-Device
//! registers to the gateway over DTLS PSK with another; an End-Device identity is bound to its
//! endpoint name. All real binaries on 127.0.0.1.

mod gateway_support;
mod server_support;

use std::path::Path;
use std::time::Duration;

use gateway_support::{eventually, Proc, TempDir};
use openssl::pkey::{PKey, Private};
use openssl::x509::X509;
use server_support::pki::{certificate, p256};
use server_support::Gw;

/// Writes `cert` and `key` as `<name>.pem` and `<name>.key` in `dir`.
fn write_pem(dir: &Path, name: &str, cert: &X509, key: Option<&PKey<Private>>) {
    std::fs::write(dir.join(format!("{name}.pem")), cert.to_pem().unwrap()).unwrap();
    if let Some(key) = key {
        std::fs::write(dir.join(format!("{name}.key")), key.private_key_to_pem_pkcs8().unwrap()).unwrap();
    }
}

#[test]
fn both_faces_run_dtls_with_their_own_credentials() {
    let dir = TempDir::new("gw-dtls");
    std::fs::create_dir_all(dir.join("server")).unwrap();
    let server = Gw::start(&dir.join("server"));
    let entry = r#"{"endpoint":"gw1","tls":{"mode":"psk","details":{"identity":"gw1-north","key":"6e6f727468"}}}"#;
    assert_eq!(server.http("PUT", "/api/security/clients", Some("application/json"), entry).0, 200);

    let config = format!(
        r#"[gateway]
endpoint = "gw1"
http = "127.0.0.1:0"
data_dir = "gateway-data"

[south]
coap = "off"
coaps = "127.0.0.1:0"
allow_unknown_nosec = false

[[south.psk]]
endpoint = "sensor-s"
identity = "sensor-s-id"
key = "736f757468"

[[north]]
uri = "coaps://{}"
psk_identity = "gw1-north"
psk_key = "6e6f727468"
"#,
        server.addr("coaps")
    );
    let path = dir.join("gateway.toml");
    std::fs::write(&path, config).unwrap();
    let mut gateway = Proc::start("gateway", &["run", "-c", path.to_str().unwrap()], &dir.join("gateway.log"));
    let south = gateway.address("south-dtls");
    let http = gateway.address("http");
    gateway.wait_line(|l| l == format!("registered to coaps://{} as gw1", server.addr("coaps")));
    assert!(dir.join("gateway-data/gateway.sqlite3").is_file(), "data_dir is relative to the file");

    let uri = format!("coaps://{south}");
    let mut intruder = Proc::start(
        "intruder",
        &[
            "device",
            "--server",
            &uri,
            "--endpoint",
            "intruder",
            "--psk-identity",
            "sensor-s-id",
            "--psk-key",
            "736f757468",
        ],
        &dir.join("intruder.log"),
    );
    let refused = intruder.wait_line(|l| l.starts_with("registration-failed ep=intruder"));
    assert!(refused.contains("code=4.03"), "another endpoint's identity is forbidden: {refused}");
    drop(intruder);

    let mut device = Proc::start(
        "sensor-s",
        &[
            "device",
            "--server",
            &uri,
            "--endpoint",
            "sensor-s",
            "--psk-identity",
            "sensor-s-id",
            "--psk-key",
            "736f757468",
        ],
        &dir.join("sensor-s.log"),
    );
    device.wait_line(|l| l.starts_with("registered ep=sensor-s "));

    let listed = eventually(Duration::from_secs(20), "the server lists sensor-s behind gw1", || {
        let clients = server.get_json("/api/clients");
        clients.as_array()?.iter().find(|c| c["endpoint"] == "sensor-s" && c["gateway"] == "gw1").cloned()
    });
    assert_eq!(listed["prefix"], "d1");
    let gateway_entry = server.get_json("/api/clients/gw1");
    assert_eq!(gateway_entry["secure"], true, "{gateway_entry}");
    let read = server.get_json("/api/clients/sensor-s/3/0/0");
    assert_eq!(read["content"]["value"], "lwm2m-gw", "{read}");

    let (status, body) = server_support::http(http, "GET", "/api/end-devices", None, b"");
    assert_eq!(status, 200);
    let devices: serde_json::Value = serde_json::from_str(&body).unwrap();
    let endpoints: Vec<&str> = devices.as_array().unwrap().iter().filter_map(|d| d["endpoint"].as_str()).collect();
    assert_eq!(endpoints, ["sensor-s"], "the intruder never became an End-Device: {devices}");
}

#[test]
fn a_device_certificate_registers_the_endpoint_of_its_common_name_only() {
    let dir = TempDir::new("gw-x509");
    std::fs::create_dir_all(dir.join("server")).unwrap();
    let server = Gw::start(&dir.join("server"));
    let ca_key = p256();
    let ca = certificate("devices ca", &ca_key, None, 1);
    let south_key = p256();
    let south = certificate("gw1-south", &south_key, Some((&ca, &ca_key)), 2);
    let device_key = p256();
    let device_cert = certificate("cert-dev", &device_key, Some((&ca, &ca_key)), 3);
    write_pem(dir.path(), "ca", &ca, None);
    write_pem(dir.path(), "south", &south, Some(&south_key));
    write_pem(dir.path(), "device", &device_cert, Some(&device_key));

    let config = format!(
        r#"[gateway]
endpoint = "gw1"
http = "off"
data_dir = "gateway-data"

[south]
coap = "off"
coaps = "127.0.0.1:0"

[south.x509]
cert = "south.pem"
key = "south.key"
ca = "ca.pem"

[[north]]
uri = "coap://{}"
"#,
        server.addr("coap")
    );
    let path = dir.join("gateway.toml");
    std::fs::write(&path, config).unwrap();
    let mut gateway = Proc::start("gateway", &["run", "-c", path.to_str().unwrap()], &dir.join("gateway.log"));
    let south = gateway.address("south-dtls");
    gateway.wait_line(|l| l.starts_with("registered to coap://"));

    let uri = format!("coaps://{south}");
    let (cert, key, ca) = (dir.join("device.pem"), dir.join("device.key"), dir.join("ca.pem"));
    let x509 =
        ["--x509-cert", cert.to_str().unwrap(), "--x509-key", key.to_str().unwrap(), "--x509-ca", ca.to_str().unwrap()];
    let mut args = vec!["device", "--server", &uri, "--endpoint", "other-dev"];
    args.extend(x509);
    let mut thief = Proc::start("other-dev", &args, &dir.join("other-dev.log"));
    let refused = thief.wait_line(|l| l.starts_with("registration-failed ep=other-dev"));
    assert!(refused.contains("code=4.03"), "a certificate registers no other endpoint: {refused}");
    drop(thief);

    let mut args = vec!["device", "--server", &uri, "--endpoint", "cert-dev"];
    args.extend(x509);
    let mut device = Proc::start("cert-dev", &args, &dir.join("cert-dev.log"));
    device.wait_line(|l| l.starts_with("registered ep=cert-dev "));
    let listed = eventually(Duration::from_secs(20), "the server lists cert-dev behind gw1", || {
        let clients = server.get_json("/api/clients");
        clients.as_array()?.iter().find(|c| c["endpoint"] == "cert-dev" && c["gateway"] == "gw1").cloned()
    });
    assert_eq!(listed["prefix"], "d1");
    let read = server.get_json("/api/clients/cert-dev/3/0/0");
    assert_eq!(read["content"]["value"], "lwm2m-gw", "{read}");
}
