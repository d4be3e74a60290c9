//! Browser tests: the widget mounted into a real DOM in headless Chromium (wasm-bindgen-test).
//! The gateway is faked in the page (tests/support/fakes.js): a WebSocket the test drives frame by
//! frame, `window.open`, `fetch`, and a console recorder. The real gateway is exercised by the
//! end-to-end tests.
//!
//! Run with `scripts/test-widget.sh` (or `cargo test -p ibal-widget --target wasm32-unknown-unknown`
//! with wasm-bindgen-test-runner and chromedriver on PATH).
#![cfg(target_arch = "wasm32")]
#![allow(clippy::unwrap_used)]

use ibal_widget::handles::sleep;
use ibal_widget::{WidgetHandle, markdown, mount, view};
use wasm_bindgen::prelude::*;
use wasm_bindgen_test::{wasm_bindgen_test, wasm_bindgen_test_configure};
use web_sys::{Element, HtmlElement};

wasm_bindgen_test_configure!(run_in_browser);

#[wasm_bindgen(module = "/tests/support/fakes.js")]
extern "C" {
    fn install();
    fn reset();
    #[wasm_bindgen(js_name = ticketSource)]
    fn ticket_source_fn() -> JsValue;
    #[wasm_bindgen(js_name = trackSource)]
    fn track_source_fn(throws: bool) -> JsValue;
    fn tracked() -> js_sys::Array;
    fn broadcast(channel: &str, json: &str);
    #[wasm_bindgen(js_name = socketCount)]
    fn socket_count() -> u32;
    #[wasm_bindgen(js_name = socketUrl)]
    fn socket_url(index: u32) -> String;
    #[wasm_bindgen(js_name = socketSent)]
    fn socket_sent(index: u32) -> js_sys::Array;
    #[wasm_bindgen(js_name = socketClosedWith)]
    fn socket_closed_with(index: u32) -> i32;
    #[wasm_bindgen(js_name = serverOpen)]
    fn server_open(index: u32);
    #[wasm_bindgen(js_name = serverSend)]
    fn server_send(index: u32, text: &str);
    #[wasm_bindgen(js_name = serverClose)]
    fn server_close(index: u32, code: u16, reason: &str);
    #[wasm_bindgen(js_name = setPopupBlocked)]
    fn set_popup_blocked(blocked: bool);
    #[wasm_bindgen(js_name = openedUrls)]
    fn opened_urls() -> js_sys::Array;
    #[wasm_bindgen(js_name = postWindowMessage)]
    fn post_window_message(origin: &str, json: &str);
    fn route(path: &str, status: u16, body: &str);
    fn clipboard() -> js_sys::Array;
    #[wasm_bindgen(js_name = refuseClipboard)]
    fn refuse_clipboard(refuses: bool);
    #[wasm_bindgen(js_name = fetchLog)]
    fn fetch_log() -> js_sys::Array;
    fn logs() -> js_sys::Array;
    #[wasm_bindgen(js_name = typeInto)]
    fn type_into(element: &Element, text: &str);
    #[wasm_bindgen(js_name = pressKey)]
    fn press_key(element: &Element, key: &str, shift: bool) -> bool;
    #[wasm_bindgen(js_name = computedStyle)]
    fn computed_style(element: &Element, property: &str) -> String;
    #[wasm_bindgen(js_name = isFocused)]
    fn is_focused(element: &Element) -> bool;
    #[wasm_bindgen(js_name = addStyle)]
    fn add_style(css: &str);
    #[wasm_bindgen(js_name = setStorage)]
    fn set_storage(key: &str, value: &str);
    #[wasm_bindgen(js_name = getStorage)]
    fn get_storage(key: &str) -> String;
    fn now() -> f64;
    #[wasm_bindgen(js_name = sessionItem)]
    fn session_item(key: &str) -> String;
    #[wasm_bindgen(js_name = setSessionItem)]
    fn set_session_item(key: &str, value: &str);
    fn downloads() -> js_sys::Array;
    #[wasm_bindgen(js_name = revokedUrls)]
    fn revoked_urls() -> js_sys::Array;
    #[wasm_bindgen(js_name = blobText)]
    fn blob_text(url: &str) -> js_sys::Promise;
}

const GATEWAY: &str = "http://gateway.test";
const TOKEN: &str = "eyJhbGciOiJSUzI1NiJ9.U0VDUkVUUEFZTE9BRFNFQ1JFVFBBWUxPQUQ.c2lnbmF0dXJlc2lnbmF0dXJl";
const COURSE: &str = "course-v1:edX+DemoX+Demo_Course";
const BLOCK: &str = "block-v1:edX+DemoX+Demo_Course+type@ibalxblock+block@3f2a";
const GREEN: &str = "rgb(30, 142, 62)";
const RED: &str = "rgb(197, 34, 31)";
const BLUE: &str = "rgb(26, 115, 232)";
const WHITE: &str = "rgb(255, 255, 255)";

fn strings(array: js_sys::Array) -> Vec<String> {
    array.iter().filter_map(|v| v.as_string()).collect()
}

fn document() -> web_sys::Document {
    web_sys::window().unwrap().document().unwrap()
}

/// A widget mounted in a fresh element; unmounted and removed on drop.
struct Fixture {
    wrapper: Element,
    host: Element,
    handle: Option<WidgetHandle>,
}

impl Fixture {
    fn settings(pairs: &[(&str, &str)]) -> JsValue {
        let obj = js_sys::Object::new();
        let base = [
            ("gateway_url", GATEWAY),
            ("ws_url", "ws://gateway.test/ws/chat/"),
            ("widget_url", "http://gateway.test/static/widget/0.1.0/ibal_widget.js"),
            ("course_id", COURSE),
            ("usage_id", BLOCK),
            ("display_name", "IBAL Chat"),
            ("welcome_message", ""),
            ("lang", "en"),
        ];
        for (k, v) in base.iter().chain(pairs) {
            js_sys::Reflect::set(&obj, &(*k).into(), &(*v).into()).unwrap();
        }
        obj.into()
    }

    /// Mounts with the base settings overridden by `pairs`, inside a wrapper with `wrapper_attrs`.
    fn mount_in(wrapper_attrs: &[(&str, &str)], pairs: &[(&str, &str)]) -> Self {
        install();
        reset();
        Self::mount_settings(wrapper_attrs, Self::settings(pairs))
    }

    /// Mounts with `settings` as they are (after `install()` and `reset()`).
    fn mount_settings(wrapper_attrs: &[(&str, &str)], settings: JsValue) -> Self {
        stylesheet_once();
        let doc = document();
        let wrapper = doc.create_element("div").unwrap();
        for (k, v) in wrapper_attrs {
            wrapper.set_attribute(k, v).unwrap();
        }
        let host = doc.create_element("div").unwrap();
        wrapper.append_child(&host).unwrap();
        doc.body().unwrap().append_child(&wrapper).unwrap();
        let handle = mount(host.clone(), settings).unwrap();
        Self { wrapper, host, handle: Some(handle) }
    }

    fn mount(pairs: &[(&str, &str)]) -> Self {
        Self::mount_in(&[], pairs)
    }

    /// Token mode, connected as john_doe on socket 0 with an empty history.
    fn connected(pairs: &[(&str, &str)]) -> Self {
        let mut all =
            vec![("auth_mode", "token"), ("access_token", TOKEN), ("expires_in", "900"), ("username", "john_doe")];
        all.extend_from_slice(pairs);
        let f = Self::mount(&all);
        assert_eq!(socket_count(), 1, "token mode connects at once");
        server_open(0);
        server_send(
            0,
            r#"{"type":"user_info","username":"john_doe","backend":"room","limits":{"max_message_bytes":16384}}"#,
        );
        server_send(0, r#"{"type":"history","messages":[],"has_more":false}"#);
        f
    }

    fn q(&self, selector: &str) -> Element {
        self.host.query_selector(selector).unwrap().unwrap_or_else(|| panic!("no element {selector}"))
    }

    fn all(&self, selector: &str) -> Vec<Element> {
        let list = self.host.query_selector_all(selector).unwrap();
        (0..list.length()).filter_map(|i| list.item(i)).filter_map(|n| n.dyn_into().ok()).collect()
    }

    fn text(&self, selector: &str) -> String {
        self.q(selector).text_content().unwrap_or_default()
    }

    /// Shown: neither it nor an ancestor inside the widget is `hidden`.
    fn visible(&self, selector: &str) -> bool {
        let mut node = Some(self.q(selector));
        while let Some(e) = node {
            if e.has_attribute("hidden") {
                return false;
            }
            if e == self.host {
                return true;
            }
            node = e.parent_element();
        }
        true
    }

    fn click(&self, selector: &str) {
        self.q(selector).dyn_into::<HtmlElement>().unwrap().click();
    }

    fn phase(&self) -> String {
        self.handle.as_ref().unwrap().phase().as_string().unwrap()
    }

    fn unmount(&mut self) {
        if let Some(handle) = self.handle.take() {
            handle.unmount();
        }
    }
}

impl Drop for Fixture {
    fn drop(&mut self) {
        self.unmount();
        self.wrapper.remove();
    }
}

fn sent(index: u32) -> Vec<String> {
    strings(socket_sent(index))
}

/// Polls `cond` every 50 ms for up to `ms`.
async fn wait_for(ms: u32, what: &str, cond: impl Fn() -> bool) {
    let mut waited = 0;
    while !cond() {
        assert!(waited < ms, "timed out waiting for {what}");
        sleep(50).await;
        waited += 50;
    }
}

fn stylesheet_once() {
    thread_local!(static DONE: std::cell::Cell<bool> = const { std::cell::Cell::new(false) });
    if !DONE.with(|d| d.replace(true)) {
        // The shipped stylesheet, as the page would load it from next to ibal_widget.js.
        add_style(include_str!("../static/ibal_widget.css"));
    }
}

#[wasm_bindgen_test]
fn start_state_shows_the_green_start_button_and_the_welcome_text() {
    stylesheet_once();
    let f = Fixture::mount(&[]);
    assert_eq!(f.phase(), "idle");
    assert!(f.visible(".ibal-btn-start"));
    assert_eq!(f.text(".ibal-btn-start"), "Start Chat");
    assert_eq!(f.text(".ibal-status-text"), "Click Start Chat to begin");
    assert_eq!(f.q(".ibal-status").get_attribute("aria-live").as_deref(), Some("polite"));
    assert_eq!(f.q(".ibal-status").get_attribute("role").as_deref(), Some("status"));
    assert!(!f.visible(".ibal-chat"), "no chat before Start Chat");
    assert!(!f.visible(".ibal-user"));
    assert_eq!(computed_style(&f.q(".ibal-btn-start"), "background-color"), GREEN);
    assert_eq!(f.text(".ibal-title"), "IBAL Chat");
    // The stylesheet is linked once, from the folder of widget_url.
    let links = document().query_selector_all("link[data-ibal-widget-css]").unwrap();
    assert_eq!(links.length(), 1);
    let href = links.item(0).unwrap().dyn_into::<Element>().unwrap().get_attribute("href");
    assert_eq!(href.as_deref(), Some("http://gateway.test/static/widget/0.1.0/ibal_widget.css"));
    let g = Fixture::mount(&[("welcome_message", "Ask the course assistant anything")]);
    assert_eq!(g.text(".ibal-status-text"), "Ask the course assistant anything");
    assert_eq!(document().query_selector_all("link[data-ibal-widget-css]").unwrap().length(), 1);
}

#[wasm_bindgen_test]
fn invalid_settings_are_refused_with_a_message() {
    install();
    reset();
    let host = document().create_element("div").unwrap();
    let settings = js_sys::Object::new();
    let err = mount(host, settings.into()).err().unwrap();
    let message = err.dyn_ref::<js_sys::Error>().map(|e| String::from(e.message())).unwrap_or_default();
    assert!(message.contains("gateway_url"), "{message}");
    let lines = strings(logs());
    assert!(lines.iter().any(|l| l.starts_with("[IbalXBlock] Cannot mount the chat widget: settings.gateway_url")));
}

#[wasm_bindgen_test]
fn token_mode_connects_authenticates_with_a_first_frame_and_chats() {
    stylesheet_once();
    let f = Fixture::mount(&[
        ("auth_mode", "token"),
        ("access_token", TOKEN),
        ("expires_in", "900"),
        ("username", "john_doe"),
    ]);
    assert_eq!(f.phase(), "connecting");
    assert_eq!(f.text(".ibal-status-text"), "Connecting…");
    let url = socket_url(0);
    assert_eq!(url, "ws://gateway.test/ws/chat/", "the URL names no course: a course is proven by ticket");
    assert!(!url.contains("token"), "never a token in the URL");
    server_open(0);
    assert_eq!(sent(0), vec![format!(r#"{{"type":"auth","token":"{TOKEN}"}}"#)]);
    server_send(0, r#"{"type":"user_info","username":"john_doe","backend":"openai"}"#);
    server_send(
        0,
        r#"{"type":"history","messages":[
            {"type":"message","id":"m0","client_id":"c-old","role":"user","content":"Earlier question","sender":"john_doe","timestamp":"2026-11-21T13:00:00.123Z","status":"complete"},
            {"type":"message","id":"m1","role":"assistant","content":"Earlier **answer**","sender":"assistant","timestamp":"2026-11-21T13:00:01.123Z","status":"complete"}
        ],"has_more":false}"#,
    );
    assert_eq!(f.phase(), "connected");
    assert_eq!(f.text(".ibal-status-text"), "Connected");
    assert!(f.q(".ibal-status").class_name().contains("ibal-status-connected"));
    assert_eq!(computed_style(&f.q(".ibal-status"), "color"), GREEN);
    assert!(f.visible(".ibal-user"));
    assert_eq!(f.text(".ibal-username"), "john_doe");
    assert!(is_focused(&f.q(".ibal-input")), "focus moves to the input once connected");
    assert!(f.visible(".ibal-btn-close"));
    assert_eq!(computed_style(&f.q(".ibal-btn-close"), "background-color"), RED);

    // History is rendered: ours blue (sent), the assistant's white (received), with local times.
    let bubbles = f.all(".ibal-msg");
    assert_eq!(bubbles.len(), 2);
    assert!(bubbles[0].class_name().contains("ibal-msg-sent"));
    assert_eq!(computed_style(&bubbles[0], "background-color"), BLUE);
    assert!(bubbles[1].class_name().contains("ibal-msg-received"));
    assert_eq!(computed_style(&bubbles[1], "background-color"), WHITE);
    assert_eq!(f.q(".ibal-msg-time").get_attribute("datetime").as_deref(), Some("2026-11-21T13:00:00.123Z"));
    assert!(!f.text(".ibal-msg-time").is_empty());
    assert_eq!(f.all(".ibal-msg-body strong").len(), 1);
    assert_eq!(f.q(".ibal-messages").get_attribute("role").as_deref(), Some("log"));

    // Shift+Enter does not send; Enter does.
    let input = f.q(".ibal-input");
    type_into(&input, "Hello <b>there</b>");
    assert!(!press_key(&input, "Enter", true));
    assert_eq!(sent(0).len(), 1);
    assert!(press_key(&input, "Enter", false));
    let frames = sent(0);
    assert_eq!(frames.len(), 2);
    let frame = &frames[1];
    assert!(frame.starts_with(r#"{"type":"message","client_id":"c-"#), "{frame}");
    assert!(frame.ends_with(r#","content":"Hello <b>there</b>"}"#), "{frame}");
    let client_id = frame.split('"').nth(7).unwrap().to_owned();
    assert_eq!(input.dyn_ref::<web_sys::HtmlTextAreaElement>().unwrap().value(), "");
    let mine = f.all(".ibal-msg").pop().unwrap();
    assert!(mine.class_name().contains("ibal-msg-pending"));
    assert_eq!(mine.query_selector("b").unwrap(), None, "text stays text");
    assert_eq!(mine.query_selector(".ibal-msg-text").unwrap().unwrap().text_content().unwrap(), "Hello <b>there</b>");

    // The acknowledgement (same client_id) makes it a stored message, not a second bubble.
    server_send(
        0,
        &format!(
            r#"{{"type":"message","id":"m2","client_id":"{client_id}","role":"user","content":"Hello <b>there</b>","sender":"john_doe","timestamp":"2026-11-21T13:01:00.000Z","status":"complete"}}"#
        ),
    );
    let bubbles = f.all(".ibal-msg");
    assert_eq!(bubbles.len(), 3);
    assert!(!bubbles[2].class_name().contains("ibal-msg-pending"));
    assert_eq!(bubbles[2].get_attribute("data-id").as_deref(), Some("m2"));

    // A streamed reply: deltas render as they come, Stop is offered, stream_end replaces the text.
    server_send(
        0,
        r#"{"type":"stream_start","id":"r1","reply_to":"m2","sender":"assistant","timestamp":"2026-11-21T13:01:00.400Z"}"#,
    );
    server_send(0, r#"{"type":"stream_delta","id":"r1","delta":"Here is **bold** and <img src=x onerror=alert(1)>"}"#);
    server_send(0, r#"{"type":"stream_delta","id":"r1","delta":" and [a link](javascript:alert(2))"}"#);
    let reply = f.all(".ibal-msg").pop().unwrap();
    assert!(reply.class_name().contains("ibal-msg-streaming"));
    assert_eq!(reply.get_attribute("aria-busy").as_deref(), Some("true"));
    assert_eq!(reply.query_selector("img").unwrap(), None);
    assert_eq!(reply.query_selector("a").unwrap(), None, "javascript: links are not links");
    assert!(reply.text_content().unwrap().contains("<img src=x onerror=alert(1)>"));
    assert!(f.visible(".ibal-btn-stop"));
    f.click(".ibal-btn-stop");
    assert_eq!(sent(0).last().unwrap(), r#"{"type":"stop","id":"r1"}"#);
    server_send(
        0,
        r#"{"type":"stream_end","id":"r1","content":"Final with [docs](https://docs.openedx.org) and `code`","status":"stopped"}"#,
    );
    let reply = f.all(".ibal-msg").pop().unwrap();
    assert_eq!(reply.get_attribute("aria-busy").as_deref(), Some("false"));
    let link = reply.query_selector("a").unwrap().unwrap();
    assert_eq!(link.get_attribute("href").as_deref(), Some("https://docs.openedx.org"));
    assert_eq!(link.get_attribute("rel").as_deref(), Some("noopener noreferrer"));
    assert_eq!(link.get_attribute("target").as_deref(), Some("_blank"));
    assert!(reply.query_selector("code").unwrap().is_some());
    assert!(reply.text_content().unwrap().contains("Stopped"));
    assert!(!reply.text_content().unwrap().contains("<img"), "replaced by stream_end.content");
    assert!(!f.visible(".ibal-btn-stop"));

    // A message from someone else in the room is white, with their name, and stays text.
    server_send(
        0,
        r#"{"type":"message","id":"m3","client_id":"x","role":"user","content":"<script>alert(3)</script>","sender":"jane","timestamp":"2026-11-21T13:02:00.000Z"}"#,
    );
    let other = f.all(".ibal-msg").pop().unwrap();
    assert!(other.class_name().contains("ibal-msg-received"));
    assert_eq!(other.query_selector(".ibal-msg-sender").unwrap().unwrap().text_content().unwrap(), "jane");
    assert_eq!(other.query_selector("script").unwrap(), None);

    // Errors are shown in words.
    server_send(
        0,
        r#"{"type":"error","code":"rate_limited","message":"You are sending messages too fast; try again in 12 s.","retry_after":12}"#,
    );
    assert!(f.visible(".ibal-notice"));
    assert_eq!(f.text(".ibal-notice-text"), "You are sending messages too fast; try again in 12 s.");
    assert_eq!(f.q(".ibal-notice").get_attribute("role").as_deref(), Some("alert"));
    f.click(".ibal-btn-dismiss");
    assert!(!f.visible(".ibal-notice"));

    // Close Chat: socket closed normally, messages cleared, back to the start state, focus on Start.
    f.click(".ibal-btn-close");
    assert_eq!(socket_closed_with(0), 1000);
    assert_eq!(f.phase(), "idle");
    assert!(f.all(".ibal-msg").is_empty());
    assert!(f.visible(".ibal-btn-start"));
    assert!(!f.visible(".ibal-chat"));
    assert_eq!(f.text(".ibal-status-text"), "Click Start Chat to begin");
    assert!(is_focused(&f.q(".ibal-btn-start")));
}

#[wasm_bindgen_test]
fn typing_indicator_and_presence_in_a_room() {
    let f = Fixture::connected(&[]);
    server_send(0, r#"{"type":"presence","count":3}"#);
    server_send(0, r#"{"type":"typing","username":"jane","is_typing":true}"#);
    assert_eq!(f.text(".ibal-presence"), "3 online");
    assert_eq!(f.text(".ibal-typing"), "jane is typing…");
    server_send(0, r#"{"type":"typing","username":"jane","is_typing":false}"#);
    assert_eq!(f.text(".ibal-typing"), "");
    // Typing in a room tells the others.
    type_into(&f.q(".ibal-input"), "h");
    assert_eq!(sent(0).last().unwrap(), r#"{"type":"typing","is_typing":true}"#);
}

#[wasm_bindgen_test]
async fn reconnects_with_backoff_and_resends_unacknowledged_messages() {
    let f = Fixture::connected(&[]);
    type_into(&f.q(".ibal-input"), "Are you there?");
    f.click(".ibal-btn-send");
    let frame = sent(0).into_iter().find(|s| s.contains(r#""type":"message""#)).unwrap();
    assert!(frame.contains("Are you there?"), "{frame}");
    // In a room, sending also ends the typing indicator.
    assert_eq!(sent(0).last().unwrap(), r#"{"type":"typing","is_typing":false}"#);
    server_close(0, 1011, "boom");
    assert_eq!(f.phase(), "disconnected");
    let status = f.text(".ibal-status-text");
    assert!(status.starts_with("Disconnected. Reconnecting in "), "{status}");
    assert!(f.q(".ibal-status").class_name().contains("ibal-status-disconnected"));
    assert!(f.visible(".ibal-chat"), "the conversation stays on screen");
    // The first retry comes within a second.
    wait_for(1500, "a new socket", || socket_count() == 2).await;
    assert_eq!(f.phase(), "connecting");
    server_open(1);
    server_send(1, r#"{"type":"user_info","username":"john_doe","backend":"room"}"#);
    let resent = sent(1);
    assert_eq!(resent.len(), 2, "{resent:?}");
    assert!(resent[0].starts_with(r#"{"type":"auth""#));
    assert_eq!(resent[1], frame, "the same frame, the same client_id");
    assert_eq!(f.phase(), "connected");

    // 1000 from the server: no automatic reconnect, a Reconnect button instead.
    server_close(1, 1000, "");
    sleep(1200).await;
    assert_eq!(socket_count(), 2);
    assert!(f.visible(".ibal-btn-reconnect"));
    f.click(".ibal-btn-reconnect");
    assert_eq!(socket_count(), 3);

    // 4401 in token mode: the page's token cannot be renewed.
    server_open(2);
    server_send(2, r#"{"type":"error","code":"token_expired","message":"The token has expired"}"#);
    server_close(2, 4401, "");
    sleep(50).await;
    assert_eq!(f.phase(), "error");
    assert_eq!(f.text(".ibal-notice-text"), "Your session has expired. Reload the page to continue.");
    assert_eq!(computed_style(&f.q(".ibal-status"), "color"), RED);
}

#[wasm_bindgen_test]
fn french_strings_from_settings_or_page_and_rtl_layout() {
    let f = Fixture::mount(&[("lang", "fr")]);
    assert_eq!(f.text(".ibal-btn-start"), "Démarrer le chat");
    assert_eq!(f.text(".ibal-btn-close"), "Fermer le chat");
    assert_eq!(f.text(".ibal-status-text"), "Cliquez sur Démarrer le chat pour commencer");
    assert_eq!(f.q(".ibal-widget").get_attribute("lang").as_deref(), Some("fr"));
    drop(f);

    let page = Fixture::mount_in(&[("lang", "fr-CA"), ("dir", "rtl")], &[("lang", "")]);
    assert_eq!(page.text(".ibal-btn-start"), "Démarrer le chat");
    let root = page.q(".ibal-widget");
    assert!(root.class_name().contains("ibal-rtl"), "{}", root.class_name());
    assert_eq!(root.get_attribute("dir").as_deref(), Some("rtl"));
    drop(page);

    let english = Fixture::mount_in(&[("lang", "fr")], &[("lang", "en")]);
    assert_eq!(english.text(".ibal-btn-start"), "Start Chat");
    assert!(!english.q(".ibal-widget").class_name().contains("ibal-rtl"));
}

#[wasm_bindgen_test]
fn log_lines_carry_the_prefix_and_never_a_whole_token() {
    let mut f = Fixture::connected(&[]);
    server_send(0, &format!(r#"{{"type":"debug_echo","access_token":"{TOKEN}","refresh_token":"r1.{TOKEN}"}}"#));
    f.click(".ibal-btn-close");
    f.unmount();
    let lines = strings(logs());
    assert!(!lines.is_empty());
    for line in &lines {
        assert!(line.starts_with("[IbalXBlock] "), "unprefixed console line: {line}");
        assert!(!line.contains("U0VDUkVUUEFZTE9BRFNFQ1JFVFBBWUxPQUQ"), "a token in the console: {line}");
    }
    let has = |text: &str| lines.iter().any(|l| l.starts_with(text));
    assert!(has("[IbalXBlock] Opening WebSocket connection to: ws://gateway.test/ws/chat/"));
    assert!(has("[IbalXBlock] WebSocket connection opened"));
    assert!(has("[IbalXBlock] Using access_token for WebSocket: eyJhbGci…"));
    assert!(has(r#"[IbalXBlock] Received message: {"type":"user_info","username":"john_doe""#));
    assert!(has(
        r#"[IbalXBlock] Received message: {"type":"debug_echo","access_token":"eyJhbGci…","refresh_token":"r1.eyJhb…"}"#
    ));
    assert!(has("[IbalXBlock] Close Chat button activated"));
}

#[wasm_bindgen_test]
async fn popup_sign_in_accepts_only_the_gateway_origin_and_caches_the_token() {
    let f = Fixture::mount(&[]);
    set_popup_blocked(false);
    f.click(".ibal-btn-start");
    assert_eq!(f.phase(), "authenticating");
    let urls = strings(opened_urls());
    assert_eq!(urls.len(), 1);
    let page_origin = web_sys::window().unwrap().location().origin().unwrap();
    let prefix = format!(
        "http://gateway.test/oauth/openedx/login?origin={}&nonce=",
        String::from(js_sys::encode_uri_component(&page_origin))
    );
    assert!(urls[0].starts_with(&prefix), "{}", urls[0]);
    let nonce = &urls[0][prefix.len()..];
    assert_eq!(nonce.len(), 24, "base64url of 18 random bytes, and no relay without a relay page");
    assert!(f.visible(".ibal-auth"));
    assert_eq!(f.text(".ibal-auth-text"), "Complete the sign-in in the pop-up window.");
    let lines = strings(logs());
    assert!(
        lines
            .iter()
            .any(|l| l == &format!("[IbalXBlock] Opening OAuth2 authorize popup: {}", &urls[0][..prefix.len() - 7]))
    );
    assert!(lines.iter().all(|l| !l.contains(nonce)), "the nonce stays out of the console");

    let grant = |nonce: &str| {
        format!(
            r#"{{"type":"ibal:auth","nonce":"{nonce}","access_token":"{TOKEN}","expires_in":900,"refresh_token":"r1.abc","username":"john_doe"}}"#
        )
    };
    // Another origin, a message of another kind, or another attempt's result: ignored.
    post_window_message("http://evil.test", &grant(nonce));
    post_window_message(GATEWAY, r#"{"type":"something-else"}"#);
    post_window_message(GATEWAY, &grant("someone-elses-attempt-xyz"));
    assert_eq!(f.phase(), "authenticating");
    assert_eq!(socket_count(), 0);
    post_window_message(GATEWAY, &grant(nonce));
    assert_eq!(f.phase(), "connecting");
    assert_eq!(socket_count(), 1);
    let cached = get_storage("ibal-widget:token:http://gateway.test");
    assert!(cached.contains(TOKEN) && cached.contains("r1.abc"), "{cached}");
    server_open(0);
    assert_eq!(sent(0), vec![format!(r#"{{"type":"auth","token":"{TOKEN}"}}"#)]);

    // Close and start again: the cached token skips the popup.
    f.click(".ibal-btn-close");
    f.click(".ibal-btn-start");
    assert_eq!(strings(opened_urls()).len(), 1, "no second popup");
    assert_eq!(socket_count(), 2);
    assert!(
        strings(logs()).iter().any(|l| l.starts_with("[IbalXBlock] Access token found in localStorage: eyJhbGci…"))
    );
}

#[wasm_bindgen_test]
async fn popup_errors_blocked_popups_and_the_relay_of_a_severed_opener() {
    const RELAY: &str = "/resource/ibalxblock/public/relay.html";
    let f = Fixture::mount(&[("auth_relay_url", RELAY)]);
    let nonce_of = |url: &str| url.split("&nonce=").nth(1).unwrap().split('&').next().unwrap().to_owned();
    // Blocked: a button opens it from a click.
    set_popup_blocked(true);
    f.click(".ibal-btn-start");
    assert!(f.visible(".ibal-btn-open-popup"));
    assert_eq!(f.text(".ibal-auth-text"), "The sign-in window was blocked by the browser.");
    set_popup_blocked(false);
    f.click(".ibal-btn-open-popup");
    let url = strings(opened_urls()).pop().unwrap();
    assert_eq!(strings(opened_urls()).len(), 2);
    assert!(!f.visible(".ibal-btn-open-popup"));
    let page_origin = web_sys::window().unwrap().location().origin().unwrap();
    let relay = String::from(js_sys::encode_uri_component(&format!("{page_origin}{RELAY}")));
    assert!(url.ends_with(&format!("&relay={relay}")), "the relay page, on this page's origin: {url}");

    // The popup reports a failure.
    post_window_message(
        GATEWAY,
        &format!(
            r#"{{"type":"ibal:auth-error","nonce":"{}","code":"access_denied","message":"The user denied access"}}"#,
            nonce_of(&url)
        ),
    );
    assert_eq!(f.phase(), "error");
    assert_eq!(f.text(".ibal-notice-text"), "Sign-in failed: The user denied access");
    assert!(f.visible(".ibal-btn-start"));

    // Severed opener: the relay page on this origin broadcasts the result; only this attempt's counts.
    f.click(".ibal-btn-start");
    let url = strings(opened_urls()).pop().unwrap();
    let result = |nonce: &str| {
        format!(
            r#"{{"type":"ibal:auth","nonce":"{nonce}","access_token":"{TOKEN}","expires_in":900,"refresh_token":"r1.x","username":"john_doe"}}"#
        )
    };
    broadcast("ibal-auth", &result("an-older-attempt-nonce-1"));
    sleep(300).await;
    assert_eq!(f.phase(), "authenticating", "another attempt's result is ignored");
    broadcast("ibal-auth", &result(&nonce_of(&url)));
    wait_for(2000, "the relayed sign-in", || socket_count() == 1).await;
    assert_eq!(f.phase(), "connecting");
    assert!(strings(logs()).iter().any(|l| l == "[IbalXBlock] Sign-in result received from the course page's relay"));
    assert!(strings(fetch_log()).is_empty(), "nothing is fetched: no result is fetchable by a secret");
}

#[wasm_bindgen_test]
async fn an_expired_cached_token_is_refreshed_before_connecting() {
    install();
    reset();
    let expired = format!(
        r#"{{"access_token":"old-token-old-token","refresh_token":"r1.old","expires_at":{},"username":"john_doe"}}"#,
        now() as i64 - 1000
    );
    set_storage("ibal-widget:token:http://gateway.test", &expired);
    route(
        "/oauth2/token",
        200,
        &format!(r#"{{"access_token":"{TOKEN}","token_type":"Bearer","expires_in":900,"refresh_token":"r1.new"}}"#),
    );
    let host = document().create_element("div").unwrap();
    document().body().unwrap().append_child(&host).unwrap();
    let handle = mount(host.clone(), Fixture::settings(&[])).unwrap();
    host.query_selector(".ibal-btn-start").unwrap().unwrap().dyn_into::<HtmlElement>().unwrap().click();
    wait_for(2000, "the refreshed connection", || socket_count() == 1).await;
    let calls = strings(fetch_log());
    assert_eq!(calls.len(), 1, "{calls:?}");
    assert!(calls[0].contains(r#""url":"http://gateway.test/oauth2/token""#), "{}", calls[0]);
    assert!(
        calls[0].contains(r#""body":"grant_type=refresh_token&refresh_token=r1.old&client_id=ibal-widget""#),
        "{}",
        calls[0]
    );
    assert!(calls[0].contains("application/x-www-form-urlencoded"));
    assert!(strings(opened_urls()).is_empty(), "no popup");
    let cached = get_storage("ibal-widget:token:http://gateway.test");
    assert!(cached.contains("r1.new") && cached.contains(TOKEN), "{cached}");
    server_open(0);
    assert_eq!(sent(0), vec![format!(r#"{{"type":"auth","token":"{TOKEN}"}}"#)]);
    handle.unmount();
    host.remove();
}

#[wasm_bindgen_test]
async fn local_accounts_sign_in_with_the_form() {
    let f = Fixture::mount(&[("auth_mode", "local")]);
    f.click(".ibal-btn-start");
    assert!(f.visible(".ibal-login"));
    assert!(is_focused(&f.q(".ibal-login input[autocomplete=username]")));
    f.click(".ibal-btn-login");
    assert_eq!(f.text(".ibal-notice-text"), "Enter a username and a password.");

    type_into(&f.q(".ibal-login input[autocomplete=username]"), "jane");
    type_into(&f.q(".ibal-login input[type=password]"), "wrong");
    route(
        "/api/v1/auth/login",
        401,
        r#"{"error":{"code":"invalid_credentials","message":"Wrong username or password."}}"#,
    );
    f.click(".ibal-btn-login");
    wait_for(1000, "the refusal", || f.text(".ibal-notice-text").contains("Wrong username")).await;
    assert_eq!(f.text(".ibal-notice-text"), "Sign-in failed: Wrong username or password.");
    assert!(f.visible(".ibal-login"));

    route(
        "/api/v1/auth/register",
        200,
        &format!(
            r#"{{"access_token":"{TOKEN}","token_type":"Bearer","expires_in":900,"refresh_token":"r1.j","username":"jane"}}"#
        ),
    );
    f.click(".ibal-btn-register");
    wait_for(1000, "the connection", || socket_count() == 1).await;
    let calls = strings(fetch_log());
    let register = calls.last().unwrap();
    assert!(register.contains(r#""url":"http://gateway.test/api/v1/auth/register""#), "{register}");
    assert!(register.contains(r#"{\"username\":\"jane\",\"password\":\"wrong\"}"#), "{register}");
    assert!(register.contains(r#""contentType":"application/json""#), "{register}");
    assert_eq!(f.phase(), "connecting");
    assert!(!f.visible(".ibal-login"));
}

#[wasm_bindgen_test]
async fn unmount_tears_everything_down() {
    let mut f = Fixture::connected(&[]);
    let handle_phase = f.phase();
    assert_eq!(handle_phase, "connected");
    let handle = f.handle.take().unwrap();
    handle.unmount();
    assert_eq!(handle.phase(), "unmounted");
    assert_eq!(socket_closed_with(0), 1000);
    assert_eq!(f.host.child_element_count(), 0);
    // Mounting again on the same element replaces, never duplicates.
    let again = mount(f.host.clone(), Fixture::settings(&[])).unwrap();
    let twice = mount(f.host.clone(), Fixture::settings(&[])).unwrap();
    assert_eq!(f.host.child_element_count(), 1);
    assert_eq!(again.phase(), "unmounted");
    assert_eq!(twice.phase(), "idle");
    twice.unmount();
}

#[wasm_bindgen_test]
fn markdown_builds_dom_nodes_only() {
    let doc = document();
    let div = doc.create_element("div").unwrap();
    let source = "# Title\n\nSome **bold** and *em* with `<b>code</b>`\n\n- item <script>alert(1)</script>\n- [ok](https://example.com)\n\n```html\n<img src=x onerror=alert(1)>\n```\n[bad](javascript:alert(1)) <iframe src=\"https://evil.test\"></iframe>";
    view::render_markdown(&doc, &div, &markdown::parse(source), "Copy code");
    for tag in ["script", "img", "iframe", "b"] {
        assert_eq!(div.query_selector(tag).unwrap(), None, "<{tag}> must stay text");
    }
    // Links: the safe one, and the bare https URL in the text; never the javascript: one.
    let links = div.query_selector_all("a").unwrap();
    let hrefs: Vec<String> = (0..links.length())
        .filter_map(|i| links.item(i)?.dyn_into::<Element>().ok())
        .map(|a| {
            assert_eq!(a.get_attribute("rel").as_deref(), Some("noopener noreferrer"));
            assert_eq!(a.get_attribute("target").as_deref(), Some("_blank"));
            a.get_attribute("href").unwrap_or_default()
        })
        .collect();
    assert_eq!(hrefs, ["https://example.com", "https://evil.test"]);
    assert!(div.query_selector("strong").unwrap().is_some());
    assert!(div.query_selector("em").unwrap().is_some());
    assert!(div.query_selector("ul > li").unwrap().is_some());
    assert_eq!(
        div.query_selector("pre code").unwrap().unwrap().text_content().unwrap(),
        "<img src=x onerror=alert(1)>"
    );
    let text = div.text_content().unwrap();
    assert!(text.contains("<script>alert(1)</script>"));
    assert!(text.contains("<iframe src=\"https://evil.test\"></iframe>"));
    assert!(text.contains("<b>code</b>"));
}

/// `get_ticket` as the XBlock gives it: a promise of a new ticket at each call (`ticket-1`, `ticket-2`…).
fn ticket_source(settings: &JsValue) {
    js_sys::Reflect::set(settings, &"get_ticket".into(), &ticket_source_fn()).unwrap();
}

#[wasm_bindgen_test]
async fn in_a_course_every_connection_carries_a_fresh_ticket() {
    install();
    reset();
    let settings = Fixture::settings(&[
        ("auth_mode", "token"),
        ("access_token", TOKEN),
        ("expires_in", "900"),
        ("username", "john_doe"),
    ]);
    ticket_source(&settings);
    let host = document().create_element("div").unwrap();
    document().body().unwrap().append_child(&host).unwrap();
    let handle = mount(host.clone(), settings).unwrap();
    wait_for(2000, "the first socket", || socket_count() == 1).await;
    assert_eq!(socket_url(0), "ws://gateway.test/ws/chat/");
    server_open(0);
    assert_eq!(sent(0), vec![format!(r#"{{"type":"auth","token":"{TOKEN}","ticket":"ticket-1"}}"#)]);
    server_send(0, r#"{"type":"user_info","username":"john_doe","backend":"room"}"#);
    server_send(0, r#"{"type":"history","messages":[],"has_more":false}"#);
    // A dropped connection comes back with a new ticket, never the old one.
    server_close(0, 1001, "restarting");
    wait_for(3000, "the reconnect", || socket_count() == 2).await;
    server_open(1);
    assert_eq!(sent(1), vec![format!(r#"{{"type":"auth","token":"{TOKEN}","ticket":"ticket-2"}}"#)]);
    // A ticket the gateway refuses stops the chat with words, not a reconnect loop.
    server_send(
        1,
        r#"{"type":"error","code":"ticket_invalid","message":"The course context of this chat could not be verified."}"#,
    );
    server_close(1, 4406, "context refused");
    assert_eq!(handle.phase(), "error");
    sleep(1500).await;
    assert_eq!(socket_count(), 2, "no reconnect");
    let alert = host.query_selector(".ibal-notice-text").unwrap().map(|e| e.text_content().unwrap_or_default());
    assert_eq!(
        alert.as_deref(),
        Some("The chat could not confirm which course it is in. Reload the page to try again.")
    );
    for line in strings(logs()) {
        assert!(!line.contains("ticket-1") && !line.contains("ticket-2"), "a ticket in the console: {line}");
    }
    handle.unmount();
    host.remove();
}

#[wasm_bindgen_test]
async fn lms_sign_in_exchanges_the_course_ticket_and_never_opens_a_popup() {
    install();
    reset();
    route(
        "/oauth2/token",
        200,
        &format!(r#"{{"access_token":"{TOKEN}","token_type":"Bearer","expires_in":900,"username":"john_doe"}}"#),
    );
    let settings = Fixture::settings(&[("sign_in", "lms")]);
    ticket_source(&settings);
    let host = document().create_element("div").unwrap();
    document().body().unwrap().append_child(&host).unwrap();
    let handle = mount(host.clone(), settings).unwrap();
    host.query_selector(".ibal-btn-start").unwrap().unwrap().dyn_into::<HtmlElement>().unwrap().click();
    wait_for(2000, "the signed-in connection", || socket_count() == 1).await;
    assert!(strings(opened_urls()).is_empty(), "no popup");
    let calls = strings(fetch_log());
    assert_eq!(calls.len(), 1, "{calls:?}");
    assert!(calls[0].contains(r#""url":"http://gateway.test/oauth2/token""#), "{}", calls[0]);
    assert!(calls[0].contains("chat-ticket&subject_token=ticket-1&client_id=ibal-widget"), "{}", calls[0]);
    server_open(0);
    assert_eq!(sent(0), vec![format!(r#"{{"type":"auth","token":"{TOKEN}","ticket":"ticket-2"}}"#)]);
    server_send(0, r#"{"type":"user_info","username":"john_doe","backend":"room"}"#);
    server_send(0, r#"{"type":"history","messages":[],"has_more":false}"#);
    assert_eq!(handle.phase(), "connected");
    let lines = strings(logs());
    assert!(lines.iter().any(|l| l == "[IbalXBlock] Signing in with the course's chat ticket (LMS sign-in)"));
    handle.unmount();
    host.remove();

    // Without the page's get_ticket, LMS sign-in cannot work: refused at mount, with the reason.
    let host = document().create_element("div").unwrap();
    let err = mount(host, Fixture::settings(&[("sign_in", "lms")])).err().unwrap();
    let message = err.dyn_ref::<js_sys::Error>().map(|e| String::from(e.message())).unwrap_or_default();
    assert!(message.contains("get_ticket"), "{message}");
}

#[wasm_bindgen_test]
async fn sign_out_ends_the_login_at_the_gateway_and_forgets_the_token() {
    let f = Fixture::mount(&[]);
    let cached = format!(
        r#"{{"access_token":"{TOKEN}","refresh_token":"r1.keep","expires_at":{},"username":"john_doe"}}"#,
        now() as i64 + 600_000
    );
    set_storage("ibal-widget:token:http://gateway.test", &cached);
    route("/api/v1/auth/logout", 204, "");
    assert!(!f.visible(".ibal-btn-signout"), "nothing to sign out of before the chat starts");
    f.click(".ibal-btn-start");
    assert_eq!(socket_count(), 1, "the cached token connects");
    server_open(0);
    server_send(0, r#"{"type":"user_info","username":"john_doe","backend":"room"}"#);
    server_send(0, r#"{"type":"history","messages":[],"has_more":false}"#);
    assert!(f.visible(".ibal-btn-signout") && f.visible(".ibal-btn-close"), "Sign out beside Close Chat");
    f.click(".ibal-btn-signout");
    assert_eq!(f.phase(), "idle");
    assert_eq!(f.text(".ibal-notice-text"), "You are signed out.");
    assert!(f.q(".ibal-notice").class_name().contains("ibal-notice-info"), "information, not an error");
    assert_eq!(f.q(".ibal-notice").get_attribute("role").as_deref(), Some("status"));
    assert_eq!(socket_closed_with(0), 1000);
    assert_eq!(get_storage("ibal-widget:token:http://gateway.test"), "", "the token is forgotten");
    wait_for(1000, "the logout request", || !strings(fetch_log()).is_empty()).await;
    let calls = strings(fetch_log());
    assert!(
        calls[0].contains(r#""url":"http://gateway.test/api/v1/auth/logout""#)
            && calls[0].contains(r#""method":"POST""#),
        "{}",
        calls[0]
    );
    assert!(calls[0].contains(&format!(r#""authorization":"Bearer {TOKEN}""#)), "{}", calls[0]);
    // Start Chat again: a new sign-in, not the old token.
    set_popup_blocked(false);
    f.click(".ibal-btn-start");
    assert_eq!(strings(opened_urls()).len(), 1, "the popup opens: the old login is gone");
}

#[wasm_bindgen_test]
fn token_mode_has_no_sign_out() {
    let f = Fixture::connected(&[]);
    assert!(!f.visible(".ibal-btn-signout"), "the page's own token (an LTI launch) has no login to end here");
}

#[wasm_bindgen_test]
fn an_error_naming_a_message_marks_that_message_failed() {
    let f = Fixture::connected(&[("welcome_message", "")]);
    let input = f.q(".ibal-input");
    for text in ["first", "second", "third"] {
        type_into(&input, text);
        assert!(press_key(&input, "Enter", false));
    }
    let frames: Vec<_> = sent(0).into_iter().filter(|s| s.contains(r#""type":"message""#)).collect();
    assert_eq!(frames.len(), 3, "{frames:?}");
    let client_id = |frame: &str| frame.split('"').nth(7).unwrap().to_owned();
    let second = client_id(&frames[1]);
    server_send(
        0,
        &format!(
            r#"{{"type":"error","code":"rate_limited","message":"Too fast.","retry_after":12,"client_id":"{second}"}}"#
        ),
    );
    let bubbles = f.all(".ibal-msg");
    let states: Vec<_> = bubbles
        .iter()
        .map(|b| (b.class_name().contains("ibal-msg-pending"), b.class_name().contains("ibal-msg-failed")))
        .collect();
    assert_eq!(states, [(true, false), (false, true), (true, false)], "only the named message failed");
    assert!(bubbles[1].query_selector(".ibal-btn-retry").unwrap().is_some());
    assert!(bubbles[0].query_selector(".ibal-btn-retry").unwrap().is_none());
    // Retry resends it with the same client_id.
    bubbles[1].query_selector(".ibal-btn-retry").unwrap().unwrap().dyn_into::<HtmlElement>().unwrap().click();
    assert_eq!(sent(0).last().unwrap(), &frames[1]);
}

/// Token mode, connected to an assistant (`openai`) whose course team set `context` (JSON members),
/// with an empty history.
fn assistant(context: &str) -> Fixture {
    let f = Fixture::mount(&[
        ("auth_mode", "token"),
        ("access_token", TOKEN),
        ("expires_in", "900"),
        ("username", "john_doe"),
    ]);
    server_open(0);
    server_send(
        0,
        &format!(r#"{{"type":"user_info","username":"john_doe","backend":"openai","context":{{{context}}}}}"#),
    );
    server_send(0, r#"{"type":"history","messages":[],"has_more":false}"#);
    f
}

fn input_disabled(f: &Fixture) -> bool {
    f.q(".ibal-input").has_attribute("disabled")
}

/// Regenerate is shown (it moves to the latest reply; hidden, or gone with a replaced one, otherwise).
fn regen_shown(f: &Fixture) -> bool {
    f.all("[data-act=regen]").iter().any(|e| !e.has_attribute("hidden"))
}

#[wasm_bindgen_test]
fn the_disclosure_comes_first_then_the_starters_send_a_question() {
    let f = assistant(
        r#""starters":["What is this unit about?","Quiz me"],"disclosure":{"text":"Answers are generated by AI and may be wrong.","version":"v1","accepted":false}"#,
    );
    // The notice, its "I understand" focused, the input closed, no starters yet.
    assert!(f.visible(".ibal-gate"));
    assert_eq!(f.text(".ibal-gate-text"), "Answers are generated by AI and may be wrong.");
    let accept = f.q("[data-act=accept]");
    assert_eq!(accept.text_content().as_deref(), Some("I understand"));
    assert!(is_focused(&accept), "the focus is on I understand");
    assert!(input_disabled(&f));
    assert!(!f.visible(".ibal-starters"));

    f.click("[data-act=accept]");
    assert_eq!(sent(0).last().unwrap(), r#"{"type":"accept_disclosure","version":"v1"}"#);
    assert!(!f.visible(".ibal-gate") && !input_disabled(&f));
    assert!(is_focused(&f.q(".ibal-input")), "then on the input");

    // The starters: a labelled group of buttons, before the first message only.
    assert!(f.visible(".ibal-starters"));
    assert_eq!(f.q(".ibal-starters").get_attribute("aria-label").as_deref(), Some("Suggested questions"));
    let starters: Vec<_> = f.all(".ibal-starters button").iter().filter_map(|b| b.text_content()).collect();
    assert_eq!(starters, ["What is this unit about?", "Quiz me"]);
    f.all(".ibal-starters button")[1].clone().dyn_into::<HtmlElement>().unwrap().click();
    let last = sent(0).last().unwrap().clone();
    assert!(
        last.starts_with(r#"{"type":"message","client_id":"c-"#) && last.ends_with(r#""content":"Quiz me"}"#),
        "{last}"
    );
    assert!(!f.visible(".ibal-starters"), "gone once the conversation has begun");
    assert_eq!(f.all(".ibal-msg-sent").len(), 1);
    assert!(logs().iter().any(|l| l == "[IbalXBlock] Chat button activated: starter"));

    // The text changed meanwhile: the gateway refuses, the notice is back, the message waits.
    let client_id = last.split('"').nth(7).unwrap().to_owned();
    server_send(
        0,
        &format!(r#"{{"type":"error","code":"disclosure_required","message":"m","client_id":"{client_id}"}}"#),
    );
    assert!(f.visible(".ibal-gate") && input_disabled(&f));
    assert!(f.q(".ibal-msg-sent").class_name().contains("ibal-msg-pending"));
    f.click("[data-act=accept]");
    assert_eq!(sent(0).last().unwrap(), &last, "the same message goes once accepted");
}

#[wasm_bindgen_test]
fn an_exam_closes_the_input_and_says_why() {
    let f = assistant(r#""exam":true,"starters":["x"],"disclosure":{"text":"t","version":"v1","accepted":false}"#);
    assert!(f.visible(".ibal-gate"));
    assert_eq!(f.text(".ibal-gate-text"), "The assistant is turned off during this exam.");
    assert!(!f.visible("[data-act=accept]"), "nothing to accept during the exam");
    assert!(input_disabled(&f) && f.q(".ibal-btn-send").has_attribute("disabled"));
    assert!(!f.visible(".ibal-starters"));
    // In French too.
    drop(f);
    let f = Fixture::mount(&[("auth_mode", "token"), ("access_token", TOKEN), ("expires_in", "900"), ("lang", "fr")]);
    server_open(0);
    server_send(0, r#"{"type":"user_info","username":"jo","backend":"openai","context":{"exam":true}}"#);
    assert_eq!(f.text(".ibal-gate-text"), "L'assistant est désactivé pendant cet examen.");
}

#[wasm_bindgen_test]
async fn replies_are_labelled_ai_regenerated_and_rated() {
    let f = assistant("");
    server_send(
        0,
        r#"{"type":"message","id":"q1","client_id":"c-1","role":"user","content":"Why?","sender":"john_doe"}"#,
    );
    server_send(0, r#"{"type":"stream_start","id":"r1","reply_to":"q1","sender":"assistant"}"#);
    // While it streams: the AI label, no actions yet.
    let ai = f.q(".ibal-msg-assistant .ibal-msg-ai");
    assert_eq!(ai.text_content().as_deref(), Some("AI"));
    assert_eq!(ai.get_attribute("role").as_deref(), Some("img"));
    assert_eq!(ai.get_attribute("aria-label").as_deref(), Some("Answer generated by AI"));
    assert!(f.all(".ibal-msg-actions").is_empty());
    server_send(0, r#"{"type":"stream_end","id":"r1","content":"Because.","status":"complete"}"#);

    // Regenerate on the latest reply only, once no reply streams.
    let regen = f.q(".ibal-msg-assistant > [data-act=regen]");
    assert_eq!(regen.text_content().as_deref(), Some("Regenerate"));
    assert_eq!(regen.tag_name(), "BUTTON");
    f.click("[data-act=regen]");
    assert_eq!(sent(0).last().unwrap(), r#"{"type":"regenerate","id":"r1"}"#);
    assert!(!regen_shown(&f), "once, until the new reply starts");
    server_send(0, r#"{"type":"stream_start","id":"r2","reply_to":"q1","replaces":"r1","sender":"assistant"}"#);
    server_send(0, r#"{"type":"stream_delta","id":"r2","delta":"Because of"}"#);
    let replies = f.all(".ibal-msg-assistant");
    assert_eq!(replies.len(), 1, "the new version takes the old one's place");
    assert_eq!(replies[0].get_attribute("data-id").as_deref(), Some("r2"));
    assert!(!regen_shown(&f), "not while a reply streams");
    server_send(0, r#"{"type":"stream_end","id":"r2","content":"Because of light.","status":"complete"}"#);
    assert!(f.visible(".ibal-msg-assistant [data-act=regen]") && regen_shown(&f));

    // Thumbs up: the feedback API with the access token; the status is said in the live line.
    route("/api/v1/messages/r2/feedback", 204, "");
    let up = f.q(".ibal-msg-assistant [data-act=up]");
    assert_eq!(up.text_content().as_deref(), Some("Helpful"));
    assert_eq!(f.q("[data-act=down]").text_content().as_deref(), Some("Not helpful"));
    f.click("[data-act=up]");
    wait_for(2000, "the feedback status", || f.text(".ibal-typing") == "Thanks for your feedback").await;
    let request = strings(fetch_log()).pop().unwrap();
    assert!(request.contains(r#""url":"http://gateway.test/api/v1/messages/r2/feedback""#), "{request}");
    assert!(request.contains(r#""method":"POST""#) && request.contains(r#"\"rating\":\"up\""#), "{request}");
    assert!(request.contains(&format!(r#""authorization":"Bearer {TOKEN}""#)), "{request}");
    assert_eq!(f.q(".ibal-typing").get_attribute("aria-live").as_deref(), Some("polite"));
    // A refusal says so.
    route("/api/v1/messages/r2/feedback", 404, r#"{"error":{"code":"not_found","message":"m"}}"#);
    f.click("[data-act=down]");
    wait_for(2000, "the failure status", || f.text(".ibal-typing") == "Feedback not sent").await;
    assert!(strings(fetch_log()).pop().unwrap().contains(r#"\"rating\":\"down\""#));
}

#[wasm_bindgen_test]
fn a_room_has_no_assistant_controls() {
    let f = Fixture::connected(&[]);
    server_send(0, r#"{"type":"message","id":"m1","role":"user","content":"hi","sender":"jane"}"#);
    assert!(!f.visible(".ibal-gate") && !f.visible(".ibal-starters"));
    assert!(f.all(".ibal-msg-ai").is_empty() && f.all(".ibal-msg-actions").is_empty());
}

#[wasm_bindgen_test]
fn a_pinned_announcement_and_messages_removed_by_course_staff() {
    let f = Fixture::connected(&[]);
    assert!(!f.visible(".ibal-pinned"), "nothing pinned");
    // The announcement: above the messages, as text (never markup), with who pinned it; not logged.
    server_send(
        0,
        r#"{"type":"pinned","content":"Office hours <b>moved</b> to Thursday.","sender":"prof_ada","timestamp":"2026-11-21T12:00:00.000Z"}"#,
    );
    assert!(f.visible(".ibal-pinned"));
    let banner = f.q(".ibal-pinned");
    assert_eq!(banner.get_attribute("role").as_deref(), Some("note"));
    assert_eq!(banner.get_attribute("aria-label").as_deref(), Some("Pinned announcement"));
    assert_eq!(f.text(".ibal-pinned-text"), "Office hours <b>moved</b> to Thursday.");
    assert!(f.all(".ibal-pinned b").is_empty(), "text, not HTML");
    assert_eq!(f.text(".ibal-pinned-by"), "Pinned by prof_ada");
    let following = web_sys::Node::DOCUMENT_POSITION_FOLLOWING;
    assert_ne!(banner.compare_document_position(&f.q(".ibal-messages")) & following, 0, "above the messages");
    let lines = strings(logs());
    assert!(lines.iter().any(|l| l == "[IbalXBlock] Pinned announcement updated"), "{lines:?}");
    assert!(!lines.iter().any(|l| l.contains("Office hours")), "{lines:?}");
    // Unpinned: the banner goes.
    server_send(0, r#"{"type":"pinned","content":"","sender":"","timestamp":""}"#);
    assert!(!f.visible(".ibal-pinned"));
    assert!(logs().iter().any(|l| l == "[IbalXBlock] Pinned announcement removed"));

    // A message removed: the gateway's notice in its bubble, italic, in place.
    server_send(0, r#"{"type":"message","id":"m1","role":"user","content":"a **spoiler**","sender":"jane"}"#);
    server_send(
        0,
        r#"{"type":"message","id":"m1","role":"user","content":"Removed by course staff.","sender":"jane","hidden":true}"#,
    );
    let bubbles = f.all(".ibal-msg");
    assert_eq!(bubbles.len(), 1);
    assert!(bubbles[0].class_name().split(' ').any(|c| c == "ibal-hidden"), "{}", bubbles[0].class_name());
    assert_eq!(f.text(".ibal-hidden .ibal-msg-text"), "Removed by course staff.");
    assert_eq!(computed_style(&bubbles[0], "font-style"), "italic");
    let lines = strings(logs());
    assert!(lines.iter().any(|l| l == "[IbalXBlock] A message was removed by course staff"), "{lines:?}");
    assert!(!lines.iter().any(|l| l.contains("spoiler") || l.contains("Removed by")), "{lines:?}");
    // Restored: the original, as any message.
    server_send(0, r#"{"type":"message","id":"m1","role":"user","content":"a **spoiler**","sender":"jane"}"#);
    assert!(f.all(".ibal-hidden").is_empty());
    assert_eq!(f.text(".ibal-msg-text"), "a **spoiler**");

    // A reply removed: plain text, without Copy, the ratings or Regenerate.
    server_send(
        0,
        r#"{"type":"message","id":"r1","role":"assistant","content":"**Bold** answer","sender":"assistant"}"#,
    );
    assert_eq!(f.all(".ibal-msg-assistant .ibal-msg-actions").len(), 1);
    server_send(
        0,
        r#"{"type":"message","id":"r1","role":"assistant","content":"Removed by course staff.","sender":"assistant","hidden":true}"#,
    );
    let reply = f.q(".ibal-msg-assistant");
    assert!(reply.class_name().contains("ibal-hidden"));
    assert_eq!(f.text(".ibal-msg-assistant .ibal-msg-text"), "Removed by course staff.");
    assert!(f.all(".ibal-msg-assistant strong, .ibal-msg-assistant .ibal-msg-actions").is_empty());
    assert!(!regen_shown(&f));
}

#[wasm_bindgen_test]
fn a_muted_message_is_not_sent_and_says_for_how_long() {
    let f = Fixture::connected(&[]);
    let input = f.q(".ibal-input");
    type_into(&input, "hello");
    assert!(press_key(&input, "Enter", false));
    let frame = sent(0).into_iter().rfind(|s| s.contains(r#""type":"message""#)).unwrap();
    let client_id = frame.split('"').nth(7).unwrap().to_owned();
    server_send(
        0,
        &format!(
            r#"{{"type":"error","code":"muted","message":"Muted.","retry_after":3480,"client_id":"{client_id}"}}"#
        ),
    );
    let bubble = f.q(".ibal-msg-sent");
    assert!(bubble.class_name().contains("ibal-msg-failed"));
    assert!(bubble.query_selector(".ibal-btn-retry").unwrap().is_some());
    assert_eq!(f.text(".ibal-notice-text"), "Course staff have muted you in this chat. You can write again in 58 min.");
    assert_eq!(sent(0).iter().filter(|s| s.contains(r#""type":"message""#)).count(), 1, "not resent");
}

#[wasm_bindgen_test]
async fn a_reply_and_its_code_blocks_are_copied() {
    let f = assistant("");
    server_send(
        0,
        r#"{"type":"message","id":"r1","role":"assistant","content":"Run:\n\n```sh\nls -la\n```\n\nDone.","sender":"assistant"}"#,
    );
    // The code block's button copies the code; the reply's, the reply as written.
    let code_copy = f.q(".ibal-msg-body .ibal-md-code button");
    assert_eq!(code_copy.text_content().as_deref(), Some("Copy code"));
    f.click(".ibal-msg-body .ibal-md-code button");
    wait_for(2000, "the code in the clipboard", || strings(clipboard()) == ["ls -la"]).await;
    wait_for(2000, "the status", || f.text(".ibal-typing") == "Copied").await;
    f.click(".ibal-msg-actions [data-act=copy]");
    wait_for(2000, "the reply in the clipboard", || strings(clipboard()).len() == 2).await;
    assert_eq!(strings(clipboard())[1], "Run:\n\n```sh\nls -la\n```\n\nDone.");
    // A refusal says so.
    refuse_clipboard(true);
    f.click(".ibal-msg-actions [data-act=copy]");
    wait_for(2000, "the failure", || f.text(".ibal-typing") == "Could not copy").await;
    assert!(logs().iter().any(|l| l == "[IbalXBlock] Copy to the clipboard: failed"));
}

/// A source of a reply, as the gateway writes it.
fn source(n: u32, title: &str, breadcrumb: &str, url: &str, snippet: &str) -> String {
    format!(r#"{{"n":{n},"title":"{title}","breadcrumb":"{breadcrumb}","url":"{url}","snippet":"{snippet}"}}"#)
}

/// The texts of the elements `selector` under `e`.
fn texts(e: &Element, selector: &str) -> Vec<String> {
    let list = e.query_selector_all(selector).unwrap();
    (0..list.length()).filter_map(|i| list.item(i)).filter_map(|n| n.text_content()).collect()
}

#[wasm_bindgen_test]
fn sources_under_a_reply_open_the_unit_in_the_top_window() {
    let f = assistant("");
    server_send(
        0,
        r#"{"type":"message","id":"q1","client_id":"c-1","role":"user","content":"Why?","sender":"john_doe"}"#,
    );
    server_send(0, r#"{"type":"stream_start","id":"r1","reply_to":"q1","sender":"assistant"}"#);
    server_send(0, r#"{"type":"stream_delta","id":"r1","delta":"Light makes ATP [1]"}"#);
    assert!(f.all(".ibal-sources").is_empty(), "none while it streams");
    let unit = "https://lms.test/courses/course-v1:Org+Bio+2025/jump_to/block-v1:Org+Bio+2025+type@html+block@light";
    server_send(
        0,
        &format!(
            r#"{{"type":"stream_end","id":"r1","content":"Light makes ATP [1], then sugar [2] [3].","status":"complete","sources":[{},{},{}]}}"#,
            source(
                1,
                "Light reactions",
                "Plants › Energy › Photosynthesis",
                unit,
                "In the thylakoid membranes, light splits water…"
            ),
            source(2, "Calvin cycle", "", "javascript:alert(1)", "Carbon fixation"),
            source(3, "Glucose", "Plants › Energy", "/courses/x/jump_to/y", ""),
        ),
    );
    let reply = f.q(".ibal-msg-assistant");
    assert!(reply.text_content().unwrap().contains("Light makes ATP [1], then sugar [2] [3]."), "the markers stay");
    // A labelled list, under the reply's text and before its actions.
    let list = f.q(".ibal-msg-assistant .ibal-sources ul");
    assert_eq!(list.get_attribute("aria-label").as_deref(), Some("Sources"));
    assert_eq!(f.text(".ibal-sources-label"), "Sources");
    assert!(f.host.query_selector(".ibal-msg-body + .ibal-sources + .ibal-msg-actions").unwrap().is_some());
    assert_eq!(
        texts(&list, "li"),
        ["[1] Light reactions — Plants › Energy › Photosynthesis", "[2] Calvin cycle", "[3] Glucose — Plants › Energy"]
    );
    // The http(s) one is a link to the unit in the LMS's top window, its snippet as its description.
    let links = f.all(".ibal-sources a");
    assert_eq!(links.len(), 1, "only http(s) URLs are links");
    let link = &links[0];
    assert_eq!(link.get_attribute("href").as_deref(), Some(unit));
    assert_eq!(link.get_attribute("target").as_deref(), Some("_top"));
    assert_eq!(link.get_attribute("rel").as_deref(), Some("noopener"));
    assert_eq!(link.get_attribute("title").as_deref(), Some("In the thylakoid membranes, light splits water…"));
    link.clone().dyn_into::<HtmlElement>().unwrap().focus().unwrap();
    assert!(is_focused(link), "reached by keyboard");
    // The others are text only: no href anywhere, not even a relative one.
    assert_eq!(f.all(".ibal-sources [href]").len(), 1);
    assert_eq!(f.all(".ibal-sources span.ibal-source")[0].get_attribute("title").as_deref(), Some("Carbon fixation"));
    assert!(!strings(logs()).iter().any(|l| l.contains("thylakoid")), "no snippet in the console");

    // A regenerated reply shows its own sources, not the old version's.
    f.click("[data-act=regen]");
    server_send(0, r#"{"type":"stream_start","id":"r2","reply_to":"q1","replaces":"r1","sender":"assistant"}"#);
    assert!(f.all(".ibal-sources").is_empty());
    server_send(
        0,
        &format!(
            r#"{{"type":"stream_end","id":"r2","content":"Sugar [1].","status":"complete","sources":[{}]}}"#,
            source(1, "Sugar", "Plants", "http://lms.test/u/2", "s")
        ),
    );
    assert_eq!(texts(&f.q(".ibal-sources ul"), "li"), ["[1] Sugar — Plants"]);
    assert_eq!(f.q(".ibal-sources a").get_attribute("href").as_deref(), Some("http://lms.test/u/2"));
}

#[wasm_bindgen_test]
fn a_history_replay_shows_the_sources_of_its_replies() {
    let f = Fixture::mount(&[
        ("auth_mode", "token"),
        ("access_token", TOKEN),
        ("expires_in", "900"),
        ("username", "john_doe"),
        ("lang", "fr"),
    ]);
    server_open(0);
    server_send(0, r#"{"type":"user_info","username":"john_doe","backend":"openai"}"#);
    server_send(
        0,
        &format!(
            r#"{{"type":"history","messages":[
            {{"type":"message","id":"q1","role":"user","content":"Pourquoi ?","sender":"john_doe"}},
            {{"type":"message","id":"r1","role":"assistant","content":"Parce que [1].","sender":"assistant","sources":[{}]}},
            {{"type":"message","id":"r0","role":"assistant","content":"Sans sources.","sender":"assistant"}}],"has_more":false}}"#,
            source(1, "Photosynthèse", "Plantes › Énergie", "https://lms.test/u/1", "La lumière…")
        ),
    );
    let replies = f.all(".ibal-msg-assistant");
    assert_eq!(replies.len(), 2);
    let list = replies[0].query_selector(".ibal-sources ul").unwrap().unwrap();
    assert_eq!(list.get_attribute("aria-label").as_deref(), Some("Sources"));
    assert_eq!(texts(&list, "a"), ["[1] Photosynthèse — Plantes › Énergie"]);
    assert_eq!(list.query_selector("a").unwrap().unwrap().get_attribute("target").as_deref(), Some("_top"));
    assert!(replies[1].query_selector(".ibal-sources").unwrap().is_none(), "a reply without sources has no list");
    assert!(f.all(".ibal-msg-user .ibal-sources").is_empty());
}

/// Token mode with the XBlock's `track` (recording; throwing with `throws`), connected to an assistant
/// with an empty history.
fn tracked_assistant(throws: bool, context: &str) -> Fixture {
    install();
    reset();
    let settings = Fixture::settings(&[
        ("auth_mode", "token"),
        ("access_token", TOKEN),
        ("expires_in", "900"),
        ("username", "john_doe"),
    ]);
    js_sys::Reflect::set(&settings, &"track".into(), &track_source_fn(throws)).unwrap();
    let f = Fixture::mount_settings(&[], settings);
    server_open(0);
    server_send(
        0,
        &format!(r#"{{"type":"user_info","username":"john_doe","backend":"openai","context":{{{context}}}}}"#),
    );
    server_send(0, r#"{"type":"history","messages":[],"has_more":false}"#);
    f
}

#[wasm_bindgen_test]
async fn analytics_events_count_and_rate_but_never_hold_the_text() {
    let f = tracked_assistant(false, r#""starters":["Quiz me"]"#);
    assert!(strings(tracked()).is_empty(), "nothing before the learner acts");
    // A starter is a message the learner sends: its length in characters, not its text.
    f.click(".ibal-starters button");
    assert_eq!(strings(tracked()), [r#"["ibal.message.sent",{"length":7}]"#]);
    // A typed one: as sent (trimmed; "🌱" is one character: 11).
    let input = f.q(".ibal-input");
    type_into(&input, "  Né 🌱 secret  ");
    assert!(press_key(&input, "Enter", false));
    assert_eq!(strings(tracked())[1], r#"["ibal.message.sent",{"length":11}]"#);
    // Refused, then resent with Retry: no new event; nor for what a reconnect resends.
    let message = sent(0).last().unwrap().clone();
    let client_id = message.split('"').nth(7).unwrap().to_owned();
    server_send(0, &format!(r#"{{"type":"error","code":"rate_limited","message":"m","client_id":"{client_id}"}}"#));
    f.click("[data-act=retry]");
    assert_eq!(sent(0).last().unwrap(), &message, "resent");
    assert_eq!(strings(tracked()).len(), 2, "a resend is not a new message");
    // Nor does a message that is not sent (empty).
    type_into(&input, "   ");
    press_key(&input, "Enter", false);
    assert_eq!(strings(tracked()).len(), 2);

    // Rating a reply: up or down, without a comment.
    server_send(0, r#"{"type":"message","id":"r1","role":"assistant","content":"Because.","sender":"assistant"}"#);
    route("/api/v1/messages/r1/feedback", 204, "");
    f.click("[data-act=up]");
    wait_for(2000, "the feedback status", || f.text(".ibal-typing") == "Thanks for your feedback").await;
    assert_eq!(strings(tracked())[2], r#"["ibal.reply.rated",{"rating":"up","has_comment":false}]"#);
    assert!(!strings(logs()).iter().any(|l| l.contains("secret")), "the text is never in the console");
}

#[wasm_bindgen_test]
fn a_track_that_throws_does_not_stop_the_chat() {
    let f = tracked_assistant(true, "");
    let input = f.q(".ibal-input");
    type_into(&input, "Hello");
    assert!(press_key(&input, "Enter", false));
    assert_eq!(strings(tracked()), [r#"["ibal.message.sent",{"length":5}]"#]);
    assert!(sent(0).last().unwrap().ends_with(r#""content":"Hello"}"#), "the message went");
    assert_eq!(f.all(".ibal-msg-sent").len(), 1);
}

/// The comment box is shown (under a reply; before a rating, or with its reply gone, it is nowhere).
fn comment_shown(f: &Fixture) -> bool {
    f.all(".ibal-comment").iter().any(|e| !e.has_attribute("hidden"))
}

/// The body of the latest request to the feedback API of reply `id`, if any.
fn last_feedback(id: &str) -> Option<String> {
    let url = format!(r#""url":"http://gateway.test/api/v1/messages/{id}/feedback""#);
    strings(fetch_log()).into_iter().rev().find(|r| r.contains(&url))
}

#[wasm_bindgen_test]
async fn a_rating_may_come_with_a_comment_by_keyboard() {
    let f = tracked_assistant(false, "");
    server_send(0, r#"{"type":"message","id":"r1","role":"assistant","content":"Because.","sender":"assistant"}"#);
    route("/api/v1/messages/r1/feedback", 204, "");
    assert!(!comment_shown(&f), "no comment box before a rating");

    // Not helpful: the rating goes at once, then the box opens under the reply with the focus in it.
    f.click("[data-act=down]");
    let request = last_feedback("r1").unwrap();
    assert!(request.contains(r#""body":"{\"rating\":\"down\"}""#), "{request}");
    assert!(f.visible(".ibal-msg-assistant .ibal-comment"));
    let input = f.q(".ibal-comment textarea");
    assert!(is_focused(&input), "the focus moves into the box");
    assert_eq!(f.text(".ibal-comment label"), "Tell us more (optional)", "its label names the text box");
    assert_eq!(input.get_attribute("maxlength").as_deref(), Some("2000"));
    let buttons: Vec<_> = f.all(".ibal-comment button").iter().filter_map(|b| b.text_content()).collect();
    assert_eq!(buttons, ["Send", "Cancel"]);
    wait_for(2000, "the thanks", || f.text(".ibal-typing") == "Thanks for your feedback").await;

    // Shift+Enter is a new line; Enter sends the rating again, with the comment; the focus goes back.
    type_into(&input, "  Wrong unit:\n\"see 3.2\"  ");
    assert!(!press_key(&input, "Enter", true));
    let requests = strings(fetch_log()).len();
    assert!(press_key(&input, "Enter", false));
    assert_eq!(strings(fetch_log()).len(), requests + 1);
    let request = last_feedback("r1").unwrap();
    assert!(
        request.contains(r#""body":"{\"rating\":\"down\",\"comment\":\"Wrong unit:\\n\\\"see 3.2\\\"\"}""#),
        "{request}"
    );
    assert!(request.contains(&format!(r#""authorization":"Bearer {TOKEN}""#)));
    assert!(!comment_shown(&f));
    assert!(is_focused(&f.q(".ibal-msg-assistant [data-act=down]")), "back on the rating");
    assert_eq!(
        strings(tracked()),
        [
            r#"["ibal.reply.rated",{"rating":"down","has_comment":false}]"#,
            r#"["ibal.reply.rated",{"rating":"down","has_comment":true}]"#
        ]
    );
    assert!(!strings(logs()).iter().any(|l| l.contains("Wrong unit")), "never the comment in the console");

    // Helpful opens it too, empty; Escape closes it without sending anything, focus back on Helpful.
    f.click("[data-act=up]");
    let input = f.q(".ibal-comment textarea");
    assert!(f.visible(".ibal-comment") && is_focused(&input));
    assert_eq!(input.dyn_ref::<web_sys::HtmlTextAreaElement>().unwrap().value(), "");
    type_into(&input, "never sent");
    let requests = strings(fetch_log()).len();
    assert!(press_key(&input, "Escape", false));
    assert!(!comment_shown(&f));
    assert!(is_focused(&f.q(".ibal-msg-assistant [data-act=up]")));
    assert_eq!(strings(fetch_log()).len(), requests, "Escape sends nothing");
    // Cancel likewise; and an empty comment sends nothing either.
    f.click("[data-act=up]");
    f.click(".ibal-comment [data-act=uncomment]");
    assert!(!comment_shown(&f) && is_focused(&f.q(".ibal-msg-assistant [data-act=up]")));
    f.click("[data-act=up]");
    type_into(&f.q(".ibal-comment textarea"), "   ");
    let requests = strings(fetch_log()).len();
    f.click(".ibal-comment button[type=submit]");
    assert!(!comment_shown(&f));
    assert_eq!(strings(fetch_log()).len(), requests);
    // The Send button sends as Enter does.
    f.click("[data-act=up]");
    type_into(&f.q(".ibal-comment textarea"), "Clear, thanks");
    f.click(".ibal-comment button[type=submit]");
    assert!(last_feedback("r1").unwrap().contains(r#"{\"rating\":\"up\",\"comment\":\"Clear, thanks\"}"#));
    assert_eq!(strings(tracked()).last().unwrap(), r#"["ibal.reply.rated",{"rating":"up","has_comment":true}]"#);

    // A box left open goes with its reply (regenerated).
    f.click("[data-act=down]");
    server_send(0, r#"{"type":"stream_start","id":"r2","replaces":"r1","sender":"assistant"}"#);
    assert!(!comment_shown(&f));
}

#[wasm_bindgen_test]
fn the_comment_box_in_french() {
    let f = Fixture::mount(&[
        ("auth_mode", "token"),
        ("access_token", TOKEN),
        ("expires_in", "900"),
        ("username", "john_doe"),
        ("lang", "fr"),
    ]);
    server_open(0);
    server_send(0, r#"{"type":"user_info","username":"john_doe","backend":"openai"}"#);
    server_send(
        0,
        r#"{"type":"history","messages":[{"id":"r1","role":"assistant","content":"Oui.","sender":"assistant"}]}"#,
    );
    route("/api/v1/messages/r1/feedback", 204, "");
    f.click("[data-act=down]");
    assert_eq!(f.text(".ibal-comment label"), "Dites-nous-en plus (facultatif)");
    let buttons: Vec<_> = f.all(".ibal-comment button").iter().filter_map(|b| b.text_content()).collect();
    assert_eq!(buttons, ["Envoyer", "Annuler"]);
}

// --- Tabs: a block offering both the course room and the assistant ------------------------------

/// The `tab` buttons: (text, aria-selected, tabindex).
fn tabs(f: &Fixture) -> Vec<(String, String, String)> {
    f.all("[role=tab]")
        .iter()
        .map(|t| {
            let attr = |name: &str| t.get_attribute(name).unwrap_or_default();
            (t.text_content().unwrap_or_default(), attr("aria-selected"), attr("tabindex"))
        })
        .collect()
}

/// The `channel` of the `auth` frame that opened socket `index` (after `server_open`), if any.
fn auth_channel(index: u32) -> Option<String> {
    let auth = sent(index).into_iter().next().unwrap();
    assert!(auth.starts_with(r#"{"type":"auth","token":""#), "{auth}");
    auth.split(r#""channel":""#).nth(1).map(|rest| rest.split('"').next().unwrap().to_owned())
}

/// Token mode in a block offering both, `lang` as given.
fn both(lang: &str) -> Fixture {
    Fixture::mount(&[
        ("auth_mode", "token"),
        ("access_token", TOKEN),
        ("expires_in", "900"),
        ("username", "john_doe"),
        ("mode", "both"),
        ("lang", lang),
    ])
}

const TAB_KEY: &str = "ibal-widget:tab:block-v1:edX+DemoX+Demo_Course+type@ibalxblock+block@3f2a";

#[wasm_bindgen_test]
fn a_both_block_has_tabs_and_each_tab_its_conversation() {
    let f = both("en");
    // An ARIA tablist named after the chat; the assistant's tab first selected (the block's default mode).
    let list = f.q("[role=tablist]");
    assert_eq!(list.get_attribute("aria-label").as_deref(), Some("IBAL Chat"));
    let assistant_selected = vec![
        ("Course room".to_owned(), "false".to_owned(), "-1".to_owned()),
        ("Assistant".to_owned(), "true".to_owned(), "0".to_owned()),
    ];
    assert_eq!(tabs(&f), assistant_selected);
    let panel = f.q("[role=tabpanel]");
    assert_eq!(panel.get_attribute("aria-label").as_deref(), Some("Assistant"));
    assert!(panel.contains(Some(&f.q(".ibal-chat"))) && panel.contains(Some(&f.q(".ibal-status"))));
    assert_eq!(f.all("[role=tab]").iter().filter(|t| t.tag_name() == "BUTTON").count(), 2);

    // The first socket asks for the assistant's conversation.
    server_open(0);
    assert_eq!(auth_channel(0).as_deref(), Some("assistant"));
    server_send(0, r#"{"type":"user_info","username":"john_doe","backend":"openai","conversation_id":"conv-1"}"#);
    server_send(
        0,
        r#"{"type":"history","messages":[{"id":"a1","role":"assistant","content":"Mine","sender":"assistant"}]}"#,
    );
    assert_eq!(f.all(".ibal-msg").len(), 1);

    // The room's tab: the socket reconnects with the room's channel and shows the room's history only.
    f.click("[role=tab][data-act=room]");
    assert_eq!(socket_closed_with(0), 1000);
    assert_eq!(socket_count(), 2);
    assert!(f.all(".ibal-msg").is_empty(), "the assistant's conversation goes");
    assert_eq!(f.phase(), "connecting");
    assert_eq!(tabs(&f)[0].1, "true");
    assert!(is_focused(&f.q("[data-act=room]")));
    assert_eq!(f.q("[role=tabpanel]").get_attribute("aria-label").as_deref(), Some("Course room"));
    assert_eq!(session_item(TAB_KEY), "room", "remembered for the block in sessionStorage");
    server_open(1);
    assert_eq!(auth_channel(1).as_deref(), Some("room"));
    server_send(1, r#"{"type":"user_info","username":"john_doe","backend":"room","conversation_id":"room-1"}"#);
    server_send(1, r#"{"type":"history","messages":[{"id":"r1","content":"Hi all","sender":"jane"}]}"#);
    let bubbles = f.all(".ibal-msg");
    assert_eq!(bubbles.len(), 1);
    assert!(bubbles[0].text_content().unwrap().contains("Hi all"));
    assert_eq!(f.phase(), "connected");
    // The tab shown: nothing to do.
    f.click("[data-act=room]");
    assert_eq!(socket_count(), 2);

    // The keyboard: an arrow goes to the other tab (and its conversation), Home to the first, End to
    // the last; the focus follows.
    let room = f.q("[data-act=room]");
    assert!(press_key(&room, "ArrowRight", false));
    assert_eq!(socket_count(), 3);
    assert_eq!(tabs(&f), assistant_selected);
    assert!(is_focused(&f.q("[data-act=assistant]")));
    assert!(press_key(&f.q("[data-act=assistant]"), "ArrowLeft", false));
    assert_eq!(tabs(&f)[0].1, "true");
    assert!(press_key(&f.q("[data-act=room]"), "End", false));
    assert_eq!((tabs(&f)[1].1.as_str(), socket_count()), ("true", 5));
    assert!(press_key(&f.q("[data-act=assistant]"), "Home", false));
    assert_eq!((tabs(&f)[0].1.as_str(), socket_count()), ("true", 6));
    assert!(is_focused(&f.q("[data-act=room]")));
    assert!(!press_key(&f.q("[data-act=room]"), "a", false), "other keys are the page's");
    assert_eq!(socket_count(), 6);
    server_open(5);
    assert_eq!(auth_channel(5).as_deref(), Some("room"));

    // Close Chat keeps the tab; Start Chat opens it again.
    f.click(".ibal-btn-close");
    assert_eq!(tabs(&f)[0].1, "true");
    f.click(".ibal-btn-start");
    server_open(6);
    assert_eq!(auth_channel(6).as_deref(), Some("room"));
    assert!(strings(logs()).iter().any(|l| l == "[IbalXBlock] Chat button activated: room"));
}

#[wasm_bindgen_test]
fn the_tab_is_remembered_and_follows_what_the_gateway_serves() {
    install();
    reset();
    // Chosen earlier in this browser tab: the room's.
    set_session_item(TAB_KEY, "room");
    let f = Fixture::mount_settings(
        &[],
        Fixture::settings(&[
            ("auth_mode", "token"),
            ("access_token", TOKEN),
            ("username", "john_doe"),
            ("mode", "both"),
        ]),
    );
    assert_eq!(tabs(&f)[0].1, "true");
    server_open(0);
    assert_eq!(auth_channel(0).as_deref(), Some("room"));
    // The assistant's tab, on a gateway that cannot serve it: user_info says the room, and so do the tabs.
    server_send(0, r#"{"type":"user_info","username":"john_doe","backend":"room"}"#);
    f.click("[data-act=assistant]");
    server_open(1);
    assert_eq!(auth_channel(1).as_deref(), Some("assistant"));
    server_send(1, r#"{"type":"user_info","username":"john_doe","backend":"room"}"#);
    assert_eq!(tabs(&f)[0].1, "true", "the room is what answers");
    drop(f);

    // In French; a block that is not both has no tabs and asks for no channel.
    let f = both("fr");
    let names: Vec<_> = tabs(&f).into_iter().map(|t| t.0).collect();
    assert_eq!(names, ["Salle du cours", "Assistant"]);
    drop(f);
    let f = Fixture::connected(&[]);
    assert!(f.all("[role=tablist]").is_empty() && f.all("[role=tabpanel]").is_empty());
    assert_eq!(auth_channel(0), None);
}

// --- My data -----------------------------------------------------------------------------------

/// The My data menu is shown.
fn menu_open(f: &Fixture) -> bool {
    f.visible(".ibal-data-menu")
}

/// The texts of the menu's visible buttons.
fn menu_buttons(f: &Fixture) -> Vec<String> {
    f.all(".ibal-data-menu button")
        .iter()
        .filter(|b| {
            let mut node = Some((*b).clone());
            while let Some(e) = node {
                if e.has_attribute("hidden") {
                    return false;
                }
                node = e.parent_element();
            }
            true
        })
        .filter_map(|b| b.text_content())
        .collect()
}

/// The latest request to `path`, as the fake fetch recorded it.
fn last_request(path: &str) -> Option<String> {
    let url = format!(r#""url":"http://gateway.test{path}""#);
    strings(fetch_log()).into_iter().rev().find(|r| r.contains(&url))
}

/// Connected to an assistant in token mode (conversation `conv-1`), with a reply in the history.
fn with_conversation(pairs: &[(&str, &str)]) -> Fixture {
    let mut all =
        vec![("auth_mode", "token"), ("access_token", TOKEN), ("expires_in", "900"), ("username", "john_doe")];
    all.extend_from_slice(pairs);
    let f = Fixture::mount(&all);
    server_open(0);
    server_send(0, r#"{"type":"user_info","username":"john_doe","backend":"openai","conversation_id":"conv-1"}"#);
    server_send(
        0,
        r#"{"type":"history","messages":[{"id":"a1","role":"assistant","content":"Hello","sender":"assistant"}]}"#,
    );
    f
}

#[wasm_bindgen_test]
async fn my_data_downloads_the_export_after_a_confirmation() {
    let f = with_conversation(&[]);
    let button = f.q(".ibal-btn-data");
    assert_eq!(button.text_content().as_deref(), Some("My data"));
    assert_eq!(button.tag_name(), "BUTTON");
    assert!(f.visible(".ibal-btn-data") && !menu_open(&f));
    assert_eq!(button.get_attribute("aria-expanded").as_deref(), Some("false"));

    // Opened: a labelled group of actions (no account deletion outside local accounts).
    f.click(".ibal-btn-data");
    assert!(menu_open(&f));
    assert_eq!(button.get_attribute("aria-expanded").as_deref(), Some("true"));
    let menu = f.q(".ibal-data-menu");
    assert_eq!(
        (menu.get_attribute("role").as_deref(), menu.get_attribute("aria-label").as_deref()),
        (Some("group"), Some("My data"))
    );
    assert_eq!(menu_buttons(&f), ["Download my data", "Delete this conversation"]);

    // An action asks first: its question, Confirm and Cancel (focused); Cancel runs nothing.
    f.click("[data-act=export]");
    assert_eq!(menu_buttons(&f), ["Confirm", "Cancel"]);
    let question = "Download all your data from the chat, as a file?";
    assert_eq!(f.text(".ibal-data-status"), question);
    assert_eq!(f.q(".ibal-data-status").get_attribute("role").as_deref(), Some("status"));
    assert_eq!(f.q(".ibal-data-confirm").get_attribute("aria-label").as_deref(), Some(question));
    assert!(is_focused(&f.q("[data-act=unconfirm]")));
    f.click("[data-act=unconfirm]");
    assert_eq!(menu_buttons(&f), ["Download my data", "Delete this conversation"]);
    assert!(is_focused(&f.q("[data-act=export]")), "back on the action");
    assert_eq!(f.text(".ibal-data-status"), "");
    assert!(last_request("/api/v1/me/export").is_none());

    // Confirmed: GET with the bearer token, saved as ibal-my-data.json from a Blob, in the page.
    let export = r#"{"user":{"username":"john_doe"},"conversations":[],"feedback":[]}"#;
    route("/api/v1/me/export", 200, export);
    route("/api/v1/conversations/conv-1", 204, "");
    f.click("[data-act=export]");
    f.click("[data-act=confirm]");
    assert_eq!(f.text(".ibal-data-status"), "Please wait…");
    // One action at a time: another one confirmed meanwhile is not run.
    f.click("[data-act=forget]");
    f.click("[data-act=confirm]");
    wait_for(2000, "the download", || downloads().length() == 1).await;
    assert!(last_request("/api/v1/conversations/conv-1").is_none());
    assert_eq!(f.all(".ibal-msg").len(), 1);
    let request = last_request("/api/v1/me/export").unwrap();
    assert!(request.contains(r#""method":"GET""#), "{request}");
    assert!(request.contains(&format!(r#""authorization":"Bearer {TOKEN}""#)), "{request}");
    let download = strings(downloads()).pop().unwrap();
    assert!(download.contains(r#""name":"ibal-my-data.json""#) && download.contains(r#""inPage":true"#), "{download}");
    let url = download.split(r#""url":""#).nth(1).unwrap().split('"').next().unwrap().to_owned();
    assert!(url.starts_with("blob:"), "{url}");
    let text = wasm_bindgen_futures::JsFuture::from(blob_text(&url)).await.unwrap().as_string().unwrap();
    assert_eq!(text, export);
    assert_eq!(f.text(".ibal-data-status"), "Your data was downloaded.");
    assert!(f.all("a[download]").is_empty(), "the link goes after its click");
    // A second download revokes the first one's URL.
    f.click("[data-act=export]");
    f.click("[data-act=confirm]");
    wait_for(2000, "the second download", || downloads().length() == 2).await;
    assert_eq!(strings(revoked_urls()), [url]);

    // Escape closes the menu (from inside it), the focus back on My data.
    assert!(is_focused(&f.q("[data-act=export]")));
    assert!(press_key(&f.q("[data-act=export]"), "Escape", false));
    assert!(!menu_open(&f) && is_focused(&button));
    assert_eq!(button.get_attribute("aria-expanded").as_deref(), Some("false"));
    // Escape in a confirm step, too; and the menu reopens on its actions.
    f.click(".ibal-btn-data");
    f.click("[data-act=forget]");
    assert!(press_key(&f.q("[data-act=unconfirm]"), "Escape", false));
    assert!(!menu_open(&f) && is_focused(&button));
    f.click(".ibal-btn-data");
    assert_eq!(menu_buttons(&f), ["Download my data", "Delete this conversation"]);
    assert_eq!(f.text(".ibal-data-status"), "");
    // My data goes with the chat.
    f.click(".ibal-btn-close");
    assert!(!f.visible(".ibal-btn-data") && !menu_open(&f));
    for line in strings(logs()) {
        assert!(!line.contains("U0VDUkVUUEFZTE9BRFNFQ1JFVFBBWUxPQUQ"), "a token in the console: {line}");
        assert!(!line.contains("conversations\":[]"), "the export in the console: {line}");
    }
    assert!(strings(logs()).iter().any(|l| l == "[IbalXBlock] My data: export: done"));
}

#[wasm_bindgen_test]
async fn deleting_the_conversation_goes_on_in_a_new_one_and_failures_say_why() {
    let f = with_conversation(&[]);
    f.click(".ibal-btn-data");

    // Failures: the gateway's status, a refused token, no answer; the conversation stays.
    for (status, said) in [
        (404, "Not done: HTTP 404"),
        (401, "Not done: Your sign-in has expired. Click Start Chat to sign in again."),
        (0, "Not done: The chat server cannot be reached."),
    ] {
        route(
            "/api/v1/conversations/conv-1",
            status,
            r#"{"error":{"code":"not_found","message":"No such conversation."}}"#,
        );
        f.click("[data-act=forget]");
        assert_eq!(f.text(".ibal-data-status"), "Delete this conversation for good?");
        f.click("[data-act=confirm]");
        wait_for(2000, "the failure", || f.text(".ibal-data-status") == said).await;
        assert_eq!(f.all(".ibal-msg").len(), 1);
        assert_eq!(socket_count(), 1);
    }

    // Deleted (204): DELETE with the bearer token; the messages go and the chat reconnects into a new one.
    route("/api/v1/conversations/conv-1", 204, "");
    f.click("[data-act=forget]");
    f.click("[data-act=confirm]");
    wait_for(2000, "the deletion", || f.text(".ibal-data-status") == "The conversation was deleted.").await;
    let request = last_request("/api/v1/conversations/conv-1").unwrap();
    assert!(request.contains(r#""method":"DELETE""#), "{request}");
    assert!(request.contains(&format!(r#""authorization":"Bearer {TOKEN}""#)), "{request}");
    assert!(f.all(".ibal-msg").is_empty());
    assert_eq!(socket_closed_with(0), 1000);
    assert_eq!(socket_count(), 2);
    assert_eq!(f.phase(), "connecting");
    assert!(menu_open(&f) && is_focused(&f.q(".ibal-btn-data")));
    assert!(!f.visible("[data-act=forget]"), "nothing to delete before the new conversation");
    server_open(1);
    server_send(1, r#"{"type":"user_info","username":"john_doe","backend":"openai","conversation_id":"conv-2"}"#);
    server_send(1, r#"{"type":"history","messages":[]}"#);
    assert!(f.visible("[data-act=forget]"));
    drop(f);

    // A room is no one's conversation: nothing to delete there.
    let f = Fixture::connected(&[]);
    f.click(".ibal-btn-data");
    assert_eq!(menu_buttons(&f), ["Download my data"]);
}

#[wasm_bindgen_test]
async fn a_local_account_is_deleted_then_signed_out() {
    let f = Fixture::mount(&[("auth_mode", "local")]);
    let cached = format!(
        r#"{{"access_token":"{TOKEN}","refresh_token":"r1.keep","expires_at":{},"username":"jane"}}"#,
        now() as i64 + 600_000
    );
    set_storage("ibal-widget:token:http://gateway.test", &cached);
    f.click(".ibal-btn-start");
    server_open(0);
    server_send(0, r#"{"type":"user_info","username":"jane","backend":"room","conversation_id":"room-1"}"#);
    f.click(".ibal-btn-data");
    assert_eq!(menu_buttons(&f), ["Download my data", "Delete my account"]);

    // Refused: said, and nothing else happens.
    route("/api/v1/me", 403, r#"{"error":{"code":"forbidden","message":"Only a local account is deleted here."}}"#);
    f.click("[data-act=erase]");
    assert_eq!(f.text(".ibal-data-status"), "Delete your account and all its data for good?");
    f.click("[data-act=confirm]");
    wait_for(2000, "the refusal", || f.text(".ibal-data-status") == "Not done: HTTP 403").await;
    assert_eq!(f.phase(), "connected");

    // Deleted: DELETE /api/v1/me with the token, then signed out as Sign out does, and told so.
    route("/api/v1/me", 200, r#"{"removed":{"messages":3}}"#);
    route("/api/v1/auth/logout", 401, r#"{"error":{"code":"invalid_token","message":"gone"}}"#);
    f.click("[data-act=erase]");
    f.click("[data-act=confirm]");
    wait_for(2000, "the sign-out", || f.phase() == "idle").await;
    let request = last_request("/api/v1/me").unwrap();
    assert!(request.contains(r#""method":"DELETE""#), "{request}");
    assert!(request.contains(&format!(r#""authorization":"Bearer {TOKEN}""#)), "{request}");
    assert_eq!(f.text(".ibal-notice-text"), "Your account was deleted.");
    assert!(f.q(".ibal-notice").class_name().contains("ibal-notice-info"));
    assert_eq!(f.q(".ibal-notice").get_attribute("role").as_deref(), Some("status"));
    assert_eq!(get_storage("ibal-widget:token:http://gateway.test"), "", "the token is forgotten");
    assert_eq!(socket_closed_with(0), 1000);
    assert!(!f.visible(".ibal-btn-data") && !menu_open(&f));
    assert!(is_focused(&f.q(".ibal-btn-start")));
    wait_for(1000, "the logout", || last_request("/api/v1/auth/logout").is_some()).await;
}

#[wasm_bindgen_test]
fn my_data_in_french() {
    let f = Fixture::mount(&[("auth_mode", "local"), ("lang", "fr")]);
    let cached = format!(r#"{{"access_token":"{TOKEN}","expires_at":{},"username":"jane"}}"#, now() as i64 + 600_000);
    set_storage("ibal-widget:token:http://gateway.test", &cached);
    f.click(".ibal-btn-start");
    server_open(0);
    server_send(0, r#"{"type":"user_info","username":"jane","backend":"openai","conversation_id":"conv-1"}"#);
    assert_eq!(f.text(".ibal-btn-data"), "Mes données");
    f.click(".ibal-btn-data");
    assert_eq!(f.q(".ibal-data-menu").get_attribute("aria-label").as_deref(), Some("Mes données"));
    assert_eq!(menu_buttons(&f), ["Télécharger mes données", "Supprimer cette conversation", "Supprimer mon compte"]);
    f.click("[data-act=erase]");
    assert_eq!(f.text(".ibal-data-status"), "Supprimer définitivement votre compte et ses données ?");
    assert_eq!(menu_buttons(&f), ["Confirmer", "Annuler"]);
    f.click("[data-act=unconfirm]");
    f.click("[data-act=forget]");
    assert_eq!(f.text(".ibal-data-status"), "Supprimer définitivement cette conversation ?");
    f.click("[data-act=unconfirm]");
    f.click("[data-act=export]");
    assert_eq!(f.text(".ibal-data-status"), "Télécharger toutes vos données du chat, dans un fichier ?");
}
