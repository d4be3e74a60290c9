//! Retention: messages, feedback and empty conversations older than a cut-off are deleted in small
//! batches, each its own short transaction, so a busy table is never locked for long; and a lease
//! so that only one replica runs a named job at a time.

use crate::domain::now_ms;
use crate::sql;
use crate::store::{Db, DbResult, is_unique_violation, placeholders};

/// What one retention run deleted.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Purged {
    pub messages: u64,
    pub feedback: u64,
    pub conversations: u64,
}

impl Db {
    /// Takes (or renews) the lease `name` for `holder` until `ttl_ms` from now: true when `holder`
    /// has it, false while another holder's lease runs.
    pub async fn try_lease(&self, name: &str, holder: &str, ttl_ms: i64) -> DbResult<bool> {
        let now = now_ms();
        // Update first, then insert: portable across the three dialects' different upsert syntax.
        let taken = sqlx::query(sql!(
            self,
            "UPDATE leases SET holder = ?, expires_at = ? WHERE name = ? AND (holder = ? OR expires_at < ?)"
        ))
        .bind(holder)
        .bind(now + ttl_ms)
        .bind(name)
        .bind(holder)
        .bind(now)
        .execute(self.pool())
        .await?;
        if taken.rows_affected() > 0 {
            return Ok(true);
        }
        let inserted = sqlx::query(sql!(self, "INSERT INTO leases (name, holder, expires_at) VALUES (?, ?, ?)"))
            .bind(name)
            .bind(holder)
            .bind(now + ttl_ms)
            .execute(self.pool())
            .await;
        match inserted {
            Ok(_) => Ok(true),
            // The lease exists and is another's, unexpired.
            Err(e) if is_unique_violation(&e) => Ok(false),
            Err(e) => Err(e.into()),
        }
    }

    /// Deletes what is older than `cutoff_ms`: messages (with any feedback on them), feedback, and
    /// conversations left without a message; `batch` rows per transaction.
    pub async fn purge_older_than(&self, cutoff_ms: i64, batch: u32) -> DbResult<Purged> {
        let batch = i64::from(batch.max(1));
        let mut purged = Purged::default();
        loop {
            let ids: Vec<String> =
                sqlx::query_scalar(sql!(self, "SELECT id FROM messages WHERE created_at < ? LIMIT ?"))
                    .bind(cutoff_ms)
                    .bind(batch)
                    .fetch_all(self.pool())
                    .await?;
            if ids.is_empty() {
                break;
            }
            let list = placeholders(ids.len());
            let mut tx = self.pool().begin().await?;
            let feedback = self.listed(format!("DELETE FROM message_feedback WHERE message_id IN ({list})"), &ids);
            purged.feedback += feedback.execute(&mut *tx).await?.rows_affected();
            let messages = self.listed(format!("DELETE FROM messages WHERE id IN ({list})"), &ids);
            purged.messages += messages.execute(&mut *tx).await?.rows_affected();
            tx.commit().await?;
            if i64::try_from(ids.len()).unwrap_or(i64::MAX) < batch {
                break;
            }
        }
        // Ratings given long ago on messages still kept (a message is older than its ratings, so
        // these are few): their age is theirs.
        purged.feedback += sqlx::query(sql!(self, "DELETE FROM message_feedback WHERE created_at < ?"))
            .bind(cutoff_ms)
            .execute(self.pool())
            .await?
            .rows_affected();
        loop {
            let ids: Vec<String> = sqlx::query_scalar(sql!(
                self,
                "SELECT id FROM conversations c WHERE c.updated_at < ? \
                 AND NOT EXISTS (SELECT 1 FROM messages m WHERE m.conversation_id = c.id) LIMIT ?"
            ))
            .bind(cutoff_ms)
            .bind(batch)
            .fetch_all(self.pool())
            .await?;
            if ids.is_empty() {
                break;
            }
            // Checked again as it is deleted: a learner who came back meanwhile has touched it (a new
            // message moves `updated_at`), and their conversation stays.
            let statement = format!(
                "DELETE FROM conversations WHERE id IN ({}) AND updated_at < ? \
                 AND NOT EXISTS (SELECT 1 FROM messages m WHERE m.conversation_id = conversations.id)",
                placeholders(ids.len())
            );
            let query = self.listed(statement, &ids).bind(cutoff_ms);
            purged.conversations += query.execute(self.pool()).await?.rows_affected();
            if i64::try_from(ids.len()).unwrap_or(i64::MAX) < batch {
                break;
            }
        }
        Ok(purged)
    }

    /// `statement`, built at run time with an `IN (…)` list, with `ids` bound in order.
    fn listed<'q>(
        &self,
        statement: String,
        ids: &'q [String],
    ) -> sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments> {
        ids.iter().fold(sqlx::query(sqlx::AssertSqlSafe(self.sql_dynamic(statement))), |query, id| query.bind(id))
    }
}
