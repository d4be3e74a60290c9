//! The connection: the chat ticket fetched before each socket (in a course), opening the socket, and
//! turning its events into the state machine's.

use std::rc::Rc;

use crate::handles::{Shared, spawn};
use ibal_protocol::{DecodeError, ServerFrame, close};

use super::{Widget, defer_drop};
use crate::auth;
use crate::log;
use crate::socket::{Socket, SocketEvent};
use crate::state::{Event, Phase};
use crate::text::decimal;

impl Widget {
    /// Opens the socket; in a course, only once the page has given a fresh chat ticket for it.
    pub(super) fn connect(&self) {
        let (old, attempt) = {
            let mut io = self.io.write();
            io.ticket = None;
            io.typing_sent_at = 0.0;
            // A ticket still on its way for an earlier connection (another tab) is not used.
            io.auth_gen += 1;
            ((io.socket.take(), io.reconnect.take()), io.auth_gen)
        };
        if let Some(socket) = &old.0 {
            socket.shutdown();
        }
        defer_drop(old);
        let Some(get_ticket) = self.ticket_source.clone() else {
            self.open_socket();
            return;
        };
        let me = self.me.clone();
        spawn(Box::pin(async move {
            let ticket = auth::fetch_ticket(&get_ticket).await;
            let Some(w) = me.upgrade() else { return };
            // Closed, or another connection started meanwhile: this ticket is not needed.
            if w.io.read().auth_gen != attempt || w.state.read().phase != Phase::Connecting {
                return;
            }
            match ticket {
                Ok(ticket) => {
                    log::info(&["Chat ticket received from the course"]);
                    w.io.write().ticket = Some(ticket);
                    w.open_socket();
                }
                Err(detail) => {
                    log::error(&["The course gave no chat ticket: ", &detail]);
                    w.dispatch(Event::TicketFailed { detail });
                }
            }
        }));
    }

    fn open_socket(&self) {
        let url = self.settings.socket_url();
        log::info(&["Opening WebSocket connection to: ", &url]);
        let me = self.me.clone();
        let handler = Rc::new(move |event: SocketEvent| {
            if let Some(w) = me.upgrade() {
                w.on_socket(event);
            }
        });
        match Socket::open(&url, handler) {
            Ok(socket) => self.io.write().socket = Some(socket),
            Err(err) => {
                log::error(&["Cannot open the WebSocket: ", &log::js_error_text(&err)]);
                self.dispatch(Event::SocketClosed { code: close::ABNORMAL, jitter: js_sys::Math::random() });
            }
        }
    }

    fn on_socket(&self, event: SocketEvent) {
        match event {
            SocketEvent::Open => {
                log::info(&["WebSocket connection opened"]);
                self.dispatch(Event::SocketOpened);
            }
            SocketEvent::Text(text) => {
                log::info(&["Received message: ", &log::redact_json(&text)]);
                match ServerFrame::from_json(&text) {
                    Ok(frame) => {
                        match &frame {
                            ServerFrame::UserInfo(info) => {
                                log::info(&["Authenticated on the chat as ", &info.username]);
                            }
                            ServerFrame::Error(error) => {
                                log::warn(&["Error from the gateway: ", &error.code, ": ", &error.message]);
                            }
                            // (Never the text: neither the announcement nor the notice.)
                            ServerFrame::Pinned { content, .. } => log::info(&[if content.is_empty() {
                                "Pinned announcement removed"
                            } else {
                                "Pinned announcement updated"
                            }]),
                            ServerFrame::Message(m) if m.hidden => {
                                log::info(&["A message was removed by course staff"]);
                            }
                            _ => {}
                        }
                        self.dispatch(Event::Frame(frame));
                    }
                    // A newer gateway's frame: nothing for this widget to do.
                    Err(DecodeError::UnknownType(_)) => {}
                    Err(err) => log::warn(&["Ignoring a frame that is ", &err.describe()]),
                }
            }
            SocketEvent::Closed { code, reason } => {
                let colon = if reason.is_empty() { "" } else { ": " };
                log::info(&["WebSocket connection closed (code ", &decimal(u64::from(code)), colon, &reason, ")"]);
                let old = self.io.write().socket.take();
                defer_drop(old);
                self.dispatch(Event::SocketClosed { code, jitter: js_sys::Math::random() });
            }
        }
    }
}
