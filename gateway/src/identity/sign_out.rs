//! `POST /api/v1/auth/logout`: ends the caller's login. The token's refresh family is revoked, so
//! its refresh tokens stop working, its access tokens are refused by the API, and its open chats
//! close with 4403 within a heartbeat or two. Bearer-authenticated (no cookie): nothing to forge.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

use crate::identity::bearer::Bearer;
use crate::identity::state::IdentityState;
use crate::web::error::ApiError;

pub async fn logout(State(state): State<IdentityState>, Bearer(claims): Bearer) -> Result<Response, ApiError> {
    if let Some(sid) = &claims.sid {
        state.db.revoke_refresh_family(sid).await?;
        tracing::info!("signed out: login revoked");
    }
    Ok(StatusCode::NO_CONTENT.into_response())
}
