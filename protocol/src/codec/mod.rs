//! The frames as JSON text, through [`crate::json`] (feature `json`): `to_json` writes a frame,
//! `from_json` / `from_value` read one, liberally (see the crate's documentation).

mod decode;
mod encode;

/// Why a text is not a frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DecodeError {
    /// Not JSON.
    NotJson,
    /// JSON, but not an object with a string `type`.
    NoType,
    /// A `type` of no frame of this direction (a newer peer's; clients ignore such frames).
    UnknownType(String),
    /// A field the frame cannot do without is missing or of another type.
    Field(&'static str),
}

impl DecodeError {
    /// Why, in words, to follow "a frame that is": `not JSON`, `missing or invalid field content`…
    #[must_use]
    pub fn describe(&self) -> String {
        match self {
            Self::NotJson => "not JSON".to_owned(),
            Self::NoType => "not an object with a type".to_owned(),
            Self::UnknownType(kind) => String::from("of an unknown type: ") + kind,
            Self::Field(name) => String::from("missing or invalid field ") + name,
        }
    }
}

impl std::fmt::Display for DecodeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.describe())
    }
}

impl std::error::Error for DecodeError {}
