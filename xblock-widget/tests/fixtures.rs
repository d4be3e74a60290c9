//! The protocol's golden fixtures (protocol/fixtures/) through the widget's own code path: each
//! server frame read as the socket handler reads it and applied to a connected chat's state, with
//! the effect the frame must have; and the frames the state machine sends, equal to the fixtures.
//! Host only (`cargo test -p ibal-widget`).
#![cfg(not(target_arch = "wasm32"))]
#![allow(clippy::unwrap_used, clippy::panic)]

use ibal_protocol::json::Value;
use ibal_protocol::{ClientFrame, ServerFrame};
use ibal_widget::state::{Delivery, Effect, Event, Phase, State};

const CLIENT: &str = include_str!("../../protocol/fixtures/client.json");
const SERVER: &str = include_str!("../../protocol/fixtures/server.json");

fn cases(file: &str) -> Vec<(String, Value)> {
    match Value::parse(file) {
        Some(Value::Object(cases)) => cases,
        _ => panic!("a fixture file is an object of named frames"),
    }
}

fn fixture(file: &str, name: &str) -> Value {
    cases(file).into_iter().find(|(n, _)| n == name).map(|(_, v)| v).unwrap_or_else(|| panic!("no fixture {name}"))
}

/// A fixture as the text a socket receives.
fn text(value: &Value) -> String {
    // The widget reads text; the fixture files hold values. Re-encoding through the typed frame would
    // hide a reader bug behind a writer bug, so the text is rebuilt from the value itself.
    fn write(value: &Value, out: &mut String) {
        match value {
            Value::Null => out.push_str("null"),
            Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
            Value::Number(n) => out.push_str(&n.to_string()),
            Value::String(s) => ibal_protocol::json::push_str(out, s),
            Value::Array(items) => {
                out.push('[');
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    write(item, out);
                }
                out.push(']');
            }
            Value::Object(members) => {
                out.push('{');
                for (i, (key, item)) in members.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    ibal_protocol::json::push_str(out, key);
                    out.push(':');
                    write(item, out);
                }
                out.push('}');
            }
        }
    }
    let mut out = String::new();
    write(value, &mut out);
    out
}

/// A frame as the widget's socket handler reads it.
fn read(value: &Value) -> Event {
    Event::Frame(ServerFrame::from_json(&text(value)).unwrap_or_else(|e| panic!("{e}: {}", text(value))))
}

fn str_of<'a>(value: &'a Value, key: &str) -> &'a str {
    value.get(key).and_then(Value::as_str).unwrap_or_default()
}

/// Connected as john_doe, with an empty history, and three messages of ours in flight (one with the
/// fixtures' client_id).
fn connected() -> State {
    let mut s = State::new();
    s.apply(Event::Start, 0.0);
    s.apply(Event::Authenticated { username: Some("john_doe".into()), fresh: true }, 0.0);
    s.apply(Event::SocketOpened, 0.0);
    s.apply(read(&fixture(SERVER, "user_info")), 0.0);
    s.apply(read(&fixture(SERVER, "history_empty")), 0.0);
    for client_id in ["c-1", "c-5b0d2e9a-7f21-4c33-9a9e-1d2c3b4a5f60", "c-3"] {
        s.apply(send(client_id, "Hello!"), 0.0);
    }
    s
}

fn send(client_id: &str, content: &str) -> Event {
    Event::Send { client_id: client_id.into(), content: content.into(), now: "2026-11-21T13:00:00.000Z".into() }
}

#[test]
fn every_server_fixture_has_its_effect_on_the_state() {
    for (name, frame) in cases(SERVER) {
        let mut s = connected();
        let before = s.clone();
        s.apply(read(&frame), 1000.0);
        assert_eq!(s.phase, Phase::Connected, "{name}");
        match str_of(&frame, "type") {
            "user_info" => {
                assert_eq!(s.username.as_deref(), Some(str_of(&frame, "username")), "{name}");
                assert_eq!(s.backend, str_of(&frame, "backend"), "{name}");
                let max = frame.get("limits").and_then(|l| l.get("max_message_bytes")).and_then(Value::as_u64);
                assert_eq!(s.max_message_bytes, max, "{name}");
                // The course team's controls (an assistant's): starters, the disclosure, the exam.
                let context = frame.get("context");
                let starters =
                    context.and_then(|c| c.get("starters")).and_then(Value::as_array).map_or(0, <[Value]>::len);
                assert_eq!(s.context.starters.len(), starters, "{name}");
                let disclosure = context.and_then(|c| c.get("disclosure")).and_then(|d| d.get("version"));
                assert_eq!(s.unaccepted().map(|d| d.version.as_str()), disclosure.and_then(Value::as_str), "{name}");
                let exam = context.and_then(|c| c.get("exam")).and_then(Value::as_bool) == Some(true);
                assert_eq!(s.context.exam, exam, "{name}");
                assert_eq!(s.can_send(), !exam && disclosure.is_none(), "{name}");
            }
            "history" => {
                // Not the first history after connecting: a page of older messages, before ours.
                // A regenerated reply's earlier version is not shown.
                let messages = frame.get("messages").and_then(Value::as_array).unwrap_or_default();
                let replaced = messages.iter().filter(|m| m.get("replaces").is_some()).count();
                let count = messages.len() - replaced;
                assert_eq!(s.entries.len(), before.entries.len() + count, "{name}");
                assert_eq!(s.has_more, frame.get("has_more").and_then(Value::as_bool) == Some(true), "{name}");
            }
            "message" => {
                let content = str_of(&frame, "content");
                let entry = s.entries.iter().find(|e| e.id.as_deref() == Some(str_of(&frame, "id")));
                assert_eq!(entry.map(|e| e.content.as_str()), Some(content), "{name}");
                // Removed by course staff: the notice in its place, marked so.
                let hidden = frame.get("hidden").and_then(Value::as_bool) == Some(true);
                assert_eq!(entry.map(|e| e.hidden), Some(hidden), "{name}");
                if let Some(client_id) = frame.get("client_id").and_then(Value::as_str) {
                    let acked = s.entries.iter().find(|e| e.client_id.as_deref() == Some(client_id));
                    if before.entries.iter().any(|e| e.client_id.as_deref() == Some(client_id)) {
                        assert_eq!(acked.map(|e| e.delivery), Some(Delivery::Acked), "{name}: the acknowledgement");
                        assert_eq!(s.entries.len(), before.entries.len(), "{name}: no second bubble");
                    }
                }
            }
            "stream_start" | "stream_delta" => {
                let reply = s.entries.iter().find(|e| e.id.as_deref() == Some(str_of(&frame, "id")));
                assert!(reply.is_some_and(|e| e.streaming && e.content == str_of(&frame, "delta")), "{name}");
            }
            "stream_end" => {
                let reply = s.entries.iter().find(|e| e.id.as_deref() == Some(str_of(&frame, "id")));
                let reply = reply.unwrap_or_else(|| panic!("{name}"));
                assert!(!reply.streaming, "{name}");
                assert_eq!(reply.content, str_of(&frame, "content"), "{name}");
                assert_eq!(reply.status.as_str(), str_of(&frame, "status"), "{name}");
                // The passages it cites, kept with it (the view lists them under the reply).
                let sources = frame.get("sources").and_then(Value::as_array).unwrap_or_default();
                let urls: Vec<_> = sources.iter().map(|s| str_of(s, "url")).collect();
                assert_eq!(reply.sources.iter().map(|s| s.url.as_str()).collect::<Vec<_>>(), urls, "{name}");
            }
            "typing" => {
                let typing = frame.get("is_typing").and_then(Value::as_bool) == Some(true);
                assert_eq!(s.typers.iter().any(|(who, _)| who == str_of(&frame, "username")), typing, "{name}");
            }
            "presence" => assert_eq!(s.presence, frame.get("count").and_then(Value::as_u64), "{name}"),
            "pinned" => {
                let content = str_of(&frame, "content");
                let pinned = s.pinned.as_ref().map(|(text, by)| (text.as_str(), by.as_str()));
                let expected = Some((content, str_of(&frame, "sender"))).filter(|_| !content.is_empty());
                assert_eq!(pinned, expected, "{name}: shown, or none once unpinned");
            }
            "error" => {
                let notice = s.notice.as_ref().unwrap_or_else(|| panic!("{name}: no notice"));
                assert_eq!(notice.code, str_of(&frame, "code"), "{name}");
                assert_eq!(notice.detail, str_of(&frame, "message"), "{name}");
                assert_eq!(notice.retry_after, frame.get("retry_after").and_then(Value::as_u64), "{name}");
                let failed: Vec<_> = s
                    .entries
                    .iter()
                    .filter(|e| e.delivery == Delivery::Failed)
                    .filter_map(|e| e.client_id.as_deref())
                    .collect();
                match frame.get("client_id").and_then(Value::as_str) {
                    Some(client_id) => assert_eq!(failed, [client_id], "{name}: the message it names failed"),
                    None if str_of(&frame, "code") == "invalid_message" => {
                        assert_eq!(failed, ["c-1"], "{name}: an unnamed refusal is the oldest message's");
                    }
                    None => assert!(failed.is_empty(), "{name}: {failed:?}"),
                }
            }
            "pong" => assert_eq!(s, before, "{name}"),
            other => panic!("{name}: a frame of type {other} the widget does not handle"),
        }
    }
}

/// The JSON value of a frame the widget sends.
fn sent(effects: &[Effect]) -> Value {
    let frames: Vec<&ClientFrame> =
        effects.iter().filter_map(|e| if let Effect::Send(f) = e { Some(f) } else { None }).collect();
    let [frame] = frames.as_slice() else { panic!("{effects:?}") };
    Value::parse(&frame.to_json()).unwrap()
}

#[test]
fn the_frames_the_widget_sends_are_the_fixtures() {
    let mut s = State::new();
    s.apply(Event::Start, 0.0);
    s.apply(Event::Authenticated { username: Some("john_doe".into()), fresh: true }, 0.0);
    s.apply(Event::SocketOpened, 0.0);
    s.apply(read(&fixture(SERVER, "user_info")), 0.0);
    s.apply(read(&fixture(SERVER, "history_empty")), 0.0);

    let message = fixture(CLIENT, "message");
    let fx = s.apply(send(str_of(&message, "client_id"), str_of(&message, "content")), 0.0);
    assert_eq!(sent(&fx), message);

    s.apply(read(&fixture(SERVER, "stream_start")), 0.0);
    assert_eq!(sent(&s.apply(Event::Stop, 0.0)), fixture(CLIENT, "stop"));

    // A page of history with older messages (its first is the one the fixture asks before).
    s.apply(read(&fixture(SERVER, "history")), 0.0);
    assert_eq!(sent(&s.apply(Event::LoadEarlier, 0.0)), fixture(CLIENT, "history"));

    // The reply ended: it may be answered again.
    s.apply(read(&fixture(SERVER, "stream_end")), 0.0);
    assert_eq!(sent(&s.apply(Event::Regenerate, 0.0)), fixture(CLIENT, "regenerate"));

    // The AI disclosure of the course team's controls, accepted.
    let mut s = State::new();
    s.apply(Event::Start, 0.0);
    s.apply(Event::Authenticated { username: Some("john_doe".into()), fresh: true }, 0.0);
    s.apply(Event::SocketOpened, 0.0);
    s.apply(read(&fixture(SERVER, "user_info_with_the_course_teams_controls")), 0.0);
    assert_eq!(sent(&s.apply(Event::AcceptDisclosure, 0.0)), fixture(CLIENT, "accept_disclosure"));

    // The frames the controller builds itself.
    for (name, frame) in [
        ("ping", ClientFrame::Ping),
        ("typing_started", ClientFrame::Typing { is_typing: true }),
        ("typing_stopped", ClientFrame::Typing { is_typing: false }),
    ] {
        assert_eq!(Value::parse(&frame.to_json()), Some(fixture(CLIENT, name)), "{name}");
    }
}
