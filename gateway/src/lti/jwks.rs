//! The platforms' public keys, fetched from their JWKS URLs and cached. A `kid` the cache does not
//! know triggers one refetch, at most every `MIN_REFETCH` per URL, so forged kids cannot make the
//! gateway hammer a platform.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use jsonwebtoken::DecodingKey;

use crate::crypto::jwks::RsaKeys;

const TTL: Duration = Duration::from_secs(600);
const MIN_REFETCH: Duration = Duration::from_secs(30);

#[derive(Clone)]
struct Entry {
    keys: RsaKeys,
    fetched: Instant,
}

pub struct JwksCache {
    http: reqwest::Client,
    entries: Mutex<HashMap<String, Entry>>,
}

impl std::fmt::Debug for JwksCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JwksCache").finish_non_exhaustive()
    }
}

#[derive(Debug, thiserror::Error)]
pub enum JwksError {
    #[error("the platform's JWKS could not be fetched: {0}")]
    Fetch(String),
    #[error("the platform's JWKS is malformed")]
    Malformed,
    #[error("no key with this kid in the platform's JWKS")]
    UnknownKid,
}

impl JwksCache {
    pub fn new(http: reqwest::Client) -> Self {
        Self { http, entries: Mutex::new(HashMap::new()) }
    }

    /// The key for `kid` (or the only key when there is no kid) at `url`.
    pub async fn key(&self, url: &str, kid: Option<&str>) -> Result<DecodingKey, JwksError> {
        let cached = self.entries.lock().ok().and_then(|e| e.get(url).cloned());
        if let Some(entry) = &cached {
            if let Some(key) = entry.keys.find(kid).cloned()
                && entry.fetched.elapsed() < TTL
            {
                return Ok(key);
            }
            if entry.fetched.elapsed() < MIN_REFETCH {
                return entry.keys.find(kid).cloned().ok_or(JwksError::UnknownKid);
            }
        }
        let keys = self.fetch(url).await?;
        let key = keys.find(kid).cloned();
        if let Ok(mut entries) = self.entries.lock() {
            entries.insert(url.to_owned(), Entry { keys, fetched: Instant::now() });
        }
        key.ok_or(JwksError::UnknownKid)
    }

    async fn fetch(&self, url: &str) -> Result<RsaKeys, JwksError> {
        let response = self
            .http
            .get(url)
            .timeout(Duration::from_secs(10))
            .send()
            .await
            .map_err(|e| JwksError::Fetch(e.to_string()))?;
        if !response.status().is_success() {
            return Err(JwksError::Fetch(format!("HTTP {}", response.status())));
        }
        let body = response.text().await.map_err(|e| JwksError::Fetch(e.to_string()))?;
        RsaKeys::parse(&body).map_err(|_| JwksError::Malformed)
    }
}
