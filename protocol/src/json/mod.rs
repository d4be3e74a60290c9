//! A small JSON reader and writer, enough for the chat protocol's frames and the gateway's token
//! answers, with no dependency.
//!
//! Why not serde_json in the widget: through `serde_json::Value` and the float formatting and parsing
//! that came with it, the widget's `.wasm` measured 231 KB, over its 150 KB budget; with this module,
//! 164 KB before other trimming. Numbers are read as `f64` without `core`'s exact decimal conversion
//! (the protocol's numbers are integers: sizes, counts, seconds, milliseconds) and written as integers
//! only.

mod parse;
mod value;
mod write;

pub use value::Value;
pub use write::{ObjectWriter, push_int, push_str, push_uint};
