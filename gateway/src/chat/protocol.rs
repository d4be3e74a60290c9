//! The gateway's end of docs/protocol.md: the frames are `ibal-protocol`'s (shared with the widget and
//! checked against its golden fixtures); this module reads client frames and writes server frames.

use ibal_protocol::{ChatMessage, Role, ServerFrame, Source, Status, Usage};
use serde_json::Value;

use crate::domain::{Message, MessageRole, MessageStatus};

pub use ibal_protocol::{ClientFrame, Context, Disclosure, ErrorCode, ErrorFrame, Limits, UserInfo, close};

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
            Self::Bad(why) => error(ErrorCode::BadFrame, &format!("Malformed frame: {why}.")),
            Self::UnknownType(t) => error(ErrorCode::UnknownType, &format!("Unknown frame type {t:?}.")),
        }
    }
}

pub fn parse(text: &str) -> Result<ClientFrame, FrameError> {
    let value: Value = serde_json::from_str(text).map_err(|_| FrameError::Bad("not JSON".into()))?;
    let Some(kind) = value.get("type").and_then(Value::as_str) else {
        return Err(FrameError::Bad("an object with a string \"type\" is required".into()));
    };
    if !ClientFrame::TYPES.contains(&kind) {
        return Err(FrameError::UnknownType(kind.chars().take(40).collect()));
    }
    serde_json::from_value(value).map_err(|e| FrameError::Bad(first_line(&e.to_string())))
}

fn first_line(s: &str) -> String {
    s.lines().next().unwrap_or_default().chars().take(120).collect()
}

/// A server frame as the text sent on the socket.
pub fn encode(frame: &ServerFrame) -> String {
    // The frames hold strings, numbers and booleans only: writing them cannot fail.
    serde_json::to_string(frame).unwrap_or_default()
}

/// RFC 3339 UTC with milliseconds, the protocol's timestamp format.
pub fn timestamp(ms: i64) -> String {
    crate::domain::rfc3339_ms(ms)
}

/// What everyone sees in place of a message course staff hid.
pub const HIDDEN_NOTICE: &str = "Removed by course staff.";

/// A stored message as the protocol carries it; a hidden one without its text, its `client_id` or
/// its sources.
pub fn chat_message(m: &Message) -> ChatMessage {
    if m.hidden_at.is_some() {
        let shown =
            Message { content: HIDDEN_NOTICE.to_owned(), client_id: None, sources: None, hidden_at: None, ..m.clone() };
        return ChatMessage { hidden: true, ..chat_message(&shown) };
    }
    ChatMessage {
        id: Some(m.id.clone()),
        client_id: m.client_id.clone(),
        role: match m.role {
            MessageRole::User => Role::User,
            MessageRole::Assistant => Role::Assistant,
            MessageRole::System => Role::System,
        },
        content: m.content.clone(),
        sender: if m.role == MessageRole::Assistant { "assistant".to_owned() } else { m.sender_name.clone() },
        // In a course, the sender's role there: the widget badges course staff.
        sender_role: Some(m.sender_role.clone()).filter(|r| !r.is_empty()),
        reply_to: m.reply_to.clone().filter(|_| m.role == MessageRole::Assistant),
        replaces: m.replaces.clone(),
        timestamp: timestamp(m.created_at),
        status: status(m.status),
        sources: m.sources.as_deref().map(read_sources).unwrap_or_default(),
        hidden: false,
    }
}

/// A reply's sources as stored (JSON); a row that does not read is shown without them.
pub fn read_sources(json: &str) -> Vec<Source> {
    serde_json::from_str(json).unwrap_or_default()
}

/// A reply's sources as stored; None when there are none.
pub fn write_sources(sources: &[Source]) -> Option<String> {
    if sources.is_empty() { None } else { serde_json::to_string(sources).ok() }
}

pub fn status(status: MessageStatus) -> Status {
    match status {
        MessageStatus::Complete => Status::Complete,
        MessageStatus::Stopped => Status::Stopped,
        MessageStatus::Failed => Status::Failed,
    }
}

/// A stored message as a `message` frame's JSON value (the conversation API lists these too).
pub fn message_value(m: &Message) -> Value {
    serde_json::to_value(ServerFrame::Message(chat_message(m))).unwrap_or_default()
}

pub fn message(m: &Message) -> String {
    encode(&ServerFrame::Message(chat_message(m)))
}

pub fn history(messages: &[Message], has_more: bool) -> String {
    encode(&ServerFrame::History { messages: messages.iter().map(chat_message).collect(), has_more })
}

/// A room's pinned announcement, or none any more.
pub fn pinned(pin: Option<&crate::store::Pin>) -> String {
    encode(&match pin {
        Some(pin) => ServerFrame::Pinned {
            content: pin.content.clone(),
            sender: pin.author_name.clone(),
            timestamp: timestamp(pin.created_at),
        },
        None => ServerFrame::Pinned { content: String::new(), sender: String::new(), timestamp: String::new() },
    })
}

pub fn user_info(info: UserInfo) -> String {
    encode(&ServerFrame::UserInfo(info))
}

/// An `error` frame with a code and a sentence for the user.
pub fn error(code: ErrorCode, message: &str) -> String {
    error_frame(ErrorFrame::new(code, message))
}

/// An `error` frame with its optional fields (`retry_after`, `client_id`).
pub fn error_frame(frame: ErrorFrame) -> String {
    encode(&ServerFrame::Error(frame))
}

pub fn pong() -> String {
    encode(&ServerFrame::Pong)
}

pub fn typing(username: &str, is_typing: bool) -> String {
    encode(&ServerFrame::Typing { username: username.to_owned(), is_typing })
}

pub fn presence(count: usize) -> String {
    encode(&ServerFrame::Presence { count: u64::try_from(count).unwrap_or(u64::MAX) })
}

pub fn stream_start(id: &str, reply_to: &str, replaces: Option<&str>, at_ms: i64) -> String {
    encode(&ServerFrame::StreamStart {
        id: id.to_owned(),
        reply_to: reply_to.to_owned(),
        replaces: replaces.map(str::to_owned),
        sender: "assistant".to_owned(),
        timestamp: timestamp(at_ms),
    })
}

pub fn stream_delta(id: &str, delta: &str) -> String {
    encode(&ServerFrame::StreamDelta { id: id.to_owned(), delta: delta.to_owned() })
}

pub fn stream_end(id: &str, content: &str, status: MessageStatus, usage: Option<Usage>, sources: &[Source]) -> String {
    encode(&ServerFrame::StreamEnd {
        id: id.to_owned(),
        content: content.to_owned(),
        status: self::status(status),
        usage,
        sources: sources.to_vec(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const CLIENT_FIXTURES: &str = include_str!("../../../protocol/fixtures/client.json");
    const SERVER_FIXTURES: &str = include_str!("../../../protocol/fixtures/server.json");

    fn fixtures(text: &str) -> serde_json::Map<String, Value> {
        match serde_json::from_str(text) {
            Ok(Value::Object(map)) => map,
            other => panic!("fixtures are an object of frames: {other:?}"),
        }
    }

    #[test]
    fn reads_every_client_fixture() {
        for (name, frame) in fixtures(CLIENT_FIXTURES) {
            let parsed = parse(&frame.to_string()).unwrap_or_else(|e| panic!("{name}: {e:?}"));
            assert_eq!(serde_json::to_value(&parsed).ok(), Some(frame), "{name}");
        }
    }

    #[test]
    fn writes_what_the_server_fixtures_show() {
        for (name, frame) in fixtures(SERVER_FIXTURES) {
            let typed: ServerFrame = serde_json::from_value(frame.clone()).unwrap_or_else(|e| panic!("{name}: {e}"));
            let written: Value = serde_json::from_str(&encode(&typed)).unwrap_or_default();
            assert_eq!(written, frame, "{name}");
        }
    }

    #[test]
    fn a_stored_message_is_written_without_empty_optional_fields() {
        let reply = Message {
            id: "r1".into(),
            conversation_id: "c".into(),
            sender_id: None,
            client_id: None,
            role: MessageRole::Assistant,
            sender_name: "Assistant".into(),
            sender_role: String::new(),
            content: "Hi".into(),
            status: MessageStatus::Stopped,
            reply_to: Some("q1".into()),
            replaces: None,
            error_code: None,
            tokens: None,
            latency_ms: None,
            first_token_ms: None,
            hidden_at: None,
            sources: None,
            created_at: 1_763_730_000_123,
            updated_at: 1_763_730_000_123,
        };
        let value = message_value(&reply);
        assert_eq!(
            value,
            serde_json::json!({"type": "message", "id": "r1", "role": "assistant", "content": "Hi",
                "sender": "assistant", "reply_to": "q1", "timestamp": "2025-11-21T13:00:00.123Z", "status": "stopped"})
        );
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
        let frame: Value = serde_json::from_str(&FrameError::UnknownType("x".into()).frame()).unwrap_or_default();
        assert_eq!(frame["code"], "unknown_type");
    }

    #[test]
    fn timestamps_are_rfc3339_with_milliseconds() {
        assert_eq!(timestamp(1_763_730_000_123), "2025-11-21T13:00:00.123Z");
    }
}
