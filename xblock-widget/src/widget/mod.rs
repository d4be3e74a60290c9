//! The controller: owns the state, the view, the socket, the timers and the sign-in in progress.
//! Browser events become [`Event`]s; [`State::apply`] turns them into
//! [`Effect`](crate::state::Effect)s, carried out here; the view is re-rendered once the events
//! queued meanwhile are all applied.
//!
//! Every callback holds a `Weak` reference to the widget, so nothing keeps an unmounted widget
//! alive, and every callback is owned by an RAII handle ([`Listener`], [`crate::handles::Timeout`],
//! [`crate::handles::Interval`], [`crate::handles::Channel`], [`Socket`]) that unregisters it on drop.
//!
//! The controller's parts: `controls` (the buttons, the form and the input), `connection` (the
//! socket), `tokens` (getting, caching and refreshing tokens), `sign_in` (popup, LMS and local
//! sign-in) and `effects` (carrying out the state machine's effects).

mod connection;
mod controls;
mod effects;
mod own_data;
mod sign_in;
mod tokens;

use std::cell::{Cell, RefCell};
use std::rc::{Rc, Weak};

use wasm_bindgen::JsValue;
use web_sys::Element;

use crate::auth::{self, TokenCache, TokenSet};
use crate::handles::{Channel, Interval, Listener, Shared, Timeout, spawn};
use crate::log;
use crate::settings::{AuthMode, Settings};
use crate::socket::Socket;
use crate::state::{Event, State, Tab};
use crate::text::cat;
use crate::view::View;

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
    /// The My data action under way (widget/own_data), and the object URL of the last download
    /// (revoked at the next one).
    own_data: u8,
    download: Option<String>,
}

/// A mounted widget.
#[derive(Debug)]
pub struct Widget {
    me: Weak<Widget>,
    /// Shared with the sign-in tasks in flight (a clone is a count, not a copy).
    settings: Rc<Settings>,
    /// The page's `get_ticket()`: in a course, a fresh LMS-signed ticket before each connection.
    ticket_source: Option<js_sys::Function>,
    /// The page's `track(eventType, fields)`: in a course, sends an analytics event (never a text).
    track: Option<js_sys::Function>,
    mount: Element,
    view: View,
    cache: Option<TokenCache>,
    state: RefCell<State>,
    /// Events to apply, in order (a `Vec` taken whole: a `VecDeque` costs more .wasm).
    queue: RefCell<Vec<Event>>,
    busy: Cell<bool>,
    alive: Cell<bool>,
    focus: Cell<Option<FocusTarget>>,
    io: RefCell<Io>,
    listeners: RefCell<Vec<Listener>>,
}

#[wasm_bindgen::prelude::wasm_bindgen]
extern "C" {
    /// `sessionStorage.getItem(key)` (throws where the browser refuses storage).
    #[wasm_bindgen(catch, js_namespace = sessionStorage, js_name = getItem)]
    fn session_get(key: &str) -> Result<Option<String>, JsValue>;
    /// `sessionStorage.setItem(key, value)`.
    #[wasm_bindgen(catch, js_namespace = sessionStorage, js_name = setItem)]
    fn session_set(key: &str, value: &str) -> Result<(), JsValue>;
}

/// The `sessionStorage` key of the tab chosen in a block offering both.
fn tab_key(usage_id: &str) -> String {
    cat(&["ibal-widget:tab:", usage_id])
}

/// Drops a browser resource on a later microtask, so that a callback never frees its own closure
/// while it runs (e.g. the socket's close handler discarding the socket).
fn defer_drop<T: 'static>(value: T) {
    // One future type for every T (each spawned future type costs its own code).
    fn later(value: Box<dyn std::any::Any>) {
        spawn(Box::pin(async move { drop(value) }));
    }
    later(Box::new(value));
}

impl Widget {
    /// Creates the widget over a built view and wires its controls.
    pub fn new(
        settings: Settings,
        ticket_source: Option<js_sys::Function>,
        track: Option<js_sys::Function>,
        mount: Element,
        view: View,
    ) -> Rc<Self> {
        let cache = (settings.auth_mode != AuthMode::Token).then(|| TokenCache::new(&settings.gateway_origin));
        let mut state = State::new();
        if settings.both {
            // The tab chosen earlier in this browser tab, else the assistant's (the block's default mode).
            let stored = session_get(&tab_key(&settings.usage_id)).ok().flatten();
            state.tab = Some(if stored.as_deref() == Some("room") { Tab::Room } else { Tab::Assistant });
        }
        let widget = Rc::new_cyclic(|me| Self {
            me: me.clone(),
            settings: Rc::new(settings),
            ticket_source,
            track,
            mount,
            view,
            cache,
            state: RefCell::new(state),
            queue: RefCell::new(Vec::new()),
            busy: Cell::new(false),
            alive: Cell::new(true),
            focus: Cell::new(None),
            io: RefCell::new(Io::default()),
            listeners: RefCell::new(Vec::new()),
        });
        widget.wire();
        widget.view.render(&widget.state.read());
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
        self.state.read().phase.name()
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
        log::info(&["Unmounting the chat widget"]);
        self.queue.write().clear();
        let io = std::mem::take(&mut *self.io.write());
        if let Some(socket) = &io.socket {
            socket.shutdown();
        }
        let listeners = std::mem::take(&mut *self.listeners.write());
        defer_drop((io, listeners));
        self.view.remove();
    }

    /// Queues an event and, unless already doing so, applies queued events, runs their effects and
    /// renders.
    pub fn dispatch(&self, event: Event) {
        if !self.alive.get() {
            return;
        }
        self.queue.write().push(event);
        if self.busy.replace(true) {
            return;
        }
        // The events queued meanwhile (by effects) come after the ones taken; none after a teardown.
        loop {
            let events = std::mem::take(&mut *self.queue.write());
            if events.is_empty() {
                break;
            }
            for event in events {
                if !self.alive.get() {
                    break;
                }
                let effects = self.state.write().apply(event, auth::now_ms());
                for effect in effects {
                    self.run(effect);
                }
            }
        }
        self.busy.set(false);
        if !self.alive.get() {
            return;
        }
        let state = self.state.read();
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

    /// Reports an analytics event through the page's `track(eventType, fields)`, when it gave one. The
    /// fields are counts and choices, never a text; the page's promise (which never rejects) is not
    /// waited for.
    fn track(&self, event: &str, fields: &[(&str, JsValue)]) {
        if let Some(track) = &self.track {
            let object = js_sys::Object::new();
            for (name, value) in fields {
                let _ = js_sys::Reflect::set(&object, &JsValue::from_str(name), value);
            }
            let _ = track.call2(&JsValue::NULL, &JsValue::from_str(event), &object);
        }
    }

    /// Sends a text frame on the open socket; false when there is none.
    fn send_raw(&self, text: &str) -> bool {
        let io = self.io.read();
        io.socket.as_ref().is_some_and(|s| s.send(text))
    }
}
