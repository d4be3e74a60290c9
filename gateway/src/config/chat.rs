//! The chat: its backend (`CHAT_BACKEND` and each backend's variables), its limits and its prompt.

use std::time::Duration;

use secrecy::SecretString;
use url::Url;

use super::openedx::join;
use super::vars::{ConfigError, Vars};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChatBackendKind {
    Room,
    Flowise,
    OpenAi,
    WebSocket,
}

impl ChatBackendKind {
    pub fn name(self) -> &'static str {
        match self {
            Self::Room => "room",
            Self::Flowise => "flowise",
            Self::OpenAi => "openai",
            Self::WebSocket => "websocket",
        }
    }
}

#[derive(Debug, Clone)]
pub struct FlowiseConfig {
    pub url: Url,
    pub flow_id: String,
    pub api_key: Option<SecretString>,
    pub timeout: Duration,
    pub max_retries: u32,
}

/// The assistant of the live course rooms (`ROOM_ASSISTANT`): which model answers, to which
/// mentions, how often per room.
#[derive(Debug, Clone)]
pub struct RoomAssistantConfig {
    /// `openai` or `flowise`, configured by their own variables.
    pub backend: ChatBackendKind,
    /// The names that call it, without the `@` (`ROOM_ASSISTANT_NAMES`, default `assistant,assistante`).
    pub names: Vec<String>,
    /// Replies per room per minute (`ROOM_ASSISTANT_PER_MINUTE`, default 6).
    pub per_minute: u32,
}

/// `POST <base_url>/embeddings` with `model`, for course retrieval.
#[derive(Debug, Clone)]
pub struct EmbeddingsConfig {
    /// `EMBEDDINGS_BASE_URL`, default `OPENAI_BASE_URL`.
    pub base_url: Url,
    /// `EMBEDDINGS_API_KEY`, default `OPENAI_API_KEY`.
    pub api_key: Option<SecretString>,
    pub model: String,
    /// The least cosine similarity for a passage to rank by meaning (`EMBEDDINGS_MIN_SIMILARITY`, 0.3).
    pub min_similarity: f32,
}

#[derive(Debug, Clone)]
pub struct OpenAiConfig {
    pub base_url: Url,
    pub api_key: Option<SecretString>,
    pub model: String,
}

/// The chat's limits; each breach is answered with an `error` frame (docs/protocol.md).
#[derive(Debug, Clone)]
pub struct ChatLimits {
    /// The largest message (and WebSocket frame) accepted, in bytes.
    pub max_message_bytes: usize,
    pub messages_per_minute: u32,
    /// Chat sockets a user may open per minute.
    pub connects_per_minute: u32,
    pub max_sockets_per_user: usize,
    /// Frames queued per socket before it is closed as a slow consumer.
    pub outbound_queue: usize,
    pub heartbeat: Duration,
    /// A socket that has sent nothing (not even a pong) for this long is closed.
    pub idle_timeout: Duration,
    pub auth_timeout: Duration,
}

#[derive(Debug, Clone)]
pub struct ChatConfig {
    pub backend: ChatBackendKind,
    pub limits: ChatLimits,
    /// The assistant's system prompt; `{course_id}` and `{block_id}` are filled in.
    pub system_prompt: String,
    /// How much earlier conversation (in characters) goes with each question.
    pub history_budget: usize,
    /// How many passages of the indexed course go with each question (`RETRIEVAL_PASSAGES`, 0: none).
    pub retrieval_passages: usize,
    /// With `CHAT_BACKEND=room`: the model that answers messages mentioning the assistant in a room.
    pub room_assistant: Option<RoomAssistantConfig>,
    /// An OpenAI-compatible embeddings endpoint (`EMBEDDINGS_MODEL`): course retrieval then ranks by
    /// meaning as well as by words. None: keyword ranking alone.
    pub embeddings: Option<EmbeddingsConfig>,
    /// The WebSocket URL the widget connects to (`WS_URL`, default `<PUBLIC_URL>/ws/chat/`).
    pub ws_url: Url,
    pub flowise: Option<FlowiseConfig>,
    pub openai: Option<OpenAiConfig>,
    pub upstream_ws_url: Option<Url>,
}

fn room_assistant(
    vars: &Vars,
    backend: ChatBackendKind,
    flowise: bool,
    openai: bool,
) -> Result<Option<RoomAssistantConfig>, ConfigError> {
    const VAR: &str = "ROOM_ASSISTANT";
    let kind = match vars.get(VAR).map(str::to_ascii_lowercase).as_deref() {
        None | Some("off") => return Ok(None),
        Some("openai") if openai => ChatBackendKind::OpenAi,
        Some("flowise") if flowise => ChatBackendKind::Flowise,
        Some("openai") => return Err(ConfigError::new(VAR, "openai needs OPENAI_BASE_URL")),
        Some("flowise") => return Err(ConfigError::new(VAR, "flowise needs FLOWISE_URL and FLOWISE_FLOW_ID")),
        Some(other) => return Err(ConfigError::new(VAR, format!("expected off, openai or flowise, got {other:?}"))),
    };
    if backend != ChatBackendKind::Room {
        return Err(ConfigError::new(VAR, "answers in live rooms: it needs CHAT_BACKEND=room"));
    }
    let names: Vec<String> = vars
        .get("ROOM_ASSISTANT_NAMES")
        .unwrap_or("assistant,assistante")
        .split(',')
        .map(|n| n.trim().trim_start_matches('@').to_lowercase())
        .filter(|n| !n.is_empty())
        .collect();
    if names.is_empty() || names.iter().any(|n| n.chars().any(|c| !(c.is_alphanumeric() || c == '_' || c == '-'))) {
        return Err(ConfigError::new(
            "ROOM_ASSISTANT_NAMES",
            "expected names of letters, digits, '_' or '-', separated by commas",
        ));
    }
    let per_minute = vars.parse("ROOM_ASSISTANT_PER_MINUTE", 6u32, "a number of replies")?;
    if per_minute == 0 {
        return Err(ConfigError::new(
            "ROOM_ASSISTANT_PER_MINUTE",
            "must be at least 1 (ROOM_ASSISTANT=off turns it off)",
        ));
    }
    Ok(Some(RoomAssistantConfig { backend: kind, names, per_minute }))
}

/// Passages of 1,200 characters each: twenty is already 24,000 characters of prompt.
const MAX_RETRIEVAL_PASSAGES: usize = 20;

pub(super) fn chat_config(vars: &Vars, public_url: &Url) -> Result<ChatConfig, ConfigError> {
    let backend = match vars.get("CHAT_BACKEND").map(str::to_ascii_lowercase).as_deref() {
        None | Some("room") => ChatBackendKind::Room,
        Some("flowise") => ChatBackendKind::Flowise,
        Some("openai") => ChatBackendKind::OpenAi,
        Some("websocket") => ChatBackendKind::WebSocket,
        Some(other) => {
            return Err(ConfigError::new(
                "CHAT_BACKEND",
                format!("expected room, flowise, openai or websocket, got {other:?}"),
            ));
        }
    };
    let ws_url = match vars.get("WS_URL") {
        Some(raw) => {
            let url = Url::parse(raw).map_err(|e| ConfigError::new("WS_URL", format!("not a URL: {e}")))?;
            if !matches!(url.scheme(), "ws" | "wss") {
                return Err(ConfigError::new("WS_URL", "expected a ws:// or wss:// URL"));
            }
            url
        }
        None => {
            let mut url = join(public_url, "/ws/chat/");
            let scheme = if public_url.scheme() == "https" { "wss" } else { "ws" };
            // http→ws and https→wss are always permitted scheme changes.
            let _ = url.set_scheme(scheme);
            url
        }
    };

    // Parsed even when unused, so a typo is reported before the day it matters.
    let flowise_timeout = Duration::from_secs(vars.parse("FLOWISE_TIMEOUT", 30u64, "a number of seconds")?);
    let flowise_max_retries = vars.parse("FLOWISE_MAX_RETRIES", 3u32, "a number")?;
    let flowise = match vars.url("FLOWISE_URL")? {
        None if backend == ChatBackendKind::Flowise => {
            return Err(ConfigError::new("FLOWISE_URL", "must be set when CHAT_BACKEND=flowise"));
        }
        None => None,
        Some(url) => Some(FlowiseConfig {
            url,
            flow_id: vars
                .get("FLOWISE_FLOW_ID")
                .ok_or_else(|| ConfigError::new("FLOWISE_FLOW_ID", "must be set when FLOWISE_URL is set"))?
                .to_owned(),
            api_key: vars.secret("FLOWISE_API_KEY"),
            timeout: flowise_timeout,
            max_retries: flowise_max_retries,
        }),
    };
    let openai = match vars.url("OPENAI_BASE_URL")? {
        None if backend == ChatBackendKind::OpenAi => {
            return Err(ConfigError::new("OPENAI_BASE_URL", "must be set when CHAT_BACKEND=openai"));
        }
        None => None,
        Some(base_url) => Some(OpenAiConfig {
            base_url,
            api_key: vars.secret("OPENAI_API_KEY"),
            model: vars.get("OPENAI_MODEL").unwrap_or("gpt-4o-mini").to_owned(),
        }),
    };
    let upstream_ws_url = match vars.get("UPSTREAM_WS_URL") {
        None if backend == ChatBackendKind::WebSocket => {
            return Err(ConfigError::new("UPSTREAM_WS_URL", "must be set when CHAT_BACKEND=websocket"));
        }
        None => None,
        Some(raw) => {
            let url = Url::parse(raw).map_err(|e| ConfigError::new("UPSTREAM_WS_URL", format!("not a URL: {e}")))?;
            if !matches!(url.scheme(), "ws" | "wss") {
                return Err(ConfigError::new("UPSTREAM_WS_URL", "expected a ws:// or wss:// URL"));
            }
            Some(url)
        }
    };
    let limits = ChatLimits {
        max_message_bytes: vars.parse("CHAT_MAX_MESSAGE_BYTES", 16 * 1024, "a number of bytes")?,
        messages_per_minute: vars.parse("CHAT_MESSAGES_PER_MINUTE", 20, "a number")?,
        connects_per_minute: vars.parse("CHAT_CONNECTS_PER_MINUTE", 30, "a number")?,
        max_sockets_per_user: vars.parse("CHAT_MAX_SOCKETS_PER_USER", 5, "a number")?,
        outbound_queue: vars.parse("CHAT_OUTBOUND_QUEUE", 256, "a number of frames")?,
        heartbeat: Duration::from_secs(vars.parse("CHAT_HEARTBEAT_SECS", 20, "a number of seconds")?),
        idle_timeout: Duration::from_secs(vars.parse("CHAT_IDLE_TIMEOUT_SECS", 60, "a number of seconds")?),
        auth_timeout: Duration::from_secs(vars.parse("CHAT_AUTH_TIMEOUT_SECS", 5, "a number of seconds")?),
    };
    for (var, zero) in [
        ("CHAT_MAX_MESSAGE_BYTES", limits.max_message_bytes == 0),
        ("CHAT_MESSAGES_PER_MINUTE", limits.messages_per_minute == 0),
        ("CHAT_MAX_SOCKETS_PER_USER", limits.max_sockets_per_user == 0),
        ("CHAT_CONNECTS_PER_MINUTE", limits.connects_per_minute == 0),
        ("CHAT_OUTBOUND_QUEUE", limits.outbound_queue == 0),
        ("CHAT_HEARTBEAT_SECS", limits.heartbeat.is_zero()),
        ("CHAT_AUTH_TIMEOUT_SECS", limits.auth_timeout.is_zero()),
    ] {
        if zero {
            return Err(ConfigError::new(var, "must be at least 1"));
        }
    }
    if limits.idle_timeout <= limits.heartbeat {
        return Err(ConfigError::new("CHAT_IDLE_TIMEOUT_SECS", "must be longer than CHAT_HEARTBEAT_SECS"));
    }
    let system_prompt =
        vars.get("CHAT_SYSTEM_PROMPT").map(str::to_owned).unwrap_or_else(|| DEFAULT_SYSTEM_PROMPT.to_owned());
    let history_budget = vars.parse("CHAT_HISTORY_BUDGET", 12_000, "a number of characters")?;
    let retrieval_passages = vars.parse("RETRIEVAL_PASSAGES", 4, "a number of passages (0 to 20)")?;
    if retrieval_passages > MAX_RETRIEVAL_PASSAGES {
        return Err(ConfigError::new(
            "RETRIEVAL_PASSAGES",
            format!("at most {MAX_RETRIEVAL_PASSAGES} passages fit a prompt, got {retrieval_passages}"),
        ));
    }
    let room_assistant = room_assistant(vars, backend, flowise.is_some(), openai.is_some())?;
    let embeddings = match vars.get("EMBEDDINGS_MODEL").map(str::trim).filter(|m| !m.is_empty()) {
        None => None,
        Some(model) => {
            let base_url = match (vars.url("EMBEDDINGS_BASE_URL")?, &openai) {
                (Some(url), _) => url,
                (None, Some(openai)) => openai.base_url.clone(),
                (None, None) => {
                    return Err(ConfigError::new(
                        "EMBEDDINGS_BASE_URL",
                        "must be set when EMBEDDINGS_MODEL is set and OPENAI_BASE_URL is not",
                    ));
                }
            };
            let api_key = vars.secret("EMBEDDINGS_API_KEY").or_else(|| openai.as_ref().and_then(|o| o.api_key.clone()));
            let min_similarity: f32 =
                vars.parse("EMBEDDINGS_MIN_SIMILARITY", 0.3, "a cosine similarity from 0 to 1")?;
            if !(0.0..=1.0).contains(&min_similarity) {
                return Err(ConfigError::new("EMBEDDINGS_MIN_SIMILARITY", "expected a cosine similarity from 0 to 1"));
            }
            Some(EmbeddingsConfig { base_url, api_key, model: model.to_owned(), min_similarity })
        }
    };
    Ok(ChatConfig {
        backend,
        limits,
        system_prompt,
        history_budget,
        retrieval_passages,
        room_assistant,
        embeddings,
        ws_url,
        flowise,
        openai,
        upstream_ws_url,
    })
}

pub(super) const DEFAULT_SYSTEM_PROMPT: &str = "You are IBAL, a friendly and patient course assistant. Help the learner understand \
the material of the course {course_id} (unit {block_id}): explain clearly, give short examples, and say so when you are \
not sure. Do not do graded work for the learner.";
