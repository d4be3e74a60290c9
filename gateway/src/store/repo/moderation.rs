//! Room moderation: messages course staff hid, learners muted in a course's rooms, each room's pinned
//! announcement, and the audit list of every action (who, what, when).

use sqlx::FromRow;

use crate::domain::{Conversation, CourseKey, Message, ROOM_OWNER, new_id, now_ms};
use crate::sql;
use crate::store::{Db, DbError, DbResult};

/// A room's pinned announcement.
#[derive(Debug, Clone, PartialEq, Eq, FromRow)]
pub struct Pin {
    pub content: String,
    pub author_name: String,
    pub created_at: i64,
}

/// What course staff did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ModerationAction {
    Hide,
    Restore,
    Mute,
    Unmute,
    Pin,
    Unpin,
}

impl ModerationAction {
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Hide => "hide",
            Self::Restore => "restore",
            Self::Mute => "mute",
            Self::Unmute => "unmute",
            Self::Pin => "pin",
            Self::Unpin => "unpin",
        }
    }
}

/// An action to record.
#[derive(Debug, Clone)]
pub struct NewModeration<'a> {
    pub course: &'a CourseKey,
    pub conversation_id: Option<&'a str>,
    pub actor_id: &'a str,
    pub actor_name: &'a str,
    pub action: ModerationAction,
    pub message_id: Option<&'a str>,
    pub target_user_id: Option<&'a str>,
    pub minutes: Option<i64>,
}

/// One line of the audit list, with the room's block.
#[derive(Debug, Clone, FromRow)]
pub struct ModerationEntry {
    pub actor_name: String,
    pub action: String,
    pub block_id: Option<String>,
    pub message_id: Option<String>,
    pub target_user_id: Option<String>,
    pub minutes: Option<i64>,
    pub created_at: i64,
}

/// A learner muted in a course's rooms.
#[derive(Debug, Clone, FromRow)]
pub struct Mute {
    pub user_id: String,
    pub until_ms: i64,
}

/// A message of one of a course's rooms, for the moderation list.
#[derive(Debug, Clone, FromRow)]
pub struct RoomMessage {
    pub id: String,
    pub conversation_id: String,
    pub block_id: String,
    pub sender_id: Option<String>,
    pub sender_name: String,
    pub sender_role: String,
    pub role: String,
    pub content: String,
    pub hidden_at: Option<i64>,
    pub created_at: i64,
}

/// A room of a course.
#[derive(Debug, Clone, FromRow)]
pub struct Room {
    pub id: String,
    pub block_id: String,
    pub title: String,
}

/// Writes an action into the audit list, in the transaction of the change it records.
async fn insert_audit(
    db: &Db,
    conn: &mut sqlx::AnyConnection,
    action: &NewModeration<'_>,
    now: i64,
) -> Result<(), sqlx::Error> {
    sqlx::query(sql!(
        db,
        "INSERT INTO moderation_actions (id, platform, course_id, conversation_id, actor_id, actor_name, action, message_id, target_user_id, minutes, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
    ))
    .bind(new_id())
    .bind(&action.course.platform)
    .bind(&action.course.course_id)
    .bind(action.conversation_id)
    .bind(action.actor_id)
    .bind(action.actor_name)
    .bind(action.action.as_str())
    .bind(action.message_id)
    .bind(action.target_user_id)
    .bind(action.minutes)
    .bind(now)
    .execute(conn)
    .await?;
    Ok(())
}

/// Each change below is written with its line of the audit list in one transaction: there is no
/// action without its record, nor a record of an action that did not happen.
impl Db {
    /// Hides (or shows again) a message, recorded as `audit`; the message as stored now, or None when
    /// it was so already (nothing changed, nothing recorded). Its text is never touched.
    pub async fn set_message_hidden(
        &self,
        id: &str,
        hidden: bool,
        audit: &NewModeration<'_>,
    ) -> DbResult<Option<Message>> {
        let now = now_ms();
        let mut tx = self.pool().begin().await?;
        let changed = if hidden {
            sqlx::query(sql!(
                self,
                "UPDATE messages SET hidden_at = ?, updated_at = ? WHERE id = ? AND hidden_at IS NULL"
            ))
            .bind(now)
            .bind(now)
        } else {
            sqlx::query(sql!(
                self,
                "UPDATE messages SET hidden_at = NULL, updated_at = ? WHERE id = ? AND hidden_at IS NOT NULL"
            ))
            .bind(now)
        }
        .bind(id)
        .execute(&mut *tx)
        .await?;
        if changed.rows_affected() == 0 {
            tx.rollback().await?;
            return Ok(None);
        }
        insert_audit(self, &mut tx, audit, now).await?;
        tx.commit().await?;
        Ok(Some(self.get_message(id).await?))
    }

    /// Mutes a user in a course's rooms until `until_ms` (a later mute replaces an earlier one),
    /// recorded as `audit`.
    pub async fn mute(
        &self,
        course: &CourseKey,
        user_id: &str,
        until_ms: i64,
        audit: &NewModeration<'_>,
    ) -> DbResult<()> {
        let now = now_ms();
        let mut tx = self.pool().begin().await?;
        sqlx::query(sql!(self, "DELETE FROM room_mutes WHERE platform = ? AND course_id = ? AND user_id = ?"))
            .bind(&course.platform)
            .bind(&course.course_id)
            .bind(user_id)
            .execute(&mut *tx)
            .await?;
        sqlx::query(sql!(
            self,
            "INSERT INTO room_mutes (platform, course_id, user_id, until_ms, created_at) VALUES (?, ?, ?, ?, ?)"
        ))
        .bind(&course.platform)
        .bind(&course.course_id)
        .bind(user_id)
        .bind(until_ms)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        insert_audit(self, &mut tx, audit, now).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Lifts a user's mute in a course, recorded as `audit`; whether there was one still running
    /// (none: nothing changed, nothing recorded).
    pub async fn unmute(&self, course: &CourseKey, user_id: &str, audit: &NewModeration<'_>) -> DbResult<bool> {
        let now = now_ms();
        let mut tx = self.pool().begin().await?;
        let done = sqlx::query(sql!(
            self,
            "DELETE FROM room_mutes WHERE platform = ? AND course_id = ? AND user_id = ? AND until_ms > ?"
        ))
        .bind(&course.platform)
        .bind(&course.course_id)
        .bind(user_id)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        if done.rows_affected() == 0 {
            tx.rollback().await?;
            return Ok(false);
        }
        insert_audit(self, &mut tx, audit, now).await?;
        tx.commit().await?;
        Ok(true)
    }

    /// Until when the user is muted in the course's rooms, if they are now.
    pub async fn muted_until(&self, course: &CourseKey, user_id: &str) -> DbResult<Option<i64>> {
        Ok(sqlx::query_scalar(sql!(
            self,
            "SELECT until_ms FROM room_mutes WHERE platform = ? AND course_id = ? AND user_id = ? AND until_ms > ?"
        ))
        .bind(&course.platform)
        .bind(&course.course_id)
        .bind(user_id)
        .bind(now_ms())
        .fetch_optional(self.pool())
        .await?)
    }

    /// The course's mutes still running, the longest first.
    pub async fn course_mutes(&self, course: &CourseKey) -> DbResult<Vec<Mute>> {
        Ok(sqlx::query_as(sql!(
            self,
            "SELECT user_id, until_ms FROM room_mutes WHERE platform = ? AND course_id = ? AND until_ms > ? ORDER BY until_ms DESC"
        ))
        .bind(&course.platform)
        .bind(&course.course_id)
        .bind(now_ms())
        .fetch_all(self.pool())
        .await?)
    }

    /// Pins a room's announcement, replacing the one before, recorded as `audit`.
    pub async fn set_pin(
        &self,
        conversation_id: &str,
        content: &str,
        author_name: &str,
        audit: &NewModeration<'_>,
    ) -> DbResult<Pin> {
        let pin = Pin { content: content.to_owned(), author_name: author_name.to_owned(), created_at: now_ms() };
        let mut tx = self.pool().begin().await?;
        sqlx::query(sql!(self, "DELETE FROM room_pins WHERE conversation_id = ?"))
            .bind(conversation_id)
            .execute(&mut *tx)
            .await?;
        sqlx::query(sql!(
            self,
            "INSERT INTO room_pins (conversation_id, content, author_name, created_at) VALUES (?, ?, ?, ?)"
        ))
        .bind(conversation_id)
        .bind(&pin.content)
        .bind(&pin.author_name)
        .bind(pin.created_at)
        .execute(&mut *tx)
        .await?;
        insert_audit(self, &mut tx, audit, pin.created_at).await?;
        tx.commit().await?;
        Ok(pin)
    }

    /// Unpins a room's announcement, recorded as `audit`; whether there was one (none: nothing
    /// changed, nothing recorded).
    pub async fn clear_pin(&self, conversation_id: &str, audit: &NewModeration<'_>) -> DbResult<bool> {
        let mut tx = self.pool().begin().await?;
        let done = sqlx::query(sql!(self, "DELETE FROM room_pins WHERE conversation_id = ?"))
            .bind(conversation_id)
            .execute(&mut *tx)
            .await?;
        if done.rows_affected() == 0 {
            tx.rollback().await?;
            return Ok(false);
        }
        insert_audit(self, &mut tx, audit, now_ms()).await?;
        tx.commit().await?;
        Ok(true)
    }

    /// A room's pinned announcement, if any.
    pub async fn pin(&self, conversation_id: &str) -> DbResult<Option<Pin>> {
        Ok(sqlx::query_as(sql!(
            self,
            "SELECT content, author_name, created_at FROM room_pins WHERE conversation_id = ?"
        ))
        .bind(conversation_id)
        .fetch_optional(self.pool())
        .await?)
    }

    /// The course's moderation, newest first.
    pub async fn moderation_log(&self, course: &CourseKey, limit: i64) -> DbResult<Vec<ModerationEntry>> {
        Ok(sqlx::query_as(sql!(
            self,
            "SELECT a.actor_name, a.action, c.block_id, a.message_id, a.target_user_id, a.minutes, a.created_at \
             FROM moderation_actions a LEFT JOIN conversations c ON c.id = a.conversation_id \
             WHERE a.platform = ? AND a.course_id = ? ORDER BY a.created_at DESC, a.id DESC LIMIT ?"
        ))
        .bind(&course.platform)
        .bind(&course.course_id)
        .bind(limit)
        .fetch_all(self.pool())
        .await?)
    }

    /// The course's rooms (optionally one block's), the most recently active first.
    pub async fn course_rooms(&self, course: &CourseKey) -> DbResult<Vec<Room>> {
        Ok(sqlx::query_as(sql!(
            self,
            "SELECT id, block_id, title FROM conversations WHERE owner = ? AND platform = ? AND course_id = ? ORDER BY updated_at DESC"
        ))
        .bind(ROOM_OWNER)
        .bind(&course.platform)
        .bind(&course.course_id)
        .fetch_all(self.pool())
        .await?)
    }

    /// The newest messages of the course's rooms (optionally one block's), newest first.
    pub async fn recent_room_messages(
        &self,
        course: &CourseKey,
        block: Option<&str>,
        limit: i64,
    ) -> DbResult<Vec<RoomMessage>> {
        let block_filter = if block.is_some() { " AND c.block_id = ?" } else { "" };
        let statement = self.sql_dynamic(format!(
            "SELECT m.id, m.conversation_id, c.block_id, m.sender_id, m.sender_name, m.sender_role, m.role, m.content, \
             m.hidden_at, m.created_at FROM messages m JOIN conversations c ON c.id = m.conversation_id \
             WHERE c.owner = ? AND c.platform = ? AND c.course_id = ?{block_filter} \
             ORDER BY m.created_at DESC, m.id DESC LIMIT ?"
        ));
        let query = sqlx::query_as(sqlx::AssertSqlSafe(statement))
            .bind(ROOM_OWNER)
            .bind(&course.platform)
            .bind(&course.course_id);
        let query = match block {
            Some(block) => query.bind(block),
            None => query,
        };
        Ok(query.bind(limit).fetch_all(self.pool()).await?)
    }

    /// One of the course's rooms, or `NotFound` (another course's, an assistant conversation, or none).
    pub async fn course_room(&self, course: &CourseKey, conversation_id: &str) -> DbResult<Conversation> {
        let conversation = self.get_conversation(conversation_id).await?;
        let here = conversation.is_room()
            && conversation.platform == course.platform
            && conversation.course_id == course.course_id;
        if here { Ok(conversation) } else { Err(DbError::NotFound) }
    }

    /// A message of one of the course's rooms, or `NotFound` (another course's, an assistant
    /// conversation's, or none).
    pub async fn course_room_message(&self, course: &CourseKey, id: &str) -> DbResult<Message> {
        let message = self.get_message(id).await?;
        self.course_room(course, &message.conversation_id).await?;
        Ok(message)
    }
}
