//! Local-account passwords: argon2id with the crate's recommended parameters, hashed and verified
//! off the async threads (each takes tens of milliseconds of CPU by design).

use argon2::Argon2;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};

pub const MIN_PASSWORD_LEN: usize = 8;
pub const MAX_PASSWORD_LEN: usize = 128;

#[derive(Debug, thiserror::Error)]
pub enum PasswordError {
    #[error("password hashing failed")]
    Hash,
    #[error("worker failed")]
    Join,
}

pub async fn hash(password: String) -> Result<String, PasswordError> {
    tokio::task::spawn_blocking(move || {
        let salt = SaltString::encode_b64(&rand::random::<[u8; 16]>()).map_err(|_| PasswordError::Hash)?;
        Argon2::default()
            .hash_password(password.as_bytes(), &salt)
            .map(|h| h.to_string())
            .map_err(|_| PasswordError::Hash)
    })
    .await
    .map_err(|_| PasswordError::Join)?
}

/// False for a wrong password and for a malformed stored hash alike.
pub async fn verify(password: String, stored: String) -> Result<bool, PasswordError> {
    tokio::task::spawn_blocking(move || {
        Ok(PasswordHash::new(&stored)
            .is_ok_and(|parsed| Argon2::default().verify_password(password.as_bytes(), &parsed).is_ok()))
    })
    .await
    .map_err(|_| PasswordError::Join)?
}

/// A stored hash to verify against when the account does not exist, so that a wrong username
/// costs the same time as a wrong password (no user enumeration by timing).
pub async fn dummy_hash() -> &'static str {
    static DUMMY: tokio::sync::OnceCell<String> = tokio::sync::OnceCell::const_new();
    DUMMY.get_or_init(|| async { hash("not-a-real-password".into()).await.unwrap_or_default() }).await
}

#[cfg(test)]
mod tests {
    #[tokio::test]
    async fn hash_then_verify() {
        let h = super::hash("correct horse battery".into()).await.expect("hash");
        assert!(h.starts_with("$argon2id$"));
        assert!(super::verify("correct horse battery".into(), h.clone()).await.expect("verify"));
        assert!(!super::verify("wrong".into(), h).await.expect("verify"));
        assert!(!super::verify("x".into(), "not a hash".into()).await.expect("verify"));
    }
}
