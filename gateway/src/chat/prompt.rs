//! The assistant's prompt, built here and nowhere else, from the operator's prompt and what the
//! platform signed for this chat (nothing a browser could forge goes in). In order:
//!
//! 1. the operator's system prompt (`CHAT_SYSTEM_PROMPT`, with `{course_id}` and `{block_id}` filled in);
//! 2. where the learner is: the course's title, the unit's place in the course outline, the block's title;
//! 3. the course team's instructions for the block;
//! 4. the tutoring style: the team's wording, or the style's default (in a course only);
//! 5. the unit's content: its text, problem statements (never answers) and video transcripts;
//! 6. passages of the whole course retrieved for the question, numbered, to be cited as `[n]`;
//!
//! then, in [`super::Chat`], as much of the earlier conversation as fits `CHAT_HISTORY_BUDGET`, and the
//! question. In a live room ([`ROOM`]) the note saying so follows the operator's prompt, and each
//! person's message goes with its author's username ([`turn`]). OpenAI-compatible servers receive 1–6 as one system message each; Flowise flows receive
//! them as `overrideConfig.vars` ([`prompt_vars`]).

use crate::course::{ContextSource, Passage, ProvenContext};
use crate::domain::{Message, MessageRole};

/// What the assistant is told when it answers in a live course room.
pub const ROOM: &str = "You are answering in the course's live room, where learners and course staff talk \
     together; each of their messages starts with its author's username. Answer the latest message, which \
     called you, briefly, as one voice in a conversation.";

/// A message as the model reads it: in a room, a person's message is "username: text".
pub fn turn(message: &Message, room: bool) -> String {
    if room && message.role == MessageRole::User {
        format!("{}: {}", message.sender_name, message.content)
    } else {
        message.content.clone()
    }
}

/// The system messages for a chat in `context`, in the order above; empty parts are left out.
pub fn system_messages(template: &str, context: &ProvenContext, passages: &[Passage]) -> Vec<String> {
    let operator = template.replace("{course_id}", &context.ctx.course_id).replace("{block_id}", &context.ctx.block_id);
    let mut messages = vec![operator];
    messages.extend(place(context));
    if !context.instructions.is_empty() {
        messages.push(format!("Instructions from the course team for this chat:\n{}", context.instructions));
    }
    if context.source != ContextSource::Gateway {
        messages.push(format!("How to tutor in this course:\n{}", context.controls.tutoring_prompt()));
    }
    messages.extend(unit_content(context));
    if !passages.is_empty() {
        messages.push(format!(
            "Passages from elsewhere in the course that may answer the question, numbered. When you use \
             one, cite it by its number in square brackets, like [1]; do not cite passages you did not \
             use, and do not invent numbers.\n<course_passages>\n{}\n</course_passages>",
            numbered(passages)
        ));
    }
    messages.retain(|m| !m.trim().is_empty());
    messages
}

/// "[n] Breadcrumb › Title" then the passage's text, for each passage.
fn numbered(passages: &[Passage]) -> String {
    let mut out = String::new();
    for p in passages {
        if !out.is_empty() {
            out.push_str("\n\n");
        }
        let place = [p.breadcrumb.as_str(), p.title.as_str()].into_iter().filter(|t| !t.is_empty()).collect::<Vec<_>>();
        out.push_str(&format!("[{}] {}\n{}", p.n, place.join(" › "), p.text));
    }
    out
}

/// The unit's place in the course outline: "Section › Subsection › Unit".
fn outline(context: &ProvenContext) -> String {
    let unit = &context.unit;
    [&unit.section, &unit.subsection, &unit.title]
        .into_iter()
        .filter(|t| !t.is_empty())
        .map(String::as_str)
        .collect::<Vec<_>>()
        .join(" › ")
}

fn place(context: &ProvenContext) -> Option<String> {
    let mut lines = Vec::new();
    if !context.course_title.is_empty() {
        lines.push(format!("The learner is taking the course \"{}\".", context.course_title));
    }
    let outline = outline(context);
    if !outline.is_empty() {
        lines.push(format!("They are in the unit {outline}."));
    }
    if !context.title.is_empty() {
        lines.push(format!("This chat is titled \"{}\".", context.title));
    }
    (!lines.is_empty()).then(|| lines.join(" "))
}

fn unit_content(context: &ProvenContext) -> Option<String> {
    let text = context.unit.text.trim();
    if text.is_empty() {
        return None;
    }
    let shortened = if context.unit.truncated { ", shortened to the parts nearest this chat" } else { "" };
    Some(format!(
        "The content of the unit the learner is looking at (its text, problem statements and video \
         transcripts{shortened}). Base your answers on it where it applies.\n<unit_content>\n{text}\n</unit_content>"
    ))
}

/// The context as named variables, for flows that build their own prompt (Flowise: `$vars.<name>`).
/// docs/assistant-prompt.md lists them.
pub fn prompt_vars(
    system: &[String],
    context: &ProvenContext,
    passages: &[Passage],
) -> serde_json::Map<String, serde_json::Value> {
    let in_course = context.source != ContextSource::Gateway;
    let tutoring = if in_course { context.controls.tutoring_prompt() } else { "" };
    let passages = numbered(passages);
    let mut vars = serde_json::Map::new();
    for (name, value) in [
        ("ibal_system_prompt", system.join("\n\n").as_str()),
        ("ibal_course_id", context.ctx.course_id.as_str()),
        ("ibal_block_id", context.ctx.block_id.as_str()),
        ("ibal_title", context.title.as_str()),
        ("ibal_instructions", context.instructions.as_str()),
        ("ibal_course_title", context.course_title.as_str()),
        ("ibal_unit_outline", outline(context).as_str()),
        ("ibal_unit_content", context.unit.text.as_str()),
        ("ibal_tutoring", tutoring),
        ("ibal_course_passages", passages.as_str()),
    ] {
        vars.insert(name.to_owned(), serde_json::Value::from(value));
    }
    vars
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{ChatContext, Controls, CourseRole, Groups, TutorStyle, Unit};

    fn in_unit() -> ProvenContext {
        ProvenContext {
            ctx: ChatContext {
                platform: "https://lms.example.com".into(),
                course_id: "c1".into(),
                block_id: "b1".into(),
            },
            source: ContextSource::Ticket,
            role: Some(CourseRole::Learner),
            title: "Photosynthesis helper".into(),
            instructions: "Answer in French.".into(),
            course_title: "Biology 101".into(),
            unit: Unit {
                section: "Plants".into(),
                subsection: "Energy".into(),
                title: "Light reactions".into(),
                text: "Chlorophyll absorbs light.".into(),
                truncated: true,
            },
            controls: Controls { tutor_style: TutorStyle::Direct, ..Controls::default() },
            groups: Groups::new(),
        }
    }

    #[test]
    fn the_parts_come_in_the_documented_order() {
        let messages = system_messages("You help in {course_id} ({block_id}).", &in_unit(), &[]);
        assert_eq!(messages.len(), 5, "{messages:#?}");
        assert_eq!(messages[0], "You help in c1 (b1).");
        assert_eq!(
            messages[1],
            "The learner is taking the course \"Biology 101\". They are in the unit Plants › Energy › Light \
             reactions. This chat is titled \"Photosynthesis helper\"."
        );
        assert_eq!(messages[2], "Instructions from the course team for this chat:\nAnswer in French.");
        assert!(messages[3].ends_with(TutorStyle::Direct.default_prompt()));
        assert!(messages[4].contains("shortened"));
        assert!(messages[4].ends_with("<unit_content>\nChlorophyll absorbs light.\n</unit_content>"));
    }

    #[test]
    fn the_course_teams_wording_replaces_the_styles_default() {
        let mut context = in_unit();
        context.controls.style_prompt = "Be Socratic.".into();
        let messages = system_messages("Plain.", &context, &[]);
        assert!(messages.iter().any(|m| m.ends_with("\nBe Socratic.")));
        assert!(!messages.iter().any(|m| m.contains(TutorStyle::Direct.default_prompt())));
    }

    #[test]
    fn outside_a_course_only_the_operators_prompt_goes_in() {
        assert_eq!(system_messages("Plain.", &ProvenContext::gateway(), &[]), vec!["Plain.".to_owned()]);
        let vars = prompt_vars(&["Plain.".to_owned()], &ProvenContext::gateway(), &[]);
        assert_eq!(vars["ibal_tutoring"], "");
    }

    #[test]
    fn flows_get_each_part_by_name() {
        let context = in_unit();
        let system = system_messages("Plain.", &context, &[]);
        let vars = prompt_vars(&system, &context, &[]);
        assert_eq!(vars["ibal_course_title"], "Biology 101");
        assert_eq!(vars["ibal_unit_outline"], "Plants › Energy › Light reactions");
        assert_eq!(vars["ibal_unit_content"], "Chlorophyll absorbs light.");
        assert_eq!(vars["ibal_tutoring"], TutorStyle::Direct.default_prompt());
        assert_eq!(vars["ibal_system_prompt"], system.join("\n\n"));
    }

    #[test]
    fn course_passages_come_last_numbered_with_their_place() {
        let passages = [Passage {
            n: 1,
            usage_id: "block-v1:O+C+R+type@html+block@u1".into(),
            title: "Chlorophyll".into(),
            breadcrumb: "Plants › Energy › Light".into(),
            url: "https://lms.example.com/jump".into(),
            text: "Chlorophyll reflects green light.".into(),
            snippet: "Chlorophyll reflects…".into(),
        }];
        let messages = system_messages("Plain.", &in_unit(), &passages);
        let last = messages.last().map(String::as_str).unwrap_or_default();
        assert!(last.contains("cite it by its number in square brackets"), "{last}");
        assert!(
            last.ends_with(
                "<course_passages>\n[1] Plants › Energy › Light › Chlorophyll\nChlorophyll reflects green light.\n</course_passages>"
            ),
            "{last}"
        );
        let vars = prompt_vars(&messages, &in_unit(), &passages);
        assert_eq!(
            vars["ibal_course_passages"],
            "[1] Plants › Energy › Light › Chlorophyll\nChlorophyll reflects green light."
        );
    }
}
