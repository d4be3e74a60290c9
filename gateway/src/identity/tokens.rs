//! The gateway's tokens. Access tokens are RS256 JWTs (15 minutes, `kid` header) that every door
//! ends in; refresh tokens are opaque, stored hashed, rotated on each use, and a reused one revokes
//! its whole family (the login). id_tokens serve OIDC clients.

use std::sync::Arc;
use std::time::Duration;

use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, Header, Validation};
use serde::{Deserialize, Serialize};

use crate::crypto::{random_token, sha256_hex};
use crate::domain::{ChatContext, User, new_id, now_ms};
use crate::identity::keys::{KeyError, KeyRing};
use crate::identity::live_logins::LiveLogins;
use crate::identity::scopes;
use crate::store::{Db, DbError, RefreshFamily, RefreshTokenRow, RefreshUse};

/// The audience of access tokens: the gateway's own APIs and WebSocket.
pub const ACCESS_AUDIENCE: &str = "ibal";
/// The built-in public client of the chat widget and the gateway's own pages.
pub const WIDGET_CLIENT_ID: &str = "ibal-widget";
const LEEWAY_SECS: u64 = 30;

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct AccessClaims {
    pub iss: String,
    pub sub: String,
    pub aud: String,
    pub exp: i64,
    pub iat: i64,
    pub jti: String,
    pub username: String,
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub roles: Vec<String>,
    /// The context the token was issued for (an LTI launch); the chat scopes to it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ctx: Option<ChatContext>,
    /// The login (refresh family) behind the token: revoking it ends the token's sockets.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sid: Option<String>,
    pub client_id: String,
    #[serde(default)]
    pub scope: String,
    /// A service's token (client credentials): it speaks for no person and opens no chat.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub svc: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct IdTokenClaims<'a> {
    iss: &'a str,
    sub: &'a str,
    aud: &'a str,
    exp: i64,
    iat: i64,
    auth_time: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    nonce: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    preferred_username: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    name: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    email: Option<&'a str>,
}

/// What the token endpoint and the sign-in doors hand out.
#[derive(Debug, Clone, Serialize)]
pub struct TokenPair {
    pub access_token: String,
    pub token_type: &'static str,
    pub expires_in: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refresh_token: Option<String>,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub scope: String,
    pub username: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id_token: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    #[error("the token is invalid")]
    Invalid,
    #[error("the token has expired")]
    Expired,
    #[error("the refresh token was already used: the login is revoked")]
    Reused,
    #[error("the token was issued to another client")]
    WrongClient,
    #[error(transparent)]
    Keys(#[from] KeyError),
    #[error(transparent)]
    Db(#[from] DbError),
    #[error("signing failed: {0}")]
    Sign(jsonwebtoken::errors::Error),
}

pub struct TokenService {
    keys: Arc<KeyRing>,
    db: Db,
    issuer: String,
    pub access_ttl: Duration,
    pub refresh_ttl: Duration,
    /// A login's absolute lifetime from sign-in (`SESSION_MAX_AGE`): refreshing never extends it.
    pub session_max_age: Duration,
    /// The logins found alive lately (one per process, shared by every bearer check).
    live_logins: Arc<LiveLogins>,
}

impl std::fmt::Debug for TokenService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenService").field("issuer", &self.issuer).finish_non_exhaustive()
    }
}

/// What a login is for: which client, which scopes, which chat context.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Grant {
    pub client_id: String,
    pub scope: String,
    pub ctx: Option<ChatContext>,
    /// Client credentials: the token is a service's, not a person's.
    #[serde(default)]
    pub service: bool,
}

impl TokenService {
    pub fn new(keys: Arc<KeyRing>, db: Db, issuer: String) -> Self {
        Self {
            keys,
            db,
            issuer,
            access_ttl: Duration::from_secs(15 * 60),
            refresh_ttl: Duration::from_secs(30 * 24 * 3600),
            session_max_age: Duration::from_secs(30 * 24 * 3600),
            live_logins: Arc::default(),
        }
    }

    /// The logins found alive lately.
    pub fn live_logins(&self) -> &LiveLogins {
        &self.live_logins
    }

    /// The same service with another absolute session lifetime.
    #[must_use]
    pub fn with_session_max_age(mut self, max_age: Duration) -> Self {
        self.session_max_age = max_age;
        self
    }

    pub fn issuer(&self) -> &str {
        &self.issuer
    }

    pub fn keys(&self) -> &Arc<KeyRing> {
        &self.keys
    }

    /// Signs any claims with the current key (RS256, `kid`): LTI deep-linking responses.
    pub fn sign_claims<T: Serialize>(&self, claims: &T) -> Result<String, TokenError> {
        self.sign(claims)
    }

    fn sign<T: Serialize>(&self, claims: &T) -> Result<String, TokenError> {
        let (kid, key) = self.keys.signing_key()?;
        let mut header = Header::new(Algorithm::RS256);
        header.kid = Some(kid);
        jsonwebtoken::encode(&header, claims, &key).map_err(TokenError::Sign)
    }

    /// An access token alone (no refresh token): client credentials, LTI launches.
    pub fn access_token(&self, user: &User, grant: &Grant, sid: Option<&str>) -> Result<(String, i64), TokenError> {
        self.access_token_until(user, grant, sid, None)
    }

    /// An access token that expires no later than `ends_ms` (the end of its login), if given.
    fn access_token_until(
        &self,
        user: &User,
        grant: &Grant,
        sid: Option<&str>,
        ends_ms: Option<i64>,
    ) -> Result<(String, i64), TokenError> {
        let now = now_ms() / 1000;
        let full = i64::try_from(self.access_ttl.as_secs()).unwrap_or(900);
        let ttl = ends_ms.map_or(full, |end| full.min(end / 1000 - now)).max(1);
        let claims = AccessClaims {
            iss: self.issuer.clone(),
            sub: user.id.clone(),
            aud: ACCESS_AUDIENCE.into(),
            exp: now + ttl,
            iat: now,
            jti: new_id(),
            username: user.username.clone(),
            name: user.name.clone(),
            roles: vec![user.role.as_str().to_owned()],
            ctx: grant.ctx.clone(),
            sid: sid.map(str::to_owned),
            client_id: grant.client_id.clone(),
            scope: grant.scope.clone(),
            svc: grant.service,
        };
        Ok((self.sign(&claims)?, ttl))
    }

    /// A session of one access token, no refresh token: client credentials, LMS sign-in by ticket.
    pub fn access_only(&self, user: &User, grant: &Grant) -> Result<TokenPair, TokenError> {
        let (access_token, expires_in) = self.access_token(user, grant, None)?;
        Ok(TokenPair {
            access_token,
            token_type: "Bearer",
            expires_in,
            refresh_token: None,
            scope: grant.scope.clone(),
            username: user.username.clone(),
            id_token: None,
        })
    }

    /// A new login: a refresh-token family and its first access token.
    pub async fn start_login(&self, user: &User, grant: &Grant) -> Result<TokenPair, TokenError> {
        self.start_login_until(user, grant, None).await
    }

    /// A new login that ends at `not_after_ms` at the latest (an exchanged token's own expiry), and
    /// in any case `SESSION_MAX_AGE` after now.
    pub async fn start_login_until(
        &self,
        user: &User,
        grant: &Grant,
        not_after_ms: Option<i64>,
    ) -> Result<TokenPair, TokenError> {
        let now = now_ms();
        let max_age = i64::try_from(self.session_max_age.as_millis()).unwrap_or(i64::MAX);
        let ends = not_after_ms.map_or(now.saturating_add(max_age), |cap| cap.min(now.saturating_add(max_age)));
        let family = RefreshFamily {
            id: new_id(),
            user_id: user.id.clone(),
            client_id: grant.client_id.clone(),
            created_at: now,
            expires_at: ends,
            revoked_at: None,
        };
        self.db.create_refresh_family(&family).await?;
        let refresh = self.store_refresh(user, grant, &family.id, ends).await?;
        let (access_token, expires_in) = self.access_token_until(user, grant, Some(&family.id), Some(ends))?;
        Ok(TokenPair {
            access_token,
            token_type: "Bearer",
            expires_in,
            refresh_token: Some(refresh),
            scope: grant.scope.clone(),
            username: user.username.clone(),
            id_token: None,
        })
    }

    /// A refresh token of `family`, living until the family ends at the latest.
    async fn store_refresh(
        &self,
        user: &User,
        grant: &Grant,
        family: &str,
        family_ends: i64,
    ) -> Result<String, TokenError> {
        let token = format!("r1.{}", random_token(32));
        let now = now_ms();
        let ttl = i64::try_from(self.refresh_ttl.as_millis()).unwrap_or(i64::MAX);
        self.db
            .insert_refresh_token(&RefreshTokenRow {
                id: new_id(),
                token_hash: sha256_hex(&token),
                family_id: family.to_owned(),
                user_id: user.id.clone(),
                client_id: grant.client_id.clone(),
                scope: grant.scope.clone(),
                context: grant.ctx.as_ref().map(|c| serde_json::to_string(c).unwrap_or_default()).unwrap_or_default(),
                created_at: now,
                expires_at: now.saturating_add(ttl).min(family_ends),
                used_at: None,
                revoked_at: None,
            })
            .await?;
        Ok(token)
    }

    /// Rotates a refresh token: the old one is spent, a new one in the same family comes back.
    pub async fn refresh(&self, refresh_token: &str, client_id: &str) -> Result<TokenPair, TokenError> {
        let (row, family_ends) = match self.db.use_refresh_token(&sha256_hex(refresh_token)).await? {
            RefreshUse::Fresh { row, family_expires_at } => (row, family_expires_at),
            RefreshUse::Reused { family_id } => {
                tracing::warn!(family = %family_id, "refresh token reused: login revoked");
                return Err(TokenError::Reused);
            }
            RefreshUse::Expired => return Err(TokenError::Expired),
            RefreshUse::Unknown => return Err(TokenError::Invalid),
        };
        if row.client_id != client_id {
            // A token presented by another client is as good as stolen.
            self.db.revoke_refresh_family(&row.family_id).await?;
            return Err(TokenError::WrongClient);
        }
        let user = self.db.get_user(&row.user_id).await?;
        let grant = Grant {
            client_id: row.client_id.clone(),
            scope: row.scope.clone(),
            ctx: if row.context.is_empty() { None } else { serde_json::from_str(&row.context).ok() },
            service: false,
        };
        let refresh = self.store_refresh(&user, &grant, &row.family_id, family_ends).await?;
        let (access_token, expires_in) =
            self.access_token_until(&user, &grant, Some(&row.family_id), Some(family_ends))?;
        Ok(TokenPair {
            access_token,
            token_type: "Bearer",
            expires_in,
            refresh_token: Some(refresh),
            scope: grant.scope,
            username: user.username,
            id_token: None,
        })
    }

    /// Verifies one of our access tokens: RS256 only, a known `kid`, exact issuer and audience,
    /// `exp` and `iat` required.
    pub async fn verify_access(&self, token: &str) -> Result<AccessClaims, TokenError> {
        let header = jsonwebtoken::decode_header(token).map_err(|_| TokenError::Invalid)?;
        if header.alg != Algorithm::RS256 {
            return Err(TokenError::Invalid);
        }
        let kid = header.kid.ok_or(TokenError::Invalid)?;
        let key = self.keys.decoding_key(&kid).await.ok_or(TokenError::Invalid)?;
        let mut validation = Validation::new(Algorithm::RS256);
        validation.set_issuer(&[&self.issuer]);
        validation.set_audience(&[ACCESS_AUDIENCE]);
        validation.set_required_spec_claims(&["exp", "iat", "iss", "aud", "sub"]);
        validation.leeway = LEEWAY_SECS;
        match jsonwebtoken::decode::<AccessClaims>(token, &key, &validation) {
            Ok(data) => Ok(data.claims),
            Err(e) if matches!(e.kind(), ErrorKind::ExpiredSignature) => Err(TokenError::Expired),
            Err(_) => Err(TokenError::Invalid),
        }
    }

    /// An OIDC id_token for `client_id`: the profile claims only with `profile` in `scope`, the
    /// email only with `email`.
    pub fn id_token(
        &self,
        user: &User,
        client_id: &str,
        scope: &str,
        nonce: Option<&str>,
        auth_time: i64,
    ) -> Result<String, TokenError> {
        let profile = scopes::has(scope, scopes::PROFILE);
        let now = now_ms() / 1000;
        let ttl = i64::try_from(self.access_ttl.as_secs()).unwrap_or(900);
        self.sign(&IdTokenClaims {
            iss: &self.issuer,
            sub: &user.id,
            aud: client_id,
            exp: now + ttl,
            iat: now,
            auth_time,
            nonce,
            preferred_username: profile.then_some(user.username.as_str()),
            name: profile.then_some(user.name.as_str()),
            email: (scopes::has(scope, scopes::EMAIL) && !user.email.is_empty()).then_some(user.email.as_str()),
        })
    }
}
