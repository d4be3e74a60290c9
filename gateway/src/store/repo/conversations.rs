//! Conversations: a user's thread with the assistant in one context, or a course room shared by
//! everyone in that context.

use crate::domain::{new_id, now_ms};

use crate::domain::{ChatContext, Conversation, Owner, ROOM_OWNER};
use crate::sql;
use crate::store::{Db, DbError, DbResult, is_unique_violation};

macro_rules! conversation_columns {
    () => {
        "id, owner, user_id, platform, course_id, block_id, title, created_at, updated_at"
    };
}

impl Db {
    /// The conversation of this owner in this context, created on first use. Reconnecting resumes it.
    pub async fn conversation_for(&self, owner: Owner<'_>, context: &ChatContext) -> DbResult<Conversation> {
        let (owner_key, user_id) = match owner {
            Owner::User(id) => (id, Some(id)),
            Owner::Room => (ROOM_OWNER, None),
        };
        let key = context.key();
        if let Some(found) = self.find_conversation(owner_key, &key).await? {
            return Ok(found);
        }
        let now = now_ms();
        let inserted = sqlx::query(sql!(self, "INSERT INTO conversations (id, owner, user_id, context_key, platform, course_id, block_id, title, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, '', ?, ?)"))
            .bind(new_id())
            .bind(owner_key)
            .bind(user_id)
            .bind(&key)
            .bind(&context.platform)
            .bind(&context.course_id)
            .bind(&context.block_id)
            .bind(now)
            .bind(now)
            .execute(self.pool())
            .await;
        match inserted {
            Ok(_) => {}
            // Created concurrently (a second tab, another replica): the row exists now.
            Err(e) if is_unique_violation(&e) => {}
            Err(e) => return Err(e.into()),
        }
        self.find_conversation(owner_key, &key).await?.ok_or(DbError::NotFound)
    }

    async fn find_conversation(&self, owner_key: &str, context_key: &str) -> DbResult<Option<Conversation>> {
        let query = sql!(
            self,
            concat!("SELECT ", conversation_columns!(), " FROM conversations WHERE owner = ? AND context_key = ?")
        );
        Ok(sqlx::query_as(query).bind(owner_key).bind(context_key).fetch_optional(self.pool()).await?)
    }

    pub async fn get_conversation(&self, id: &str) -> DbResult<Conversation> {
        let query = sql!(self, concat!("SELECT ", conversation_columns!(), " FROM conversations WHERE id = ?"));
        Ok(sqlx::query_as(query).bind(id).fetch_one(self.pool()).await?)
    }

    /// A user's own conversations, most recently active first.
    pub async fn list_conversations(&self, user_id: &str, limit: i64) -> DbResult<Vec<Conversation>> {
        let query = sql!(
            self,
            concat!(
                "SELECT ",
                conversation_columns!(),
                " FROM conversations WHERE user_id = ? ORDER BY updated_at DESC, id DESC LIMIT ?"
            )
        );
        Ok(sqlx::query_as(query).bind(user_id).bind(limit).fetch_all(self.pool()).await?)
    }

    /// Deletes a conversation and its messages, only if it belongs to this user.
    pub async fn delete_conversation(&self, id: &str, user_id: &str) -> DbResult<bool> {
        let done = sqlx::query(sql!(self, "DELETE FROM conversations WHERE id = ? AND user_id = ?"))
            .bind(id)
            .bind(user_id)
            .execute(self.pool())
            .await?;
        Ok(done.rows_affected() == 1)
    }

    pub async fn count_conversations(&self) -> DbResult<i64> {
        Ok(sqlx::query_scalar("SELECT COUNT(*) FROM conversations").fetch_one(self.pool()).await?)
    }

    pub async fn count_course_conversations(&self, course: &crate::domain::CourseKey) -> DbResult<i64> {
        Ok(sqlx::query_scalar(sql!(self, "SELECT COUNT(*) FROM conversations WHERE platform = ? AND course_id = ?"))
            .bind(&course.platform)
            .bind(&course.course_id)
            .fetch_one(self.pool())
            .await?)
    }
}
