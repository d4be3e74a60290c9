//! What the course team's dashboard reads: a course's messages over a period (streamed, never all
//! in memory), and the ratings of its replies.

use futures_util::StreamExt;
use futures_util::stream::BoxStream;
use sqlx::FromRow;

use crate::domain::CourseKey;
use crate::store::{Db, DbError, DbResult};

/// A course (optionally one block of it) over `[from_ms, to_ms)`.
#[derive(Debug, Clone)]
pub struct InsightScope {
    pub course: CourseKey,
    pub from_ms: i64,
    pub to_ms: i64,
    pub block: Option<String>,
}

impl InsightScope {
    /// `FROM … WHERE …` over messages `m` of conversations `c` in the scope; bind with [`Self::bind`].
    fn filter(&self) -> String {
        let block = if self.block.is_some() { " AND c.block_id = ?" } else { "" };
        format!(
            "FROM messages m JOIN conversations c ON c.id = m.conversation_id \
             WHERE c.platform = ? AND c.course_id = ? AND m.created_at >= ? AND m.created_at < ?{block}"
        )
    }

    fn bind<'q, O>(
        &self,
        query: sqlx::query::QueryAs<'q, sqlx::Any, O, sqlx::any::AnyArguments>,
    ) -> sqlx::query::QueryAs<'q, sqlx::Any, O, sqlx::any::AnyArguments> {
        let query = query
            .bind(self.course.platform.clone())
            .bind(self.course.course_id.clone())
            .bind(self.from_ms)
            .bind(self.to_ms);
        match &self.block {
            Some(block) => query.bind(block.clone()),
            None => query,
        }
    }
}

/// One message of the course, with what the dashboard counts.
#[derive(Debug, Clone, FromRow)]
pub struct CourseMessageRow {
    pub id: String,
    pub conversation_id: String,
    pub block_id: String,
    /// Rooms or assistant threads.
    pub owner: String,
    pub sender_id: Option<String>,
    pub sender_name: String,
    pub sender_role: String,
    pub role: String,
    pub status: String,
    pub content: String,
    pub latency_ms: Option<i64>,
    pub first_token_ms: Option<i64>,
    pub tokens: Option<i64>,
    /// Course staff hid it (room messages).
    pub hidden_at: Option<i64>,
    pub created_at: i64,
}

/// A low rating, with the reply and the question it answered.
#[derive(Debug, Clone, FromRow)]
pub struct LowRating {
    pub rating: i64,
    pub comment: String,
    pub reply: String,
    pub question: Option<String>,
}

impl Db {
    /// The scope's messages, oldest first, as a stream.
    pub fn course_messages(&self, scope: &InsightScope) -> BoxStream<'static, DbResult<CourseMessageRow>> {
        let sql = format!(
            "SELECT m.id, m.conversation_id, c.block_id, c.owner, m.sender_id, m.sender_name, m.sender_role, m.role, \
             m.status, m.content, m.latency_ms, m.first_token_ms, m.tokens, m.hidden_at, m.created_at {} ORDER BY m.created_at, m.id",
            scope.filter()
        );
        let query = scope.bind(sqlx::query_as::<_, CourseMessageRow>(sqlx::AssertSqlSafe(self.sql_dynamic(sql))));
        async_stream_rows(self.pool().clone(), query)
    }

    /// How many replies of the scope got each rating (1–5; thumbs are 1 and 5).
    pub async fn course_ratings(&self, scope: &InsightScope) -> DbResult<Vec<(i64, i64)>> {
        let sql = format!(
            "SELECT f.rating, COUNT(*) FROM message_feedback f WHERE f.message_id IN (SELECT m.id {}) \
             GROUP BY f.rating ORDER BY f.rating",
            scope.filter()
        );
        let query = scope.bind(sqlx::query_as::<_, (i64, i64)>(sqlx::AssertSqlSafe(self.sql_dynamic(sql))));
        Ok(query.fetch_all(self.pool()).await?)
    }

    /// The scope's lowest-rated replies (2 or less), lowest and newest first.
    pub async fn lowest_rated(&self, scope: &InsightScope, limit: i64) -> DbResult<Vec<LowRating>> {
        let sql = format!(
            "SELECT f.rating, f.comment, r.content AS reply, q.content AS question FROM message_feedback f \
             JOIN messages r ON r.id = f.message_id LEFT JOIN messages q ON q.id = r.reply_to \
             WHERE f.rating <= 2 AND f.message_id IN (SELECT m.id {}) ORDER BY f.rating, f.created_at DESC LIMIT ?",
            scope.filter()
        );
        let query = scope.bind(sqlx::query_as::<_, LowRating>(sqlx::AssertSqlSafe(self.sql_dynamic(sql)))).bind(limit);
        Ok(query.fetch_all(self.pool()).await?)
    }
}

/// Rows read by a task of their own and handed over through a small bounded channel: the reader
/// waits while the consumer (an HTTP response) is slow, so memory holds a few rows, not the period.
fn async_stream_rows(
    pool: sqlx::AnyPool,
    query: sqlx::query::QueryAs<'static, sqlx::Any, CourseMessageRow, sqlx::any::AnyArguments>,
) -> BoxStream<'static, DbResult<CourseMessageRow>> {
    let (tx, rx) = tokio::sync::mpsc::channel::<DbResult<CourseMessageRow>>(64);
    tokio::spawn(async move {
        let mut rows = query.fetch(&pool);
        while let Some(row) = rows.next().await {
            let failed = row.is_err();
            if tx.send(row.map_err(DbError::from)).await.is_err() || failed {
                break; // the consumer is gone, or the read failed (the error was handed over)
            }
        }
    });
    futures_util::stream::unfold(rx, |mut rx| async move { rx.recv().await.map(|row| (row, rx)) }).boxed()
}
