//! Messages. A user's message is written before any backend sees it, at most once per
//! (conversation, sender, client_id); an assistant reply is written when it completes, stops or fails.

use crate::config::DbKind;
use crate::domain::{CourseKey, new_id, now_ms};
use crate::domain::{Message, MessageRole, MessageStatus, NewMessage};
use crate::sql;
use crate::store::{Db, DbError, DbResult, Receipt, is_unique_violation};

/// The stored message, and whether this call stored it (false: it was already there).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stored {
    pub message: Message,
    pub created: bool,
}

macro_rules! message_columns {
    () => {
        "id, conversation_id, sender_id, client_id, role, sender_name, sender_role, content, status, reply_to, replaces, error_code, tokens, latency_ms, first_token_ms, sources, hidden_at, created_at, updated_at"
    };
}

/// One `?` per column of `message_columns!`.
macro_rules! message_placeholders {
    () => {
        "(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
    };
}

type MessageQuery<'q> = sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments>;

/// Binds a message's values in the order of `message_columns!`.
fn bind_message<'q>(query: MessageQuery<'q>, m: &'q Message) -> MessageQuery<'q> {
    query
        .bind(&m.id)
        .bind(&m.conversation_id)
        .bind(&m.sender_id)
        .bind(&m.client_id)
        .bind(m.role.as_str())
        .bind(&m.sender_name)
        .bind(&m.sender_role)
        .bind(&m.content)
        .bind(m.status.as_str())
        .bind(&m.reply_to)
        .bind(&m.replaces)
        .bind(&m.error_code)
        .bind(m.tokens)
        .bind(m.latency_ms)
        .bind(m.first_token_ms)
        .bind(&m.sources)
        .bind(m.hidden_at)
        .bind(m.created_at)
        .bind(m.updated_at)
}

/// How precisely a conversation's `updated_at` follows its newest message.
pub const TOUCH_RESOLUTION_MS: i64 = 1_000;

/// The most a history page returns.
pub const MAX_HISTORY_PAGE: i64 = 200;

impl NewMessage<'_> {
    /// The row this message becomes: its id drawn now unless one was chosen, its times set when written.
    pub(crate) fn to_row(&self) -> Message {
        Message {
            id: self.id.map_or_else(new_id, str::to_owned),
            conversation_id: self.conversation_id.to_owned(),
            sender_id: self.sender_id.map(str::to_owned),
            client_id: self.client_id.map(str::to_owned),
            role: self.role,
            sender_name: self.sender_name.to_owned(),
            sender_role: self.sender_role.to_owned(),
            content: self.content.to_owned(),
            status: self.status,
            reply_to: self.reply_to.map(str::to_owned),
            replaces: self.replaces.map(str::to_owned),
            error_code: self.error_code.map(str::to_owned),
            tokens: self.tokens,
            latency_ms: self.latency_ms,
            first_token_ms: self.first_token_ms,
            sources: self.sources.map(str::to_owned),
            hidden_at: None,
            created_at: 0,
            updated_at: 0,
        }
    }
}

impl Db {
    /// Stores a message once: a resend with the same client_id returns the first copy.
    ///
    /// Messages from every caller are queued to one writer that commits them in batches (see
    /// `db::writer`): under load one transaction carries many messages instead of each waiting its
    /// turn for the database's write lock.
    pub async fn insert_message(&self, new: &NewMessage<'_>) -> DbResult<Stored> {
        self.queue_message(new).await?.await
    }

    /// Queues a message for storage and returns its receipt, so that a sender can go on (and queue
    /// more, kept in order) while it is written. Once queued it is stored, receipt awaited or not.
    pub async fn queue_message(&self, new: &NewMessage<'_>) -> DbResult<Receipt> {
        let row = new.to_row();
        match &self.writer {
            Some(writer) => writer.queue(row).await,
            None => {
                let stored = self.insert_message_now(row).await;
                Ok(Box::pin(std::future::ready(stored)))
            }
        }
    }

    /// Stores one message in its own statements, without the queue.
    pub(crate) async fn insert_message_now(&self, mut row: Message) -> DbResult<Stored> {
        let now = now_ms();
        row.created_at = now;
        row.updated_at = now;
        let mut conn = self.pool().acquire().await?;
        match self.insert_row(&mut conn, &row).await? {
            None => {
                self.touch_conversations(&mut conn, std::iter::once(row.conversation_id.as_str()), now).await?;
                self.metrics().messages_stored.inc();
                Ok(Stored { message: row, created: true })
            }
            Some(first) => Ok(Stored { message: first, created: false }),
        }
    }

    /// Stores messages in one transaction, in order, each at most once per (conversation, sender,
    /// client_id): one `Stored` per message, the rows taken out of `rows`. Any other failure writes none
    /// of them and leaves `rows` as they were, for the caller to retry.
    pub(crate) async fn insert_message_batch(&self, rows: &mut Vec<Message>) -> DbResult<Vec<Stored>> {
        let now = now_ms();
        for row in rows.iter_mut() {
            row.created_at = now;
            row.updated_at = now;
        }
        if rows.len() > 1 {
            // The common case, new messages only: one statement for all of them.
            let mut tx = self.pool().begin().await?;
            match self.insert_rows(&mut tx, rows).await {
                Ok(()) => {
                    self.touch_conversations(&mut tx, rows.iter().map(|r| r.conversation_id.as_str()), now).await?;
                    tx.commit().await?;
                    return Ok(rows.drain(..).map(|message| Stored { message, created: true }).collect());
                }
                // A resend among them: the statement wrote nothing; they are sorted out one by one.
                Err(e) if is_unique_violation(&e) => tx.rollback().await?,
                Err(e) => return Err(e.into()),
            }
        }
        let mut tx = self.pool().begin().await?;
        let mut firsts = Vec::with_capacity(rows.len());
        for row in rows.iter() {
            firsts.push(self.insert_row(&mut tx, row).await?);
        }
        let created = rows.iter().zip(&firsts).filter(|(_, first)| first.is_none());
        self.touch_conversations(&mut tx, created.map(|(row, _)| row.conversation_id.as_str()), now).await?;
        tx.commit().await?;
        let stored = rows.drain(..).zip(firsts).map(|(row, first)| match first {
            None => Stored { message: row, created: true },
            Some(first) => Stored { message: first, created: false },
        });
        Ok(stored.collect())
    }

    /// One multi-row INSERT; fails as a whole (a unique violation included).
    async fn insert_rows(&self, conn: &mut sqlx::AnyConnection, rows: &[Message]) -> Result<(), sqlx::Error> {
        let mut statement = String::with_capacity(80 + rows.len() * 48);
        statement.push_str(concat!("INSERT INTO messages (", message_columns!(), ") VALUES "));
        for i in 0..rows.len() {
            statement.push_str(if i == 0 { "" } else { ", " });
            statement.push_str(message_placeholders!());
        }
        let mut query = sqlx::query(sqlx::AssertSqlSafe(self.sql_dynamic(statement)));
        for m in rows {
            query = bind_message(query, m);
        }
        query.execute(&mut *conn).await?;
        Ok(())
    }

    /// Inserts the row (None), or finds the first copy already stored under its client_id.
    async fn insert_row(&self, conn: &mut sqlx::AnyConnection, message: &Message) -> DbResult<Option<Message>> {
        // PostgreSQL aborts a transaction on any failed statement, so a duplicate client_id must not
        // fail there; SQLite agrees. MySQL has no conflict target (and INSERT IGNORE would hide other
        // errors), so there the duplicate fails only its own statement and is looked up below.
        let statement = match self.kind() {
            DbKind::MySql => {
                concat!("INSERT INTO messages (", message_columns!(), ") VALUES ", message_placeholders!())
            }
            DbKind::Sqlite | DbKind::Postgres => concat!(
                "INSERT INTO messages (",
                message_columns!(),
                ") VALUES ",
                message_placeholders!(),
                " ",
                "ON CONFLICT (conversation_id, sender_id, client_id) DO NOTHING"
            ),
        };
        let result = bind_message(sqlx::query(sql!(self, statement)), message).execute(&mut *conn).await;
        match result {
            // Everything stored is known here: no need to read the row back.
            Ok(done) if done.rows_affected() > 0 => return Ok(None),
            Ok(_) => {}
            Err(e) if is_unique_violation(&e) && message.client_id.is_some() => {}
            Err(e) => return Err(e.into()),
        }
        // A resend: the first copy is the answer.
        let query = sql!(
            self,
            concat!(
                "SELECT ",
                message_columns!(),
                " FROM messages WHERE conversation_id = ? AND sender_id = ? AND client_id = ?"
            )
        );
        let existing: Option<Message> = sqlx::query_as(query)
            .bind(&message.conversation_id)
            .bind(&message.sender_id)
            .bind(&message.client_id)
            .fetch_optional(&mut *conn)
            .await?;
        // Not found: the conflict was on the id itself, which no resend explains.
        existing.map(Some).ok_or(DbError::Conflict("message id"))
    }

    /// Marks the conversations as updated at `now`, unless they were within [`TOUCH_RESOLUTION_MS`]:
    /// a busy room would otherwise rewrite its row with every batch, and concurrent batches would
    /// queue on that row's lock. Locked in a fixed order (sorted ids), so two batches cannot deadlock.
    async fn touch_conversations<'i>(
        &self,
        conn: &mut sqlx::AnyConnection,
        ids: impl Iterator<Item = &'i str>,
        now: i64,
    ) -> DbResult<()> {
        let mut distinct: Vec<&str> = ids.collect();
        distinct.sort_unstable();
        distinct.dedup();
        if distinct.is_empty() {
            return Ok(());
        }
        let marks = vec!["?"; distinct.len()].join(", ");
        let statement = format!("UPDATE conversations SET updated_at = ? WHERE id IN ({marks}) AND updated_at < ?");
        let mut query = sqlx::query(sqlx::AssertSqlSafe(self.sql_dynamic(statement))).bind(now);
        for id in distinct {
            query = query.bind(id);
        }
        query.bind(now - TOUCH_RESOLUTION_MS).execute(&mut *conn).await?;
        Ok(())
    }

    pub async fn get_message(&self, id: &str) -> DbResult<Message> {
        let query = sql!(self, concat!("SELECT ", message_columns!(), " FROM messages WHERE id = ?"));
        Ok(sqlx::query_as(query).bind(id).fetch_one(self.pool()).await?)
    }

    /// Keeps an assistant reply's ids at its backend (Flowise's chatId and chatMessageId).
    pub async fn set_backend_reference(&self, id: &str, request_id: &str, reference: &str) -> DbResult<()> {
        sqlx::query(sql!(self, "UPDATE messages SET backend_chat_id = ?, backend_message_id = ? WHERE id = ?"))
            .bind(request_id)
            .bind(reference)
            .bind(id)
            .execute(self.pool())
            .await?;
        Ok(())
    }

    /// A reply's ids at its backend, (chatId, chatMessageId), when it has them.
    pub async fn backend_reference(&self, id: &str) -> DbResult<Option<(String, String)>> {
        let row: Option<(Option<String>, Option<String>)> =
            sqlx::query_as(sql!(self, "SELECT backend_chat_id, backend_message_id FROM messages WHERE id = ?"))
                .bind(id)
                .fetch_optional(self.pool())
                .await?;
        Ok(row.and_then(|(chat, message)| chat.zip(message)))
    }

    /// Every message of a conversation, oldest first (the learner's export).
    pub async fn all_messages(&self, conversation_id: &str) -> DbResult<Vec<Message>> {
        let query = sql!(
            self,
            concat!("SELECT ", message_columns!(), " FROM messages WHERE conversation_id = ? ORDER BY created_at, id")
        );
        Ok(sqlx::query_as(query).bind(conversation_id).fetch_all(self.pool()).await?)
    }

    /// What the user wrote in course rooms, oldest first (the learner's export).
    pub async fn room_messages_by(&self, user_id: &str) -> DbResult<Vec<Message>> {
        let query = sql!(
            self,
            concat!(
                "SELECT ",
                message_columns!(),
                " FROM messages WHERE sender_id = ? AND conversation_id IN ",
                "(SELECT id FROM conversations WHERE owner = 'room') ORDER BY created_at, id"
            )
        );
        Ok(sqlx::query_as(query).bind(user_id).fetch_all(self.pool()).await?)
    }

    /// The conversation's newest assistant reply, if any.
    pub async fn latest_reply(&self, conversation_id: &str) -> DbResult<Option<Message>> {
        let query = sql!(
            self,
            concat!(
                "SELECT ",
                message_columns!(),
                " FROM messages WHERE conversation_id = ? AND role = 'assistant' ORDER BY created_at DESC, id DESC LIMIT 1"
            )
        );
        Ok(sqlx::query_as(query).bind(conversation_id).fetch_optional(self.pool()).await?)
    }

    /// Up to `limit` messages before the message `before` (or the newest), oldest first.
    pub async fn history(&self, conversation_id: &str, before: Option<&str>, limit: i64) -> DbResult<Vec<Message>> {
        match before {
            None => self.history_page(conversation_id, None, limit).await,
            Some(before_id) => {
                let anchor = self.get_message(before_id).await?;
                if anchor.conversation_id != conversation_id {
                    return Err(DbError::NotFound);
                }
                self.history_page(conversation_id, Some(&anchor), limit).await
            }
        }
    }

    /// Up to `limit` messages of the anchor's conversation before it, oldest first: for a message
    /// in hand, without reading it back.
    pub async fn history_before(&self, anchor: &Message, limit: i64) -> DbResult<Vec<Message>> {
        self.history_page(&anchor.conversation_id, Some(anchor), limit).await
    }

    async fn history_page(
        &self,
        conversation_id: &str,
        before: Option<&Message>,
        limit: i64,
    ) -> DbResult<Vec<Message>> {
        let limit = limit.clamp(1, MAX_HISTORY_PAGE);
        let mut page: Vec<Message> = match before {
            None => {
                let query = sql!(
                    self,
                    concat!(
                        "SELECT ",
                        message_columns!(),
                        " FROM messages WHERE conversation_id = ? ORDER BY created_at DESC, id DESC LIMIT ?"
                    )
                );
                sqlx::query_as(query).bind(conversation_id).bind(limit).fetch_all(self.pool()).await?
            }
            Some(anchor) => {
                let query = sql!(
                    self,
                    concat!(
                        "SELECT ",
                        message_columns!(),
                        " FROM messages WHERE conversation_id = ? ",
                        "AND (created_at < ? OR (created_at = ? AND id < ?)) ORDER BY created_at DESC, id DESC LIMIT ?"
                    )
                );
                sqlx::query_as(query)
                    .bind(conversation_id)
                    .bind(anchor.created_at)
                    .bind(anchor.created_at)
                    .bind(&anchor.id)
                    .bind(limit)
                    .fetch_all(self.pool())
                    .await?
            }
        };
        page.reverse();
        Ok(page)
    }

    /// True when an assistant reply to this message is stored (in any status).
    pub async fn reply_exists(&self, message_id: &str) -> DbResult<bool> {
        let n: i64 = sqlx::query_scalar(sql!(self, "SELECT COUNT(*) FROM messages WHERE reply_to = ?"))
            .bind(message_id)
            .fetch_one(self.pool())
            .await?;
        Ok(n > 0)
    }

    pub async fn count_messages(&self, conversation_id: &str) -> DbResult<i64> {
        Ok(sqlx::query_scalar(sql!(self, "SELECT COUNT(*) FROM messages WHERE conversation_id = ?"))
            .bind(conversation_id)
            .fetch_one(self.pool())
            .await?)
    }

    /// Totals for the analytics summary, of every course or of one: messages, tokens, replies,
    /// failed replies, mean reply time.
    pub async fn message_totals(&self, course: Option<&CourseKey>) -> DbResult<MessageTotals> {
        // The course's messages are those of its conversations (rooms and assistant threads alike).
        let scope = if course.is_some() {
            " AND conversation_id IN (SELECT id FROM conversations WHERE platform = ? AND course_id = ?)"
        } else {
            ""
        };
        let scoped = |query| scoped(query, course);
        let count =
            |filter: &str| self.sql_dynamic(format!("SELECT COUNT(*) FROM messages WHERE 1 = 1{filter}{scope}"));
        let messages: i64 = scoped(sqlx::query_scalar(sqlx::AssertSqlSafe(count("")))).fetch_one(self.pool()).await?;
        let replies: i64 = scoped(
            sqlx::query_scalar(sqlx::AssertSqlSafe(count(" AND role = ?"))).bind(MessageRole::Assistant.as_str()),
        )
        .fetch_one(self.pool())
        .await?;
        let failed: i64 = scoped(
            sqlx::query_scalar(sqlx::AssertSqlSafe(count(" AND role = ? AND status = ?")))
                .bind(MessageRole::Assistant.as_str())
                .bind(MessageStatus::Failed.as_str()),
        )
        .fetch_one(self.pool())
        .await?;
        // SUM of a BIGINT is a DECIMAL in MySQL and a NUMERIC in PostgreSQL: cast back to an integer.
        let integer = if self.kind() == DbKind::MySql { "SIGNED" } else { "BIGINT" };
        let sums = self.sql_dynamic(format!(
            "SELECT CAST(SUM(tokens) AS {integer}), CAST(SUM(latency_ms) AS {integer}), COUNT(latency_ms) FROM messages WHERE 1 = 1{scope}"
        ));
        let mut query = sqlx::query_as::<_, (Option<i64>, Option<i64>, i64)>(sqlx::AssertSqlSafe(sums));
        if let Some(c) = course {
            query = query.bind(c.platform.clone()).bind(c.course_id.clone());
        }
        let (tokens, latency_sum, latency_n) = query.fetch_one(self.pool()).await?;
        let mean_latency_ms = match (latency_sum, latency_n) {
            (Some(sum), n) if n > 0 => Some(sum / n),
            _ => None,
        };
        Ok(MessageTotals { messages, replies, failed_replies: failed, tokens: tokens.unwrap_or(0), mean_latency_ms })
    }

    /// People who sent a message in the course since `since_ms`.
    pub async fn course_active_senders(&self, course: &CourseKey, since_ms: i64) -> DbResult<i64> {
        Ok(sqlx::query_scalar(sql!(
            self,
            "SELECT COUNT(DISTINCT sender_id) FROM messages WHERE created_at >= ? AND sender_id IS NOT NULL AND conversation_id IN (SELECT id FROM conversations WHERE platform = ? AND course_id = ?)"
        ))
        .bind(since_ms)
        .bind(&course.platform)
        .bind(&course.course_id)
        .fetch_one(self.pool())
        .await?)
    }
}

type MessageQueryScalar<'q> = sqlx::query::QueryScalar<'q, sqlx::Any, i64, sqlx::any::AnyArguments>;

/// Binds the course of a scoped count, when there is one.
fn scoped<'q>(query: MessageQueryScalar<'q>, course: Option<&CourseKey>) -> MessageQueryScalar<'q> {
    match course {
        Some(c) => query.bind(c.platform.clone()).bind(c.course_id.clone()),
        None => query,
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct MessageTotals {
    pub messages: i64,
    pub replies: i64,
    pub failed_replies: i64,
    pub tokens: i64,
    pub mean_latency_ms: Option<i64>,
}
