//! The IBAL chat protocol, as docs/protocol.md defines it: the JSON text frames the widget (or any
//! client) and the gateway exchange over the chat WebSocket, the stable error codes of `error` frames,
//! and the WebSocket close codes. One definition for both ends, checked against golden fixtures
//! (`fixtures/client.json`, `fixtures/server.json`).
//!
//! - [`ClientFrame`]: what a client sends (`auth`, `message`, `stop`, `typing`, `history`, `ping`).
//! - [`ServerFrame`]: what the gateway sends (`user_info`, `history`, `message`, `stream_start`,
//!   `stream_delta`, `stream_end`, `typing`, `presence`, `error`, `pong`).
//! - [`ErrorCode`]: the `code` of `error` frames; [`close`]: the close codes.
//!
//! Features, all off by default (the crate then has no dependency at all):
//! - `json`: [`json`], a small JSON reader and writer with no dependency, and the frames' codec
//!   (`to_json`, `from_json`, `from_value`). The widget uses it: serde would cost its `.wasm` tens of
//!   kilobytes.
//! - `serde`: serde `Serialize` and `Deserialize` for the frames, tagged by `"type"`, with the field
//!   names of docs/protocol.md; with serde_json the output is the fixtures' (the gateway's codec).
//!
//! Both codecs write the same JSON for a frame: every field that has a value, and no `None` field.
//! Reading, `from_json` is a client's liberal reader (it takes what the original Django chat servers sent): a field
//! the frame cannot do without is required, other fields default when absent, null or of another type,
//! and a malformed `history` entry is skipped. serde's `Deserialize` is strict about types (the
//! gateway reports such frames as `bad_frame`).

mod client;
pub mod close;
mod error_code;
mod server;

#[cfg(feature = "json")]
mod codec;
#[cfg(feature = "json")]
pub mod json;

pub use client::ClientFrame;
#[cfg(feature = "json")]
pub use codec::DecodeError;
pub use error_code::ErrorCode;
pub use server::{
    ChatMessage, Context, Disclosure, ErrorFrame, Limits, Role, ServerFrame, Source, Status, Usage, UserInfo,
};

/// A `client_id` is 1 to this many bytes (the gateway counts bytes; the widget's ids are ASCII).
pub const CLIENT_ID_MAX_LEN: usize = 64;

/// The `limit` of a `history` request when it gives none; also the size of the `history` sent on connect.
pub const HISTORY_LIMIT_DEFAULT: u32 = 50;

/// The largest `limit` a `history` request may ask for.
pub const HISTORY_LIMIT_MAX: u32 = 200;
