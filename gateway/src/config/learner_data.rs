//! What happens to a learner's data: `RETIREMENT_ROOM_MESSAGES`, what Open edX retirement does to
//! the learner's messages in course rooms; `RETENTION_DAYS`, how long chats are kept.

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

/// How long messages are kept: `RETENTION_DAYS` (unset or 0: for ever).
pub(super) fn retention_config(vars: &Vars) -> Result<Option<std::time::Duration>, ConfigError> {
    let days: u32 = vars.parse("RETENTION_DAYS", 0, "a number of days")?;
    Ok((days > 0).then(|| std::time::Duration::from_secs(u64::from(days) * 24 * 3600)))
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
