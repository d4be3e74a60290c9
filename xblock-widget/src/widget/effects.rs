//! Carrying out the state machine's effects: sending frames, scheduling the reconnect, closing the
//! socket and cancelling what is in progress, forgetting the token, signing out.

use ibal_protocol::ClientFrame;

use super::{FocusTarget, Widget, defer_drop};
use crate::auth;
use crate::handles::{Shared, Timeout};
use crate::log;
use crate::state::{Effect, Event, Focus};
use crate::text::decimal;

impl Widget {
    /// Carries out one effect of [`crate::state::State::apply`].
    pub(super) fn run(&self, effect: Effect) {
        match effect {
            Effect::Authenticate => self.authenticate(),
            Effect::Reauthenticate => self.reauthenticate(),
            Effect::Connect => self.connect(),
            Effect::SendAuth => {
                let (token, ticket) = {
                    let mut io = self.io.write();
                    (io.token.as_ref().map(|t| t.access_token.clone()), io.ticket.take())
                };
                match token {
                    Some(token) => {
                        let with_ticket = if ticket.is_some() { ", with the course's chat ticket" } else { "" };
                        log::info(&["Using access_token for WebSocket: ", &log::redact_token(&token), with_ticket]);
                        // In a block offering both, the tab picks the conversation.
                        let channel = self.state.read().tab.map(|tab| tab.name().to_owned());
                        self.send_raw(&ClientFrame::Auth { token, ticket, channel }.to_json());
                    }
                    None => log::error(&["No access token to authenticate the WebSocket with"]),
                }
            }
            Effect::Send(frame) => {
                let text = frame.to_json();
                log::info(&["Sending message: ", &log::redact_json(&text)]);
                self.send_raw(&text);
            }
            Effect::ScheduleReconnect(ms) => {
                log::info(&["Reconnecting in ", &decimal(u64::from(ms)), " ms"]);
                let me = self.me.clone();
                let timer = Timeout::new(ms, move || {
                    if let Some(w) = me.upgrade() {
                        w.dispatch(Event::ReconnectDue);
                    }
                });
                if let Some(old) = self.io.write().reconnect.replace(timer) {
                    defer_drop(old);
                }
            }
            Effect::CloseSocket => {
                let mut io = self.io.write();
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
                    log::info(&["Closing the WebSocket connection"]);
                    socket.shutdown();
                }
                if let Some(popup) = popup.filter(|p| !p.closed().unwrap_or(true)) {
                    let _ = popup.close();
                }
                defer_drop(parts);
            }
            Effect::ForgetToken => {
                log::info(&["Forgetting the stored access token"]);
                if let Some(cache) = &self.cache {
                    cache.clear();
                }
                let mut io = self.io.write();
                io.token = None;
                let refresh = io.refresh.take();
                drop(io);
                defer_drop(refresh);
            }
            Effect::SignOut => {
                let token = self.io.read().token.as_ref().map(|t| t.access_token.clone());
                log::info(&["Signing out"]);
                if let Some(token) = token {
                    // The login ends at the gateway (the page may be gone by then: nothing to do after).
                    let url = self.settings.gateway("/api/v1/auth/logout");
                    let sent = auth::request(&url, "POST", None, None, Some(&token));
                    self.after("Sign-out at the gateway", sent, |_, _, _| {});
                }
                self.run(Effect::ForgetToken);
            }
            Effect::Focus(Focus::Input) => self.focus.set(Some(FocusTarget::Input)),
            Effect::Focus(Focus::Start) => self.focus.set(Some(FocusTarget::Start)),
        }
    }
}
