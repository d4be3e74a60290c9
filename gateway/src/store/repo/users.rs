//! Users and their identities: one user, many doors, each door an (issuer, subject).

use crate::domain::{new_id, now_ms};

use crate::domain::{IdentityClaims, LOCAL_ISSUER, Role, User};
use crate::sql;
use crate::store::{Db, DbError, DbResult, is_unique_violation};

/// How precisely `last_seen_at` is kept.
pub const LAST_SEEN_RESOLUTION_MS: i64 = 60_000;

/// A grant made with the CLI outranks what the doors report.
macro_rules! user_columns {
    () => {
        "u.id, u.username, u.name, u.email, COALESCE(u.role_granted, u.role) AS role, u.created_at, u.updated_at, u.last_seen_at"
    };
}

impl Db {
    /// Finds the user behind (issuer, subject), refreshing the profile the door reports, or creates
    /// both. Concurrent first logins of one person end with one user.
    pub async fn upsert_identity(&self, claims: &IdentityClaims) -> DbResult<User> {
        let now = now_ms();
        if let Some(user) = self.find_user_by_identity(&claims.issuer, &claims.subject).await? {
            return self.refresh_profile(&user.id, claims, now).await;
        }
        match self.insert_user_with_identity(claims, None, Some(now)).await? {
            Some(user_id) => self.get_user(&user_id).await,
            None => {
                // Another request created this identity first: use theirs.
                let user =
                    self.find_user_by_identity(&claims.issuer, &claims.subject).await?.ok_or(DbError::NotFound)?;
                self.refresh_profile(&user.id, claims, now).await
            }
        }
    }

    /// Creates a user and its identity in one transaction: the new user's id, or None (and nothing
    /// written) when the identity exists already. `login_at` marks a user who signs in right now.
    async fn insert_user_with_identity(
        &self,
        claims: &IdentityClaims,
        password_hash: Option<&str>,
        login_at: Option<i64>,
    ) -> DbResult<Option<String>> {
        let now = now_ms();
        let mut tx = self.pool().begin().await?;
        let user_id = new_id();
        sqlx::query(sql!(self, "INSERT INTO users (id, username, name, email, role, created_at, updated_at, last_seen_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)"))
            .bind(&user_id)
            .bind(&claims.username)
            .bind(&claims.name)
            .bind(&claims.email)
            .bind(claims.role.unwrap_or(Role::Learner).as_str())
            .bind(now)
            .bind(now)
            .bind(login_at)
            .execute(&mut *tx)
            .await?;
        let inserted = sqlx::query(sql!(self, "INSERT INTO identities (issuer, subject, user_id, password_hash, created_at, last_login_at) VALUES (?, ?, ?, ?, ?, ?)"))
            .bind(&claims.issuer)
            .bind(&claims.subject)
            .bind(&user_id)
            .bind(password_hash)
            .bind(now)
            .bind(login_at)
            .execute(&mut *tx)
            .await;
        match inserted {
            Ok(_) => {
                tx.commit().await?;
                Ok(Some(user_id))
            }
            Err(e) if is_unique_violation(&e) => {
                tx.rollback().await?;
                Ok(None)
            }
            Err(e) => Err(e.into()),
        }
    }

    /// Updates what the door reports. An empty name or email (a door that does not tell, such as a
    /// chat ticket) keeps the stored one; so does a door that says nothing of the global role.
    async fn refresh_profile(&self, user_id: &str, claims: &IdentityClaims, now: i64) -> DbResult<User> {
        sqlx::query(sql!(self, "UPDATE users SET username = ?, name = CASE WHEN ? = '' THEN name ELSE ? END, email = CASE WHEN ? = '' THEN email ELSE ? END, role = COALESCE(?, role), updated_at = ?, last_seen_at = ? WHERE id = ?"))
            .bind(&claims.username)
            .bind(&claims.name)
            .bind(&claims.name)
            .bind(&claims.email)
            .bind(&claims.email)
            .bind(claims.role.map(Role::as_str))
            .bind(now)
            .bind(now)
            .bind(user_id)
            .execute(self.pool())
            .await?;
        sqlx::query(sql!(self, "UPDATE identities SET last_login_at = ? WHERE issuer = ? AND subject = ?"))
            .bind(now)
            .bind(&claims.issuer)
            .bind(&claims.subject)
            .execute(self.pool())
            .await?;
        self.get_user(user_id).await
    }

    pub async fn user_exists(&self, id: &str) -> DbResult<bool> {
        let n: i64 = sqlx::query_scalar(sql!(self, "SELECT COUNT(*) FROM users WHERE id = ?"))
            .bind(id)
            .fetch_one(self.pool())
            .await?;
        Ok(n > 0)
    }

    pub async fn get_user(&self, id: &str) -> DbResult<User> {
        let query = sql!(self, concat!("SELECT ", user_columns!(), " FROM users u WHERE u.id = ?"));
        Ok(sqlx::query_as::<_, User>(query).bind(id).fetch_one(self.pool()).await?)
    }

    pub async fn find_user_by_identity(&self, issuer: &str, subject: &str) -> DbResult<Option<User>> {
        let query = sql!(
            self,
            concat!(
                "SELECT ",
                user_columns!(),
                " FROM users u JOIN identities i ON i.user_id = u.id WHERE i.issuer = ? AND i.subject = ?"
            )
        );
        Ok(sqlx::query_as::<_, User>(query).bind(issuer).bind(subject).fetch_optional(self.pool()).await?)
    }

    /// Whether the user signed in through this issuer at least once.
    pub async fn has_identity(&self, user_id: &str, issuer: &str) -> DbResult<bool> {
        let found: i64 =
            sqlx::query_scalar(sql!(self, "SELECT COUNT(*) FROM identities WHERE user_id = ? AND issuer = ?"))
                .bind(user_id)
                .bind(issuer)
                .fetch_one(self.pool())
                .await?;
        Ok(found > 0)
    }

    /// A local account: the username (case-insensitively) is its subject. Refuses taken names.
    pub async fn create_local_user(
        &self,
        username: &str,
        name: &str,
        email: &str,
        password_hash: &str,
    ) -> DbResult<User> {
        let claims = IdentityClaims {
            issuer: LOCAL_ISSUER.into(),
            subject: username.to_lowercase(),
            username: username.into(),
            name: name.into(),
            email: email.into(),
            role: None,
        };
        match self.insert_user_with_identity(&claims, Some(password_hash), None).await? {
            Some(user_id) => self.get_user(&user_id).await,
            None => Err(DbError::Conflict("username_taken")),
        }
    }

    /// The local account and its password hash, for a login attempt.
    pub async fn local_credentials(&self, username: &str) -> DbResult<Option<(User, String)>> {
        let subject = username.to_lowercase();
        let hash: Option<Option<String>> =
            sqlx::query_scalar(sql!(self, "SELECT password_hash FROM identities WHERE issuer = ? AND subject = ?"))
                .bind(LOCAL_ISSUER)
                .bind(&subject)
                .fetch_optional(self.pool())
                .await?;
        let Some(Some(hash)) = hash else {
            return Ok(None);
        };
        let user = self.find_user_by_identity(LOCAL_ISSUER, &subject).await?.ok_or(DbError::NotFound)?;
        Ok(Some((user, hash)))
    }

    /// Records that the user was here. Written at most once per [`LAST_SEEN_RESOLUTION_MS`]: a
    /// write per chat connection would contend for the database's write lock for no information.
    pub async fn touch_user(&self, user: &User) -> DbResult<()> {
        let now = now_ms();
        if user.last_seen_at.is_some_and(|seen| now.saturating_sub(seen) < LAST_SEEN_RESOLUTION_MS) {
            return Ok(());
        }
        sqlx::query(sql!(self, "UPDATE users SET last_seen_at = ? WHERE id = ?"))
            .bind(now)
            .bind(&user.id)
            .execute(self.pool())
            .await?;
        Ok(())
    }

    /// Grants a global role that outranks what sign-in doors report, or withdraws the grant (None).
    pub async fn grant_role(&self, user_id: &str, role: Option<Role>) -> DbResult<()> {
        let done = sqlx::query(sql!(self, "UPDATE users SET role_granted = ?, updated_at = ? WHERE id = ?"))
            .bind(role.map(Role::as_str))
            .bind(now_ms())
            .bind(user_id)
            .execute(self.pool())
            .await?;
        if done.rows_affected() == 0 {
            return Err(DbError::NotFound);
        }
        Ok(())
    }

    /// Users whose id or username is `name_or_id`.
    pub async fn find_users(&self, name_or_id: &str) -> DbResult<Vec<User>> {
        let query = sql!(
            self,
            concat!("SELECT ", user_columns!(), " FROM users u WHERE u.id = ? OR u.username = ? ORDER BY u.id")
        );
        Ok(sqlx::query_as(query).bind(name_or_id).bind(name_or_id).fetch_all(self.pool()).await?)
    }

    /// Every user (or the operators only) with the issuers they signed in through.
    pub async fn list_users(&self, operators_only: bool) -> DbResult<Vec<(User, Vec<String>)>> {
        let query = sql!(self, concat!("SELECT ", user_columns!(), " FROM users u ORDER BY u.username, u.id"));
        let users: Vec<User> = sqlx::query_as(query).fetch_all(self.pool()).await?;
        let mut out = Vec::new();
        for user in users.into_iter().filter(|u| !operators_only || u.role.is_operator()) {
            let issuers: Vec<String> =
                sqlx::query_scalar(sql!(self, "SELECT issuer FROM identities WHERE user_id = ? ORDER BY issuer"))
                    .bind(&user.id)
                    .fetch_all(self.pool())
                    .await?;
            out.push((user, issuers));
        }
        Ok(out)
    }

    pub async fn count_users(&self) -> DbResult<i64> {
        Ok(sqlx::query_scalar("SELECT COUNT(*) FROM users").fetch_one(self.pool()).await?)
    }

    pub async fn count_users_seen_since(&self, since_ms: i64) -> DbResult<i64> {
        Ok(sqlx::query_scalar(sql!(self, "SELECT COUNT(*) FROM users WHERE last_seen_at >= ?"))
            .bind(since_ms)
            .fetch_one(self.pool())
            .await?)
    }
}
