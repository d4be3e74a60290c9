//! The `websocket` backend: the socket piped to an upstream chat server, both ways.

use std::sync::Arc;
use std::time::Instant;

use axum::extract::ws::Message as WsMessage;
use futures_util::{SinkExt, StreamExt};
use tokio_tungstenite::tungstenite::Message as UpMessage;

use crate::chat::Chat;
use crate::chat::protocol::{self, ErrorCode, ErrorFrame, close};
use crate::chat::upstream;
use crate::course::ProvenContext;
use crate::domain::{Conversation, User};

use super::{Connection, SEND_TIMEOUT, frame_limit, message_len};

impl Connection {
    /// The `websocket` backend: frames go both ways between the browser and the upstream chat
    /// server. Each side is read only after the other accepted the previous frame (backpressure).
    pub(super) async fn pipe(
        &mut self,
        chat: &Arc<Chat>,
        user: &User,
        proven: &ProvenContext,
        conversation: &Conversation,
    ) {
        let Some(url) = self.state.config.chat.upstream_ws_url.clone() else { return };
        let unavailable = "The chat server is unavailable right now; try again shortly.";
        let mut upstream = match upstream::connect(&url, &self.state.auth.tokens, user, proven, conversation).await {
            Ok(socket) => socket,
            Err(e) => {
                tracing::warn!(error = %e, "chat refused: upstream unavailable");
                let _ = self
                    .send(protocol::error_frame(
                        ErrorFrame::new(ErrorCode::BackendUnavailable, unavailable).with_retry_after(5),
                    ))
                    .await;
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
                        let _ = self.send(protocol::error_frame(ErrorFrame::new(ErrorCode::BackendUnavailable, unavailable).with_retry_after(5))).await;
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
                        let _ = self.send(protocol::error_frame(
                            ErrorFrame::new(ErrorCode::BackendUnavailable, "The chat server went away; reconnecting…").with_retry_after(1),
                        )).await;
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
}
