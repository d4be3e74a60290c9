//! What a course team set for one chat (an XBlock, an LTI resource link): its title, the
//! assistant's instructions and the team's controls, as the platform signed them.

use crate::domain::{ChatContext, Controls, now_ms};

use crate::sql;
use crate::store::{Db, DbResult, is_unique_violation};

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ChatSettings {
    pub title: String,
    pub instructions: String,
    pub controls: Controls,
}

/// The controls as stored: JSON, or empty for the defaults.
fn controls_column(controls: &Controls) -> String {
    if *controls == Controls::default() { String::new() } else { serde_json::to_string(controls).unwrap_or_default() }
}

/// A stored controls column read back; one that does not read (written by a later version) gives the
/// defaults rather than losing the chat.
fn controls_of(column: &str) -> Controls {
    if column.is_empty() { Controls::default() } else { serde_json::from_str(column).unwrap_or_default() }
}

impl Db {
    /// Records the chat's settings; a launch that changes nothing writes nothing.
    pub async fn save_chat_settings(&self, ctx: &ChatContext, settings: &ChatSettings) -> DbResult<()> {
        if self.chat_settings(ctx).await?.as_ref() == Some(settings) {
            return Ok(());
        }
        let key = ctx.key();
        let now = now_ms();
        for _ in 0..2 {
            let updated = sqlx::query(sql!(
                self,
                "UPDATE chat_contexts SET title = ?, instructions = ?, controls = ?, updated_at = ? WHERE context_key = ?"
            ))
            .bind(&settings.title)
            .bind(&settings.instructions)
            .bind(controls_column(&settings.controls))
            .bind(now)
            .bind(&key)
            .execute(self.pool())
            .await?;
            if updated.rows_affected() > 0 {
                return Ok(());
            }
            let inserted = sqlx::query(sql!(self, "INSERT INTO chat_contexts (context_key, platform, course_id, block_id, title, instructions, controls, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)"))
                .bind(&key)
                .bind(&ctx.platform)
                .bind(&ctx.course_id)
                .bind(&ctx.block_id)
                .bind(&settings.title)
                .bind(&settings.instructions)
                .bind(controls_column(&settings.controls))
                .bind(now)
                .execute(self.pool())
                .await;
            match inserted {
                Ok(_) => return Ok(()),
                Err(e) if is_unique_violation(&e) => continue,
                Err(e) => return Err(e.into()),
            }
        }
        Ok(())
    }

    pub async fn chat_settings(&self, ctx: &ChatContext) -> DbResult<Option<ChatSettings>> {
        let row: Option<(String, String, String)> =
            sqlx::query_as(sql!(self, "SELECT title, instructions, controls FROM chat_contexts WHERE context_key = ?"))
                .bind(ctx.key())
                .fetch_optional(self.pool())
                .await?;
        Ok(row.map(|(title, instructions, controls)| ChatSettings {
            title,
            instructions,
            controls: controls_of(&controls),
        }))
    }
}
