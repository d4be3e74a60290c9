//! Sign-in: the Open edX popup (its answer by `postMessage` or through the relay page), LMS sign-in
//! with the course's chat ticket, and the local-account form.

use wasm_bindgen::JsCast;
use web_sys::MessageEvent;

use super::{FocusTarget, Widget, defer_drop};
use crate::auth::{self, AuthMessage, TokenSet};
use crate::grant::TokenGrant;
use crate::handles::{Channel, Listener, Shared, Timeout, spawn};
use crate::log;
use crate::settings::AuthMode;
use crate::state::{Event, Notice, Prompt};

/// How long a popup sign-in may take.
const SIGN_IN_TIMEOUT_MS: u32 = 5 * 60 * 1000;

impl Widget {
    /// The interactive step: the popup, or the local-account form; with LMS sign-in, none.
    pub(super) fn begin_sign_in(&self) {
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
    pub(super) fn lms_sign_in(&self) {
        let Some(get_ticket) = self.ticket_source.clone() else {
            self.dispatch(Event::TicketFailed { detail: "no get_ticket() in the settings".into() });
            return;
        };
        let attempt = {
            let mut io = self.io.write();
            io.auth_gen += 1;
            io.auth_gen
        };
        log::info(&["Signing in with the course's chat ticket (LMS sign-in)"]);
        let me = self.me.clone();
        spawn(Box::pin(async move {
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
                    log::error(&["LMS sign-in failed: ", &code, ": ", &detail]);
                    w.sign_in_failed(attempt, &code, &detail);
                }
            }
        }));
    }

    /// Opens the Open edX sign-in popup and waits for its result: a message from the popup (to the
    /// gateway's exact origin), or, when the page's opener policy cut the popup off, from the relay
    /// page on this page's origin. Either must repeat this attempt's nonce.
    pub(super) fn open_popup(&self) {
        let Some(window) = web_sys::window() else { return };
        let attempt = {
            let mut io = self.io.write();
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
        log::info(&["Opening OAuth2 authorize popup: ", shown]);

        let me = self.me.clone();
        let expected = nonce.clone();
        let listener = Listener::new(&window, "message", move |event| {
            // Only the gateway's popup may sign us in; other scripts' messages are none of our business.
            if let Some(w) = me.upgrade()
                && event.unchecked_ref::<MessageEvent>().origin() == w.settings.gateway_origin
            {
                w.on_sign_in_result(attempt, &expected, &event, "the popup");
            }
        });
        let me = self.me.clone();
        let channel = Channel::listen(auth::RELAY_CHANNEL, move |event| {
            if let Some(w) = me.upgrade() {
                w.on_sign_in_result(attempt, &nonce, &event, "the course page's relay");
            }
        });
        let me = self.me.clone();
        let timeout = Timeout::new(SIGN_IN_TIMEOUT_MS, move || {
            if let Some(w) = me.upgrade() {
                log::warn(&["Sign-in timed out"]);
                w.sign_in_failed(attempt, "auth_timeout", "");
            }
        });
        let old = {
            let mut io = self.io.write();
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
                self.io.write().popup = Some(popup);
                self.dispatch(Event::Prompt(Prompt::PopupOpen));
            }
            _ => {
                log::warn(&["The sign-in popup was blocked by the browser; waiting for a click"]);
                self.dispatch(Event::Prompt(Prompt::PopupBlocked));
            }
        }
    }

    /// A `message` event (always a `MessageEvent`) that may be the sign-in's result.
    fn on_sign_in_result(&self, attempt: u32, nonce: &str, event: &web_sys::Event, from: &str) {
        match auth::parse_auth_message(&auth::js_to_json(&event.unchecked_ref::<MessageEvent>().data()), nonce) {
            Some(AuthMessage::Success(grant)) => {
                log::info(&["Sign-in result received from ", from]);
                self.sign_in_succeeded(attempt, grant);
            }
            Some(AuthMessage::Failure { code, message }) => {
                log::error(&["Sign-in failed in the popup: ", &code, ": ", &message]);
                self.sign_in_failed(attempt, "auth_failed", if message.is_empty() { &code } else { &message });
            }
            None => {}
        }
    }

    fn end_sign_in(&self, attempt: u32) -> bool {
        let mut io = self.io.write();
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
        let name = token.username.as_deref().unwrap_or("?");
        log::info(&["Signed in as ", name, "; access token: ", &log::redact_token(&token.access_token)]);
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
    pub(super) fn local_login(&self, register: bool) {
        if self.state.read().prompt != Prompt::LoginForm {
            return;
        }
        let username = self.view.login_user.value().trim().to_owned();
        let password = self.view.login_pass.value();
        if username.is_empty() || password.is_empty() {
            self.dispatch(Event::Notice(Notice::new("login_missing", "")));
            return;
        }
        log::info(&[if register { "Creating the account " } else { "Signing in as " }, &username]);
        let attempt = {
            let mut io = self.io.write();
            io.auth_gen += 1;
            io.auth_gen
        };
        self.dispatch(Event::Prompt(Prompt::LoginBusy));
        let me = self.me.clone();
        spawn(Box::pin(async move {
            let Some(settings) = me.upgrade().map(|w| w.settings.clone()) else { return };
            let result = auth::local_login(&settings, register, &username, &password).await;
            let Some(w) = me.upgrade() else { return };
            if w.io.read().auth_gen != attempt {
                return;
            }
            match result {
                Ok(mut grant) => {
                    w.view.login_pass.set_value("");
                    grant.username = grant.username.or(Some(username));
                    w.sign_in_succeeded(attempt, grant);
                }
                Err((code, message)) => {
                    log::error(&["Sign-in failed: ", &code, ": ", &message]);
                    let detail = if message.is_empty() { code } else { message };
                    w.dispatch(Event::Notice(Notice::new("auth_failed", &detail)));
                    w.dispatch(Event::Prompt(Prompt::LoginForm));
                }
            }
        }));
    }
}
