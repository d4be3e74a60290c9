//! One socket's session: authenticate, resume the conversation, then act on each client frame
//! (messages stored in order, typing, history, stop) until either side leaves.

use std::sync::Arc;
use std::time::Instant;

use axum::extract::ws::Message as WsMessage;
use futures_util::StreamExt;
use tracing::Instrument;

use crate::chat::Chat;
use crate::chat::backend::Backend;
use crate::chat::protocol::{self, ClientFrame, Context, ErrorCode, ErrorFrame, Limits, UserInfo, close};
use crate::chat::room_assistant::RoomAssistant;
use crate::chat::state::ChatState;
use crate::course::{ProofError, ProvenContext};
use crate::domain::{ChatMode, Conversation, CourseKey, Message, NewMessage, Owner, User, now_ms};
use crate::identity::tokens::{AccessClaims, TokenError};
use crate::store::{DbError, DbResult, Stored};

use super::{
    Connection, Flow, MAX_CLIENT_ID, MAX_PENDING, MuteWatch, Pending, SEND_TIMEOUT, WsQuery, frame_limit, is_too_big,
    message_len, slow_down,
};

impl Connection {
    pub(super) async fn run(&mut self, query: WsQuery) {
        let chat = self.state.chat.clone();
        // Each socket's task lives as long as its chat, so it must stay small while idle: the one-off
        // steps with large futures (database queries, closing handshakes) are boxed, held only while
        // they run, instead of sizing the whole task for them.
        let Some((claims, ticket, channel)) = Box::pin(self.authenticate(query.token.as_deref())).await else { return };
        if !claims.svc && !crate::identity::scopes::has(&claims.scope, crate::identity::scopes::CHAT) {
            tracing::info!(client = %claims.client_id, "chat refused: the token has no chat scope");
            let message = "This sign-in was not granted the chat scope.";
            Box::pin(self.refuse(ErrorCode::InsufficientScope, message, close::UNAUTHORIZED, "insufficient scope"))
                .await;
            return;
        }
        if claims.svc {
            // A service's token speaks for no person: it has no place in a chat.
            tracing::info!(client = %claims.client_id, "chat refused: a service token");
            let message = "Service tokens cannot open a chat; sign in as a person.";
            Box::pin(self.refuse(ErrorCode::ServiceToken, message, close::UNAUTHORIZED, "service token")).await;
            return;
        }
        if !Box::pin(self.state.auth.login_alive(&claims)).await {
            tracing::info!("chat refused: the login has ended");
            let message = "You were signed out; sign in again to chat.";
            Box::pin(self.refuse(ErrorCode::SessionRevoked, message, close::REVOKED, "session revoked")).await;
            return;
        }
        if let Err(wait) = chat.take_connect_budget(&claims.sub) {
            tracing::info!("chat refused: too many connections");
            let message = format!("You are reconnecting too often; try again in {} s.", wait.as_secs() + 1);
            Box::pin(self.refuse(ErrorCode::TooManyConnections, &message, close::TOO_MANY, "too many connections"))
                .await;
            return;
        }
        let Some(_slot) = chat.open_socket(&claims.sub) else {
            let limit = chat.limits.max_sockets_per_user;
            let message = format!("You have {limit} chats open already; close one first.");
            Box::pin(self.refuse(ErrorCode::TooManySockets, &message, close::TOO_MANY, "too many sockets")).await;
            return;
        };
        let resumed = Box::pin(resume(&self.state, &claims, ticket.as_deref(), channel.as_deref())).await;
        let (user, proven, conversation) = match resumed {
            Ok(found) => found,
            Err(ProofError::Db(e)) => {
                tracing::error!(error = %e, "chat could not resume the conversation");
                Box::pin(self.refuse(
                    ErrorCode::Internal,
                    "The chat is unavailable right now.",
                    close::INTERNAL,
                    "internal error",
                ))
                .await;
                return;
            }
            Err(e) => {
                tracing::info!(code = e.code().as_str(), reason = %e, "chat refused: the course context is not proven");
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
        // The assistant answers every message here: an assistant backend's conversation, or the
        // assistant tab of a block in `both` mode. (In a room it answers only when called.)
        self.assistant_answers = !conversation.is_room() && chat.assistant.is_assistant();
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
        let room = conversation.is_room();
        if room && !conversation.course_id.is_empty() {
            self.mute = Some(MuteWatch { user_id: user.id.clone(), until_ms: 0 });
            Box::pin(self.load_mute(conversation)).await;
        }
        let disclosure = &proven.controls.disclosure;
        // On a storage failure the notice is shown again: asking twice is better than not asking.
        self.disclosure_accepted = disclosure.text.is_empty()
            || matches!(self.state.db.disclosure_accepted_at(&user.id, &disclosure.version).await, Ok(Some(_)));
        let greeting = protocol::user_info(UserInfo {
            username: user.username.clone(),
            name: user.name.clone(),
            role: proven.role.unwrap_or_default().as_str().to_owned(),
            operator: user.role.is_operator(),
            conversation_id: conversation.id.clone(),
            // What answers on this socket: `room` for a room, else the backend of the conversation.
            backend: if room {
                "room"
            } else if self.assistant_answers {
                chat.assistant.name()
            } else {
                chat.backend.name()
            }
            .to_owned(),
            context: Context {
                source: proven.source.as_str().to_owned(),
                course_id: conversation.course_id.clone(),
                block_id: conversation.block_id.clone(),
                title: proven.title.clone(),
                starters: proven.controls.starters.clone(),
                disclosure: (!disclosure.text.is_empty()).then(|| protocol::Disclosure {
                    text: disclosure.text.clone(),
                    version: disclosure.version.clone(),
                    accepted: self.disclosure_accepted,
                }),
                exam: proven.controls.exam,
            },
            limits: Some(Limits {
                max_message_bytes: u64::try_from(chat.limits.max_message_bytes).unwrap_or(u64::MAX),
                messages_per_minute: u64::from(chat.limits.messages_per_minute),
            }),
        });
        if matches!(chat.backend, Backend::WebSocket) {
            // The existing chat server owns the conversation from here: history included.
            if self.send(greeting.clone()).await.is_ok() {
                Box::pin(self.pipe(chat, user, proven, conversation)).await;
            }
            return;
        }
        if self.send(greeting).await.is_err() || Box::pin(self.send_history(conversation, None, 50)).await.is_err() {
            return;
        }
        if room {
            // The room's announcement, pinned by course staff, goes above its messages.
            match self.state.db.pin(&conversation.id).await {
                Ok(Some(pin)) => {
                    if self.send(protocol::pinned(Some(&pin))).await.is_err() {
                        return;
                    }
                }
                Ok(None) => {}
                Err(e) => tracing::warn!(error = %e, "could not read the room's pinned announcement"),
            }
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
                        WsMessage::Binary(_) => self.reply(protocol::error(ErrorCode::BadFrame, "Binary frames are not supported; send JSON text.")).await,
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
                        Box::pin(self.refuse(ErrorCode::SessionRevoked, "You were signed out; sign in again to chat.", close::REVOKED, "session revoked")).await;
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
        // The conversation's last socket on this replica is gone mid-reply: nobody is left to read
        // the reply, so it stops (stored as `stopped` with what arrived) and the backend is told to
        // stop generating it (Flowise's abort), rather than run on and bill.
        if chat.assistant.is_assistant() && chat.hub.subscribers(&conversation.id) == 0 {
            let stopped = chat.stop_conversation(&conversation.id);
            if stopped > 0 {
                tracing::info!(stopped, "replies stopped: their conversation has no socket left");
            }
        }
        if room {
            chat.hub.publish(&conversation.id, protocol::presence(chat.hub.subscribers(&conversation.id))).await;
        }
        tracing::info!("chat disconnected");
    }

    /// The token from the query (the original way) or from the first frame, within the time limit;
    /// with the chat ticket and the channel the first frame may carry.
    async fn authenticate(
        &mut self,
        query_token: Option<&str>,
    ) -> Option<(AccessClaims, Option<String>, Option<String>)> {
        let mut ticket = None;
        let mut channel = None;
        let token = match query_token {
            Some(token) => token.to_owned(),
            None => {
                let limit = self.state.chat.limits.auth_timeout;
                match tokio::time::timeout(limit, self.socket.recv()).await {
                    Err(_) => {
                        self.refuse(
                            ErrorCode::AuthTimeout,
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
                                Ok(ClientFrame::Auth { token, ticket: proof, channel: tab }) => {
                                    ticket = proof;
                                    channel = tab;
                                    Some(token)
                                }
                                _ => None,
                            },
                            _ => None,
                        };
                        let Some(token) = token else {
                            let message = "The first frame must be {\"type\":\"auth\",\"token\":…}.";
                            self.refuse(ErrorCode::AuthRequired, message, close::UNAUTHORIZED, "auth required").await;
                            return None;
                        };
                        token
                    }
                }
            }
        };
        match self.state.auth.tokens.verify_access(&token).await {
            Ok(claims) => Some((claims, ticket, channel)),
            Err(TokenError::Expired) => {
                self.refuse(
                    ErrorCode::TokenExpired,
                    "Your sign-in has expired; sign in again.",
                    close::UNAUTHORIZED,
                    "token expired",
                )
                .await;
                None
            }
            Err(_) => {
                tracing::info!("chat refused: invalid token");
                self.refuse(
                    ErrorCode::InvalidToken,
                    "This sign-in is not valid here.",
                    close::UNAUTHORIZED,
                    "invalid token",
                )
                .await;
                None
            }
        }
    }

    pub(super) async fn send_history(
        &mut self,
        conversation: &Conversation,
        before: Option<&str>,
        limit: i64,
    ) -> Result<(), ()> {
        let frame = match self.state.db.history(&conversation.id, before, limit).await {
            Ok(page) => protocol::history(&page, i64::try_from(page.len()).unwrap_or(0) >= limit),
            Err(DbError::NotFound) => protocol::error(ErrorCode::NotFound, "No such message in this conversation."),
            Err(e) => {
                tracing::error!(error = %e, "history unavailable");
                protocol::error(ErrorCode::Internal, "The history is unavailable right now.")
            }
        };
        self.send(frame).await
    }

    async fn handle(
        &mut self,
        chat: &Arc<Chat>,
        user: &User,
        proven: &Arc<ProvenContext>,
        conversation: &Conversation,
        frame: ClientFrame,
        pending: &mut Pending,
    ) -> Flow {
        match frame {
            ClientFrame::Ping => self.reply(protocol::pong()).await,
            ClientFrame::Auth { .. } => {
                self.reply(protocol::error(ErrorCode::BadFrame, "Already authenticated.")).await
            }
            ClientFrame::Typing { is_typing } => {
                if let Err(wait) = self.typing.take() {
                    return self.reply(slow_down("typing", wait)).await;
                }
                if conversation.is_room() {
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
                    self.reply(protocol::error(ErrorCode::NotFound, "No reply with this id is being written.")).await
                }
            }
            ClientFrame::Message { client_id, content } => {
                self.message(chat, user, proven, conversation, &client_id, &content, pending).await
            }
            ClientFrame::AcceptDisclosure { version } => self.accept_disclosure(user, proven, &version).await,
            ClientFrame::Regenerate { id } => Box::pin(self.regenerate(chat, user, proven, conversation, &id)).await,
        }
    }

    /// Records the user's acceptance of the context's AI disclosure, this version of its text.
    async fn accept_disclosure(&mut self, user: &User, proven: &ProvenContext, version: &str) -> Flow {
        let disclosure = &proven.controls.disclosure;
        if disclosure.text.is_empty() {
            return Flow::Continue; // nothing to accept here
        }
        if version != disclosure.version {
            let text = "The notice about AI answers has changed; read it again.";
            return self.reply(protocol::error(ErrorCode::DisclosureRequired, text)).await;
        }
        match self.state.db.accept_disclosure(&user.id, version, &proven.ctx).await {
            Ok(()) => {
                tracing::info!(version, "AI disclosure accepted");
                self.disclosure_accepted = true;
                Flow::Continue
            }
            Err(e) => {
                tracing::error!(error = %e, "the disclosure acceptance could not be stored");
                self.reply(protocol::error(ErrorCode::Internal, "Your answer could not be saved; try again.")).await
            }
        }
    }

    /// Why the assistant may not answer in this context now, if it may not.
    fn assistant_refusal(&self, proven: &ProvenContext) -> Option<ErrorFrame> {
        if let Some(refusal) = exam_refusal(proven) {
            return Some(refusal);
        }
        if !self.disclosure_accepted {
            let text = "Read and accept the notice about AI answers first.";
            return Some(ErrorFrame::new(ErrorCode::DisclosureRequired, text));
        }
        None
    }

    /// Answers the question of the conversation's latest reply again; the new reply is stored beside
    /// the old one, which is kept.
    async fn regenerate(
        &mut self,
        chat: &Arc<Chat>,
        user: &User,
        proven: &Arc<ProvenContext>,
        conversation: &Conversation,
        id: &str,
    ) -> Flow {
        if !self.assistant_answers {
            return self.reply(protocol::error(ErrorCode::NotFound, "There is no assistant here.")).await;
        }
        if let Some(refusal) = self.assistant_refusal(proven) {
            return self.reply(protocol::error_frame(refusal)).await;
        }
        let latest = match self.state.db.latest_reply(&conversation.id).await {
            Ok(latest) => latest,
            Err(e) => {
                tracing::error!(error = %e, "the latest reply could not be read");
                return self.reply(protocol::error(ErrorCode::Internal, "The reply could not be read.")).await;
            }
        };
        let question_id = latest.filter(|reply| reply.id == id).and_then(|reply| reply.reply_to);
        let Some(question_id) = question_id.filter(|_| !chat.is_generating(&conversation.id)) else {
            let text = "Only the latest reply can be answered again, once it has ended.";
            return self.reply(protocol::error(ErrorCode::NotFound, text)).await;
        };
        if let Err(wait) = chat.take_message_budget(&user.id) {
            let secs = wait.as_secs() + 1;
            let text = format!("You are asking too fast; try again in {secs} s.");
            let frame = ErrorFrame::new(ErrorCode::RateLimited, text).with_retry_after(secs);
            return self.reply(protocol::error_frame(frame)).await;
        }
        match self.state.db.get_message(&question_id).await {
            Ok(question) => {
                tracing::info!("reply regenerated");
                let replaces = Some(id.to_owned());
                chat.spawn_reply(self.state.db.clone(), conversation.clone(), proven.clone(), question, replaces);
                Flow::Continue
            }
            Err(e) => {
                tracing::error!(error = %e, "the question of a reply could not be read");
                self.reply(protocol::error(ErrorCode::Internal, "The reply could not be read.")).await
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
            return self
                .reply(protocol::error_frame(
                    ErrorFrame::new(ErrorCode::InvalidMessage, message).about_message(client_id),
                ))
                .await;
        }
        if self.assistant_answers
            && let Some(refusal) = self.assistant_refusal(proven)
        {
            return self.reply(protocol::error_frame(refusal.about_message(client_id))).await;
        }
        if let Some(until_ms) = self.mute.as_ref().map(|m| m.until_ms).filter(|until| *until > now_ms()) {
            return self.reply(muted(until_ms, client_id)).await;
        }
        if let Err(wait) = chat.take_message_budget(&user.id) {
            let secs = wait.as_secs() + 1;
            let text = format!("You are sending messages too fast; try again in {secs} s.");
            return self
                .reply(protocol::error_frame(
                    ErrorFrame::new(ErrorCode::RateLimited, text).with_retry_after(secs).about_message(client_id),
                ))
                .await;
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
        if self.assistant_answers {
            // A resend whose reply never got stored (the gateway died mid-reply) is answered now.
            let answered = !stored.created && self.state.db.reply_exists(&stored.message.id).await.unwrap_or(true);
            if !answered {
                chat.spawn_reply(self.state.db.clone(), conversation.clone(), proven.clone(), stored.message, None);
            }
        } else if stored.created
            && matches!(flow, Flow::Continue)
            && let Some(room) = &chat.room_assistant
            && proven.controls.room_assistant
            && conversation.is_room()
            && room.is_called(&stored.message.content)
        {
            return self.call_room_assistant(chat, room, proven, conversation, stored.message).await;
        }
        flow
    }

    /// A room message called the assistant: it answers to the whole room, unless it may not answer
    /// here now or the room has had its replies for this minute. The caller alone is told why, in an
    /// error that names no message: theirs was stored and shown to the room all the same.
    async fn call_room_assistant(
        &mut self,
        chat: &Arc<Chat>,
        room: &RoomAssistant,
        proven: &Arc<ProvenContext>,
        conversation: &Conversation,
        message: Message,
    ) -> Flow {
        // The AI notice gates a learner's own conversation with the assistant, not the room: the
        // room's reply goes to everyone, attributed to the assistant, and no room client shows it.
        if let Some(refusal) = exam_refusal(proven) {
            return self.reply(protocol::error_frame(refusal)).await;
        }
        if let Err(wait) = room.take_turn(&conversation.id) {
            let secs = wait.as_secs() + 1;
            let text = format!(
                "The assistant answers at most {} messages a minute in this room; call it again in {secs} s.",
                room.per_minute()
            );
            let frame = ErrorFrame::new(ErrorCode::RateLimited, text).with_retry_after(secs);
            return self.reply(protocol::error_frame(frame)).await;
        }
        tracing::info!("room assistant called");
        chat.spawn_reply(self.state.db.clone(), conversation.clone(), proven.clone(), message, None);
        Flow::Continue
    }

    /// Reads the user's mute in the room's course (see [`MuteWatch`]). On a storage failure the
    /// socket keeps what it knew: a hiccup must neither silence the room nor lift a mute.
    pub(super) async fn load_mute(&mut self, conversation: &Conversation) {
        let Some(watch) = self.mute.as_mut() else { return };
        let course = CourseKey::of(&conversation.context());
        match self.state.db.muted_until(&course, &watch.user_id).await {
            Ok(until) => watch.until_ms = until.unwrap_or(0),
            Err(e) => tracing::warn!(error = %e, "could not read the room's mutes"),
        }
    }

    async fn not_stored(&mut self, e: &DbError, client_id: &str) -> Flow {
        tracing::error!(error = %e, "could not store a message");
        let text = "Your message could not be saved; please send it again.";
        self.reply(protocol::error_frame(ErrorFrame::new(ErrorCode::Internal, text).about_message(client_id))).await
    }
}

/// The user, the context they proved, and the conversation they resume there: theirs, or the
/// context's room. In a block offering both (mode `both`, as the platform signed it), the socket's
/// `channel` picks the tab: `room`, or `assistant` where a model can answer (`ROOM_ASSISTANT` on a
/// room gateway); otherwise, and on an upstream-WebSocket gateway, the gateway's own kind.
async fn resume(
    state: &ChatState,
    claims: &AccessClaims,
    ticket: Option<&str>,
    channel: Option<&str>,
) -> Result<(User, ProvenContext, Conversation), ProofError> {
    let user = state.db.get_user(&claims.sub).await?;
    state.db.touch_user(&user).await?;
    let proven = crate::course::prove(&state.db, state.tickets.as_deref(), &user, claims.ctx.as_ref(), ticket).await?;
    let chat = &state.chat;
    let both = proven.controls.mode == ChatMode::Both && !matches!(chat.backend, Backend::WebSocket);
    let in_room = match channel {
        Some("assistant") if both && chat.assistant.is_assistant() => false,
        Some("room") if both => true,
        _ => matches!(chat.backend, Backend::Room),
    };
    let owner = if in_room { Owner::Room } else { Owner::User(&user.id) };
    let conversation = state.db.conversation_for(owner, &proven.ctx).await?;
    Ok((user, proven, conversation))
}

/// The refusal of a message from a user course staff muted in this course's rooms until `until_ms`.
fn muted(until_ms: i64, client_id: &str) -> String {
    let secs = u64::try_from((until_ms - now_ms()).max(1_000) / 1_000).unwrap_or(1);
    let minutes = secs.div_ceil(60);
    let text = format!(
        "Course staff muted you in this course's rooms; you can write again in {minutes} minute{}.",
        if minutes == 1 { "" } else { "s" }
    );
    protocol::error_frame(ErrorFrame::new(ErrorCode::Muted, text).with_retry_after(secs).about_message(client_id))
}

/// Enforced here, not only hidden in the widget: nothing reaches the model during an exam.
fn exam_refusal(proven: &ProvenContext) -> Option<ErrorFrame> {
    proven.controls.exam.then(|| ErrorFrame::new(ErrorCode::ExamMode, "The assistant does not answer during an exam."))
}
