//! docs/protocol.md and this crate say the same: its error codes and close codes are the crate's, and
//! each frame example it gives is read and written back unchanged by both codecs.
#![allow(clippy::unwrap_used, clippy::panic)]

use ibal_protocol::json::Value;
use ibal_protocol::{ClientFrame, ErrorCode, ServerFrame, close};

const DOC: &str = include_str!("../../docs/protocol.md");

/// The table rows after the header line `header`, up to the first line that is not a row.
fn table_rows(header: &str) -> Vec<&str> {
    let mut lines = DOC.lines().skip_while(|l| l.trim() != header).skip(2);
    let mut rows = Vec::new();
    while let Some(line) = lines.next().filter(|l| l.starts_with('|')) {
        rows.push(line);
    }
    assert!(!rows.is_empty(), "no table {header}");
    rows
}

/// The first cell of a row, without backticks.
fn first_cell(row: &str) -> &str {
    row.split('|').nth(1).unwrap().trim().trim_matches('`')
}

#[test]
fn the_error_codes_are_the_documented_ones() {
    let documented: Vec<_> = table_rows("| code | when | socket |").into_iter().map(first_cell).collect();
    let ours: Vec<_> = ErrorCode::ALL.iter().map(|c| c.as_str()).collect();
    assert_eq!(documented, ours);
}

#[test]
fn the_close_codes_are_the_documented_ones() {
    let documented: Vec<u16> =
        table_rows("| code | meaning |").into_iter().map(|row| first_cell(row).parse().unwrap()).collect();
    assert_eq!(documented, close::ALL);
}

/// Which way the frames of a section go.
#[derive(Clone, Copy, PartialEq, Debug)]
enum Direction {
    Client,
    Server,
}

/// The JSON frame examples of the sections that define frames, with the way each goes.
fn examples() -> Vec<(Direction, String)> {
    let mut out = Vec::new();
    let mut section = "";
    let mut block: Option<String> = None;
    for line in DOC.lines() {
        if let Some(title) = line.strip_prefix("## ") {
            section = title;
        }
        let frames = matches!(section, "Authentication" | "Client → server" | "Server → client");
        match (&mut block, line.trim()) {
            (None, "```json") if frames => block = Some(String::new()),
            (Some(text), "```") => {
                for value in split_values(text) {
                    let auth = value.contains(r#""type": "auth""#);
                    let direction =
                        if section == "Client → server" || auth { Direction::Client } else { Direction::Server };
                    out.push((direction, value));
                }
                block = None;
            }
            (Some(text), _) => {
                text.push_str(line);
                text.push('\n');
            }
            _ => {}
        }
    }
    out
}

/// The top-level JSON values written one after another in a code block.
fn split_values(text: &str) -> Vec<String> {
    let (mut values, mut start, mut depth, mut in_string, mut escaped) = (Vec::new(), None, 0, false, false);
    for (i, c) in text.char_indices() {
        if in_string {
            match c {
                _ if escaped => escaped = false,
                '\\' => escaped = true,
                '"' => in_string = false,
                _ => {}
            }
            continue;
        }
        match c {
            '"' => in_string = true,
            '{' | '[' => {
                if depth == 0 {
                    start = Some(i);
                }
                depth += 1;
            }
            '}' | ']' => {
                depth -= 1;
                if depth == 0 {
                    values.push(text[start.unwrap()..=i].to_owned());
                }
            }
            _ => {}
        }
    }
    values
}

#[test]
fn every_documented_frame_is_read_and_written_back_by_both_codecs() {
    let examples = examples();
    assert!(examples.len() >= 19, "the examples were not found: {}", examples.len());
    for (direction, text) in examples {
        let value = Value::parse(&text).unwrap_or_else(|| panic!("not JSON: {text}"));
        let serde_value: serde_json::Value = serde_json::from_str(&text).unwrap();
        let (ours, theirs) = match direction {
            Direction::Client => {
                let frame = ClientFrame::from_json(&text).unwrap_or_else(|e| panic!("{e}: {text}"));
                let serde_frame: ClientFrame = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}: {text}"));
                assert_eq!(frame, serde_frame, "{text}");
                (frame.to_json(), serde_json::to_value(&frame).unwrap())
            }
            Direction::Server => {
                let frame = ServerFrame::from_json(&text).unwrap_or_else(|e| panic!("{e}: {text}"));
                let serde_frame: ServerFrame = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}: {text}"));
                assert_eq!(frame, serde_frame, "{text}");
                (frame.to_json(), serde_json::to_value(&frame).unwrap())
            }
        };
        assert_eq!(Value::parse(&ours).as_ref(), Some(&value), "{text}");
        assert_eq!(theirs, serde_value, "{text}");
    }
}
