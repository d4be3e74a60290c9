//! The chat protocol's frames (docs/protocol.md): building client frames and parsing server frames.
//! Parsing is lenient about extra and optional fields (newer gateways may add some) and strict about
//! the fields the widget needs.

use crate::json::{ObjectWriter, Value};

/// Who wrote a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// A person (the learner, or anyone in a room).
    User,
    /// The course assistant.
    Assistant,
    /// The gateway itself.
    System,
}

impl Role {
    fn parse(text: &str) -> Self {
        match text {
            "assistant" => Self::Assistant,
            "system" => Self::System,
            _ => Self::User,
        }
    }
}

/// How a stored message ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    /// Complete.
    Complete,
    /// The user stopped the reply.
    Stopped,
    /// The backend failed mid-way; the content is what arrived.
    Failed,
}

impl Status {
    fn parse(text: Option<&str>) -> Self {
        match text {
            Some("stopped") => Self::Stopped,
            Some("failed") => Self::Failed,
            _ => Self::Complete,
        }
    }
}

/// A stored message (`message` frames and `history` entries).
#[derive(Debug, Clone, PartialEq)]
pub struct WireMessage {
    /// The server's id (absent only from seed-era servers).
    pub id: Option<String>,
    /// The sender's `client_id`, when a client sent it.
    pub client_id: Option<String>,
    /// Who wrote it.
    pub role: Role,
    /// The text (Markdown for assistant replies).
    pub content: String,
    /// The sender's username (or `assistant`).
    pub sender: String,
    /// RFC 3339 UTC.
    pub timestamp: Option<String>,
    /// How it ended.
    pub status: Status,
    /// In a course, the sender's role there (`learner`, `staff`, `instructor`).
    pub sender_role: Option<String>,
}

/// A frame from the gateway.
#[derive(Debug, Clone, PartialEq)]
pub enum ServerFrame {
    /// Authentication succeeded.
    UserInfo {
        /// The user's username.
        username: String,
        /// `room`, `openai`, `flowise`, `websocket`.
        backend: Option<String>,
        /// The most bytes a message may hold.
        max_message_bytes: Option<u64>,
    },
    /// A page of the conversation, oldest first.
    History {
        /// The messages.
        messages: Vec<WireMessage>,
        /// Whether older messages exist.
        has_more: bool,
    },
    /// A stored message (the acknowledgement of ours, or someone else's in a room).
    Message(WireMessage),
    /// An assistant reply starts.
    StreamStart {
        /// The reply's id.
        id: String,
        /// Usually `assistant`.
        sender: Option<String>,
        /// RFC 3339 UTC.
        timestamp: Option<String>,
    },
    /// More of a reply.
    StreamDelta {
        /// The reply's id.
        id: String,
        /// The new text.
        delta: String,
    },
    /// A reply ended; `content` is the whole reply as stored.
    StreamEnd {
        /// The reply's id.
        id: String,
        /// The whole reply.
        content: String,
        /// How it ended.
        status: Status,
    },
    /// Someone in the room started or stopped typing.
    Typing {
        /// Who.
        username: String,
        /// Started (true) or stopped.
        is_typing: bool,
    },
    /// How many people are in the room.
    Presence {
        /// The count.
        count: u64,
    },
    /// Something went wrong; `code` is stable, `message` is for people.
    Error {
        /// The stable code (docs/protocol.md).
        code: String,
        /// A sentence for the user.
        message: String,
        /// Seconds to wait, when waiting helps.
        retry_after: Option<u64>,
    },
    /// The answer to `ping`.
    Pong,
    /// A frame type this widget does not know (ignored, for forward compatibility).
    Unknown(String),
}

/// Why a frame could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FrameError {
    /// Not JSON.
    NotJson,
    /// JSON, but not an object with a string `type`.
    NoType,
    /// A required field is missing or of the wrong type.
    Field(&'static str),
}

impl std::fmt::Display for FrameError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::NotJson => f.write_str("not JSON"),
            Self::NoType => f.write_str("not an object with a type"),
            Self::Field(name) => write!(f, "missing or invalid field `{name}`"),
        }
    }
}

fn str_field<'a>(obj: &'a Value, name: &str) -> Option<&'a str> {
    obj.get(name).and_then(Value::as_str)
}

fn owned(obj: &Value, name: &str) -> Option<String> {
    str_field(obj, name).map(str::to_owned)
}

fn required(obj: &Value, name: &'static str) -> Result<String, FrameError> {
    owned(obj, name).ok_or(FrameError::Field(name))
}

fn parse_message(obj: &Value) -> Result<WireMessage, FrameError> {
    let role = Role::parse(str_field(obj, "role").unwrap_or("user"));
    let sender = owned(obj, "sender").unwrap_or_else(|| if role == Role::Assistant { "assistant" } else { "" }.into());
    Ok(WireMessage {
        id: owned(obj, "id"),
        client_id: owned(obj, "client_id"),
        role,
        content: required(obj, "content")?,
        sender,
        timestamp: owned(obj, "timestamp"),
        status: Status::parse(str_field(obj, "status")),
        sender_role: owned(obj, "sender_role"),
    })
}

/// Parses a text frame from the gateway.
///
/// # Errors
/// When the text is not JSON, not an object with a `type`, or a field the widget needs is missing.
pub fn parse_server_frame(text: &str) -> Result<ServerFrame, FrameError> {
    let value = Value::parse(text).ok_or(FrameError::NotJson)?;
    let obj = &value;
    let kind = str_field(obj, "type").ok_or(FrameError::NoType)?;
    Ok(match kind {
        "user_info" => ServerFrame::UserInfo {
            username: required(obj, "username")?,
            backend: owned(obj, "backend"),
            max_message_bytes: obj.get("limits").and_then(|l| l.get("max_message_bytes")).and_then(Value::as_u64),
        },
        "history" => {
            let list = obj.get("messages").and_then(Value::as_array).ok_or(FrameError::Field("messages"))?;
            // A malformed entry is skipped rather than losing the whole page.
            let messages = list.iter().filter(|m| m.is_object()).filter_map(|m| parse_message(m).ok()).collect();
            ServerFrame::History { messages, has_more: obj.get("has_more").and_then(Value::as_bool).unwrap_or(false) }
        }
        "message" => ServerFrame::Message(parse_message(obj)?),
        "stream_start" => ServerFrame::StreamStart {
            id: required(obj, "id")?,
            sender: owned(obj, "sender"),
            timestamp: owned(obj, "timestamp"),
        },
        "stream_delta" => ServerFrame::StreamDelta { id: required(obj, "id")?, delta: required(obj, "delta")? },
        "stream_end" => ServerFrame::StreamEnd {
            id: required(obj, "id")?,
            content: required(obj, "content")?,
            status: Status::parse(str_field(obj, "status")),
        },
        "typing" => ServerFrame::Typing {
            username: required(obj, "username")?,
            is_typing: obj.get("is_typing").and_then(Value::as_bool).ok_or(FrameError::Field("is_typing"))?,
        },
        "presence" => {
            ServerFrame::Presence { count: obj.get("count").and_then(Value::as_u64).ok_or(FrameError::Field("count"))? }
        }
        "error" => ServerFrame::Error {
            code: required(obj, "code")?,
            message: owned(obj, "message").unwrap_or_default(),
            retry_after: obj
                .get("retry_after")
                .and_then(|v| v.as_u64().or_else(|| v.as_f64().map(|f| f.ceil() as u64))),
        },
        "pong" => ServerFrame::Pong,
        other => ServerFrame::Unknown(other.to_owned()),
    })
}

fn frame(kind: &str) -> ObjectWriter {
    ObjectWriter::new().str("type", kind)
}

/// `{"type":"auth","token":…,"ticket":…}`: the first frame on every socket. The ticket (from the
/// LMS) proves the course context; without one the chat is in the gateway's own context.
#[must_use]
pub fn auth_frame(token: &str, ticket: Option<&str>) -> String {
    let writer = frame("auth").str("token", token);
    match ticket {
        Some(ticket) => writer.str("ticket", ticket).finish(),
        None => writer.finish(),
    }
}

/// `{"type":"message","client_id":…,"content":…}`.
#[must_use]
pub fn message_frame(client_id: &str, content: &str) -> String {
    frame("message").str("client_id", client_id).str("content", content).finish()
}

/// `{"type":"stop","id":…}`.
#[must_use]
pub fn stop_frame(id: &str) -> String {
    frame("stop").str("id", id).finish()
}

/// `{"type":"typing","is_typing":…}`.
#[must_use]
pub fn typing_frame(is_typing: bool) -> String {
    frame("typing").bool("is_typing", is_typing).finish()
}

/// `{"type":"history","before":…,"limit":…}`.
#[must_use]
pub fn history_frame(before: &str, limit: u32) -> String {
    frame("history").str("before", before).int("limit", i64::from(limit)).finish()
}

/// `{"type":"ping"}`.
#[must_use]
pub fn ping_frame() -> String {
    frame("ping").finish()
}

/// A token pair as the gateway's token endpoints and the sign-in popup return it.
#[derive(Debug, Clone, PartialEq)]
pub struct TokenGrant {
    /// The access token (a JWT).
    pub access_token: String,
    /// Seconds until it expires.
    pub expires_in: f64,
    /// The refresh token, when one was issued.
    pub refresh_token: Option<String>,
    /// The username, when the endpoint says it (not the refresh grant).
    pub username: Option<String>,
}

/// Parses a token response (`{"access_token","expires_in","refresh_token","username",…}`) from a JSON
/// object; `None` when `access_token` is missing.
#[must_use]
pub fn parse_token_grant(value: &Value) -> Option<TokenGrant> {
    let obj = value;
    let access_token = owned(obj, "access_token").filter(|t| !t.is_empty())?;
    Some(TokenGrant {
        access_token,
        expires_in: obj.get("expires_in").and_then(Value::as_f64).unwrap_or(900.0),
        refresh_token: owned(obj, "refresh_token").filter(|t| !t.is_empty()),
        username: owned(obj, "username").filter(|t| !t.is_empty()),
    })
}

/// An HTTP error body of the gateway: `{"error":{"code","message"}}` → `(code, message)`.
#[must_use]
pub fn parse_http_error(text: &str) -> Option<(String, String)> {
    let value = Value::parse(text)?;
    let err = value.get("error")?;
    let code = err.get("code").and_then(Value::as_str).unwrap_or_default().to_owned();
    let message = err.get("message").and_then(Value::as_str).unwrap_or_default().to_owned();
    Some((code, message))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_frames_match_the_protocol() {
        assert_eq!(auth_frame("tok", None), r#"{"type":"auth","token":"tok"}"#);
        assert_eq!(auth_frame("tok", Some("eyJ.t.s")), r#"{"type":"auth","token":"tok","ticket":"eyJ.t.s"}"#);
        assert_eq!(
            message_frame("c-1", "Hi \"there\"\n"),
            r#"{"type":"message","client_id":"c-1","content":"Hi \"there\"\n"}"#
        );
        assert_eq!(stop_frame("r1"), r#"{"type":"stop","id":"r1"}"#);
        assert_eq!(typing_frame(true), r#"{"type":"typing","is_typing":true}"#);
        assert_eq!(history_frame("m1", 50), r#"{"type":"history","before":"m1","limit":50}"#);
        assert_eq!(ping_frame(), r#"{"type":"ping"}"#);
    }

    #[test]
    fn parses_the_protocol_examples() {
        let f = parse_server_frame(
            r#"{"type": "user_info", "username": "john_doe", "name": "John Doe", "role": "learner",
 "conversation_id": "019a4f1e", "backend": "openai",
 "context": {"course_id": "course-v1:edX+DemoX+Demo_Course", "block_id": "block-v1:…"},
 "limits": {"max_message_bytes": 16384, "messages_per_minute": 20}}"#,
        );
        assert_eq!(
            f,
            Ok(ServerFrame::UserInfo {
                username: "john_doe".into(),
                backend: Some("openai".into()),
                max_message_bytes: Some(16384)
            })
        );

        let f = parse_server_frame(
            r#"{"type": "history", "messages": [
  {"type": "message", "id": "019a", "client_id": "c-5b0d", "role": "user", "content": "Hello!",
   "sender": "john_doe", "timestamp": "2026-11-21T13:00:00.123Z", "status": "complete"},
  {"type": "message", "id": "019b", "role": "assistant", "content": "Hi", "sender": "assistant",
   "timestamp": "2026-11-21T13:00:01.123Z", "status": "stopped"},
  {"type": "message", "id": "broken"}
 ], "has_more": true}"#,
        );
        let Ok(ServerFrame::History { messages, has_more }) = f else { panic!("{f:?}") };
        assert!(has_more);
        assert_eq!(messages.len(), 2);
        assert_eq!(messages[0].client_id.as_deref(), Some("c-5b0d"));
        assert_eq!(messages[0].role, Role::User);
        assert_eq!(messages[1].role, Role::Assistant);
        assert_eq!(messages[1].status, Status::Stopped);

        assert_eq!(
            parse_server_frame(r#"{"type":"stream_delta","id":"r1","delta":" I help?"}"#),
            Ok(ServerFrame::StreamDelta { id: "r1".into(), delta: " I help?".into() })
        );
        assert_eq!(
            parse_server_frame(
                r#"{"type":"stream_end","id":"r1","content":"Hello!","status":"failed","usage":{"prompt_tokens":31}}"#
            ),
            Ok(ServerFrame::StreamEnd { id: "r1".into(), content: "Hello!".into(), status: Status::Failed })
        );
        assert_eq!(
            parse_server_frame(r#"{"type":"error","code":"rate_limited","message":"slow down","retry_after":12}"#),
            Ok(ServerFrame::Error { code: "rate_limited".into(), message: "slow down".into(), retry_after: Some(12) })
        );
        assert_eq!(
            parse_server_frame(r#"{"type":"typing","username":"jane","is_typing":true}"#),
            Ok(ServerFrame::Typing { username: "jane".into(), is_typing: true })
        );
        assert_eq!(parse_server_frame(r#"{"type":"presence","count":3}"#), Ok(ServerFrame::Presence { count: 3 }));
        assert_eq!(parse_server_frame(r#"{"type":"pong"}"#), Ok(ServerFrame::Pong));
    }

    #[test]
    fn seed_messages_without_id_parse() {
        let f = parse_server_frame(r#"{"type":"message","content":"Hello!","sender":"john_doe","timestamp":"…"}"#);
        let Ok(ServerFrame::Message(m)) = f else { panic!("{f:?}") };
        assert_eq!(m.id, None);
        assert_eq!(m.sender, "john_doe");
        assert_eq!(m.status, Status::Complete);
    }

    #[test]
    fn bad_frames_are_errors_and_unknown_types_are_tolerated() {
        assert_eq!(parse_server_frame("not json"), Err(FrameError::NotJson));
        assert_eq!(parse_server_frame("[1,2]"), Err(FrameError::NoType));
        assert_eq!(parse_server_frame(r#"{"kind":"x"}"#), Err(FrameError::NoType));
        assert_eq!(parse_server_frame(r#"{"type":"message","id":"m"}"#), Err(FrameError::Field("content")));
        assert_eq!(parse_server_frame(r#"{"type":"stream_delta","id":"r1"}"#), Err(FrameError::Field("delta")));
        assert_eq!(parse_server_frame(r#"{"type":"brand_new","x":1}"#), Ok(ServerFrame::Unknown("brand_new".into())));
    }

    #[test]
    fn token_grants_and_http_errors() {
        let v = Value::parse(
            r#"{"access_token":"a","token_type":"Bearer","expires_in":900,"refresh_token":"r","username":"u"}"#,
        )
        .unwrap_or(Value::Null);
        assert_eq!(
            parse_token_grant(&v),
            Some(TokenGrant {
                access_token: "a".into(),
                expires_in: 900.0,
                refresh_token: Some("r".into()),
                username: Some("u".into())
            })
        );
        assert_eq!(parse_token_grant(&Value::parse(r#"{"token_type":"Bearer"}"#).unwrap_or(Value::Null)), None);
        assert_eq!(
            parse_http_error(r#"{"error":{"code":"invalid_credentials","message":"Wrong username or password"}}"#),
            Some(("invalid_credentials".into(), "Wrong username or password".into()))
        );
        assert_eq!(parse_http_error("<html>"), None);
    }
}
