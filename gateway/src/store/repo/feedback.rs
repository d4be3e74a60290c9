//! A user's rating of a message: one per (message, user), changed by rating again.

use crate::domain::now_ms;

use crate::sql;
use crate::store::{Db, DbResult, is_unique_violation};

impl Db {
    /// Records or replaces this user's rating of a message (1–5; thumbs map to 1 and 5).
    pub async fn set_feedback(&self, message_id: &str, user_id: &str, rating: i64, comment: &str) -> DbResult<()> {
        let now = now_ms();
        // Update first, then insert: portable across the three dialects' different upsert syntax.
        for _ in 0..2 {
            let updated = sqlx::query(sql!(self, "UPDATE message_feedback SET rating = ?, comment = ?, updated_at = ? WHERE message_id = ? AND user_id = ?"))
                .bind(rating)
                .bind(comment)
                .bind(now)
                .bind(message_id)
                .bind(user_id)
                .execute(self.pool())
                .await?;
            if updated.rows_affected() > 0 {
                return Ok(());
            }
            let inserted = sqlx::query(sql!(self, "INSERT INTO message_feedback (message_id, user_id, rating, comment, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?)"))
                .bind(message_id)
                .bind(user_id)
                .bind(rating)
                .bind(comment)
                .bind(now)
                .bind(now)
                .execute(self.pool())
                .await;
            match inserted {
                Ok(_) => return Ok(()),
                Err(e) if is_unique_violation(&e) => continue, // a concurrent rating landed first
                Err(e) => return Err(e.into()),
            }
        }
        Ok(())
    }

    /// Every rating the user gave: (message id, rating, comment, when), oldest first.
    pub async fn feedback_by(&self, user_id: &str) -> DbResult<Vec<(String, i64, String, i64)>> {
        Ok(sqlx::query_as(sql!(
            self,
            "SELECT message_id, rating, comment, created_at FROM message_feedback WHERE user_id = ? ORDER BY created_at"
        ))
        .bind(user_id)
        .fetch_all(self.pool())
        .await?)
    }

    pub async fn feedback_of(&self, message_id: &str, user_id: &str) -> DbResult<Option<(i64, String)>> {
        Ok(sqlx::query_as(sql!(
            self,
            "SELECT rating, comment FROM message_feedback WHERE message_id = ? AND user_id = ?"
        ))
        .bind(message_id)
        .bind(user_id)
        .fetch_optional(self.pool())
        .await?)
    }
}
