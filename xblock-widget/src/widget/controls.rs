//! The controls: the buttons, the sign-in form and the message input, wired to the controller; the
//! typing indicator the input sends in a room; the ticker that pings and expires typing indicators.

use ibal_protocol::ClientFrame;
use wasm_bindgen::JsCast;
use web_sys::{Element, KeyboardEvent};

use super::{Widget, defer_drop};
use crate::auth;
use crate::handles::{Interval, Listener, Timeout};
use crate::log;
use crate::state::{Event, Phase};

/// The housekeeping tick (typing indicators expire; every `PING_EVERY` ticks a ping keeps proxies awake).
const TICK_MS: u32 = 2500;
const PING_EVERY: u32 = 10;
/// Typing: at most one `typing: true` per this long, and `typing: false` after this long idle.
const TYPING_REPEAT_MS: f64 = 3000.0;
const TYPING_IDLE_MS: u32 = 4000;

impl Widget {
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

    /// Wires the view's controls to the controller.
    pub(super) fn wire(&self) {
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
        if due && self.send_raw(&ClientFrame::Typing { is_typing: true }.to_json()) {
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
            self.send_raw(&ClientFrame::Typing { is_typing: false }.to_json());
        }
        let mut io = self.io.borrow_mut();
        io.typing_sent_at = 0.0;
        if let Some(old) = io.typing_stop.take() {
            defer_drop(old);
        }
    }

    /// While the chat is open: expire typing indicators and ping now and then.
    pub(super) fn sync_ticker(&self, chat_open: bool) {
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
                w.send_raw(&ClientFrame::Ping.to_json());
            }
            if !w.state.borrow().typers.is_empty() {
                w.dispatch(Event::Tick);
            }
        }));
    }
}
