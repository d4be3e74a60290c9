//! The chat: the WebSocket protocol (docs/protocol.md), fan-out, limits, and the backends.
//!
//! A user's message is stored before any backend sees it; an assistant reply streams to every
//! socket of the conversation and is stored when it completes, stops or fails.

pub mod api;
pub mod backend;
pub mod bucket;
pub mod citations;
pub mod hub;
pub mod moderation;
pub mod prompt;
pub mod protocol;
pub mod room_assistant;
pub mod socket;
mod sse;
mod state;
pub mod upstream;

pub use state::ChatState;

use axum::Router;
use axum::routing::{delete, get, post};

/// The chat socket and the conversation API.
pub fn router<S: Clone + Send + Sync + 'static>(state: ChatState) -> Router<S> {
    let api = Router::new()
        .route("/api/v1/conversations", get(api::list))
        .route("/api/v1/conversations/{id}", delete(api::delete))
        .route("/api/v1/conversations/{id}/messages", get(api::messages))
        .route("/api/v1/messages/{id}/feedback", post(api::feedback))
        .route("/api/v1/analytics/summary", get(api::analytics))
        .layer(crate::web::cors::allowed_origins(&state.config));
    Router::new()
        .route("/ws/chat/", get(socket::handler))
        .route("/ws/chat", get(socket::handler))
        .merge(api)
        .with_state(state)
}

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use tokio::sync::oneshot;
use tokio_util::sync::CancellationToken;

use crate::config::{ChatConfig, ChatLimits};
use crate::course::Knowledge;
use crate::course::embeddings::Embedder;
use crate::course::{ContextSource, Passage, ProvenContext, Viewer};
use crate::domain::{
    Conversation, CourseRole, Groups, Message, MessageRole, MessageStatus, NewMessage, Unit, new_id, now_ms,
};
use crate::rate_limit::RateLimiter;
use crate::store::Db;
use backend::{Backend, BackendError, Chunk, LlmRequest};
use citations::cited;
use hub::Hub;
use room_assistant::RoomAssistant;

/// An assistant reply being generated: its id, and the reply it is a new version of.
struct Reply {
    id: String,
    replaces: Option<String>,
}
use ibal_protocol::{ErrorCode, Usage};

pub struct Chat {
    pub hub: Arc<Hub>,
    /// Cancelled when the gateway shuts down: every socket closes with 1001 (going away).
    pub shutdown: CancellationToken,
    /// The open sockets, so that shutdown can wait for their closing handshakes.
    pub sockets_open: tokio_util::task::TaskTracker,
    pub backend: Backend,
    /// What writes assistant replies: `backend` itself, or in live rooms the room assistant's model.
    pub assistant: Backend,
    /// In live rooms: who calls the assistant, and how often it may answer per room.
    pub room_assistant: Option<RoomAssistant>,
    pub limits: ChatLimits,
    system_prompt: String,
    history_budget: usize,
    /// The replica's ranked indexes of the courses, for the passages that go with each question.
    pub knowledge: Knowledge,
    retrieval_passages: usize,
    rate: RateLimiter,
    /// Sockets opened per user per minute: a reconnect loop cannot flood a room with presence.
    connects: RateLimiter,
    sockets: Mutex<HashMap<String, usize>>,
    /// Replies being generated or waiting their turn on this replica: id → (conversation, cancel).
    generations: Mutex<HashMap<String, (String, CancellationToken)>>,
    /// Each conversation's newest reply on this replica, and what ends when it has been stored: the
    /// next reply waits for it, so a conversation's replies are written one at a time, in order.
    queues: Mutex<HashMap<String, (String, oneshot::Receiver<()>)>>,
}

impl std::fmt::Debug for Chat {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Chat").field("backend", &self.backend.name()).finish_non_exhaustive()
    }
}

/// Holds one of a user's socket slots; gives it back when the socket ends.
pub struct SocketSlot {
    chat: Arc<Chat>,
    user_id: String,
}

impl Drop for SocketSlot {
    fn drop(&mut self) {
        if let Ok(mut sockets) = self.chat.sockets.lock()
            && let Some(n) = sockets.get_mut(&self.user_id)
        {
            *n -= 1;
            if *n == 0 {
                sockets.remove(&self.user_id);
            }
        }
    }
}

impl Chat {
    /// The chat, with fan-out through Redis when `redis_url` is given (several replicas).
    pub fn new(
        config: &ChatConfig,
        http: reqwest::Client,
        redis_url: Option<&str>,
        secret_key: &secrecy::SecretString,
    ) -> Result<Arc<Self>, hub::HubError> {
        let hub = match redis_url {
            Some(url) => Hub::with_redis(config.limits.outbound_queue, url, secret_key)?,
            None => Hub::new(config.limits.outbound_queue),
        };
        Ok(Arc::new(Self {
            hub,
            shutdown: CancellationToken::new(),
            sockets_open: tokio_util::task::TaskTracker::new(),
            backend: Backend::from_config(config, http.clone()),
            assistant: Backend::assistant_from_config(config, http.clone()),
            room_assistant: config.room_assistant.as_ref().map(RoomAssistant::new),
            limits: config.limits.clone(),
            system_prompt: config.system_prompt.clone(),
            history_budget: config.history_budget,
            knowledge: match &config.embeddings {
                Some(e) => Knowledge::new(Some(Embedder::new(e.clone(), http.clone())), e.min_similarity),
                None => Knowledge::default(),
            },
            retrieval_passages: config.retrieval_passages,
            rate: RateLimiter::new(config.limits.messages_per_minute, config.limits.messages_per_minute),
            connects: RateLimiter::new(config.limits.connects_per_minute, config.limits.connects_per_minute),
            sockets: Mutex::new(HashMap::new()),
            generations: Mutex::new(HashMap::new()),
            queues: Mutex::new(HashMap::new()),
        }))
    }

    /// Tells every socket to close with 1001, then waits (at most `grace`) until they have.
    pub async fn shut_down(&self, grace: Duration) {
        self.shutdown.cancel();
        self.sockets_open.close();
        if tokio::time::timeout(grace, self.sockets_open.wait()).await.is_err() {
            tracing::warn!(open = self.sockets_open.len(), "sockets still open after the shutdown grace period");
        }
    }

    /// Takes a socket slot for the user, or None when they already have the most allowed.
    pub fn open_socket(self: &Arc<Self>, user_id: &str) -> Option<SocketSlot> {
        let mut sockets = self.sockets.lock().ok()?;
        let n = sockets.entry(user_id.to_owned()).or_insert(0);
        if *n >= self.limits.max_sockets_per_user {
            return None;
        }
        *n += 1;
        Some(SocketSlot { chat: self.clone(), user_id: user_id.to_owned() })
    }

    /// One connection's worth of the user's budget, or how long to wait.
    pub fn take_connect_budget(&self, user_id: &str) -> Result<(), Duration> {
        self.connects.check(user_id)
    }

    /// One message's worth of the user's rate budget, or how long to wait.
    pub fn take_message_budget(&self, user_id: &str) -> Result<(), Duration> {
        self.rate.check(user_id)
    }

    /// Stops a reply being generated in this conversation; false when there is none.
    pub fn stop(&self, reply_id: &str, conversation_id: &str) -> bool {
        let generations = self.generations.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        match generations.get(reply_id) {
            Some((conversation, cancel)) if conversation == conversation_id => {
                cancel.cancel();
                true
            }
            _ => false,
        }
    }

    /// Stops every reply of the conversation on this replica, those waiting their turn included:
    /// when its last socket here has gone, nobody is left to read them. Returns how many it stopped.
    pub fn stop_conversation(&self, conversation_id: &str) -> usize {
        let generations = self.generations.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let mut stopped = 0;
        for (conversation, cancel) in generations.values() {
            if conversation == conversation_id && !cancel.is_cancelled() {
                cancel.cancel();
                stopped += 1;
            }
        }
        stopped
    }

    /// Generates and stores the assistant's reply to `question`, publishing it as it streams;
    /// `context` is what the platform proved for the chat (the prompt is built from it). `replaces`:
    /// the reply this one is a new version of (a regenerated answer; the old one is kept).
    pub fn spawn_reply(
        self: &Arc<Self>,
        db: Db,
        conversation: Conversation,
        context: Arc<ProvenContext>,
        question: Message,
        replaces: Option<String>,
    ) {
        let reply = Reply { id: new_id(), replaces };
        let cancel = CancellationToken::new();
        if let Ok(mut generations) = self.generations.lock() {
            generations.insert(reply.id.clone(), (conversation.id.clone(), cancel.clone()));
        }
        // One reply at a time per conversation, in the order asked: a question sent while a reply
        // streams waits for it to end (the model then sees the earlier answer, and Flowise's memory
        // gets the turns in order).
        let (stored, turn_over) = oneshot::channel::<()>();
        let previous = self
            .queues
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .insert(conversation.id.clone(), (reply.id.clone(), turn_over))
            .map(|(_, previous)| previous);
        let chat = self.clone();
        tokio::spawn(async move {
            if let Some(previous) = previous {
                // Err: the previous reply is over (its sender is gone), which is all we wait for.
                tokio::select! {
                    _ = previous => {}
                    () = cancel.cancelled() => {}
                }
            }
            chat.generate(&db, &conversation, &context, &question, &reply, cancel).await;
            drop(stored);
            if let Ok(mut generations) = chat.generations.lock() {
                generations.remove(&reply.id);
            }
            let mut queues = chat.queues.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            if queues.get(&conversation.id).is_some_and(|(last, _)| *last == reply.id) {
                queues.remove(&conversation.id);
            }
        });
    }

    /// Whether a reply is being generated in this conversation.
    pub fn is_generating(&self, conversation_id: &str) -> bool {
        let generations = self.generations.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        generations.values().any(|(conversation, _)| conversation == conversation_id)
    }

    async fn generate(
        &self,
        db: &Db,
        conversation: &Conversation,
        context: &ProvenContext,
        question: &Message,
        reply: &Reply,
        cancel: CancellationToken,
    ) {
        let topic = conversation.id.as_str();
        let started = Instant::now();
        let reply_id = reply.id.as_str();
        self.hub
            .publish(topic, protocol::stream_start(reply_id, &question.id, reply.replaces.as_deref(), now_ms()))
            .await;
        let (request, passages) = match self.request_for(db, conversation, context, question).await {
            Ok(request) => request,
            Err(e) => {
                tracing::error!(error = %e, "could not read the conversation for the assistant");
                let failure = BackendError::Unavailable("history unavailable".into());
                self.finish(
                    db,
                    conversation,
                    question,
                    reply,
                    "",
                    MessageStatus::Failed,
                    Some(&failure),
                    None,
                    None,
                    &[],
                    (started, None),
                )
                .await;
                return;
            }
        };

        let mut content = String::new();
        let mut first_token = None;
        let mut usage = None;
        let mut reference = None;
        let mut attempt = 0;
        // Whether the backend was ever asked: a reply stopped while it waited its turn has nothing to abort.
        let mut asked = false;
        let outcome: Result<MessageStatus, BackendError> = 'attempts: loop {
            if cancel.is_cancelled() {
                break 'attempts Ok(MessageStatus::Stopped);
            }
            asked = true;
            let started_stream = tokio::select! {
                biased;
                () = cancel.cancelled() => break 'attempts Ok(MessageStatus::Stopped),
                s = self.assistant.start(&request) => s,
            };
            let error = match started_stream {
                Err(e) => e,
                Ok(mut stream) => loop {
                    let next = tokio::select! {
                        () = cancel.cancelled() => break 'attempts Ok(MessageStatus::Stopped),
                        next = stream.next() => next,
                    };
                    match next {
                        None => break 'attempts Ok(MessageStatus::Complete),
                        Some(Ok(Chunk::Delta(delta))) => {
                            first_token.get_or_insert_with(|| started.elapsed());
                            content.push_str(&delta);
                            self.hub.publish(topic, protocol::stream_delta(reply_id, &delta)).await;
                        }
                        Some(Ok(Chunk::Usage(u))) => usage = Some(u),
                        Some(Ok(Chunk::Reference(r))) => reference = Some(r),
                        Some(Err(e)) => break e,
                    }
                },
            };
            // Retried only when the request was never taken (so it cannot have run), and before the
            // first token: after it, the user has seen part of a reply.
            if content.is_empty() && error.retryable() && attempt < self.assistant.max_retries() {
                attempt += 1;
                let backoff =
                    Duration::from_millis(200 * 2u64.pow(attempt)) + Duration::from_millis(rand::random::<u64>() % 200);
                tracing::warn!(error = %error, attempt, "backend failed before the first token; retrying");
                tokio::select! {
                    () = cancel.cancelled() => break 'attempts Ok(MessageStatus::Stopped),
                    () = tokio::time::sleep(backoff) => continue,
                }
            }
            break Err(error);
        };
        // Stopped, or given up while the backend may still be generating: tell it to stop too.
        let abandoned = asked
            && match &outcome {
                Ok(status) => *status == MessageStatus::Stopped,
                Err(e) => e.may_still_run(),
            };
        if abandoned {
            let backend = self.assistant.clone();
            let request_id = request.request_id.clone();
            tokio::spawn(async move { backend.abort(&request_id).await });
        }
        let reference = reference.as_deref().map(|r| (request.request_id.as_str(), r));
        let (status, error) = match outcome {
            Ok(status) => (status, None),
            Err(e) => {
                tracing::warn!(error = %e, backend = self.assistant.name(), "assistant reply failed");
                (MessageStatus::Failed, Some(e))
            }
        };
        self.finish(
            db,
            conversation,
            question,
            reply,
            &content,
            status,
            error.as_ref(),
            usage,
            reference,
            &passages,
            (started, first_token),
        )
        .await;
    }

    #[allow(clippy::too_many_arguments)]
    async fn finish(
        &self,
        db: &Db,
        conversation: &Conversation,
        question: &Message,
        reply: &Reply,
        content: &str,
        status: MessageStatus,
        error: Option<&BackendError>,
        usage: Option<Usage>,
        reference: Option<(&str, &str)>,
        passages: &[Passage],
        (started, first_token): (Instant, Option<Duration>),
    ) {
        let topic = conversation.id.as_str();
        let reply_id = reply.id.as_str();
        if let Some(e) = error {
            self.hub.publish(topic, protocol::error(e.code(), e.user_message())).await;
        }
        let tokens = usage.and_then(|u| u.total_tokens.or(u.completion_tokens)).and_then(|n| i64::try_from(n).ok());
        let sources = cited(content, passages);
        let stored_sources = protocol::write_sources(&sources);
        let stored = db
            .insert_message(&NewMessage {
                id: Some(reply_id),
                conversation_id: &conversation.id,
                sender_id: None,
                client_id: None,
                role: MessageRole::Assistant,
                sender_name: "assistant",
                sender_role: "",
                content,
                status,
                reply_to: Some(&question.id),
                replaces: reply.replaces.as_deref(),
                error_code: error.map(|e| e.code().as_str()),
                tokens,
                latency_ms: i64::try_from(started.elapsed().as_millis()).ok(),
                first_token_ms: first_token.and_then(|t| i64::try_from(t.as_millis()).ok()),
                sources: stored_sources.as_deref(),
            })
            .await;
        if let Err(e) = stored {
            tracing::error!(error = %e, "could not store the assistant reply");
            self.hub.publish(topic, protocol::error(ErrorCode::Internal, "The reply could not be saved.")).await;
        } else if let Some((request_id, reference)) = reference
            && let Err(e) = db.set_backend_reference(reply_id, request_id, reference).await
        {
            // The reply is kept; only its ratings will not reach the backend.
            tracing::warn!(error = %e, "could not store the backend's id of the reply");
        }
        self.hub.publish(topic, protocol::stream_end(reply_id, content, status, usage, &sources)).await;
    }

    /// The question with as much earlier conversation as fits the budget (newest kept first), and the
    /// course passages retrieved for it.
    async fn request_for(
        &self,
        db: &Db,
        conversation: &Conversation,
        context: &ProvenContext,
        question: &Message,
    ) -> Result<(LlmRequest, Vec<Passage>), crate::store::DbError> {
        let recent = db.history_before(question, 50).await?;
        // In a live room several people talk: each of their messages goes with its author's name.
        let room = conversation.is_room();
        // A regenerated answer's earlier versions are not the conversation any more.
        let replaced: std::collections::HashSet<&str> = recent.iter().filter_map(|m| m.replaces.as_deref()).collect();
        let mut budget = self.history_budget;
        let mut history = Vec::new();
        for m in recent.iter().rev() {
            // What course staff hid reaches nobody, the model included.
            if m.content.is_empty()
                || m.status == MessageStatus::Failed
                || m.hidden_at.is_some()
                || replaced.contains(m.id.as_str())
            {
                continue;
            }
            if m.content.len() > budget {
                break;
            }
            budget -= m.content.len();
            history.push((m.role, prompt::turn(m, room)));
        }
        history.reverse();
        let passages = self.passages_for(db, context, &question.content, room).await;
        // The caller's view of the unit may hold what others in the room may not see (staff-only
        // components, another cohort's): in a room the course's passages stand in for it.
        let room_context;
        let context = if room {
            room_context = ProvenContext {
                unit: Unit { text: String::new(), truncated: false, ..context.unit.clone() },
                ..context.clone()
            };
            &room_context
        } else {
            context
        };
        let mut system = prompt::system_messages(&self.system_prompt, context, &passages);
        if room {
            system.insert(1.min(system.len()), prompt::ROOM.to_owned());
        }
        let request = LlmRequest {
            conversation_id: conversation.id.clone(),
            request_id: uuid::Uuid::new_v4().to_string(),
            vars: prompt::prompt_vars(&system, context, &passages),
            system,
            history,
            question: prompt::turn(question, room),
        };
        Ok((request, passages))
    }

    /// The course's passages for the question that this learner may see. Only for an Open edX
    /// course the LMS vouched for: the index holds that LMS's courses, and an LTI platform naming
    /// the same course id proves nothing about it. In a room the reply is read by everyone there,
    /// so only what every learner may see goes in, whoever called. Without passages the assistant
    /// still answers.
    async fn passages_for(&self, db: &Db, context: &ProvenContext, question: &str, room: bool) -> Vec<Passage> {
        let (ContextSource::Ticket, Some(role)) = (context.source, context.role) else { return Vec::new() };
        let nobody = Groups::new();
        let viewer = if room {
            Viewer { role: CourseRole::Learner, groups: &nobody, now: now_ms() / 1000 }
        } else {
            Viewer { role, groups: &context.groups, now: now_ms() / 1000 }
        };
        let course = &context.ctx.course_id;
        match self.knowledge.retrieve(db, course, question, &viewer, self.retrieval_passages).await {
            Ok(passages) => passages,
            Err(e) => {
                tracing::warn!(error = %e, "course passages unavailable; answering without them");
                Vec::new()
            }
        }
    }
}
