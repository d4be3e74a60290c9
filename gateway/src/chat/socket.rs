//! `GET /ws/chat/`: one task per socket, driving the protocol of docs/protocol.md — authenticate,
//! resume the conversation, then relay the client's frames and the conversation's fan-out until
//! either side leaves. Every refusal is an `error` frame or a documented close code.

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::extract::ws::{CloseFrame, Message as WsMessage, Utf8Bytes, WebSocket, WebSocketUpgrade};
use axum::extract::{Query, State};
use axum::http::{HeaderMap, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::json;
use tokio::sync::broadcast;
use tokio::sync::broadcast::error::{RecvError, TryRecvError};
use tracing::Instrument;

use crate::chat::Chat;
use crate::chat::backend::Backend;
use crate::chat::bucket::Bucket;
use crate::chat::protocol::{self, ClientFrame, close};
use crate::chat::state::ChatState;
use crate::chat::upstream;
use crate::course::{ProofError, ProvenContext};
use crate::domain::{Conversation, NewMessage, Owner, User};
use crate::identity::tokens::{AccessClaims, TokenError};
use crate::store::{DbError, DbResult, Stored};
use crate::web::error::ApiError;
use futures_util::future::BoxFuture;
use futures_util::stream::FuturesOrdered;
use futures_util::{SinkExt, StreamExt};
use tokio_tungstenite::tungstenite::Message as UpMessage;

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
    Query(query): Query<WsQuery>,
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
    // the library's hard limit sits above it, where a frame is cut off with the connection.
    let hard_limit = (frame_limit(&state.chat) * 4).max(64 * 1024);
    // Explicit, small buffers: the library's defaults read into 128 KiB per connection.
    ws.read_buffer_size(4 * 1024)
        .write_buffer_size(4 * 1024)
        .max_write_buffer_size(8 * 1024 * 1024)
        .max_message_size(hard_limit)
        .max_frame_size(hard_limit)
        .on_upgrade(move |socket| {
            let tracker = state.chat.sockets_open.clone();
            tracker.track_future(async move {
                let mut conn = Connection { socket, state, typing: Bucket::typing(), history: Bucket::history() };
                conn.run(query).await;
            })
        })
}

struct Connection {
    socket: WebSocket,
    state: ChatState,
    typing: Bucket,
    history: Bucket,
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
        Box::pin(self.refuse("invalid_message", &message, close::TOO_BIG, "message too big")).await;
    }

    /// Sends an error frame, then closes with `code`.
    async fn refuse(&mut self, error: &str, message: &str, code: u16, reason: &'static str) {
        let _ = self.send(protocol::error(error, message, None)).await;
        self.close(code, reason).await;
    }

    async fn run(&mut self, query: WsQuery) {
        let chat = self.state.chat.clone();
        // Each socket's task lives as long as its chat, so it must stay small while idle: the one-off
        // steps with large futures (database queries, closing handshakes) are boxed, held only while
        // they run, instead of sizing the whole task for them.
        let Some((claims, ticket)) = Box::pin(self.authenticate(query.token.as_deref())).await else { return };
        if !claims.svc && !crate::identity::scopes::has(&claims.scope, crate::identity::scopes::CHAT) {
            tracing::info!(client = %claims.client_id, "chat refused: the token has no chat scope");
            let message = "This sign-in was not granted the chat scope.";
            Box::pin(self.refuse("insufficient_scope", message, close::UNAUTHORIZED, "insufficient scope")).await;
            return;
        }
        if claims.svc {
            // A service's token speaks for no person: it has no place in a chat.
            tracing::info!(client = %claims.client_id, "chat refused: a service token");
            let message = "Service tokens cannot open a chat; sign in as a person.";
            Box::pin(self.refuse("service_token", message, close::UNAUTHORIZED, "service token")).await;
            return;
        }
        if !Box::pin(self.state.auth.login_alive(&claims)).await {
            tracing::info!("chat refused: the login has ended");
            let message = "You were signed out; sign in again to chat.";
            Box::pin(self.refuse("session_revoked", message, close::REVOKED, "session revoked")).await;
            return;
        }
        if let Err(wait) = chat.take_connect_budget(&claims.sub) {
            tracing::info!("chat refused: too many connections");
            let message = format!("You are reconnecting too often; try again in {} s.", wait.as_secs() + 1);
            Box::pin(self.refuse("too_many_connections", &message, close::TOO_MANY, "too many connections")).await;
            return;
        }
        let Some(_slot) = chat.open_socket(&claims.sub) else {
            let limit = chat.limits.max_sockets_per_user;
            let message = format!("You have {limit} chats open already; close one first.");
            Box::pin(self.refuse("too_many_sockets", &message, close::TOO_MANY, "too many sockets")).await;
            return;
        };
        let (user, proven, conversation) = match Box::pin(resume(&self.state, &claims, ticket.as_deref())).await {
            Ok(found) => found,
            Err(ProofError::Db(e)) => {
                tracing::error!(error = %e, "chat could not resume the conversation");
                Box::pin(self.refuse(
                    "internal",
                    "The chat is unavailable right now.",
                    close::INTERNAL,
                    "internal error",
                ))
                .await;
                return;
            }
            Err(e) => {
                tracing::info!(code = e.code(), reason = %e, "chat refused: the course context is not proven");
                let message = match &e {
                    ProofError::Ticket(crate::course::TicketError::Expired) => {
                        "The chat's course ticket has expired; reconnect to get a new one."
                    }
                    ProofError::NotYours => "This course ticket belongs to another user; sign in again.",
                    _ => "The course context of this chat could not be verified.",
                };
                Box::pin(self.refuse(e.code(), message, close::CONTEXT_REFUSED, "context refused")).await;
                return;
            }
        };
        let span = tracing::info_span!("chat", user = %user.username, conversation = %conversation.id);
        self.converse(&chat, &claims, &user, &Arc::new(proven), &conversation).instrument(span).await;
    }

    /// The conversation itself, once the socket is authenticated and its conversation resumed.
    async fn converse(
        &mut self,
        chat: &Arc<Chat>,
        claims: &AccessClaims,
        user: &User,
        proven: &Arc<ProvenContext>,
        conversation: &Conversation,
    ) {
        tracing::info!(context = proven.source.as_str(), "chat connected");

        // Subscribe before reading history, so nothing published in between is missed.
        let mut subscription = Box::pin(chat.hub.subscribe(&conversation.id)).await;
        let room = matches!(chat.backend, Backend::Room);
        let greeting = json!({
            "type": "user_info",
            "username": user.username,
            "name": user.name,
            "role": proven.role.unwrap_or_default(),
            "operator": user.role.is_operator(),
            "conversation_id": conversation.id,
            "backend": chat.backend.name(),
            "context": {
                "source": proven.source.as_str(),
                "course_id": conversation.course_id,
                "block_id": conversation.block_id,
                "title": proven.title,
            },
            "limits": {"max_message_bytes": chat.limits.max_message_bytes, "messages_per_minute": chat.limits.messages_per_minute},
        });
        if matches!(chat.backend, Backend::WebSocket) {
            // The existing chat server owns the conversation from here: history included.
            if self.send(greeting.to_string()).await.is_ok() {
                Box::pin(self.pipe(chat, user, proven, conversation)).await;
            }
            return;
        }
        if self.send(greeting.to_string()).await.is_err()
            || Box::pin(self.send_history(conversation, None, 50)).await.is_err()
        {
            return;
        }
        if room {
            chat.hub.publish(&conversation.id, protocol::presence(chat.hub.subscribers(&conversation.id))).await;
        }

        let mut heartbeat = tokio::time::interval(chat.limits.heartbeat);
        heartbeat.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        heartbeat.tick().await;
        let mut last_heard = Instant::now();
        let mut beats: u32 = 0;
        let mut pending = Pending::new();
        loop {
            tokio::select! {
                // While MAX_PENDING messages await storage, the client's next frames wait in the socket.
                incoming = self.socket.recv(), if pending.len() < MAX_PENDING => {
                    let message = match incoming {
                        None => break,
                        Some(Ok(message)) => message,
                        Some(Err(e)) => {
                            if is_too_big(&e) {
                                self.refuse_too_big(chat).await;
                            }
                            break;
                        }
                    };
                    last_heard = Instant::now();
                    if message_len(&message) > frame_limit(chat) {
                        self.refuse_too_big(chat).await;
                        break;
                    }
                    let flow = match message {
                        WsMessage::Text(text) => match protocol::parse(&text) {
                            Ok(frame) => Box::pin(self.handle(chat, user, proven, conversation, frame, &mut pending)).await,
                            Err(e) => self.reply(e.frame()).await,
                        },
                        WsMessage::Binary(_) => self.reply(protocol::error("bad_frame", "Binary frames are not supported; send JSON text.", None)).await,
                        WsMessage::Ping(_) | WsMessage::Pong(_) => Flow::Continue,
                        WsMessage::Close(_) => Flow::Close,
                    };
                    if matches!(flow, Flow::Close) {
                        break;
                    }
                }
                Some((client_id, stored)) = pending.next(), if !pending.is_empty() => {
                    if matches!(Box::pin(self.stored(chat, proven, conversation, &client_id, stored)).await, Flow::Close) {
                        break;
                    }
                }
                event = subscription.rx.recv() => {
                    if matches!(self.fan_out(event, &mut subscription.rx, conversation).await, Flow::Close) {
                        break;
                    }
                }
                () = chat.shutdown.cancelled() => {
                    Box::pin(self.close(close::GOING_AWAY, "server restarting")).await;
                    break;
                }
                _ = heartbeat.tick() => {
                    if last_heard.elapsed() > chat.limits.idle_timeout {
                        tracing::info!("chat closed: idle");
                        Box::pin(self.close(close::GOING_AWAY, "idle")).await;
                        break;
                    }
                    if tokio::time::timeout(SEND_TIMEOUT, self.socket.send(WsMessage::Ping(Default::default()))).await.is_err() {
                        break;
                    }
                    beats += 1;
                    if beats.is_multiple_of(3) && !Box::pin(self.state.auth.login_alive(claims)).await {
                        tracing::info!("chat closed: session revoked");
                        Box::pin(self.refuse("session_revoked", "You were signed out; sign in again to chat.", close::REVOKED, "session revoked")).await;
                        break;
                    }
                }
            }
        }
        // Messages queued before the socket ended are stored regardless; the room still gets them.
        let finish = async {
            while let Some((client_id, stored)) = pending.next().await {
                let _ = Box::pin(self.stored(chat, proven, conversation, &client_id, stored)).await;
            }
        };
        if tokio::time::timeout(SEND_TIMEOUT, finish).await.is_err() {
            tracing::warn!("stored messages left unannounced after the socket closed");
        }
        drop(subscription);
        if room {
            chat.hub.publish(&conversation.id, protocol::presence(chat.hub.subscribers(&conversation.id))).await;
        }
        tracing::info!("chat disconnected");
    }

    /// Forwards the conversation's fan-out: this event and every frame already queued behind it,
    /// written together and flushed once. A busy room queues several frames per socket between two
    /// wake-ups; one write (one system call, one TCP segment) then carries them all.
    async fn fan_out(
        &mut self,
        first: Result<Arc<str>, RecvError>,
        rx: &mut broadcast::Receiver<Arc<str>>,
        conversation: &Conversation,
    ) -> Flow {
        let mut next = Some(first);
        let mut unflushed = 0;
        while let Some(event) = next.take() {
            match event {
                Ok(frame) if &*frame == crate::chat::hub::RESYNC => {
                    // Frames may have been missed while Redis was away: the database has them.
                    if self.flush().await.is_err() || Box::pin(self.send_history(conversation, None, 50)).await.is_err()
                    {
                        return Flow::Close;
                    }
                    unflushed = 0;
                }
                Ok(frame) => {
                    let feed = self.socket.feed(WsMessage::Text(frame.to_string().into()));
                    if !matches!(tokio::time::timeout(SEND_TIMEOUT, feed).await, Ok(Ok(()))) {
                        tracing::info!("chat closed: the client stopped reading");
                        return Flow::Close;
                    }
                    unflushed += 1;
                }
                Err(RecvError::Lagged(missed)) => {
                    tracing::warn!(missed, "chat closed: slow consumer");
                    let text = "You are not keeping up with the chat; reconnect to catch up.";
                    Box::pin(self.refuse("slow_consumer", text, close::TOO_MANY, "slow consumer")).await;
                    return Flow::Close;
                }
                Err(RecvError::Closed) => return Flow::Close,
            }
            if unflushed < MAX_COALESCED {
                next = match rx.try_recv() {
                    Ok(frame) => Some(Ok(frame)),
                    Err(TryRecvError::Lagged(missed)) => Some(Err(RecvError::Lagged(missed))),
                    Err(TryRecvError::Empty | TryRecvError::Closed) => None,
                };
            }
        }
        if unflushed > 0 && self.flush().await.is_err() {
            tracing::info!("chat closed: the client stopped reading");
            return Flow::Close;
        }
        Flow::Continue
    }

    async fn flush(&mut self) -> Result<(), ()> {
        match tokio::time::timeout(SEND_TIMEOUT, self.socket.flush()).await {
            Ok(Ok(())) => Ok(()),
            _ => Err(()),
        }
    }

    /// The `websocket` backend: frames go both ways between the browser and the upstream chat
    /// server. Each side is read only after the other accepted the previous frame (backpressure).
    async fn pipe(&mut self, chat: &Arc<Chat>, user: &User, proven: &ProvenContext, conversation: &Conversation) {
        let Some(url) = self.state.config.chat.upstream_ws_url.clone() else { return };
        let unavailable = "The chat server is unavailable right now; try again shortly.";
        let mut upstream = match upstream::connect(&url, &self.state.auth.tokens, user, proven, conversation).await {
            Ok(socket) => socket,
            Err(e) => {
                tracing::warn!(error = %e, "chat refused: upstream unavailable");
                let _ = self.send(protocol::error("backend_unavailable", unavailable, Some(5))).await;
                self.close(close::TRY_AGAIN, "upstream unavailable").await;
                return;
            }
        };
        tracing::info!("piping to the upstream chat server");
        let mut heartbeat = tokio::time::interval(chat.limits.heartbeat);
        heartbeat.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        heartbeat.tick().await;
        let mut last_heard = Instant::now();
        loop {
            tokio::select! {
                incoming = self.socket.recv() => {
                    let Some(Ok(message)) = incoming else { break };
                    last_heard = Instant::now();
                    if message_len(&message) > frame_limit(chat) {
                        self.refuse_too_big(chat).await;
                        break;
                    }
                    let forward = match message {
                        WsMessage::Text(text) => UpMessage::Text(text.as_str().into()),
                        WsMessage::Binary(bytes) => UpMessage::Binary(bytes),
                        WsMessage::Ping(_) | WsMessage::Pong(_) => continue,
                        WsMessage::Close(_) => {
                            let _ = upstream.close(None).await;
                            break;
                        }
                    };
                    if !matches!(tokio::time::timeout(SEND_TIMEOUT, upstream.send(forward)).await, Ok(Ok(()))) {
                        tracing::warn!("the upstream chat server stopped accepting frames");
                        let _ = self.send(protocol::error("backend_unavailable", unavailable, Some(5))).await;
                        self.close(close::TRY_AGAIN, "upstream unavailable").await;
                        break;
                    }
                }
                outgoing = upstream.next() => match outgoing {
                    Some(Ok(UpMessage::Text(text))) => {
                        if self.send(text.as_str().to_owned()).await.is_err() {
                            break;
                        }
                    }
                    Some(Ok(UpMessage::Binary(bytes))) => {
                        if !matches!(tokio::time::timeout(SEND_TIMEOUT, self.socket.send(WsMessage::Binary(bytes))).await, Ok(Ok(()))) {
                            break;
                        }
                    }
                    Some(Ok(UpMessage::Ping(_) | UpMessage::Pong(_) | UpMessage::Frame(_))) => {}
                    Some(Ok(UpMessage::Close(_)) | Err(_)) | None => {
                        // Not retried silently: frames in flight may be lost, so the client
                        // reconnects (with backoff) and the upstream's own history catches it up.
                        tracing::warn!("the upstream chat server closed the connection");
                        let _ = self.send(protocol::error("backend_unavailable", "The chat server went away; reconnecting…", Some(1))).await;
                        self.close(close::TRY_AGAIN, "upstream closed").await;
                        break;
                    }
                },
                () = chat.shutdown.cancelled() => {
                    self.close(close::GOING_AWAY, "server restarting").await;
                    let _ = upstream.close(None).await;
                    break;
                }
                _ = heartbeat.tick() => {
                    if last_heard.elapsed() > chat.limits.idle_timeout {
                        self.close(close::GOING_AWAY, "idle").await;
                        let _ = upstream.close(None).await;
                        break;
                    }
                    if tokio::time::timeout(SEND_TIMEOUT, self.socket.send(WsMessage::Ping(Default::default()))).await.is_err() {
                        break;
                    }
                }
            }
        }
    }

    async fn reply(&mut self, frame: String) -> Flow {
        if self.send(frame).await.is_err() { Flow::Close } else { Flow::Continue }
    }

    /// The token from the query (the original way) or from the first frame, within the time limit;
    /// with the chat ticket the first frame may carry.
    async fn authenticate(&mut self, query_token: Option<&str>) -> Option<(AccessClaims, Option<String>)> {
        let mut ticket = None;
        let token = match query_token {
            Some(token) => token.to_owned(),
            None => {
                let limit = self.state.chat.limits.auth_timeout;
                match tokio::time::timeout(limit, self.socket.recv()).await {
                    Err(_) => {
                        self.refuse(
                            "auth_timeout",
                            "Authenticate first: send {\"type\":\"auth\",\"token\":…}.",
                            close::AUTH_TIMEOUT,
                            "auth timeout",
                        )
                        .await;
                        return None;
                    }
                    Ok(None | Some(Err(_))) => return None,
                    Ok(Some(Ok(first))) => {
                        let token = match first {
                            WsMessage::Text(text) => match protocol::parse(&text) {
                                Ok(ClientFrame::Auth { token, ticket: proof }) => {
                                    ticket = proof;
                                    Some(token)
                                }
                                _ => None,
                            },
                            _ => None,
                        };
                        let Some(token) = token else {
                            let message = "The first frame must be {\"type\":\"auth\",\"token\":…}.";
                            self.refuse("auth_required", message, close::UNAUTHORIZED, "auth required").await;
                            return None;
                        };
                        token
                    }
                }
            }
        };
        match self.state.auth.tokens.verify_access(&token).await {
            Ok(claims) => Some((claims, ticket)),
            Err(TokenError::Expired) => {
                self.refuse(
                    "token_expired",
                    "Your sign-in has expired; sign in again.",
                    close::UNAUTHORIZED,
                    "token expired",
                )
                .await;
                None
            }
            Err(_) => {
                tracing::info!("chat refused: invalid token");
                self.refuse("invalid_token", "This sign-in is not valid here.", close::UNAUTHORIZED, "invalid token")
                    .await;
                None
            }
        }
    }

    async fn send_history(&mut self, conversation: &Conversation, before: Option<&str>, limit: i64) -> Result<(), ()> {
        let frame = match self.state.db.history(&conversation.id, before, limit).await {
            Ok(page) => protocol::history(&page, i64::try_from(page.len()).unwrap_or(0) >= limit),
            Err(DbError::NotFound) => protocol::error("not_found", "No such message in this conversation.", None),
            Err(e) => {
                tracing::error!(error = %e, "history unavailable");
                protocol::error("internal", "The history is unavailable right now.", None)
            }
        };
        self.send(frame).await
    }

    async fn handle(
        &mut self,
        chat: &Arc<Chat>,
        user: &User,
        proven: &ProvenContext,
        conversation: &Conversation,
        frame: ClientFrame,
        pending: &mut Pending,
    ) -> Flow {
        match frame {
            ClientFrame::Ping => self.reply(protocol::pong()).await,
            ClientFrame::Auth { .. } => self.reply(protocol::error("bad_frame", "Already authenticated.", None)).await,
            ClientFrame::Typing { is_typing } => {
                if let Err(wait) = self.typing.take() {
                    return self.reply(slow_down("typing", wait)).await;
                }
                if matches!(chat.backend, Backend::Room) {
                    chat.hub.publish(&conversation.id, protocol::typing(&user.username, is_typing)).await;
                }
                Flow::Continue
            }
            ClientFrame::History { before, limit } => {
                if let Err(wait) = self.history.take() {
                    return self.reply(slow_down("history", wait)).await;
                }
                let limit = limit.unwrap_or(50).clamp(1, crate::store::MAX_HISTORY_PAGE);
                if self.send_history(conversation, before.as_deref(), limit).await.is_err() {
                    Flow::Close
                } else {
                    Flow::Continue
                }
            }
            ClientFrame::Stop { id } => {
                if chat.stop(&id, &conversation.id) {
                    Flow::Continue
                } else {
                    self.reply(protocol::error("not_found", "No reply with this id is being written.", None)).await
                }
            }
            ClientFrame::Message { client_id, content } => {
                self.message(chat, user, proven, conversation, &client_id, &content, pending).await
            }
        }
    }

    /// Checks a message and queues it for storage; [`Self::stored`] announces it once written.
    #[allow(clippy::too_many_arguments)]
    async fn message(
        &mut self,
        chat: &Arc<Chat>,
        user: &User,
        proven: &ProvenContext,
        conversation: &Conversation,
        client_id: &str,
        content: &str,
        pending: &mut Pending,
    ) -> Flow {
        let content = content.trim();
        let limit = chat.limits.max_message_bytes;
        let invalid = if client_id.is_empty() || client_id.len() > MAX_CLIENT_ID {
            Some(format!("client_id must be 1 to {MAX_CLIENT_ID} characters."))
        } else if content.is_empty() {
            Some("The message is empty.".to_owned())
        } else if content.len() > limit {
            Some(format!("Messages are limited to {limit} bytes."))
        } else {
            None
        };
        if let Some(message) = invalid {
            return self.reply(protocol::message_error("invalid_message", &message, None, client_id)).await;
        }
        if let Err(wait) = chat.take_message_budget(&user.id) {
            let secs = wait.as_secs() + 1;
            let text = format!("You are sending messages too fast; try again in {secs} s.");
            return self.reply(protocol::message_error("rate_limited", &text, Some(secs), client_id)).await;
        }
        let new = NewMessage {
            sender_role: proven.role_name(),
            ..NewMessage::from_user(&conversation.id, &user.id, &user.username, client_id, content)
        };
        match self.state.db.queue_message(&new).await {
            Ok(receipt) => {
                let client_id = client_id.to_owned();
                pending.push_back(Box::pin(async move { (client_id, receipt.await) }));
                Flow::Continue
            }
            Err(e) => self.not_stored(&e, client_id).await,
        }
    }

    /// Announces a stored message: to the conversation when new, to this socket alone when it was a
    /// resend (the others have it already); then asks the assistant when one answers here.
    async fn stored(
        &mut self,
        chat: &Arc<Chat>,
        proven: &Arc<ProvenContext>,
        conversation: &Conversation,
        client_id: &str,
        stored: DbResult<Stored>,
    ) -> Flow {
        let stored = match stored {
            Ok(stored) => stored,
            Err(e) => return self.not_stored(&e, client_id).await,
        };
        let frame = protocol::message(&stored.message);
        let flow = if stored.created {
            chat.hub.publish(&conversation.id, frame).await;
            Flow::Continue
        } else {
            self.reply(frame).await
        };
        if chat.backend.is_assistant() {
            // A resend whose reply never got stored (the gateway died mid-reply) is answered now.
            let answered = !stored.created && self.state.db.reply_exists(&stored.message.id).await.unwrap_or(true);
            if !answered {
                chat.spawn_reply(self.state.db.clone(), conversation.clone(), proven.clone(), stored.message);
            }
        }
        flow
    }

    async fn not_stored(&mut self, e: &DbError, client_id: &str) -> Flow {
        tracing::error!(error = %e, "could not store a message");
        let text = "Your message could not be saved; please send it again.";
        self.reply(protocol::message_error("internal", text, None, client_id)).await
    }
}

/// The user, the context they proved, and the conversation they resume there: theirs, or the
/// context's room.
async fn resume(
    state: &ChatState,
    claims: &AccessClaims,
    ticket: Option<&str>,
) -> Result<(User, ProvenContext, Conversation), ProofError> {
    let user = state.db.get_user(&claims.sub).await?;
    state.db.touch_user(&user).await?;
    let proven = crate::course::prove(&state.db, state.tickets.as_deref(), &user, claims.ctx.as_ref(), ticket).await?;
    let owner = if matches!(state.chat.backend, Backend::Room) { Owner::Room } else { Owner::User(&user.id) };
    let conversation = state.db.conversation_for(owner, &proven.ctx).await?;
    Ok((user, proven, conversation))
}

/// The answer to a flood of `typing` or `history` frames: this one is not acted on.
fn slow_down(kind: &str, wait: Duration) -> String {
    let secs = wait.as_secs() + 1;
    protocol::error("slow_down", &format!("Too many {kind} frames; wait {secs} s."), Some(secs))
}

/// The largest frame accepted: a message of the maximum size plus room for its JSON envelope.
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
