//! `GET /ws/chat/`: one task per socket, driving the protocol of docs/protocol.md — authenticate,
//! resume the conversation, then relay the client's frames and the conversation's fan-out until
//! either side leaves. Every refusal is an `error` frame or a documented close code.

use axum_extra::extract::WithRejection;
use std::time::Duration;

use axum::extract::ws::{CloseFrame, Message as WsMessage, Utf8Bytes, WebSocket, WebSocketUpgrade};
use axum::extract::{Query, State};
use axum::http::{HeaderMap, header};
use axum::response::{IntoResponse, Response};
use futures_util::future::BoxFuture;
use futures_util::stream::FuturesOrdered;
use serde::Deserialize;

use crate::chat::Chat;
use crate::chat::bucket::Bucket;
use crate::chat::protocol::{self, ErrorCode, ErrorFrame, close};
use crate::chat::state::ChatState;
use crate::store::{DbResult, Stored};
use crate::web::error::ApiError;

mod fanout;
mod pipe;
mod session;

/// A write that takes longer than this means the client stopped reading.
const SEND_TIMEOUT: Duration = Duration::from_secs(10);
const MAX_CLIENT_ID: usize = 64;
/// The most fan-out frames written before a flush.
const MAX_COALESCED: usize = 64;
/// Messages of one socket being stored at once (in order): a sender need not wait for each commit.
const MAX_PENDING: usize = 32;

/// The socket's messages on their way to the database, each with its client_id, in sending order.
type Pending = FuturesOrdered<BoxFuture<'static, (String, DbResult<Stored>)>>;

/// The query string. `course_id` and `block_id`, which earlier clients sent, are ignored: a course is
/// entered only with proof (a chat ticket or an LTI launch), never by naming it.
#[derive(Debug, Default, Deserialize)]
pub struct WsQuery {
    /// The original query authentication: `?token=…&auth_type=oauth2|jwt|lti`.
    token: Option<String>,
    #[allow(dead_code)] // accepted for compatibility: every kind is a gateway access token now
    auth_type: Option<String>,
}

pub async fn handler(
    State(state): State<ChatState>,
    headers: HeaderMap,
    WithRejection(Query(query), _): WithRejection<Query<WsQuery>, ApiError>,
    ws: WebSocketUpgrade,
) -> Response {
    // Cross-site WebSocket hijacking: browsers always send Origin, and it must be one of ours.
    if let Some(origin) = headers.get(header::ORIGIN) {
        let allowed = origin.to_str().is_ok_and(|o| state.config.allowed_origins.iter().any(|a| a == o));
        if !allowed {
            tracing::warn!(origin = ?origin, "WebSocket refused: origin not allowed");
            return ApiError::forbidden("This origin may not open the chat.").into_response();
        }
    }
    // The protocol's limit is enforced on each frame read (close 1009 with a proper handshake);
    // the library's hard limit sits above it, where a frame is cut off with the connection. It is
    // also the limit of the first frame, whose chat ticket carries the unit's text.
    let hard_limit = (frame_limit(&state.chat) * 4).max(AUTH_FRAME_LIMIT);
    // Explicit, small buffers: the library's defaults read into 128 KiB per connection.
    ws.read_buffer_size(4 * 1024)
        .write_buffer_size(4 * 1024)
        .max_write_buffer_size(8 * 1024 * 1024)
        .max_message_size(hard_limit)
        .max_frame_size(hard_limit)
        .on_upgrade(move |socket| {
            let tracker = state.chat.sockets_open.clone();
            tracker.track_future(async move {
                let mut conn = Connection {
                    socket,
                    state,
                    typing: Bucket::typing(),
                    history: Bucket::history(),
                    disclosure_accepted: false,
                    assistant_answers: false,
                    mute: None,
                };
                conn.run(query).await;
            })
        })
}

struct Connection {
    socket: WebSocket,
    state: ChatState,
    typing: Bucket,
    history: Bucket,
    /// The user accepted the context's AI disclosure (or it has none): the assistant may answer.
    disclosure_accepted: bool,
    /// The assistant answers every message of this socket's conversation (not a room's).
    assistant_answers: bool,
    /// In a course's room: the user, and until when course staff muted them there (0: not muted).
    mute: Option<MuteWatch>,
}

/// A room socket's view of its user's mute: read from the database when the socket enters the room
/// (after subscribing, so no change falls in between), then kept by the hub's mute notices, so a
/// message costs no query and a mute applies to the very next one, on every replica.
#[derive(Debug, Clone)]
struct MuteWatch {
    user_id: String,
    until_ms: i64,
}

/// What the loop does after a frame.
enum Flow {
    Continue,
    Close,
}

impl Connection {
    async fn send(&mut self, text: impl Into<Utf8Bytes>) -> Result<(), ()> {
        match tokio::time::timeout(SEND_TIMEOUT, self.socket.send(WsMessage::Text(text.into()))).await {
            Ok(Ok(())) => Ok(()),
            _ => Err(()),
        }
    }

    /// The server's side of the closing handshake: send Close, then read (and drop) until the
    /// client's Close, briefly. Closing the TCP connection with unread input would make the
    /// kernel send a reset, and the client could lose the error frame and the close code.
    async fn close(&mut self, code: u16, reason: &'static str) {
        let frame = CloseFrame { code, reason: Utf8Bytes::from_static(reason) };
        if tokio::time::timeout(SEND_TIMEOUT, self.socket.send(WsMessage::Close(Some(frame)))).await.is_err() {
            return;
        }
        let _ = tokio::time::timeout(Duration::from_secs(2), async {
            for _ in 0..1024 {
                match self.socket.recv().await {
                    None | Some(Ok(WsMessage::Close(_))) => break,
                    Some(_) => {}
                }
            }
        })
        .await;
    }

    /// Refuses a frame over the protocol's limit: an error frame, then close 1009.
    async fn refuse_too_big(&mut self, chat: &Chat) {
        let limit = chat.limits.max_message_bytes;
        let message = format!("Frames are limited to {limit} bytes.");
        Box::pin(self.refuse(ErrorCode::InvalidMessage, &message, close::TOO_BIG, "message too big")).await;
    }

    /// Sends an error frame, then closes with `code`.
    async fn refuse(&mut self, error: ErrorCode, message: &str, code: u16, reason: &'static str) {
        let _ = self.send(protocol::error(error, message)).await;
        self.close(code, reason).await;
    }

    async fn reply(&mut self, frame: String) -> Flow {
        if self.send(frame).await.is_err() { Flow::Close } else { Flow::Continue }
    }
}

/// The answer to a flood of `typing` or `history` frames: this one is not acted on.
fn slow_down(kind: &str, wait: Duration) -> String {
    let secs = wait.as_secs() + 1;
    protocol::error_frame(
        ErrorFrame::new(ErrorCode::SlowDown, format!("Too many {kind} frames; wait {secs} s.")).with_retry_after(secs),
    )
}

/// The largest frame accepted: a message of the maximum size plus room for its JSON envelope.
/// The number of chat sockets open on this replica, read when the metrics are scraped.
#[derive(Debug)]
pub struct OpenSockets(tokio_util::task::TaskTracker);

impl OpenSockets {
    pub fn new(sockets: tokio_util::task::TaskTracker) -> Self {
        Self(sockets)
    }
}

impl prometheus_client::collector::Collector for OpenSockets {
    fn encode(&self, mut encoder: prometheus_client::encoding::DescriptorEncoder<'_>) -> Result<(), std::fmt::Error> {
        use prometheus_client::encoding::EncodeMetric;
        let open = prometheus_client::metrics::gauge::ConstGauge::new(i64::try_from(self.0.len()).unwrap_or(i64::MAX));
        let metric = encoder.encode_descriptor(
            "chat_sockets_open",
            "Chat sockets open on this replica",
            None,
            open.metric_type(),
        )?;
        open.encode(metric)
    }
}

/// The largest `auth` frame: its chat ticket carries the unit's text (12,000 characters by default,
/// up to 50 KB once signed when the text is CJK), and operators may raise the XBlock's cap.
pub(super) const AUTH_FRAME_LIMIT: usize = 256 * 1024;

fn frame_limit(chat: &Chat) -> usize {
    chat.limits.max_message_bytes + 1024
}

fn message_len(message: &WsMessage) -> usize {
    match message {
        WsMessage::Text(t) => t.len(),
        WsMessage::Binary(b) => b.len(),
        _ => 0,
    }
}

fn is_too_big(e: &axum::Error) -> bool {
    let text = e.to_string().to_ascii_lowercase();
    text.contains("too long") || text.contains("too big") || text.contains("capacity") || text.contains("space limit")
}
