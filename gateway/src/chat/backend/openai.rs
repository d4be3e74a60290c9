//! Any OpenAI-compatible server (OpenAI, Ollama, vLLM, llama.cpp): `POST <base>/chat/completions`
//! with `stream: true`; the reply arrives as SSE `data: {…choices[0].delta.content…}` lines ending
//! with `data: [DONE]`.

use std::time::Duration;

use secrecy::ExposeSecret;
use serde_json::{Value, json};

use super::{
    BackendError, Chunk, ChunkStream, IDLE_TIMEOUT, LlmRequest, REPLY_LIMIT, Step, error_detail, shorten, sse_reply,
    status_error, transport,
};
use crate::config::OpenAiConfig;
use crate::domain::MessageRole;

#[derive(Debug, Clone)]
pub struct OpenAi {
    config: OpenAiConfig,
    http: reqwest::Client,
}

impl OpenAi {
    pub fn new(config: OpenAiConfig, http: reqwest::Client) -> Self {
        Self { config, http }
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.config.base_url.as_str().trim_end_matches('/'))
    }

    fn authorized(&self, request: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
        match &self.config.api_key {
            Some(key) => request.bearer_auth(key.expose_secret()),
            None => request,
        }
    }

    pub async fn start(&self, request: &LlmRequest) -> Result<ChunkStream, BackendError> {
        let mut messages: Vec<_> =
            request.system.iter().map(|content| json!({"role": "system", "content": content})).collect();
        for (role, content) in &request.history {
            let role = if *role == MessageRole::Assistant { "assistant" } else { "user" };
            messages.push(json!({"role": role, "content": content}));
        }
        messages.push(json!({"role": "user", "content": request.question}));
        let body = json!({
            "model": self.config.model,
            "stream": true,
            "stream_options": {"include_usage": true},
            "messages": messages,
        });
        let send =
            self.authorized(self.http.post(self.url("/chat/completions"))).timeout(REPLY_LIMIT).json(&body).send();
        // A time-out here is not retried: the server may be generating already (and billing).
        let response = tokio::time::timeout(Duration::from_secs(60), send)
            .await
            .map_err(|_| BackendError::Timeout)?
            .map_err(|e| transport(&e))?;
        let status = response.status();
        if !status.is_success() {
            return Err(status_error(status, &error_detail(response).await));
        }
        Ok(sse_reply(response, parse_event, IDLE_TIMEOUT))
    }

    pub async fn health(&self) -> Result<(), String> {
        let response = self
            .authorized(self.http.get(self.url("/models")))
            .timeout(Duration::from_secs(3))
            .send()
            .await
            .map_err(|e| e.to_string())?;
        if response.status().is_success() { Ok(()) } else { Err(format!("HTTP {}", response.status())) }
    }
}

/// One `data:` payload of an OpenAI-compatible stream.
fn parse_event(data: &str) -> Step {
    if data.trim() == "[DONE]" {
        return Step::Done;
    }
    let Ok(value) = serde_json::from_str::<Value>(data) else {
        return Step::Fail(BackendError::Stream("a malformed event".into()));
    };
    if let Some(error) = value.get("error") {
        return Step::Fail(BackendError::Refused(shorten(error["message"].as_str().unwrap_or("an error event"))));
    }
    if let Some(delta) = value["choices"][0]["delta"]["content"].as_str().filter(|d| !d.is_empty()) {
        return Step::Chunk(Chunk::Delta(delta.to_owned()));
    }
    // Counts that are not whole numbers are dropped, not fatal: the reply matters more than its bill.
    match value.get("usage").filter(|u| u.is_object()) {
        Some(usage) => Step::Chunk(Chunk::Usage(serde_json::from_value(usage.clone()).unwrap_or_default())),
        None => Step::Skip, // role-only or empty deltas
    }
}
