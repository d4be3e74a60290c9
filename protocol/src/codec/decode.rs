//! JSON text to frames: a client's liberal reader. A field the frame cannot do without is required;
//! any other field takes its default when absent, null or of another type; unknown fields are
//! ignored; a malformed `history` entry is skipped rather than losing the page.

use super::DecodeError;
use crate::json::Value;
use crate::{
    ChatMessage, ClientFrame, Context, Disclosure, ErrorFrame, Limits, Role, ServerFrame, Source, Status, Usage,
    UserInfo,
};

/// An object's members, taken out by name (each value is moved out, not copied).
struct Fields(Vec<(String, Value)>);

impl Fields {
    fn of(value: Value) -> Option<Self> {
        match value {
            Value::Object(members) => Some(Self(members)),
            _ => None,
        }
    }

    fn take(&mut self, key: &str) -> Option<Value> {
        let index = self.0.iter().position(|(k, _)| k == key)?;
        Some(self.0.swap_remove(index).1)
    }

    fn string(&mut self, key: &str) -> Option<String> {
        match self.take(key)? {
            Value::String(s) => Some(s),
            _ => None,
        }
    }

    fn text(&mut self, key: &str) -> String {
        self.string(key).unwrap_or_default()
    }

    fn required(&mut self, key: &'static str) -> Result<String, DecodeError> {
        self.string(key).ok_or(DecodeError::Field(key))
    }

    fn u64(&mut self, key: &str) -> Option<u64> {
        self.take(key)?.as_u64()
    }

    fn bool(&mut self, key: &str) -> Option<bool> {
        self.take(key)?.as_bool()
    }

    /// The frame's `type`, taken first.
    fn kind(value: Value) -> Result<(Self, String), DecodeError> {
        let mut fields = Self::of(value).ok_or(DecodeError::NoType)?;
        let kind = fields.string("type").ok_or(DecodeError::NoType)?;
        Ok((fields, kind))
    }
}

impl ClientFrame {
    /// Reads a frame from JSON text.
    ///
    /// # Errors
    /// When the text is not JSON, not an object with a `type`, of an unknown type, or lacks a field
    /// the frame needs.
    pub fn from_json(text: &str) -> Result<Self, DecodeError> {
        Self::from_value(Value::parse(text).ok_or(DecodeError::NotJson)?)
    }

    /// Reads a frame from a JSON value.
    ///
    /// # Errors
    /// As [`ClientFrame::from_json`].
    pub fn from_value(value: Value) -> Result<Self, DecodeError> {
        let (mut f, kind) = Fields::kind(value)?;
        Ok(match kind.as_str() {
            "auth" => {
                Self::Auth { token: f.required("token")?, ticket: f.string("ticket"), channel: f.string("channel") }
            }
            "message" => Self::Message { client_id: f.required("client_id")?, content: f.required("content")? },
            "stop" => Self::Stop { id: f.required("id")? },
            "typing" => Self::Typing { is_typing: f.bool("is_typing").ok_or(DecodeError::Field("is_typing"))? },
            "history" => Self::History { before: f.string("before"), limit: f.take("limit").and_then(|v| v.as_i64()) },
            "ping" => Self::Ping,
            "accept_disclosure" => Self::AcceptDisclosure { version: f.required("version")? },
            "regenerate" => Self::Regenerate { id: f.required("id")? },
            _ => return Err(DecodeError::UnknownType(kind)),
        })
    }
}

impl ServerFrame {
    /// Reads a frame from JSON text.
    ///
    /// # Errors
    /// When the text is not JSON, not an object with a `type`, of an unknown type, or lacks a field
    /// the frame needs.
    pub fn from_json(text: &str) -> Result<Self, DecodeError> {
        Self::from_value(Value::parse(text).ok_or(DecodeError::NotJson)?)
    }

    /// Reads a frame from a JSON value.
    ///
    /// # Errors
    /// As [`ServerFrame::from_json`].
    pub fn from_value(value: Value) -> Result<Self, DecodeError> {
        let (mut f, kind) = Fields::kind(value)?;
        Ok(match kind.as_str() {
            "user_info" => Self::UserInfo(user_info(f)?),
            "history" => {
                let Some(Value::Array(list)) = f.take("messages") else { return Err(DecodeError::Field("messages")) };
                let messages = list.into_iter().filter_map(|m| message(Fields::of(m)?).ok()).collect();
                Self::History { messages, has_more: f.bool("has_more").unwrap_or(false) }
            }
            "message" => Self::Message(message(f)?),
            "stream_start" => Self::StreamStart {
                id: f.required("id")?,
                reply_to: f.text("reply_to"),
                replaces: f.string("replaces"),
                sender: f.text("sender"),
                timestamp: f.text("timestamp"),
            },
            "stream_delta" => Self::StreamDelta { id: f.required("id")?, delta: f.required("delta")? },
            "stream_end" => Self::StreamEnd {
                id: f.required("id")?,
                content: f.required("content")?,
                status: status(&mut f),
                usage: f.take("usage").and_then(Fields::of).map(|mut u| Usage {
                    prompt_tokens: u.u64("prompt_tokens"),
                    completion_tokens: u.u64("completion_tokens"),
                    total_tokens: u.u64("total_tokens"),
                }),
                sources: sources(&mut f),
            },
            "typing" => Self::Typing {
                username: f.required("username")?,
                is_typing: f.bool("is_typing").ok_or(DecodeError::Field("is_typing"))?,
            },
            "presence" => Self::Presence { count: f.u64("count").ok_or(DecodeError::Field("count"))? },
            "error" => Self::Error(ErrorFrame {
                code: f.required("code")?,
                message: f.text("message"),
                // Whole seconds; a fractional wait is rounded up.
                retry_after: f
                    .take("retry_after")
                    .and_then(|v| v.as_u64().or_else(|| v.as_f64().filter(|s| *s > 0.0).map(|s| s.ceil() as u64))),
                client_id: f.string("client_id"),
            }),
            "pinned" => Self::Pinned {
                content: f.required("content")?,
                sender: f.text("sender"),
                timestamp: f.text("timestamp"),
            },
            "pong" => Self::Pong,
            _ => return Err(DecodeError::UnknownType(kind)),
        })
    }
}

fn status(f: &mut Fields) -> Status {
    f.string("status").and_then(|s| Status::parse(&s)).unwrap_or_default()
}

fn user_info(mut f: Fields) -> Result<UserInfo, DecodeError> {
    Ok(UserInfo {
        username: f.required("username")?,
        name: f.text("name"),
        role: f.text("role"),
        operator: f.bool("operator").unwrap_or(false),
        conversation_id: f.text("conversation_id"),
        backend: f.text("backend"),
        context: f
            .take("context")
            .and_then(Fields::of)
            .map(|mut c| Context {
                source: c.text("source"),
                course_id: c.text("course_id"),
                block_id: c.text("block_id"),
                title: c.text("title"),
                starters: match c.take("starters") {
                    Some(Value::Array(list)) => list
                        .into_iter()
                        .filter_map(|s| match s {
                            Value::String(s) => Some(s),
                            _ => None,
                        })
                        .collect(),
                    _ => Vec::new(),
                },
                disclosure: c.take("disclosure").and_then(Fields::of).and_then(|mut d| {
                    Some(Disclosure {
                        text: d.string("text")?,
                        version: d.string("version")?,
                        accepted: d.bool("accepted").unwrap_or(false),
                    })
                }),
                exam: c.bool("exam").unwrap_or(false),
            })
            .unwrap_or_default(),
        limits: f.take("limits").and_then(Fields::of).and_then(|mut l| {
            Some(Limits {
                max_message_bytes: l.u64("max_message_bytes")?,
                messages_per_minute: l.u64("messages_per_minute")?,
            })
        }),
    })
}

fn message(mut f: Fields) -> Result<ChatMessage, DecodeError> {
    // The required field first: nothing taken yet to drop when it is missing.
    let content = f.required("content")?;
    Ok(ChatMessage {
        id: f.string("id"),
        client_id: f.string("client_id"),
        role: f.string("role").and_then(|r| Role::parse(&r)).unwrap_or_default(),
        content,
        sender: f.text("sender"),
        sender_role: f.string("sender_role"),
        reply_to: f.string("reply_to"),
        replaces: f.string("replaces"),
        timestamp: f.text("timestamp"),
        status: status(&mut f),
        sources: sources(&mut f),
        hidden: f.bool("hidden").unwrap_or(false),
    })
}

/// A reply's `sources`; entries without a number or a link are skipped.
fn sources(f: &mut Fields) -> Vec<Source> {
    let Some(Value::Array(list)) = f.take("sources") else { return Vec::new() };
    list.into_iter()
        .filter_map(|s| {
            let mut s = Fields::of(s)?;
            Some(Source {
                n: s.u64("n")?,
                url: s.string("url")?,
                title: s.text("title"),
                breadcrumb: s.text("breadcrumb"),
                snippet: s.text("snippet"),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_of_the_original_chat_servers_are_read_with_defaults() {
        let frame =
            ServerFrame::from_json(r#"{"type":"message","content":"Hello!","sender":"john_doe","timestamp":"…"}"#);
        let expected = ChatMessage {
            content: "Hello!".into(),
            sender: "john_doe".into(),
            timestamp: "…".into(),
            ..ChatMessage::default()
        };
        assert_eq!(frame, Ok(ServerFrame::Message(expected)));
    }

    #[test]
    fn optional_fields_may_be_null_or_of_another_type() {
        let frame = ServerFrame::from_json(
            r#"{"type":"message","id":null,"client_id":null,"role":"robot","content":"x","status":7,"extra":{"a":[]}}"#,
        );
        assert_eq!(frame, Ok(ServerFrame::Message(ChatMessage { content: "x".into(), ..ChatMessage::default() })));
        let frame = ServerFrame::from_json(r#"{"type":"error","code":"rate_limited","retry_after":1.2}"#);
        let Ok(ServerFrame::Error(e)) = frame else { panic!("{frame:?}") };
        assert_eq!(
            (e.retry_after, e.message.as_str(), e.error_code()),
            (Some(2), "", Some(crate::ErrorCode::RateLimited))
        );
    }

    #[test]
    fn a_minimal_user_info_is_enough() {
        let frame =
            ServerFrame::from_json(r#"{"type":"user_info","username":"john_doe","limits":{"max_message_bytes":5}}"#);
        let Ok(ServerFrame::UserInfo(info)) = frame else { panic!("{frame:?}") };
        assert_eq!(info.username, "john_doe");
        assert_eq!(info.limits, None, "half a limits object is none");
        assert_eq!(info.context, Context::default());
    }

    #[test]
    fn malformed_history_entries_are_skipped() {
        let frame = ServerFrame::from_json(
            r#"{"type":"history","messages":[{"type":"message","id":"broken"},3,{"id":"m1","content":"kept"}],"has_more":true}"#,
        );
        let Ok(ServerFrame::History { messages, has_more }) = frame else { panic!("{frame:?}") };
        assert!(has_more);
        assert_eq!(messages.len(), 1);
        assert_eq!(messages[0].id.as_deref(), Some("m1"));
    }

    #[test]
    fn what_is_not_a_frame_is_an_error() {
        assert_eq!(ServerFrame::from_json("not json"), Err(DecodeError::NotJson));
        assert_eq!(ServerFrame::from_json("[1,2]"), Err(DecodeError::NoType));
        assert_eq!(ServerFrame::from_json(r#"{"kind":"x"}"#), Err(DecodeError::NoType));
        assert_eq!(ServerFrame::from_json(r#"{"type":1}"#), Err(DecodeError::NoType));
        assert_eq!(ServerFrame::from_json(r#"{"type":"message","id":"m"}"#), Err(DecodeError::Field("content")));
        assert_eq!(ServerFrame::from_json(r#"{"type":"stream_delta","id":"r1"}"#), Err(DecodeError::Field("delta")));
        assert_eq!(ServerFrame::from_json(r#"{"type":"history"}"#), Err(DecodeError::Field("messages")));
        assert_eq!(ServerFrame::from_json(r#"{"type":"presence","count":-1}"#), Err(DecodeError::Field("count")));
        assert_eq!(
            ServerFrame::from_json(r#"{"type":"brand_new","x":1}"#),
            Err(DecodeError::UnknownType("brand_new".into()))
        );
        assert_eq!(
            ServerFrame::from_json(r#"{"type":"auth","token":"t"}"#),
            Err(DecodeError::UnknownType("auth".into()))
        );
        assert_eq!(ClientFrame::from_json(r#"{"type":"pong"}"#), Err(DecodeError::UnknownType("pong".into())));
        assert_eq!(
            ClientFrame::from_json(r#"{"type":"typing","is_typing":"yes"}"#),
            Err(DecodeError::Field("is_typing"))
        );
        assert_eq!(ClientFrame::from_json(r#"{"type":"auth","token":null}"#), Err(DecodeError::Field("token")));
        assert_eq!(DecodeError::Field("content").to_string(), "missing or invalid field content");
    }
}
