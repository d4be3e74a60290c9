//! The frames of docs/protocol.md: parsing what clients send, building what the server sends.

use serde::Deserialize;
use serde_json::{Value, json};

use crate::domain::{Message, MessageRole};

/// Close codes (docs/protocol.md, "Close codes").
pub mod close {
    pub const NORMAL: u16 = 1000;
    pub const GOING_AWAY: u16 = 1001;
    pub const TOO_BIG: u16 = 1009;
    pub const INTERNAL: u16 = 1011;
    pub const TRY_AGAIN: u16 = 1013;
    pub const UNAUTHORIZED: u16 = 4401;
    pub const REVOKED: u16 = 4403;
    /// The course context could not be proven: the chat ticket was refused.
    pub const CONTEXT_REFUSED: u16 = 4406;
    pub const AUTH_TIMEOUT: u16 = 4408;
    pub const TOO_MANY: u16 = 4429;
}

/// A frame a client sent.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ClientFrame {
    /// `ticket`: an LMS-signed chat ticket proving the course context (docs/protocol.md).
    Auth {
        token: String,
        #[serde(default)]
        ticket: Option<String>,
    },
    Message {
        client_id: String,
        content: String,
    },
    Stop {
        id: String,
    },
    Typing {
        is_typing: bool,
    },
    History {
        before: Option<String>,
        limit: Option<i64>,
    },
    Ping,
}

const KNOWN: &[&str] = &["auth", "message", "stop", "typing", "history", "ping"];

/// Why a text frame is not a usable client frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FrameError {
    /// Not JSON, not an object, no `type`, or a field of the wrong type.
    Bad(String),
    /// A `type` this server does not know.
    UnknownType(String),
}

impl FrameError {
    pub fn frame(&self) -> String {
        match self {
            Self::Bad(why) => error("bad_frame", &format!("Malformed frame: {why}."), None),
            Self::UnknownType(t) => error("unknown_type", &format!("Unknown frame type {t:?}."), None),
        }
    }
}

pub fn parse(text: &str) -> Result<ClientFrame, FrameError> {
    let value: Value = serde_json::from_str(text).map_err(|_| FrameError::Bad("not JSON".into()))?;
    let Some(kind) = value.get("type").and_then(Value::as_str) else {
        return Err(FrameError::Bad("an object with a string \"type\" is required".into()));
    };
    if !KNOWN.contains(&kind) {
        return Err(FrameError::UnknownType(kind.chars().take(40).collect()));
    }
    serde_json::from_value(value).map_err(|e| FrameError::Bad(first_line(&e.to_string())))
}

fn first_line(s: &str) -> String {
    s.lines().next().unwrap_or_default().chars().take(120).collect()
}

/// RFC 3339 UTC with milliseconds, the protocol's timestamp format.
pub fn timestamp(ms: i64) -> String {
    let format =
        time::macros::format_description!("[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]Z");
    time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .ok()
        .and_then(|t| t.format(&format).ok())
        .unwrap_or_default()
}

pub fn message_value(m: &Message) -> Value {
    let mut v = json!({
        "type": "message",
        "id": m.id,
        "client_id": m.client_id,
        "role": m.role,
        "content": m.content,
        "sender": if m.role == MessageRole::Assistant { "assistant" } else { m.sender_name.as_str() },
        "timestamp": timestamp(m.created_at),
        "status": m.status,
    });
    // In a course, the sender's role there: the widget badges course staff.
    if !m.sender_role.is_empty() {
        v["sender_role"] = json!(m.sender_role);
    }
    v
}

pub fn message(m: &Message) -> String {
    message_value(m).to_string()
}

pub fn history(messages: &[Message], has_more: bool) -> String {
    json!({ "type": "history", "messages": messages.iter().map(message_value).collect::<Vec<_>>(), "has_more": has_more }).to_string()
}

pub fn error(code: &str, message: &str, retry_after: Option<u64>) -> String {
    let mut v = json!({ "type": "error", "code": code, "message": message });
    if let Some(secs) = retry_after {
        v["retry_after"] = json!(secs);
    }
    v.to_string()
}

/// An error about one message the client sent, naming its `client_id` so the client can mark it.
pub fn message_error(code: &str, message: &str, retry_after: Option<u64>, client_id: &str) -> String {
    let mut v: Value = serde_json::from_str(&error(code, message, retry_after)).unwrap_or_default();
    v["client_id"] = json!(client_id);
    v.to_string()
}

pub fn pong() -> String {
    json!({ "type": "pong" }).to_string()
}

pub fn typing(username: &str, is_typing: bool) -> String {
    json!({ "type": "typing", "username": username, "is_typing": is_typing }).to_string()
}

pub fn presence(count: usize) -> String {
    json!({ "type": "presence", "count": count }).to_string()
}

pub fn stream_start(id: &str, reply_to: &str, at_ms: i64) -> String {
    json!({ "type": "stream_start", "id": id, "reply_to": reply_to, "sender": "assistant", "timestamp": timestamp(at_ms) }).to_string()
}

pub fn stream_delta(id: &str, delta: &str) -> String {
    json!({ "type": "stream_delta", "id": id, "delta": delta }).to_string()
}

pub fn stream_end(id: &str, content: &str, status: &str, usage: Option<&Value>) -> String {
    let mut v = json!({ "type": "stream_end", "id": id, "content": content, "status": status });
    if let Some(usage) = usage {
        v["usage"] = usage.clone();
    }
    v.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_every_client_frame() {
        assert_eq!(parse(r#"{"type":"auth","token":"t"}"#), Ok(ClientFrame::Auth { token: "t".into(), ticket: None }));
        assert_eq!(
            parse(r#"{"type":"auth","token":"t","ticket":"eyJ.x.y"}"#),
            Ok(ClientFrame::Auth { token: "t".into(), ticket: Some("eyJ.x.y".into()) })
        );
        assert_eq!(
            parse(r#"{"type":"message","client_id":"c1","content":"Hello!"}"#),
            Ok(ClientFrame::Message { client_id: "c1".into(), content: "Hello!".into() })
        );
        assert_eq!(parse(r#"{"type":"stop","id":"x"}"#), Ok(ClientFrame::Stop { id: "x".into() }));
        assert_eq!(parse(r#"{"type":"typing","is_typing":true}"#), Ok(ClientFrame::Typing { is_typing: true }));
        assert_eq!(parse(r#"{"type":"history","limit":5}"#), Ok(ClientFrame::History { before: None, limit: Some(5) }));
        assert_eq!(parse(r#"{"type":"ping"}"#), Ok(ClientFrame::Ping));
    }

    #[test]
    fn malformed_frames_are_classified_never_panic() {
        let cases = [
            "",
            "null",
            "[]",
            "42",
            "\"text\"",
            "{",
            "{}",
            r#"{"type":1}"#,
            r#"{"type":"message"}"#,
            r#"{"type":"message","client_id":5,"content":"x"}"#,
            r#"{"type":"typing","is_typing":"yes"}"#,
            r#"{"type":"history","limit":"ten"}"#,
            "\u{0}\u{1}",
            r#"{"type":"auth","token":null}"#,
        ];
        for case in cases {
            assert!(matches!(parse(case), Err(FrameError::Bad(_))), "{case:?}");
        }
        assert_eq!(parse(r#"{"type":"dance"}"#), Err(FrameError::UnknownType("dance".into())));
        let frame: Value = serde_json::from_str(&FrameError::UnknownType("x".into()).frame()).expect("json");
        assert_eq!(frame["code"], "unknown_type");
    }

    #[test]
    fn timestamps_are_rfc3339_with_milliseconds() {
        assert_eq!(timestamp(1_763_730_000_123), "2025-11-21T13:00:00.123Z");
    }
}
