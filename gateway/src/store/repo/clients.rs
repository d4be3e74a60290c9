//! OAuth clients registered with the gateway as a provider.

use sqlx::FromRow;

use crate::crypto::constant_time_eq;
use crate::sql;
use crate::store::{Db, DbError, DbResult, is_unique_violation};

#[derive(Debug, Clone, PartialEq, Eq, FromRow)]
pub struct OAuthClientRow {
    pub client_id: String,
    pub name: String,
    /// Hash of the secret; None for public clients (PKCE only).
    pub secret_hash: Option<String>,
    /// JSON array of exact redirect URIs.
    pub redirect_uris: String,
    /// Space-separated grant types.
    pub grant_types: String,
    pub scopes: String,
    /// 1 for first-party clients, which skip consent.
    pub first_party: i64,
    pub created_at: i64,
}

/// What `ensure_client` did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ensured {
    Created,
    Updated,
    Unchanged,
}

impl Ensured {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Created => "created",
            Self::Updated => "updated",
            Self::Unchanged => "unchanged",
        }
    }
}

macro_rules! client_columns {
    () => {
        "client_id, name, secret_hash, redirect_uris, grant_types, scopes, first_party, created_at"
    };
}

impl Db {
    pub async fn insert_client(&self, c: &OAuthClientRow) -> DbResult<()> {
        let result = sqlx::query(sql!(self, "INSERT INTO oauth_clients (client_id, name, secret_hash, redirect_uris, grant_types, scopes, first_party, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)"))
            .bind(&c.client_id)
            .bind(&c.name)
            .bind(&c.secret_hash)
            .bind(&c.redirect_uris)
            .bind(&c.grant_types)
            .bind(&c.scopes)
            .bind(c.first_party)
            .bind(c.created_at)
            .execute(self.pool())
            .await;
        match result {
            Ok(_) => Ok(()),
            Err(e) if is_unique_violation(&e) => Err(DbError::Conflict("client_exists")),
            Err(e) => Err(e.into()),
        }
    }

    /// Creates the client, or brings the one with its id in line with `c` (all but `created_at`):
    /// running it again with the same registration changes nothing.
    pub async fn ensure_client(&self, c: &OAuthClientRow) -> DbResult<Ensured> {
        let Some(current) = self.get_client(&c.client_id).await? else {
            return match self.insert_client(c).await {
                Ok(()) => Ok(Ensured::Created),
                // Created meanwhile by another run: bring that one in line.
                Err(DbError::Conflict(_)) => Box::pin(self.ensure_client(c)).await,
                Err(e) => Err(e),
            };
        };
        let same_secret = match (&current.secret_hash, &c.secret_hash) {
            (Some(a), Some(b)) => constant_time_eq(a, b),
            (a, b) => a.is_none() && b.is_none(),
        };
        if same_secret
            && current.name == c.name
            && current.redirect_uris == c.redirect_uris
            && current.grant_types == c.grant_types
            && current.scopes == c.scopes
            && current.first_party == c.first_party
        {
            return Ok(Ensured::Unchanged);
        }
        sqlx::query(sql!(self, "UPDATE oauth_clients SET name = ?, secret_hash = ?, redirect_uris = ?, grant_types = ?, scopes = ?, first_party = ? WHERE client_id = ?"))
            .bind(&c.name)
            .bind(&c.secret_hash)
            .bind(&c.redirect_uris)
            .bind(&c.grant_types)
            .bind(&c.scopes)
            .bind(c.first_party)
            .bind(&c.client_id)
            .execute(self.pool())
            .await?;
        Ok(Ensured::Updated)
    }

    pub async fn get_client(&self, client_id: &str) -> DbResult<Option<OAuthClientRow>> {
        let query = sql!(self, concat!("SELECT ", client_columns!(), " FROM oauth_clients WHERE client_id = ?"));
        Ok(sqlx::query_as(query).bind(client_id).fetch_optional(self.pool()).await?)
    }

    pub async fn list_clients(&self) -> DbResult<Vec<OAuthClientRow>> {
        let query = concat!("SELECT ", client_columns!(), " FROM oauth_clients ORDER BY client_id");
        Ok(sqlx::query_as(query).fetch_all(self.pool()).await?)
    }

    pub async fn delete_client(&self, client_id: &str) -> DbResult<bool> {
        let done = sqlx::query(sql!(self, "DELETE FROM oauth_clients WHERE client_id = ?"))
            .bind(client_id)
            .execute(self.pool())
            .await?;
        Ok(done.rows_affected() == 1)
    }
}
