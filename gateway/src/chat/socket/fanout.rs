//! The conversation's fan-out written to one socket: coalesced frames, one flush.

use std::sync::Arc;

use axum::extract::ws::Message as WsMessage;
use futures_util::SinkExt;
use tokio::sync::broadcast;
use tokio::sync::broadcast::error::{RecvError, TryRecvError};

use crate::chat::protocol::{ErrorCode, close};
use crate::domain::Conversation;

use super::{Connection, Flow, MAX_COALESCED, SEND_TIMEOUT};

impl Connection {
    /// Forwards the conversation's fan-out: this event and every frame already queued behind it,
    /// written together and flushed once. A busy room queues several frames per socket between two
    /// wake-ups; one write (one system call, one TCP segment) then carries them all.
    pub(super) async fn fan_out(
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
                    Box::pin(self.load_mute(conversation)).await;
                    unflushed = 0;
                }
                Ok(frame) if frame.starts_with(crate::chat::hub::MUTE_PREFIX) => {
                    if let (Some(watch), Some((user_id, until_ms))) =
                        (self.mute.as_mut(), crate::chat::hub::read_mute_notice(&frame))
                        && watch.user_id == user_id
                    {
                        watch.until_ms = until_ms;
                    }
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
                    self.state.chat.hub.metrics.slow_consumers.inc();
                    let text = "You are not keeping up with the chat; reconnect to catch up.";
                    Box::pin(self.refuse(ErrorCode::SlowConsumer, text, close::TOO_MANY, "slow consumer")).await;
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
}
