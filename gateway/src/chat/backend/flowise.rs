//! Flowise (3.x), as a real server behaves:
//!
//! - `GET /api/v1/chatflows-streaming/<flow id>` answers at once `{"isStreaming": bool}`, or an
//!   error naming a missing flow. The gateway asks it at start-up, in `check` and `/ready`, and
//!   before each question: a prediction for an unknown flow is never answered when streaming, and
//!   the answer says whether to stream.
//! - `POST /api/v1/prediction/<flow id>` with `{"question", "streaming", "chatId", "overrideConfig":
//!   {"sessionId", "vars"}}`. Flowise routes its stream by `chatId`, so each reply has its own (a
//!   second request with the same one would take the first one's stream over); its memory is kept
//!   per `sessionId`, the conversation. Streams come as `message:\ndata:{"event":"token","data":"…"}`
//!   blocks (start, token, metadata with `chatMessageId`, error, end), with `:heartbeat` comment
//!   lines while a flow works; a flow that cannot stream answers `{"text", "chatMessageId", …}`.
//! - `PUT /api/v1/chatmessage/abort/<flow id>/<chatId>` stops a generation (Flowise's router takes
//!   PUT).
//! - `POST /api/v1/feedback` `{chatflowid, chatId, messageId, rating: THUMBS_UP|THUMBS_DOWN, content}`.
//! - Health: `GET /api/v1/ping` → `pong`. With `FLOWISE_API_KEY`, every call carries it as a bearer.

use std::time::Duration;

use secrecy::ExposeSecret;
use serde_json::{Value, json};

use super::{
    BackendError, Chunk, ChunkStream, LlmRequest, REPLY_LIMIT, Step, Unready, error_detail, shorten, sse_reply,
    status_error, transport,
};
use crate::config::FlowiseConfig;

/// The bound of the small calls: the flow check, ping, abort, feedback.
const CALL_TIMEOUT: Duration = Duration::from_secs(5);

#[derive(Debug, Clone)]
pub struct Flowise {
    config: FlowiseConfig,
    http: reqwest::Client,
}

/// Why the configured flow cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FlowError {
    #[error("FLOWISE_URL does not answer: {0}")]
    Unreachable(String),
    #[error("FLOWISE_FLOW_ID={flow}: {said}")]
    NotFound { flow: String, said: String },
    #[error("Flowise refused the API key (FLOWISE_API_KEY): {0}")]
    Unauthorized(String),
    #[error("FLOWISE_FLOW_ID={flow} could not be checked: {said}")]
    Other { flow: String, said: String, transient: bool },
}

impl FlowError {
    /// What `/ready` may say to anyone: the variable to look at.
    pub fn reason(&self) -> &'static str {
        match self {
            Self::Unreachable(_) => "FLOWISE_URL does not answer",
            Self::NotFound { .. } => "FLOWISE_FLOW_ID names no flow on this Flowise",
            Self::Unauthorized(_) => "Flowise refused FLOWISE_API_KEY",
            Self::Other { .. } => "Flowise could not check FLOWISE_FLOW_ID",
        }
    }

    /// As a reply's failure: a flow check that did not get through is retried (nothing was sent).
    fn into_backend(self) -> BackendError {
        match self {
            Self::Unreachable(e) => BackendError::Unavailable(e),
            Self::Other { transient: true, .. } => BackendError::Unavailable(self.to_string()),
            other => BackendError::Refused(other.to_string()),
        }
    }
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

    fn authorized(&self, request: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
        match &self.config.api_key {
            Some(key) => request.bearer_auth(key.expose_secret()),
            None => request,
        }
    }

    /// Whether the configured flow exists, and whether it streams.
    pub async fn flow(&self) -> Result<bool, FlowError> {
        let flow = &self.config.flow_id;
        let url = format!("{}/api/v1/chatflows-streaming/{}", self.base(), urlencoding(flow));
        let response = self
            .authorized(self.http.get(url))
            .timeout(CALL_TIMEOUT)
            .send()
            .await
            .map_err(|e| FlowError::Unreachable(if e.is_timeout() { "timed out".into() } else { e.to_string() }))?;
        let status = response.status();
        if status.is_success() {
            let value: Value = response.json().await.map_err(|e| FlowError::Other {
                flow: flow.clone(),
                said: format!("a malformed answer ({e})"),
                transient: false,
            })?;
            return match value["isStreaming"].as_bool() {
                Some(streaming) => Ok(streaming),
                None => Err(FlowError::Other {
                    flow: flow.clone(),
                    said: "an answer without isStreaming (is FLOWISE_URL a Flowise server?)".into(),
                    transient: false,
                }),
            };
        }
        let said = error_detail(response).await;
        let said = if said.is_empty() { format!("HTTP {status}") } else { said };
        Err(match status.as_u16() {
            401 | 403 => FlowError::Unauthorized(said),
            404 => FlowError::NotFound { flow: flow.clone(), said },
            // Flowise 3.x answers 500 for a missing flow on some routes: its words tell.
            _ if said.contains("not found") => FlowError::NotFound { flow: flow.clone(), said },
            _ => FlowError::Other { flow: flow.clone(), said, transient: status.is_server_error() },
        })
    }

    pub async fn start(&self, request: &LlmRequest) -> Result<ChunkStream, BackendError> {
        let streaming = self.flow().await.map_err(FlowError::into_backend)?;
        let url = format!("{}/api/v1/prediction/{}", self.base(), urlencoding(&self.config.flow_id));
        // A chatId per reply, so that Flowise never routes two replies' streams into one; the
        // session is the conversation, so Flowise's memory stays one thread.
        let body = json!({
            "question": request.question,
            "streaming": streaming,
            "chatId": request.request_id,
            "overrideConfig": {"sessionId": request.conversation_id, "vars": request.vars},
        });
        let send = self.authorized(self.http.post(url)).timeout(REPLY_LIMIT).json(&body).send();
        // Once sent, a time-out is final: the flow may be running, and asking again would run it twice.
        let response = tokio::time::timeout(self.config.timeout, send)
            .await
            .map_err(|_| BackendError::Timeout)?
            .map_err(|e| transport(&e))?;
        let status = response.status();
        if !status.is_success() {
            return Err(status_error(status, &error_detail(response).await));
        }
        if streaming {
            return Ok(sse_reply(response, parse_event, self.config.timeout));
        }
        let value: Value = tokio::time::timeout(self.config.timeout, response.json())
            .await
            .map_err(|_| BackendError::Timeout)?
            .map_err(|_| BackendError::Stream("a malformed answer".into()))?;
        let text =
            value["text"].as_str().ok_or_else(|| BackendError::Stream("an answer without text".into()))?.to_owned();
        let mut chunks = vec![Ok(Chunk::Delta(text))];
        if let Some(id) = value["chatMessageId"].as_str() {
            chunks.push(Ok(Chunk::Reference(id.to_owned())));
        }
        Ok(Box::pin(futures_util::stream::iter(chunks)))
    }

    /// Stops the generation of the reply whose chatId is `request_id`.
    pub async fn abort(&self, request_id: &str) {
        let url = format!(
            "{}/api/v1/chatmessage/abort/{}/{}",
            self.base(),
            urlencoding(&self.config.flow_id),
            urlencoding(request_id)
        );
        match self.authorized(self.http.put(url)).timeout(CALL_TIMEOUT).send().await {
            Ok(r) if r.status().is_success() => tracing::info!("Flowise told to stop the generation"),
            Ok(r) => tracing::warn!(status = %r.status(), "Flowise refused to abort a generation"),
            Err(e) => tracing::warn!(error = %e, "Flowise could not be told to abort a generation"),
        }
    }

    /// Records a learner's rating of a reply in Flowise's own feedback (its analytics show it).
    pub async fn feedback(&self, request_id: &str, reference: &str, thumbs_up: bool, comment: &str) {
        let body = json!({
            "chatflowid": self.config.flow_id,
            "chatId": request_id,
            "messageId": reference,
            "rating": if thumbs_up { "THUMBS_UP" } else { "THUMBS_DOWN" },
            "content": comment,
        });
        let url = format!("{}/api/v1/feedback", self.base());
        match self.authorized(self.http.post(url)).timeout(CALL_TIMEOUT).json(&body).send().await {
            Ok(r) if r.status().is_success() => tracing::info!("rating forwarded to Flowise"),
            Ok(r) => {
                let status = r.status();
                let said = error_detail(r).await;
                tracing::warn!(%status, %said, "Flowise refused a rating");
            }
            Err(e) => tracing::warn!(error = %e, "a rating could not reach Flowise"),
        }
    }

    /// Flowise answers, and the configured flow exists there.
    pub async fn health(&self) -> Result<(), Unready> {
        let unreachable = |detail: String| Unready { reason: "FLOWISE_URL does not answer", detail };
        let response = self
            .http
            .get(format!("{}/api/v1/ping", self.base()))
            .timeout(Duration::from_secs(3))
            .send()
            .await
            .map_err(|e| unreachable(e.to_string()))?;
        let body = response.text().await.map_err(|e| unreachable(e.to_string()))?;
        if body.trim().trim_matches('"') != "pong" {
            return Err(unreachable(format!("answered {:?}", body.chars().take(40).collect::<String>())));
        }
        self.flow().await.map(|_| ()).map_err(|e| Unready { reason: e.reason(), detail: e.to_string() })
    }

    /// The start-up line: the flow found (and whether it streams), or what is wrong with it.
    pub async fn announce(&self) {
        let flow = &self.config.flow_id;
        match self.flow().await {
            Ok(streaming) => tracing::info!(
                flow = %flow,
                streaming,
                "Flowise: FLOWISE_FLOW_ID names a flow that {}",
                if streaming { "streams" } else { "answers in one piece" }
            ),
            Err(e) => tracing::error!(
                flow = %flow,
                error = %e,
                "Flowise: FLOWISE_FLOW_ID cannot be used; every question will fail until it is fixed"
            ),
        }
    }
}

/// A path segment, percent-encoded.
fn urlencoding(segment: &str) -> String {
    url::form_urlencoded::byte_serialize(segment.as_bytes()).collect::<String>().replace('+', "%20")
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
        Some("metadata") => match event["data"]["chatMessageId"].as_str() {
            Some(id) => Step::Chunk(Chunk::Reference(id.to_owned())),
            None => Step::Skip,
        },
        Some("end") => Step::Done,
        // The flow failed (an unauthorized credential, the LLM answering 400, …): final.
        Some("error") => Step::Fail(BackendError::Refused(format!(
            "Flowise: {}",
            shorten(event["data"].as_str().unwrap_or("an error event"))
        ))),
        // start, sourceDocuments, usedTools, agentFlowEvent, …: nothing to show.
        _ => Step::Skip,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_are_read_as_flowise_writes_them() {
        assert!(matches!(parse_event(r#"{"event":"token","data":"Hi"}"#), Step::Chunk(Chunk::Delta(t)) if t == "Hi"));
        let metadata = r#"{"event":"metadata","data":{"chatId":"c","chatMessageId":"m-1","sessionId":"s"}}"#;
        assert!(matches!(parse_event(metadata), Step::Chunk(Chunk::Reference(id)) if id == "m-1"));
        assert!(matches!(parse_event(r#"{"event":"end","data":"[DONE]"}"#), Step::Done));
        let error = parse_event(r#"{"event":"error","data":"Unauthorized"}"#);
        assert!(matches!(&error, Step::Fail(e) if !e.retryable() && e.to_string().contains("Unauthorized")));
        assert!(matches!(parse_event(r#"{"event":"start","data":""}"#), Step::Skip));
    }
}
