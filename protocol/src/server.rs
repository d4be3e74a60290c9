//! What the gateway sends (docs/protocol.md, "Authentication" and "Server → client").

use crate::ErrorCode;

/// A frame the gateway sends.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(tag = "type", rename_all = "snake_case"))]
pub enum ServerFrame {
    /// Authentication succeeded: who the user is, in which context, under which limits.
    UserInfo(UserInfo),
    /// A page of the conversation, oldest first: on connect, and in answer to a `history` request.
    History {
        /// The messages; each is written as a `message` frame (with its `"type"`).
        #[cfg_attr(feature = "serde", serde(serialize_with = "tagged_messages"))]
        messages: Vec<ChatMessage>,
        /// Whether older messages exist.
        #[cfg_attr(feature = "serde", serde(default))]
        has_more: bool,
    },
    /// A stored message: the acknowledgement of the sender's `message`, or someone else's in a room.
    Message(ChatMessage),
    /// An assistant reply starts.
    StreamStart {
        /// The reply's id (the id it is stored under).
        id: String,
        /// The id of the message it answers.
        #[cfg_attr(feature = "serde", serde(default))]
        reply_to: String,
        /// A regenerated reply: the id of the reply it is a new version of.
        #[cfg_attr(feature = "serde", serde(default, skip_serializing_if = "Option::is_none"))]
        replaces: Option<String>,
        /// `assistant`.
        #[cfg_attr(feature = "serde", serde(default))]
        sender: String,
        /// RFC 3339 UTC with milliseconds.
        #[cfg_attr(feature = "serde", serde(default))]
        timestamp: String,
    },
    /// More of a reply.
    StreamDelta {
        /// The reply's id.
        id: String,
        /// The new text.
        delta: String,
    },
    /// A reply ended.
    StreamEnd {
        /// The reply's id.
        id: String,
        /// The whole reply as stored: clients replace what they accumulated with it.
        content: String,
        /// `complete`, `stopped` (the user sent `stop`) or `failed` (an `error` frame said why).
        #[cfg_attr(feature = "serde", serde(default))]
        status: Status,
        /// Token counts, when the backend reports them.
        #[cfg_attr(feature = "serde", serde(default, skip_serializing_if = "Option::is_none"))]
        usage: Option<Usage>,
        /// The course passages the reply cites, by their number in it (`[1]`).
        #[cfg_attr(feature = "serde", serde(default, skip_serializing_if = "Vec::is_empty"))]
        sources: Vec<Source>,
    },
    /// Someone in the room started or stopped typing.
    Typing {
        /// Who.
        username: String,
        /// Started (true) or stopped.
        is_typing: bool,
    },
    /// How many sockets of the room this replica holds.
    Presence {
        /// The count.
        count: u64,
    },
    /// The room's pinned announcement, from its course staff: after `history` on connect when there is
    /// one, and whenever staff pin or unpin one (`content` empty: none any more).
    Pinned {
        /// The announcement, plain text; empty when unpinned.
        content: String,
        /// Who pinned it.
        #[cfg_attr(feature = "serde", serde(default))]
        sender: String,
        /// When, RFC 3339 UTC with milliseconds; empty when unpinned.
        #[cfg_attr(feature = "serde", serde(default))]
        timestamp: String,
    },
    /// Something went wrong; the socket stays open unless a close follows.
    Error(ErrorFrame),
    /// The answer to `ping`.
    Pong,
}

impl ServerFrame {
    /// Every server frame `type`.
    pub const TYPES: [&'static str; 11] = [
        "user_info",
        "history",
        "message",
        "stream_start",
        "stream_delta",
        "stream_end",
        "typing",
        "presence",
        "pinned",
        "error",
        "pong",
    ];

    /// The frame's `type`.
    #[must_use]
    pub const fn type_name(&self) -> &'static str {
        match self {
            Self::UserInfo(_) => "user_info",
            Self::History { .. } => "history",
            Self::Message(_) => "message",
            Self::StreamStart { .. } => "stream_start",
            Self::StreamDelta { .. } => "stream_delta",
            Self::StreamEnd { .. } => "stream_end",
            Self::Typing { .. } => "typing",
            Self::Presence { .. } => "presence",
            Self::Pinned { .. } => "pinned",
            Self::Error(_) => "error",
            Self::Pong => "pong",
        }
    }
}

impl From<ErrorFrame> for ServerFrame {
    fn from(error: ErrorFrame) -> Self {
        Self::Error(error)
    }
}

/// History entries are `message` frames, `"type"` included (serde writes the tag of an enum, not of a
/// struct, hence the one-variant enum).
#[cfg(feature = "serde")]
fn tagged_messages<S: serde::Serializer>(messages: &[ChatMessage], serializer: S) -> Result<S::Ok, S::Error> {
    #[derive(serde::Serialize)]
    #[serde(tag = "type", rename_all = "snake_case")]
    enum Entry<'a> {
        Message(&'a ChatMessage),
    }
    serializer.collect_seq(messages.iter().map(Entry::Message))
}

/// The `user_info` frame.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct UserInfo {
    /// The username.
    pub username: String,
    /// The display name.
    #[cfg_attr(feature = "serde", serde(default))]
    pub name: String,
    /// The user's role in this course: `learner`, `staff` or `instructor` (`learner` outside a course).
    #[cfg_attr(feature = "serde", serde(default))]
    pub role: String,
    /// Whether the user is one of the gateway's operators.
    #[cfg_attr(feature = "serde", serde(default))]
    pub operator: bool,
    /// The conversation the socket is in.
    #[cfg_attr(feature = "serde", serde(default))]
    pub conversation_id: String,
    /// The chat backend: `room`, `openai`, `flowise` or `websocket`.
    #[cfg_attr(feature = "serde", serde(default))]
    pub backend: String,
    /// The proven context.
    #[cfg_attr(feature = "serde", serde(default))]
    pub context: Context,
    /// The limits that apply to this socket.
    #[cfg_attr(feature = "serde", serde(default, skip_serializing_if = "Option::is_none"))]
    pub limits: Option<Limits>,
}

/// The context a socket proved (`user_info.context`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct Context {
    /// `ticket` (an Open edX block), `lti` (an LTI resource link) or `gateway` (no course).
    #[cfg_attr(feature = "serde", serde(default))]
    pub source: String,
    /// The course; empty outside a course.
    #[cfg_attr(feature = "serde", serde(default))]
    pub course_id: String,
    /// The block (or LTI resource link); empty outside a course.
    #[cfg_attr(feature = "serde", serde(default))]
    pub block_id: String,
    /// The block's title; may be empty.
    #[cfg_attr(feature = "serde", serde(default))]
    pub title: String,
    /// Questions the course team offers before the first message (at most four).
    #[cfg_attr(feature = "serde", serde(default, skip_serializing_if = "Vec::is_empty"))]
    pub starters: Vec<String>,
    /// The AI disclosure the user must accept before the assistant answers.
    #[cfg_attr(feature = "serde", serde(default, skip_serializing_if = "Option::is_none"))]
    pub disclosure: Option<Disclosure>,
    /// An exam is running where the chat sits: the assistant does not answer (`exam_mode`).
    #[cfg_attr(feature = "serde", serde(default, skip_serializing_if = "is_false"))]
    pub exam: bool,
}

#[cfg(feature = "serde")]
#[allow(clippy::trivially_copy_pass_by_ref)] // serde's skip_serializing_if passes a reference
fn is_false(value: &bool) -> bool {
    !*value
}

/// The AI disclosure of a context (`user_info.context.disclosure`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct Disclosure {
    /// The notice, plain text.
    pub text: String,
    /// Names exactly this text; `accept_disclosure` repeats it.
    pub version: String,
    /// Whether this user accepted this version already.
    #[cfg_attr(feature = "serde", serde(default))]
    pub accepted: bool,
}

/// The limits of `user_info.limits`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct Limits {
    /// The most bytes a message's content may hold.
    pub max_message_bytes: u64,
    /// Messages a user may send per minute.
    pub messages_per_minute: u64,
}

/// A stored message: the `message` frame, and each entry of a `history` frame.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct ChatMessage {
    /// The id it is stored under (absent only from the original Django chat servers behind the `websocket` backend).
    #[cfg_attr(feature = "serde", serde(default, skip_serializing_if = "Option::is_none"))]
    pub id: Option<String>,
    /// The `client_id` it was sent with; none for assistant and system messages.
    #[cfg_attr(feature = "serde", serde(default, skip_serializing_if = "Option::is_none"))]
    pub client_id: Option<String>,
    /// Who wrote it.
    #[cfg_attr(feature = "serde", serde(default))]
    pub role: Role,
    /// The text (Markdown for assistant replies).
    pub content: String,
    /// The sender's username, or `assistant`.
    #[cfg_attr(feature = "serde", serde(default))]
    pub sender: String,
    /// In a course, a person's role there when they sent it: `learner`, `staff` or `instructor`.
    #[cfg_attr(feature = "serde", serde(default, skip_serializing_if = "Option::is_none"))]
    pub sender_role: Option<String>,
    /// An assistant reply: the id of the message it answers.
    #[cfg_attr(feature = "serde", serde(default, skip_serializing_if = "Option::is_none"))]
    pub reply_to: Option<String>,
    /// A regenerated reply: the id of the reply it is a new version of (clients show the newest).
    #[cfg_attr(feature = "serde", serde(default, skip_serializing_if = "Option::is_none"))]
    pub replaces: Option<String>,
    /// RFC 3339 UTC with milliseconds.
    #[cfg_attr(feature = "serde", serde(default))]
    pub timestamp: String,
    /// How it ended (`stopped` and `failed` only for assistant replies).
    #[cfg_attr(feature = "serde", serde(default))]
    pub status: Status,
    /// An assistant reply: the course passages it cites.
    #[cfg_attr(feature = "serde", serde(default, skip_serializing_if = "Vec::is_empty"))]
    pub sources: Vec<Source>,
    /// Course staff removed it from the room: `content` is the notice shown instead, and the text
    /// stays with the gateway for the audit.
    #[cfg_attr(feature = "serde", serde(default, skip_serializing_if = "is_false"))]
    pub hidden: bool,
}

/// A course passage an assistant reply cites: where it is in the course, and a link to it in the LMS.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct Source {
    /// Its number in the reply: `[n]`.
    pub n: u64,
    /// The block's title.
    #[cfg_attr(feature = "serde", serde(default))]
    pub title: String,
    /// "Section › Subsection › Unit".
    #[cfg_attr(feature = "serde", serde(default))]
    pub breadcrumb: String,
    /// The block in the LMS (opened in the top window, not the chat's frame).
    pub url: String,
    /// The passage's first words.
    #[cfg_attr(feature = "serde", serde(default))]
    pub snippet: String,
}

/// Who wrote a message.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "snake_case"))]
pub enum Role {
    /// A person.
    #[default]
    User,
    /// The course assistant.
    Assistant,
    /// The gateway itself.
    System,
}

impl Role {
    /// The wire name.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::User => "user",
            Self::Assistant => "assistant",
            Self::System => "system",
        }
    }

    /// The role of a wire name.
    #[must_use]
    pub fn parse(name: &str) -> Option<Self> {
        match name {
            "user" => Some(Self::User),
            "assistant" => Some(Self::Assistant),
            "system" => Some(Self::System),
            _ => None,
        }
    }
}

/// How a stored message ended.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "snake_case"))]
pub enum Status {
    /// Complete.
    #[default]
    Complete,
    /// The user stopped the reply.
    Stopped,
    /// The backend failed mid-way; the content is what arrived.
    Failed,
}

impl Status {
    /// The wire name.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Complete => "complete",
            Self::Stopped => "stopped",
            Self::Failed => "failed",
        }
    }

    /// The status of a wire name.
    #[must_use]
    pub fn parse(name: &str) -> Option<Self> {
        match name {
            "complete" => Some(Self::Complete),
            "stopped" => Some(Self::Stopped),
            "failed" => Some(Self::Failed),
            _ => None,
        }
    }
}

/// Token counts of a reply (`stream_end.usage`), each when the backend reports it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct Usage {
    /// Tokens of the prompt.
    #[cfg_attr(feature = "serde", serde(default, skip_serializing_if = "Option::is_none"))]
    pub prompt_tokens: Option<u64>,
    /// Tokens of the reply.
    #[cfg_attr(feature = "serde", serde(default, skip_serializing_if = "Option::is_none"))]
    pub completion_tokens: Option<u64>,
    /// Both.
    #[cfg_attr(feature = "serde", serde(default, skip_serializing_if = "Option::is_none"))]
    pub total_tokens: Option<u64>,
}

/// The `error` frame.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct ErrorFrame {
    /// Stable: one of [`ErrorCode`]'s (a client shows `message` for a code it does not know).
    pub code: String,
    /// A sentence for the user.
    #[cfg_attr(feature = "serde", serde(default))]
    pub message: String,
    /// Seconds to wait, when waiting helps.
    #[cfg_attr(feature = "serde", serde(default, skip_serializing_if = "Option::is_none"))]
    pub retry_after: Option<u64>,
    /// The message the error is about (`invalid_message`, `rate_limited`, `internal`): the client marks it.
    #[cfg_attr(feature = "serde", serde(default, skip_serializing_if = "Option::is_none"))]
    pub client_id: Option<String>,
}

impl ErrorFrame {
    /// An error with `code` and a sentence for the user.
    #[must_use]
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self { code: code.as_str().to_owned(), message: message.into(), retry_after: None, client_id: None }
    }

    /// With the seconds to wait before trying again.
    #[must_use]
    pub fn with_retry_after(mut self, seconds: u64) -> Self {
        self.retry_after = Some(seconds);
        self
    }

    /// About the message sent with `client_id`.
    #[must_use]
    pub fn about_message(mut self, client_id: impl Into<String>) -> Self {
        self.client_id = Some(client_id.into());
        self
    }

    /// The code, when it is one of the protocol's.
    #[must_use]
    pub fn error_code(&self) -> Option<ErrorCode> {
        ErrorCode::parse(&self.code)
    }
}
