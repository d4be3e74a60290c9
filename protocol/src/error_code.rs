//! The stable `code` of `error` frames (docs/protocol.md, "error"). Which close code follows an error
//! is the server's decision, not the code's: docs/protocol.md's table gives the usual one, but an
//! oversized frame is `invalid_message` then 1009, and a conversation that cannot be resumed is
//! `internal` then 1011.

/// An `error` frame's code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorCode {
    /// A frame other than `auth` before authentication.
    AuthRequired,
    /// No `auth` within 5 s.
    AuthTimeout,
    /// The token is malformed, forged, for another audience or issuer.
    InvalidToken,
    /// The token has expired: get a new one and reconnect.
    TokenExpired,
    /// A client-credentials token: a service, not a person.
    ServiceToken,
    /// The chat ticket has expired: fetch a new one and reconnect.
    TicketExpired,
    /// The chat ticket is malformed, forged, for another gateway or LMS, or signed with an unknown key.
    TicketInvalid,
    /// The chat ticket is another user's than the token's.
    TicketMismatch,
    /// The gateway accepts no chat tickets (no `TICKET_JWKS`).
    TicketNotAccepted,
    /// Not JSON, not an object, or a field of the wrong type.
    BadFrame,
    /// A `type` the server does not know.
    UnknownType,
    /// Empty content, content too long, a missing or too long `client_id`.
    InvalidMessage,
    /// `stop` or `history.before` names no message of this conversation.
    NotFound,
    /// Over `messages_per_minute`; see `retry_after`.
    RateLimited,
    /// Over the sockets allowed per user.
    TooManySockets,
    /// Over the sockets a user may open per minute.
    TooManyConnections,
    /// `typing` or `history` frames faster than allowed; see `retry_after`.
    SlowDown,
    /// The backend or upstream refused, or answered 5xx; the user's message is kept.
    BackendUnavailable,
    /// The backend did not answer in time; the user's message is kept.
    BackendTimeout,
    /// The backend's stream was malformed or dropped mid-way; the partial reply is kept as `failed`.
    BackendError,
    /// The backend refused the question for good (a wrong key, a missing flow, an error of its model):
    /// asking again will not help until the operator fixes it; the user's message is kept.
    BackendRefused,
    /// The AI disclosure was not accepted (or its text changed): show it, then `accept_disclosure`.
    DisclosureRequired,
    /// An exam is running where the chat sits: the assistant does not answer, and the message is not kept.
    ExamMode,
    /// Course staff muted the user in this course's rooms for a while (`retry_after`: the seconds left);
    /// the message is not kept.
    Muted,
    /// The login behind the token was revoked or reached its absolute end.
    SessionRevoked,
    /// The token was not granted the `chat` scope.
    InsufficientScope,
    /// The client does not read fast enough.
    SlowConsumer,
    /// A failure of the gateway's own.
    Internal,
}

impl ErrorCode {
    /// Every code, in the order of docs/protocol.md's table.
    pub const ALL: [Self; 28] = [
        Self::AuthRequired,
        Self::AuthTimeout,
        Self::InvalidToken,
        Self::TokenExpired,
        Self::ServiceToken,
        Self::TicketExpired,
        Self::TicketInvalid,
        Self::TicketMismatch,
        Self::TicketNotAccepted,
        Self::BadFrame,
        Self::UnknownType,
        Self::InvalidMessage,
        Self::NotFound,
        Self::RateLimited,
        Self::TooManySockets,
        Self::TooManyConnections,
        Self::SlowDown,
        Self::BackendUnavailable,
        Self::BackendTimeout,
        Self::BackendError,
        Self::BackendRefused,
        Self::DisclosureRequired,
        Self::ExamMode,
        Self::Muted,
        Self::SessionRevoked,
        Self::InsufficientScope,
        Self::SlowConsumer,
        Self::Internal,
    ];

    /// The wire name.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::AuthRequired => "auth_required",
            Self::AuthTimeout => "auth_timeout",
            Self::InvalidToken => "invalid_token",
            Self::TokenExpired => "token_expired",
            Self::ServiceToken => "service_token",
            Self::TicketExpired => "ticket_expired",
            Self::TicketInvalid => "ticket_invalid",
            Self::TicketMismatch => "ticket_mismatch",
            Self::TicketNotAccepted => "ticket_not_accepted",
            Self::BadFrame => "bad_frame",
            Self::UnknownType => "unknown_type",
            Self::InvalidMessage => "invalid_message",
            Self::NotFound => "not_found",
            Self::RateLimited => "rate_limited",
            Self::TooManySockets => "too_many_sockets",
            Self::TooManyConnections => "too_many_connections",
            Self::SlowDown => "slow_down",
            Self::BackendUnavailable => "backend_unavailable",
            Self::BackendTimeout => "backend_timeout",
            Self::BackendError => "backend_error",
            Self::BackendRefused => "backend_refused",
            Self::DisclosureRequired => "disclosure_required",
            Self::ExamMode => "exam_mode",
            Self::Muted => "muted",
            Self::SessionRevoked => "session_revoked",
            Self::InsufficientScope => "insufficient_scope",
            Self::SlowConsumer => "slow_consumer",
            Self::Internal => "internal",
        }
    }

    /// The code of a wire name.
    #[must_use]
    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|code| code.as_str() == name)
    }
}

impl std::fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}
