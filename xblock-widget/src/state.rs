//! The widget's state machine: pure (no DOM, no clock, no randomness; the caller passes them in), so
//! every transition is unit-tested on the host.
//!
//! Phases: `Idle` → `Authenticating` → `Connecting` → `Connected`, and `Disconnected` / `Error` when
//! the socket closes or sign-in fails. [`State::apply`] takes an [`Event`] and returns the
//! [`Effect`]s the controller must carry out (open the socket, send a frame, schedule a reconnect…);
//! the view then renders the state.

use ibal_protocol::{
    ChatMessage, ClientFrame, Context, Disclosure, ErrorFrame, Role, ServerFrame, Source, Status, UserInfo, close,
};

use crate::socket::{ClosePolicy, backoff_ms, close_policy};

/// A tab of a block offering both (`mode: "both"`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tab {
    /// The course's live room.
    Room,
    /// The user's own conversation with the assistant.
    Assistant,
}

impl Tab {
    /// Its name, as the `auth` frame's `channel` says it (and its button's `data-act`).
    #[must_use]
    pub fn name(self) -> &'static str {
        match self {
            Self::Room => "room",
            Self::Assistant => "assistant",
        }
    }
}

/// Where the chat is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// The start state: the Start Chat button.
    Idle,
    /// Getting a token (popup, login form, cache, refresh).
    Authenticating,
    /// The socket is opening or authenticating.
    Connecting,
    /// Authenticated: messages flow.
    Connected,
    /// The socket closed; a reconnect may be scheduled (`reconnect_in_ms`).
    Disconnected,
    /// Stopped on an error the user must act on (sign-in failed, session revoked).
    Error,
}

impl Phase {
    /// Its name, for pages and tests (`handle.phase`) and the widget's class (`ibal-phase-<name>`).
    #[must_use]
    pub fn name(self) -> &'static str {
        match self {
            Self::Idle => "idle",
            Self::Authenticating => "authenticating",
            Self::Connecting => "connecting",
            Self::Connected => "connected",
            Self::Disconnected => "disconnected",
            Self::Error => "error",
        }
    }
}

/// What the sign-in step shows while `Authenticating`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Prompt {
    /// Nothing in particular (checking the cache, refreshing).
    Working,
    /// The popup is open; waiting for its answer.
    PopupOpen,
    /// The browser blocked the popup: a button opens it from a click.
    PopupBlocked,
    /// The local-account form (`auth_mode: "local"`).
    LoginForm,
    /// The local-account form was submitted.
    LoginBusy,
}

/// Where one of our messages is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Delivery {
    /// Not acknowledged yet (queued, or sent and waiting); resent after a reconnect.
    Pending,
    /// Stored by the gateway.
    Acked,
    /// Refused (rate limit, invalid, muted by course staff); resent only when the user says so.
    Failed,
}

/// A message in the list.
#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    /// Local identity, stable for the entry's life (the view keys its nodes on it).
    pub key: u64,
    /// Bumped at each change, so the view updates only what changed.
    pub version: u32,
    /// The gateway's id, once known.
    pub id: Option<String>,
    /// The `client_id` it was sent with.
    pub client_id: Option<String>,
    /// Who wrote it.
    pub role: Role,
    /// The sender's username.
    pub sender: String,
    /// The text.
    pub content: String,
    /// RFC 3339.
    pub timestamp: Option<String>,
    /// Written by the signed-in user (a blue bubble).
    pub mine: bool,
    /// Delivery of our own messages (`Acked` for everything else).
    pub delivery: Delivery,
    /// Sent on the current socket (so an error frame may refer to it).
    pub sent: bool,
    /// An assistant reply still streaming.
    pub streaming: bool,
    /// How it ended.
    pub status: Status,
    /// The sender is on the course's staff: `staff` or `instructor` (shown as a badge).
    pub staff_role: Option<String>,
    /// A regenerated reply: the id of the reply it is a new version of (that one is not shown).
    pub replaces: Option<String>,
    /// An assistant reply: the course passages it cites (from its `stream_end` or stored message);
    /// each version of a reply has its own.
    pub sources: Vec<Source>,
    /// Removed by course staff: `content` is the gateway's notice, shown as plain text, without the
    /// reply's actions (a restored message comes again with `hidden` false).
    pub hidden: bool,
}

/// The badge of a sender's course role: course staff and instructors get one, learners none.
fn staff_role(sender_role: Option<String>) -> Option<String> {
    sender_role.filter(|r| r == "staff" || r == "instructor")
}

/// Something to tell the user. `code` is a protocol error code or one of the widget's own
/// (`auth_failed`, `auth_cancelled`, `auth_timeout`, `session_expired`, `token_page_expired`,
/// `too_large`, `closed`, `network`); [`crate::i18n::describe`] turns it into words.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notice {
    /// The code.
    pub code: String,
    /// The server's sentence or a technical detail (shown when the code is unknown).
    pub detail: String,
    /// Seconds to wait, when waiting helps.
    pub retry_after: Option<u64>,
}

impl Notice {
    /// A notice without `retry_after`.
    #[must_use]
    pub fn new(code: &str, detail: &str) -> Self {
        Self { code: code.to_owned(), detail: detail.to_owned(), retry_after: None }
    }
}

/// What happened.
#[derive(Debug, Clone, PartialEq)]
#[allow(clippy::large_enum_variant)] // a frame (`user_info`) is the big one; each event is moved once, and a box costs .wasm
pub enum Event {
    /// Start Chat (or Reconnect) was activated.
    Start,
    /// The sign-in step changed what it shows.
    Prompt(Prompt),
    /// A token is in hand. `fresh`: newly obtained (popup, form, refresh), not from the cache.
    Authenticated {
        /// The username, when the token source says it.
        username: Option<String>,
        /// Whether the token was just issued.
        fresh: bool,
    },
    /// Sign-in failed or was cancelled (`code` as in [`Notice`]).
    AuthFailed {
        /// The code.
        code: String,
        /// A detail for the user.
        detail: String,
    },
    /// The user cancelled the sign-in step.
    CancelAuth,
    /// The page could not give a chat ticket (the LMS refused, or its handler failed).
    TicketFailed {
        /// What the page said.
        detail: String,
    },
    /// The socket opened.
    SocketOpened,
    /// A frame arrived.
    Frame(ServerFrame),
    /// The socket closed. `jitter` is a random number in [0, 1) for the reconnect delay.
    SocketClosed {
        /// The close code.
        code: u16,
        /// Randomness for the backoff.
        jitter: f64,
    },
    /// The reconnect timer fired (or the user asked to reconnect now).
    ReconnectDue,
    /// The user sends a message.
    Send {
        /// A fresh unique id.
        client_id: String,
        /// The text as typed.
        content: String,
        /// Now, RFC 3339.
        now: String,
    },
    /// The user resends a refused message.
    Retry {
        /// The entry's key.
        key: u64,
    },
    /// Stop the streaming reply.
    Stop,
    /// Load an older page of the conversation.
    LoadEarlier,
    /// Periodic: expire typing indicators.
    Tick,
    /// Show a notice (from the sign-in form).
    Notice(Notice),
    /// Hide the notice.
    DismissNotice,
    /// Close Chat.
    Close,
    /// Sign out: Close Chat, and the login ends at the gateway.
    SignOut,
    /// The user accepted the AI disclosure.
    AcceptDisclosure,
    /// Answer the question of the latest reply again.
    Regenerate,
    /// The user picked a tab of a block offering both.
    Tab(Tab),
    /// The conversation was deleted at the gateway: it goes from the screen, and an open chat
    /// reconnects (into a new one).
    ConversationDeleted,
}

/// Where focus should go.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Focus {
    /// The message input.
    Input,
    /// The Start Chat button.
    Start,
}

/// What the controller must do.
#[derive(Debug, Clone, PartialEq)]
pub enum Effect {
    /// Get a token: cache, refresh, popup or form; then dispatch `Authenticated` or `AuthFailed`.
    Authenticate,
    /// The token was refused: get a new one (refresh), then dispatch `Authenticated` or `AuthFailed`.
    Reauthenticate,
    /// Open the socket.
    Connect,
    /// Send the `auth` frame on the open socket.
    SendAuth,
    /// Send a frame.
    Send(ClientFrame),
    /// Dispatch `ReconnectDue` after this many milliseconds.
    ScheduleReconnect(u32),
    /// Close the socket and cancel timers and sign-in in progress.
    CloseSocket,
    /// The session is gone: forget the cached token.
    ForgetToken,
    /// End the login at the gateway (then forget the token).
    SignOut,
    /// Move the focus.
    Focus(Focus),
}

/// How long a typing indicator lasts without news, in milliseconds.
pub const TYPING_TTL_MS: f64 = 6000.0;

/// How many older messages one "load earlier" asks for.
pub const HISTORY_PAGE: u32 = 50;

/// The whole state.
#[derive(Debug, Clone, PartialEq)]
pub struct State {
    /// Where the chat is.
    pub phase: Phase,
    /// What the sign-in step shows.
    pub prompt: Prompt,
    /// The signed-in user.
    pub username: Option<String>,
    /// The chat backend (`room` enables typing indicators); empty before `user_info`.
    pub backend: String,
    /// The messages, oldest first.
    pub entries: Vec<Entry>,
    /// Bumped when `entries` is replaced rather than appended to or updated.
    pub epoch: u32,
    /// Whether older messages exist.
    pub has_more: bool,
    /// People in the room.
    pub presence: Option<u64>,
    /// Who is typing, with when the indicator expires (ms).
    pub typers: Vec<(String, f64)>,
    /// What to tell the user.
    pub notice: Option<Notice>,
    /// The reconnect delay when one is scheduled.
    pub reconnect_in_ms: Option<u32>,
    /// Consecutive failed connection attempts.
    pub attempt: u32,
    /// The most bytes a message may hold (from `user_info`).
    pub max_message_bytes: Option<u64>,
    /// What the course team set for an assistant (`user_info.context`: starters, disclosure, exam);
    /// nothing of it in a room.
    pub context: Context,
    /// A block offering both: the tab, asked for in the `auth` frame's `channel`, then the one
    /// `user_info.backend` says the socket is in. `None`: one chat, no tabs.
    pub tab: Option<Tab>,
    /// The conversation the socket is in (`user_info.conversation_id`; empty before).
    pub conversation_id: String,
    /// The room's announcement pinned by course staff: its text and who pinned it (`pinned` frames;
    /// sent again after each connection's history when there is one).
    pub pinned: Option<(String, String)>,
    /// A `regenerate` was sent and its reply has not started.
    regenerating: bool,
    next_key: u64,
    awaiting_history: bool,
    loading_older: bool,
    fresh_token: bool,
    focus_on_connect: bool,
}

impl Default for State {
    fn default() -> Self {
        Self::new()
    }
}

/// Codes of a refused message: from a gateway that does not name it by `client_id`, the oldest message
/// in flight is taken to be the one.
const REFUSED_CODES: [&str; 3] = ["rate_limited", "invalid_message", "muted"];

impl State {
    /// The start state.
    #[must_use]
    pub fn new() -> Self {
        Self {
            phase: Phase::Idle,
            prompt: Prompt::Working,
            username: None,
            backend: String::new(),
            entries: Vec::new(),
            epoch: 0,
            has_more: false,
            presence: None,
            typers: Vec::new(),
            notice: None,
            reconnect_in_ms: None,
            attempt: 0,
            max_message_bytes: None,
            context: Context::default(),
            tab: None,
            conversation_id: String::new(),
            pinned: None,
            regenerating: false,
            next_key: 1,
            awaiting_history: false,
            loading_older: false,
            fresh_token: false,
            focus_on_connect: false,
        }
    }

    /// Whether the chat panel (messages, input, Close Chat) is shown.
    #[must_use]
    pub fn chat_open(&self) -> bool {
        matches!(self.phase, Phase::Connecting | Phase::Connected | Phase::Disconnected)
    }

    /// Whether a message typed now is accepted (sent now, or queued until the socket is back): not
    /// while the assistant is off for an exam or its disclosure waits for the user.
    #[must_use]
    pub fn can_send(&self) -> bool {
        self.chat_open() && !self.context.exam && self.unaccepted().is_none()
    }

    /// The AI disclosure, while the user has not accepted it.
    #[must_use]
    pub fn unaccepted(&self) -> Option<&Disclosure> {
        self.context.disclosure.as_ref().filter(|d| !d.accepted)
    }

    /// Whether the conversation starters are offered: connected, nothing said yet, input open.
    #[must_use]
    pub fn show_starters(&self) -> bool {
        let empty = !self.awaiting_history && self.entries.is_empty();
        self.phase == Phase::Connected && empty && !self.context.starters.is_empty() && self.can_send()
    }

    /// The reply that may be regenerated: the latest assistant reply, once no reply is streaming. Not
    /// in a room: the assistant's reply there answered someone's call to the whole room.
    #[must_use]
    pub fn latest_reply(&self) -> Option<&Entry> {
        if self.phase != Phase::Connected
            || !self.can_send()
            || self.regenerating
            || self.streaming_id().is_some()
            || self.is_room()
        {
            return None;
        }
        self.entries.iter().rev().find(|e| e.role == Role::Assistant).filter(|e| e.id.is_some() && !e.hidden)
    }

    /// Whether the socket is closed and no reconnect is scheduled: the user may reconnect.
    #[must_use]
    pub fn needs_manual_reconnect(&self) -> bool {
        self.phase == Phase::Disconnected && self.reconnect_in_ms.is_none()
    }

    /// The reply being streamed, if any (the newest).
    #[must_use]
    pub fn streaming_id(&self) -> Option<&str> {
        self.entries.iter().rev().find(|e| e.streaming).and_then(|e| e.id.as_deref())
    }

    /// Whether typing indicators are exchanged (room backend).
    #[must_use]
    pub fn is_room(&self) -> bool {
        self.backend == "room"
    }

    /// Applies an event; `now_ms` is the current time in milliseconds.
    pub fn apply(&mut self, event: Event, now_ms: f64) -> Vec<Effect> {
        let mut fx = Vec::new();
        match event {
            Event::Start => {
                if matches!(self.phase, Phase::Idle | Phase::Error) || self.needs_manual_reconnect() {
                    self.phase = Phase::Authenticating;
                    self.prompt = Prompt::Working;
                    self.notice = None;
                    self.reconnect_in_ms = None;
                    self.focus_on_connect = true;
                    fx.push(Effect::Authenticate);
                }
            }
            Event::Prompt(prompt) => {
                if self.phase == Phase::Authenticating {
                    self.prompt = prompt;
                }
            }
            Event::Authenticated { username, fresh } => {
                if matches!(self.phase, Phase::Authenticating | Phase::Disconnected) {
                    self.phase = Phase::Connecting;
                    if username.is_some() {
                        self.username = username;
                    }
                    self.fresh_token = fresh;
                    self.reconnect_in_ms = None;
                    fx.push(Effect::Connect);
                }
            }
            Event::AuthFailed { code, detail } => {
                if matches!(self.phase, Phase::Authenticating | Phase::Disconnected) {
                    self.phase = if code == "auth_cancelled" { Phase::Idle } else { Phase::Error };
                    self.reconnect_in_ms = None;
                    self.notice = Some(Notice::new(&code, &detail));
                    fx.push(Effect::Focus(Focus::Start));
                }
            }
            Event::CancelAuth => {
                if self.phase == Phase::Authenticating {
                    self.phase = Phase::Idle;
                    fx.push(Effect::CloseSocket);
                    fx.push(Effect::Focus(Focus::Start));
                }
            }
            Event::TicketFailed { detail } => {
                if matches!(self.phase, Phase::Authenticating | Phase::Connecting | Phase::Disconnected) {
                    self.phase = Phase::Error;
                    self.reconnect_in_ms = None;
                    self.notice = Some(Notice::new("ticket_unavailable", &detail));
                    fx.push(Effect::CloseSocket);
                    fx.push(Effect::Focus(Focus::Start));
                }
            }
            Event::SocketOpened => {
                if self.phase == Phase::Connecting {
                    fx.push(Effect::SendAuth);
                }
            }
            Event::Frame(frame) => self.on_frame(frame, now_ms, &mut fx),
            Event::SocketClosed { code, jitter } => self.on_close(code, jitter, &mut fx),
            Event::ReconnectDue => {
                if self.phase == Phase::Disconnected && self.reconnect_in_ms.is_some() {
                    self.phase = Phase::Connecting;
                    self.reconnect_in_ms = None;
                    fx.push(Effect::Connect);
                }
            }
            Event::Send { client_id, content, now } => self.on_send(client_id, content, now, &mut fx),
            Event::Retry { key } => {
                let connected = self.phase == Phase::Connected;
                if let Some(entry) = self.entries.iter_mut().find(|e| e.key == key && e.delivery == Delivery::Failed) {
                    entry.delivery = Delivery::Pending;
                    entry.version += 1;
                    if connected && let Some(client_id) = &entry.client_id {
                        entry.sent = true;
                        fx.push(Effect::Send(message_frame(client_id, &entry.content)));
                    }
                }
            }
            Event::Stop => {
                if self.phase == Phase::Connected
                    && let Some(id) = self.streaming_id()
                {
                    fx.push(Effect::Send(ClientFrame::Stop { id: id.to_owned() }));
                }
            }
            Event::LoadEarlier => {
                if self.phase == Phase::Connected
                    && self.has_more
                    && !self.loading_older
                    && let Some(first) = self.entries.iter().find_map(|e| e.id.clone())
                {
                    self.loading_older = true;
                    fx.push(Effect::Send(history_frame(first)));
                }
            }
            Event::Tick => self.typers.retain(|(_, until)| *until > now_ms),
            Event::Notice(notice) => self.notice = Some(notice),
            Event::DismissNotice => self.notice = None,
            Event::Close => {
                self.reset();
                fx.push(Effect::CloseSocket);
                fx.push(Effect::Focus(Focus::Start));
            }
            Event::SignOut => {
                self.reset();
                self.notice = Some(Notice::new("signed_out", ""));
                fx.push(Effect::CloseSocket);
                fx.push(Effect::SignOut);
                fx.push(Effect::Focus(Focus::Start));
            }
            Event::AcceptDisclosure => {
                let connected = self.phase == Phase::Connected;
                if let Some(d) = self.context.disclosure.as_mut().filter(|d| connected && !d.accepted) {
                    d.accepted = true;
                    fx.push(Effect::Send(ClientFrame::AcceptDisclosure { version: d.version.clone() }));
                    // Messages held back by the disclosure go now.
                    self.resend_pending(&mut fx);
                    fx.push(Effect::Focus(Focus::Input));
                }
            }
            Event::Regenerate => {
                if let Some(id) = self.latest_reply().and_then(|e| e.id.clone()) {
                    self.regenerating = true;
                    fx.push(Effect::Send(ClientFrame::Regenerate { id }));
                }
            }
            Event::Tab(tab) => {
                if self.tab.is_some_and(|t| t != tab) {
                    self.tab = Some(tab);
                    self.restart(&mut fx);
                }
            }
            Event::ConversationDeleted => self.restart(&mut fx),
        }
        fx
    }

    /// Another conversation (the other tab, or a new one for a deleted one): what is shown goes, and an
    /// open chat connects again (the socket is for one conversation). Closed, it waits for Start Chat.
    fn restart(&mut self, fx: &mut Vec<Effect>) {
        if self.chat_open() {
            let username = self.username.take();
            self.reset();
            self.phase = Phase::Connecting;
            self.username = username;
            fx.push(Effect::Connect);
        }
    }

    /// Sends (again) every message not acknowledged, with its client_id (the gateway stores it once);
    /// none while the disclosure waits for the user.
    fn resend_pending(&mut self, fx: &mut Vec<Effect>) {
        if self.unaccepted().is_some() {
            return;
        }
        for entry in &mut self.entries {
            if entry.delivery == Delivery::Pending
                && let Some(client_id) = &entry.client_id
            {
                entry.sent = true;
                fx.push(Effect::Send(message_frame(client_id, &entry.content)));
            }
        }
    }

    /// Back to the start state; entry keys stay unique and the view sees a new list.
    fn reset(&mut self) {
        *self = Self { next_key: self.next_key, epoch: self.epoch + 1, tab: self.tab, ..Self::new() };
    }

    fn new_entry(&mut self, msg: ChatMessage) -> Entry {
        let key = self.next_key;
        self.next_key += 1;
        let mine = msg.role == Role::User && self.username.as_deref() == Some(msg.sender.as_str());
        Entry {
            key,
            version: 0,
            id: msg.id,
            client_id: msg.client_id,
            role: msg.role,
            sender: msg.sender,
            content: msg.content,
            timestamp: Some(msg.timestamp).filter(|t| !t.is_empty()),
            mine,
            delivery: Delivery::Acked,
            sent: false,
            streaming: false,
            status: msg.status,
            staff_role: staff_role(msg.sender_role),
            replaces: msg.replaces,
            sources: msg.sources,
            hidden: msg.hidden,
        }
    }

    fn find_mut(&mut self, id: &str) -> Option<&mut Entry> {
        self.entries.iter_mut().find(|e| e.id.as_deref() == Some(id))
    }

    fn on_frame(&mut self, frame: ServerFrame, now_ms: f64, fx: &mut Vec<Effect>) {
        if !matches!(self.phase, Phase::Connecting | Phase::Connected) {
            return;
        }
        match frame {
            ServerFrame::UserInfo(UserInfo { username, backend, limits, context, conversation_id, .. }) => {
                // The course team's controls are the assistant's (the gateway enforces them there).
                self.context =
                    if matches!(backend.as_str(), "openai" | "flowise") { context } else { Context::default() };
                // The tab shown is the one the gateway served (a room gateway without an assistant
                // keeps a both block in its room).
                if self.tab.is_some() {
                    self.tab = Some(if backend == "room" { Tab::Room } else { Tab::Assistant });
                }
                self.conversation_id = conversation_id;
                // The gateway pins it again after the history, if it is still there.
                self.pinned = None;
                self.context.starters.truncate(4);
                self.regenerating = false;
                self.phase = Phase::Connected;
                self.username = Some(username);
                self.backend = backend;
                self.max_message_bytes = limits.map(|l| l.max_message_bytes);
                self.attempt = 0;
                self.fresh_token = false;
                self.awaiting_history = true;
                self.loading_older = false;
                if self.notice.as_ref().is_some_and(|n| is_connection_notice(&n.code)) {
                    self.notice = None;
                }
                self.resend_pending(fx);
                if std::mem::take(&mut self.focus_on_connect) {
                    fx.push(Effect::Focus(Focus::Input));
                }
            }
            ServerFrame::History { messages, has_more } => {
                self.has_more = has_more;
                if std::mem::take(&mut self.awaiting_history) {
                    self.replace_with_history(messages);
                } else {
                    self.loading_older = false;
                    self.prepend_history(messages);
                }
            }
            ServerFrame::Message(msg) => {
                self.typers.retain(|(name, _)| *name != msg.sender);
                self.upsert(msg);
            }
            ServerFrame::StreamStart { id, sender, timestamp, replaces, .. } => {
                self.regenerating = false;
                if self.find_mut(&id).is_none() {
                    self.push_stream(id, sender, timestamp, String::new());
                    if let Some(entry) = self.entries.last_mut() {
                        entry.replaces = replaces;
                    }
                }
            }
            ServerFrame::StreamDelta { id, delta } => match self.find_mut(&id) {
                Some(entry) => {
                    entry.content.push_str(&delta);
                    entry.version += 1;
                }
                // Joined mid-reply (another tab started it): show what arrives.
                None => self.push_stream(id, String::new(), String::new(), delta),
            },
            ServerFrame::StreamEnd { id, content, status, sources, .. } => {
                if self.find_mut(&id).is_none() {
                    self.push_stream(id.clone(), String::new(), String::new(), String::new());
                }
                if let Some(entry) = self.find_mut(&id) {
                    entry.content = content;
                    entry.streaming = false;
                    entry.status = status;
                    entry.sources = sources;
                    entry.version += 1;
                }
            }
            ServerFrame::Typing { username, is_typing } => {
                if self.username.as_deref() == Some(username.as_str()) {
                    return;
                }
                self.typers.retain(|(name, _)| *name != username);
                if is_typing {
                    self.typers.push((username, now_ms + TYPING_TTL_MS));
                }
            }
            ServerFrame::Presence { count } => self.presence = Some(count),
            ServerFrame::Pinned { content, sender, .. } => {
                self.pinned = Some((content, sender)).filter(|(c, _)| !c.is_empty());
            }
            ServerFrame::Error(error) => self.on_error(error),
            ServerFrame::Pong => {}
        }
        // Only the newest version of a regenerated reply is shown: the versions replaced are marked (key
        // 0, which no entry has), then dropped (`retain`: `Vec::remove` brings a panic formatting numbers).
        let entries = &mut self.entries;
        while let Some(i) = entries
            .iter()
            .position(|e| e.key != 0 && entries.iter().any(|n| n.replaces.is_some() && n.replaces == e.id))
        {
            if let Some(replaced) = entries.get_mut(i) {
                replaced.key = 0;
            }
        }
        entries.retain(|e| e.key != 0);
    }

    fn push_stream(&mut self, id: String, sender: String, timestamp: String, content: String) {
        let sender = if sender.is_empty() { "assistant".to_owned() } else { sender };
        let msg =
            ChatMessage { id: Some(id), role: Role::Assistant, content, sender, timestamp, ..ChatMessage::default() };
        let mut entry = self.new_entry(msg);
        entry.streaming = true;
        self.entries.push(entry);
    }

    /// An error frame: a notice, and when it is about one of our messages, that message failed (it was
    /// not stored; the user may retry it). The gateway names the message by `client_id`; without one
    /// (an older gateway), a refusal is taken to be about the oldest message sent and not acknowledged.
    fn on_error(&mut self, error: ErrorFrame) {
        let ErrorFrame { code, message, retry_after, client_id } = error;
        self.regenerating = false;
        // The disclosure is shown again, and the message it held back waits for the user's acceptance.
        let held = code == "disclosure_required";
        if let Some(d) = self.context.disclosure.as_mut().filter(|_| held) {
            d.accepted = false;
        }
        let held = held && self.context.disclosure.is_some();
        self.context.exam |= code == "exam_mode";
        let refused = match client_id.as_deref() {
            Some(cid) => self.entries.iter_mut().find(|e| e.mine && e.client_id.as_deref() == Some(cid)),
            None if REFUSED_CODES.contains(&code.as_str()) => {
                self.entries.iter_mut().find(|e| e.mine && e.sent && e.delivery == Delivery::Pending)
            }
            None => None,
        };
        if let Some(entry) = refused.filter(|e| e.delivery == Delivery::Pending) {
            entry.sent = false;
            if !held {
                entry.delivery = Delivery::Failed;
                entry.version += 1;
            }
        }
        // A disclosure shown again says enough.
        if !held {
            self.notice = Some(Notice { code, detail: message, retry_after });
        }
    }

    /// A stored message: the acknowledgement of ours (by `client_id`), an update of one we have (by
    /// `id`), or a new one.
    fn upsert(&mut self, msg: ChatMessage) {
        let by_client = msg.client_id.as_deref().and_then(|cid| {
            self.entries.iter().position(|e| e.role == Role::User && e.client_id.as_deref() == Some(cid))
        });
        let by_id = || msg.id.as_deref().and_then(|id| self.entries.iter().position(|e| e.id.as_deref() == Some(id)));
        match by_client.or_else(by_id) {
            Some(index) => {
                let Some(entry) = self.entries.get_mut(index) else { return };
                if msg.id.is_some() {
                    entry.id = msg.id;
                }
                if !msg.timestamp.is_empty() {
                    entry.timestamp = Some(msg.timestamp);
                }
                entry.content = msg.content;
                entry.status = msg.status;
                entry.sources = msg.sources;
                entry.staff_role = staff_role(msg.sender_role);
                entry.hidden = msg.hidden;
                entry.delivery = Delivery::Acked;
                entry.sent = false;
                entry.streaming = false;
                entry.version += 1;
            }
            None => {
                let entry = self.new_entry(msg);
                self.entries.push(entry);
            }
        }
    }

    /// The history sent after authentication: it is the conversation; our unacknowledged messages
    /// that it does not hold stay at the end.
    fn replace_with_history(&mut self, messages: Vec<ChatMessage>) {
        let old = std::mem::take(&mut self.entries);
        for msg in messages {
            let entry = self.new_entry(msg);
            self.entries.push(entry);
        }
        for entry in old {
            if entry.delivery == Delivery::Acked {
                continue;
            }
            let stored = entry.client_id.as_deref().is_some_and(|cid| {
                self.entries.iter().any(|e| e.role == Role::User && e.client_id.as_deref() == Some(cid))
            });
            if !stored {
                self.entries.push(entry);
            }
        }
        self.epoch += 1;
    }

    /// An older page: goes before what we have, without duplicates.
    fn prepend_history(&mut self, messages: Vec<ChatMessage>) {
        let mut older = Vec::new();
        for msg in messages {
            let known = msg.id.as_deref().is_some_and(|id| self.entries.iter().any(|e| e.id.as_deref() == Some(id)));
            if !known {
                older.push(self.new_entry(msg));
            }
        }
        if !older.is_empty() {
            older.append(&mut self.entries);
            self.entries = older;
            self.epoch += 1;
        }
    }

    fn on_send(&mut self, client_id: String, content: String, now: String, fx: &mut Vec<Effect>) {
        let content = content.trim().to_owned();
        if content.is_empty() || !self.can_send() {
            return;
        }
        if let Some(max) = self.max_message_bytes
            && content.len() as u64 > max
        {
            self.notice = Some(Notice::new("invalid_message", ""));
            return;
        }
        let connected = self.phase == Phase::Connected;
        if connected {
            fx.push(Effect::Send(message_frame(&client_id, &content)));
        }
        let key = self.next_key;
        self.next_key += 1;
        self.entries.push(Entry {
            key,
            version: 0,
            id: None,
            client_id: Some(client_id),
            role: Role::User,
            sender: self.username.clone().unwrap_or_default(),
            content,
            timestamp: Some(now),
            mine: true,
            delivery: Delivery::Pending,
            sent: connected,
            streaming: false,
            status: Status::Complete,
            staff_role: None,
            replaces: None,
            sources: Vec::new(),
            hidden: false,
        });
    }

    fn on_close(&mut self, code: u16, jitter: f64, fx: &mut Vec<Effect>) {
        if !matches!(self.phase, Phase::Connecting | Phase::Connected) {
            return;
        }
        for entry in &mut self.entries {
            entry.sent = false;
            if entry.streaming {
                entry.streaming = false;
                entry.status = Status::Failed;
                entry.version += 1;
            }
        }
        self.typers.clear();
        self.presence = None;
        self.loading_older = false;
        self.awaiting_history = false;
        match close_policy(code) {
            ClosePolicy::Reconnect => {
                self.attempt = self.attempt.saturating_add(1);
                let delay = backoff_ms(self.attempt, jitter);
                self.phase = Phase::Disconnected;
                self.reconnect_in_ms = Some(delay);
                fx.push(Effect::ScheduleReconnect(delay));
            }
            ClosePolicy::NewToken => {
                if self.fresh_token {
                    // A token issued moments ago was refused: asking again would loop.
                    self.phase = Phase::Error;
                    self.set_notice_unless_server("session_expired");
                    fx.push(Effect::ForgetToken);
                    fx.push(Effect::Focus(Focus::Start));
                } else {
                    self.phase = Phase::Disconnected;
                    fx.push(Effect::Reauthenticate);
                }
            }
            ClosePolicy::Revoked => {
                self.phase = Phase::Error;
                self.set_notice_unless_server("session_revoked");
                fx.push(Effect::ForgetToken);
                fx.push(Effect::Focus(Focus::Start));
            }
            ClosePolicy::Context => {
                let code = self.notice.as_ref().map(|n| n.code.clone()).unwrap_or_default();
                if code == "ticket_expired" && self.attempt < 3 {
                    // A slow page or a skewed clock: the next connection fetches a fresh ticket.
                    self.attempt += 1;
                    let delay = backoff_ms(self.attempt, jitter);
                    self.phase = Phase::Disconnected;
                    self.reconnect_in_ms = Some(delay);
                    fx.push(Effect::ScheduleReconnect(delay));
                } else if code == "ticket_mismatch" && !self.fresh_token {
                    // Someone else signed in to the LMS in this browser: the stored token is not theirs.
                    self.phase = Phase::Authenticating;
                    self.prompt = Prompt::Working;
                    self.notice = None;
                    fx.push(Effect::ForgetToken);
                    fx.push(Effect::Authenticate);
                } else {
                    self.phase = Phase::Error;
                    if self.notice.is_none() {
                        self.notice = Some(Notice::new("ticket_invalid", ""));
                    }
                    fx.push(Effect::Focus(Focus::Start));
                }
            }
            ClosePolicy::Stay => {
                self.phase = Phase::Disconnected;
                self.reconnect_in_ms = None;
                self.notice = Some(Notice::new(if code == close::TOO_BIG { "too_large" } else { "closed" }, ""));
            }
        }
    }

    fn set_notice_unless_server(&mut self, code: &str) {
        let from_server = self.notice.as_ref().is_some_and(|n| is_session_code(&n.code));
        if !from_server {
            self.notice = Some(Notice::new(code, ""));
        }
    }
}

/// The `message` frame of one of our messages.
fn message_frame(client_id: &str, content: &str) -> ClientFrame {
    ClientFrame::Message { client_id: client_id.to_owned(), content: content.to_owned() }
}

/// The request for the page of history before the message `before`.
fn history_frame(before: String) -> ClientFrame {
    ClientFrame::History { before: Some(before), limit: Some(i64::from(HISTORY_PAGE)) }
}

/// Notices about the connection, cleared once connected again.
fn is_connection_notice(code: &str) -> bool {
    // A list, not `matches!`: one comparison loop rather than one comparison per code in the .wasm.
    ["closed", "network", "too_many_sockets", "slow_consumer", "auth_timeout", "token_expired", "ticket_expired"]
        .contains(&code)
}

/// Error codes that explain a closed session better than a generic notice.
fn is_session_code(code: &str) -> bool {
    ["invalid_token", "token_expired", "session_revoked", "auth_required"].contains(&code)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(text: &str) -> Event {
        Event::Frame(ServerFrame::from_json(text).unwrap_or_else(|e| panic!("{e}: {text}")))
    }

    fn send(client_id: &str, content: &str) -> Event {
        Event::Send { client_id: client_id.into(), content: content.into(), now: "2026-11-21T13:00:00.000Z".into() }
    }

    /// A state connected as john_doe with an empty history.
    fn connected() -> State {
        let mut s = State::new();
        assert_eq!(s.apply(Event::Start, 0.0), vec![Effect::Authenticate]);
        assert_eq!(s.phase, Phase::Authenticating);
        assert_eq!(
            s.apply(Event::Authenticated { username: Some("john_doe".into()), fresh: true }, 0.0),
            vec![Effect::Connect]
        );
        assert_eq!(s.phase, Phase::Connecting);
        assert_eq!(s.apply(Event::SocketOpened, 0.0), vec![Effect::SendAuth]);
        let fx = s.apply(frame(r#"{"type":"user_info","username":"john_doe","backend":"room"}"#), 0.0);
        assert_eq!(fx, vec![Effect::Focus(Focus::Input)]);
        assert_eq!(s.phase, Phase::Connected);
        s.apply(frame(r#"{"type":"history","messages":[],"has_more":false}"#), 0.0);
        s
    }

    #[test]
    fn the_journey_from_start_to_close() {
        let mut s = connected();
        assert!(s.chat_open());
        let fx = s.apply(send("c-1", "  Hello!  "), 0.0);
        assert_eq!(fx, vec![Effect::Send(message_frame("c-1", "Hello!"))]);
        assert_eq!(s.entries.len(), 1);
        assert_eq!(s.entries[0].delivery, Delivery::Pending);
        assert!(s.entries[0].mine);

        // The acknowledgement matches by client_id.
        s.apply(
            frame(
                r#"{"type":"message","id":"m1","client_id":"c-1","role":"user","content":"Hello!","sender":"john_doe","timestamp":"2026-11-21T13:00:00.123Z"}"#,
            ),
            0.0,
        );
        assert_eq!(s.entries.len(), 1);
        assert_eq!(s.entries[0].delivery, Delivery::Acked);
        assert_eq!(s.entries[0].id.as_deref(), Some("m1"));
        assert_eq!(s.entries[0].version, 1);

        let epoch = s.epoch;
        assert_eq!(s.apply(Event::Close, 0.0), vec![Effect::CloseSocket, Effect::Focus(Focus::Start)]);
        assert_eq!(s.phase, Phase::Idle);
        assert!(s.entries.is_empty());
        assert_eq!(s.username, None);
        assert!(s.epoch > epoch);
    }

    #[test]
    fn empty_messages_and_messages_before_start_are_ignored() {
        let mut s = State::new();
        assert!(s.apply(send("c-1", "hi"), 0.0).is_empty());
        assert!(s.entries.is_empty());
        let mut s = connected();
        assert!(s.apply(send("c-1", "   \n "), 0.0).is_empty());
        assert!(s.entries.is_empty());
    }

    #[test]
    fn too_long_messages_are_refused_locally() {
        let mut s = connected();
        s.max_message_bytes = Some(4);
        assert!(s.apply(send("c-1", "hello"), 0.0).is_empty());
        assert!(s.entries.is_empty());
        assert_eq!(s.notice.as_ref().map(|n| n.code.as_str()), Some("invalid_message"));
    }

    #[test]
    fn streams_accumulate_and_end_with_the_stored_content() {
        let mut s = connected();
        s.apply(frame(r#"{"type":"stream_start","id":"r1","sender":"assistant","timestamp":"t"}"#), 0.0);
        s.apply(frame(r#"{"type":"stream_delta","id":"r1","delta":"Hello! How can"}"#), 0.0);
        s.apply(frame(r#"{"type":"stream_delta","id":"r1","delta":" I help?"}"#), 0.0);
        assert_eq!(s.entries[0].content, "Hello! How can I help?");
        assert!(s.entries[0].streaming);
        assert_eq!(s.streaming_id(), Some("r1"));
        assert_eq!(s.apply(Event::Stop, 0.0), vec![Effect::Send(ClientFrame::Stop { id: "r1".into() })]);
        s.apply(frame(r#"{"type":"stream_end","id":"r1","content":"Hello!","status":"stopped"}"#), 0.0);
        assert_eq!(s.entries.len(), 1);
        assert_eq!(s.entries[0].content, "Hello!");
        assert!(!s.entries[0].streaming);
        assert_eq!(s.entries[0].status, Status::Stopped);
        assert_eq!(s.streaming_id(), None);
        assert!(s.apply(Event::Stop, 0.0).is_empty());
        assert!(!s.entries[0].mine);
    }

    #[test]
    fn a_delta_for_an_unknown_stream_starts_one() {
        let mut s = connected();
        s.apply(frame(r#"{"type":"stream_delta","id":"r9","delta":"partial"}"#), 0.0);
        assert_eq!(s.entries.len(), 1);
        assert!(s.entries[0].streaming);
        // A stored copy of the same reply updates it rather than duplicating it.
        s.apply(
            frame(
                r#"{"type":"message","id":"r9","role":"assistant","content":"partial and more","sender":"assistant"}"#,
            ),
            0.0,
        );
        assert_eq!(s.entries.len(), 1);
        assert!(!s.entries[0].streaming);
        assert_eq!(s.entries[0].content, "partial and more");
    }

    #[test]
    fn others_messages_are_received_and_own_from_other_tabs_are_sent() {
        let mut s = connected();
        s.apply(
            frame(r#"{"type":"message","id":"m1","client_id":"x","role":"user","content":"hi","sender":"jane"}"#),
            0.0,
        );
        s.apply(
            frame(r#"{"type":"message","id":"m2","client_id":"y","role":"user","content":"yo","sender":"john_doe"}"#),
            0.0,
        );
        assert_eq!(s.entries.len(), 2);
        assert!(!s.entries[0].mine);
        assert!(s.entries[1].mine);
    }

    #[test]
    fn reconnects_with_backoff_and_resends_unacknowledged_messages() {
        let mut s = connected();
        s.apply(send("c-1", "one"), 0.0);
        s.apply(frame(r#"{"type":"message","id":"m1","client_id":"c-1","content":"one","sender":"john_doe"}"#), 0.0);
        s.apply(send("c-2", "two"), 0.0);
        s.apply(frame(r#"{"type":"stream_start","id":"r1"}"#), 0.0);

        let fx = s.apply(Event::SocketClosed { code: 1006, jitter: 0.0 }, 0.0);
        assert_eq!(s.phase, Phase::Disconnected);
        assert_eq!(fx, vec![Effect::ScheduleReconnect(backoff_ms(1, 0.0))]);
        assert!(!s.entries[2].streaming, "an interrupted stream stops streaming");
        assert!(s.can_send(), "messages typed while disconnected are queued");
        assert!(s.apply(send("c-3", "three"), 0.0).is_empty());

        // A second failure backs off further.
        assert_eq!(s.apply(Event::ReconnectDue, 0.0), vec![Effect::Connect]);
        let fx = s.apply(Event::SocketClosed { code: 1011, jitter: 0.0 }, 0.0);
        assert_eq!(fx, vec![Effect::ScheduleReconnect(backoff_ms(2, 0.0))]);
        assert!(backoff_ms(2, 0.0) > backoff_ms(1, 0.0));

        assert_eq!(s.apply(Event::ReconnectDue, 0.0), vec![Effect::Connect]);
        assert_eq!(s.apply(Event::SocketOpened, 0.0), vec![Effect::SendAuth]);
        let fx = s.apply(frame(r#"{"type":"user_info","username":"john_doe"}"#), 0.0);
        assert_eq!(
            fx,
            vec![Effect::Send(message_frame("c-2", "two")), Effect::Send(message_frame("c-3", "three")),],
            "the same client_ids, no focus move on a reconnect"
        );
        assert_eq!(s.attempt, 0);

        // The history holds "one", "two" (stored before the drop) and the partial reply.
        s.apply(
            frame(
                r#"{"type":"history","messages":[
                {"id":"m1","client_id":"c-1","role":"user","content":"one","sender":"john_doe"},
                {"id":"m2","client_id":"c-2","role":"user","content":"two","sender":"john_doe"},
                {"id":"r1","role":"assistant","content":"part","sender":"assistant","status":"failed"}],"has_more":true}"#,
            ),
            0.0,
        );
        let contents: Vec<_> = s.entries.iter().map(|e| e.content.as_str()).collect();
        assert_eq!(contents, ["one", "two", "part", "three"]);
        assert_eq!(s.entries[3].delivery, Delivery::Pending);
        assert!(s.has_more);
        // The resend's acknowledgement does not duplicate.
        s.apply(frame(r#"{"type":"message","id":"m2","client_id":"c-2","content":"two","sender":"john_doe"}"#), 0.0);
        s.apply(frame(r#"{"type":"message","id":"m3","client_id":"c-3","content":"three","sender":"john_doe"}"#), 0.0);
        assert_eq!(s.entries.len(), 4);
        assert!(s.entries.iter().all(|e| e.delivery == Delivery::Acked));
    }

    #[test]
    fn close_codes_follow_the_protocol() {
        // 1000 and 1009: no automatic reconnect; the user may reconnect.
        for (code, notice) in [(1000, "closed"), (1009, "too_large")] {
            let mut s = connected();
            assert!(s.apply(Event::SocketClosed { code, jitter: 0.5 }, 0.0).is_empty());
            assert!(s.needs_manual_reconnect());
            assert_eq!(s.notice.as_ref().map(|n| n.code.as_str()), Some(notice));
            assert_eq!(s.apply(Event::Start, 0.0), vec![Effect::Authenticate]);
        }
        // 4403: revoked, the token is forgotten, the user must start again.
        let mut s = connected();
        s.apply(frame(r#"{"type":"error","code":"session_revoked","message":"revoked"}"#), 0.0);
        let fx = s.apply(Event::SocketClosed { code: 4403, jitter: 0.5 }, 0.0);
        assert_eq!(fx, vec![Effect::ForgetToken, Effect::Focus(Focus::Start)]);
        assert_eq!(s.phase, Phase::Error);
        assert_eq!(s.notice.as_ref().map(|n| n.code.as_str()), Some("session_revoked"));
        // 4429 (too many sockets): reconnect with backoff.
        let mut s = connected();
        let fx = s.apply(Event::SocketClosed { code: 4429, jitter: 0.5 }, 0.0);
        assert!(matches!(fx.as_slice(), [Effect::ScheduleReconnect(_)]));
    }

    #[test]
    fn an_expired_token_is_renewed_once() {
        let mut s = connected();
        s.apply(frame(r#"{"type":"error","code":"token_expired","message":"expired"}"#), 0.0);
        assert_eq!(s.apply(Event::SocketClosed { code: 4401, jitter: 0.5 }, 0.0), vec![Effect::Reauthenticate]);
        assert_eq!(s.phase, Phase::Disconnected);
        assert_eq!(s.apply(Event::Authenticated { username: None, fresh: true }, 0.0), vec![Effect::Connect]);
        assert_eq!(s.username.as_deref(), Some("john_doe"));
        // The new token is refused too: stop instead of looping.
        let fx = s.apply(Event::SocketClosed { code: 4401, jitter: 0.5 }, 0.0);
        assert_eq!(fx, vec![Effect::ForgetToken, Effect::Focus(Focus::Start)]);
        assert_eq!(s.phase, Phase::Error);
    }

    /// A state whose socket was refused with 4406 after the gateway said `code`; the token was
    /// `fresh` or from the cache.
    fn context_refused(code: &str, fresh: bool) -> (State, Vec<Effect>) {
        let mut s = State::new();
        s.apply(Event::Start, 0.0);
        s.apply(Event::Authenticated { username: Some("john_doe".into()), fresh }, 0.0);
        s.apply(Event::SocketOpened, 0.0);
        s.apply(frame(&format!(r#"{{"type":"error","code":"{code}","message":"m"}}"#)), 0.0);
        let fx = s.apply(Event::SocketClosed { code: 4406, jitter: 0.5 }, 0.0);
        (s, fx)
    }

    #[test]
    fn a_refused_course_context_is_retried_only_when_a_new_ticket_can_help() {
        // Expired on the way: the next connection fetches a fresh ticket.
        let (s, fx) = context_refused("ticket_expired", true);
        assert!(matches!(fx.as_slice(), [Effect::ScheduleReconnect(_)]), "{fx:?}");
        assert_eq!(s.phase, Phase::Disconnected);
        // Another LMS user in this browser: the stored token is not theirs; sign in afresh.
        let (s, fx) = context_refused("ticket_mismatch", false);
        assert_eq!(fx, vec![Effect::ForgetToken, Effect::Authenticate]);
        assert_eq!(s.phase, Phase::Authenticating);
        // ... but a token just issued for this user is not retried in a loop.
        let (s, fx) = context_refused("ticket_mismatch", true);
        assert_eq!((s.phase, fx), (Phase::Error, vec![Effect::Focus(Focus::Start)]));
        // A ticket the gateway will never accept: stop and say so.
        let (s, fx) = context_refused("ticket_invalid", false);
        assert_eq!((s.phase, fx), (Phase::Error, vec![Effect::Focus(Focus::Start)]));
        assert_eq!(s.notice.as_ref().map(|n| n.code.as_str()), Some("ticket_invalid"));
        // Expired again and again: give up after three tries.
        let mut s = State::new();
        s.apply(Event::Start, 0.0);
        s.apply(Event::Authenticated { username: None, fresh: false }, 0.0);
        for _ in 0..3 {
            s.apply(Event::SocketOpened, 0.0);
            s.apply(frame(r#"{"type":"error","code":"ticket_expired","message":"m"}"#), 0.0);
            s.apply(Event::SocketClosed { code: 4406, jitter: 0.5 }, 0.0);
            assert_eq!(s.apply(Event::ReconnectDue, 0.0), vec![Effect::Connect]);
        }
        s.apply(frame(r#"{"type":"error","code":"ticket_expired","message":"m"}"#), 0.0);
        s.apply(Event::SocketClosed { code: 4406, jitter: 0.5 }, 0.0);
        assert_eq!(s.phase, Phase::Error);
    }

    #[test]
    fn a_page_without_a_ticket_stops_with_its_reason() {
        let mut s = State::new();
        s.apply(Event::Start, 0.0);
        s.apply(Event::Authenticated { username: None, fresh: false }, 0.0);
        let fx = s.apply(Event::TicketFailed { detail: "403 Forbidden".into() }, 0.0);
        assert_eq!(fx, vec![Effect::CloseSocket, Effect::Focus(Focus::Start)]);
        assert_eq!(s.phase, Phase::Error);
        assert_eq!(s.notice, Some(Notice::new("ticket_unavailable", "403 Forbidden")));
        assert_eq!(s.apply(Event::Start, 0.0), vec![Effect::Authenticate], "Start Chat tries again");
    }

    #[test]
    fn course_staff_get_a_badge_and_learners_none() {
        let mut s = connected();
        s.apply(
            frame(r#"{"type":"message","id":"m1","role":"user","content":"Office hours at 5","sender":"ta","sender_role":"staff"}"#),
            0.0,
        );
        s.apply(
            frame(r#"{"type":"message","id":"m2","role":"user","content":"Thanks","sender":"amy","sender_role":"learner"}"#),
            0.0,
        );
        s.apply(frame(r#"{"type":"message","id":"m3","role":"user","content":"Hi","sender":"prof","sender_role":"instructor"}"#), 0.0);
        let badges: Vec<_> = s.entries.iter().map(|e| e.staff_role.as_deref()).collect();
        assert_eq!(badges, [Some("staff"), None, Some("instructor")]);
    }

    #[test]
    fn sign_out_closes_the_chat_and_ends_the_login() {
        let mut s = connected();
        s.apply(send("c-1", "bye"), 0.0);
        let fx = s.apply(Event::SignOut, 0.0);
        assert_eq!(fx, vec![Effect::CloseSocket, Effect::SignOut, Effect::Focus(Focus::Start)]);
        assert_eq!(s.phase, Phase::Idle);
        assert!(s.entries.is_empty() && s.username.is_none());
        assert_eq!(s.notice, Some(Notice::new("signed_out", "")));
        // Start Chat afterwards signs in again.
        assert_eq!(s.apply(Event::Start, 0.0), vec![Effect::Authenticate]);
    }

    #[test]
    fn refused_messages_fail_and_can_be_retried() {
        let mut s = connected();
        s.apply(send("c-1", "spam"), 0.0);
        s.apply(frame(r#"{"type":"error","code":"rate_limited","message":"slow","retry_after":12}"#), 0.0);
        assert_eq!(s.entries[0].delivery, Delivery::Failed);
        assert_eq!(s.notice.as_ref().and_then(|n| n.retry_after), Some(12));
        // Not resent by a reconnect...
        s.apply(Event::SocketClosed { code: 1001, jitter: 0.0 }, 0.0);
        s.apply(Event::ReconnectDue, 0.0);
        let fx = s.apply(frame(r#"{"type":"user_info","username":"john_doe"}"#), 0.0);
        assert!(fx.is_empty());
        // ...only by the user.
        let key = s.entries[0].key;
        assert_eq!(s.apply(Event::Retry { key }, 0.0), vec![Effect::Send(message_frame("c-1", "spam"))]);
        assert_eq!(s.entries[0].delivery, Delivery::Pending);
    }

    #[test]
    fn an_error_naming_a_client_id_fails_that_message_only() {
        let mut s = connected();
        for i in 1..=32 {
            s.apply(send(&format!("c-{i}"), &format!("message {i}")), 0.0);
        }
        s.apply(
            frame(r#"{"type":"error","code":"rate_limited","message":"slow","retry_after":12,"client_id":"c-17"}"#),
            0.0,
        );
        let failed: Vec<_> = s
            .entries
            .iter()
            .filter(|e| e.delivery == Delivery::Failed)
            .filter_map(|e| e.client_id.as_deref())
            .collect();
        assert_eq!(failed, ["c-17"], "the message the gateway named, not the first one in flight");
        assert_eq!(s.entries.iter().filter(|e| e.delivery == Delivery::Pending).count(), 31);
        assert_eq!(s.notice.as_ref().map(|n| n.code.as_str()), Some("rate_limited"));
        // An `internal` error naming a message means it was not stored: it fails too.
        s.apply(frame(r#"{"type":"error","code":"internal","message":"x","client_id":"c-3"}"#), 0.0);
        assert_eq!(s.entries[2].delivery, Delivery::Failed);
        // A client_id we do not have (another tab's) changes no message.
        s.apply(frame(r#"{"type":"error","code":"invalid_message","message":"x","client_id":"c-other"}"#), 0.0);
        assert_eq!(s.entries.iter().filter(|e| e.delivery == Delivery::Failed).count(), 2);
    }

    #[test]
    fn an_error_without_a_client_id_fails_the_oldest_message_in_flight() {
        // Gateways that do not name the message: the oldest sent and unacknowledged one is taken.
        let mut s = connected();
        s.apply(send("c-1", "one"), 0.0);
        s.apply(send("c-2", "two"), 0.0);
        s.apply(frame(r#"{"type":"error","code":"invalid_message","message":"empty"}"#), 0.0);
        assert_eq!(s.entries[0].delivery, Delivery::Failed);
        assert_eq!(s.entries[1].delivery, Delivery::Pending);
        // Errors about no message in particular fail none.
        s.apply(frame(r#"{"type":"error","code":"internal","message":"x"}"#), 0.0);
        assert_eq!(s.entries[1].delivery, Delivery::Pending);
    }

    #[test]
    fn backend_errors_keep_the_message() {
        let mut s = connected();
        s.apply(send("c-1", "question"), 0.0);
        s.apply(
            frame(r#"{"type":"message","id":"m1","client_id":"c-1","content":"question","sender":"john_doe"}"#),
            0.0,
        );
        s.apply(frame(r#"{"type":"error","code":"backend_unavailable","message":"down"}"#), 0.0);
        assert_eq!(s.entries[0].delivery, Delivery::Acked);
        assert_eq!(s.notice.as_ref().map(|n| n.code.as_str()), Some("backend_unavailable"));
        assert_eq!(s.apply(Event::DismissNotice, 0.0), vec![]);
        assert_eq!(s.notice, None);
    }

    #[test]
    fn typing_and_presence() {
        let mut s = connected();
        s.apply(frame(r#"{"type":"typing","username":"jane","is_typing":true}"#), 1000.0);
        s.apply(frame(r#"{"type":"typing","username":"john_doe","is_typing":true}"#), 1000.0);
        s.apply(frame(r#"{"type":"presence","count":3}"#), 1000.0);
        assert_eq!(s.typers.len(), 1);
        assert_eq!(s.presence, Some(3));
        s.apply(Event::Tick, 2000.0);
        assert_eq!(s.typers.len(), 1);
        s.apply(Event::Tick, 1000.0 + TYPING_TTL_MS + 1.0);
        assert!(s.typers.is_empty());
        s.apply(frame(r#"{"type":"typing","username":"jane","is_typing":true}"#), 1000.0);
        s.apply(frame(r#"{"type":"message","id":"m","content":"x","sender":"jane"}"#), 1000.0);
        assert!(s.typers.is_empty(), "a message ends the sender's typing");
    }

    #[test]
    fn older_pages_are_prepended_without_duplicates() {
        let mut s = connected();
        s.apply(
            frame(r#"{"type":"history","messages":[{"id":"m5","content":"five","sender":"a"}],"has_more":true}"#),
            0.0,
        );
        // (the initial history was already consumed: this is a page)
        assert_eq!(s.apply(Event::LoadEarlier, 0.0), vec![Effect::Send(history_frame("m5".into()))]);
        assert!(s.apply(Event::LoadEarlier, 0.0).is_empty(), "one request at a time");
        let epoch = s.epoch;
        s.apply(
            frame(
                r#"{"type":"history","messages":[{"id":"m3","content":"three","sender":"a"},{"id":"m5","content":"five","sender":"a"}],"has_more":false}"#,
            ),
            0.0,
        );
        let contents: Vec<_> = s.entries.iter().map(|e| e.content.as_str()).collect();
        assert_eq!(contents, ["three", "five"]);
        assert!(!s.has_more);
        assert!(s.epoch > epoch);
    }

    #[test]
    fn sign_in_failures_and_cancellation() {
        let mut s = State::new();
        s.apply(Event::Start, 0.0);
        s.apply(Event::Prompt(Prompt::PopupBlocked), 0.0);
        assert_eq!(s.prompt, Prompt::PopupBlocked);
        let fx = s.apply(Event::AuthFailed { code: "auth_failed".into(), detail: "access_denied".into() }, 0.0);
        assert_eq!(fx, vec![Effect::Focus(Focus::Start)]);
        assert_eq!(s.phase, Phase::Error);
        assert_eq!(s.apply(Event::Start, 0.0), vec![Effect::Authenticate]);
        assert_eq!(s.notice, None);
        assert_eq!(s.apply(Event::CancelAuth, 0.0), vec![Effect::CloseSocket, Effect::Focus(Focus::Start)]);
        assert_eq!(s.phase, Phase::Idle);
        // A late answer after cancelling changes nothing.
        assert!(s.apply(Event::Authenticated { username: None, fresh: true }, 0.0).is_empty());
        assert_eq!(s.phase, Phase::Idle);
    }

    /// A state connected to an assistant whose course team set `context` (JSON members).
    fn assistant(context: &str) -> State {
        let mut s = State::new();
        s.apply(Event::Start, 0.0);
        s.apply(Event::Authenticated { username: Some("john_doe".into()), fresh: true }, 0.0);
        s.apply(Event::SocketOpened, 0.0);
        s.apply(
            frame(&format!(
                r#"{{"type":"user_info","username":"john_doe","backend":"openai","context":{{{context}}}}}"#
            )),
            0.0,
        );
        s
    }

    fn reply(id: &str, extra: &str) -> Event {
        frame(&format!(
            r#"{{"type":"message","id":"{id}","role":"assistant","content":"{id}","sender":"assistant"{extra}}}"#
        ))
    }

    #[test]
    fn starters_are_offered_only_while_the_conversation_is_empty() {
        let mut s = assistant(r#""starters":["One?","Two?","Three?","Four?","Five?"]"#);
        assert_eq!(s.context.starters, ["One?", "Two?", "Three?", "Four?"], "four at most");
        assert!(!s.show_starters(), "not before the history says the conversation is empty");
        s.apply(frame(r#"{"type":"history","messages":[],"has_more":false}"#), 0.0);
        assert!(s.show_starters());
        s.apply(send("c-1", "One?"), 0.0);
        assert!(!s.show_starters(), "gone with the first message");
        // A conversation with a history has no starters.
        let mut s = assistant(r#""starters":["One?"]"#);
        s.apply(frame(r#"{"type":"history","messages":[{"id":"m1","content":"hi","sender":"john_doe"}]}"#), 0.0);
        assert!(!s.show_starters());
        // Neither has a room (the controls are the assistant's), nor a chat that is not connected.
        let mut s = connected();
        s.apply(frame(r#"{"type":"user_info","username":"john_doe","backend":"room","context":{"starters":["x"],"exam":true}}"#), 0.0);
        s.apply(frame(r#"{"type":"history","messages":[]}"#), 0.0);
        assert!(s.context.starters.is_empty() && !s.context.exam && !s.show_starters());
        assert!(s.can_send());
    }

    #[test]
    fn the_disclosure_must_be_accepted_before_sending() {
        let mut s =
            assistant(r#""starters":["Hi?"],"disclosure":{"text":"AI may be wrong.","version":"v1","accepted":false}"#);
        s.apply(frame(r#"{"type":"history","messages":[]}"#), 0.0);
        assert_eq!(s.unaccepted().map(|d| d.text.as_str()), Some("AI may be wrong."));
        assert!(!s.can_send() && !s.show_starters());
        assert!(s.apply(send("c-1", "hello"), 0.0).is_empty(), "nothing is sent before the user accepts");
        assert!(s.entries.is_empty());
        let fx = s.apply(Event::AcceptDisclosure, 0.0);
        assert_eq!(
            fx,
            vec![Effect::Send(ClientFrame::AcceptDisclosure { version: "v1".into() }), Effect::Focus(Focus::Input)]
        );
        assert!(s.can_send() && s.show_starters() && s.unaccepted().is_none());
        assert!(s.apply(Event::AcceptDisclosure, 0.0).is_empty(), "accepted once");

        // The text changed meanwhile: the gateway refuses the message; the notice comes back and the
        // message waits for the new acceptance, then goes with the same client_id.
        s.apply(send("c-1", "hello"), 0.0);
        s.apply(frame(r#"{"type":"error","code":"disclosure_required","message":"m","client_id":"c-1"}"#), 0.0);
        assert!(!s.can_send() && s.unaccepted().is_some());
        assert_eq!((s.entries[0].delivery, s.entries[0].sent), (Delivery::Pending, false));
        assert_eq!(s.notice, None, "the disclosure says why");
        let fx = s.apply(Event::AcceptDisclosure, 0.0);
        assert_eq!(fx[1], Effect::Send(message_frame("c-1", "hello")));
        // After a reconnect, an accepted disclosure holds nothing back.
        let s = assistant(r#""disclosure":{"text":"t","version":"v1","accepted":true}"#);
        assert!(s.can_send());
    }

    #[test]
    fn an_exam_turns_the_assistant_off() {
        let mut s = assistant(r#""exam":true,"starters":["x"]"#);
        s.apply(frame(r#"{"type":"history","messages":[]}"#), 0.0);
        assert!(!s.can_send() && !s.show_starters());
        assert!(s.apply(send("c-1", "hello"), 0.0).is_empty());
        // An exam that starts while connected: the gateway refuses the message and says why.
        let mut s = assistant("");
        s.apply(send("c-1", "hello"), 0.0);
        s.apply(frame(r#"{"type":"error","code":"exam_mode","message":"m","client_id":"c-1"}"#), 0.0);
        assert!(s.context.exam && !s.can_send());
        assert_eq!(s.entries[0].delivery, Delivery::Failed);
    }

    #[test]
    fn only_the_newest_version_of_a_regenerated_reply_is_shown() {
        let mut s = assistant("");
        s.apply(
            frame(
                r#"{"type":"history","messages":[
                {"id":"q1","role":"user","content":"q","sender":"john_doe"},
                {"id":"r1","role":"assistant","content":"r1","sender":"assistant","reply_to":"q1"},
                {"id":"r2","role":"assistant","content":"r2","sender":"assistant","reply_to":"q1","replaces":"r1"}]}"#,
            ),
            0.0,
        );
        let ids: Vec<_> = s.entries.iter().filter_map(|e| e.id.as_deref()).collect();
        assert_eq!(ids, ["q1", "r2"]);
        // An older page holding a replaced version does not bring it back.
        s.has_more = true;
        s.apply(Event::LoadEarlier, 0.0);
        s.apply(
            frame(
                r#"{"type":"history","messages":[{"id":"r1","role":"assistant","content":"r1","sender":"assistant"}]}"#,
            ),
            0.0,
        );
        assert_eq!(s.entries.len(), 2);
        // Live: the new version's stream takes the old one's place.
        s.apply(
            frame(r#"{"type":"stream_start","id":"r3","reply_to":"q1","replaces":"r2","sender":"assistant"}"#),
            0.0,
        );
        let ids: Vec<_> = s.entries.iter().filter_map(|e| e.id.as_deref()).collect();
        assert_eq!(ids, ["q1", "r3"]);
        assert!(s.entries[1].streaming);
    }

    #[test]
    fn each_version_of_a_reply_keeps_its_own_sources() {
        let source = |n: u64| {
            format!(r#"{{"n":{n},"title":"T{n}","breadcrumb":"A › B","url":"https://lms/{n}","snippet":"s{n}"}}"#)
        };
        let mut s = assistant("");
        s.apply(
            frame(&format!(
                r#"{{"type":"history","messages":[
                {{"id":"q1","role":"user","content":"q","sender":"john_doe"}},
                {{"id":"r1","role":"assistant","content":"a [1]","sender":"assistant","sources":[{}]}}]}}"#,
                source(1)
            )),
            0.0,
        );
        assert_eq!(s.entries[1].sources.iter().map(|x| x.n).collect::<Vec<_>>(), [1], "history replay");
        assert_eq!(s.entries[1].sources[0].url, "https://lms/1");
        assert!(s.entries[0].sources.is_empty());
        // A new version streams with none, then ends with its own; the old version (and its sources) goes.
        s.apply(
            frame(r#"{"type":"stream_start","id":"r2","reply_to":"q1","replaces":"r1","sender":"assistant"}"#),
            0.0,
        );
        assert!(s.entries[1].sources.is_empty());
        s.apply(
            frame(&format!(
                r#"{{"type":"stream_end","id":"r2","content":"b [2] [3]","status":"complete","sources":[{},{}]}}"#,
                source(2),
                source(3)
            )),
            0.0,
        );
        assert_eq!(s.entries.len(), 2);
        assert_eq!(s.entries[1].sources.iter().map(|x| x.n).collect::<Vec<_>>(), [2, 3]);
        assert_eq!(s.entries[1].content, "b [2] [3]", "the markers stay in the text");
        // A version without sources has none.
        s.apply(
            frame(r#"{"type":"stream_start","id":"r3","reply_to":"q1","replaces":"r2","sender":"assistant"}"#),
            0.0,
        );
        s.apply(frame(r#"{"type":"stream_end","id":"r3","content":"c","status":"complete"}"#), 0.0);
        assert!(s.entries[1].sources.is_empty());
        // The stored copy of a reply (another tab) brings its sources.
        s.apply(
            frame(&format!(
                r#"{{"type":"message","id":"r3","role":"assistant","content":"c [4]","sender":"assistant","sources":[{}]}}"#,
                source(4)
            )),
            0.0,
        );
        assert_eq!(s.entries[1].sources.iter().map(|x| x.n).collect::<Vec<_>>(), [4]);
    }

    #[test]
    fn only_the_latest_reply_is_regenerated_once_no_reply_streams() {
        let mut s = assistant("");
        s.apply(frame(r#"{"type":"history","messages":[]}"#), 0.0);
        assert!(s.latest_reply().is_none());
        assert!(s.apply(Event::Regenerate, 0.0).is_empty(), "no reply yet");
        s.apply(reply("r1", ""), 0.0);
        s.apply(reply("r2", ""), 0.0);
        s.apply(frame(r#"{"type":"message","id":"q3","role":"user","content":"q","sender":"john_doe"}"#), 0.0);
        assert_eq!(s.latest_reply().map(|e| e.key), Some(s.entries[1].key), "the latest assistant reply");
        let fx = s.apply(Event::Regenerate, 0.0);
        assert_eq!(fx, vec![Effect::Send(ClientFrame::Regenerate { id: "r2".into() })]);
        assert!(
            s.latest_reply().is_none() && s.apply(Event::Regenerate, 0.0).is_empty(),
            "once, until the reply starts"
        );
        s.apply(frame(r#"{"type":"stream_start","id":"r4","replaces":"r2","sender":"assistant"}"#), 0.0);
        assert!(s.latest_reply().is_none(), "not while a reply streams");
        s.apply(frame(r#"{"type":"stream_end","id":"r4","content":"new","status":"complete"}"#), 0.0);
        assert_eq!(s.latest_reply().and_then(|e| e.id.as_deref()), Some("r4"));
        // A refusal lets the user try again; so does a reconnect.
        s.apply(Event::Regenerate, 0.0);
        s.apply(frame(r#"{"type":"error","code":"not_found","message":"m"}"#), 0.0);
        assert!(s.latest_reply().is_some());
        // Not in a room, nor while disconnected.
        s.apply(Event::SocketClosed { code: 1001, jitter: 0.0 }, 0.0);
        assert!(s.latest_reply().is_none());
    }

    #[test]
    fn the_room_assistants_reply_is_not_regenerated_in_the_room() {
        let mut s = connected();
        s.apply(frame(r#"{"type":"history","messages":[]}"#), 0.0);
        s.apply(reply("r1", ""), 0.0);
        assert!(s.entries.iter().any(|e| e.role == Role::Assistant), "the reply is shown");
        assert!(s.latest_reply().is_none() && s.apply(Event::Regenerate, 0.0).is_empty());
    }

    #[test]
    fn a_tab_switch_reconnects_into_the_other_conversation() {
        let mut s = State::new();
        assert!(s.apply(Event::Tab(Tab::Room), 0.0).is_empty(), "no tabs: nothing to switch");
        assert_eq!(s.tab, None);
        // Closed: the tab is picked for the next Start Chat.
        s.tab = Some(Tab::Assistant);
        assert!(s.apply(Event::Tab(Tab::Room), 0.0).is_empty());
        assert_eq!((s.tab, s.phase), (Some(Tab::Room), Phase::Idle));
        s.apply(Event::Start, 0.0);
        s.apply(Event::Authenticated { username: Some("john_doe".into()), fresh: true }, 0.0);
        s.apply(Event::SocketOpened, 0.0);
        s.apply(
            frame(r#"{"type":"user_info","username":"john_doe","backend":"room","conversation_id":"room-1"}"#),
            0.0,
        );
        s.apply(frame(r#"{"type":"history","messages":[{"id":"m1","content":"hi","sender":"jane"}]}"#), 0.0);
        s.apply(send("c-1", "unsent"), 0.0);
        s.apply(frame(r#"{"type":"presence","count":3}"#), 0.0);
        assert_eq!((s.conversation_id.as_str(), s.entries.len()), ("room-1", 2));
        assert!(s.apply(Event::Tab(Tab::Room), 0.0).is_empty(), "the tab shown: nothing to do");

        let epoch = s.epoch;
        assert_eq!(s.apply(Event::Tab(Tab::Assistant), 0.0), vec![Effect::Connect]);
        assert_eq!((s.phase, s.tab), (Phase::Connecting, Some(Tab::Assistant)));
        assert!(s.entries.is_empty() && s.epoch > epoch, "the room's messages go, its unsent one too");
        assert_eq!((s.presence, s.conversation_id.as_str(), s.backend.as_str()), (None, "", ""));
        assert_eq!(s.username.as_deref(), Some("john_doe"));
        s.apply(Event::SocketOpened, 0.0);
        let fx = s.apply(frame(r#"{"type":"user_info","username":"john_doe","backend":"openai"}"#), 0.0);
        assert!(fx.is_empty(), "nothing resent, and the focus stays on the tab");
        // A gateway that cannot serve the assistant keeps the room: the tab says so.
        s.apply(Event::Tab(Tab::Room), 0.0);
        s.apply(Event::Tab(Tab::Assistant), 0.0);
        s.apply(frame(r#"{"type":"user_info","username":"john_doe","backend":"room"}"#), 0.0);
        assert_eq!(s.tab, Some(Tab::Room));
        // Close Chat keeps the tab.
        s.apply(Event::Close, 0.0);
        assert_eq!(s.tab, Some(Tab::Room));
    }

    #[test]
    fn a_deleted_conversation_goes_and_the_chat_reconnects() {
        let mut s = assistant("");
        s.apply(frame(r#"{"type":"history","messages":[{"id":"m1","content":"hi","sender":"john_doe"}]}"#), 0.0);
        assert_eq!(s.apply(Event::ConversationDeleted, 0.0), vec![Effect::Connect]);
        assert!(s.entries.is_empty());
        assert_eq!(s.phase, Phase::Connecting);
        s.apply(Event::Close, 0.0);
        assert!(s.apply(Event::ConversationDeleted, 0.0).is_empty(), "closed: nothing to reconnect");
    }

    #[test]
    fn the_pinned_announcement_is_set_replaced_and_cleared() {
        let mut s = connected();
        assert_eq!(s.pinned, None);
        s.apply(
            frame(r#"{"type":"pinned","content":"Office hours moved to Thursday 5 pm.","sender":"prof_ada","timestamp":"t"}"#),
            0.0,
        );
        assert_eq!(s.pinned, Some(("Office hours moved to Thursday 5 pm.".into(), "prof_ada".into())));
        s.apply(frame(r#"{"type":"pinned","content":"Quiz on Friday.","sender":"ta","timestamp":"t"}"#), 0.0);
        assert_eq!(s.pinned, Some(("Quiz on Friday.".into(), "ta".into())), "another one takes its place");
        s.apply(frame(r#"{"type":"pinned","content":"","sender":"","timestamp":""}"#), 0.0);
        assert_eq!(s.pinned, None, "unpinned");
        // A new connection forgets it: the gateway pins it again after the history if it is still there.
        s.apply(frame(r#"{"type":"pinned","content":"Quiz on Friday.","sender":"ta"}"#), 0.0);
        s.apply(Event::SocketClosed { code: 1001, jitter: 0.0 }, 0.0);
        assert!(s.pinned.is_some(), "kept while reconnecting");
        s.apply(Event::ReconnectDue, 0.0);
        s.apply(frame(r#"{"type":"user_info","username":"john_doe","backend":"room"}"#), 0.0);
        assert_eq!(s.pinned, None);
        // Closing the chat forgets it too.
        s.apply(frame(r#"{"type":"pinned","content":"Quiz on Friday.","sender":"ta"}"#), 0.0);
        s.apply(Event::Close, 0.0);
        assert_eq!(s.pinned, None);
    }

    #[test]
    fn a_message_removed_by_staff_is_replaced_by_the_notice_then_restored() {
        let mut s = assistant("");
        s.apply(
            frame(
                r#"{"type":"history","messages":[
                {"id":"q1","role":"user","content":"my question","sender":"john_doe"},
                {"id":"r1","role":"assistant","content":"**the** reply","sender":"assistant","reply_to":"q1"}]}"#,
            ),
            0.0,
        );
        assert_eq!(s.latest_reply().and_then(|e| e.id.as_deref()), Some("r1"));
        let version = s.entries[1].version;
        s.apply(
            frame(
                r#"{"type":"message","id":"r1","role":"assistant","content":"Removed by course staff.","sender":"assistant","hidden":true}"#,
            ),
            0.0,
        );
        assert_eq!(s.entries.len(), 2, "in place, not a new message");
        let hidden = &s.entries[1];
        assert!(hidden.hidden && hidden.version > version);
        assert_eq!(hidden.content, "Removed by course staff.");
        assert!(s.latest_reply().is_none(), "a removed reply is not regenerated");
        assert!(s.apply(Event::Regenerate, 0.0).is_empty());
        // Restored: the original again, not hidden.
        s.apply(
            frame(r#"{"type":"message","id":"r1","role":"assistant","content":"**the** reply","sender":"assistant"}"#),
            0.0,
        );
        assert!(!s.entries[1].hidden);
        assert_eq!(s.entries[1].content, "**the** reply");
        assert_eq!(s.latest_reply().map(|e| e.key), Some(s.entries[1].key));
        // A history replay brings removed messages as removed.
        s.apply(Event::SocketClosed { code: 1001, jitter: 0.0 }, 0.0);
        s.apply(Event::ReconnectDue, 0.0);
        s.apply(frame(r#"{"type":"user_info","username":"john_doe","backend":"openai"}"#), 0.0);
        s.apply(
            frame(
                r#"{"type":"history","messages":[{"id":"q1","role":"user","content":"Removed by course staff.","sender":"john_doe","hidden":true}]}"#,
            ),
            0.0,
        );
        assert!(s.entries[0].hidden && s.entries[0].mine);
    }

    #[test]
    fn a_muted_message_fails_and_is_never_resent_by_itself() {
        let mut s = connected();
        s.apply(send("c-1", "hello"), 0.0);
        s.apply(send("c-2", "anyone?"), 0.0);
        s.apply(
            frame(r#"{"type":"error","code":"muted","message":"Muted.","retry_after":3480,"client_id":"c-1"}"#),
            0.0,
        );
        assert_eq!((s.entries[0].delivery, s.entries[0].sent), (Delivery::Failed, false));
        assert_eq!(s.entries[1].delivery, Delivery::Pending, "only the message it names");
        let notice = s.notice.as_ref().map(|n| (n.code.as_str(), n.retry_after));
        assert_eq!(notice, Some(("muted", Some(3480))));
        // Time passing resends nothing (no timer waits for retry_after) ...
        assert!(s.apply(Event::Tick, 3_480_000.0 + 1.0).is_empty());
        // ... nor does a reconnect (the pending one goes again; the muted one does not) ...
        s.apply(Event::SocketClosed { code: 1001, jitter: 0.0 }, 0.0);
        s.apply(Event::ReconnectDue, 0.0);
        let fx = s.apply(frame(r#"{"type":"user_info","username":"john_doe","backend":"room"}"#), 0.0);
        assert_eq!(fx, vec![Effect::Send(message_frame("c-2", "anyone?"))]);
        assert_eq!(s.entries[0].delivery, Delivery::Failed);
        // ... only the user's Retry.
        let key = s.entries[0].key;
        assert_eq!(s.apply(Event::Retry { key }, 0.0), vec![Effect::Send(message_frame("c-1", "hello"))]);
        // An older gateway that names no message: the oldest in flight is the one refused.
        let mut s = connected();
        s.apply(send("c-1", "hello"), 0.0);
        s.apply(frame(r#"{"type":"error","code":"muted","message":"Muted.","retry_after":60}"#), 0.0);
        assert_eq!(s.entries[0].delivery, Delivery::Failed);
    }

    #[test]
    fn frames_are_ignored_when_not_connected() {
        let mut s = State::new();
        s.apply(frame(r#"{"type":"message","id":"m","content":"x","sender":"jane"}"#), 0.0);
        assert!(s.entries.is_empty());
    }
}
