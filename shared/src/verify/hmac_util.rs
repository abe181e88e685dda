//! HMAC helpers over the RustCrypto crates: compute, and verify in constant time.

use hmac::{Hmac, KeyInit, Mac};
use sha1::Sha1;
use sha2::{Sha256, Sha512};

type HmacSha256 = Hmac<Sha256>;

/// The digests the HMAC-based providers use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Algo {
    Sha1,
    Sha256,
    Sha512,
}

impl Algo {
    pub fn parse(s: &str) -> Option<Self> {
        match s.to_ascii_lowercase().as_str() {
            "sha1" => Some(Self::Sha1),
            "sha256" => Some(Self::Sha256),
            "sha512" => Some(Self::Sha512),
            _ => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Self::Sha1 => "sha1",
            Self::Sha256 => "sha256",
            Self::Sha512 => "sha512",
        }
    }
}

fn keyed<M: KeyInit + Mac>(key: &[u8]) -> M {
    // HMAC takes keys of any length; this cannot fail.
    match <M as KeyInit>::new_from_slice(key) {
        Ok(m) => m,
        Err(_) => unreachable!("HMAC accepts any key length"),
    }
}

fn run<M: KeyInit + Mac>(key: &[u8], parts: &[&[u8]]) -> M {
    let mut mac = keyed::<M>(key);
    for p in parts {
        mac.update(p);
    }
    mac
}

/// HMAC over the concatenation of `parts`.
pub fn compute(algo: Algo, key: &[u8], parts: &[&[u8]]) -> Vec<u8> {
    match algo {
        Algo::Sha1 => run::<Hmac<Sha1>>(key, parts)
            .finalize()
            .into_bytes()
            .to_vec(),
        Algo::Sha256 => run::<Hmac<Sha256>>(key, parts)
            .finalize()
            .into_bytes()
            .to_vec(),
        Algo::Sha512 => run::<Hmac<Sha512>>(key, parts)
            .finalize()
            .into_bytes()
            .to_vec(),
    }
}

/// Constant-time check of an HMAC tag over the concatenation of `parts`.
pub fn verify(algo: Algo, key: &[u8], parts: &[&[u8]], tag: &[u8]) -> bool {
    match algo {
        Algo::Sha1 => run::<Hmac<Sha1>>(key, parts).verify_slice(tag).is_ok(),
        Algo::Sha256 => run::<Hmac<Sha256>>(key, parts).verify_slice(tag).is_ok(),
        Algo::Sha512 => run::<Hmac<Sha512>>(key, parts).verify_slice(tag).is_ok(),
    }
}

/// HMAC-SHA256 over the concatenation of `parts`.
pub fn sha256(key: &[u8], parts: &[&[u8]]) -> Vec<u8> {
    run::<HmacSha256>(key, parts)
        .finalize()
        .into_bytes()
        .to_vec()
}

/// Constant-time check of an HMAC-SHA256 tag over the concatenation of `parts`.
pub fn verify_sha256(key: &[u8], parts: &[&[u8]], tag: &[u8]) -> bool {
    run::<HmacSha256>(key, parts).verify_slice(tag).is_ok()
}

/// Constant-time equality of two byte strings (tokens, passwords).
pub fn ct_eq(a: &[u8], b: &[u8]) -> bool {
    use subtle::ConstantTimeEq;
    // Lengths are not secret (a token's length is public); contents are compared in constant time.
    a.len() == b.len() && bool::from(a.ct_eq(b))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 4231 test case 2 (HMAC-SHA256, SHA512) and RFC 2202 test case 2 (HMAC-SHA1):
    /// key "Jefe", data "what do ya want for nothing?".
    #[test]
    fn rfc_vectors() {
        let d: &[u8] = b"what do ya want for nothing?";
        assert_eq!(
            hex::encode(compute(Algo::Sha1, b"Jefe", &[d])),
            "effcdf6ae5eb2fa2d27416d5f184df9c259a7c79"
        );
        assert_eq!(
            hex::encode(compute(Algo::Sha256, b"Jefe", &[&d[..10], &d[10..]])),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
        assert_eq!(
            hex::encode(compute(Algo::Sha512, b"Jefe", &[d])),
            "164b7a7bfcf819e2e395fbe73b56e0a387bd64222e831fd610270cd7ea2505549758bf75c05a994a6d034f65f8f0e6fdcaeab1a34d4a6b4b636e070a38bce737"
        );
        let t = compute(Algo::Sha512, b"Jefe", &[d]);
        assert!(verify(Algo::Sha512, b"Jefe", &[d], &t));
        assert!(!verify(Algo::Sha512, b"jefe", &[d], &t));
        assert!(ct_eq(b"abc", b"abc") && !ct_eq(b"abc", b"abd") && !ct_eq(b"ab", b"abc"));
    }
}
