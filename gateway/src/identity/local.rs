//! Local accounts for standalone use with no LMS: register and sign in with a password (argon2id),
//! rate-limited per client address and per account. On by default only when no Open edX is configured.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum_extra::extract::WithRejection;
use serde::Deserialize;

use crate::domain::User;
use crate::identity::passwords::{self, MAX_PASSWORD_LEN, MIN_PASSWORD_LEN};
use crate::identity::scopes;
use crate::identity::state::IdentityState;
use crate::identity::tokens::{Grant, WIDGET_CLIENT_ID};
use crate::store::DbError;
use crate::web::client_addr::ClientAddr;
use crate::web::error::ApiError;

#[derive(Debug, Deserialize)]
pub struct Credentials {
    username: String,
    password: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    email: String,
}

fn enabled(state: &IdentityState) -> Result<(), ApiError> {
    if state.config.local_accounts {
        Ok(())
    } else {
        Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "local_accounts_disabled",
            "Local accounts are disabled on this gateway.",
        ))
    }
}

fn limit(state: &IdentityState, key: String) -> Result<(), ApiError> {
    state.login_limiter.check(&key).map_err(|wait| ApiError::rate_limited(wait.as_secs() + 1))
}

/// The longest username a local account may have.
const MAX_USERNAME_LEN: usize = 150;

/// Busy password workers ask the client to come back; anything else is ours.
fn password_error(e: passwords::PasswordError) -> ApiError {
    match e {
        passwords::PasswordError::Busy => ApiError::rate_limited(1),
        other => ApiError::internal(other),
    }
}

fn valid_username(username: &str) -> bool {
    (2..=MAX_USERNAME_LEN).contains(&username.chars().count())
        && username.chars().all(|c| c.is_alphanumeric() || matches!(c, '_' | '.' | '@' | '+' | '-'))
}

/// `POST /api/v1/auth/register` → 201 with the token pair.
pub async fn register(
    State(state): State<IdentityState>,
    addr: ClientAddr,
    WithRejection(Json(c), _): WithRejection<Json<Credentials>, ApiError>,
) -> Result<Response, ApiError> {
    enabled(&state)?;
    limit(&state, format!("register:{}", addr.key()))?;
    if !valid_username(&c.username) {
        return Err(ApiError::bad_request("invalid_username", "Usernames are 2–150 letters, digits or _ . @ + -."));
    }
    if !(MIN_PASSWORD_LEN..=MAX_PASSWORD_LEN).contains(&c.password.chars().count()) {
        return Err(ApiError::bad_request(
            "weak_password",
            format!("Passwords are {MIN_PASSWORD_LEN} to {MAX_PASSWORD_LEN} characters."),
        ));
    }
    if c.name.chars().count() > 255 || c.email.chars().count() > 255 {
        return Err(ApiError::bad_request("invalid_profile", "Name and email are at most 255 characters."));
    }
    let hash = state.passwords.hash(c.password).await.map_err(password_error)?;
    let user = match state.db.create_local_user(&c.username, &c.name, &c.email, &hash).await {
        Ok(user) => user,
        Err(DbError::Conflict(_)) => {
            return Err(ApiError::new(StatusCode::CONFLICT, "username_taken", "That username is taken."));
        }
        Err(e) => return Err(e.into()),
    };
    tracing::info!(username = %user.username, "local account created");
    let pair = state.tokens.start_login(&user, &widget_grant()).await.map_err(ApiError::internal)?;
    Ok((StatusCode::CREATED, Json(pair)).into_response())
}

/// `POST /api/v1/auth/login` → the token pair.
pub async fn login(
    State(state): State<IdentityState>,
    addr: ClientAddr,
    WithRejection(Json(c), _): WithRejection<Json<Credentials>, ApiError>,
) -> Result<Response, ApiError> {
    enabled(&state)?;
    let user = check_password(&state, &addr, &c.username, &c.password).await?;
    let pair = state.tokens.start_login(&user, &widget_grant()).await.map_err(ApiError::internal)?;
    Ok(Json(pair).into_response())
}

fn widget_grant() -> Grant {
    Grant { client_id: WIDGET_CLIENT_ID.into(), scope: scopes::CHAT.into(), ctx: None, service: false }
}

/// The one place a password is checked: rate-limited, and as slow for unknown users as for known.
pub async fn check_password(
    state: &IdentityState,
    addr: &ClientAddr,
    username: &str,
    password: &str,
) -> Result<User, ApiError> {
    let wrong = || ApiError::new(StatusCode::UNAUTHORIZED, "invalid_credentials", "Wrong username or password.");
    limit(state, format!("login-ip:{}", addr.key()))?;
    // No account has such a name or password: refused before it becomes a limiter key or is hashed.
    if username.chars().count() > MAX_USERNAME_LEN || password.chars().count() > MAX_PASSWORD_LEN {
        return Err(wrong());
    }
    limit(state, format!("login-user:{}", username.to_lowercase()))?;
    let found = state.db.local_credentials(username).await?;
    let (user, hash) = match found {
        Some((user, hash)) => (Some(user), hash),
        None => (None, passwords::dummy_hash().await.to_owned()),
    };
    let ok = state.passwords.verify(password.to_owned(), hash).await.map_err(password_error)?;
    match user {
        Some(user) if ok => {
            state.db.touch_user(&user).await?;
            Ok(user)
        }
        _ => Err(wrong()),
    }
}
