//! Local-account passwords: argon2id with the crate's recommended parameters, hashed and verified
//! off the async threads (each takes tens of milliseconds of CPU by design), a bounded number at a
//! time: a flood of sign-in attempts waits its turn briefly, then is told to come back, instead of
//! queueing without end on the blocking pool.

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
    #[error("too many passwords being checked at once")]
    Busy,
}

/// How long a password check waits for a free slot before it is refused as busy.
const SLOT_WAIT: std::time::Duration = std::time::Duration::from_secs(2);

/// The password work of one process: at most so many hashes at once.
#[derive(Debug, Clone)]
pub struct PasswordWork {
    slots: std::sync::Arc<tokio::sync::Semaphore>,
    wait: std::time::Duration,
}

impl PasswordWork {
    /// Twice the CPUs: each hash keeps a core busy for tens of milliseconds.
    pub fn new() -> Self {
        let cpus = std::thread::available_parallelism().map_or(2, std::num::NonZeroUsize::get);
        Self::with_slots(cpus * 2)
    }

    pub fn with_slots(slots: usize) -> Self {
        Self::with_limits(slots, SLOT_WAIT)
    }

    /// `slots` hashes at once; a check waits at most `wait` for one.
    pub fn with_limits(slots: usize, wait: std::time::Duration) -> Self {
        Self { slots: std::sync::Arc::new(tokio::sync::Semaphore::new(slots.max(1))), wait }
    }

    async fn slot(&self) -> Result<tokio::sync::OwnedSemaphorePermit, PasswordError> {
        match tokio::time::timeout(self.wait, self.slots.clone().acquire_owned()).await {
            Ok(Ok(permit)) => Ok(permit),
            _ => Err(PasswordError::Busy),
        }
    }

    pub async fn hash(&self, password: String) -> Result<String, PasswordError> {
        let _slot = self.slot().await?;
        hash(password).await
    }

    pub async fn verify(&self, password: String, stored: String) -> Result<bool, PasswordError> {
        let _slot = self.slot().await?;
        verify(password, stored).await
    }
}

impl Default for PasswordWork {
    fn default() -> Self {
        Self::new()
    }
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
    async fn a_full_house_answers_busy_instead_of_queueing_forever() {
        let work = super::PasswordWork::with_slots(1);
        let held = work.slot().await.expect("the one slot");
        let started = std::time::Instant::now();
        assert!(matches!(work.verify("x".into(), "y".into()).await, Err(super::PasswordError::Busy)));
        assert!(started.elapsed() >= super::SLOT_WAIT, "it waited its turn first");
        drop(held);
        assert!(!work.verify("x".into(), "y".into()).await.expect("a free slot"));
    }

    #[tokio::test]
    async fn hash_then_verify() {
        let h = super::hash("correct horse battery".into()).await.expect("hash");
        assert!(h.starts_with("$argon2id$"));
        assert!(super::verify("correct horse battery".into(), h.clone()).await.expect("verify"));
        assert!(!super::verify("wrong".into(), h).await.expect("verify"));
        assert!(!super::verify("x".into(), "not a hash".into()).await.expect("verify"));
    }
}
