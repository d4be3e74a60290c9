//! What a client sends (docs/protocol.md, "Client → server").

/// A frame a client sends.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(tag = "type", rename_all = "snake_case"))]
pub enum ClientFrame {
    /// The first frame on a socket: an access token, and in a course the LMS-signed chat ticket that
    /// proves the course context.
    Auth {
        /// An access token the gateway issued.
        token: String,
        /// A chat ticket; without one the socket is in the gateway's own context (or an LTI launch's).
        #[cfg_attr(feature = "serde", serde(default, skip_serializing_if = "Option::is_none"))]
        ticket: Option<String>,
        /// In a block offering both the live room and the assistant (mode `both`): `room` or
        /// `assistant`, the tab this socket is for. Absent: the gateway's default.
        #[cfg_attr(feature = "serde", serde(default, skip_serializing_if = "Option::is_none"))]
        channel: Option<String>,
    },
    /// A message; `client_id` makes it idempotent (a resend is stored once).
    Message {
        /// Chosen by the client, unique per message, 1 to [`crate::CLIENT_ID_MAX_LEN`] bytes.
        client_id: String,
        /// The text.
        content: String,
    },
    /// Stop the assistant reply being streamed.
    Stop {
        /// The reply's id (its `stream_start.id`).
        id: String,
    },
    /// The user started or stopped typing (room backend).
    Typing {
        /// Started (true) or stopped.
        is_typing: bool,
    },
    /// An older page of the conversation.
    History {
        /// The page ends just before this message id; without it, the newest page.
        #[cfg_attr(feature = "serde", serde(default, skip_serializing_if = "Option::is_none"))]
        before: Option<String>,
        /// 1 to [`crate::HISTORY_LIMIT_MAX`]; [`crate::HISTORY_LIMIT_DEFAULT`] when absent. Signed, so that a
        /// server can answer an out-of-range value rather than a malformed frame.
        #[cfg_attr(feature = "serde", serde(default, skip_serializing_if = "Option::is_none"))]
        limit: Option<i64>,
    },
    /// Application-level keep-alive, answered by `pong`.
    Ping,
    /// The user accepted the AI disclosure of `user_info.context.disclosure`, this version of its text.
    AcceptDisclosure {
        /// The `version` the client showed.
        version: String,
    },
    /// Answer the question of this assistant reply again; the new reply is stored beside the old one.
    Regenerate {
        /// The reply's id: the latest assistant reply of the conversation.
        id: String,
    },
}

impl ClientFrame {
    /// Every client frame `type`.
    pub const TYPES: [&'static str; 8] =
        ["auth", "message", "stop", "typing", "history", "ping", "accept_disclosure", "regenerate"];

    /// The frame's `type`.
    #[must_use]
    pub const fn type_name(&self) -> &'static str {
        match self {
            Self::Auth { .. } => "auth",
            Self::Message { .. } => "message",
            Self::Stop { .. } => "stop",
            Self::Typing { .. } => "typing",
            Self::History { .. } => "history",
            Self::Ping => "ping",
            Self::AcceptDisclosure { .. } => "accept_disclosure",
            Self::Regenerate { .. } => "regenerate",
        }
    }
}
