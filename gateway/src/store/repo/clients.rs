//! OAuth clients registered with the gateway as a provider.

use sqlx::FromRow;

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
