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
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BackendError {
    /// Refused, unreachable, or a 5xx: worth retrying before the first token.
    #[error("backend unavailable: {0}")]
    Unavailable(String),
    #[error("backend timed out")]
    Timeout,
    /// A malformed stream, or one dropped mid-way.
    #[error("backend stream error: {0}")]
    Stream(String),
}

impl BackendError {
    pub fn code(&self) -> ErrorCode {
        match self {
            Self::Unavailable(_) => ErrorCode::BackendUnavailable,
            Self::Timeout => ErrorCode::BackendTimeout,
            Self::Stream(_) => ErrorCode::BackendError,
        }
    }

    pub fn user_message(&self) -> &'static str {
        match self {
            Self::Unavailable(_) => {
                "The assistant is unavailable right now. Your message is saved; please try again shortly."
            }
            Self::Timeout => "The assistant took too long to answer. Your message is saved; please try again.",
            Self::Stream(_) => "The assistant's answer was cut off. What arrived is kept; please try again.",
        }
    }

    pub fn retryable(&self) -> bool {
        matches!(self, Self::Unavailable(_) | Self::Timeout)
    }
}

pub type ChunkStream = Pin<Box<dyn Stream<Item = Result<Chunk, BackendError>> + Send>>;

/// How long a stream may stay silent between chunks before it counts as dropped.
pub const IDLE_TIMEOUT: Duration = Duration::from_secs(60);

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
        match (config.backend, &config.openai, &config.flowise) {
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

    /// For `/ready`: None when there is nothing to check.
    pub async fn health(&self) -> Option<Result<(), String>> {
        match self {
            Self::OpenAi(o) => Some(o.health().await),
            Self::Flowise(f) => Some(f.health().await),
            Self::Room | Self::WebSocket => None,
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

/// Reads a streaming answer: each SSE event's data goes through `parse`. A silence longer than
/// `IDLE_TIMEOUT`, a dropped connection, or a body ending before `Done` ends the stream with an error.
pub(crate) fn sse_reply<F>(response: reqwest::Response, parse: F) -> ChunkStream
where
    F: Fn(&str) -> Step + Send + 'static,
{
    let events = Box::pin(crate::chat::sse::data_events(Box::pin(response.bytes_stream())));
    let stream = futures_util::stream::unfold((events, parse, false), |(mut events, parse, finished)| async move {
        if finished {
            return None;
        }
        loop {
            let step = match tokio::time::timeout(IDLE_TIMEOUT, futures_util::StreamExt::next(&mut events)).await {
                Err(_) => Step::Fail(BackendError::Timeout),
                Ok(None) => Step::Fail(BackendError::Stream("the stream ended before the reply was complete".into())),
                Ok(Some(Err(e))) => Step::Fail(transport(&e)),
                Ok(Some(Ok(data))) => parse(&data),
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

/// Maps a transport error of reqwest to the backend error it means.
pub(crate) fn transport(e: &reqwest::Error) -> BackendError {
    if e.is_timeout() {
        BackendError::Timeout
    } else if e.is_connect() || e.is_request() {
        BackendError::Unavailable("cannot connect".into())
    } else {
        BackendError::Stream("the connection dropped".into())
    }
}

/// Classifies a non-success HTTP status.
pub(crate) fn status_error(status: reqwest::StatusCode) -> BackendError {
    if status.is_server_error() || status == reqwest::StatusCode::TOO_MANY_REQUESTS {
        BackendError::Unavailable(format!("HTTP {status}"))
    } else {
        BackendError::Stream(format!("refused with HTTP {status}"))
    }
}
