//! The golden fixtures (fixtures/client.json, fixtures/server.json): every frame of docs/protocol.md,
//! every optional field, every error code. Each one is read by both codecs into the same typed frame,
//! and written back by both as the same JSON value.
#![allow(clippy::unwrap_used, clippy::panic)]

use ibal_protocol::json::Value;
use ibal_protocol::{ClientFrame, ErrorCode, ServerFrame};

const CLIENT: &str = include_str!("../fixtures/client.json");
const SERVER: &str = include_str!("../fixtures/server.json");

/// The named cases of a fixture file, in file order.
fn cases(file: &str) -> Vec<(String, Value)> {
    match Value::parse(file) {
        Some(Value::Object(cases)) => cases,
        _ => panic!("a fixture file is an object of named frames"),
    }
}

fn serde_cases(file: &str) -> serde_json::Map<String, serde_json::Value> {
    serde_json::from_str(file).unwrap()
}

#[test]
fn every_client_fixture_round_trips_through_the_json_codec() {
    for (name, fixture) in cases(CLIENT) {
        let frame = ClientFrame::from_value(fixture.clone()).unwrap_or_else(|e| panic!("{name}: {e}"));
        let written = Value::parse(&frame.to_json()).unwrap();
        assert_eq!(written, fixture, "{name}: {}", frame.to_json());
    }
}

#[test]
fn every_server_fixture_round_trips_through_the_json_codec() {
    for (name, fixture) in cases(SERVER) {
        let frame = ServerFrame::from_value(fixture.clone()).unwrap_or_else(|e| panic!("{name}: {e}"));
        let written = Value::parse(&frame.to_json()).unwrap();
        assert_eq!(written, fixture, "{name}: {}", frame.to_json());
    }
}

#[test]
fn serde_reads_and_writes_every_client_fixture_as_the_json_codec_does() {
    for (name, fixture) in serde_cases(CLIENT) {
        let frame: ClientFrame = serde_json::from_value(fixture.clone()).unwrap_or_else(|e| panic!("{name}: {e}"));
        let text = serde_json::to_string(&fixture).unwrap();
        assert_eq!(Ok(&frame), ClientFrame::from_json(&text).as_ref(), "{name}: the two codecs read the same frame");
        assert_eq!(serde_json::to_value(&frame).unwrap(), fixture, "{name}");
        let ours: serde_json::Value = serde_json::from_str(&frame.to_json()).unwrap();
        assert_eq!(ours, fixture, "{name}: the two codecs write the same JSON");
    }
}

#[test]
fn serde_reads_and_writes_every_server_fixture_as_the_json_codec_does() {
    for (name, fixture) in serde_cases(SERVER) {
        let frame: ServerFrame = serde_json::from_value(fixture.clone()).unwrap_or_else(|e| panic!("{name}: {e}"));
        let text = serde_json::to_string(&fixture).unwrap();
        assert_eq!(Ok(&frame), ServerFrame::from_json(&text).as_ref(), "{name}: the two codecs read the same frame");
        assert_eq!(serde_json::to_value(&frame).unwrap(), fixture, "{name}");
        let ours: serde_json::Value = serde_json::from_str(&frame.to_json()).unwrap();
        assert_eq!(ours, fixture, "{name}: the two codecs write the same JSON");
    }
}

fn types(file: &str) -> Vec<String> {
    cases(file).iter().map(|(_, frame)| frame.get("type").and_then(Value::as_str).unwrap().to_owned()).collect()
}

#[test]
fn every_frame_type_has_a_fixture() {
    let client = types(CLIENT);
    for kind in ClientFrame::TYPES {
        assert!(client.iter().any(|t| t == kind), "no client fixture of type {kind}");
    }
    let server = types(SERVER);
    for kind in ServerFrame::TYPES {
        assert!(server.iter().any(|t| t == kind), "no server fixture of type {kind}");
    }
}

#[test]
fn every_error_code_has_a_fixture_named_after_it() {
    let server = cases(SERVER);
    for code in ErrorCode::ALL {
        let name = format!("error_{code}");
        let fixture = server.iter().find(|(n, _)| *n == name).map(|(_, f)| f);
        let fixture = fixture.unwrap_or_else(|| panic!("no fixture {name}"));
        let Ok(ServerFrame::Error(error)) = ServerFrame::from_value(fixture.clone()) else { panic!("{name}") };
        assert_eq!(error.error_code(), Some(code), "{name}");
    }
    for (name, fixture) in &server {
        if let Ok(ServerFrame::Error(error)) = ServerFrame::from_value(fixture.clone()) {
            assert!(error.error_code().is_some(), "{name}: {} is not a protocol code", error.code);
        }
    }
}

#[test]
fn typed_frames_write_the_fixtures() {
    // The builders the gateway uses give the fixtures' frames.
    let limited =
        ibal_protocol::ErrorFrame::new(ErrorCode::RateLimited, "You are sending messages too fast; try again in 12 s.")
            .with_retry_after(12)
            .about_message("c-5b0d2e9a-7f21-4c33-9a9e-1d2c3b4a5f60");
    let fixture = cases(SERVER).into_iter().find(|(n, _)| n == "error_rate_limited").map(|(_, f)| f);
    assert_eq!(Value::parse(&ServerFrame::from(limited).to_json()), fixture);
}
