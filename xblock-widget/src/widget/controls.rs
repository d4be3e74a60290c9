//! The controls: the buttons, the sign-in form and the message input, wired to the controller; the
//! typing indicator the input sends in a room; the ticker that pings and expires typing indicators.

use ibal_protocol::ClientFrame;
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::JsFuture;
use web_sys::{Element, KeyboardEvent};

use super::{Widget, defer_drop};
use crate::auth;
use crate::handles::{Interval, Listener, Shared, Timeout, spawn};
use crate::log;
use crate::state::{Event, Phase, Tab};

/// The housekeeping tick (typing indicators expire; every `PING_EVERY` ticks a ping keeps proxies awake).
const TICK_MS: u32 = 2500;
const PING_EVERY: u32 = 10;
/// Typing: at most one `typing: true` per this long, and `typing: false` after this long idle.
const TYPING_REPEAT_MS: f64 = 3000.0;
const TYPING_IDLE_MS: u32 = 4000;

#[wasm_bindgen]
extern "C" {
    /// `navigator.clipboard.writeText` (throws where there is no clipboard: a page that is not secure).
    #[wasm_bindgen(catch, js_namespace = ["navigator", "clipboard"], js_name = writeText)]
    fn write_text(text: &str) -> Result<js_sys::Promise, JsValue>;
}

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
        self.listeners.write().push(listener);
    }

    /// Wires the view's controls to the controller.
    pub(super) fn wire(&self) {
        let v = &self.view;
        self.on(&v.start_btn, "click", |w, _| {
            log::info(&["Start Chat button activated"]);
            w.dispatch(Event::Start);
        });
        self.on(&v.login_form, "submit", |w, e| {
            e.prevent_default();
            w.local_login(false);
        });
        // The other buttons, those made as the chat goes (in messages, starters, the disclosure)
        // included: by their `data-act`, with one listener.
        self.on(&v.root, "click", |w, e| {
            let button =
                e.target().and_then(|t| t.dyn_into::<Element>().ok()).and_then(|t| t.closest("[data-act]").ok()?);
            if let Some(button) = button {
                w.act(&button, w.view.key_of(&button));
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
        self.on(&v.comment, "submit", |w, e| {
            e.prevent_default();
            w.send_comment();
        });
        // In the comment box: Enter (in its text, Shift+Enter for a new line) sends; Escape cancels.
        self.on(&v.comment, "keydown", |w, e| {
            let Some(key) = e.dyn_ref::<KeyboardEvent>() else { return };
            if key.key() == "Escape" {
                e.prevent_default();
                w.view.close_comment();
            } else if key.key() == "Enter"
                && !key.shift_key()
                && !key.is_composing()
                && e.target().as_ref() == Some(w.view.comment_input.as_ref())
            {
                e.prevent_default();
                w.send_comment();
            }
        });
        // The tabs (a block offering both): the arrow keys, Home and End pick a tab, as a click does.
        self.on(&v.tabs, "keydown", |w, e| {
            let Some(key) = e.dyn_ref::<KeyboardEvent>() else { return };
            let tab = match key.key().as_str() {
                "Home" => Tab::Room,
                "End" => Tab::Assistant,
                // Two tabs: either arrow goes to the other one (whatever the direction of the text).
                "ArrowLeft" | "ArrowRight" => {
                    if w.state.read().tab == Some(Tab::Room) {
                        Tab::Assistant
                    } else {
                        Tab::Room
                    }
                }
                _ => return,
            };
            e.prevent_default();
            w.pick_tab(tab);
        });
        // Escape closes the My data menu (from anywhere in the widget); the focus goes to its button.
        self.on(&v.root, "keydown", |w, e| {
            if e.dyn_ref::<KeyboardEvent>().is_some_and(|k| k.key() == "Escape") && w.view.data_open() {
                e.prevent_default();
                w.view.open_data(false);
                let _ = w.view.data_btn.focus();
            }
        });
        self.on(&v.close_btn, "click", |w, _| {
            log::info(&["Close Chat button activated"]);
            w.dispatch(Event::Close);
        });
        self.on(&v.signout_btn, "click", |w, _| {
            log::info(&["Sign out button activated"]);
            w.dispatch(Event::SignOut);
        });
    }

    /// A button of the widget (`data-act`), in the message `key` (0 outside messages).
    fn act(&self, button: &Element, key: u64) {
        let act = button.get_attribute("data-act").unwrap_or_default();
        log::info(&["Chat button activated: ", &act]);
        match act.as_str() {
            "reconnect" => self.dispatch(Event::Start),
            "dismiss" => self.dispatch(Event::DismissNotice),
            "popup" => self.open_popup(),
            "cancel" => self.dispatch(Event::CancelAuth),
            "register" => self.local_login(true),
            "earlier" => self.dispatch(Event::LoadEarlier),
            "stop" => self.dispatch(Event::Stop),
            "retry" => self.dispatch(Event::Retry { key }),
            "starter" => {
                self.send(button.text_content().unwrap_or_default());
            }
            "accept" => self.dispatch(Event::AcceptDisclosure),
            "regen" => self.dispatch(Event::Regenerate),
            // A reply as written (Markdown), or a code block's text.
            "copy" => {
                let code = button.previous_element_sibling().and_then(|pre| pre.text_content());
                let text =
                    code.or_else(|| self.state.read().entries.iter().find(|e| e.key == key).map(|e| e.content.clone()));
                self.after("Copy to the clipboard", write_text(&text.unwrap_or_default()), |w, ok, _| {
                    let s = &w.view.strings;
                    w.view.flash(if ok { s.copied() } else { s.copy_failed() });
                });
            }
            // A rating is posted at once; then a comment may follow (it posts the rating again, with it).
            "up" | "down" => {
                let up = act == "up";
                if self.rate(key, up, "") {
                    self.view.open_comment(key, up);
                }
            }
            "uncomment" => self.view.close_comment(),
            // My data: the menu; an action, to confirm first; Confirm runs it, Cancel does not.
            "data" => self.view.open_data(!self.view.data_open()),
            "export" => self.view.ask(button, self.view.strings.ask_export()),
            "forget" => self.view.ask(button, self.view.strings.ask_forget()),
            "erase" => self.view.ask(button, self.view.strings.ask_erase()),
            "confirm" => {
                if let Some(action) = self.view.unask() {
                    self.run_own_data(&action.get_attribute("data-act").unwrap_or_default());
                }
            }
            "unconfirm" => drop(self.view.unask()),
            "room" => self.pick_tab(Tab::Room),
            "assistant" => self.pick_tab(Tab::Assistant),
            _ => {}
        }
    }

    /// Shows `tab` (the socket reconnects into its conversation), remembered for this block while the
    /// browser tab lives; the focus goes to it.
    fn pick_tab(&self, tab: Tab) {
        let _ = super::session_set(&super::tab_key(&self.settings.usage_id), tab.name());
        self.dispatch(Event::Tab(tab));
        self.view.focus_tab(tab);
    }

    /// Posts the user's rating of the reply `key`, with `comment` unless it is empty, and reports it to
    /// the page's analytics (whether there is a comment, never its text); false without a stored reply
    /// or a token.
    fn rate(&self, key: u64, up: bool, comment: &str) -> bool {
        let id = self.state.read().entries.iter().find(|e| e.key == key).and_then(|e| e.id.clone());
        let token = self.io.read().token.as_ref().map(|t| t.access_token.clone());
        let (Some(id), Some(token)) = (id, token) else { return false };
        let sent = auth::feedback(&self.settings, &token, &id, up, comment);
        self.after("Feedback on a reply", sent, |w, ok, _| {
            let s = &w.view.strings;
            w.view.flash(if ok { s.feedback_sent() } else { s.feedback_failed() });
        });
        let rating = if up { "up" } else { "down" };
        self.track("ibal.reply.rated", &[("rating", rating.into()), ("has_comment", (!comment.is_empty()).into())]);
        true
    }

    /// The comment box's Send (or Enter): the rating again, with the comment; an empty one sends nothing.
    fn send_comment(&self) {
        let (key, up) = self.view.comment_target();
        let text = self.view.comment_input.value();
        let comment = text.trim();
        if key != 0 && !comment.is_empty() {
            log::info(&["Feedback comment on a reply submitted"]);
            self.rate(key, up, comment);
        }
        self.view.close_comment();
    }

    /// Waits for a browser promise (a clipboard write, a request: `what`, for the console), then calls
    /// `done` with whether it succeeded (a `Response` only when its status is 2xx) and what it gave
    /// (its value, or the error); not if the widget is gone.
    pub(super) fn after(
        &self,
        what: &'static str,
        promise: Result<js_sys::Promise, JsValue>,
        done: fn(&Self, bool, JsValue),
    ) {
        let me = self.me.clone();
        spawn(Box::pin(async move {
            let result = match promise {
                Ok(promise) => JsFuture::from(promise).await,
                Err(e) => Err(e),
            };
            let ok = result.as_ref().is_ok_and(|v| v.dyn_ref::<web_sys::Response>().is_none_or(web_sys::Response::ok));
            log::info(&[what, if ok { ": done" } else { ": failed" }]);
            if let Some(w) = me.upgrade() {
                done(&w, ok, result.unwrap_or_else(|e| e));
            }
        }));
    }

    fn send_input(&self) {
        if self.send(self.view.input.value()) {
            self.view.input.set_value("");
            self.stop_typing();
        }
    }

    /// Sends a message; whether it was taken.
    fn send(&self, text: String) -> bool {
        if text.trim().is_empty() || !self.state.read().can_send() {
            return false;
        }
        let before = self.state.read().entries.len();
        // Its length in characters, as sent (trimmed), for the analytics event: never the text.
        let length = text.trim().chars().fold(0_u32, |n, _| n + 1);
        self.dispatch(Event::Send { client_id: auth::new_client_id(), content: text, now: auth::now_iso() });
        let taken = self.state.read().entries.len() > before;
        if taken {
            self.track("ibal.message.sent", &[("length", length.into())]);
        }
        taken
    }

    fn typing_activity(&self) {
        let room = {
            let state = self.state.read();
            state.phase == Phase::Connected && state.is_room()
        };
        if !room {
            return;
        }
        let now = auth::now_ms();
        let due = now - self.io.read().typing_sent_at > TYPING_REPEAT_MS;
        if due && self.send_raw(&ClientFrame::Typing { is_typing: true }.to_json()) {
            self.io.write().typing_sent_at = now;
        }
        let me = self.me.clone();
        let timer = Timeout::new(TYPING_IDLE_MS, move || {
            if let Some(w) = me.upgrade() {
                w.stop_typing();
            }
        });
        if let Some(old) = self.io.write().typing_stop.replace(timer) {
            defer_drop(old);
        }
    }

    fn stop_typing(&self) {
        let was_typing = self.io.read().typing_sent_at > 0.0;
        if was_typing {
            self.send_raw(&ClientFrame::Typing { is_typing: false }.to_json());
        }
        let mut io = self.io.write();
        io.typing_sent_at = 0.0;
        if let Some(old) = io.typing_stop.take() {
            defer_drop(old);
        }
    }

    /// While the chat is open: expire typing indicators and ping now and then.
    pub(super) fn sync_ticker(&self, chat_open: bool) {
        let mut io = self.io.write();
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
                let mut io = w.io.write();
                io.ticks = io.ticks.wrapping_add(1);
                io.ticks
            };
            if ticks % PING_EVERY == 0 && w.state.read().phase == Phase::Connected {
                w.send_raw(&ClientFrame::Ping.to_json());
            }
            if !w.state.read().typers.is_empty() {
                w.dispatch(Event::Tick);
            }
        }));
    }
}
