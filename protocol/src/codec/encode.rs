//! Frames to JSON text.

use crate::json::ObjectWriter;
use crate::{ChatMessage, ClientFrame, ServerFrame, Source, UserInfo};

fn frame(kind: &str) -> ObjectWriter {
    ObjectWriter::new().str("type", kind)
}

impl ClientFrame {
    /// The frame as JSON text.
    #[must_use]
    pub fn to_json(&self) -> String {
        let w = frame(self.type_name());
        match self {
            Self::Auth { token, ticket, channel } => {
                w.str("token", token).opt_str("ticket", ticket.as_deref()).opt_str("channel", channel.as_deref())
            }
            Self::Message { client_id, content } => w.str("client_id", client_id).str("content", content),
            Self::Stop { id } => w.str("id", id),
            Self::Typing { is_typing } => w.bool("is_typing", *is_typing),
            Self::History { before, limit } => w.opt_str("before", before.as_deref()).opt_int("limit", *limit),
            Self::Ping => w,
            Self::AcceptDisclosure { version } => w.str("version", version),
            Self::Regenerate { id } => w.str("id", id),
        }
        .finish()
    }
}

impl ServerFrame {
    /// The frame as JSON text.
    #[must_use]
    pub fn to_json(&self) -> String {
        let w = frame(self.type_name());
        match self {
            Self::UserInfo(info) => user_info(w, info),
            Self::History { messages, has_more } => {
                let mut list = String::from("[");
                for (i, m) in messages.iter().enumerate() {
                    if i > 0 {
                        list.push(',');
                    }
                    list.push_str(&message(frame("message"), m).finish());
                }
                list.push(']');
                w.raw("messages", &list).bool("has_more", *has_more)
            }
            Self::Message(m) => message(w, m),
            Self::StreamStart { id, reply_to, replaces, sender, timestamp } => w
                .str("id", id)
                .str("reply_to", reply_to)
                .opt_str("replaces", replaces.as_deref())
                .str("sender", sender)
                .str("timestamp", timestamp),
            Self::StreamDelta { id, delta } => w.str("id", id).str("delta", delta),
            Self::StreamEnd { id, content, status, usage, sources } => {
                let w = with_sources(w.str("id", id).str("content", content).str("status", status.as_str()), sources);
                match usage {
                    Some(u) => {
                        let usage = ObjectWriter::new()
                            .opt_uint("prompt_tokens", u.prompt_tokens)
                            .opt_uint("completion_tokens", u.completion_tokens)
                            .opt_uint("total_tokens", u.total_tokens)
                            .finish();
                        w.raw("usage", &usage)
                    }
                    None => w,
                }
            }
            Self::Typing { username, is_typing } => w.str("username", username).bool("is_typing", *is_typing),
            Self::Presence { count } => w.uint("count", *count),
            Self::Pinned { content, sender, timestamp } => {
                w.str("content", content).str("sender", sender).str("timestamp", timestamp)
            }
            Self::Error(e) => w
                .str("code", &e.code)
                .str("message", &e.message)
                .opt_uint("retry_after", e.retry_after)
                .opt_str("client_id", e.client_id.as_deref()),
            Self::Pong => w,
        }
        .finish()
    }
}

fn user_info(w: ObjectWriter, info: &UserInfo) -> ObjectWriter {
    let c = &info.context;
    let mut context = ObjectWriter::new()
        .str("source", &c.source)
        .str("course_id", &c.course_id)
        .str("block_id", &c.block_id)
        .str("title", &c.title);
    if !c.starters.is_empty() {
        let mut list = String::from("[");
        for (i, starter) in c.starters.iter().enumerate() {
            if i > 0 {
                list.push(',');
            }
            crate::json::push_str(&mut list, starter);
        }
        list.push(']');
        context = context.raw("starters", &list);
    }
    if let Some(d) = &c.disclosure {
        let disclosure =
            ObjectWriter::new().str("text", &d.text).str("version", &d.version).bool("accepted", d.accepted).finish();
        context = context.raw("disclosure", &disclosure);
    }
    if c.exam {
        context = context.bool("exam", true);
    }
    let context = context.finish();
    let w = w
        .str("username", &info.username)
        .str("name", &info.name)
        .str("role", &info.role)
        .bool("operator", info.operator)
        .str("conversation_id", &info.conversation_id)
        .str("backend", &info.backend)
        .raw("context", &context);
    match info.limits {
        Some(limits) => {
            let limits = ObjectWriter::new()
                .uint("max_message_bytes", limits.max_message_bytes)
                .uint("messages_per_minute", limits.messages_per_minute)
                .finish();
            w.raw("limits", &limits)
        }
        None => w,
    }
}

/// Adds `"sources": [...]`, unless there are none.
fn with_sources(w: ObjectWriter, sources: &[Source]) -> ObjectWriter {
    if sources.is_empty() {
        return w;
    }
    let mut list = String::from("[");
    for (i, s) in sources.iter().enumerate() {
        if i > 0 {
            list.push(',');
        }
        let source = ObjectWriter::new()
            .uint("n", s.n)
            .str("title", &s.title)
            .str("breadcrumb", &s.breadcrumb)
            .str("url", &s.url)
            .str("snippet", &s.snippet)
            .finish();
        list.push_str(&source);
    }
    list.push(']');
    w.raw("sources", &list)
}

fn message(w: ObjectWriter, m: &ChatMessage) -> ObjectWriter {
    let w = w
        .opt_str("id", m.id.as_deref())
        .opt_str("client_id", m.client_id.as_deref())
        .str("role", m.role.as_str())
        .str("content", &m.content)
        .str("sender", &m.sender)
        .opt_str("sender_role", m.sender_role.as_deref())
        .opt_str("reply_to", m.reply_to.as_deref())
        .opt_str("replaces", m.replaces.as_deref())
        .str("timestamp", &m.timestamp)
        .str("status", m.status.as_str());
    let w = if m.hidden { w.bool("hidden", true) } else { w };
    with_sources(w, &m.sources)
}
