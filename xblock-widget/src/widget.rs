//! The controller: owns the state, the view, the socket, the timers and the sign-in in progress.
//! Browser events become [`Event`]s; [`State::apply`] turns them into [`Effect`]s, carried out here;
//! the view is re-rendered once the events queued meanwhile are all applied.
//!
//! Every callback holds a `Weak` reference to the widget, so nothing keeps an unmounted widget
//! alive, and every callback is owned by an RAII handle ([`Listener`], [`Timeout`], [`Interval`],
//! [`Socket`]) that unregisters it on drop.

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::rc::{Rc, Weak};

use wasm_bindgen::JsCast;
use wasm_bindgen_futures::spawn_local;
use web_sys::{Element, KeyboardEvent, MessageEvent};

use crate::auth::{self, AuthMessage, TokenCache, TokenSet};
use crate::handles::{Channel, Interval, Listener, Timeout, sleep};
use crate::log;
use crate::protocol::{self, ServerFrame, TokenGrant};
use crate::settings::{AuthMode, Settings};
use crate::socket::{Socket, SocketEvent};
use crate::state::{Effect, Event, Focus, Notice, Phase, Prompt, State};
use crate::view::View;

/// How long a popup sign-in may take.
const SIGN_IN_TIMEOUT_MS: u32 = 5 * 60 * 1000;
/// The housekeeping tick (typing indicators expire; every `PING_EVERY` ticks a ping keeps proxies awake).
const TICK_MS: u32 = 2500;
const PING_EVERY: u32 = 10;
/// Typing: at most one `typing: true` per this long, and `typing: false` after this long idle.
const TYPING_REPEAT_MS: f64 = 3000.0;
const TYPING_IDLE_MS: u32 = 4000;

/// Where focus goes after the next render.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum FocusTarget {
    Input,
    Start,
    Login,
}

/// Browser resources of a running chat.
#[derive(Debug, Default)]
struct Io {
    socket: Option<Socket>,
    token: Option<TokenSet>,
    /// The chat ticket fetched for the socket being opened, sent with its `auth` frame.
    ticket: Option<String>,
    reconnect: Option<Timeout>,
    refresh: Option<Timeout>,
    refreshing: bool,
    ticker: Option<Interval>,
    ticks: u32,
    typing_stop: Option<Timeout>,
    typing_sent_at: f64,
    /// Bumped whenever a sign-in attempt starts or ends: late answers of an old attempt are ignored.
    auth_gen: u32,
    auth_listener: Option<Listener>,
    /// The relay page's channel, while a popup sign-in waits.
    auth_channel: Option<Channel>,
    auth_timeout: Option<Timeout>,
    popup: Option<web_sys::Window>,
}

/// A mounted widget.
#[derive(Debug)]
pub struct Widget {
    me: Weak<Widget>,
    settings: Settings,
    /// The page's `get_ticket()`: in a course, a fresh LMS-signed ticket before each connection.
    ticket_source: Option<js_sys::Function>,
    mount: Element,
    view: View,
    cache: Option<TokenCache>,
    state: RefCell<State>,
    queue: RefCell<VecDeque<Event>>,
    busy: Cell<bool>,
    alive: Cell<bool>,
    focus: Cell<Option<FocusTarget>>,
    io: RefCell<Io>,
    listeners: RefCell<Vec<Listener>>,
}

/// Drops a browser resource on a later microtask, so that a callback never frees its own closure
/// while it runs (e.g. the socket's close handler discarding the socket).
fn defer_drop<T: 'static>(value: T) {
    // One future type for every T (each spawned future type costs its own copy of the task code).
    fn later(value: Box<dyn std::any::Any>) {
        spawn_local(async move { drop(value) });
    }
    later(Box::new(value));
}

impl Widget {
    /// Creates the widget over a built view and wires its controls.
    pub fn new(settings: Settings, ticket_source: Option<js_sys::Function>, mount: Element, view: View) -> Rc<Self> {
        let cache = (settings.auth_mode != AuthMode::Token).then(|| TokenCache::new(&settings.gateway_origin));
        let widget = Rc::new_cyclic(|me| Self {
            me: me.clone(),
            settings,
            ticket_source,
            mount,
            view,
            cache,
            state: RefCell::new(State::new()),
            queue: RefCell::new(VecDeque::new()),
            busy: Cell::new(false),
            alive: Cell::new(true),
            focus: Cell::new(None),
            io: RefCell::new(Io::default()),
            listeners: RefCell::new(Vec::new()),
        });
        widget.wire();
        widget.view.render(&widget.state.borrow());
        widget
    }

    /// The element the widget is mounted in.
    #[must_use]
    pub fn mount_element(&self) -> &Element {
        &self.mount
    }

    /// The phase, as a word (`idle`, `connected`…), for pages and tests.
    #[must_use]
    pub fn phase_name(&self) -> &'static str {
        match self.state.borrow().phase {
            Phase::Idle => "idle",
            Phase::Authenticating => "authenticating",
            Phase::Connecting => "connecting",
            Phase::Connected => "connected",
            Phase::Disconnected => "disconnected",
            Phase::Error => "error",
        }
    }

    /// Starts the chat as if Start Chat was activated (the `token` mode starts by itself).
    pub fn start(&self) {
        self.dispatch(Event::Start);
    }

    /// Closes everything and removes the widget from the page.
    pub fn teardown(&self) {
        if !self.alive.replace(false) {
            return;
        }
        log::info("Unmounting the chat widget");
        self.queue.borrow_mut().clear();
        let io = std::mem::take(&mut *self.io.borrow_mut());
        if let Some(socket) = &io.socket {
            socket.shutdown();
        }
        let listeners = std::mem::take(&mut *self.listeners.borrow_mut());
        defer_drop((io, listeners));
        self.view.remove();
    }

    /// Queues an event and, unless already doing so, applies queued events, runs their effects and
    /// renders.
    pub fn dispatch(&self, event: Event) {
        if !self.alive.get() {
            return;
        }
        self.queue.borrow_mut().push_back(event);
        if self.busy.replace(true) {
            return;
        }
        loop {
            let next = self.queue.borrow_mut().pop_front();
            let Some(event) = next else { break };
            let effects = self.state.borrow_mut().apply(event, auth::now_ms());
            for effect in effects {
                self.run(effect);
            }
        }
        self.busy.set(false);
        if !self.alive.get() {
            return;
        }
        let state = self.state.borrow();
        self.view.render(&state);
        let chat_open = state.chat_open();
        drop(state);
        self.sync_ticker(chat_open);
        match self.focus.take() {
            Some(FocusTarget::Input) => self.view.focus_input(),
            Some(FocusTarget::Start) => self.view.focus_start(),
            Some(FocusTarget::Login) => self.view.focus_login(),
            None => {}
        }
    }

    fn run(&self, effect: Effect) {
        match effect {
            Effect::Authenticate => self.authenticate(),
            Effect::Reauthenticate => self.reauthenticate(),
            Effect::Connect => self.connect(),
            Effect::SendAuth => {
                let (token, ticket) = {
                    let mut io = self.io.borrow_mut();
                    (io.token.as_ref().map(|t| t.access_token.clone()), io.ticket.take())
                };
                match token {
                    Some(token) => {
                        log::info(&format!(
                            "Using access_token for WebSocket: {}{}",
                            log::redact_token(&token),
                            if ticket.is_some() { ", with the course's chat ticket" } else { "" }
                        ));
                        self.send_raw(&protocol::auth_frame(&token, ticket.as_deref()));
                    }
                    None => log::error("No access token to authenticate the WebSocket with"),
                }
            }
            Effect::Send(frame) => {
                log::info(&format!("Sending message: {}", log::redact_json(&frame)));
                self.send_raw(&frame);
            }
            Effect::ScheduleReconnect(ms) => {
                log::info(&format!("Reconnecting in {ms} ms"));
                let me = self.me.clone();
                let timer = Timeout::new(ms, move || {
                    if let Some(w) = me.upgrade() {
                        w.dispatch(Event::ReconnectDue);
                    }
                });
                if let Some(old) = self.io.borrow_mut().reconnect.replace(timer) {
                    defer_drop(old);
                }
            }
            Effect::CloseSocket => {
                let mut io = self.io.borrow_mut();
                io.auth_gen += 1;
                let popup = io.popup.take();
                let parts = (
                    io.socket.take(),
                    io.reconnect.take(),
                    io.refresh.take(),
                    io.typing_stop.take(),
                    (io.auth_listener.take(), io.auth_channel.take(), io.auth_timeout.take()),
                );
                io.typing_sent_at = 0.0;
                drop(io);
                if let Some(socket) = &parts.0 {
                    log::info("Closing the WebSocket connection");
                    socket.shutdown();
                }
                if let Some(popup) = popup.filter(|p| !p.closed().unwrap_or(true)) {
                    let _ = popup.close();
                }
                defer_drop(parts);
            }
            Effect::ForgetToken => {
                log::info("Forgetting the stored access token");
                if let Some(cache) = &self.cache {
                    cache.clear();
                }
                let mut io = self.io.borrow_mut();
                io.token = None;
                let refresh = io.refresh.take();
                drop(io);
                defer_drop(refresh);
            }
            Effect::SignOut => {
                let token = self.io.borrow().token.as_ref().map(|t| t.access_token.clone());
                log::info("Signing out");
                if let Some(token) = token {
                    let settings = self.settings.clone();
                    spawn_local(async move {
                        if let Err((code, _)) = auth::logout(&settings, &token).await {
                            log::warn(&format!("Sign-out was not confirmed by the gateway: {code}"));
                        }
                    });
                }
                self.run(Effect::ForgetToken);
            }
            Effect::Focus(Focus::Input) => self.focus.set(Some(FocusTarget::Input)),
            Effect::Focus(Focus::Start) => self.focus.set(Some(FocusTarget::Start)),
        }
    }

    fn send_raw(&self, text: &str) -> bool {
        let io = self.io.borrow();
        io.socket.as_ref().is_some_and(|s| s.send(text))
    }

    // -----------------------------------------------------------------------------------------
    // Controls.

    /// Listens for `kind` on `target` while the widget lives. `handler` is a plain function, so that
    /// every listener shares one closure type (each closure type costs its own glue in the .wasm).
    fn on(&self, target: &web_sys::EventTarget, kind: &'static str, handler: fn(&Self, web_sys::Event)) {
        let me = self.me.clone();
        let listener = Listener::new(target, kind, move |event| {
            if let Some(w) = me.upgrade() {
                handler(&w, event);
            }
        });
        self.listeners.borrow_mut().push(listener);
    }

    fn wire(&self) {
        let v = &self.view;
        self.on(&v.start_btn, "click", |w, _| {
            log::info("Start Chat button activated");
            w.dispatch(Event::Start);
        });
        self.on(&v.reconnect_btn, "click", |w, _| {
            log::info("Reconnect button activated");
            w.dispatch(Event::Start);
        });
        self.on(&v.notice_close, "click", |w, _| w.dispatch(Event::DismissNotice));
        self.on(&v.open_popup_btn, "click", |w, _| w.open_popup());
        for cancel in [&v.cancel_btn, &v.login_cancel] {
            self.on(cancel, "click", |w, _| {
                log::info("Sign-in cancelled");
                w.dispatch(Event::CancelAuth);
            });
        }
        self.on(&v.login_form, "submit", |w, e| {
            e.prevent_default();
            w.local_login(false);
        });
        self.on(&v.register_btn, "click", |w, _| w.local_login(true));
        self.on(&v.load_earlier_btn, "click", |w, _| w.dispatch(Event::LoadEarlier));
        self.on(&v.log, "click", |w, e| {
            let key = e
                .target()
                .and_then(|t| t.dyn_into::<Element>().ok())
                .and_then(|t| t.closest(".ibal-btn-retry").ok().flatten())
                .and_then(|b| b.get_attribute("data-key"))
                .and_then(|k| k.parse().ok());
            if let Some(key) = key {
                log::info("Retry button activated");
                w.dispatch(Event::Retry { key });
            }
        });
        self.on(&v.composer, "submit", |w, e| {
            e.prevent_default();
            w.send_input();
        });
        self.on(&v.input, "keydown", |w, e| {
            let Some(key) = e.dyn_ref::<KeyboardEvent>() else { return };
            if key.key() == "Enter" && !key.shift_key() && !key.is_composing() {
                e.prevent_default();
                w.send_input();
            }
        });
        self.on(&v.input, "input", |w, _| w.typing_activity());
        self.on(&v.stop_btn, "click", |w, _| {
            log::info("Stop button activated");
            w.dispatch(Event::Stop);
        });
        self.on(&v.close_btn, "click", |w, _| {
            log::info("Close Chat button activated");
            w.dispatch(Event::Close);
        });
        self.on(&v.signout_btn, "click", |w, _| {
            log::info("Sign out button activated");
            w.dispatch(Event::SignOut);
        });
    }

    fn send_input(&self) {
        let text = self.view.input.value();
        if text.trim().is_empty() || !self.state.borrow().can_send() {
            return;
        }
        let before = self.state.borrow().entries.len();
        self.dispatch(Event::Send { client_id: auth::new_client_id(), content: text, now: auth::now_iso() });
        if self.state.borrow().entries.len() > before {
            self.view.input.set_value("");
            self.stop_typing();
        }
    }

    fn typing_activity(&self) {
        let room = {
            let state = self.state.borrow();
            state.phase == Phase::Connected && state.is_room()
        };
        if !room {
            return;
        }
        let now = auth::now_ms();
        let due = now - self.io.borrow().typing_sent_at > TYPING_REPEAT_MS;
        if due && self.send_raw(&protocol::typing_frame(true)) {
            self.io.borrow_mut().typing_sent_at = now;
        }
        let me = self.me.clone();
        let timer = Timeout::new(TYPING_IDLE_MS, move || {
            if let Some(w) = me.upgrade() {
                w.stop_typing();
            }
        });
        if let Some(old) = self.io.borrow_mut().typing_stop.replace(timer) {
            defer_drop(old);
        }
    }

    fn stop_typing(&self) {
        let was_typing = self.io.borrow().typing_sent_at > 0.0;
        if was_typing {
            self.send_raw(&protocol::typing_frame(false));
        }
        let mut io = self.io.borrow_mut();
        io.typing_sent_at = 0.0;
        if let Some(old) = io.typing_stop.take() {
            defer_drop(old);
        }
    }

    /// While the chat is open: expire typing indicators and ping now and then.
    fn sync_ticker(&self, chat_open: bool) {
        let mut io = self.io.borrow_mut();
        if !chat_open {
            if let Some(old) = io.ticker.take() {
                defer_drop(old);
            }
            return;
        }
        if io.ticker.is_some() {
            return;
        }
        let me = self.me.clone();
        io.ticker = Some(Interval::new(TICK_MS, move || {
            let Some(w) = me.upgrade() else { return };
            let ticks = {
                let mut io = w.io.borrow_mut();
                io.ticks = io.ticks.wrapping_add(1);
                io.ticks
            };
            if ticks % PING_EVERY == 0 && w.state.borrow().phase == Phase::Connected {
                w.send_raw(&protocol::ping_frame());
            }
            if !w.state.borrow().typers.is_empty() {
                w.dispatch(Event::Tick);
            }
        }));
    }

    // -----------------------------------------------------------------------------------------
    // The socket.

    /// Opens the socket; in a course, only once the page has given a fresh chat ticket for it.
    fn connect(&self) {
        let old = {
            let mut io = self.io.borrow_mut();
            io.ticket = None;
            (io.socket.take(), io.reconnect.take())
        };
        if let Some(socket) = &old.0 {
            socket.shutdown();
        }
        defer_drop(old);
        let Some(get_ticket) = self.ticket_source.clone() else {
            self.open_socket();
            return;
        };
        let attempt = self.io.borrow().auth_gen;
        let me = self.me.clone();
        spawn_local(async move {
            let ticket = auth::fetch_ticket(&get_ticket).await;
            let Some(w) = me.upgrade() else { return };
            // Closed, or another connection started meanwhile: this ticket is not needed.
            if w.io.borrow().auth_gen != attempt || w.state.borrow().phase != Phase::Connecting {
                return;
            }
            match ticket {
                Ok(ticket) => {
                    log::info("Chat ticket received from the course");
                    w.io.borrow_mut().ticket = Some(ticket);
                    w.open_socket();
                }
                Err(detail) => {
                    log::error(&format!("The course gave no chat ticket: {detail}"));
                    w.dispatch(Event::TicketFailed { detail });
                }
            }
        });
    }

    fn open_socket(&self) {
        let url = self.settings.socket_url();
        log::info(&format!("Opening WebSocket connection to: {url}"));
        let me = self.me.clone();
        let handler = Rc::new(move |event: SocketEvent| {
            if let Some(w) = me.upgrade() {
                w.on_socket(event);
            }
        });
        match Socket::open(&url, handler) {
            Ok(socket) => self.io.borrow_mut().socket = Some(socket),
            Err(err) => {
                log::error(&format!("Cannot open the WebSocket: {}", js_error_text(&err)));
                self.dispatch(Event::SocketClosed { code: 1006, jitter: js_sys::Math::random() });
            }
        }
    }

    fn on_socket(&self, event: SocketEvent) {
        match event {
            SocketEvent::Open => {
                log::info("WebSocket connection opened");
                self.dispatch(Event::SocketOpened);
            }
            SocketEvent::Text(text) => {
                log::info(&format!("Received message: {}", log::redact_json(&text)));
                match protocol::parse_server_frame(&text) {
                    Ok(frame) => {
                        match &frame {
                            ServerFrame::UserInfo { username, .. } => {
                                log::info(&format!("Authenticated on the chat as {username}"));
                            }
                            ServerFrame::Error { code, message, .. } => {
                                log::warn(&format!("Error from the gateway: {code}: {message}"));
                            }
                            _ => {}
                        }
                        self.dispatch(Event::Frame(frame));
                    }
                    Err(err) => log::warn(&format!("Ignoring a frame that is {err}")),
                }
            }
            SocketEvent::Closed { code, reason } => {
                log::info(&format!(
                    "WebSocket connection closed (code {code}{}{reason})",
                    if reason.is_empty() { "" } else { ": " }
                ));
                let old = self.io.borrow_mut().socket.take();
                defer_drop(old);
                self.dispatch(Event::SocketClosed { code, jitter: js_sys::Math::random() });
            }
        }
    }

    // -----------------------------------------------------------------------------------------
    // Sign-in.

    /// Gets a token: the page's (token mode), a cached one, a refreshed one, or a new sign-in.
    fn authenticate(&self) {
        let now = auth::now_ms();
        if self.settings.auth_mode == AuthMode::Token {
            let token = self.page_token();
            if token.is_fresh(now) {
                log::info(&format!("Using the page's access token: {}", log::redact_token(&token.access_token)));
                let username = token.username.clone();
                self.io.borrow_mut().token = Some(token);
                self.dispatch(Event::Authenticated { username, fresh: false });
            } else {
                log::warn("The page's access token has expired");
                self.dispatch(Event::AuthFailed { code: "token_page_expired".into(), detail: String::new() });
            }
            return;
        }
        let candidate = self.newest_token();
        match candidate {
            Some(token) if token.is_fresh(now) => {
                log::info(&format!("Access token found in localStorage: {}", log::redact_token(&token.access_token)));
                let username = token.username.clone();
                self.set_token(token);
                self.dispatch(Event::Authenticated { username, fresh: false });
            }
            Some(token) if token.refresh_token.is_some() => {
                log::info("The stored access token has expired; refreshing it");
                self.refresh_then_authenticate(|w| w.begin_sign_in());
            }
            _ => self.begin_sign_in(),
        }
    }

    /// The token of `token` mode, with its expiry counted from the mount.
    fn page_token(&self) -> TokenSet {
        if let Some(token) = self.io.borrow().token.clone() {
            return token;
        }
        let lifetime = self.settings.expires_in.map_or(f64::INFINITY, |s| s * 1000.0);
        TokenSet {
            access_token: self.settings.access_token.clone(),
            refresh_token: None,
            expires_at_ms: auth::now_ms() + lifetime,
            username: Some(self.settings.username.clone()).filter(|u| !u.is_empty()),
        }
    }

    /// The newer of the token in memory and the cached one (another tab may have refreshed it).
    fn newest_token(&self) -> Option<TokenSet> {
        let cached = self.cache.as_ref().and_then(TokenCache::load);
        let current = self.io.borrow().token.clone();
        match (current, cached) {
            (Some(a), Some(b)) => Some(if b.expires_at_ms > a.expires_at_ms { b } else { a }),
            (a, b) => a.or(b),
        }
    }

    /// Keeps `token` in memory and in the cache, and schedules its refresh.
    fn set_token(&self, token: TokenSet) {
        if let Some(cache) = &self.cache {
            cache.save(&token);
        }
        let refresh_in = token.refresh_token.as_ref().map(|_| token.refresh_in_ms(auth::now_ms()));
        let mut io = self.io.borrow_mut();
        io.token = Some(token);
        let old = match refresh_in {
            Some(ms) => {
                let me = self.me.clone();
                io.refresh.replace(Timeout::new(ms, move || {
                    let me = me.clone();
                    spawn_local(async move {
                        let open = me.upgrade().is_some_and(|w| w.state.borrow().phase != Phase::Idle);
                        if open && let Err((code, _)) = Self::refresh_now(&me).await {
                            log::warn(&format!("Could not refresh the access token: {code}"));
                        }
                    });
                }))
            }
            None => io.refresh.take(),
        };
        drop(io);
        defer_drop(old);
    }

    /// Refreshes the token (one refresh at a time; a token another tab refreshed is adopted instead).
    async fn refresh_now(me: &Weak<Self>) -> Result<TokenSet, auth::HttpError> {
        let gone = || ("gone".to_owned(), String::new());
        loop {
            let w = me.upgrade().ok_or_else(gone)?;
            if !w.io.borrow().refreshing {
                break;
            }
            drop(w);
            sleep(100).await;
        }
        let (settings, current) = {
            let w = me.upgrade().ok_or_else(gone)?;
            let newest = w.newest_token();
            if let Some(token) = newest.as_ref().filter(|t| t.is_fresh(auth::now_ms())) {
                let adopted = w.io.borrow().token.as_ref().is_none_or(|mine| mine.access_token != token.access_token);
                if adopted {
                    log::info("Using the access token refreshed by another tab");
                    w.set_token(token.clone());
                    return Ok(token.clone());
                }
            }
            w.io.borrow_mut().refreshing = true;
            (w.settings.clone(), newest)
        };
        let refresh_token = current.as_ref().and_then(|t| t.refresh_token.clone());
        let result = match refresh_token {
            Some(rt) => {
                log::info(&format!("Refreshing the access token with refresh token {}", log::redact_token(&rt)));
                auth::refresh(&settings, &rt).await
            }
            None => Err(("no_refresh_token".to_owned(), String::new())),
        };
        let w = me.upgrade().ok_or_else(gone)?;
        w.io.borrow_mut().refreshing = false;
        match result {
            Ok(grant) => {
                let username = current.and_then(|t| t.username);
                let token = TokenSet::from_grant(grant, auth::now_ms(), username);
                log::info(&format!("Access token refreshed: {}", log::redact_token(&token.access_token)));
                w.set_token(token.clone());
                Ok(token)
            }
            Err(err) => {
                log::warn(&format!("Token refresh failed: {}", err.0));
                if err.0 != "network"
                    && let Some(cache) = &w.cache
                {
                    cache.clear();
                }
                Err(err)
            }
        }
    }

    /// The token was refused by the socket: a refreshed one, or a sign-in from the user.
    fn reauthenticate(&self) {
        if self.settings.auth_mode == AuthMode::Token {
            log::warn("The page's access token was refused");
            self.dispatch(Event::AuthFailed { code: "token_page_expired".into(), detail: String::new() });
            return;
        }
        if self.settings.auth_mode == AuthMode::Lms {
            // The LMS signs in again with a new ticket: nothing for the user to do.
            self.run(Effect::ForgetToken);
            self.lms_sign_in();
            return;
        }
        self.refresh_then_authenticate(|w| {
            w.run(Effect::ForgetToken);
            w.dispatch(Event::AuthFailed { code: "session_expired".into(), detail: String::new() });
        });
    }

    /// Refreshes the token in the background, then signs in with it, or runs `on_failure`; either
    /// only if no newer sign-in attempt has started meanwhile (the widget may be gone, too).
    fn refresh_then_authenticate(&self, on_failure: fn(&Widget)) {
        let attempt = self.io.borrow().auth_gen;
        let me = self.me.clone();
        spawn_local(async move {
            let result = Self::refresh_now(&me).await;
            let Some(w) = me.upgrade() else { return };
            if w.io.borrow().auth_gen != attempt {
                return;
            }
            match result {
                Ok(token) => w.dispatch(Event::Authenticated { username: token.username, fresh: true }),
                Err(_) => on_failure(&w),
            }
        });
    }

    /// The interactive step: the popup, or the local-account form; with LMS sign-in, none.
    fn begin_sign_in(&self) {
        match self.settings.auth_mode {
            AuthMode::Local => {
                self.dispatch(Event::Prompt(Prompt::LoginForm));
                self.focus.set(Some(FocusTarget::Login));
            }
            AuthMode::Lms => self.lms_sign_in(),
            _ => self.open_popup(),
        }
    }

    /// LMS sign-in: the course's chat ticket, exchanged at the gateway for a token. No popup, no
    /// refresh token: when the token expires, the page is asked for a new ticket.
    fn lms_sign_in(&self) {
        let Some(get_ticket) = self.ticket_source.clone() else {
            self.dispatch(Event::TicketFailed { detail: "no get_ticket() in the settings".into() });
            return;
        };
        let attempt = {
            let mut io = self.io.borrow_mut();
            io.auth_gen += 1;
            io.auth_gen
        };
        log::info("Signing in with the course's chat ticket (LMS sign-in)");
        let me = self.me.clone();
        spawn_local(async move {
            let ticket = auth::fetch_ticket(&get_ticket).await;
            let Some(settings) = me.upgrade().map(|w| w.settings.clone()) else { return };
            let result = match ticket {
                Ok(ticket) => auth::ticket_sign_in(&settings, &ticket).await.map_err(|(code, message)| {
                    let detail = if message.is_empty() { code } else { message };
                    ("auth_failed".to_owned(), detail)
                }),
                Err(detail) => Err(("ticket_unavailable".to_owned(), detail)),
            };
            let Some(w) = me.upgrade() else { return };
            match result {
                Ok(grant) => w.sign_in_succeeded(attempt, grant),
                Err((code, detail)) => {
                    log::error(&format!("LMS sign-in failed: {code}: {detail}"));
                    w.sign_in_failed(attempt, &code, &detail);
                }
            }
        });
    }

    /// Opens the Open edX sign-in popup and waits for its result: a message from the popup (to the
    /// gateway's exact origin), or, when the page's opener policy cut the popup off, from the relay
    /// page on this page's origin. Either must repeat this attempt's nonce.
    fn open_popup(&self) {
        let Some(window) = web_sys::window() else { return };
        let attempt = {
            let mut io = self.io.borrow_mut();
            io.auth_gen += 1;
            io.auth_gen
        };
        let nonce = crate::text::base64url(&auth::random_bytes::<18>());
        let page_origin = window.location().origin().unwrap_or_default();
        let relay = auth::relay_url(&self.settings.auth_relay_url, &page_origin);
        let url = auth::login_url(&self.settings, &page_origin, &nonce, relay.as_deref());
        // The URL up to its nonce: the attempt's own values stay out of the console. (`find_str`, not
        // `split`: the standard string searcher costs kilobytes of .wasm.)
        let shown = crate::text::sub(&url, ..crate::text::find_str(&url, "&nonce=").unwrap_or(url.len()));
        log::info(&format!("Opening OAuth2 authorize popup: {shown}"));

        let me = self.me.clone();
        let expected = nonce.clone();
        let listener = Listener::typed(&window, "message", move |event: MessageEvent| {
            // Only the gateway's popup may sign us in; other scripts' messages are none of our business.
            if let Some(w) = me.upgrade()
                && event.origin() == w.settings.gateway_origin
            {
                w.on_sign_in_result(attempt, &expected, &event, "the popup");
            }
        });
        let me = self.me.clone();
        let channel = Channel::listen(auth::RELAY_CHANNEL, move |event: MessageEvent| {
            if let Some(w) = me.upgrade() {
                w.on_sign_in_result(attempt, &nonce, &event, "the course page's relay");
            }
        });
        let me = self.me.clone();
        let timeout = Timeout::new(SIGN_IN_TIMEOUT_MS, move || {
            if let Some(w) = me.upgrade() {
                log::warn("Sign-in timed out");
                w.sign_in_failed(attempt, "auth_timeout", "");
            }
        });
        let old = {
            let mut io = self.io.borrow_mut();
            (
                io.auth_listener.replace(listener),
                std::mem::replace(&mut io.auth_channel, channel),
                io.auth_timeout.replace(timeout),
            )
        };
        defer_drop(old);

        let popup =
            window.open_with_url_and_target_and_features(&url, "ibal-sign-in", "popup=yes,width=520,height=680");
        match popup {
            Ok(Some(popup)) => {
                self.io.borrow_mut().popup = Some(popup);
                self.dispatch(Event::Prompt(Prompt::PopupOpen));
            }
            _ => {
                log::warn("The sign-in popup was blocked by the browser; waiting for a click");
                self.dispatch(Event::Prompt(Prompt::PopupBlocked));
            }
        }
    }

    fn on_sign_in_result(&self, attempt: u32, nonce: &str, event: &MessageEvent, from: &str) {
        match auth::parse_auth_message(&auth::js_to_json(&event.data()), nonce) {
            Some(AuthMessage::Success(grant)) => {
                log::info(&format!("Sign-in result received from {from}"));
                self.sign_in_succeeded(attempt, grant);
            }
            Some(AuthMessage::Failure { code, message }) => {
                log::error(&format!("Sign-in failed in the popup: {code}: {message}"));
                self.sign_in_failed(attempt, "auth_failed", if message.is_empty() { &code } else { &message });
            }
            None => {}
        }
    }

    fn end_sign_in(&self, attempt: u32) -> bool {
        let mut io = self.io.borrow_mut();
        if io.auth_gen != attempt {
            return false;
        }
        io.auth_gen += 1;
        let waiting = (io.auth_listener.take(), io.auth_channel.take(), io.auth_timeout.take());
        let popup = io.popup.take();
        drop(io);
        defer_drop(waiting);
        if let Some(popup) = popup.filter(|p| !p.closed().unwrap_or(true)) {
            let _ = popup.close();
        }
        true
    }

    fn sign_in_succeeded(&self, attempt: u32, grant: TokenGrant) {
        if !self.end_sign_in(attempt) {
            return;
        }
        let token = TokenSet::from_grant(grant, auth::now_ms(), None);
        log::info(&format!(
            "Signed in as {}; access token: {}",
            token.username.as_deref().unwrap_or("?"),
            log::redact_token(&token.access_token)
        ));
        let username = token.username.clone();
        self.set_token(token);
        self.dispatch(Event::Authenticated { username, fresh: true });
    }

    fn sign_in_failed(&self, attempt: u32, code: &str, detail: &str) {
        if self.end_sign_in(attempt) {
            self.dispatch(Event::AuthFailed { code: code.to_owned(), detail: detail.to_owned() });
        }
    }

    /// The local-account form: sign in, or create the account.
    fn local_login(&self, register: bool) {
        if self.state.borrow().prompt != Prompt::LoginForm {
            return;
        }
        let username = self.view.login_user.value().trim().to_owned();
        let password = self.view.login_pass.value();
        if username.is_empty() || password.is_empty() {
            self.dispatch(Event::Notice(Notice::new("login_missing", "")));
            return;
        }
        log::info(&format!("{} {username}", if register { "Creating the account" } else { "Signing in as" }));
        let attempt = {
            let mut io = self.io.borrow_mut();
            io.auth_gen += 1;
            io.auth_gen
        };
        self.dispatch(Event::Prompt(Prompt::LoginBusy));
        let me = self.me.clone();
        spawn_local(async move {
            let Some(settings) = me.upgrade().map(|w| w.settings.clone()) else { return };
            let result = auth::local_login(&settings, register, &username, &password).await;
            let Some(w) = me.upgrade() else { return };
            if w.io.borrow().auth_gen != attempt {
                return;
            }
            match result {
                Ok(mut grant) => {
                    w.view.login_pass.set_value("");
                    grant.username = grant.username.or(Some(username));
                    w.sign_in_succeeded(attempt, grant);
                }
                Err((code, message)) => {
                    log::error(&format!("Sign-in failed: {code}: {message}"));
                    let detail = if message.is_empty() { code } else { message };
                    w.dispatch(Event::Notice(Notice::new("auth_failed", &detail)));
                    w.dispatch(Event::Prompt(Prompt::LoginForm));
                }
            }
        });
    }
}

/// The message of a JS error, or its string form.
pub fn js_error_text(err: &wasm_bindgen::JsValue) -> String {
    if let Some(e) = err.dyn_ref::<js_sys::Error>() {
        return e.message().into();
    }
    err.as_string().unwrap_or_else(|| "unknown error".to_owned())
}
