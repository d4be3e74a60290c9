//! Secrets at rest: the signing keys' private halves are stored sealed (AES-256-GCM) under a key
//! derived from `SECRET_KEY` (HKDF-SHA256), bound to their key id, so a copy of the database alone
//! mints no tokens. A gateway started with another `SECRET_KEY` cannot open them and stops, rather
//! than mint a key of its own that the others would not trust.

use aws_lc_rs::aead::{AES_256_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use aws_lc_rs::hkdf::{HKDF_SHA256, Salt};
use base64::Engine;
use secrecy::{ExposeSecret, SecretString};

/// Sealed values start with this; anything else is a legacy plaintext value.
const PREFIX: &str = "sealed:v1:";
const SALT: &[u8] = b"ibal-gateway";
const INFO: &[u8] = b"signing keys at rest v1";

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SealError {
    #[error("it was sealed under another SECRET_KEY (or altered)")]
    WrongKey,
    #[error("it is not a sealed value")]
    Malformed,
    #[error("sealing failed")]
    Seal,
}

/// Seals and opens values under one `SECRET_KEY`.
pub struct Sealer {
    key: LessSafeKey,
}

impl std::fmt::Debug for Sealer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Sealer([REDACTED])")
    }
}

impl Sealer {
    pub fn new(secret_key: &SecretString) -> Self {
        let prk = Salt::new(HKDF_SHA256, SALT).extract(secret_key.expose_secret().as_bytes());
        let mut bytes = [0u8; 32];
        // 32 bytes of HKDF-SHA256 output: always within its limit.
        let filled = prk.expand(&[INFO], &AES_256_GCM).and_then(|okm| okm.fill(&mut bytes));
        debug_assert!(filled.is_ok());
        let key = UnboundKey::new(&AES_256_GCM, &bytes).map(LessSafeKey::new);
        Self { key: key.unwrap_or_else(|_| unreachable!("a 32-byte key is an AES-256 key")) }
    }

    /// Whether `value` is sealed (else it is a legacy plaintext to seal).
    pub fn is_sealed(value: &str) -> bool {
        value.starts_with(PREFIX)
    }

    /// `plaintext` sealed, bound to `context` (the key id: a sealed key moved to another row does not open).
    ///
    /// # Errors
    /// When the random nonce or the cipher fails.
    pub fn seal(&self, plaintext: &str, context: &str) -> Result<String, SealError> {
        let mut nonce = [0u8; NONCE_LEN];
        aws_lc_rs::rand::fill(&mut nonce).map_err(|_| SealError::Seal)?;
        let mut data = plaintext.as_bytes().to_vec();
        self.key
            .seal_in_place_append_tag(Nonce::assume_unique_for_key(nonce), Aad::from(context.as_bytes()), &mut data)
            .map_err(|_| SealError::Seal)?;
        let mut out = nonce.to_vec();
        out.extend_from_slice(&data);
        Ok(format!("{PREFIX}{}", base64::engine::general_purpose::STANDARD.encode(out)))
    }

    /// The plaintext of a sealed value.
    ///
    /// # Errors
    /// `WrongKey` when it was sealed under another `SECRET_KEY` (or for another context, or
    /// altered); `Malformed` when it is not a sealed value.
    pub fn open(&self, sealed: &str, context: &str) -> Result<String, SealError> {
        let body = sealed.strip_prefix(PREFIX).ok_or(SealError::Malformed)?;
        let mut data = base64::engine::general_purpose::STANDARD.decode(body).map_err(|_| SealError::Malformed)?;
        if data.len() < NONCE_LEN {
            return Err(SealError::Malformed);
        }
        let mut nonce = [0u8; NONCE_LEN];
        nonce.copy_from_slice(&data[..NONCE_LEN]);
        let plain = self
            .key
            .open_in_place(Nonce::assume_unique_for_key(nonce), Aad::from(context.as_bytes()), &mut data[NONCE_LEN..])
            .map_err(|_| SealError::WrongKey)?;
        String::from_utf8(plain.to_vec()).map_err(|_| SealError::Malformed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sealer(secret: &str) -> Sealer {
        Sealer::new(&SecretString::from(secret.to_owned()))
    }

    #[test]
    fn sealed_values_open_only_with_the_same_secret_and_context() {
        let a = sealer("a-secret-key-of-at-least-thirty-two-chars");
        let sealed = a.seal("-----BEGIN PRIVATE KEY-----\nMII…", "kid-1").expect("seal");
        assert!(Sealer::is_sealed(&sealed) && !sealed.contains("BEGIN"), "{sealed}");
        assert_ne!(
            sealed,
            a.seal("-----BEGIN PRIVATE KEY-----\nMII…", "kid-1").expect("seal"),
            "a fresh nonce each time"
        );
        assert_eq!(a.open(&sealed, "kid-1").as_deref(), Ok("-----BEGIN PRIVATE KEY-----\nMII…"));
        assert_eq!(a.open(&sealed, "kid-2"), Err(SealError::WrongKey), "bound to its key id");
        let b = sealer("another-secret-key-of-thirty-two-characters");
        assert_eq!(b.open(&sealed, "kid-1"), Err(SealError::WrongKey));
        let mut altered = sealed.clone();
        altered.pop();
        altered.push('A');
        assert!(a.open(&altered, "kid-1").is_err());
        assert_eq!(a.open("-----BEGIN PRIVATE KEY-----", "kid-1"), Err(SealError::Malformed));
        assert_eq!(a.open("sealed:v1:AAAA", "kid-1"), Err(SealError::Malformed));
        assert!(!Sealer::is_sealed("-----BEGIN PRIVATE KEY-----"));
    }
}
