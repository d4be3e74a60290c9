//! WebSocket close codes (docs/protocol.md, "Close codes").

/// Normal closure: the client closed, or the server is shutting down cleanly.
pub const NORMAL: u16 = 1000;
/// Going away: the gateway is restarting; reconnect with backoff.
pub const GOING_AWAY: u16 = 1001;
/// A frame larger than the maximum message size.
pub const TOO_BIG: u16 = 1009;
/// Unexpected server error.
pub const INTERNAL: u16 = 1011;
/// Try again later: the upstream chat server (`websocket` backend) is unavailable.
pub const TRY_AGAIN: u16 = 1013;
/// Authentication failed or missing (`auth_required`, `invalid_token`, `token_expired`, …).
pub const UNAUTHORIZED: u16 = 4401;
/// The session was revoked.
pub const REVOKED: u16 = 4403;
/// The course context could not be proven: the chat ticket was refused (the `error` frame says why).
pub const CONTEXT_REFUSED: u16 = 4406;
/// Authentication timed out.
pub const AUTH_TIMEOUT: u16 = 4408;
/// Too many sockets for this user, or too slow a consumer.
pub const TOO_MANY: u16 = 4429;

/// Every code the gateway closes with.
pub const ALL: [u16; 10] =
    [NORMAL, GOING_AWAY, TOO_BIG, INTERNAL, TRY_AGAIN, UNAUTHORIZED, REVOKED, CONTEXT_REFUSED, AUTH_TIMEOUT, TOO_MANY];

/// Never sent: what a browser reports for a close frame without a code.
pub const NO_STATUS: u16 = 1005;
/// Never sent: what a browser reports when the connection dropped without a close frame.
pub const ABNORMAL: u16 = 1006;
