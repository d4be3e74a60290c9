//! The platforms' public keys, fetched from their JWKS URLs and cached. A `kid` the cache does not
//! know triggers one refetch, at most every `MIN_REFETCH` per URL, so forged kids cannot make the
//! gateway hammer a platform.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use jsonwebtoken::DecodingKey;

const TTL: Duration = Duration::from_secs(600);
const MIN_REFETCH: Duration = Duration::from_secs(30);

#[derive(Clone)]
struct Entry {
    keys: Vec<(Option<String>, DecodingKey)>,
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
            if let Some(key) = pick(&entry.keys, kid)
                && entry.fetched.elapsed() < TTL
            {
                return Ok(key);
            }
            if entry.fetched.elapsed() < MIN_REFETCH {
                return pick(&entry.keys, kid).ok_or(JwksError::UnknownKid);
            }
        }
        let keys = self.fetch(url).await?;
        let key = pick(&keys, kid);
        if let Ok(mut entries) = self.entries.lock() {
            entries.insert(url.to_owned(), Entry { keys, fetched: Instant::now() });
        }
        key.ok_or(JwksError::UnknownKid)
    }

    async fn fetch(&self, url: &str) -> Result<Vec<(Option<String>, DecodingKey)>, JwksError> {
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
        let set: serde_json::Value = response.json().await.map_err(|_| JwksError::Malformed)?;
        let keys: Vec<_> = set["keys"]
            .as_array()
            .ok_or(JwksError::Malformed)?
            .iter()
            .filter(|k| k["kty"] == "RSA")
            .filter_map(|k| {
                let key = DecodingKey::from_rsa_components(k["n"].as_str()?, k["e"].as_str()?).ok()?;
                Some((k["kid"].as_str().map(str::to_owned), key))
            })
            .collect();
        if keys.is_empty() {
            return Err(JwksError::Malformed);
        }
        Ok(keys)
    }
}

fn pick(keys: &[(Option<String>, DecodingKey)], kid: Option<&str>) -> Option<DecodingKey> {
    match kid {
        Some(kid) => keys.iter().find(|(k, _)| k.as_deref() == Some(kid)).map(|(_, key)| key.clone()),
        None if keys.len() == 1 => keys.first().map(|(_, key)| key.clone()),
        None => None,
    }
}
