//! What happens to a learner's data: `RETIREMENT_ROOM_MESSAGES`, what Open edX retirement does to
//! the learner's messages in course rooms.

use super::{ConfigError, Vars};

/// A retired learner's messages in course rooms (their own conversations always go).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum RoomMessages {
    /// Deleted (the default).
    #[default]
    Remove,
    /// Kept in place with the text "[deleted]" and no author, so the room's thread still reads.
    Redact,
}

impl RoomMessages {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Remove => "remove",
            Self::Redact => "redact",
        }
    }
}

pub(super) fn room_messages_config(vars: &Vars) -> Result<RoomMessages, ConfigError> {
    match vars.get("RETIREMENT_ROOM_MESSAGES").map(str::to_ascii_lowercase).as_deref() {
        None | Some("remove") => Ok(RoomMessages::Remove),
        Some("redact") => Ok(RoomMessages::Redact),
        Some(other) => {
            Err(ConfigError::new("RETIREMENT_ROOM_MESSAGES", format!("expected remove or redact, got {other:?}")))
        }
    }
}
