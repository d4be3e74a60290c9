//! Refresh tokens, stored as hashes and rotated on every use, and the families they belong to: one
//! family per login, with the login's absolute end. Presenting a token that was already used means it
//! leaked: the family is revoked, and since every use checks the family, so is any successor issued
//! meanwhile.

use sqlx::FromRow;

use crate::domain::now_ms;

use crate::sql;
use crate::store::{Db, DbResult};

#[derive(Debug, Clone, PartialEq, Eq, FromRow)]
pub struct RefreshTokenRow {
    pub id: String,
    pub token_hash: String,
    pub family_id: String,
    pub user_id: String,
    pub client_id: String,
    pub scope: String,
    /// The context the tokens were issued for (JSON), carried across rotations.
    pub context: String,
    pub created_at: i64,
    pub expires_at: i64,
    pub used_at: Option<i64>,
    pub revoked_at: Option<i64>,
}

/// A login: the chain of refresh tokens from one sign-in.
#[derive(Debug, Clone, PartialEq, Eq, FromRow)]
pub struct RefreshFamily {
    pub id: String,
    pub user_id: String,
    pub client_id: String,
    /// The sign-in.
    pub created_at: i64,
    /// The login's absolute end: no token of the family outlives it.
    pub expires_at: i64,
    pub revoked_at: Option<i64>,
}

/// What presenting a refresh token found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RefreshUse {
    /// Valid: now marked used; issue its successor in the same family (which ends at
    /// `family_expires_at`).
    Fresh {
        row: RefreshTokenRow,
        family_expires_at: i64,
    },
    /// Already used or revoked: the family is revoked now.
    Reused {
        family_id: String,
    },
    Expired,
    Unknown,
}

macro_rules! refresh_columns {
    () => {
        "id, token_hash, family_id, user_id, client_id, scope, context, created_at, expires_at, used_at, revoked_at"
    };
}

impl Db {
    /// Starts a login that ends, whatever happens, at `expires_at`.
    pub async fn create_refresh_family(&self, family: &RefreshFamily) -> DbResult<()> {
        sqlx::query(sql!(self, "INSERT INTO refresh_families (id, user_id, client_id, created_at, expires_at, revoked_at) VALUES (?, ?, ?, ?, ?, NULL)"))
            .bind(&family.id)
            .bind(&family.user_id)
            .bind(&family.client_id)
            .bind(family.created_at)
            .bind(family.expires_at)
            .execute(self.pool())
            .await?;
        Ok(())
    }

    pub async fn get_refresh_family(&self, id: &str) -> DbResult<Option<RefreshFamily>> {
        Ok(sqlx::query_as(sql!(
            self,
            "SELECT id, user_id, client_id, created_at, expires_at, revoked_at FROM refresh_families WHERE id = ?"
        ))
        .bind(id)
        .fetch_optional(self.pool())
        .await?)
    }

    pub async fn insert_refresh_token(&self, row: &RefreshTokenRow) -> DbResult<()> {
        sqlx::query(sql!(self, "INSERT INTO refresh_tokens (id, token_hash, family_id, user_id, client_id, scope, context, created_at, expires_at, used_at, revoked_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, NULL, NULL)"))
            .bind(&row.id)
            .bind(&row.token_hash)
            .bind(&row.family_id)
            .bind(&row.user_id)
            .bind(&row.client_id)
            .bind(&row.scope)
            .bind(&row.context)
            .bind(row.created_at)
            .bind(row.expires_at)
            .execute(self.pool())
            .await?;
        Ok(())
    }

    /// Marks the token used, atomically: of two concurrent presentations only one is `Fresh`.
    pub async fn use_refresh_token(&self, token_hash: &str) -> DbResult<RefreshUse> {
        let now = now_ms();
        let claimed = sqlx::query(sql!(self, "UPDATE refresh_tokens SET used_at = ? WHERE token_hash = ? AND used_at IS NULL AND revoked_at IS NULL AND expires_at > ?"))
            .bind(now)
            .bind(token_hash)
            .bind(now)
            .execute(self.pool())
            .await?;
        let query = sql!(self, concat!("SELECT ", refresh_columns!(), " FROM refresh_tokens WHERE token_hash = ?"));
        let row: Option<RefreshTokenRow> = sqlx::query_as(query).bind(token_hash).fetch_optional(self.pool()).await?;
        let Some(row) = row else {
            return Ok(RefreshUse::Unknown);
        };
        if claimed.rows_affected() == 1 {
            // The family decides: revoked (a reuse seen elsewhere) or past its absolute end.
            return Ok(match self.get_refresh_family(&row.family_id).await? {
                Some(f) if f.revoked_at.is_some() => RefreshUse::Reused { family_id: row.family_id },
                Some(f) if f.expires_at <= now => RefreshUse::Expired,
                Some(f) => RefreshUse::Fresh { family_expires_at: f.expires_at, row },
                None => RefreshUse::Unknown,
            });
        }
        if row.used_at.is_some() || row.revoked_at.is_some() {
            self.revoke_refresh_family(&row.family_id).await?;
            return Ok(RefreshUse::Reused { family_id: row.family_id });
        }
        Ok(RefreshUse::Expired)
    }

    /// Revokes the login: the family first (every later use checks it), then its tokens.
    pub async fn revoke_refresh_family(&self, family_id: &str) -> DbResult<u64> {
        let now = now_ms();
        let family =
            sqlx::query(sql!(self, "UPDATE refresh_families SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL"))
                .bind(now)
                .bind(family_id)
                .execute(self.pool())
                .await?;
        sqlx::query(sql!(self, "UPDATE refresh_tokens SET revoked_at = ? WHERE family_id = ? AND revoked_at IS NULL"))
            .bind(now)
            .bind(family_id)
            .execute(self.pool())
            .await?;
        self.revoked();
        Ok(family.rows_affected())
    }

    /// Revokes by the token itself (RFC 7009): its family goes with it.
    pub async fn revoke_refresh_token(&self, token_hash: &str) -> DbResult<bool> {
        let family: Option<String> =
            sqlx::query_scalar(sql!(self, "SELECT family_id FROM refresh_tokens WHERE token_hash = ?"))
                .bind(token_hash)
                .fetch_optional(self.pool())
                .await?;
        match family {
            Some(family) => Ok(self.revoke_refresh_family(&family).await? > 0),
            None => Ok(false),
        }
    }

    /// True while the login is neither revoked nor past its absolute end.
    pub async fn refresh_family_alive(&self, family_id: &str) -> DbResult<bool> {
        let n: i64 = sqlx::query_scalar(sql!(
            self,
            "SELECT COUNT(*) FROM refresh_families WHERE id = ? AND revoked_at IS NULL AND expires_at > ?"
        ))
        .bind(family_id)
        .bind(now_ms())
        .fetch_one(self.pool())
        .await?;
        Ok(n > 0)
    }
}
