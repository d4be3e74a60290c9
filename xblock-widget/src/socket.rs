//! The WebSocket: opening it, its events, and the reconnect policy of docs/protocol.md (close codes,
//! exponential backoff with jitter). The token never goes in the URL: the controller sends it as the
//! first frame once the socket opens.

use std::rc::Rc;

use ibal_protocol::close;
use wasm_bindgen::JsCast;
use web_sys::{CloseEvent, MessageEvent, WebSocket};

use crate::handles::Listener;

/// What to do when the socket closes with a code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClosePolicy {
    /// Reconnect with backoff (1001, 1011, 4408, 4429, abnormal closures).
    Reconnect,
    /// Reconnect only with a new token (4401).
    NewToken,
    /// The session was revoked (4403): the user must sign in again.
    Revoked,
    /// The course context was not proven (4406): the error frame before it says why.
    Context,
    /// Do not reconnect without user action (1000, 1009).
    Stay,
}

/// The policy for a close code (docs/protocol.md, "Close codes").
#[must_use]
pub fn close_policy(code: u16) -> ClosePolicy {
    match code {
        close::NORMAL | close::TOO_BIG => ClosePolicy::Stay,
        close::UNAUTHORIZED => ClosePolicy::NewToken,
        close::REVOKED => ClosePolicy::Revoked,
        close::CONTEXT_REFUSED => ClosePolicy::Context,
        // 1001 going away, 1011 server error, 1013 try again, 4408 auth timeout, 4429 too many sockets
        // or slow consumer, and 1005/1006 (no code, dropped connection): transient.
        _ => ClosePolicy::Reconnect,
    }
}

/// First reconnect delay ceiling, in milliseconds.
const BACKOFF_BASE_MS: f64 = 1000.0;
/// Longest reconnect delay, in milliseconds.
const BACKOFF_MAX_MS: f64 = 30_000.0;

/// The delay before reconnect attempt `attempt` (1, 2, …): the ceiling doubles from 1 s up to 30 s,
/// and the delay is drawn between half the ceiling and the ceiling ("equal jitter"), so that many
/// clients dropped at once by a restarting gateway do not come back at once. `jitter` is in [0, 1).
#[must_use]
pub fn backoff_ms(attempt: u32, jitter: f64) -> u32 {
    let exp = attempt.saturating_sub(1).min(16);
    let ceiling = (BACKOFF_BASE_MS * f64::from(1u32 << exp)).min(BACKOFF_MAX_MS);
    let jitter = if jitter.is_finite() { jitter.clamp(0.0, 1.0) } else { 0.5 };
    let delay = ceiling / 2.0 + jitter * ceiling / 2.0;
    // In range by construction: at most BACKOFF_MAX_MS.
    delay.round() as u32
}

/// What the socket reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SocketEvent {
    /// Open: send the `auth` frame.
    Open,
    /// A text frame.
    Text(String),
    /// Closed (after an error too: browsers always follow `error` with `close`).
    Closed {
        /// The close code (1006 when the connection dropped).
        code: u16,
        /// The reason the server gave.
        reason: String,
    },
}

/// An open (or opening) WebSocket and its event listeners. Dropping it detaches the listeners, then
/// closes the socket with 1000: the controller hears nothing more from it.
pub struct Socket {
    ws: WebSocket,
    listeners: [Listener; 3],
}

impl std::fmt::Debug for Socket {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Socket").field("url", &self.ws.url()).field("ready_state", &self.ws.ready_state()).finish()
    }
}

impl Socket {
    /// Opens a socket to `url`; `handler` receives its events (from the browser's event loop, never
    /// from inside this call).
    ///
    /// # Errors
    /// When the browser refuses the URL (syntax, blocked port, mixed content).
    pub fn open(url: &str, handler: Rc<dyn Fn(SocketEvent)>) -> Result<Self, wasm_bindgen::JsValue> {
        let ws = WebSocket::new(url)?;
        let h = Rc::clone(&handler);
        let on_open = Listener::new(&ws, "open", move |_| h(SocketEvent::Open));
        let h = Rc::clone(&handler);
        let on_message = Listener::new(&ws, "message", move |event| {
            // The protocol uses text frames only; binary frames are ignored.
            if let Some(text) = event.unchecked_ref::<MessageEvent>().data().as_string() {
                h(SocketEvent::Text(text));
            }
        });
        let on_close = Listener::new(&ws, "close", move |event| {
            let event = event.unchecked_ref::<CloseEvent>();
            handler(SocketEvent::Closed { code: event.code(), reason: event.reason() });
        });
        Ok(Self { ws, listeners: [on_open, on_message, on_close] })
    }

    /// Sends a text frame; false when the socket is not open (the caller keeps the message pending).
    pub fn send(&self, text: &str) -> bool {
        self.ws.ready_state() == WebSocket::OPEN && self.ws.send_with_str(text).is_ok()
    }

    /// Detaches the listeners and closes the socket with 1000 (if not closed yet), at once. Dropping
    /// does the same; this is for when the drop itself must wait (inside one of the listeners).
    pub fn shutdown(&self) {
        for listener in &self.listeners {
            listener.detach();
        }
        if matches!(self.ws.ready_state(), WebSocket::CONNECTING | WebSocket::OPEN) {
            let _ = self.ws.close_with_code(close::NORMAL);
        }
    }

    /// Whether the socket is open.
    #[must_use]
    pub fn is_open(&self) -> bool {
        self.ws.ready_state() == WebSocket::OPEN
    }
}

impl Drop for Socket {
    fn drop(&mut self) {
        self.shutdown();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn close_codes_map_to_the_protocol_policy() {
        assert_eq!(close_policy(1000), ClosePolicy::Stay);
        assert_eq!(close_policy(1009), ClosePolicy::Stay);
        assert_eq!(close_policy(4401), ClosePolicy::NewToken);
        assert_eq!(close_policy(4403), ClosePolicy::Revoked);
        assert_eq!(close_policy(4406), ClosePolicy::Context);
        for code in [1001, 1005, 1006, 1011, 4408, 4429] {
            assert_eq!(close_policy(code), ClosePolicy::Reconnect, "{code}");
        }
    }

    #[test]
    fn backoff_grows_exponentially_with_jitter_and_a_cap() {
        assert_eq!(backoff_ms(1, 0.0), 500);
        assert_eq!(backoff_ms(1, 1.0), 1000);
        assert_eq!(backoff_ms(2, 0.0), 1000);
        assert_eq!(backoff_ms(3, 0.5), 3000);
        for attempt in 1..40 {
            for jitter in [0.0, 0.3, 0.999] {
                let d = backoff_ms(attempt, jitter);
                assert!((500..=30_000).contains(&d), "{attempt} {jitter} {d}");
                assert!(d >= backoff_ms(attempt.saturating_sub(1).max(1), jitter));
            }
        }
        assert_eq!(backoff_ms(100, 1.0), 30_000);
        assert_eq!(backoff_ms(0, 0.0), 500);
        assert_eq!(backoff_ms(2, f64::NAN), 1500);
        assert_eq!(backoff_ms(2, 7.0), 2000);
    }
}
