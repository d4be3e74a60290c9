//! The chat backends. `room` needs no outside service; the LLM backends stream a reply that the
//! generation task relays and stores. (The upstream-WebSocket backend lives beside the socket.)

mod flowise;
mod openai;

use std::pin::Pin;
use std::time::Duration;

use futures_util::Stream;
use ibal_protocol::{ErrorCode, Usage};

use crate::config::{ChatBackendKind, ChatConfig};
use crate::domain::MessageRole;

pub use flowise::Flowise;
pub use openai::OpenAi;

/// What the model is asked: the system prompt, earlier turns (oldest first) and the new question.
#[derive(Debug, Clone)]
pub struct LlmRequest {
    pub conversation_id: String,
    /// This reply's id at the backend (Flowise's `chatId`, which its stream and abort are keyed by):
    /// fresh for each reply, the same for a retry of a request that was never taken.
    pub request_id: String,
    /// The system messages, in the order `chat::prompt` documents.
    pub system: Vec<String>,
    pub history: Vec<(MessageRole, String)>,
    pub question: String,
    /// The proven context as named variables, for backends that template their own prompt
    /// (Flowise flows read them as `$vars.<name>`).
    pub vars: serde_json::Map<String, serde_json::Value>,
}

/// A piece of a streamed reply.
#[derive(Debug, Clone, PartialEq)]
pub enum Chunk {
    Delta(String),
    Usage(Usage),
    /// The backend's own id for the reply (Flowise's `chatMessageId`), to send ratings to.
    Reference(String),
}

/// Why a reply failed. Only `Unavailable` is retried: every other error may come after the request
/// reached the model (a flow that ran, a generation still billing), where asking again would run it
/// twice (a duplicate turn in Flowise's memory, a second bill).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BackendError {
    /// The request was never taken: the connection was refused, or the server answered 429 or 503.
    #[error("backend unavailable: {0}")]
    Unavailable(String),
    #[error("backend timed out")]
    Timeout,
    /// A malformed stream, or one dropped mid-way.
    #[error("backend stream error: {0}")]
    Stream(String),
    /// The backend answered that it will not answer: a 4xx or 5xx status, an `error` event (an
    /// unauthorized key, an LLM refusing the request), a flow that does not exist. Asking again
    /// changes nothing until the operator fixes it.
    #[error("backend refused: {0}")]
    Refused(String),
}

impl BackendError {
    pub fn code(&self) -> ErrorCode {
        match self {
            Self::Unavailable(_) => ErrorCode::BackendUnavailable,
            Self::Timeout => ErrorCode::BackendTimeout,
            Self::Stream(_) => ErrorCode::BackendError,
            Self::Refused(_) => ErrorCode::BackendRefused,
        }
    }

    pub fn user_message(&self) -> &'static str {
        match self {
            Self::Unavailable(_) => {
                "The assistant is unavailable right now. Your message is saved; please try again shortly."
            }
            Self::Timeout => "The assistant took too long to answer. Your message is saved; please try again.",
            Self::Stream(_) => "The assistant's answer was cut off. What arrived is kept; please try again.",
            Self::Refused(_) => {
                "The assistant's service refused to answer. Your message is saved; the operator can see why in the gateway's log."
            }
        }
    }

    /// Only a request that was never taken is asked again.
    pub fn retryable(&self) -> bool {
        matches!(self, Self::Unavailable(_))
    }

    /// Whether the backend may still be generating after this error (then it is told to stop).
    pub fn may_still_run(&self) -> bool {
        matches!(self, Self::Timeout | Self::Stream(_))
    }
}

/// Why `/ready` (and the start-up check) finds the backend not ready: `reason` is shown to anyone
/// (it names the variable to fix, never a URL or a secret), `detail` goes to the log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unready {
    pub reason: &'static str,
    pub detail: String,
}

pub type ChunkStream = Pin<Box<dyn Stream<Item = Result<Chunk, BackendError>> + Send>>;

/// How long an OpenAI-compatible stream may stay silent (no bytes at all) before it counts as dropped.
pub const IDLE_TIMEOUT: Duration = Duration::from_secs(60);
/// The longest a whole reply may take, however alive its stream stays.
pub const REPLY_LIMIT: Duration = Duration::from_secs(600);

#[derive(Debug, Clone)]
pub enum Backend {
    Room,
    OpenAi(OpenAi),
    Flowise(Flowise),
    /// Frames are piped to `UPSTREAM_WS_URL` by the socket itself.
    WebSocket,
}

impl Backend {
    pub fn from_config(config: &ChatConfig, http: reqwest::Client) -> Self {
        Self::of_kind(config.backend, config, http)
    }

    /// The backend that writes assistant replies: the chat's own, or in live rooms the room
    /// assistant's model (`ROOM_ASSISTANT`).
    pub fn assistant_from_config(config: &ChatConfig, http: reqwest::Client) -> Self {
        match &config.room_assistant {
            Some(room) => Self::of_kind(room.backend, config, http),
            None => Self::from_config(config, http),
        }
    }

    fn of_kind(kind: ChatBackendKind, config: &ChatConfig, http: reqwest::Client) -> Self {
        match (kind, &config.openai, &config.flowise) {
            (ChatBackendKind::OpenAi, Some(o), _) => Self::OpenAi(OpenAi::new(o.clone(), http)),
            (ChatBackendKind::Flowise, _, Some(f)) => Self::Flowise(Flowise::new(f.clone(), http)),
            (ChatBackendKind::WebSocket, _, _) => Self::WebSocket,
            _ => Self::Room,
        }
    }

    pub fn name(&self) -> &'static str {
        match self {
            Self::Room => "room",
            Self::OpenAi(_) => "openai",
            Self::Flowise(_) => "flowise",
            Self::WebSocket => "websocket",
        }
    }

    pub fn is_assistant(&self) -> bool {
        matches!(self, Self::OpenAi(_) | Self::Flowise(_))
    }

    /// Retries allowed before the first token.
    pub fn max_retries(&self) -> u32 {
        match self {
            Self::Flowise(f) => f.max_retries(),
            Self::OpenAi(_) => 2,
            Self::Room | Self::WebSocket => 0,
        }
    }

    /// Starts a reply; the stream yields its chunks and ends when the reply is complete.
    pub async fn start(&self, request: &LlmRequest) -> Result<ChunkStream, BackendError> {
        match self {
            Self::OpenAi(o) => o.start(request).await,
            Self::Flowise(f) => f.start(request).await,
            Self::Room | Self::WebSocket => Err(BackendError::Unavailable("not an assistant backend".into())),
        }
    }

    /// Tells the backend to stop generating the reply of `request_id` (Flowise's abort); best effort.
    pub async fn abort(&self, request_id: &str) {
        if let Self::Flowise(f) = self {
            f.abort(request_id).await;
        }
    }

    /// Sends a learner's rating of a reply to the backend's own analytics (Flowise's feedback):
    /// `request_id` and `reference` as the reply was stored with. Best effort.
    pub async fn forward_rating(&self, request_id: &str, reference: &str, thumbs_up: bool, comment: &str) {
        if let Self::Flowise(f) = self {
            f.feedback(request_id, reference, thumbs_up, comment).await;
        }
    }

    /// For `/ready`: None when there is nothing to check.
    pub async fn health(&self) -> Option<Result<(), Unready>> {
        match self {
            Self::OpenAi(o) => {
                Some(o.health().await.map_err(|detail| Unready { reason: "OPENAI_BASE_URL does not answer", detail }))
            }
            Self::Flowise(f) => Some(f.health().await),
            Self::Room | Self::WebSocket => None,
        }
    }

    /// At start-up: one log line saying whether the backend is usable as configured.
    pub async fn announce(&self) {
        if let Self::Flowise(f) = self {
            f.announce().await;
        }
    }
}

/// What one server-sent event means to a backend.
pub(crate) enum Step {
    Chunk(Chunk),
    /// Nothing to show (role-only deltas, metadata events): read on.
    Skip,
    /// The reply is complete.
    Done,
    Fail(BackendError),
}

/// Reads a streaming answer: each SSE event's data goes through `parse`. Any bytes from the server
/// (comments such as Flowise's `:heartbeat` included) keep it alive; a silence longer than `idle`
/// ends it as timed out. A dropped connection, or a body ending before `Done`, ends it with an
/// error. The whole reply stays bounded by the request's own time-out ([`REPLY_LIMIT`]).
pub(crate) fn sse_reply<F>(response: reqwest::Response, parse: F, idle: Duration) -> ChunkStream
where
    F: Fn(&str) -> Step + Send + 'static,
{
    let body = Box::pin(response.bytes_stream());
    let bytes = futures_util::stream::unfold((body, false), move |(mut body, ended)| async move {
        if ended {
            return None;
        }
        match tokio::time::timeout(idle, futures_util::StreamExt::next(&mut body)).await {
            Err(_) => Some((Err(BackendError::Timeout), (body, true))),
            Ok(None) => None,
            Ok(Some(Err(e))) => Some((Err(transport(&e)), (body, true))),
            Ok(Some(Ok(chunk))) => Some((Ok(chunk), (body, false))),
        }
    });
    let events = Box::pin(crate::chat::sse::data_events(Box::pin(bytes)));
    let stream = futures_util::stream::unfold((events, parse, false), |(mut events, parse, finished)| async move {
        if finished {
            return None;
        }
        loop {
            let step = match futures_util::StreamExt::next(&mut events).await {
                None => Step::Fail(BackendError::Stream("the stream ended before the reply was complete".into())),
                Some(Err(e)) => Step::Fail(e),
                Some(Ok(data)) => parse(&data),
            };
            match step {
                Step::Chunk(chunk) => return Some((Ok(chunk), (events, parse, false))),
                Step::Skip => {}
                Step::Done => return None,
                Step::Fail(e) => return Some((Err(e), (events, parse, true))),
            }
        }
    });
    Box::pin(stream)
}

/// Maps a transport error of reqwest to the backend error it means: only a failed connection
/// proves the request was never taken.
pub(crate) fn transport(e: &reqwest::Error) -> BackendError {
    if e.is_timeout() {
        BackendError::Timeout
    } else if e.is_connect() {
        BackendError::Unavailable("cannot connect".into())
    } else {
        BackendError::Stream("the connection dropped".into())
    }
}

/// Classifies a non-success HTTP status; `detail` is what the server said (may be empty). 429 and
/// 503 say the request was not taken; anything else is the server's answer, not asked again.
pub(crate) fn status_error(status: reqwest::StatusCode, detail: &str) -> BackendError {
    if status == reqwest::StatusCode::SERVICE_UNAVAILABLE || status == reqwest::StatusCode::TOO_MANY_REQUESTS {
        BackendError::Unavailable(format!("HTTP {status}"))
    } else if detail.is_empty() {
        BackendError::Refused(format!("HTTP {status}"))
    } else {
        BackendError::Refused(format!("HTTP {status}: {detail}"))
    }
}

/// What an error body says, shortened for a log line: `message`, `error.message` or `error`.
pub(crate) async fn error_detail(response: reqwest::Response) -> String {
    let text = tokio::time::timeout(Duration::from_secs(5), response.text()).await.ok().and_then(Result::ok);
    let Some(text) = text else { return String::new() };
    let value: serde_json::Value = serde_json::from_str(&text).unwrap_or_default();
    let said = value["message"]
        .as_str()
        .or_else(|| value["error"]["message"].as_str())
        .or_else(|| value["error"].as_str())
        .unwrap_or_default();
    shorten(said)
}

/// At most 200 characters of a server's words, for a log line.
pub(crate) fn shorten(text: &str) -> String {
    text.chars().take(200).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::StatusCode;

    /// Only an answer saying the request was not taken is retried; the rest may have run the model.
    #[test]
    fn only_requests_never_taken_are_retried() {
        for status in [StatusCode::SERVICE_UNAVAILABLE, StatusCode::TOO_MANY_REQUESTS] {
            assert!(status_error(status, "").retryable(), "{status}");
        }
        for status in [
            StatusCode::INTERNAL_SERVER_ERROR,
            StatusCode::BAD_GATEWAY,
            StatusCode::GATEWAY_TIMEOUT,
            StatusCode::BAD_REQUEST,
            StatusCode::UNAUTHORIZED,
            StatusCode::NOT_FOUND,
        ] {
            let error = status_error(status, "said");
            assert!(!error.retryable() && error.code() == ErrorCode::BackendRefused, "{status}: {error}");
        }
        assert!(!BackendError::Timeout.retryable() && BackendError::Timeout.may_still_run());
        assert!(!BackendError::Refused("x".into()).may_still_run());
    }
}
