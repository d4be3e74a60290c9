//! Console logging. Every line starts with `[IbalXBlock]` (the original system's prefix: filter the console on
//! it), and a token is never printed whole: only a short prefix followed by `…`.

use crate::text::{cat, find_byte, sub};

/// The prefix of every console line the widget writes.
pub const PREFIX: &str = "[IbalXBlock]";

/// How many characters of a token a log line may show.
const TOKEN_PREFIX_CHARS: usize = 8;

/// Longest received frame echoed to the console, in characters; the rest is elided.
const MAX_FRAME_CHARS: usize = 400;

/// JSON keys whose string values are secrets.
const SECRET_KEYS: [&str; 5] = ["token", "access_token", "refresh_token", "id_token", "password"];

/// JSON keys whose string values are what people wrote (or the assistant answered, or the course
/// passage a reply cites): never logged.
const TEXT_KEYS: [&str; 4] = ["content", "delta", "comment", "snippet"];

/// `message` with the prefix: the exact text of a console line.
#[must_use]
pub fn line(message: &str) -> String {
    cat(&[PREFIX, " ", message])
}

/// A token as it may appear in a log line: its first few characters and `…`.
#[must_use]
pub fn redact_token(token: &str) -> String {
    // A short token shows at most a quarter of itself.
    let chars = token.chars().fold(0, |n, _| n + 1);
    cat(&[chars_prefix(token, (chars / 4).min(TOKEN_PREFIX_CHARS)), "…"])
}

/// The JSON text `text` with the string value of every secret key (`token`, `access_token`,
/// `refresh_token`, `id_token`, `password`) shortened by [`redact_token`], and of every text key
/// (`content`, `delta`, `comment`, `snippet`) replaced by `…`; long texts are elided.
/// Works on the text, so it also redacts a frame that does not parse.
#[must_use]
pub fn redact_json(text: &str) -> String {
    let mut out = String::with_capacity(text.len().min(MAX_FRAME_CHARS + 8));
    let mut rest = text;
    while let Some(start) = find_byte(rest, b'"') {
        out.push_str(sub(rest, ..start));
        let after_quote = sub(rest, start + 1..);
        let Some(len) = string_len(after_quote) else {
            // Unterminated string: emit the rest untouched.
            out.push_str(sub(rest, start..));
            rest = "";
            break;
        };
        let key = sub(after_quote, ..len);
        out.push('"');
        out.push_str(key);
        out.push('"');
        rest = sub(after_quote, len + 1..);
        let text = TEXT_KEYS.contains(&key);
        if !text && !SECRET_KEYS.contains(&key) {
            continue;
        }
        // A key: look for `: "value"`.
        let trimmed = rest.trim_start();
        let Some(after_colon) = trimmed.strip_prefix(':') else { continue };
        let value_part = after_colon.trim_start();
        let Some(value_body) = value_part.strip_prefix('"') else { continue };
        out.push_str(sub(rest, ..rest.len() - value_part.len()));
        out.push('"');
        let Some(value_len) = string_len(value_body) else {
            // Unterminated secret: hide all of it.
            out.push_str(&redact_token(value_body));
            rest = "";
            break;
        };
        out.push_str(&if text { "…".to_owned() } else { redact_token(sub(value_body, ..value_len)) });
        out.push('"');
        rest = sub(value_body, value_len + 1..);
    }
    out.push_str(rest);
    truncate(&out, MAX_FRAME_CHARS)
}

/// Length in bytes of a JSON string body (after its opening quote) up to its closing quote.
fn string_len(body: &str) -> Option<usize> {
    let mut escaped = false;
    for (i, c) in body.char_indices() {
        match c {
            _ if escaped => escaped = false,
            '\\' => escaped = true,
            '"' => return Some(i),
            _ => {}
        }
    }
    None
}

/// `text` cut to `max` characters, with `…` when something was cut.
#[must_use]
pub fn truncate(text: &str, max: usize) -> String {
    let cut = chars_prefix(text, max);
    if cut.len() < text.len() { cat(&[cut, "…"]) } else { text.to_owned() }
}

/// The first `n` characters of `text` (all of it when shorter).
fn chars_prefix(text: &str, n: usize) -> &str {
    sub(text, ..text.char_indices().nth(n).map_or(text.len(), |(i, _)| i))
}

/// Writes an informational line (`console.log`): the prefix, then `parts` (a line's parts are given as
/// they are: each caller concatenating them first would cost a `String` and its code at every call).
pub fn info(parts: &[&str]) {
    write(Level::Info, parts);
}

/// Writes a warning line (`console.warn`), as [`info`].
pub fn warn(parts: &[&str]) {
    write(Level::Warn, parts);
}

/// Writes an error line (`console.error`), as [`info`].
pub fn error(parts: &[&str]) {
    write(Level::Error, parts);
}

/// The message of a JS error, or its string form.
#[must_use]
pub fn js_error_text(err: &wasm_bindgen::JsValue) -> String {
    use wasm_bindgen::JsCast;
    if let Some(e) = err.dyn_ref::<js_sys::Error>() {
        return e.message().into();
    }
    err.as_string().unwrap_or_else(|| "unknown error".to_owned())
}

#[derive(Clone, Copy)]
enum Level {
    Info,
    Warn,
    Error,
}

/// The console line of `parts`: the prefix, a space, the parts.
fn joined(parts: &[&str]) -> String {
    let mut text = line("");
    for part in parts {
        text.push_str(part);
    }
    text
}

#[cfg(target_arch = "wasm32")]
fn write(level: Level, parts: &[&str]) {
    let text = wasm_bindgen::JsValue::from_str(&joined(parts));
    match level {
        Level::Info => web_sys::console::log_1(&text),
        Level::Warn => web_sys::console::warn_1(&text),
        Level::Error => web_sys::console::error_1(&text),
    }
}

#[cfg(not(target_arch = "wasm32"))]
fn write(level: Level, parts: &[&str]) {
    // Host builds (unit tests) have no console; stderr is the closest thing.
    let _ = level;
    eprintln!("{}", joined(parts));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_carry_the_prefix() {
        assert_eq!(line("WebSocket connection opened"), "[IbalXBlock] WebSocket connection opened");
        assert_eq!(joined(&["Reconnecting in ", "500", " ms"]), "[IbalXBlock] Reconnecting in 500 ms");
    }

    #[test]
    fn tokens_are_shortened() {
        assert_eq!(redact_token("eyJ0eXAiOiJKV1QiLCJhbGciOiJIUzI1NiJ9.payload.sig"), "eyJ0eXAi…");
        assert_eq!(redact_token("abc"), "…");
        assert_eq!(redact_token(""), "…");
    }

    #[test]
    fn secret_fields_are_redacted_in_json() {
        let text = r#"{"type":"auth","token":"eyJhbGciOiJSUzI1NiJ9.secretpayload.signature"}"#;
        let red = redact_json(text);
        assert_eq!(red, r#"{"type":"auth","token":"eyJhbGci…"}"#);
        assert!(!red.contains("secretpayload"));

        let text = r#"{"type": "ibal:auth", "access_token" : "AAAAAAAAAAAAsecret", "refresh_token":"r1.BBBBBBBBBBBB", "username":"john"}"#;
        let red = redact_json(text);
        assert!(red.contains(r#""access_token" : "AAAA…""#), "{red}");
        assert!(red.contains(r#""refresh_token":"r1.…""#), "{red}");
        assert!(red.contains(r#""username":"john""#));
        assert!(!red.contains("secret"));
    }

    #[test]
    fn what_people_wrote_is_never_logged() {
        let text = r#"{"type":"message","content":"the \"token\": \"x\" is here","sender":"john_doe"}"#;
        assert_eq!(redact_json(text), r#"{"type":"message","content":"…","sender":"john_doe"}"#);
        let delta = r#"{"type":"stream_delta","id":"r1","delta":"my grade is 42"}"#;
        assert_eq!(redact_json(delta), r#"{"type":"stream_delta","id":"r1","delta":"…"}"#);
        let rating = r#"{"rating":"down","comment":"wrong about mitosis"}"#;
        assert_eq!(redact_json(rating), r#"{"rating":"down","comment":"…"}"#);
        let source = r#"{"n":1,"title":"Light","url":"https://lms/x","snippet":"In the thylakoid"}"#;
        assert_eq!(redact_json(source), r#"{"n":1,"title":"Light","url":"https://lms/x","snippet":"…"}"#);
    }

    #[test]
    fn other_json_is_unchanged() {
        let text = r#"{"type":"typing","username":"john_doe","is_typing":true}"#;
        assert_eq!(redact_json(text), text);
    }

    #[test]
    fn broken_json_is_kept_and_still_redacted() {
        assert_eq!(redact_json(r#"{"token":"abcdefghijklmnop"#), r#"{"token":"abcd…"#);
        assert_eq!(redact_json(r#"{"token":"abcdefghijklmnop", "a"#), r#"{"token":"abcd…", "a"#);
    }

    #[test]
    fn long_frames_are_truncated() {
        let text = "x".repeat(1000);
        let out = redact_json(&text);
        assert_eq!(out.chars().count(), MAX_FRAME_CHARS + 1);
        assert!(out.ends_with('…'));
    }
}
