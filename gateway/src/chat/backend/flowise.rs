//! Flowise's prediction API: `POST <FLOWISE_URL>/api/v1/prediction/<flow id>` with
//! `{"question", "streaming": true, "overrideConfig": {"sessionId"}, "chatId"}`. Streams come as
//! `message:\ndata:{"event":"token","data":"…"}` blocks (events start, token, metadata, error, end);
//! a flow that cannot stream answers `{"text", …}` in one piece. Health: `GET /api/v1/ping` → `pong`.

use std::time::Duration;

use secrecy::ExposeSecret;
use serde_json::{Value, json};

use super::{BackendError, Chunk, ChunkStream, LlmRequest, Step, sse_reply, status_error, transport};
use crate::config::FlowiseConfig;

#[derive(Debug, Clone)]
pub struct Flowise {
    config: FlowiseConfig,
    http: reqwest::Client,
}

impl Flowise {
    pub fn new(config: FlowiseConfig, http: reqwest::Client) -> Self {
        Self { config, http }
    }

    pub fn max_retries(&self) -> u32 {
        self.config.max_retries
    }

    fn base(&self) -> &str {
        self.config.url.as_str().trim_end_matches('/')
    }

    pub async fn start(&self, request: &LlmRequest) -> Result<ChunkStream, BackendError> {
        let url = format!("{}/api/v1/prediction/{}", self.base(), self.config.flow_id);
        // Flowise keeps its own memory per session: the conversation id is the session.
        let body = json!({
            "question": request.question,
            "streaming": true,
            "overrideConfig": {"sessionId": request.conversation_id, "vars": request.vars},
            "chatId": request.conversation_id,
        });
        let mut builder = self.http.post(url).timeout(Duration::from_secs(600)).json(&body);
        if let Some(key) = &self.config.api_key {
            builder = builder.bearer_auth(key.expose_secret());
        }
        let response = tokio::time::timeout(self.config.timeout, builder.send())
            .await
            .map_err(|_| BackendError::Timeout)?
            .map_err(|e| transport(&e))?;
        if !response.status().is_success() {
            return Err(status_error(response.status()));
        }
        let is_stream = response
            .headers()
            .get(reqwest::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("text/event-stream"));
        if !is_stream {
            let value: Value = tokio::time::timeout(self.config.timeout, response.json())
                .await
                .map_err(|_| BackendError::Timeout)?
                .map_err(|_| BackendError::Stream("a malformed answer".into()))?;
            let text =
                value["text"].as_str().ok_or_else(|| BackendError::Stream("an answer without text".into()))?.to_owned();
            return Ok(Box::pin(futures_util::stream::iter([Ok(Chunk::Delta(text))])));
        }
        Ok(sse_reply(response, parse_event))
    }

    pub async fn health(&self) -> Result<(), String> {
        let response = self
            .http
            .get(format!("{}/api/v1/ping", self.base()))
            .timeout(Duration::from_secs(3))
            .send()
            .await
            .map_err(|e| e.to_string())?;
        let body = response.text().await.map_err(|e| e.to_string())?;
        if body.trim().trim_matches('"') == "pong" {
            Ok(())
        } else {
            Err(format!("answered {:?}", body.chars().take(40).collect::<String>()))
        }
    }
}

/// One Flowise stream event: `{"event": "token" | "start" | "metadata" | "error" | "end", "data": …}`.
fn parse_event(data: &str) -> Step {
    let Ok(event) = serde_json::from_str::<Value>(data) else {
        return Step::Fail(BackendError::Stream("a malformed event".into()));
    };
    match event["event"].as_str() {
        Some("token") => match event["data"].as_str().filter(|t| !t.is_empty()) {
            Some(token) => Step::Chunk(Chunk::Delta(token.to_owned())),
            None => Step::Skip,
        },
        Some("end") => Step::Done,
        Some("error") => {
            Step::Fail(BackendError::Unavailable(event["data"].as_str().unwrap_or("error event").to_owned()))
        }
        // start, metadata, sourceDocuments, usedTools, …: nothing to show.
        _ => Step::Skip,
    }
}
