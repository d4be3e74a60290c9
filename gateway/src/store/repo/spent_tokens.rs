//! Single-use proofs: a chat ticket exchanged for a sign-in is remembered (by issuer and `jti`) until
//! it expires, so the same ticket cannot sign anyone in twice.

use crate::domain::now_ms;

use crate::sql;
use crate::store::{Db, DbResult, is_unique_violation};

impl Db {
    /// Marks (issuer, jti) as used until `expires_at_ms`: true the first time, false for a replay.
    pub async fn spend_token(&self, issuer: &str, jti: &str, expires_at_ms: i64) -> DbResult<bool> {
        let inserted = sqlx::query(sql!(self, "INSERT INTO spent_tokens (issuer, jti, expires_at) VALUES (?, ?, ?)"))
            .bind(issuer)
            .bind(jti)
            .bind(expires_at_ms)
            .execute(self.pool())
            .await;
        match inserted {
            Ok(_) => Ok(true),
            Err(e) if is_unique_violation(&e) => Ok(false),
            Err(e) => Err(e.into()),
        }
    }

    /// Forgets proofs that have expired (they would be refused as expired anyway).
    pub async fn purge_spent_tokens(&self) -> DbResult<u64> {
        let done = sqlx::query(sql!(self, "DELETE FROM spent_tokens WHERE expires_at < ?"))
            .bind(now_ms())
            .execute(self.pool())
            .await?;
        Ok(done.rows_affected())
    }
}
