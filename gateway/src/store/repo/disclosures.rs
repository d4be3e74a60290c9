//! AI disclosure acceptances: who accepted which version of the notice, when, and where it was shown.

use crate::domain::{ChatContext, now_ms};
use crate::sql;
use crate::store::{Db, DbResult, is_unique_violation};

impl Db {
    /// Records that the user accepted this version of the disclosure; accepting again changes nothing
    /// (the first acceptance is the record).
    pub async fn accept_disclosure(&self, user_id: &str, version: &str, shown_in: &ChatContext) -> DbResult<()> {
        let inserted = sqlx::query(sql!(
            self,
            "INSERT INTO disclosure_acceptances (user_id, version, platform, course_id, block_id, accepted_at) \
             VALUES (?, ?, ?, ?, ?, ?)"
        ))
        .bind(user_id)
        .bind(version)
        .bind(&shown_in.platform)
        .bind(&shown_in.course_id)
        .bind(&shown_in.block_id)
        .bind(now_ms())
        .execute(self.pool())
        .await;
        match inserted {
            Ok(_) => Ok(()),
            Err(e) if is_unique_violation(&e) => Ok(()),
            Err(e) => Err(e.into()),
        }
    }

    /// When the user accepted this version of the disclosure, if they did.
    pub async fn disclosure_accepted_at(&self, user_id: &str, version: &str) -> DbResult<Option<i64>> {
        Ok(sqlx::query_scalar(sql!(
            self,
            "SELECT accepted_at FROM disclosure_acceptances WHERE user_id = ? AND version = ?"
        ))
        .bind(user_id)
        .bind(version)
        .fetch_optional(self.pool())
        .await?)
    }
}
