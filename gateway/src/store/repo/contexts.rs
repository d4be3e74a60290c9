//! What a course team set for one chat (an XBlock, an LTI resource link): its title and the
//! assistant's instructions, as the platform signed them.

use crate::domain::{ChatContext, now_ms};

use crate::sql;
use crate::store::{Db, DbResult, is_unique_violation};

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ChatSettings {
    pub title: String,
    pub instructions: String,
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
                "UPDATE chat_contexts SET title = ?, instructions = ?, updated_at = ? WHERE context_key = ?"
            ))
            .bind(&settings.title)
            .bind(&settings.instructions)
            .bind(now)
            .bind(&key)
            .execute(self.pool())
            .await?;
            if updated.rows_affected() > 0 {
                return Ok(());
            }
            let inserted = sqlx::query(sql!(self, "INSERT INTO chat_contexts (context_key, platform, course_id, block_id, title, instructions, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?)"))
                .bind(&key)
                .bind(&ctx.platform)
                .bind(&ctx.course_id)
                .bind(&ctx.block_id)
                .bind(&settings.title)
                .bind(&settings.instructions)
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
        let row: Option<(String, String)> =
            sqlx::query_as(sql!(self, "SELECT title, instructions FROM chat_contexts WHERE context_key = ?"))
                .bind(ctx.key())
                .fetch_optional(self.pool())
                .await?;
        Ok(row.map(|(title, instructions)| ChatSettings { title, instructions }))
    }
}
