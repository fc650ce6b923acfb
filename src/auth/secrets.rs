//! Random bearer secrets (session tokens, API keys, setup tokens) and their stored hashes.

use base64::Engine;
use rand::RngCore;
use sha2::{Digest, Sha256};

pub const SESSION_PREFIX: &str = "rts_";
pub const API_KEY_PREFIX: &str = "rtk_";

/// `prefix` + 32 random bytes, base64url without padding.
pub fn generate(prefix: &str) -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    format!(
        "{prefix}{}",
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
    )
}

/// What is stored instead of the secret. The secrets are 256-bit random, so a fast hash
/// is enough (no password stretching needed).
pub fn hash(secret: &str) -> String {
    hex::encode(Sha256::digest(secret.as_bytes()))
}

/// Constant-time comparison of two hashes.
pub fn equal(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}
