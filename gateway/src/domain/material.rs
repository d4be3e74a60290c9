//! What the course puts in front of the assistant for one chat block: the unit the learner is in and
//! the course team's controls. Only a platform's signature makes these true (see `course::ticket`).

use serde::{Deserialize, Serialize};

/// The unit the chat block sits in, as the LMS rendered it for this learner: the titles of the
/// course outline around it and the readable text of what the learner can see (HTML components,
/// problem statements without answers, video transcripts), already cut to the LMS's cap.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default)]
pub struct Unit {
    pub section: String,
    pub subsection: String,
    pub title: String,
    pub text: String,
    /// The LMS cut the text to its cap.
    pub truncated: bool,
}

/// A learner's group in each of a course's user partitions (cohorts, enrollment tracks), as the LMS
/// signed it: partition id (as text, the way Open edX's `group_access` keys it) → group id.
pub type Groups = std::collections::BTreeMap<String, i64>;

/// An RFC 3339 date and time (`2025-01-31T09:00:00Z`, `…+02:00`; a space for the `T` as Open edX
/// sometimes writes it) in Unix seconds; None when it is not one.
pub fn start_seconds(value: &str) -> Option<i64> {
    let value = match value.as_bytes().get(10) {
        Some(b' ') => std::borrow::Cow::Owned(format!("{}T{}", &value[..10], &value[11..])),
        _ => std::borrow::Cow::Borrowed(value),
    };
    time::OffsetDateTime::parse(&value, &time::format_description::well_known::Rfc3339)
        .ok()
        .map(time::OffsetDateTime::unix_timestamp)
}

/// What the block offers: the assistant, the course's live room, or both (tabs).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ChatMode {
    #[default]
    Assistant,
    Room,
    Both,
}

impl ChatMode {
    /// The mode of a wire name (`assistant`, `room`, `both`).
    pub fn parse(name: &str) -> Option<Self> {
        [Self::Assistant, Self::Room, Self::Both].into_iter().find(|mode| mode.as_str() == name)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Assistant => "assistant",
            Self::Room => "room",
            Self::Both => "both",
        }
    }
}

/// How the assistant teaches: answers directly, or guides the learner to the answer.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TutorStyle {
    Direct,
    #[default]
    Guide,
}

impl TutorStyle {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Direct => "direct",
            Self::Guide => "guide",
        }
    }

    /// The style's prompt when the course team wrote none: the XBlock's defaults, word for word (a
    /// test in the XBlock's suite reads them from here), for tickets and launches that carry no wording.
    pub fn default_prompt(self) -> &'static str {
        match self {
            Self::Guide => {
                "Guide the learner to the answer instead of giving it. Do not give final answers or complete \
                 solutions to exercises, problems or assignments. Ask one question at a time that helps the learner \
                 take the next step, give hints that build on what they already said, and point them to the part of \
                 the course material that helps. When they get there, confirm it and say briefly why it is right."
            }
            Self::Direct => {
                "Answer the learner's question directly: give the answer first, clearly and concisely, then explain \
                 the reasoning in a few sentences. Base the answer on the course material and say where in the \
                 course it is covered. If the question is outside the course, say so."
            }
        }
    }
}

/// The AI disclosure a learner accepts before first use; `version` names the exact text.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Disclosure {
    pub text: String,
    pub version: String,
}

/// The course team's controls for a block, and whether an exam is running where it sits.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Controls {
    pub mode: ChatMode,
    pub starters: Vec<String>,
    pub tutor_style: TutorStyle,
    /// The team's own wording of the tutoring style; empty for the style's default.
    pub style_prompt: String,
    pub disclosure: Disclosure,
    /// The block sits in a timed or proctored subsection, or an exam is running for the learner:
    /// the assistant does not answer.
    pub exam: bool,
    /// In the block's live room, the assistant answers messages that mention it (where the operator
    /// set up `ROOM_ASSISTANT`); the course team may turn it off. On unless the platform says off.
    pub room_assistant: bool,
}

impl Default for Controls {
    fn default() -> Self {
        Self {
            mode: ChatMode::default(),
            starters: Vec::new(),
            tutor_style: TutorStyle::default(),
            style_prompt: String::new(),
            disclosure: Disclosure::default(),
            exam: false,
            room_assistant: true,
        }
    }
}

pub const MAX_STARTERS: usize = 4;
pub const MAX_STARTER_CHARS: usize = 200;
pub const MAX_STYLE_PROMPT_CHARS: usize = 2000;
pub const MAX_DISCLOSURE_CHARS: usize = 1000;

/// `text` trimmed and cut to `max_chars` characters.
pub fn clip(text: &str, max_chars: usize) -> String {
    text.trim().chars().take(max_chars).collect()
}

impl Controls {
    /// The controls cut to the contract's limits: at most four non-blank starters of 200 characters,
    /// a tutoring prompt of 2,000 and a disclosure of 1,000.
    #[must_use]
    pub fn within_limits(mut self) -> Self {
        self.starters = self
            .starters
            .iter()
            .map(|s| clip(s, MAX_STARTER_CHARS))
            .filter(|s| !s.is_empty())
            .take(MAX_STARTERS)
            .collect();
        self.style_prompt = clip(&self.style_prompt, MAX_STYLE_PROMPT_CHARS);
        self.disclosure.text = clip(&self.disclosure.text, MAX_DISCLOSURE_CHARS);
        self.disclosure.version = clip(&self.disclosure.version, 64);
        self
    }

    /// The tutoring prompt the assistant follows.
    pub fn tutoring_prompt(&self) -> &str {
        if self.style_prompt.trim().is_empty() { self.tutor_style.default_prompt() } else { &self.style_prompt }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn start_dates_read_as_rfc3339() {
        assert_eq!(super::start_seconds("2025-01-31T09:00:00Z"), Some(1_738_314_000));
        assert_eq!(super::start_seconds("2025-01-31T11:00:00.5+02:00"), Some(1_738_314_000));
        assert_eq!(super::start_seconds("2025-01-31 09:00:00+00:00"), Some(1_738_314_000));
        for bad in ["", "2025-01-31", "2025-01-31T09:00:00", "tomorrow at nine", "2025-02-30T09:00:00Z", "é"] {
            assert_eq!(super::start_seconds(bad), None, "{bad}");
        }
    }
}
