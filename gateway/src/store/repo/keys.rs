//! The gateway's signing keys. The newest unretired key signs; every key not yet expired is
//! published in the JWKS, so tokens signed before a rotation keep verifying until they expire.

use sqlx::FromRow;

use crate::sql;
use crate::store::{Db, DbResult};

#[derive(Clone, PartialEq, Eq, FromRow)]
pub struct SigningKeyRow {
    pub kid: String,
    pub algorithm: String,
    /// PKCS#8 PEM, sealed under `SECRET_KEY` as stored (`crypto::sealed`).
    pub private_key: String,
    /// The public half as a JWK (JSON).
    pub public_jwk: String,
    pub created_at: i64,
    pub retired_at: Option<i64>,
    pub expires_at: Option<i64>,
}

impl std::fmt::Debug for SigningKeyRow {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SigningKeyRow")
            .field("kid", &self.kid)
            .field("algorithm", &self.algorithm)
            .field("private_key", &"[REDACTED]")
            .field("created_at", &self.created_at)
            .field("retired_at", &self.retired_at)
            .field("expires_at", &self.expires_at)
            .finish()
    }
}

macro_rules! key_columns {
    () => {
        "kid, algorithm, private_key, public_jwk, created_at, retired_at, expires_at"
    };
}

impl Db {
    /// Adds a key; every older key stops signing at `now` and stops being published at `old_expire_at`.
    pub async fn rotate_in_signing_key(&self, key: &SigningKeyRow, old_expire_at: i64) -> DbResult<()> {
        let mut tx = self.pool().begin().await?;
        sqlx::query(sql!(self, "UPDATE signing_keys SET retired_at = ?, expires_at = ? WHERE retired_at IS NULL"))
            .bind(key.created_at)
            .bind(old_expire_at)
            .execute(&mut *tx)
            .await?;
        self.insert_signing_key(&mut tx, key).await?;
        tx.commit().await?;
        Ok(())
    }

    /// Adds a signing key beside any others, retiring none: for the first key, which replicas
    /// starting together on an empty database may each create. Both then stay published (and the
    /// newest signs), where a rotation would have cut the other replica's tokens off at once.
    pub async fn add_signing_key(&self, key: &SigningKeyRow) -> DbResult<()> {
        let mut conn = self.pool().acquire().await?;
        self.insert_signing_key(&mut conn, key).await
    }

    async fn insert_signing_key(&self, conn: &mut sqlx::AnyConnection, key: &SigningKeyRow) -> DbResult<()> {
        sqlx::query(sql!(self, "INSERT INTO signing_keys (kid, algorithm, private_key, public_jwk, created_at, retired_at, expires_at) VALUES (?, ?, ?, ?, ?, NULL, NULL)"))
            .bind(&key.kid)
            .bind(&key.algorithm)
            .bind(&key.private_key)
            .bind(&key.public_jwk)
            .bind(key.created_at)
            .execute(&mut *conn)
            .await?;
        Ok(())
    }

    /// The key that signs new tokens.
    pub async fn active_signing_key(&self) -> DbResult<Option<SigningKeyRow>> {
        let query = sql!(
            self,
            concat!(
                "SELECT ",
                key_columns!(),
                " FROM signing_keys WHERE retired_at IS NULL ORDER BY created_at DESC, kid DESC LIMIT 1"
            )
        );
        Ok(sqlx::query_as(query).fetch_optional(self.pool()).await?)
    }

    /// Every stored key, published or not (for re-sealing).
    pub async fn all_signing_keys(&self) -> DbResult<Vec<SigningKeyRow>> {
        let query = sql!(self, concat!("SELECT ", key_columns!(), " FROM signing_keys ORDER BY created_at, kid"));
        Ok(sqlx::query_as(query).fetch_all(self.pool()).await?)
    }

    /// Replaces a key's stored private half, if it is still `expected` (two replicas sealing the
    /// same legacy key at once write one of the two equivalent seals).
    pub async fn replace_signing_private_key(&self, kid: &str, expected: &str, private_key: &str) -> DbResult<bool> {
        let done = sqlx::query(sql!(self, "UPDATE signing_keys SET private_key = ? WHERE kid = ? AND private_key = ?"))
            .bind(private_key)
            .bind(kid)
            .bind(expected)
            .execute(self.pool())
            .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Keys whose tokens may still be alive at `now`: the published JWKS.
    pub async fn published_signing_keys(&self, now: i64) -> DbResult<Vec<SigningKeyRow>> {
        let query = sql!(
            self,
            concat!(
                "SELECT ",
                key_columns!(),
                " FROM signing_keys WHERE expires_at IS NULL OR expires_at > ? ORDER BY created_at DESC, kid DESC"
            )
        );
        Ok(sqlx::query_as(query).bind(now).fetch_all(self.pool()).await?)
    }
}
