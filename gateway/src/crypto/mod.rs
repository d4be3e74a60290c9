//! The small cryptographic helpers every door shares: digests, random secrets, constant-time
//! comparison and redaction, the sealing of keys at rest, and JWK sets.

pub mod jwks;
pub mod sealed;

use base64::Engine;
use sha2::{Digest, Sha256};

/// `base64url(SHA-256(input))`, as PKCE S256 and the popup's result handle use it.
pub fn s256(input: &str) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(Sha256::digest(input.as_bytes()))
}

/// Hex SHA-256: how refresh tokens, client secrets and one-time codes are stored.
pub fn sha256_hex(input: &str) -> String {
    hex::encode(Sha256::digest(input.as_bytes()))
}

/// A random, URL-safe secret of `bytes` bytes of entropy.
pub fn random_token(bytes: usize) -> String {
    let mut buf = vec![0u8; bytes];
    rand::fill(buf.as_mut_slice());
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(buf)
}

/// Compares two secrets (or their hashes) in time independent of where they differ.
pub fn constant_time_eq(a: &str, b: &str) -> bool {
    use subtle::ConstantTimeEq;
    a.len() == b.len() && bool::from(a.as_bytes().ct_eq(b.as_bytes()))
}

/// A stable pseudonym for a user in what course teams see: `learner-` and 10 hex digits of
/// HMAC-SHA256(secret key, user id). The same user keeps it across days and exports; without the
/// gateway's secret key it cannot be traced back.
pub fn pseudonym(secret_key: &secrecy::SecretString, user_id: &str) -> String {
    use secrecy::ExposeSecret;
    let key = aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA256, secret_key.expose_secret().as_bytes());
    let tag = aws_lc_rs::hmac::sign(&key, format!("pseudonym:{user_id}").as_bytes());
    format!("learner-{}", &hex::encode(tag.as_ref())[..10])
}

/// A token's first characters and an ellipsis: enough to correlate, never enough to use.
pub fn redact_token(token: &str) -> String {
    let prefix: String = token.chars().take(6).collect();
    format!("{prefix}…")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn s256_matches_rfc7636_appendix_b() {
        assert_eq!(s256("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"), "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM");
    }

    #[test]
    fn constant_time_eq_compares() {
        assert!(constant_time_eq("abc", "abc"));
        assert!(!constant_time_eq("abc", "abd"));
        assert!(!constant_time_eq("abc", "abcd"));
    }

    #[test]
    fn redaction_keeps_a_prefix_only() {
        assert_eq!(redact_token("eyJhbGciOiJSUzI1NiJ9.secret"), "eyJhbG…");
        assert_ne!(random_token(32), random_token(32));
        assert_eq!(random_token(32).len(), 43);
    }
}
