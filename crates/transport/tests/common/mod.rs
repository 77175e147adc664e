//! Shared test support: an echo engine, certificates made at test time, driver helpers.
#![allow(dead_code, unreachable_pub)]

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use coap::{Engine, Peer, Transmit};
use openssl::asn1::Asn1Time;
use openssl::bn::BigNum;
use openssl::ec::{EcGroup, EcKey};
use openssl::hash::MessageDigest;
use openssl::nid::Nid;
use openssl::pkey::{PKey, Private};
use openssl::x509::extension::{BasicConstraints, KeyUsage};
use openssl::x509::{X509Builder, X509NameBuilder, X509};
use tokio::net::UdpSocket;
use transport::dtls::{CertificateCredentials, PskLookup};
use transport::{DriverConfig, DriverHandle, DriverTask};

/// Records what arrives; echoes it back prefixed with `echo:` when `echo` is set.
#[derive(Debug, Default)]
pub struct Echo {
    pub echo: bool,
    pub received: Vec<(Peer, Vec<u8>)>,
    out: VecDeque<(Peer, Vec<u8>)>,
}

impl Echo {
    pub fn echoing() -> Self {
        Self { echo: true, ..Self::default() }
    }

    pub fn send(&mut self, peer: Peer, datagram: &[u8]) {
        self.out.push_back((peer, datagram.to_vec()));
    }
}

impl Engine for Echo {
    fn handle_datagram(&mut self, _now: Instant, peer: Peer, datagram: &[u8]) {
        self.received.push((peer.clone(), datagram.to_vec()));
        if self.echo {
            let mut reply = b"echo:".to_vec();
            reply.extend_from_slice(datagram);
            self.out.push_back((peer, reply));
        }
    }

    fn handle_timeout(&mut self, _now: Instant) {}

    fn poll_transmit(&mut self, _now: Instant, buf: &mut Vec<u8>) -> Option<Transmit> {
        let (peer, datagram) = self.out.pop_front()?;
        buf.clear();
        buf.extend_from_slice(&datagram);
        Some(Transmit { peer, len: datagram.len() })
    }

    fn poll_timeout(&self) -> Option<Instant> {
        None
    }
}

/// A PSK look-up over a fixed table.
pub fn psk_table(entries: &[(&str, &[u8])]) -> PskLookup {
    let table: Vec<(String, Vec<u8>)> = entries.iter().map(|(i, k)| (i.to_string(), k.to_vec())).collect();
    Arc::new(move |identity: &str| table.iter().find(|(i, _)| i == identity).map(|(_, k)| k.clone()))
}

fn ec_key() -> PKey<Private> {
    let group = EcGroup::from_curve_name(Nid::X9_62_PRIME256V1).expect("p-256");
    PKey::from_ec_key(EcKey::generate(&group).expect("ec key")).expect("pkey")
}

fn build_cert(cn: &str, key: &PKey<Private>, issuer: Option<(&X509, &PKey<Private>)>, ca: bool) -> X509 {
    let mut name = X509NameBuilder::new().expect("name");
    name.append_entry_by_nid(Nid::COMMONNAME, cn).expect("cn");
    let name = name.build();
    let mut b = X509Builder::new().expect("builder");
    b.set_version(2).expect("v3");
    let serial = BigNum::from_u32(rand_serial()).expect("serial").to_asn1_integer().expect("asn1");
    b.set_serial_number(&serial).expect("serial");
    b.set_subject_name(&name).expect("subject");
    b.set_not_before(&Asn1Time::days_from_now(0).expect("time")).expect("nb");
    b.set_not_after(&Asn1Time::days_from_now(2).expect("time")).expect("na");
    b.set_pubkey(key).expect("pubkey");
    if ca {
        b.append_extension(BasicConstraints::new().critical().ca().build().expect("bc")).expect("ext");
        b.append_extension(KeyUsage::new().critical().key_cert_sign().crl_sign().build().expect("ku")).expect("ext");
    } else {
        b.append_extension(BasicConstraints::new().build().expect("bc")).expect("ext");
        b.append_extension(KeyUsage::new().critical().digital_signature().build().expect("ku")).expect("ext");
    }
    match issuer {
        Some((issuer_cert, issuer_key)) => {
            b.set_issuer_name(issuer_cert.subject_name()).expect("issuer");
            b.sign(issuer_key, MessageDigest::sha256()).expect("sign");
        }
        None => {
            b.set_issuer_name(&name).expect("issuer");
            b.sign(key, MessageDigest::sha256()).expect("sign");
        }
    }
    b.build()
}

fn rand_serial() -> u32 {
    let mut bytes = [0u8; 4];
    openssl::rand::rand_bytes(&mut bytes).expect("rand");
    u32::from_be_bytes(bytes) >> 1
}

/// A self-signed CA able to issue end-entity certificates.
pub struct TestCa {
    pub cert: X509,
    pub key: PKey<Private>,
}

impl TestCa {
    pub fn new(cn: &str) -> Self {
        let key = ec_key();
        let cert = build_cert(cn, &key, None, true);
        Self { cert, key }
    }

    /// Credentials for `cn`, issued by this CA, trusting `trusted`.
    pub fn credentials(&self, cn: &str, trusted: &Self) -> CertificateCredentials {
        let key = ec_key();
        let certificate = build_cert(cn, &key, Some((&self.cert, &self.key)), false);
        CertificateCredentials {
            certificate,
            chain: Vec::new(),
            private_key: key,
            trusted: vec![trusted.cert.clone()],
            authorize: None,
        }
    }
}

/// Binds 127.0.0.1:0 and starts a driver for `engine`.
pub async fn start<E: Engine + Send + 'static>(engine: E) -> (DriverHandle<E>, DriverTask<E>) {
    let socket = UdpSocket::bind("127.0.0.1:0").await.expect("bind 127.0.0.1:0");
    transport::spawn(engine, socket, |_: &mut E| {}, DriverConfig::default()).expect("spawn driver")
}

/// Polls `check` on the engine every 10 ms until it returns `Some`, for at most `limit`.
pub async fn wait_for<E: 'static, R: Send + 'static>(
    handle: &DriverHandle<E>,
    limit: Duration,
    check: impl Fn(&mut E) -> Option<R> + Send + Sync + Clone + 'static,
) -> Option<R> {
    let started = tokio::time::Instant::now();
    loop {
        let c = check.clone();
        if let Some(r) = handle.call(move |e, _| c(e)).await.expect("driver alive") {
            return Some(r);
        }
        if started.elapsed() > limit {
            return None;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// A free UDP port on 127.0.0.1 (bound and released; fine for tests).
pub fn free_port() -> u16 {
    let s = std::net::UdpSocket::bind("127.0.0.1:0").expect("bind");
    s.local_addr().expect("addr").port()
}

pub fn localhost(port: u16) -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], port))
}

/// A minimal DTLS 1.2 ClientHello offering TLS_PSK_WITH_AES_128_CCM_8, as one record.
pub fn client_hello(random: [u8; 32], cookie: &[u8], message_seq: u16, record_seq: u16) -> Vec<u8> {
    let mut body = vec![0xfe, 0xfd];
    body.extend_from_slice(&random);
    body.push(0); // session_id
    body.push(cookie.len() as u8);
    body.extend_from_slice(cookie);
    body.extend_from_slice(&[0x00, 0x02, 0xc0, 0xa8]); // cipher_suites
    body.extend_from_slice(&[0x01, 0x00]); // compression: null
    let len = body.len();
    let mut hs = vec![1, 0, (len >> 8) as u8, len as u8];
    hs.extend_from_slice(&message_seq.to_be_bytes());
    hs.extend_from_slice(&[0, 0, 0, 0, (len >> 8) as u8, len as u8]);
    hs.extend_from_slice(&body);
    let mut record = vec![22, 0xfe, 0xfd, 0, 0, 0, 0, 0, 0];
    record.extend_from_slice(&record_seq.to_be_bytes());
    record.extend_from_slice(&(hs.len() as u16).to_be_bytes());
    record.extend_from_slice(&hs);
    record
}

/// The cookie of a HelloVerifyRequest datagram.
pub fn hello_verify_cookie(datagram: &[u8]) -> Option<Vec<u8>> {
    // record header 13, handshake header 12 (type 3), server_version 2, cookie<0..255>
    if datagram.first() != Some(&22) || datagram.get(13) != Some(&3) {
        return None;
    }
    let len = usize::from(*datagram.get(27)?);
    datagram.get(28..28 + len).map(<[u8]>::to_vec)
}
