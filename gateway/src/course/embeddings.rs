//! Embeddings from an OpenAI-compatible server (`POST <EMBEDDINGS_BASE_URL>/embeddings`, the wire
//! format of OpenAI, vLLM, Ollama and llama.cpp): the vectors course retrieval ranks by meaning with.
//! Vectors are scaled to unit length, so that a dot product is their cosine.

use std::time::Duration;

use secrecy::ExposeSecret;
use serde::Deserialize;
use serde_json::json;

use crate::config::EmbeddingsConfig;

/// Texts per request: what the common servers accept in one call.
const BATCH: usize = 64;
const TIMEOUT: Duration = Duration::from_secs(60);

#[derive(Debug, thiserror::Error)]
pub enum EmbedError {
    #[error("embeddings request failed: {0}")]
    Request(String),
    #[error("embeddings server answered {0}")]
    Status(u16),
    #[error("embeddings answer unreadable: {0}")]
    Answer(String),
}

#[derive(Debug, Deserialize)]
struct Answer {
    data: Vec<Item>,
}

#[derive(Debug, Deserialize)]
struct Item {
    embedding: Vec<f32>,
    index: usize,
}

pub struct Embedder {
    config: EmbeddingsConfig,
    url: String,
    http: reqwest::Client,
}

impl std::fmt::Debug for Embedder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Embedder").field("model", &self.config.model).finish_non_exhaustive()
    }
}

impl Embedder {
    pub fn new(config: EmbeddingsConfig, http: reqwest::Client) -> Self {
        let url = format!("{}/embeddings", config.base_url.as_str().trim_end_matches('/'));
        Self { config, url, http }
    }

    pub fn model(&self) -> &str {
        &self.config.model
    }

    /// One unit vector per text, in order.
    ///
    /// # Errors
    /// The server could not be reached, refused, or answered something else than one vector per
    /// text, all of one length.
    pub async fn embed(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>, EmbedError> {
        let mut vectors = Vec::with_capacity(texts.len());
        for batch in texts.chunks(BATCH) {
            vectors.extend(self.embed_batch(batch).await?);
        }
        if vectors.windows(2).any(|pair| pair[0].len() != pair[1].len()) {
            return Err(EmbedError::Answer("vectors of different lengths".into()));
        }
        Ok(vectors)
    }

    async fn embed_batch(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>, EmbedError> {
        let mut request =
            self.http.post(&self.url).timeout(TIMEOUT).json(&json!({ "model": self.config.model, "input": texts }));
        if let Some(key) = &self.config.api_key {
            request = request.bearer_auth(key.expose_secret());
        }
        let response = request.send().await.map_err(|e| EmbedError::Request(e.without_url().to_string()))?;
        if !response.status().is_success() {
            return Err(EmbedError::Status(response.status().as_u16()));
        }
        let mut answer: Answer = response.json().await.map_err(|e| EmbedError::Answer(e.without_url().to_string()))?;
        answer.data.sort_by_key(|item| item.index);
        let in_order = answer.data.iter().enumerate().all(|(i, item)| item.index == i);
        if answer.data.len() != texts.len() || !in_order {
            return Err(EmbedError::Answer(format!("{} vectors for {} texts", answer.data.len(), texts.len())));
        }
        answer
            .data
            .into_iter()
            .map(|item| unit(item.embedding).ok_or_else(|| EmbedError::Answer("an empty or zero vector".into())))
            .collect()
    }
}

/// `v` scaled to length 1; None for an empty or zero vector, or one holding a NaN or an infinity.
pub fn unit(mut v: Vec<f32>) -> Option<Vec<f32>> {
    let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt();
    if v.is_empty() || !norm.is_finite() || norm == 0.0 {
        return None;
    }
    for x in &mut v {
        *x /= norm;
    }
    Some(v)
}

/// A vector as stored: little-endian f32s.
pub fn to_bytes(v: &[f32]) -> Vec<u8> {
    v.iter().flat_map(|x| x.to_le_bytes()).collect()
}

/// A stored vector; None when the bytes are not whole f32s.
pub fn from_bytes(bytes: &[u8]) -> Option<Vec<f32>> {
    (bytes.len().is_multiple_of(4) && !bytes.is_empty())
        .then(|| bytes.chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vectors_are_unit_length_and_stored_as_little_endian_floats() {
        let v = unit(vec![3.0, 4.0]).expect("unit");
        assert!((v[0] - 0.6).abs() < 1e-6 && (v[1] - 0.8).abs() < 1e-6);
        assert_eq!(unit(vec![0.0, 0.0]), None);
        assert_eq!(unit(vec![]), None);
        assert_eq!(unit(vec![f32::NAN, 1.0]), None);
        assert_eq!(from_bytes(&to_bytes(&v)), Some(v));
        assert_eq!(from_bytes(&[1, 2, 3]), None);
    }
}
