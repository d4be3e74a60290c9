//! Server sessions: the rows behind the tower-sessions store. The same table keeps short-lived
//! one-time records (authorization codes, sign-in results) under prefixed ids: `take` reads and
//! deletes them at once, so each is used at most once even across replicas.

use crate::sql;
use crate::store::{Db, DbError, DbResult, is_unique_violation};

impl Db {
    /// Creates a session record; `Conflict` when the id is taken (the caller draws another id).
    pub async fn session_create(&self, id: &str, data: &str, expires_at: i64) -> DbResult<()> {
        let result = sqlx::query(sql!(self, "INSERT INTO sessions (id, data, expires_at) VALUES (?, ?, ?)"))
            .bind(id)
            .bind(data)
            .bind(expires_at)
            .execute(self.pool())
            .await;
        match result {
            Ok(_) => Ok(()),
            Err(e) if is_unique_violation(&e) => Err(DbError::Conflict("session_exists")),
            Err(e) => Err(e.into()),
        }
    }

    /// Writes a session record, creating it when absent.
    pub async fn session_save(&self, id: &str, data: &str, expires_at: i64) -> DbResult<()> {
        if self.session_update(id, data, expires_at).await? {
            return Ok(());
        }
        match self.session_create(id, data, expires_at).await {
            // Created concurrently between our update and insert: write over it.
            Err(DbError::Conflict(_)) => self.session_update(id, data, expires_at).await.map(|_| ()),
            other => other,
        }
    }

    /// True when the record existed and was updated.
    async fn session_update(&self, id: &str, data: &str, expires_at: i64) -> DbResult<bool> {
        let updated = sqlx::query(sql!(self, "UPDATE sessions SET data = ?, expires_at = ? WHERE id = ?"))
            .bind(data)
            .bind(expires_at)
            .bind(id)
            .execute(self.pool())
            .await?;
        Ok(updated.rows_affected() > 0)
    }

    /// The record, if it exists and has not expired at `now`.
    pub async fn session_load(&self, id: &str, now: i64) -> DbResult<Option<String>> {
        Ok(sqlx::query_scalar(sql!(self, "SELECT data FROM sessions WHERE id = ? AND expires_at > ?"))
            .bind(id)
            .bind(now)
            .fetch_optional(self.pool())
            .await?)
    }

    pub async fn session_delete(&self, id: &str) -> DbResult<()> {
        sqlx::query(sql!(self, "DELETE FROM sessions WHERE id = ?")).bind(id).execute(self.pool()).await?;
        Ok(())
    }

    pub async fn purge_expired_sessions(&self, now: i64) -> DbResult<u64> {
        let done = sqlx::query(sql!(self, "DELETE FROM sessions WHERE expires_at <= ?"))
            .bind(now)
            .execute(self.pool())
            .await?;
        Ok(done.rows_affected())
    }

    /// Reads and deletes a record in one go; None when absent, expired, or taken by someone else first.
    pub async fn session_take(&self, id: &str, now: i64) -> DbResult<Option<String>> {
        let Some(data) = self.session_load(id, now).await? else { return Ok(None) };
        let done = sqlx::query(sql!(self, "DELETE FROM sessions WHERE id = ?")).bind(id).execute(self.pool()).await?;
        Ok((done.rows_affected() == 1).then_some(data))
    }
}
