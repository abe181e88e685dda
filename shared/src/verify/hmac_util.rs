//! HMAC helpers over the RustCrypto crates: compute, and verify in constant time.

use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

type HmacSha256 = Hmac<Sha256>;

/// HMAC-SHA256 over the concatenation of `parts`.
pub fn sha256(key: &[u8], parts: &[&[u8]]) -> Vec<u8> {
    let mut mac = mac256(key);
    for p in parts {
        mac.update(p);
    }
    mac.finalize().into_bytes().to_vec()
}

/// Constant-time check of an HMAC-SHA256 tag over the concatenation of `parts`.
pub fn verify_sha256(key: &[u8], parts: &[&[u8]], tag: &[u8]) -> bool {
    let mut mac = mac256(key);
    for p in parts {
        mac.update(p);
    }
    mac.verify_slice(tag).is_ok()
}

fn mac256(key: &[u8]) -> HmacSha256 {
    // HMAC takes keys of any length; this cannot fail.
    match <HmacSha256 as KeyInit>::new_from_slice(key) {
        Ok(m) => m,
        Err(_) => unreachable!("HMAC accepts any key length"),
    }
}
