//! The settings object `mount()` receives (from the XBlock, the standalone page or the LTI embed
//! page), validated, and the URLs derived from it.

use crate::text::{cat, rfind_byte, sub};
use wasm_bindgen::JsValue;

/// How the widget gets a token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthMode {
    /// Open edX sign-in in a popup (the XBlock; the default).
    Popup,
    /// A username/password form against the gateway's local accounts (the standalone page).
    Local,
    /// A token handed over by the page (the LTI embed page): no sign-in step.
    Token,
    /// The LMS signs the user in: a chat ticket from the page is exchanged for a token (the XBlock
    /// with `SIGN_IN: "lms"`): no popup.
    Lms,
}

/// The validated settings.
#[derive(Debug, Clone, PartialEq)]
pub struct Settings {
    /// The gateway's base URL, without a trailing slash.
    pub gateway_url: String,
    /// The gateway's origin (`scheme://host[:port]`): the only origin sign-in messages may come from.
    pub gateway_origin: String,
    /// The chat WebSocket URL, without the context query.
    pub ws_url: String,
    /// The widget module's URL (its folder holds the stylesheet), possibly empty.
    pub widget_url: String,
    /// The course page's relay page (the XBlock's), which hands a popup sign-in to the widget when a
    /// cross-origin opener policy cut the opener; empty without one.
    pub auth_relay_url: String,
    /// The course (empty outside a course).
    pub course_id: String,
    /// The block (the chat's context within the course).
    pub usage_id: String,
    /// The chat's title.
    pub display_name: String,
    /// The text of the start state (empty: the default "Click Start Chat to begin").
    pub welcome_message: String,
    /// The preferred language tag.
    pub lang: String,
    /// How to sign in.
    pub auth_mode: AuthMode,
    /// `auth_mode: "token"`: the token.
    pub access_token: String,
    /// `auth_mode: "token"`: its lifetime in seconds.
    pub expires_in: Option<f64>,
    /// `auth_mode: "token"`: the username.
    pub username: String,
    /// The block offers both the course room and the assistant, in tabs (`mode: "both"`; any other
    /// mode, or none, is one chat).
    pub both: bool,
}

impl Settings {
    /// Validates settings given as a lookup of their string values.
    ///
    /// # Errors
    /// A sentence naming the setting that is missing or invalid.
    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<Self, String> {
        let text = |name: &str| get(name).map(|v| v.trim().to_owned()).unwrap_or_default();
        let mut gateway_url = text("gateway_url");
        while gateway_url.ends_with('/') {
            gateway_url.pop();
        }
        let gateway_origin = origin_of(&gateway_url)
            .filter(|o| o.starts_with("http://") || o.starts_with("https://"))
            .ok_or_else(|| cat(&["settings.gateway_url is missing or not an http(s) URL: \"", &gateway_url, "\""]))?;
        let ws_url = match text("ws_url") {
            url if url.is_empty() => default_ws_url(&gateway_url),
            url if url.starts_with("ws://") || url.starts_with("wss://") => url,
            url => return Err(cat(&["settings.ws_url is not a ws:// or wss:// URL: \"", &url, "\""])),
        };
        // The pages set `auth_mode`; the XBlock passes its operator's `SIGN_IN` as `sign_in`.
        let mode = match text("auth_mode") {
            mode if mode.is_empty() => text("sign_in"),
            mode => mode,
        };
        let auth_mode = match mode.as_str() {
            "" | "popup" => AuthMode::Popup,
            "lms" => AuthMode::Lms,
            "local" => AuthMode::Local,
            "token" => AuthMode::Token,
            other => {
                return Err(cat(&["settings.auth_mode must be popup, lms, local or token, not \"", other, "\""]));
            }
        };
        let access_token = text("access_token");
        if auth_mode == AuthMode::Token && access_token.is_empty() {
            return Err("settings.access_token is required with auth_mode \"token\"".to_owned());
        }
        let display_name = match text("display_name") {
            name if name.is_empty() => "IBAL Chat".to_owned(),
            name => name,
        };
        Ok(Self {
            gateway_url,
            gateway_origin,
            ws_url,
            widget_url: text("widget_url"),
            auth_relay_url: text("auth_relay_url"),
            course_id: text("course_id"),
            usage_id: text("usage_id"),
            display_name,
            welcome_message: text("welcome_message"),
            lang: text("lang"),
            auth_mode,
            access_token,
            expires_in: crate::text::number(&text("expires_in")).filter(|s| *s > 0).map(f64::from),
            username: text("username"),
            both: text("mode") == "both",
        })
    }

    /// Reads and validates the JS settings object. Strings are taken as they are; whole numbers are
    /// turned into strings (`expires_in` is often a number).
    ///
    /// # Errors
    /// As [`Settings::from_lookup`], or when `value` is not an object.
    pub fn from_js(value: &JsValue) -> Result<Self, String> {
        if !value.is_object() {
            return Err("mount() needs a settings object".to_owned());
        }
        Self::from_lookup(|name| {
            let v = js_sys::Reflect::get(value, &JsValue::from_str(name)).ok()?;
            // Integers only: formatting floats would cost kilobytes of .wasm.
            v.as_string()
                .or_else(|| v.as_f64().filter(|n| n.fract() == 0.0 && n.abs() < 1e15).map(|n| decimal_i64(n as i64)))
        })
    }

    /// The socket URL. It names no course: the course context is proven by the chat ticket sent in
    /// the `auth` frame, and never a token either.
    #[must_use]
    pub fn socket_url(&self) -> String {
        self.ws_url.clone()
    }

    /// A gateway URL from a path starting with `/`.
    #[must_use]
    pub fn gateway(&self, path: &str) -> String {
        cat(&[&self.gateway_url, path])
    }

    /// The stylesheet next to the widget module, when the module's URL is known.
    #[must_use]
    pub fn stylesheet_url(&self) -> Option<String> {
        let base = crate::text::head(&self.widget_url, b"?#");
        let dir = sub(base, ..rfind_byte(base, b'/')? + 1);
        (!dir.is_empty()).then(|| cat(&[dir, "ibal_widget.css"]))
    }
}

/// A whole number in decimal, without `core::fmt`.
fn decimal_i64(n: i64) -> String {
    let mut out = String::new();
    ibal_protocol::json::push_int(&mut out, n);
    out
}

/// `ws(s)://<gateway host>/ws/chat/`.
fn default_ws_url(gateway_url: &str) -> String {
    let ws = if let Some(rest) = gateway_url.strip_prefix("https://") {
        cat(&["wss://", rest])
    } else if let Some(rest) = gateway_url.strip_prefix("http://") {
        cat(&["ws://", rest])
    } else {
        gateway_url.to_owned()
    };
    ws + "/ws/chat/"
}

/// The origin of an absolute URL, as browsers serialise it: lower-case scheme and host, default
/// port dropped, no user info. `None` for a URL without `scheme://host`.
#[must_use]
pub fn origin_of(url: &str) -> Option<String> {
    let at = crate::text::find_str(url, "://")?;
    let (scheme, rest) = (sub(url, ..at), sub(url, at + 3..));
    let scheme = scheme.to_ascii_lowercase();
    if scheme.is_empty() || !scheme.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'+' || b == b'-' || b == b'.') {
        return None;
    }
    let authority = crate::text::head(rest, b"/?#");
    let host_port = rfind_byte(authority, b'@').map_or(authority, |at| sub(authority, at + 1..)).to_ascii_lowercase();
    if host_port.is_empty() {
        return None;
    }
    let default_port = match scheme.as_str() {
        "http" | "ws" => ":80",
        "https" | "wss" => ":443",
        _ => "",
    };
    let host_port = match host_port.strip_suffix(default_port) {
        Some(host) if !default_port.is_empty() && !host.is_empty() => host.to_owned(),
        _ => host_port,
    };
    Some(cat(&[&scheme, "://", &host_port]))
}

/// Percent-encoding as `encodeURIComponent` does it (also right for form bodies).
#[must_use]
pub fn percent_encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        // A `match`, not `b"…".contains(&byte)`: that brings `memchr`.
        let mark = matches!(byte, b'-' | b'_' | b'.' | b'!' | b'~' | b'*' | b'\'' | b'(' | b')');
        if byte.is_ascii_alphanumeric() || mark {
            out.push(char::from(byte));
        } else {
            const HEX: &[u8; 16] = b"0123456789ABCDEF";
            out.push('%');
            out.push(char::from(HEX[usize::from(byte >> 4)]));
            out.push(char::from(HEX[usize::from(byte & 0xf)]));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn settings(pairs: &[(&str, &str)]) -> Result<Settings, String> {
        let map: HashMap<String, String> = pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect();
        Settings::from_lookup(|name| map.get(name).cloned())
    }

    #[test]
    fn the_xblock_settings() {
        let s = settings(&[
            ("gateway_url", "https://chat.local.openedx.io/"),
            ("ws_url", "wss://chat.local.openedx.io/ws/chat/"),
            ("widget_url", "https://chat.local.openedx.io/static/widget/0.1.0/ibal_widget.js"),
            ("course_id", "course-v1:OpenedX+DemoX+DemoCourse"),
            ("usage_id", "block-v1:OpenedX+DemoX+DemoCourse+type@ibalxblock+block@3f1c"),
            ("display_name", "IBAL Chat"),
            ("welcome_message", "Click Start Chat to begin"),
            ("lang", "en"),
        ]);
        let Ok(s) = s else { panic!("{s:?}") };
        assert_eq!(s.gateway_url, "https://chat.local.openedx.io");
        assert_eq!(s.gateway_origin, "https://chat.local.openedx.io");
        assert_eq!(s.auth_mode, AuthMode::Popup);
        assert_eq!(
            s.socket_url(),
            "wss://chat.local.openedx.io/ws/chat/",
            "the course is proven by ticket, never named"
        );
        assert_eq!(
            s.stylesheet_url().as_deref(),
            Some("https://chat.local.openedx.io/static/widget/0.1.0/ibal_widget.css")
        );
        assert_eq!(s.gateway("/oauth2/token"), "https://chat.local.openedx.io/oauth2/token");
        assert!(!s.both, "no mode: one chat");
    }

    #[test]
    fn the_mode_both_asks_for_tabs() {
        let both = |mode: &str| settings(&[("gateway_url", "https://a.b"), ("mode", mode)]).is_ok_and(|s| s.both);
        assert!(both("both") && both(" both "));
        assert!(!both("assistant") && !both("room") && !both("") && !both("Both"));
    }

    #[test]
    fn defaults_and_errors() {
        let Ok(s) = settings(&[("gateway_url", "http://127.0.0.1:8080"), ("auth_mode", "local")]) else { panic!() };
        assert_eq!(s.ws_url, "ws://127.0.0.1:8080/ws/chat/");
        assert_eq!(s.socket_url(), "ws://127.0.0.1:8080/ws/chat/");
        assert_eq!(s.display_name, "IBAL Chat");
        assert_eq!(s.auth_mode, AuthMode::Local);
        assert_eq!(s.stylesheet_url(), None);

        assert!(settings(&[]).is_err());
        assert!(settings(&[("gateway_url", "javascript:alert(1)")]).is_err());
        assert!(settings(&[("gateway_url", "https://a.b"), ("ws_url", "https://a.b/ws")]).is_err());
        assert!(settings(&[("gateway_url", "https://a.b"), ("auth_mode", "magic")]).is_err());
        let err = settings(&[("gateway_url", "https://a.b"), ("auth_mode", "token")]);
        assert!(err.is_err_and(|e| e.contains("access_token")));

        let Ok(s) = settings(&[
            ("gateway_url", "https://a.b"),
            ("ws_url", "wss://a.b/ws/chat/?x=1"),
            ("auth_mode", "token"),
            ("access_token", "t"),
            ("expires_in", "900"),
            ("username", "u"),
        ]) else {
            panic!()
        };
        assert_eq!(s.expires_in, Some(900.0));
        assert_eq!(s.socket_url(), "wss://a.b/ws/chat/?x=1");
        let lms =
            |sign_in: &str| settings(&[("gateway_url", "https://a.b"), ("sign_in", sign_in)]).map(|s| s.auth_mode);
        assert_eq!(lms("lms"), Ok(AuthMode::Lms));
        assert_eq!(lms("popup"), Ok(AuthMode::Popup));
        assert!(lms("magic").is_err());
    }

    #[test]
    fn origins() {
        assert_eq!(origin_of("https://Chat.Example.com:443/a?b").as_deref(), Some("https://chat.example.com"));
        assert_eq!(origin_of("http://localhost:8080/").as_deref(), Some("http://localhost:8080"));
        assert_eq!(origin_of("http://user:pw@h:80").as_deref(), Some("http://h"));
        assert_eq!(origin_of("https://h:4430").as_deref(), Some("https://h:4430"));
        assert_eq!(origin_of("/relative"), None);
        assert_eq!(origin_of("https://"), None);
    }

    #[test]
    fn encoding_matches_encode_uri_component() {
        assert_eq!(percent_encode("a b+c/d?e=f&g"), "a%20b%2Bc%2Fd%3Fe%3Df%26g");
        assert_eq!(percent_encode("é"), "%C3%A9");
        assert_eq!(percent_encode("A-z_0.9!~*'()"), "A-z_0.9!~*'()");
    }
}
