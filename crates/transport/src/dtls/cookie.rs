//! Stateless DTLS cookies (RFC 6347 §4.2.1).
//!
//! A cookie is `HMAC-SHA256(secret, client address ‖ ClientHello parameters)` truncated to
//! [`COOKIE_LEN`] bytes, so the server answers a ClientHello without a valid cookie with a
//! HelloVerifyRequest and keeps nothing. The secret rotates every `lifetime`; cookies made with
//! the previous secret stay valid for one more period, so an exchange spanning a rotation
//! completes. Comparison is constant-time.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use openssl::error::ErrorStack;
use openssl::hash::MessageDigest;
use openssl::pkey::{PKey, Private};
use openssl::sign::Signer;

use super::record::ClientHello;

/// Cookie length on the wire. 16 bytes fits every DTLS stack seen on constrained devices
/// (tinydtls caps cookies at 16) and is 128 bits of HMAC.
pub(crate) const COOKIE_LEN: usize = 16;

/// The current and previous HMAC secrets.
pub(crate) struct CookieSecrets {
    current: PKey<Private>,
    previous: Option<PKey<Private>>,
    rotate_at: Option<Instant>,
    lifetime: Duration,
}

impl std::fmt::Debug for CookieSecrets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CookieSecrets").field("rotate_at", &self.rotate_at).finish_non_exhaustive()
    }
}

fn fresh_secret() -> Result<PKey<Private>, ErrorStack> {
    let mut key = [0u8; 32];
    openssl::rand::rand_bytes(&mut key)?;
    PKey::hmac(&key)
}

impl CookieSecrets {
    /// New secrets from OpenSSL's CSPRNG, rotated every `lifetime`.
    pub(crate) fn new(lifetime: Duration) -> Result<Self, ErrorStack> {
        Ok(Self { current: fresh_secret()?, previous: None, rotate_at: None, lifetime })
    }

    /// Rotates the secret if its period is over. The first call starts the period.
    pub(crate) fn maybe_rotate(&mut self, now: Instant) -> Result<(), ErrorStack> {
        match self.rotate_at {
            None => self.rotate_at = Some(now + self.lifetime),
            Some(at) if now >= at => {
                let next = fresh_secret()?;
                self.previous = Some(std::mem::replace(&mut self.current, next));
                self.rotate_at = Some(now + self.lifetime);
            }
            Some(_) => {}
        }
        Ok(())
    }

    /// The cookie for `hello` from `addr` under the current secret.
    pub(crate) fn cookie(&self, addr: SocketAddr, hello: &ClientHello<'_>) -> Result<[u8; COOKIE_LEN], ErrorStack> {
        mac(&self.current, addr, hello)
    }

    /// Whether `hello` carries a cookie made for it and `addr` under the current or previous secret.
    pub(crate) fn verify(&self, addr: SocketAddr, hello: &ClientHello<'_>) -> Result<bool, ErrorStack> {
        if hello.cookie.len() != COOKIE_LEN {
            return Ok(false);
        }
        let mut ok = openssl::memcmp::eq(&mac(&self.current, addr, hello)?, hello.cookie);
        if let Some(previous) = &self.previous {
            ok |= openssl::memcmp::eq(&mac(previous, addr, hello)?, hello.cookie);
        }
        Ok(ok)
    }
}

fn mac(key: &PKey<Private>, addr: SocketAddr, hello: &ClientHello<'_>) -> Result<[u8; COOKIE_LEN], ErrorStack> {
    let mut signer = Signer::new(MessageDigest::sha256(), key)?;
    match addr {
        SocketAddr::V4(v4) => signer.update(&v4.ip().octets())?,
        SocketAddr::V6(v6) => signer.update(&v6.ip().octets())?,
    }
    signer.update(&addr.port().to_be_bytes())?;
    signer.update(&hello.client_version)?;
    signer.update(hello.random)?;
    // Length-prefix the variable fields so that no two parameter sets hash alike.
    for field in [hello.session_id, hello.cipher_suites, hello.compression_methods] {
        signer.update(&u32::try_from(field.len()).unwrap_or(u32::MAX).to_be_bytes())?;
        signer.update(field)?;
    }
    let full = signer.sign_to_vec()?;
    let mut out = [0u8; COOKIE_LEN];
    let n = COOKIE_LEN.min(full.len());
    out[..n].copy_from_slice(&full[..n]);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dtls::record::tests::client_hello;

    const ADDR: &str = "192.0.2.1:5683";

    fn addr() -> SocketAddr {
        ADDR.parse().expect("addr")
    }

    #[test]
    fn a_cookie_verifies_for_its_address_and_hello_only() {
        let mut secrets = CookieSecrets::new(Duration::from_secs(60)).expect("secret");
        let now = Instant::now();
        secrets.maybe_rotate(now).expect("rotate");
        let first = client_hello(&[], 0, 0);
        let cookie = secrets.cookie(addr(), &ClientHello::parse(&first).expect("hello")).expect("mac");

        let second = client_hello(&cookie, 1, 1);
        let hello = ClientHello::parse(&second).expect("hello");
        assert!(secrets.verify(addr(), &hello).expect("mac"));
        assert!(!secrets.verify("192.0.2.1:5684".parse().expect("addr"), &hello).expect("mac"), "other port");
        assert!(!secrets.verify("192.0.2.2:5683".parse().expect("addr"), &hello).expect("mac"), "other host");

        let mut tampered = cookie;
        tampered[0] ^= 1;
        let forged = client_hello(&tampered, 1, 1);
        assert!(!secrets.verify(addr(), &ClientHello::parse(&forged).expect("hello")).expect("mac"));
        let short = client_hello(&cookie[..8], 1, 1);
        assert!(!secrets.verify(addr(), &ClientHello::parse(&short).expect("hello")).expect("mac"));
    }

    #[test]
    fn a_cookie_outlives_one_rotation_but_not_two() {
        let lifetime = Duration::from_secs(60);
        let mut secrets = CookieSecrets::new(lifetime).expect("secret");
        let now = Instant::now();
        secrets.maybe_rotate(now).expect("rotate");
        let cookie =
            secrets.cookie(addr(), &ClientHello::parse(&client_hello(&[], 0, 0)).expect("hello")).expect("mac");
        let answer = client_hello(&cookie, 1, 1);
        let hello = ClientHello::parse(&answer).expect("hello");

        secrets.maybe_rotate(now + lifetime).expect("rotate");
        assert!(secrets.verify(addr(), &hello).expect("mac"), "previous secret still accepted");
        secrets.maybe_rotate(now + lifetime * 2).expect("rotate");
        assert!(!secrets.verify(addr(), &hello).expect("mac"), "two rotations later it is stale");
    }
}
