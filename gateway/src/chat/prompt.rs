//! The assistant's system prompt, built in one place from the operator's prompt and what the
//! platform signed for this chat: the course and block, the block's title and the course team's
//! instructions. Nothing a browser could forge goes in.

use crate::course::ProvenContext;

/// The system prompt for a chat in `context`: `template` (`CHAT_SYSTEM_PROMPT`, with `{course_id}`
/// and `{block_id}` filled in), then the block's title and the course team's instructions.
pub fn system_prompt(template: &str, context: &ProvenContext) -> String {
    let mut prompt =
        template.replace("{course_id}", &context.ctx.course_id).replace("{block_id}", &context.ctx.block_id);
    if !context.title.is_empty() {
        prompt.push_str("\n\nThis chat is titled \"");
        prompt.push_str(&context.title);
        prompt.push_str("\".");
    }
    if !context.instructions.is_empty() {
        prompt.push_str("\n\nInstructions from the course team for this chat:\n");
        prompt.push_str(&context.instructions);
    }
    prompt
}

/// The context as named variables, for flows that build their own prompt (Flowise: `$vars.<name>`):
/// `ibal_system_prompt` (all of the above), `ibal_course_id`, `ibal_block_id`, `ibal_title`,
/// `ibal_instructions`.
pub fn prompt_vars(system_prompt: &str, context: &ProvenContext) -> serde_json::Map<String, serde_json::Value> {
    let mut vars = serde_json::Map::new();
    for (name, value) in [
        ("ibal_system_prompt", system_prompt),
        ("ibal_course_id", context.ctx.course_id.as_str()),
        ("ibal_block_id", context.ctx.block_id.as_str()),
        ("ibal_title", context.title.as_str()),
        ("ibal_instructions", context.instructions.as_str()),
    ] {
        vars.insert(name.to_owned(), serde_json::Value::from(value));
    }
    vars
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::course::ContextSource;
    use crate::domain::ChatContext;
    use crate::domain::CourseRole;

    #[test]
    fn the_prompt_carries_the_signed_title_and_instructions() {
        let context = ProvenContext {
            ctx: ChatContext {
                platform: "https://lms.example.com".into(),
                course_id: "c1".into(),
                block_id: "b1".into(),
            },
            source: ContextSource::Ticket,
            role: Some(CourseRole::Learner),
            title: "Photosynthesis helper".into(),
            instructions: "Answer in French.".into(),
        };
        let prompt = system_prompt("You help in {course_id} ({block_id}).", &context);
        assert_eq!(
            prompt,
            "You help in c1 (b1).\n\nThis chat is titled \"Photosynthesis helper\".\n\n\
             Instructions from the course team for this chat:\nAnswer in French."
        );
        assert_eq!(system_prompt("Plain.", &ProvenContext::gateway()), "Plain.");
    }
}
