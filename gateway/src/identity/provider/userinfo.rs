//! What a token holder may ask about its token: userinfo, and revocation.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::{Form, Json};
use axum_extra::extract::WithRejection;
use serde::Deserialize;
use serde_json::json;

use crate::crypto::sha256_hex;
use crate::identity::bearer::Bearer;
use crate::identity::scopes;
use crate::identity::state::IdentityState;
use crate::web::error::ApiError;

/// `GET|POST /oauth2/userinfo`.
pub async fn userinfo(
    State(state): State<IdentityState>,
    Bearer(claims): Bearer,
) -> Result<Json<serde_json::Value>, ApiError> {
    let user = state.db.get_user(&claims.sub).await?;
    let mut info = json!({ "sub": user.id, "roles": [user.role.as_str()] });
    // Profile data only for clients granted `profile`, the email only for those granted `email`.
    if scopes::has(&claims.scope, scopes::PROFILE) {
        info["preferred_username"] = json!(user.username);
        info["name"] = json!(user.name);
    }
    if scopes::has(&claims.scope, scopes::EMAIL) {
        info["email"] = json!(user.email);
    }
    Ok(Json(info))
}

#[derive(Debug, Deserialize)]
pub struct RevokeForm {
    pub(super) token: String,
}

/// `POST /oauth2/revoke` (RFC 7009): a refresh token, or an access token's login, is revoked.
/// Unknown tokens get 200 too, as the RFC asks.
pub async fn revoke(
    State(state): State<IdentityState>,
    WithRejection(Form(form), _): WithRejection<Form<RevokeForm>, ApiError>,
) -> Result<Response, ApiError> {
    if !state.db.revoke_refresh_token(&sha256_hex(&form.token)).await?
        && let Ok(claims) = state.tokens.verify_access(&form.token).await
        && let Some(sid) = claims.sid
    {
        state.db.revoke_refresh_family(&sid).await?;
    }
    Ok(StatusCode::OK.into_response())
}
