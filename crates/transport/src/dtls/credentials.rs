//! Credentials for one face of the gateway and the OpenSSL contexts built from them.
//!
//! PSK mode uses TLS_PSK_WITH_AES_128_CCM_8 (`PSK-AES128-CCM8`), certificate mode uses
//! TLS_ECDHE_ECDSA_WITH_AES_128_CCM_8 (`ECDHE-ECDSA-AES128-CCM8`) on P-256: the suites LwM2M
//! (Core TS 1.2 §7.1.7) and RFC 7252 §9.1.3 mandate. Keys are looked up through callbacks so each
//! face can consult its own store. Only DTLS 1.2 is offered; renegotiation, session tickets and
//! the session cache are off, so every session's identity comes from its own full handshake.

use std::fmt;
use std::sync::Arc;

use openssl::error::ErrorStack;
use openssl::ex_data::Index;
use openssl::nid::Nid;
use openssl::pkey::{PKey, Private};
use openssl::ssl::{
    Ssl, SslContext, SslContextBuilder, SslMethod, SslOptions, SslRef, SslSessionCacheMode, SslVerifyMode, SslVersion,
};
use openssl::x509::{X509Ref, X509StoreContextRef, X509};

use super::cookie::COOKIE_LEN;
use super::DtlsError;

/// OpenSSL name of TLS_PSK_WITH_AES_128_CCM_8 (RFC 6655).
pub const PSK_CIPHER: &str = "PSK-AES128-CCM8";
/// OpenSSL name of TLS_ECDHE_ECDSA_WITH_AES_128_CCM_8 (RFC 7251).
pub const CERTIFICATE_CIPHER: &str = "ECDHE-ECDSA-AES128-CCM8";

/// Longest PSK accepted (OpenSSL's PSK_MAX_PSK_LEN is 512 in 3.x; 64 bytes is far above LwM2M use).
pub const MAX_PSK_LEN: usize = 64;
/// Longest PSK identity accepted (RFC 4279 §5.3 allows 128 bytes in practice; OpenSSL caps at 128).
pub const MAX_PSK_IDENTITY_LEN: usize = 128;

/// Server-side PSK look-up: identity → key, `None` when the identity is unknown.
pub type PskLookup = Arc<dyn Fn(&str) -> Option<Vec<u8>> + Send + Sync>;

/// Decides whether an already chain-verified peer certificate is acceptable and returns the
/// identity it authenticates (`None` refuses it). The default takes the subject CN.
pub type CertificateAuthorizer = Arc<dyn Fn(&X509Ref) -> Option<String> + Send + Sync>;

/// The subject common name of `cert`, if it has one without NUL bytes.
pub fn subject_common_name(cert: &X509Ref) -> Option<String> {
    let entry = cert.subject_name().entries_by_nid(Nid::COMMONNAME).next()?;
    entry.data().to_string().ok().filter(|cn| !cn.contains('\0'))
}

/// An X.509 identity and the roots used to verify the other side.
#[derive(Clone)]
pub struct CertificateCredentials {
    /// Our end-entity certificate (an EC P-256 key).
    pub certificate: X509,
    /// Intermediate certificates sent after ours, leaf-most first (often empty).
    pub chain: Vec<X509>,
    /// The private key of `certificate`.
    pub private_key: PKey<Private>,
    /// Trust anchors for the peer's chain.
    pub trusted: Vec<X509>,
    /// Final say over a chain-verified peer certificate; [`subject_common_name`] when `None`.
    pub authorize: Option<CertificateAuthorizer>,
}

impl fmt::Debug for CertificateCredentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CertificateCredentials")
            .field("certificate", &self.certificate.subject_name())
            .field("chain", &self.chain.len())
            .field("trusted", &self.trusted.len())
            .field("authorize", &self.authorize.is_some())
            .finish_non_exhaustive()
    }
}

impl CertificateCredentials {
    fn identity_of(&self, cert: &X509Ref) -> Option<String> {
        match &self.authorize {
            Some(authorize) => authorize(cert),
            None => subject_common_name(cert),
        }
    }
}

/// What a DTLS server accepts. At least one of the two must be set; with both, the client's
/// cipher suite choice decides.
#[derive(Clone, Default)]
pub struct ServerCredentials {
    /// PSK look-up by identity.
    pub psk: Option<PskLookup>,
    /// Certificate mode (clients must present a certificate chaining to `trusted`).
    pub certificate: Option<CertificateCredentials>,
}

impl fmt::Debug for ServerCredentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ServerCredentials")
            .field("psk", &self.psk.is_some())
            .field("certificate", &self.certificate)
            .finish()
    }
}

/// How a DTLS client authenticates to its one server.
#[derive(Clone)]
pub enum ClientCredentials {
    /// Pre-shared key.
    Psk {
        /// PSK identity sent to the server.
        identity: String,
        /// The key.
        key: Vec<u8>,
    },
    /// Certificate mode (the server must present a certificate chaining to `trusted`).
    Certificate(CertificateCredentials),
}

impl fmt::Debug for ClientCredentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Psk { identity, .. } => f.debug_struct("Psk").field("identity", identity).finish_non_exhaustive(),
            Self::Certificate(c) => f.debug_tuple("Certificate").field(c).finish(),
        }
    }
}

fn base_context(cipher_list: &str) -> Result<SslContextBuilder, ErrorStack> {
    let mut ctx = SslContextBuilder::new(SslMethod::dtls())?;
    ctx.set_min_proto_version(Some(SslVersion::DTLS1_2))?;
    ctx.set_max_proto_version(Some(SslVersion::DTLS1_2))?;
    ctx.set_cipher_list(cipher_list)?;
    ctx.set_options(SslOptions::NO_TICKET | SslOptions::NO_RENEGOTIATION | SslOptions::NO_QUERY_MTU);
    ctx.set_session_cache_mode(SslSessionCacheMode::OFF);
    Ok(ctx)
}

fn add_certificate(ctx: &mut SslContextBuilder, c: &CertificateCredentials) -> Result<(), ErrorStack> {
    ctx.set_certificate(&c.certificate)?;
    for extra in &c.chain {
        ctx.add_extra_chain_cert(extra.clone())?;
    }
    ctx.set_private_key(&c.private_key)?;
    ctx.check_private_key()?;
    for root in &c.trusted {
        ctx.cert_store_mut().add_cert(root.clone())?;
    }
    ctx.set_groups_list("P-256")?;
    ctx.set_sigalgs_list("ECDSA+SHA256")?;
    Ok(())
}

/// A verify callback: OpenSSL's chain verdict, then `authorize` on the end-entity certificate.
fn verify_with(c: &CertificateCredentials) -> impl Fn(bool, &mut X509StoreContextRef) -> bool + Send + Sync + 'static {
    let c = c.clone();
    move |preverified, store| {
        if !preverified {
            return false;
        }
        if store.error_depth() != 0 {
            return true;
        }
        store.current_cert().and_then(|cert| c.identity_of(cert)).is_some()
    }
}

/// Builds the server context. Cookie callbacks answer with the cookie the transport verified
/// itself, stored in each `Ssl` under `cookie_index` (see `super::server`).
pub(crate) fn server_context(
    creds: &ServerCredentials,
    cookie_index: Index<Ssl, [u8; COOKIE_LEN]>,
) -> Result<SslContext, DtlsError> {
    let ciphers = match (&creds.psk, &creds.certificate) {
        (None, None) => return Err(DtlsError::NoCredentials),
        (Some(_), None) => PSK_CIPHER.to_string(),
        (None, Some(_)) => CERTIFICATE_CIPHER.to_string(),
        (Some(_), Some(_)) => format!("{CERTIFICATE_CIPHER}:{PSK_CIPHER}"),
    };
    let build = || -> Result<SslContext, ErrorStack> {
        let mut ctx = base_context(&ciphers)?;
        ctx.set_options(SslOptions::COOKIE_EXCHANGE);
        ctx.set_cookie_generate_cb(move |ssl, out| {
            let cookie = ssl.ex_data(cookie_index).copied().unwrap_or([0; COOKIE_LEN]);
            let n = cookie.len().min(out.len());
            out[..n].copy_from_slice(&cookie[..n]);
            Ok(n)
        });
        ctx.set_cookie_verify_cb(move |ssl, presented| {
            ssl.ex_data(cookie_index)
                .is_some_and(|expected| expected.len() == presented.len() && openssl::memcmp::eq(expected, presented))
        });
        if let Some(lookup) = &creds.psk {
            let lookup = lookup.clone();
            ctx.set_psk_server_callback(move |_ssl, identity, out| {
                let Some(identity) = identity.and_then(|id| std::str::from_utf8(id).ok()) else {
                    return Ok(0);
                };
                match lookup(identity) {
                    Some(key) if !key.is_empty() && key.len() <= out.len().min(MAX_PSK_LEN) => {
                        out[..key.len()].copy_from_slice(&key);
                        Ok(key.len())
                    }
                    _ => Ok(0),
                }
            });
        }
        if let Some(c) = &creds.certificate {
            add_certificate(&mut ctx, c)?;
            ctx.set_verify_callback(SslVerifyMode::PEER | SslVerifyMode::FAIL_IF_NO_PEER_CERT, verify_with(c));
        }
        Ok(ctx.build())
    };
    build().map_err(DtlsError::Setup)
}

/// Builds the client context.
pub(crate) fn client_context(creds: &ClientCredentials) -> Result<SslContext, DtlsError> {
    match creds {
        ClientCredentials::Psk { identity, key } => {
            if identity.is_empty() || identity.len() > MAX_PSK_IDENTITY_LEN || identity.contains('\0') {
                return Err(DtlsError::BadPskIdentity);
            }
            if key.is_empty() || key.len() > MAX_PSK_LEN {
                return Err(DtlsError::BadPskKey);
            }
            let (identity, key) = (identity.clone(), key.clone());
            let build = || -> Result<SslContext, ErrorStack> {
                let mut ctx = base_context(PSK_CIPHER)?;
                ctx.set_psk_client_callback(move |_ssl, _hint, identity_out, psk_out| {
                    // The identity is a NUL-terminated C string; both buffers are OpenSSL's.
                    if identity.len() >= identity_out.len() || key.len() > psk_out.len() {
                        return Ok(0);
                    }
                    identity_out[..identity.len()].copy_from_slice(identity.as_bytes());
                    identity_out[identity.len()] = 0;
                    psk_out[..key.len()].copy_from_slice(&key);
                    Ok(key.len())
                });
                Ok(ctx.build())
            };
            build().map_err(DtlsError::Setup)
        }
        ClientCredentials::Certificate(c) => {
            let build = || -> Result<SslContext, ErrorStack> {
                let mut ctx = base_context(CERTIFICATE_CIPHER)?;
                add_certificate(&mut ctx, c)?;
                ctx.set_verify_callback(SslVerifyMode::PEER, verify_with(c));
                Ok(ctx.build())
            };
            build().map_err(DtlsError::Setup)
        }
    }
}

/// The identity the peer of a finished handshake authenticated with, as a server sees it.
pub(crate) fn server_peer_identity(ssl: &SslRef, creds: &ServerCredentials) -> Option<String> {
    if let Some(identity) = ssl.psk_identity() {
        return std::str::from_utf8(identity).ok().map(str::to_string);
    }
    let cert = ssl.peer_certificate()?;
    creds.certificate.as_ref()?.identity_of(&cert)
}

/// The identity of the server, as a client sees it after a finished handshake.
pub(crate) fn client_peer_identity(ssl: &SslRef, creds: &ClientCredentials) -> Option<String> {
    match creds {
        ClientCredentials::Psk { identity, .. } => Some(identity.clone()),
        ClientCredentials::Certificate(c) => c.identity_of(ssl.peer_certificate()?.as_ref()),
    }
}
