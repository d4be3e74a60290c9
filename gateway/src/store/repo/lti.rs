//! LTI 1.3 platforms the gateway trusts, their deployments, and the nonces of past launches.

use sqlx::FromRow;

use crate::domain::{new_id, now_ms};

use crate::sql;
use crate::store::{Db, DbError, DbResult, is_unique_violation};

#[derive(Debug, Clone, PartialEq, Eq, FromRow, serde::Serialize)]
pub struct LtiPlatform {
    pub id: String,
    pub issuer: String,
    pub client_id: String,
    pub name: String,
    pub auth_url: String,
    pub token_url: Option<String>,
    pub jwks_url: String,
    pub created_at: i64,
}

#[derive(Debug, Clone)]
pub struct NewLtiPlatform<'a> {
    pub issuer: &'a str,
    pub client_id: &'a str,
    pub name: &'a str,
    pub auth_url: &'a str,
    pub token_url: Option<&'a str>,
    pub jwks_url: &'a str,
}

macro_rules! platform_columns {
    () => {
        "id, issuer, client_id, name, auth_url, token_url, jwks_url, created_at"
    };
}

impl Db {
    /// Registers a platform (issuer + client id) with its first deployments.
    pub async fn insert_lti_platform(&self, p: &NewLtiPlatform<'_>, deployments: &[&str]) -> DbResult<LtiPlatform> {
        let id = new_id();
        let now = now_ms();
        let mut tx = self.pool().begin().await?;
        let inserted = sqlx::query(sql!(self, "INSERT INTO lti_platforms (id, issuer, client_id, name, auth_url, token_url, jwks_url, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)"))
            .bind(&id)
            .bind(p.issuer)
            .bind(p.client_id)
            .bind(p.name)
            .bind(p.auth_url)
            .bind(p.token_url)
            .bind(p.jwks_url)
            .bind(now)
            .execute(&mut *tx)
            .await;
        match inserted {
            Ok(_) => {}
            Err(e) if is_unique_violation(&e) => return Err(DbError::Conflict("platform_exists")),
            Err(e) => return Err(e.into()),
        }
        for deployment in deployments {
            sqlx::query(sql!(
                self,
                "INSERT INTO lti_deployments (platform_id, deployment_id, created_at) VALUES (?, ?, ?)"
            ))
            .bind(&id)
            .bind(*deployment)
            .bind(now)
            .execute(&mut *tx)
            .await
            .map_err(|e| if is_unique_violation(&e) { DbError::Conflict("deployment_exists") } else { e.into() })?;
        }
        tx.commit().await?;
        self.get_lti_platform(&id).await
    }

    pub async fn get_lti_platform(&self, id: &str) -> DbResult<LtiPlatform> {
        let query = sql!(self, concat!("SELECT ", platform_columns!(), " FROM lti_platforms WHERE id = ?"));
        Ok(sqlx::query_as(query).bind(id).fetch_one(self.pool()).await?)
    }

    /// The platform an LTI message names: by issuer, and client id when the platform sent one.
    pub async fn find_lti_platforms(&self, issuer: &str, client_id: Option<&str>) -> DbResult<Vec<LtiPlatform>> {
        match client_id {
            Some(client_id) => {
                let query = sql!(
                    self,
                    concat!("SELECT ", platform_columns!(), " FROM lti_platforms WHERE issuer = ? AND client_id = ?")
                );
                Ok(sqlx::query_as(query).bind(issuer).bind(client_id).fetch_all(self.pool()).await?)
            }
            None => {
                let query = sql!(
                    self,
                    concat!("SELECT ", platform_columns!(), " FROM lti_platforms WHERE issuer = ? ORDER BY created_at")
                );
                Ok(sqlx::query_as(query).bind(issuer).fetch_all(self.pool()).await?)
            }
        }
    }

    pub async fn list_lti_platforms(&self) -> DbResult<Vec<LtiPlatform>> {
        let query = concat!("SELECT ", platform_columns!(), " FROM lti_platforms ORDER BY issuer, client_id");
        Ok(sqlx::query_as(query).fetch_all(self.pool()).await?)
    }

    pub async fn delete_lti_platform(&self, id: &str) -> DbResult<bool> {
        let done =
            sqlx::query(sql!(self, "DELETE FROM lti_platforms WHERE id = ?")).bind(id).execute(self.pool()).await?;
        Ok(done.rows_affected() == 1)
    }

    /// Adds a deployment; adding one that exists is not an error.
    pub async fn add_lti_deployment(&self, platform_id: &str, deployment_id: &str) -> DbResult<()> {
        let result = sqlx::query(sql!(
            self,
            "INSERT INTO lti_deployments (platform_id, deployment_id, created_at) VALUES (?, ?, ?)"
        ))
        .bind(platform_id)
        .bind(deployment_id)
        .bind(now_ms())
        .execute(self.pool())
        .await;
        match result {
            Ok(_) => Ok(()),
            Err(e) if is_unique_violation(&e) => Ok(()),
            Err(e) => Err(e.into()),
        }
    }

    pub async fn lti_deployments(&self, platform_id: &str) -> DbResult<Vec<String>> {
        Ok(sqlx::query_scalar(sql!(
            self,
            "SELECT deployment_id FROM lti_deployments WHERE platform_id = ? ORDER BY deployment_id"
        ))
        .bind(platform_id)
        .fetch_all(self.pool())
        .await?)
    }

    pub async fn has_lti_deployment(&self, platform_id: &str, deployment_id: &str) -> DbResult<bool> {
        let n: i64 = sqlx::query_scalar(sql!(
            self,
            "SELECT COUNT(*) FROM lti_deployments WHERE platform_id = ? AND deployment_id = ?"
        ))
        .bind(platform_id)
        .bind(deployment_id)
        .fetch_one(self.pool())
        .await?;
        Ok(n > 0)
    }

    /// Records a launch nonce; false when it was seen before (a replay). Kept until `expires_at`.
    pub async fn record_lti_nonce(&self, platform_id: &str, nonce: &str, expires_at: i64) -> DbResult<bool> {
        let result =
            sqlx::query(sql!(self, "INSERT INTO lti_nonces (platform_id, nonce, expires_at) VALUES (?, ?, ?)"))
                .bind(platform_id)
                .bind(nonce)
                .bind(expires_at)
                .execute(self.pool())
                .await;
        match result {
            Ok(_) => Ok(true),
            Err(e) if is_unique_violation(&e) => Ok(false),
            Err(e) => Err(e.into()),
        }
    }

    pub async fn purge_expired_lti_nonces(&self, now: i64) -> DbResult<u64> {
        let done = sqlx::query(sql!(self, "DELETE FROM lti_nonces WHERE expires_at <= ?"))
            .bind(now)
            .execute(self.pool())
            .await?;
        Ok(done.rows_affected())
    }
}
