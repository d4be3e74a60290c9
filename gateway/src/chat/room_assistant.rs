//! The assistant in a live course room (`ROOM_ASSISTANT`): a message that mentions it (`@assistant`,
//! `@assistante`, or the names the operator set) gets a reply that streams to everyone in the room,
//! written from the room's recent messages and the course's passages, stored like any reply. Each
//! room gets a few replies a minute, so one eager learner cannot spend the operator's model budget.
//! The rate is kept per replica, like the other chat limits.

use std::time::Duration;

use crate::config::RoomAssistantConfig;
use crate::rate_limit::RateLimiter;

#[derive(Debug)]
pub struct RoomAssistant {
    /// Lowercase, without the `@`.
    names: Vec<String>,
    per_minute: u32,
    rooms: RateLimiter,
}

impl RoomAssistant {
    pub fn new(config: &RoomAssistantConfig) -> Self {
        Self {
            names: config.names.clone(),
            per_minute: config.per_minute,
            rooms: RateLimiter::new(config.per_minute, config.per_minute),
        }
    }

    /// Whether `text` calls the assistant: `@name` as a word of its own, in any case.
    pub fn is_called(&self, text: &str) -> bool {
        let lower = text.to_lowercase();
        lower.match_indices('@').any(|(at, _)| {
            let before = lower[..at].chars().next_back();
            let rest = &lower[at + 1..];
            before.is_none_or(|c| !is_name_char(c))
                && self.names.iter().any(|name| {
                    rest.strip_prefix(name.as_str())
                        .is_some_and(|after| after.chars().next().is_none_or(|c| !is_name_char(c)))
                })
        })
    }

    /// One of the room's replies this minute, or how long until the next.
    pub fn take_turn(&self, room_id: &str) -> Result<(), Duration> {
        self.rooms.check(room_id)
    }

    pub fn per_minute(&self) -> u32 {
        self.per_minute
    }
}

fn is_name_char(c: char) -> bool {
    c.is_alphanumeric() || c == '_' || c == '-'
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::ChatBackendKind;

    fn assistant(per_minute: u32) -> RoomAssistant {
        RoomAssistant::new(&RoomAssistantConfig {
            backend: ChatBackendKind::OpenAi,
            names: vec!["assistant".into(), "assistante".into()],
            per_minute,
        })
    }

    #[test]
    fn a_mention_is_the_name_as_a_word_of_its_own() {
        let a = assistant(1);
        for called in
            ["@assistant what is ATP?", "Hey @Assistant, help", "(@assistante) aide-moi", "Thanks @ASSISTANT."]
        {
            assert!(a.is_called(called), "{called}");
        }
        for not in ["assistant, what is ATP?", "mail me at jane@assistant.org", "@assistants", "@assist", "@ assistant"]
        {
            assert!(!a.is_called(not), "{not}");
        }
    }

    #[test]
    fn each_room_has_its_own_few_turns_a_minute() {
        let a = assistant(2);
        assert!(a.take_turn("room-1").is_ok());
        assert!(a.take_turn("room-1").is_ok());
        assert!(a.take_turn("room-1").is_err());
        assert!(a.take_turn("room-2").is_ok());
    }
}
